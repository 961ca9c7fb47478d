"""The periodic sweep of the bank (a systemd timer runs `manage.py feed_sweep` every minute).

Everything here is also done on the fast path; the sweep is what makes the fast path's
failures harmless: a publisher run that could not be queued while Redis was down, a worker
killed mid-job (its job left "started"), a snapshot writer killed mid-write.
"""

from __future__ import annotations

import logging

from django.conf import settings

logger = logging.getLogger(__name__)


def sweep(*, dry_run: bool = False) -> dict[str, object]:
    """One pass; each step is independent, so one failing (Redis down) does not stop the rest."""
    from hashbank.feed.publish import publish_pending
    from hashbank.feed.snapshots import snapshot_sweep
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
    report["snapshots"] = snapshot_sweep(dry_run=dry_run)
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
