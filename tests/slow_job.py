"""A job that only takes time, for the worker heartbeat test (tests/test_redis_outage.py)."""

import time


def sleep(seconds: float) -> None:
    time.sleep(seconds)
