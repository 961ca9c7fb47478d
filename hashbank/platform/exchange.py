"""A python-threatexchange exchange for the survivors' signed hash feed.

Used by the ``threatexchange`` CLI::

    threatexchange config extensions add hashbank.platform.exchange
    HASHBANK_FEED_API_KEY=isk_... threatexchange config collab survivor_hash_feed my-feed --create \\
        --base-url https://shield.example.org/api/v1 --trusted-keys ed25519:3174287a2e6d00a9=<base64 key>
    threatexchange fetch
    threatexchange match photo upload.jpg

and by Hasher-Matcher-Actioner (add :class:`SurvivorHashFeedSignalExchangeAPI` to the OMM
config's ``exchange_types``; see docs/platforms.md).

Both poll (HMA every 240 s). To fetch as soon as the feed pushes instead, run
``python -m hashbank.platform receive --exec 'threatexchange fetch'`` (or HMA's ``flask fetch``)
beside them: it verifies each pushed checkpoint, then starts their own fetch through this
exchange, which verifies everything again (hashbank.platform.receiver; docs/platforms.md, Push).

STABLE IMPORT PATH: python-threatexchange and HMA pickle the fetched values
(:class:`SurvivorHashFeedSignalMetadata`) and store the checkpoint by class. Renaming or moving
this module, or these classes, makes every platform's stored state unreadable. Add fields with
defaults; never rename.

Records are keyed by fingerprint id, the feed's own key (python-threatexchange's "indirection
of ID ... to support deletes"): an addition is ``{id: record}`` holding the signal type and
value, a withdrawal ``{id: None}``. Since feed format 2 a withdrawal carries only the id, so a
store keyed by value could not even tell which value to delete; keyed by id, HMA deletes the
record by its ``fetch_id`` and the CLI pops it, with no counting. Two survivors who submit the
same image are two records: the value stays matched until both withdraw.

What it guarantees, beyond the simple-updates contract:

- nothing is yielded before it is verified: the key set, the snapshot (size and SHA-256 against
  its signed manifest), the checkpoint (signature, expiry, rollback) and every page (signature,
  layout, hash chain, checkpoint head) go through :mod:`hashbank.feedformat`; a
  tampered page raises :class:`hashbank.feedformat.VerifyError` out of the fetch and
  none of its entries are applied;
- withdrawals become deletions (``None``) of the fingerprint id they name;
- the first fetch (and one after a stale checkpoint) starts from the signed snapshot;
- a checkpoint written by a version that keyed records by value (feed format 1) starts over
  from the snapshot once and deletes those value-keyed records for every value it reloads.

No Django import (platforms install only ``pip install ".[platform]"``), and no
``from __future__ import annotations``: the CLI builds its ``config collab`` flags from the
config dataclass's real field types.
"""

import hashlib
import time
import typing as t
from dataclasses import dataclass, field

from threatexchange.exchanges import auth
from threatexchange.exchanges import fetch_state as state
from threatexchange.exchanges.collab_config import CollaborationConfigWithDefaults
from threatexchange.exchanges.signal_exchange_api import SignalExchangeAPI
from threatexchange.extensions.manifest import ThreatExchangeExtensionManifest
from threatexchange.signal_type.md5 import VideoMD5Signal
from threatexchange.signal_type.pdq.signal import PdqSignal
from threatexchange.signal_type.signal_base import SignalType

from hashbank.feedformat import origin_of
from hashbank.platform.feed import (
    CursorExpired,
    FeedClient,
    FeedState,
    read_feed,
    trusted_keys_from_list,
)

API_NAME = "survivor_hash_feed"

#: Our signal names -> python-threatexchange's signal types. Only where pytx has a type that
#: means the same thing: our ``md5``/``sha256`` are digests of *photo* files, and pytx's
#: ``VideoMD5Signal``/``VideoSHA256Signal`` are for videos, so those are not mapped (they would
#: be matched against the wrong content type). ``vpdq`` needs the pytx vpdq extension, whose
#: signal is also named ``vpdq``: it is passed through when the caller supports it.
SIGNAL_TYPES: dict[str, str] = {
    "pdq": PdqSignal.get_name(),
    "video_md5": VideoMD5Signal.get_name(),
    "vpdq": "vpdq",
}

