"""The signed partner feed: publishing (the single sequencer), signing, pages, checkpoints
and snapshots. The wire format itself is defined once, in hashbank.fingerprints.verify."""
