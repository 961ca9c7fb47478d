"""The periodic sweep of the bank (a systemd timer runs `manage.py feed_sweep` every minute).

Everything here is also done on the fast path; the sweep is what makes the fast path's
failures harmless: a publisher run that could not be queued while Redis was down, a worker
killed mid-job (its job left "started"), a snapshot writer killed mid-write. It also carries the
hosted lookup's counts from Redis into the partners' evidence (hashbank.lookup.tally), and queues
pushes to partners' endpoints whose retry is due (hashbank.feed.push).
"""

from __future__ import annotations

import logging

from django.conf import settings

logger = logging.getLogger(__name__)


def sweep(*, dry_run: bool = False) -> dict[str, object]:
    """One pass; each step is independent, so one failing (Redis down) does not stop the rest."""
    from hashbank.feed.publish import publish_pending
    from hashbank.feed.push import push_sweep
    from hashbank.feed.snapshots import snapshot_sweep
    from hashbank.lookup.tally import lookup_tally_flush
    from hashbank.models import FeedOutbox

    report: dict[str, object] = {}
    if dry_run:
        report["outbox_waiting"] = FeedOutbox.objects.count()
    else:
        # Directly, not through the queue: this is what still works when Redis does not.
        report["published"] = publish_pending()
    if not settings.JOBS_IN_PROCESS:
        try:
            report["registries"] = _clean_registries(dry_run=dry_run)
        except Exception as error:
            logger.warning("sweep: Redis registries not cleaned: %s: %s", type(error).__name__, error)
            report["registries"] = f"skipped ({type(error).__name__})"
        if not dry_run:
            try:
                # The hosted lookup's counts, from Redis into LookupTally (idempotent: totals, not
                # increments, so a sweep killed halfway or run twice counts nothing twice).
                report["lookup_tallies"] = lookup_tally_flush()
            except Exception as error:
                logger.warning("sweep: lookup counts not carried over: %s: %s", type(error).__name__, error)
                report["lookup_tallies"] = f"skipped ({type(error).__name__})"
    report["snapshots"] = snapshot_sweep(dry_run=dry_run)
    try:
        # Partners' push endpoints: queue the push when a retry's backoff is over, or an
        # endpoint missed a push (hashbank.feed.push keeps the backoff in the database: our
        # workers run no RQ scheduler, so RQ's own delayed retries would never run).
        report["push"] = push_sweep(dry_run=dry_run)
    except Exception as error:
        logger.warning("sweep: push endpoints not looked at: %s: %s", type(error).__name__, error)
        report["push"] = f"skipped ({type(error).__name__})"
    return report


def _clean_registries(*, dry_run: bool) -> dict[str, int]:
    """Move jobs of dead workers out of "started" (RQ keeps them there until a registry
    cleanup, which its workers only do every ten minutes)."""
    import django_rq
    from rq.registry import StartedJobRegistry, clean_registries

    from hashbank.queueing import redis_connection

    queue = django_rq.get_queue("default", connection=redis_connection())
    started = StartedJobRegistry(queue=queue)
    before = started.count
    if not dry_run:
        clean_registries(queue)
    return {"started_before": before, "started_after": started.count}
