"""A bounded HTTP load for the end-to-end tests: N requests per second to 127.0.0.1 for a while.

The tests run it in a thread beside a deploy and read how many requests failed. When
``benchmarks/loadgen.py`` (the rollout benchmark's generator) is present, the tests use that one;
this small one is the stand-in until then.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import urlparse


@dataclass
class LoadResult:
    """What a load run saw: every request's outcome and the longest gap between successes."""

    total: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)
    bodies: dict[str, int] = field(default_factory=dict)
    longest_gap: float = 0.0
    seconds: float = 0.0


class Load:
    """Send GET requests to ``url`` at ``rate`` per second with ``workers`` threads until stopped."""

    def __init__(self, url: str, rate: float = 40.0, workers: int = 8, timeout: float = 3.0, max_seconds: float = 240.0):
        host = urlparse(url).hostname
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError(f"load goes to 127.0.0.1 only, not {host}")
        self.url = url
        self.interval = workers / rate
        self.workers = workers
        self.timeout = timeout
        self.max_seconds = max_seconds
        self.result = LoadResult()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._last_ok = 0.0
        self._threads: list[threading.Thread] = []
        self._started = 0.0

    def _record(self, ok: bool, what: str) -> None:
        now = time.monotonic()
        with self._lock:
            self.result.total += 1
            if ok:
                self.result.longest_gap = max(self.result.longest_gap, now - self._last_ok)
                self._last_ok = now
                self.result.bodies[what] = self.result.bodies.get(what, 0) + 1
            else:
                self.result.failed += 1
                if len(self.result.failures) < 50:
                    self.result.failures.append(what)

    def _worker(self) -> None:
        deadline = self._started + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            begin = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=self.timeout) as response:
                    body = response.read(4096).decode("utf-8", "replace")
                    self._record(200 <= response.status < 300, body.strip()[:80])
            except urllib.error.HTTPError as err:
                self._record(False, f"HTTP {err.code}")
            except (urllib.error.URLError, OSError) as err:
                self._record(False, f"{type(err).__name__}: {err}")
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - begin)))

    def __enter__(self) -> Load:
        self._started = self._last_ok = time.monotonic()
        for _ in range(self.workers):
            thread = threading.Thread(target=self._worker, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 1)
        self.result.seconds = time.monotonic() - self._started


def main() -> int:
    """Run as a script: load until ``--stop-file`` appears or ``--seconds`` pass, write JSON to ``--out``."""
    import argparse
    import json
    from pathlib import Path

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=240.0)
    parser.add_argument("--stop-file", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    stop = Path(args.stop_file)
    with Load(args.url, rate=args.rate, workers=6, max_seconds=args.seconds) as load:
        deadline = time.monotonic() + args.seconds
        while not stop.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    result = load.result
    Path(args.out).write_text(json.dumps({
        "total": result.total, "failed": result.failed, "failures": result.failures,
        "bodies": result.bodies, "longest_gap": round(result.longest_gap, 3), "seconds": round(result.seconds, 1),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
