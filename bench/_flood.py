"""Bench-only: many concurrent readers on one partner key, in a process of their own, looping
on the feed and the checkpoint as fast as the server answers, until stdin closes. Then prints
the answers counted by status as JSON.

Its own process, so that the flood's client threads do not take the Python interpreter lock
from the benchmark's survivor threads: the survivors' latency is then the service's, not the
load generator's (a real flooder runs on another machine).

    python bench/_flood.py PORT KEY READERS
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
from collections import Counter


def main() -> None:
    port, key, readers = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    statuses: Counter[str] = Counter()
    lock = threading.Lock()
    stop = threading.Event()

    def run(i: int) -> None:
        headers = {"Authorization": f"Bearer {key}"}
        conn = None
        n = 0
        while not stop.is_set():
            path = "/api/v1/checkpoint" if n % 2 else f"/api/v1/feed?cursor=0&limit={100 + i}"
            n += 1
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                status = str(response.status)
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except OSError as error:
                status = f"conn {type(error).__name__}"
                if conn is not None:
                    conn.close()
                conn = None
            with lock:
                statuses[status] += 1

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(readers)]
    for t in threads:
        t.start()
    print("started", flush=True)
    sys.stdin.read()  # until the benchmark closes our stdin
    stop.set()
    for t in threads:
        t.join(timeout=30)
    print(json.dumps(dict(statuses)), flush=True)


if __name__ == "__main__":
    main()