#: python-threatexchange opinion -> our feedback outcome (docs/platforms.md repeats this).
#: A tag ``not_blocked`` on a positive opinion reports "reviewed, allowed by our policy".
OPINION_OUTCOMES: dict[state.SignalOpinionCategory, str] = {
    state.SignalOpinionCategory.POSITIVE_CLASS: "blocked",
    state.SignalOpinionCategory.NEGATIVE_CLASS: "false_match",
    state.SignalOpinionCategory.INVESTIGATION_SEED: "pending_review",
}


@dataclass
class SurvivorHashFeedCollabConfig(CollaborationConfigWithDefaults):
    """Where the feed is and which signing keys to trust at first contact."""

    base_url: str = field(default="", metadata={"help": "the partner API root, e.g. https://host/api/v1"})
    trusted_keys: list[str] = field(
        default_factory=list,
        metadata={"help": "signing keys to trust at first contact: kid=base64-public-key[,...] (check the kid "
                          "with us out of band); later rotations are followed when signed by a trusted key"},
    )
    page_size: int = field(default=1000, metadata={"help": "entries per page (1..1000)"})
    retention_days: int = field(
        default=90, metadata={"help": "the feed's tombstone retention: a checkpoint older than this starts over"}
    )

    def __post_init__(self) -> None:
        self.api = API_NAME


@dataclass
class SurvivorHashFeedCredentials(auth.CredentialHelper):
    """The partner API key: ``$HASHBANK_FEED_API_KEY``, or the file ``~/.hashbank_feed_api_key``."""

    ENV_VARIABLE: t.ClassVar[str] = "HASHBANK_FEED_API_KEY"
    FILE_NAME: t.ClassVar[str] = "~/.hashbank_feed_api_key"

    api_key: str = field(metadata={"help": "partner API key (isk_...)"})

    @classmethod
    def _from_str(cls, s: str) -> "SurvivorHashFeedCredentials":
        return cls(s.strip())

    def _are_valid(self) -> bool:
        return self.api_key.startswith("isk_") and len(self.api_key) > 12


@dataclass
class SurvivorHashFeedCheckpoint(state.FetchCheckpointBase):
    """The verified position in the feed (JSON-friendly: HMA stores it as JSON)."""

    position: int = 0
    head_digest: str = ""
    checkpoint_version: int = 0
    #: The whole verifier state (:class:`hashbank.platform.feed.FeedState` as a dict): trusted
    #: keys, the last signed checkpoint (rollback protection), position and chain digest.
    feed_state: dict[str, t.Any] = field(default_factory=dict)
    #: Newest entry time applied (unix seconds); never goes backwards (HMA asserts it).
    progress_time: int = 0
    #: When this checkpoint was last verified against the server (unix seconds).
    verified_at: int = 0
    retention_days: int = 90
    #: Set when the server said our cursor is older than it keeps: the next fetch starts over.
    restart_required: bool = False
    #: How this checkpoint's records are keyed. Empty in checkpoints from before feed format 2,
    #: whose records were keyed by (signal type, value): those start over (fetch_iter).
    record_keys: str = ""

    def is_stale(self) -> bool:
        # Tombstones are served for `retention_days`: a consumer away longer may have missed a
        # withdrawal, so its data must be dropped and fetched again from the snapshot.
        too_old = time.time() - self.verified_at > self.retention_days * 86400
        return self.restart_required or too_old

    def get_progress_timestamp(self) -> int | None:
        return self.progress_time or None


