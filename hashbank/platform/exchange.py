"""A python-threatexchange exchange for the survivors' signed hash feed.

Used by the ``threatexchange`` CLI::

    threatexchange config extensions add hashbank.platform.exchange
    HASHBANK_FEED_API_KEY=isk_... threatexchange config collab survivor_hash_feed my-feed --create \\
        --base-url https://shield.example.org/api/v1 --trusted-keys ed25519:3174287a2e6d00a9=<base64 key>
    threatexchange fetch
    threatexchange match photo upload.jpg

and by Hasher-Matcher-Actioner (add :class:`SurvivorHashFeedSignalExchangeAPI` to the OMM
config's ``exchange_types``; see docs/platforms.md).

STABLE IMPORT PATH: python-threatexchange and HMA pickle the fetched values
(:class:`SurvivorHashFeedSignalMetadata`) and store the checkpoint by class. Renaming or moving
this module, or these classes, makes every platform's stored state unreadable. Add fields with
defaults; never rename.

What it guarantees, beyond the simple-updates contract:

- nothing is yielded before it is verified: the key set, the snapshot (size and SHA-256 against
  its signed manifest), the checkpoint (signature, expiry, rollback) and every page (signature,
  layout, hash chain, checkpoint head) go through :mod:`hashbank.fingerprints.verify`; a
  tampered page raises :class:`hashbank.fingerprints.verify.VerifyError` out of the fetch and
  none of its entries are applied;
- withdrawals become deletions (value ``None``), keyed by fingerprint id: two survivors can
  submit the same image, so a value is deleted only when no active id holds it (see
  :meth:`SurvivorHashFeedSignalExchangeAPI.fetch_value_merge`);
- the first fetch (and one after a stale checkpoint) starts from the signed snapshot.

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
from threatexchange.exchanges.signal_exchange_api import SignalExchangeAPIWithSimpleUpdates
from threatexchange.extensions.manifest import ThreatExchangeExtensionManifest
from threatexchange.signal_type.md5 import VideoMD5Signal
from threatexchange.signal_type.pdq.signal import PdqSignal
from threatexchange.signal_type.signal_base import SignalType

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

    def is_stale(self) -> bool:
        # Tombstones are served for `retention_days`: a consumer away longer may have missed a
        # withdrawal, so its data must be dropped and fetched again from the snapshot.
        too_old = time.time() - self.verified_at > self.retention_days * 86400
        return self.restart_required or too_old

    def get_progress_timestamp(self) -> int | None:
        return self.progress_time or None


@dataclass
class SurvivorHashFeedSignalMetadata(state.FetchedSignalMetadata):
    """The fingerprint ids (feed entry ids) that hold one value.

    A value is matched while at least one id holds it. In a fetched update, ``ids`` are ids
    that now hold it and ``withdrawn`` ids that no longer do; ``complete`` says ``ids`` is the
    whole set (after a snapshot), so it replaces what was stored instead of merging into it."""

    ids: frozenset[str] = frozenset()
    withdrawn: frozenset[str] = frozenset()
    complete: bool = False
    quality: int | None = None

    def get_as_opinions(self) -> t.Sequence[state.SignalOpinion]:
        # Submitted by survivors: a candidate for the platform's own review, never a verdict.
        return [state.SignalOpinion(False, state.SignalOpinionCategory.INVESTIGATION_SEED, set())]

    def __str__(self) -> str:
        return f"INVESTIGATION_SEED survivor_submitted ids={','.join(sorted(self.ids))}"


@dataclass
class SurvivorHashFeedOpinion(state.SignalOpinion):
    """An opinion that names the fingerprint ids it is about (from the matched metadata)."""

    ids: frozenset[str] = frozenset()
    idempotency_key: str = ""


Key = tuple[str, str]
Delta = state.FetchDelta[Key, SurvivorHashFeedSignalMetadata, SurvivorHashFeedCheckpoint]


class SurvivorHashFeedSignalExchangeAPI(
    auth.SignalExchangeWithAuth[SurvivorHashFeedCollabConfig, SurvivorHashFeedCredentials],
    SignalExchangeAPIWithSimpleUpdates[
        SurvivorHashFeedCollabConfig,
        SurvivorHashFeedCheckpoint,
        SurvivorHashFeedSignalMetadata,
    ],
):
    """The survivors' signed hash feed (see docs/feed.md for the wire format)."""

    def __init__(self, collab: SurvivorHashFeedCollabConfig, client: FeedClient) -> None:
        super().__init__()
        self.collab = collab
        self.client = client
        #: ids per value as learned by this instance's fetches (used by report_opinion).
        self.known_ids: dict[Key, frozenset[str]] = {}

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
        restart = checkpoint is None or checkpoint.is_stale() or not checkpoint.feed_state
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
        # After a snapshot this run knows every holder of every value, so it can send whole
        # values; before one (an incremental fetch) it sends changes for fetch_value_merge.
        holders: dict[Key, set[str]] | None = None
        try:
            for batch in read_feed(self.client, feed_state, page_size=self.collab.page_size, bootstrap=restart):
                if batch.kind == "snapshot":
                    holders = {}
                    for entry in batch.entries:
                        key = self._key(entry, names)
                        if key is not None:
                            holders.setdefault(key, set()).add(entry["id"])
                    updates: dict[Key, SurvivorHashFeedSignalMetadata | None] = {
                        key: SurvivorHashFeedSignalMetadata(ids=frozenset(ids), complete=True)
                        for key, ids in holders.items()
                    }
                else:
                    updates = self._page_updates(batch.entries, names, holders)
                progress = max(progress, batch.state.progress_time)
                for key, value in updates.items():
                    if value is not None and value.complete:
                        self.known_ids[key] = value.ids
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
        )

    @staticmethod
    def _key(entry: t.Mapping[str, t.Any], names: t.Mapping[str, str]) -> Key | None:
        name = names.get(entry["signal_type"])
        return None if name is None else (name, entry["value"])

    def _page_updates(
        self,
        entries: t.Sequence[t.Mapping[str, t.Any]],
        names: t.Mapping[str, str],
        holders: dict[Key, set[str]] | None,
    ) -> dict[Key, SurvivorHashFeedSignalMetadata | None]:
        """One update per value touched by the page, applying its entries in feed order."""
        added: dict[Key, set[str]] = {}
        withdrawn: dict[Key, set[str]] = {}
        for entry in entries:
            key = self._key(entry, names)
            if key is None:
                continue  # a signal type the caller does not index
            ids_in, ids_out = added.setdefault(key, set()), withdrawn.setdefault(key, set())
            if entry["op"] == "add":
                ids_in.add(entry["id"])
                ids_out.discard(entry["id"])
            else:
                ids_out.add(entry["id"])
                ids_in.discard(entry["id"])
        updates: dict[Key, SurvivorHashFeedSignalMetadata | None] = {}
        for key in added:
            if holders is not None:
                now_held = (holders.get(key, set()) - withdrawn[key]) | added[key]
                holders[key] = now_held
                updates[key] = SurvivorHashFeedSignalMetadata(ids=frozenset(now_held), complete=True) if now_held \
                    else None
            else:
                updates[key] = SurvivorHashFeedSignalMetadata(ids=frozenset(added[key]),
                                                              withdrawn=frozenset(withdrawn[key]))
        return updates

    @classmethod
    def fetch_value_merge(
        cls,
        old: SurvivorHashFeedSignalMetadata | None,
        new: SurvivorHashFeedSignalMetadata | None,
    ) -> SurvivorHashFeedSignalMetadata | None:
        """Count ids per value: a withdrawal removes its id, and the value is deleted only when
        no id holds it any more (the same image submitted by two survivors stays listed until
        both withdraw)."""
        if new is None:
            return None
        if new.complete or old is None:
            ids = new.ids if new.complete else new.ids - new.withdrawn
        else:
            ids = (old.ids - new.withdrawn) | new.ids
        if not ids:
            return None
        return SurvivorHashFeedSignalMetadata(ids=frozenset(ids), complete=True, quality=new.quality)

    @classmethod
    def naive_convert_to_signal_type(
        cls,
        signal_types: t.Sequence[type[SignalType]],
        collab: SurvivorHashFeedCollabConfig,
        fetched: t.Mapping[Key, SurvivorHashFeedSignalMetadata | None],
    ) -> dict[type[SignalType], dict[str, SurvivorHashFeedSignalMetadata]]:
        # A record that no id holds is never matched, even by a store that keeps it (a store
        # that replaces values instead of merging them sees withdrawal-only updates).
        held = {key: value for key, value in fetched.items() if value is not None and value.ids}
        return super().naive_convert_to_signal_type(signal_types, collab, held)

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
