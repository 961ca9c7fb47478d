"""The lookup process for bench/lookup_bench.py: the same view and HTTP service as
`manage.py lookup_serve` (hashbank.platform.lookup_service), over a store the bench built
directly. There is no feed to follow (the store's million fingerprints were never published),
so the follower is replaced by what it does after a quiet sync: a look at the store every second."""

from __future__ import annotations

import argparse
import sys
import threading

from hashbank.platform.live import LiveIndex
from hashbank.platform.lookup_service import LookupService, make_server
from hashbank.platform.store import LocalStore


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--backend", default="auto")
    args = parser.parse_args()
    live = LiveIndex(LocalStore(args.store), backend=args.backend)
    server = make_server(LookupService(live), "127.0.0.1", args.port)
    stop = threading.Event()

    def follow() -> None:
        while not stop.wait(1.0):
            live.refresh()

    threading.Thread(target=follow, daemon=True).start()
    print(f"lookup listening on {args.port}: {live.view.base_records} PDQ, {live.view.base_exact_count} exact",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
