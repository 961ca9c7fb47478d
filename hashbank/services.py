"""Writes to the bank. Views and jobs call these; nothing else writes to hashbank's tables.

Every change a partner must know about (a fingerprint added, withdrawn, held or restored)
writes a row to the feed outbox in the same transaction as the change itself, and enqueues
the publisher on commit. So either both happen or neither does, and the publisher (one at a
time) gives the feed positions in commit order.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone

from hashbank import references
from hashbank.apikeys import key_generate, key_hash
from hashbank.feed.push import push_on_commit, push_url_parse
from hashbank.fingerprints import FingerprintError, validate
from hashbank.keygeneration import partner_keys_changed
from hashbank.models import (
    Case,
    CaseEvent,
    CaseFile,
    FeedOutbox,
    Fingerprint,
    FingerprintReview,
    Heartbeat,
    Partner,
    PartnerFeedback,
    PartnerKey,
    PushEndpoint,
)
from hashbank.models.feed import FeedOp
from hashbank.queueing import enqueue_on_commit

#: One submission is what a person picks in one go; a case is what one person needs. The
#: caps bound what one request can make the server store and publish.
MAX_FILES_PER_SUBMISSION = 50
MAX_FILES_PER_CASE = 500
#: A photo from the browser gives at most 33 values: 28 PDQ (its eight rotations and flips,
#: four centre crops, eight one-sided crops and their mirrors) and five others
#: (static/fingerprint/signals.js). Room for a few more; the feed carries each one, so a file
#: at the cap costs about 9 KB of feed.
MAX_FINGERPRINTS_PER_FILE = 40


class CaseLimitError(FingerprintError):
    """Over a cap. A FingerprintError so that a view showing fingerprint errors shows this too."""


class CaseStateError(ValueError):
    """The case is withdrawn or deleted and cannot take this change."""


class ReviewStateError(ValueError):
    """The fingerprint is not held, so there is nothing to clear or remove."""


@dataclass(frozen=True)
class CaseReceipt:
    case: Case
    #: Shown once, never stored: only its digest is kept.
    reference: str
    #: Shown once, stored only as an Argon2 hash.
    pin: str


@dataclass(frozen=True)
class _Clean:
    signal_type: str
    value: str
    quality: int | None


def heartbeat_record(*, name: str) -> int:
    """Count one beat for `name` and return the new count."""
    with transaction.atomic():
        beat, created = Heartbeat.objects.select_for_update().get_or_create(
            name=name, defaults={"beats": 1, "last_beat_at": timezone.now()}
        )
        if not created:
            Heartbeat.objects.filter(pk=beat.pk).update(beats=F("beats") + 1, last_beat_at=timezone.now())
            beat.refresh_from_db()
    return beat.beats


# --- Cases --------------------------------------------------------------------------------


#: Why a case's fingerprints wait for staff before reaching partners: more new cases arrived
#: in the last hour than the service normally sees (a flood). Kept with each hold.
HOLD_REASON_VOLUME = "held before sharing: more new cases than usual arrived in the last hour"


def case_create(*, files: Sequence[Sequence[Mapping]], hold_for_review: bool = False,
                origin: str = Case.Origin.SURVIVOR) -> CaseReceipt:
    """Open a case from the fingerprints of one or more files.

    Every value goes through hashbank.fingerprints first; one bad value refuses the whole
    submission (FingerprintError naming the file and the fingerprint) and nothing is stored.

    With `hold_for_review` (the caller saw a flood), the case and its fingerprints are kept
    but nothing reaches partners until staff clear them: a flood never reaches a partner's
    blocklist, and a real survivor caught in it loses nothing.

    `origin`: Case.Origin.HELPLINE when a caseworker makes the case with the client present;
    every addition of the case carries it in the feed.
    """
    if origin not in Case.Origin.values:
        raise ValueError(f"unknown case origin {origin!r}")
    cleaned = _clean_files(files, already=0)
    reference = references.reference_generate()
    pin = references.pin_generate()
    # Hash before the transaction: Argon2 takes tens of milliseconds, locks need not wait for it.
    pin_hash = references.pin_hash(pin)
    now = timezone.now()
    with transaction.atomic():
        case = Case.objects.create(
            reference_digest=references.reference_digest(references.reference_normalise(reference) or ""),
            pin_hash=pin_hash,
            # Random, never derived from the reference: the feed must not lead back to the case.
            feed_token=secrets.token_hex(12),
            origin=origin,
            created_at=now,
            last_activity_at=now,
        )
        count = _store_files(case, cleaned, now, held_reason=HOLD_REASON_VOLUME if hold_for_review else None)
        CaseEvent.objects.create(case=case, kind=CaseEvent.Kind.RECEIVED, at=now,
                                 data={"files": len(cleaned), "fingerprints": count})
        if hold_for_review:
            CaseEvent.objects.create(case=case, kind=CaseEvent.Kind.FINGERPRINT_HELD, at=now,
                                     data={"fingerprints": count, "reason": "volume"})
    return CaseReceipt(case=case, reference=reference, pin=pin)


def case_add_files(*, case: Case, files: Sequence[Sequence[Mapping]]) -> list[CaseFile]:
    """Add more files' fingerprints to an active case (same rules as case_create)."""
    with transaction.atomic():
        case = _lock(case)
        _require_active(case)
        cleaned = _clean_files(files, already=case.files.count())
        now = timezone.now()
        before = set(case.files.values_list("pk", flat=True))
        # A case held in a flood stays held as a whole: adding files must not be a way round it.
        volume_held = Fingerprint.objects.filter(case=case, status=Fingerprint.Status.HELD,
                                                 reviews__reason=HOLD_REASON_VOLUME).exists()
        count = _store_files(case, cleaned, now, held_reason=HOLD_REASON_VOLUME if volume_held else None)
        CaseEvent.objects.create(case=case, kind=CaseEvent.Kind.FILES_ADDED, at=now,
                                 data={"files": len(cleaned), "fingerprints": count})
        _touch(case, now)
        return list(case.files.exclude(pk__in=before))


