"""Fold targets for tests/test_platform_lookup_store.py, run in the lookup follower's child
process (spawned: this module is imported there afresh, so it imports nothing of Django)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from hashbank.platform.store import LocalStore


def fold_when_released(path: str, state: dict[str, Any], backend: str) -> None:
    """Fold once the file `release` appears in the store's parent directory."""
    gate = Path(path).parent / "release"
    deadline = time.monotonic() + 120
    while not gate.exists():
        if time.monotonic() > deadline:
            raise SystemExit(3)
        time.sleep(0.02)
    LocalStore(path).fold_build(state, backend=backend)


def fold_fails(path: str, state: dict[str, Any], backend: str) -> None:
    raise SystemExit(4)
