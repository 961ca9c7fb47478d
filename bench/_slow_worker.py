"""Bench-only: run a worker command (`manage.py <args>`) whose publisher and snapshot writer
pause at their fault points, so the resilience benchmark can SIGKILL it mid-publish or
mid-snapshot. This is the benchmark's own fault injection, not a production seam.

A step pauses only while the file `$BENCH_FAULT_DIR/arm-<step>` exists (so normal operation is
not slowed); while it pauses, `$BENCH_FAULT_DIR/in-<step>` holds the pid of the process inside.

    python bench/_slow_worker.py rqworker default
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.core.management import execute_from_command_line

    from hashbank.feed import publish, snapshots

    directory = Path(os.environ["BENCH_FAULT_DIR"])
    pause = float(os.environ.get("BENCH_FAULT_SLEEP", "0.3"))

    def fault_point(step: str) -> None:
        if not (directory / f"arm-{step}").exists():
            return
        marker = directory / f"in-{step}"
        marker.write_text(str(os.getpid()))
        try:
            time.sleep(pause)
        finally:
            marker.unlink(missing_ok=True)

    publish.fault_point = fault_point
    snapshots.fault_point = fault_point  # imported by name there
    execute_from_command_line([str(ROOT / "manage.py"), *sys.argv[1:]])


if __name__ == "__main__":
    main()