def case_file_withdraw(*, case: Case, file_id: str) -> CaseFile:
    """Withdraw one file's fingerprints: tombstones go to the feed. Raises
    CaseFile.DoesNotExist when the id is not one of this case's files. Safe to repeat."""
    with transaction.atomic():
        case = _lock(case)
        case_file = CaseFile.objects.select_for_update().get(case=case, public_id=file_id)
        if case_file.status == CaseFile.Status.WITHDRAWN:
            return case_file
        now = timezone.now()
        count = _withdraw_fingerprints(case_file.fingerprints.all(), now, case=case)
        case_file.status = CaseFile.Status.WITHDRAWN
        case_file.withdrawn_at = now
        case_file.save(update_fields=["status", "withdrawn_at"])
        CaseEvent.objects.create(case=case, kind=CaseEvent.Kind.FILE_WITHDRAWN, at=now,
                                 data={"fingerprints": count})
        _touch(case, now)
        _snapshot_refresh_on_commit()
        return case_file


def case_withdraw(*, case: Case) -> Case:
    """Withdraw the whole case from partners. The case stays readable (its timeline shows the
    withdrawal) but takes no new files. Safe to repeat."""
    with transaction.atomic():
        case = _lock(case)
        if case.status != Case.Status.ACTIVE:
            return case
        now = timezone.now()
        count = _withdraw_fingerprints(Fingerprint.objects.filter(case=case), now, case=case)
        case.files.filter(status=CaseFile.Status.ACTIVE).update(status=CaseFile.Status.WITHDRAWN, withdrawn_at=now)
        case.status = Case.Status.WITHDRAWN
        case.last_activity_at = now
        case.save(update_fields=["status", "last_activity_at"])
        CaseEvent.objects.create(case=case, kind=CaseEvent.Kind.WITHDRAWN, at=now, data={"fingerprints": count})
        _snapshot_refresh_on_commit()
        return case


