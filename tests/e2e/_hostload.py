#!/usr/bin/env python3
"""The remote e2e test's load, run inside a Docker host: benchmarks/loadgen.py's Load (copied beside this
file as loadgen.py) with each failed request kept: its wall-clock time, latency and error, the body of an
HTTP error included (the example app's /health says which dependency it found unhealthy), so that a
failure can be set against the deploy's task times (profile_tasks prints the clock at each task).

    python3 _hostload.py --url URL --rate R --duration S --timeout T --stop-file F --out OUT
"""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.error

from loadgen import Load


class RecordedLoad(Load):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.failures = []

    def _one(self, offset):
        started, wall = time.monotonic(), time.time()
        status, version, error = 0, "", ""
        try:
            with self._opener.open(self.url, timeout=self.timeout) as resp:
                resp.read()
                status = resp.status
                version = resp.headers.get("X-App-Version", "")
        except urllib.error.HTTPError as exc:
            status = exc.code
            version = exc.headers.get("X-App-Version", "") if exc.headers else ""
            body = exc.read(400).decode(errors="replace") if exc.fp else ""
            error = f"HTTP {exc.code}"
            self._fail(wall, started, f"{error} {version} {body}")
        except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as exc:
            error = type(getattr(exc, "reason", exc)).__name__ + ": " + str(getattr(exc, "reason", exc))
            self._fail(wall, started, error)
        done = time.monotonic()
        with self._lock:
            self.records.append((offset, done - started, status, version, error, done - self._t0))

    def _fail(self, wall, started, what):
        with self._lock:
            if len(self.failures) < 200:
                stamp = time.strftime("%H:%M:%S", time.gmtime(wall)) + f".{int(wall % 1 * 10)}"
                self.failures.append([stamp, round(time.monotonic() - started, 2), what])


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("url", "stop-file", "out"):
        parser.add_argument(f"--{name}", required=True)
    for name in ("rate", "duration", "timeout"):
        parser.add_argument(f"--{name}", type=float, required=True)
    args = parser.parse_args()
    load = RecordedLoad(args.url, rate=args.rate, duration=args.duration, timeout=args.timeout, stop_file=args.stop_file)
    load.start()
    result = load.wait()
    result["failures"] = load.failures
    tmp = args.out + ".partial"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2, sort_keys=True)
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