@dataclass
class SurvivorHashFeedSignalMetadata(state.FetchedSignalMetadata):
    """One fetched record, and what a match reports.

    As a fetched record (keyed by fingerprint id): ``signal_type`` (our name) and ``value`` of
    that one fingerprint, ``ids`` holding its id. As matching metadata
    (:meth:`SurvivorHashFeedSignalExchangeAPI.naive_convert_to_signal_type`): every id that holds
    the value, so feedback can name them all.

    ``withdrawn`` and ``complete`` belong to the value-keyed records of feed format 1; they are
    kept so that records pickled by that version still load."""

    ids: frozenset[str] = frozenset()
    withdrawn: frozenset[str] = frozenset()
    complete: bool = False
    quality: int | None = None
    signal_type: str = ""
    value: str = ""
    #: Where the ids' cases were made: "survivor", "helpline", or "unrecorded" (an addition
    #: published before origins were). A record has one; merged metadata has each id's.
    origins: frozenset[str] = frozenset()

    def get_as_opinions(self) -> t.Sequence[state.SignalOpinion]:
        # Submitted by survivors: a candidate for the platform's own review, never a verdict.
        # Tagged "origin:survivor" / "origin:helpline", which HMA and the CLI can filter on.
        tags = {f"origin:{origin}" for origin in self.origins}
        return [state.SignalOpinion(False, state.SignalOpinionCategory.INVESTIGATION_SEED, tags)]

    def __str__(self) -> str:
        origins = ",".join(sorted(self.origins)) or "unrecorded"
        return f"INVESTIGATION_SEED survivor_submitted origin={origins} ids={','.join(sorted(self.ids))}"


@dataclass
class SurvivorHashFeedOpinion(state.SignalOpinion):
    """An opinion that names the fingerprint ids it is about (from the matched metadata)."""

    ids: frozenset[str] = frozenset()
    idempotency_key: str = ""


#: A record's key: the fingerprint id. (A (signal type, value) tuple only in the one migration
#: run that deletes format 1's value-keyed records.)
Key = str
Delta = state.FetchDelta[t.Any, SurvivorHashFeedSignalMetadata, SurvivorHashFeedCheckpoint]
#: Checkpoint.record_keys of this version.
RECORD_KEYS = "fingerprint_id"