def case_delete(*, case: Case) -> Case:
    """Withdraw everything from the feed, then erase what can be erased.

    Erased: the reference digest and PIN hash (the reference and PIN open nothing any more),
    every file, fingerprint, feedback report and timeline event. What remains, and why:
    - a bare Case row (status "deleted", its feed token, two times), so a caseworker's list
      can say "deleted" rather than show a dangling entry;
    - the feed's own entries (the original additions and now their tombstones), because
      partners verify the feed as a hash chain and already hold copies; they are pruned with
      the rest of the log once older than FEED_RETENTION_DAYS (`manage.py feed_prune`).
    Snapshot files are replaced on commit; the one it replaces goes after FEED_SNAPSHOT_GRACE.
    """
    with transaction.atomic():
        case = _lock(case)
        if case.status == Case.Status.DELETED:
            return case
        now = timezone.now()
        _withdraw_fingerprints(Fingerprint.objects.filter(case=case), now)
        _snapshot_refresh_on_commit()
        # Fingerprints, their feedback and reviews go with the files (CASCADE).
        case.files.all().delete()
        case.events.all().delete()
        case.reference_digest = None
        case.pin_hash = ""
        case.status = Case.Status.DELETED
        case.last_activity_at = now
        case.save(update_fields=["reference_digest", "pin_hash", "status", "last_activity_at"])
        return case


# --- Staff review of fingerprints reported as false matches ---------------------------------


def fingerprint_hold(*, fingerprint: Fingerprint, reason: str, reviewer_name: str = "", cause: str = "") -> Fingerprint:
    """Take an active fingerprint out of the feed until staff decide (a tombstone goes out)."""
    with transaction.atomic():
        fingerprint = Fingerprint.objects.select_for_update().get(pk=fingerprint.pk)
        if fingerprint.status != Fingerprint.Status.ACTIVE:
            return fingerprint
        now = timezone.now()
        fingerprint.status = Fingerprint.Status.HELD
        fingerprint.save(update_fields=["status"])
        _outbox([fingerprint], FeedOp.WITHDRAW, now)
        FingerprintReview.objects.create(fingerprint=fingerprint, action=FingerprintReview.Action.HELD,
                                         reviewer_name=reviewer_name, reason=reason, cause=cause, at=now)
        CaseEvent.objects.create(case_id=fingerprint.case_id, kind=CaseEvent.Kind.FINGERPRINT_HELD, at=now,
                                 data={"fingerprints": 1, **({"reason": cause} if cause else {})})
        _snapshot_refresh_on_commit()
        return fingerprint


def fingerprint_review_clear(*, fingerprint: Fingerprint, reviewer_name: str, reason: str) -> Fingerprint:
    """Staff found the reports unfounded: the fingerprint goes back into the feed (a new
    addition with the same id), unless its file or case was withdrawn meanwhile. The clearing
    records which kind of hold it cleared (a cleared match spike is not held by spikes again)."""
    reason = _require_reason(reason)
    with transaction.atomic():
        fingerprint = _lock_held(fingerprint)
        now = timezone.now()
        cleared_cause = (FingerprintReview.objects.filter(fingerprint=fingerprint, action=FingerprintReview.Action.HELD)
                         .order_by("-at", "-pk").values_list("cause", flat=True).first() or "")
        case = Case.objects.select_for_update().get(pk=fingerprint.case_id)
        file_active = CaseFile.objects.filter(pk=fingerprint.case_file_id, status=CaseFile.Status.ACTIVE).exists()
        if case.is_active and file_active:
            fingerprint.status = Fingerprint.Status.ACTIVE
            _outbox([fingerprint], FeedOp.ADD, now)
            CaseEvent.objects.create(case=case, kind=CaseEvent.Kind.FINGERPRINT_RESTORED, at=now,
                                     data={"fingerprints": 1})
        else:
            fingerprint.status = Fingerprint.Status.WITHDRAWN
        fingerprint.save(update_fields=["status"])
        FingerprintReview.objects.create(fingerprint=fingerprint, action=FingerprintReview.Action.CLEARED,
                                         reviewer_name=reviewer_name, reason=reason, cause=cleared_cause, at=now)
        return fingerprint


def fingerprint_review_remove(*, fingerprint: Fingerprint, reviewer_name: str, reason: str) -> Fingerprint:
    """Staff agree with the reports: the fingerprint stays out of the feed for good (its
    tombstone went out when it was held)."""
    reason = _require_reason(reason)
    with transaction.atomic():
        fingerprint = _lock_held(fingerprint)
        now = timezone.now()
        fingerprint.status = Fingerprint.Status.WITHDRAWN
        fingerprint.save(update_fields=["status"])
        FingerprintReview.objects.create(fingerprint=fingerprint, action=FingerprintReview.Action.REMOVED,
                                         reviewer_name=reviewer_name, reason=reason, at=now)
        CaseEvent.objects.create(case_id=fingerprint.case_id, kind=CaseEvent.Kind.FINGERPRINT_REMOVED, at=now,
                                 data={"fingerprints": 1})
        return fingerprint


