"""The signed partner feed, server side. From the bottom up: the head row and its lock
(`head`), the signing keys (`signing`), the signed checkpoint and key rotation (`checkpoint`),
then what builds on them: the single sequencer (`publish`), pages, snapshots, evidence,
delivery and progress, retention (`prune`), and push to partners' endpoints (`push`). No module imports one above it
(tests/test_import_graph.py). The wire format itself is defined once, in hashbank.feedformat."""
