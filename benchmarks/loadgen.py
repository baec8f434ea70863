#!/usr/bin/env python3
# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A bounded HTTP load generator: GET a URL on 127.0.0.1 at a constant rate for a bounded time.

Every request is scheduled on a fixed clock (``rate`` per second, open loop: a slow answer does
not slow the load down) and recorded: when it was sent, how long it took, its status (0 for a
connection error or timeout) and the ``X-App-Version`` header. The summary counts failures
(errors and non-2xx answers), the longest gap between two successful answers, latencies and the
versions that answered, first and last.

As a library::

    from loadgen import Load
    with Load("http://127.0.0.1:18130/", rate=50) as load:
        ...                         # roll something out
    print(load.summary()["failed"])

As a script (the Molecule scenario runs it in the background; it stops at ``--duration`` or as
soon as the ``--stop-file`` exists, and writes the summary to ``--out``)::

    python benchmarks/loadgen.py --url http://127.0.0.1:18130/ --rate 50 --duration 120 \
        --stop-file /tmp/load.stop --out /tmp/load.json

Only 127.0.0.1 (or localhost) is accepted, and no run lasts longer than ``MAX_SECONDS``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

MAX_SECONDS = 900.0
ALLOWED_HOSTS = ("127.0.0.1", "localhost")


class _NoProxy(urllib.request.ProxyHandler):
    def __init__(self):
        super().__init__({})


class Load:
    """Send GET requests to ``url`` at ``rate`` per second until ``stop()`` or ``duration`` seconds."""

    def __init__(self, url, rate=50.0, *, duration=MAX_SECONDS, timeout=5.0, workers=None, stop_file=None):
        host = urlparse(url).hostname
        if host not in ALLOWED_HOSTS:
            raise ValueError(f"the load goes to 127.0.0.1 only, not {host}")
        if rate <= 0 or rate > 2000:
            raise ValueError(f"rate must be in (0, 2000], got {rate}")
        self.url = url
        self.rate = float(rate)
        self.duration = min(float(duration), MAX_SECONDS)
        self.timeout = float(timeout)
        self.workers = workers or max(8, min(256, int(self.rate * self.timeout / 2) + 8))
        self.stop_file = stop_file
        self.records = []  # (sent offset s, latency s, status, version, error)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self._t0 = None
        self._opener = urllib.request.build_opener(_NoProxy())

    # -- running ---------------------------------------------------------------------------------
    def _one(self, offset):
        started = time.monotonic()
        status, version, error = 0, "", ""
        try:
            with self._opener.open(self.url, timeout=self.timeout) as resp:
                resp.read()
                status = resp.status
                version = resp.headers.get("X-App-Version", "")
        except urllib.error.HTTPError as exc:
            status = exc.code
            version = exc.headers.get("X-App-Version", "") if exc.headers else ""
            error = f"HTTP {exc.code}"
        except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as exc:
            error = type(getattr(exc, "reason", exc)).__name__ + ": " + str(getattr(exc, "reason", exc))
        done = time.monotonic()
        with self._lock:
            self.records.append((offset, done - started, status, version, error, done - self._t0))

    def _loop(self):
        interval = 1.0 / self.rate
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            n = 0
            while not self._stop.is_set():
                due = self._t0 + n * interval
                now = time.monotonic()
                if due - self._t0 >= self.duration:
                    break
                if self.stop_file and n % max(1, int(self.rate / 4)) == 0 and os.path.exists(self.stop_file):
                    break
                if due > now:
                    self._stop.wait(due - now)
                    continue
                pool.submit(self._one, due - self._t0)
                n += 1

    def start(self):
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="loadgen", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join()
        return self.summary()

    def wait(self):
        if self._thread:
            self._thread.join()
        return self.summary()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- results ---------------------------------------------------------------------------------
    def snapshot(self):
        """A copy of the records so far: (sent s, latency s, status, version, error, done s)."""
        with self._lock:
            return list(self.records)

    def mark(self):
        """Seconds since the start (to cut the records into windows)."""
        return time.monotonic() - self._t0

    def summary(self, since=None, until=None):
        """Counts of the records sent in [since, until) (all when omitted)."""
        with self._lock:
            recs = sorted(self.records, key=lambda r: r[0])
        if since is not None:
            recs = [r for r in recs if r[0] >= since]
        if until is not None:
            recs = [r for r in recs if r[0] < until]
        ok = [r for r in recs if 200 <= r[2] < 300]
        failed = [r for r in recs if not 200 <= r[2] < 300]
        done_ok = sorted(r[5] for r in ok)
        gap = 0.0
        for a, b in itertools.pairwise(done_ok):
            gap = max(gap, b - a)
        lat = sorted(r[1] for r in recs)
        versions = {}
        for r in ok:
            versions[r[3]] = versions.get(r[3], 0) + 1
        errors = {}
        for r in failed:
            errors[r[4]] = errors.get(r[4], 0) + 1
        span = (recs[-1][0] - recs[0][0]) if len(recs) > 1 else 0.0
        return {
            "url": self.url,
            "requests": len(recs),
            "ok": len(ok),
            "failed": len(failed),
            "errors": errors,
            "rate": round(len(recs) / span, 1) if span else 0.0,
            "seconds": round(span, 2),
            "longest_gap_s": round(gap, 3),
            "latency_p50_s": round(lat[len(lat) // 2], 4) if lat else None,
            "latency_p99_s": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 4) if lat else None,
            "latency_max_s": round(lat[-1], 4) if lat else None,
            "versions": versions,
            "first_version": ok[0][3] if ok else None,
            "last_version": ok[-1][3] if ok else None,
        }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="URL on 127.0.0.1 to GET")
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second (default 50)")
    parser.add_argument("--duration", type=float, default=60.0, help=f"seconds, at most {MAX_SECONDS:.0f}")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per request")
    parser.add_argument("--stop-file", help="stop as soon as this file exists")
    parser.add_argument("--out", help="write the summary JSON here (atomically)")
    args = parser.parse_args(argv)
    load = Load(args.url, rate=args.rate, duration=args.duration, timeout=args.timeout, stop_file=args.stop_file)
    load.start()
    result = load.wait()
    if args.out:
        tmp = args.out + ".partial"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2, sort_keys=True)
        os.replace(tmp, args.out)
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