def fingerprint_mark_harmless(*, fingerprint: Fingerprint, reviewer_name: str, reason: str) -> Fingerprint:
    """Staff found that a held or reported fingerprint shows no intimate image (a famous
    artwork, a meme, a stock photo): its file's PDQ, md5 and sha256 values join the benign list
    (so the same picture submitted again is held for a person to check, hashbank.benign), and
    the file's fingerprints leave the feed for good. The decision and its reason are recorded;
    the list itself never unpublishes anything else."""
    from hashbank import benign
    from hashbank.models import BenignFingerprint

    reason = _require_reason(reason)
    with transaction.atomic():
        fingerprint = Fingerprint.objects.select_for_update().get(pk=fingerprint.pk)
        reported = PartnerFeedback.objects.filter(fingerprint=fingerprint).exists()
        if fingerprint.status == Fingerprint.Status.WITHDRAWN or (
            fingerprint.status == Fingerprint.Status.ACTIVE and not reported
        ):
            raise ReviewStateError("only a held fingerprint, or one a partner reported, can be marked harmless")
        now = timezone.now()
        siblings = list(Fingerprint.objects.select_for_update().filter(case_file_id=fingerprint.case_file_id)
                        .exclude(status=Fingerprint.Status.WITHDRAWN))
        for listed in {(f.signal_type, f.value) for f in siblings if f.signal_type in benign.LISTED_TYPES}:
            BenignFingerprint.objects.get_or_create(
                signal_type=listed[0], value=listed[1],
                defaults={"reason": reason, "marked_by": reviewer_name, "marked_at": now})
        active = [f for f in siblings if f.status == Fingerprint.Status.ACTIVE]
        Fingerprint.objects.filter(pk__in=[f.pk for f in siblings]).update(status=Fingerprint.Status.WITHDRAWN)
        _outbox(active, FeedOp.WITHDRAW, now)  # a tombstone for those still shared
        FingerprintReview.objects.bulk_create(
            FingerprintReview(fingerprint=f, action=FingerprintReview.Action.REMOVED,
                              cause=FingerprintReview.Cause.HARMLESS, reviewer_name=reviewer_name, reason=reason,
                              at=now)
            for f in siblings
        )
        CaseEvent.objects.create(case_id=fingerprint.case_id, kind=CaseEvent.Kind.FINGERPRINT_REMOVED, at=now,
                                 data={"fingerprints": len(siblings), "reason": FingerprintReview.Cause.HARMLESS})
        if active:
            _snapshot_refresh_on_commit()
        fingerprint.refresh_from_db()
        return fingerprint


# --- Helpers ---------------------------------------------------------------------------------


def _clean_files(files: object, *, already: int) -> list[list[_Clean]]:
    if isinstance(files, (str, bytes)) or not isinstance(files, Sequence):
        raise FingerprintError("expected a list of files, each a list of fingerprints")
    if not files:
        raise FingerprintError("no files: choose at least one file")
    if len(files) > MAX_FILES_PER_SUBMISSION:
        raise CaseLimitError(
            f"{len(files)} files is more than the {MAX_FILES_PER_SUBMISSION} that can be sent at once; "
            "send them in smaller groups"
        )
    if already + len(files) > MAX_FILES_PER_CASE:
        raise CaseLimitError(
            f"a case can hold at most {MAX_FILES_PER_CASE} files; this one has {already} "
            f"and {len(files)} more were sent"
        )
    cleaned: list[list[_Clean]] = []
    for file_number, items in enumerate(files, start=1):
        if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
            raise FingerprintError(f"file {file_number}: expected a list of fingerprints")
        if not items:
            raise FingerprintError(f"file {file_number}: has no fingerprints")
        if len(items) > MAX_FINGERPRINTS_PER_FILE:
            raise CaseLimitError(
                f"file {file_number}: {len(items)} fingerprints is more than the limit of {MAX_FINGERPRINTS_PER_FILE}"
            )
        seen: set[tuple[str, str]] = set()
        out: list[_Clean] = []
        for number, item in enumerate(items, start=1):
            where = f"file {file_number}, fingerprint {number}"
            if not isinstance(item, Mapping):
                raise FingerprintError(f"{where}: expected an object with signal_type and value")
            quality = item.get("quality")
            if quality is not None and (isinstance(quality, bool) or not isinstance(quality, int)):
                raise FingerprintError(f"{where}: quality must be a whole number from 0 to 100")
            if quality is not None and not 0 <= quality <= 100:
                raise FingerprintError(f"{where}: quality {quality} is outside 0..100")
            try:
                value = validate(item.get("signal_type"), item.get("value"), quality=quality)
            except FingerprintError as exc:
                raise FingerprintError(f"{where}: {exc}") from None
            key = (item["signal_type"], value)
            if key in seen:  # the same value twice in one file adds nothing
                continue
            seen.add(key)
            out.append(_Clean(signal_type=item["signal_type"], value=value, quality=quality))
        cleaned.append(out)
    return cleaned


