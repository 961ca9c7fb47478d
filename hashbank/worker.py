"""The job worker that survives its Redis going away.

RQ's own worker logs "unhandled exception, quitting" when Redis disappears at the wrong
moment, and its reconnect back-off grows to a minute; the feed then stalls silently. This
wrapper runs RQ's worker in a loop: when it stops for any reason other than a request to stop
(SIGTERM, SIGINT) or the end of a burst, it waits a moment and starts again on a fresh
connection. Each (re)start first catches up: everything the web processes could not queue
while Redis was down is still in the database (the feed outbox), so one publisher run is
queued, and the registries of workers that died (SIGKILL, a lost host) are cleaned so their
jobs do not stay "started" for ever.

Supervision (systemd `Restart=always`, deploy/systemd/) covers what no loop can: the process
itself being killed.
"""

from __future__ import annotations

import logging
import signal
import time
from typing import Any

from rq import Worker
from rq.exceptions import StopRequested

logger = logging.getLogger("hashbank.worker")

#: RQ's worker TTL. An idle worker beats every `WORKER_TTL - 15` seconds (RQ's rule), so 20
#: gives a beat every 5 s (RQ's default TTL of 420 s beats every 6.75 minutes, far too rarely
#: for /readyz to notice a killed worker).
WORKER_TTL = 20
#: A busy worker beats every this many seconds while its job runs (RQ's default is 30 s), so
#: a long snapshot does not look like a dead worker to /readyz.
JOB_MONITORING_INTERVAL = 5


#: How often (seconds, at most) a worker checks the outbox for changes nobody queued.
CATCH_UP_EVERY = 5.0


class ShieldWorker(Worker):
    # Retry a lost connection every second rather than backing off to a minute: recovery is
    # measured in seconds (bench/resilience.py).
    exponential_backoff_factor = 1.0
    max_connection_wait_time = 1.0
    _last_catch_up = 0.0

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        """RQ's heartbeat, plus the catch-up. RQ's own loop reconnects after a Redis outage
        without telling us, so the beat is where we notice: if Redis came back empty, this
        worker registers again (or /readyz would never see it), and anything waiting in the
        outbox that nobody could queue meanwhile gets one publisher run."""
        super().heartbeat(timeout, pipeline)  # a ConnectionError goes to RQ's retry loop
        if pipeline is not None or time.monotonic() - self._last_catch_up < CATCH_UP_EVERY:
            return
        self._last_catch_up = time.monotonic()
        from rq import worker_registration

        if not self.connection.sismember(worker_registration.REDIS_WORKER_KEYS, self.key):
            # The beat itself recreated our hash; the registry that lists workers is what was lost.
            logger.warning("worker %s unknown to Redis (restarted empty?): registering again", self.name)
            with self.connection.pipeline() as pipeline:
                pipeline.hset(self.key, mapping=self.serialize())
                worker_registration.register(self, pipeline)
                pipeline.expire(self.key, self.worker_ttl + 60)
                pipeline.execute()
        from django.db import connections

        from hashbank import jobs
        from hashbank.models import FeedOutbox
        from hashbank.queueing import enqueue_now

        try:
            waiting = FeedOutbox.objects.exists()
        finally:
            # The work horse is forked from this process: it must not inherit an open socket.
            connections.close_all()
        if waiting:
            enqueue_now(jobs.feed_publish, coalesce=True)
        if self._shutdown_requested_date is not None and self.get_state() != "busy":
            # A SIGTERM that landed inside the code above may have been swallowed with an error.
            raise StopRequested()


def catch_up(queue_name: str = "default") -> None:
    """Queue a publisher run and clean dead workers' registries (safe to call at any time)."""
    import django_rq
    from rq.registry import clean_registries

    from hashbank import jobs
    from hashbank.queueing import enqueue_now

    clean_registries(django_rq.get_queue(queue_name))
    enqueue_now(jobs.feed_publish, coalesce=True)


class _Stop(Exception):
    pass


def run(*, queues: list[str], burst: bool = False, name: str | None = None, restart_delay: float = 1.0,
        max_restarts: int | None = None, logging_level: str = "INFO") -> int:
    """Work until asked to stop; returns how many times the worker was restarted."""
    import django_rq
    from django_rq.utils import reset_db_connections

    restarts = 0

    def stop_between_runs(signum: int, frame: Any) -> None:
        raise _Stop

    while True:
        # Outside RQ's work loop a stop request is ours to honour (RQ installs its own
        # handlers while it works, and leaves its old ones behind when it returns).
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, stop_between_runs)
        worker = None
        try:
            connection = django_rq.get_connection(queues[0])
            connection.ping()
            catch_up(queues[0])
            worker = ShieldWorker([django_rq.get_queue(q, connection=connection) for q in queues],
                                  connection=connection, name=name, worker_ttl=WORKER_TTL,
                                  job_monitoring_interval=JOB_MONITORING_INTERVAL)
            reset_db_connections()  # the work horse forks: no shared database socket
            worker.work(burst=burst, logging_level=logging_level)
        except (_Stop, StopRequested):
            return restarts
        except Exception as error:  # Redis refused us, or RQ's teardown failed with it gone
            logger.warning("worker stopped: %s: %s", type(error).__name__, error)
        # An idle RQ worker stops on SIGTERM by raising StopRequested inside its loop, without
        # setting _stop_requested; the shutdown date is set either way.
        if burst or (worker is not None and (worker._stop_requested or worker._shutdown_requested_date)):
            return restarts
        if max_restarts is not None and restarts >= max_restarts:
            return restarts
        restarts += 1
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, stop_between_runs)
        try:
            logger.warning("restarting the worker in %.1f s (restart %d)", restart_delay, restarts)
            time.sleep(restart_delay)
        except _Stop:
            return restarts
