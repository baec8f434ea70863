#!/usr/bin/python3
"""Write COUNT keys of SIZE bytes with redis-py pipelines; print a JSON line: written, oom, evicted before/after.

Password from REDIS_PASSWORD (and user from REDIS_USER) in the environment, never on the command line.
"""

import json
import os
import sys

import redis


def main():
    count, size, prefix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    client = redis.Redis(
        host="127.0.0.1", port=6379, username=os.environ.get("REDIS_USER") or None, password=os.environ.get("REDIS_PASSWORD") or None
    )
    evicted_before = client.info("stats")["evicted_keys"]
    value = b"x" * size
    written = oom = 0
    batch = 500
    for start in range(0, count, batch):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(start + batch, count)):
            pipe.set(f"{prefix}:{i}", value)
        for reply in pipe.execute(raise_on_error=False):
            if isinstance(reply, redis.exceptions.ResponseError):
                # redis-py >= 4.2 (trixie's 6.x) raises OutOfMemoryError without the "OOM" prefix
                if isinstance(reply, getattr(redis.exceptions, "OutOfMemoryError", ())) or "OOM" in str(reply):
                    oom += 1
                else:
                    raise reply
            else:
                written += 1
    info = client.info("memory")
    print(json.dumps({
        "written": written,
        "oom": oom,
        "evicted_before": evicted_before,
        "evicted_after": client.info("stats")["evicted_keys"],
        "used_memory": info["used_memory"],
        "maxmemory": info["maxmemory"],
    }))


if __name__ == "__main__":
    main()