def _store_files(case: Case, cleaned: list[list[_Clean]], now: datetime, held_reason: str | None = None) -> int:
    """Store the files' fingerprints; publish them, or hold them for review: all of them when
    `held_reason` (a flood), and each file close to the benign list (hashbank.benign)."""
    from hashbank import benign

    close = {} if held_reason else benign.files_close_to_list([[(i.signal_type, i.value) for i in items]
                                                              for items in cleaned])
    published: list[Fingerprint] = []
    held: list[tuple[Fingerprint, str, str]] = []  # (fingerprint, cause, reason)
    for number, items in enumerate(cleaned):
        case_file = CaseFile.objects.create(case=case, public_id=secrets.token_hex(8), added_at=now)
        if held_reason:
            hold: tuple[str, str] | None = (FingerprintReview.Cause.VOLUME, held_reason)
        elif number in close:
            why = close[number]
            distance = "the same file, by md5/sha256" if why.distance is None else f"PDQ distance {why.distance}"
            hold = (FingerprintReview.Cause.BENIGN_MATCH,
                    f"close to a fingerprint marked not intimate image abuse ({distance}): {why.reason}")
        else:
            hold = None
        for i in items:
            fingerprint = Fingerprint(case=case, case_file=case_file, public_id=secrets.token_hex(10),
                                      status=Fingerprint.Status.HELD if hold else Fingerprint.Status.ACTIVE,
                                      signal_type=i.signal_type, value=i.value, quality=i.quality, created_at=now)
            if hold:
                held.append((fingerprint, *hold))
            else:
                published.append(fingerprint)
    Fingerprint.objects.bulk_create(published + [f for f, _, _ in held])
    # Held ones were never in the feed, so no tombstone: clearing them is their first addition.
    FingerprintReview.objects.bulk_create(
        FingerprintReview(fingerprint=f, action=FingerprintReview.Action.HELD, cause=cause, reason=reason, at=now)
        for f, cause, reason in held
    )
    benign_held = sum(1 for _, cause, _ in held if cause == FingerprintReview.Cause.BENIGN_MATCH)
    if benign_held:
        CaseEvent.objects.create(case=case, kind=CaseEvent.Kind.FINGERPRINT_HELD, at=now,
                                 data={"fingerprints": benign_held, "reason": FingerprintReview.Cause.BENIGN_MATCH})
    _outbox(published, FeedOp.ADD, now, case=case)
    return len(published) + len(held)


def _withdraw_fingerprints(fingerprints: Iterable[Fingerprint] | object, now: datetime,
                           case: Case | None = None) -> int:
    """Withdraw active and held fingerprints; only active ones need a tombstone (held ones
    left the feed when they were held). Returns how many were withdrawn. With `case`, the
    survivor's own withdrawal: its publication goes on the case's timeline."""
    rows = list(fingerprints.select_for_update().exclude(status=Fingerprint.Status.WITHDRAWN))  # type: ignore[attr-defined]
    active = [f for f in rows if f.status == Fingerprint.Status.ACTIVE]
    Fingerprint.objects.filter(pk__in=[f.pk for f in rows]).update(status=Fingerprint.Status.WITHDRAWN)
    _outbox(active, FeedOp.WITHDRAW, now, case=case)
    return len(rows)