class SurvivorHashFeedSignalExchangeAPI(
    auth.SignalExchangeWithAuth[SurvivorHashFeedCollabConfig, SurvivorHashFeedCredentials],
    SignalExchangeAPI[
        SurvivorHashFeedCollabConfig,
        SurvivorHashFeedCheckpoint,
        SurvivorHashFeedSignalMetadata,
        Key,
        SurvivorHashFeedSignalMetadata,
    ],
):
    """The survivors' signed hash feed (see docs/feed.md for the wire format)."""

    def __init__(self, collab: SurvivorHashFeedCollabConfig, client: FeedClient) -> None:
        super().__init__()
        self.collab = collab
        self.client = client
        #: ids per (signal type, value) learned by this instance's fetches (for report_opinion).
        self.known_ids: dict[tuple[str, str], frozenset[str]] = {}
        self._signal_of_id: dict[str, tuple[str, str]] = {}

    @classmethod
    def get_name(cls) -> str:
        return API_NAME

    @staticmethod
    def get_config_cls() -> type[SurvivorHashFeedCollabConfig]:
        return SurvivorHashFeedCollabConfig

    @staticmethod
    def get_checkpoint_cls() -> type[SurvivorHashFeedCheckpoint]:
        return SurvivorHashFeedCheckpoint

    @staticmethod
    def get_record_cls() -> type[SurvivorHashFeedSignalMetadata]:
        return SurvivorHashFeedSignalMetadata

    @staticmethod
    def get_credential_cls() -> type[SurvivorHashFeedCredentials]:
        return SurvivorHashFeedCredentials

    @classmethod
    def for_collab(
        cls,
        collab: SurvivorHashFeedCollabConfig,
        credentials: SurvivorHashFeedCredentials | None = None,
    ) -> "SurvivorHashFeedSignalExchangeAPI":
        credentials = credentials or SurvivorHashFeedCredentials.get(cls)
        if not collab.base_url:
            raise ValueError(f"collaboration {collab.name!r} has no base_url")
        if not collab.trusted_keys:
            raise ValueError(f"collaboration {collab.name!r} trusts no signing key (trusted_keys)")
        return cls(collab, FeedClient(collab.base_url, credentials.api_key))

    # -- fetching --------------------------------------------------------------------------------

    def fetch_iter(
        self,
        supported_signal_types: t.Sequence[type[SignalType]],
        checkpoint: SurvivorHashFeedCheckpoint | None,
    ) -> t.Iterator[Delta]:
        wanted = {st.get_name() for st in supported_signal_types}
        names = {ours: theirs for ours, theirs in SIGNAL_TYPES.items() if theirs in wanted}
        # A checkpoint from the version that keyed records by value: reload from the snapshot
        # once, deleting the value-keyed copy of every value reloaded (HMA keeps old rows).
        migrating = checkpoint is not None and bool(checkpoint.feed_state) and checkpoint.record_keys != RECORD_KEYS
        restart = checkpoint is None or checkpoint.is_stale() or not checkpoint.feed_state or migrating
        if restart:
            feed_state = FeedState(keys=trusted_keys_from_list(self.collab.trusted_keys))
            if checkpoint is not None and checkpoint.feed_state:
                # Starting over keeps what was learned about keys (rotations since the config was
                # written) and the last signed checkpoint (rollback protection); only the
                # position goes back, to the snapshot.
                known = FeedState.from_dict(checkpoint.feed_state)
                feed_state.keys, feed_state.keyset_version = known.keys, known.keyset_version
                feed_state.checkpoint = known.checkpoint
        else:
            assert checkpoint is not None
            feed_state = FeedState.from_dict(checkpoint.feed_state)
        progress = 0 if checkpoint is None else checkpoint.progress_time
        try:
            for batch in read_feed(self.client, feed_state, page_size=self.collab.page_size, bootstrap=restart):
                updates = self._updates(batch.entries, names)
                if migrating and batch.kind == "snapshot":
                    for entry in batch.entries:
                        name = names.get(entry["signal_type"])
                        if name is not None:
                            # The old key itself: the CLI's store holds the tuple, HMA its str().
                            updates[(name, entry["value"])] = None
                progress = max(progress, batch.state.progress_time)
                yield state.FetchDelta(updates, self._checkpoint(batch.state, progress))
        except CursorExpired:
            # Our cursor is older than the feed keeps. Resuming would miss withdrawals, so mark
            # the checkpoint stale: the next fetch drops this data and starts from the snapshot.
            if checkpoint is not None:
                stale = SurvivorHashFeedCheckpoint(**{**checkpoint.__dict__, "restart_required": True})
                yield state.FetchDelta({}, stale)
                return
            raise

    def _checkpoint(self, feed_state: FeedState, progress: int) -> SurvivorHashFeedCheckpoint:
        return SurvivorHashFeedCheckpoint(
            position=feed_state.position,
            head_digest=feed_state.digest,
            checkpoint_version=feed_state.checkpoint_version(),
            feed_state=feed_state.as_dict(),
            progress_time=progress,
            verified_at=int(time.time()),
            retention_days=self.collab.retention_days,
            record_keys=RECORD_KEYS,
        )

    def _updates(
        self, entries: t.Sequence[t.Mapping[str, t.Any]], names: t.Mapping[str, str]
    ) -> dict[t.Any, SurvivorHashFeedSignalMetadata | None]:
        """One update per fingerprint id, in feed order (a later entry for an id wins): an
        addition of a signal type the caller indexes is its record, a withdrawal is None."""
        updates: dict[t.Any, SurvivorHashFeedSignalMetadata | None] = {}
        for entry in entries:
            fingerprint_id = entry["id"]
            if entry["op"] == "withdraw":
                updates[fingerprint_id] = None
                continue
            name = names.get(entry["signal_type"])
            if name is None:
                continue  # a signal type the caller does not index
            updates[fingerprint_id] = SurvivorHashFeedSignalMetadata(
                ids=frozenset({fingerprint_id}), complete=True, quality=entry.get("quality"),
                signal_type=name, value=entry["value"], origins=frozenset({origin_of(entry)}),
            )
        for fingerprint_id, record in updates.items():
            self._remember(fingerprint_id, None if record is None else (record.signal_type, record.value))
        return updates

    def _remember(self, fingerprint_id: str, signal: tuple[str, str] | None) -> None:
        """Keep known_ids (value -> ids, for report_opinion) in step with one id's record."""
        old = self._signal_of_id.pop(fingerprint_id, None)
        if old is not None:
            self.known_ids[old] = self.known_ids.get(old, frozenset()) - {fingerprint_id}
            if not self.known_ids[old]:
                del self.known_ids[old]
        if signal is not None:
            self._signal_of_id[fingerprint_id] = signal
            self.known_ids[signal] = self.known_ids.get(signal, frozenset()) | {fingerprint_id}

    @classmethod
    def naive_convert_to_signal_type(
        cls,
        signal_types: t.Sequence[type[SignalType]],
        collab: SurvivorHashFeedCollabConfig,
        fetched: t.Mapping[t.Any, SurvivorHashFeedSignalMetadata],
    ) -> dict[type[SignalType], dict[str, SurvivorHashFeedSignalMetadata]]:
        """Records keyed by id -> {signal type: {value: metadata}}, the ids of one value merged
        (HMA calls this one record at a time, the CLI with its whole store). Records pickled by
        the value-keyed version (key a (type, value) tuple) still convert, so a store is never
        left matching nothing while it migrates."""
        by_name = {st.get_name(): st for st in signal_types}
        merged: dict[tuple[str, str], set[str]] = {}
        origins: dict[tuple[str, str], set[str]] = {}
        quality: dict[tuple[str, str], int | None] = {}  # the last record's, like the value itself
        for key, record in fetched.items():
            if record is None or not record.ids:
                continue
            if record.value:
                signal = (record.signal_type, record.value)
            elif isinstance(key, tuple) and len(key) == 2:
                signal = (str(key[0]), str(key[1]))
            else:
                continue
            merged.setdefault(signal, set()).update(record.ids)
            origins.setdefault(signal, set()).update(record.origins or {"unrecorded"})
            quality[signal] = record.quality
        result: dict[type[SignalType], dict[str, SurvivorHashFeedSignalMetadata]] = {}
        for (name, value), ids in merged.items():
            signal_type = by_name.get(name)
            if signal_type is None:
                continue
            try:
                signal = signal_type.validate_signal_str(value)
            except ValueError:
                continue  # verified, so only a type whose rules differ from ours: never index it
            result.setdefault(signal_type, {})[signal] = SurvivorHashFeedSignalMetadata(
                ids=frozenset(ids), complete=True, quality=quality[(name, value)],
                origins=frozenset(origins[(name, value)]),
            )
        return result

    # -- feedback --------------------------------------------------------------------------------

    def report_opinion(
        self,
        s_type: type[SignalType],
        signal: str,
        opinion: state.SignalOpinion,
    ) -> None:
        """Send our match outcome for every fingerprint id holding ``signal``.

        POSITIVE_CLASS -> ``blocked`` (or ``not_blocked`` with the tag ``not_blocked``),
        NEGATIVE_CLASS -> ``false_match``, INVESTIGATION_SEED -> ``pending_review``. The ids come
        from a :class:`SurvivorHashFeedOpinion`, else from this instance's fetches. The
        idempotency key is derived from (id, outcome) unless the opinion carries one, so a
        retried report is recorded once."""
        outcome = OPINION_OUTCOMES[opinion.category]
        if outcome == "blocked" and "not_blocked" in set(opinion.tags or ()):
            outcome = "not_blocked"
        ids = getattr(opinion, "ids", frozenset()) or self.known_ids.get((s_type.get_name(), signal), frozenset())
        if not ids:
            raise ValueError(
                f"no fingerprint id known for this {s_type.get_name()} value: pass a SurvivorHashFeedOpinion with "
                "the ids from the matched record's metadata"
            )
        given = getattr(opinion, "idempotency_key", "")
        items = []
        for fingerprint_id in sorted(ids):
            key = given or "pytx-" + hashlib.sha256(f"{fingerprint_id}:{outcome}".encode()).hexdigest()[:40]
            if given and len(ids) > 1:
                key = f"{given}.{fingerprint_id}"
            items.append({"id": fingerprint_id, "outcome": outcome, "idempotency_key": key[:100]})
        for start in range(0, len(items), 100):
            self.client.post_json("/feedback", {"feedback": items[start : start + 100]})


TX_MANIFEST = ThreatExchangeExtensionManifest(apis=(SurvivorHashFeedSignalExchangeAPI,))
