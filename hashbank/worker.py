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

logger = logging.getLogger("hashbank.worker")

#: Seconds between heartbeats of an idle worker (RQ's default is 420 s; /readyz wants a
#: fresher sign of life than that).
WORKER_TTL = 30


class ShieldWorker(Worker):
    # Retry a lost connection every second rather than backing off to a minute: recovery is
    # measured in seconds (bench/resilience.py).
    exponential_backoff_factor = 1.0
    max_connection_wait_time = 1.0


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

    stop = {"requested": False}
    restarts = 0

    def stop_between_runs(signum: int, frame: Any) -> None:
        stop["requested"] = True
        raise _Stop

    while True:
        worker = None
        try:
            connection = django_rq.get_connection(queues[0])
            connection.ping()
            catch_up(queues[0])
            worker = ShieldWorker([django_rq.get_queue(q, connection=connection) for q in queues],
                                  connection=connection, name=name, worker_ttl=WORKER_TTL)
            reset_db_connections()  # the work horse forks: no shared database socket
            worker.work(burst=burst, logging_level=logging_level)
        except _Stop:
            return restarts
        except Exception as error:  # Redis refused us, or RQ's teardown failed with it gone
            logger.warning("worker stopped: %s: %s", type(error).__name__, error)
        if burst or (worker is not None and worker._stop_requested):
            return restarts
        if max_restarts is not None and restarts >= max_restarts:
            return restarts
        restarts += 1
        # RQ's handlers are gone with its work loop; while we wait, a stop request ends us.
        previous = {s: signal.signal(s, stop_between_runs) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            logger.warning("restarting the worker in %.1f s (restart %d)", restart_delay, restarts)
            time.sleep(restart_delay)
        except _Stop:
            return restarts
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if stop["requested"]:
            return restarts