def _outbox(fingerprints: Sequence[Fingerprint], op: str, now: datetime, case: Case | None = None) -> None:
    if not fingerprints:
        return
    if op == FeedOp.WITHDRAW:
        # A tombstone needs only the id: no copy of the value waits in the outbox either.
        # The case only for a survivor's own withdrawal (its timeline says when it was
        # published); a hold's or a review's tombstone is told by the hold's own event.
        rows = [FeedOutbox(fingerprint_key=f.public_id, op=op, case_id=case.pk if case else None, created_at=now)
                for f in fingerprints]
    else:
        case_ids = {f.case_id for f in fingerprints}
        cases = {pk: (token, origin) for pk, token, origin in
                 Case.objects.filter(pk__in=case_ids).values_list("pk", "feed_token", "origin")}
        rows = [FeedOutbox(fingerprint_key=f.public_id, op=op, signal_type=f.signal_type, value=f.value,
                           quality=f.quality, case_token=cases[f.case_id][0], origin=cases[f.case_id][1],
                           case_id=f.case_id, created_at=now)
                for f in fingerprints]
    FeedOutbox.objects.bulk_create(rows)
    # Coalesced: a burst of submissions queues one publisher run, not one each (issue 11).
    # Named, not imported: hashbank.jobs calls these services (hashbank.queueing).
    enqueue_on_commit("hashbank.jobs.feed_publish", coalesce=True)


def _snapshot_refresh_on_commit() -> None:
    """Snapshot files hold every active value: replace the newest so the withdrawn ones leave
    the disk (hashbank.feed.snapshots, retention). It publishes first itself, so it does not
    matter which worker runs it or whether the publish job ran yet."""
    enqueue_on_commit("hashbank.jobs.feed_snapshot_refresh", coalesce=True)


def _lock(case: Case) -> Case:
    return Case.objects.select_for_update().get(pk=case.pk)


def _lock_held(fingerprint: Fingerprint) -> Fingerprint:
    fingerprint = Fingerprint.objects.select_for_update().get(pk=fingerprint.pk)
    if fingerprint.status != Fingerprint.Status.HELD:
        raise ReviewStateError("this fingerprint is not held for review")
    return fingerprint


def _require_active(case: Case) -> None:
    if not case.is_active:
        raise CaseStateError(f"this case is {case.status} and cannot take new files")


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("a reason is required and is kept with the decision")
    return reason


def _touch(case: Case, now: datetime) -> None:
    Case.objects.filter(pk=case.pk).update(last_activity_at=now)
    case.last_activity_at = now


# --- Partners and their feedback -------------------------------------------------------------

#: Reports of a false match from this many different partners hold a fingerprint for review.
FALSE_MATCH_PARTNERS_TO_HOLD = 2


@dataclass(frozen=True)
class IssuedKey:
    key: PartnerKey
    #: The whole key, shown once: only its prefix and a SHA-256 are stored.
    secret: str


@dataclass(frozen=True)
class FeedbackItem:
    fingerprint_id: str
    outcome: str
    idempotency_key: str


class FeedbackConflict(ValueError):
    """An idempotency key this partner already used, with a different report."""


def partner_create(*, name: str, listed_publicly: bool = False, public_name: str = "",
                   internal: bool = False) -> Partner:
    """`internal`: our own reader of the feed (the hosted lookup's index process), never counted
    or named as a partner platform anywhere."""
    name = name.strip()
    if not name:
        raise ValueError("a partner needs a name")
    if internal and listed_publicly:
        raise ValueError("an internal reader is never listed as a partner")
    return Partner.objects.create(name=name, listed_publicly=listed_publicly, public_name=public_name.strip(),
                                  is_internal=internal, created_at=timezone.now())


def partner_key_issue(*, partner: Partner, label: str = "") -> IssuedKey:
    prefix, secret = key_generate()
    key = PartnerKey.objects.create(partner=partner, prefix=prefix, key_hash=key_hash(secret), label=label,
                                    created_at=timezone.now())
    return IssuedKey(key=key, secret=secret)


def partner_key_revoke(*, key: PartnerKey) -> PartnerKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        # Every web process's cached copy of the key stops being trusted on commit.
        partner_keys_changed()
    return key


