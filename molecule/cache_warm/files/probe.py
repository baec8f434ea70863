"""Measure the worst PING round trip to Redis while a purge runs: probe.py PORT STOPFILE MAXSECONDS.

The password comes from the environment (REDIS_PASSWORD), never from the command line. Prints JSON
with the number of pings and the slowest one in milliseconds.
"""

from __future__ import annotations

import json
import os
import sys
import time

import redis


def main() -> int:
    port, stop_file, max_seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    client = redis.Redis(host="127.0.0.1", port=port, password=os.environ.get("REDIS_PASSWORD") or None, protocol=2)
    client.ping()
    worst = 0.0
    pings = 0
    deadline = time.monotonic() + max_seconds
    while not os.path.exists(stop_file) and time.monotonic() < deadline:
        t0 = time.perf_counter()
        client.ping()
        worst = max(worst, (time.perf_counter() - t0) * 1000.0)
        pings += 1
        time.sleep(0.002)
    print(json.dumps({"pings": pings, "max_ms": round(worst, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