def partner_key_touch(*, key: PartnerKey) -> None:
    """Record use, at most once a minute per key: a write on every feed request would cost
    more than knowing the time to the second is worth."""
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() >= 60:
        PartnerKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now


def push_endpoint_set(*, partner: Partner, url: str, is_active: bool = True) -> PushEndpoint:
    """Register, change or switch on or off the partner's push endpoint (PUT /api/v1/push,
    `manage.py partner_push_set`). PushUrlError (hashbank.feed.push) when the URL cannot be
    used; its address is checked again, resolved, at every delivery. Registering again clears
    the failures, which resumes a paused endpoint; a new URL starts from nothing pushed. When
    on, a first push is queued at once, so the partner sees in its status whether it works."""
    push_url_parse(url)
    now = timezone.now()
    with transaction.atomic():
        endpoint, created = PushEndpoint.objects.select_for_update().get_or_create(
            partner=partner, defaults={"url": url, "is_active": is_active, "created_at": now})
        if not created:
            if endpoint.url != url:
                endpoint.pushed_version, endpoint.last_success_at, endpoint.last_failure_at = 0, None, None
            endpoint.url, endpoint.is_active, endpoint.failures, endpoint.last_error = url, is_active, 0, ""
            endpoint.save()
        if is_active:
            push_on_commit()
    return endpoint


def push_endpoint_switch_off(*, partner: Partner) -> PushEndpoint | None:
    """Stop pushing to the partner and keep its URL and record (`partner_push_set --off`)."""
    endpoint = PushEndpoint.objects.filter(partner=partner).first()
    if endpoint is not None and endpoint.is_active:
        endpoint.is_active = False
        endpoint.save(update_fields=["is_active"])
    return endpoint


def push_endpoint_remove(*, partner: Partner) -> bool:
    """Forget the partner's push endpoint (DELETE /api/v1/push); False if it had none."""
    return PushEndpoint.objects.filter(partner=partner).delete()[0] > 0


def partner_feedback_record(*, partner: Partner, items: Sequence[FeedbackItem]) -> list[str]:
    """See _feedback_record. Identical reports sent at the same moment race to insert the same
    idempotency key; the loser's transaction rolls back whole and runs again, now finding the
    winner's rows, so it answers "duplicate" (issue 11: this was a 500)."""
    from django.db import IntegrityError

    for attempt in range(3):
        try:
            return _feedback_record(partner=partner, items=items)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _feedback_record(*, partner: Partner, items: Sequence[FeedbackItem]) -> list[str]:
    """Record a partner's match outcomes; returns one status per item: "recorded",
    "duplicate" (this idempotency key was already recorded with the same report: nothing
    changes, so retries are safe) or "unknown_fingerprint" (withdrawn and erased, or never
    ours: nothing to update). A key reused for a different report raises FeedbackConflict and
    nothing of the batch is stored."""
    now = timezone.now()
    statuses: list[str] = []
    with transaction.atomic():
        keys = [i.idempotency_key for i in items]
        if len(set(keys)) != len(keys):
            raise FeedbackConflict("the same idempotency_key appears twice in one request")
        earlier = {
            fb.idempotency_key: fb
            for fb in PartnerFeedback.objects.filter(partner=partner, idempotency_key__in=keys).select_related(
                "fingerprint"
            )
        }
        fingerprints = {
            f.public_id: f
            for f in Fingerprint.objects.filter(public_id__in={i.fingerprint_id for i in items})
        }
        to_store: list[PartnerFeedback] = []
        for item in items:
            previous = earlier.get(item.idempotency_key)
            if previous is not None:
                if previous.fingerprint.public_id != item.fingerprint_id or previous.outcome != item.outcome:
                    raise FeedbackConflict(
                        f"idempotency_key {item.idempotency_key!r} was already used for a different report"
                    )
                statuses.append("duplicate")
                continue
            fingerprint = fingerprints.get(item.fingerprint_id)
            if fingerprint is None:
                statuses.append("unknown_fingerprint")
                continue
            to_store.append(PartnerFeedback(partner=partner, fingerprint=fingerprint, outcome=item.outcome,
                                            idempotency_key=item.idempotency_key, received_at=now))
            statuses.append("recorded")
        PartnerFeedback.objects.bulk_create(to_store)
        _timeline_matches(partner, to_store, now)
        for fingerprint in {fb.fingerprint_id: fb.fingerprint for fb in to_store
                            if fb.outcome == PartnerFeedback.Outcome.FALSE_MATCH}.values():
            _hold_if_disputed(fingerprint)
        for fingerprint in {fb.fingerprint_id: fb.fingerprint for fb in to_store}.values():
            _hold_if_spiking(fingerprint, now)
    return statuses


def _timeline_matches(partner: Partner, stored: Sequence[PartnerFeedback], now: datetime) -> None:
    """One "match reported" event per case, outcome and day, with a running count: a busy
    partner must not flood a survivor's timeline, and the timeline never shows partner content.
    The partner is named only when it agreed to be listed publicly."""
    counts: dict[tuple[int, str], int] = {}
    for fb in stored:
        key = (fb.fingerprint.case_id, fb.outcome)
        counts[key] = counts.get(key, 0) + 1
    partner_name = partner.display_name if partner.listed_publicly else None
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    for (case_id, outcome), count in counts.items():
        event = (
            CaseEvent.objects.select_for_update()
            .filter(case_id=case_id, kind=CaseEvent.Kind.MATCH_REPORTED, at__gte=day_start,
                    data__outcome=outcome, data__partner=partner_name)
            .first()
        )
        if event is None:
            CaseEvent.objects.create(case_id=case_id, kind=CaseEvent.Kind.MATCH_REPORTED, at=now,
                                     data={"outcome": outcome, "count": count, "partner": partner_name})
        else:
            event.data["count"] = int(event.data.get("count", 0)) + count
            event.save(update_fields=["data"])
        Case.objects.filter(pk=case_id).update(last_activity_at=now)


def _hold_if_spiking(fingerprint: Fingerprint, now: datetime) -> None:
    """A fingerprint that suddenly matches far more than an intimate image is shared (many
    reports from several partners within the window, settings MATCH_SPIKE_*) is most likely a
    picture everyone posts: a meme, an artwork, a stock photo that someone submitted. It is
    held (a tombstone goes out) until a reviewer looks. Once a reviewer has cleared it after
    such a hold, spikes alone never hold it again: that person judged the matches real."""
    from django.conf import settings

    reports_needed, partners_needed = settings.MATCH_SPIKE_REPORTS, settings.MATCH_SPIKE_PARTNERS
    if not reports_needed or fingerprint.status != Fingerprint.Status.ACTIVE:
        return
    if FingerprintReview.objects.filter(fingerprint=fingerprint, action=FingerprintReview.Action.CLEARED,
                                        cause=FingerprintReview.Cause.MATCH_SPIKE).exists():
        return
    window = settings.MATCH_SPIKE_WINDOW_SECONDS
    recent = PartnerFeedback.objects.filter(fingerprint=fingerprint, received_at__gt=now - timedelta(seconds=window))
    figures = recent.aggregate(reports=Count("pk"), partners=Count("partner", distinct=True))
    if figures["reports"] >= reports_needed and figures["partners"] >= partners_needed:
        fingerprint_hold(
            fingerprint=fingerprint, cause=FingerprintReview.Cause.MATCH_SPIKE,
            reason=(f"matched {figures['reports']} times by {figures['partners']} partners within "
                    f"{window // 60} minutes (more than {reports_needed} from {partners_needed} partners)"),
        )


def _hold_if_disputed(fingerprint: Fingerprint) -> None:
    # Reports made before staff last cleared the fingerprint were already judged unfounded.
    cleared = (
        FingerprintReview.objects.filter(fingerprint=fingerprint, action=FingerprintReview.Action.CLEARED)
        .order_by("-at").values_list("at", flat=True).first()
    )
    reports = PartnerFeedback.objects.filter(fingerprint=fingerprint, outcome=PartnerFeedback.Outcome.FALSE_MATCH)
    if cleared is not None:
        reports = reports.filter(received_at__gt=cleared)
    partners = reports.values("partner").distinct().count()
    if partners >= FALSE_MATCH_PARTNERS_TO_HOLD:
        fingerprint_hold(fingerprint=fingerprint, cause=FingerprintReview.Cause.FALSE_MATCH,
                         reason=f"reported as a false match by {partners} partners")
