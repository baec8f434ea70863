"""Write a file of keys for the cache_warm scenario: gen_keys.py FORMAT PREFIX COUNT TTL PATH.

FORMAT is jsonl or csv; TTL 0 leaves the ttl field out. Values are 100 bytes; in CSV every tenth
value holds a comma and a double quote, so the CSV quoting path is exercised too.
"""

from __future__ import annotations

import csv
import json
import sys


def main() -> int:
    fmt, prefix, count, ttl, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
        for i in range(count):
            value = f"{prefix}-{i}".ljust(100, "x")
            if writer is not None:
                if i % 10 == 9:
                    value = ('say "hi", ' + value)[:100]
                writer.writerow([f"{prefix}:{i}", value] + ([ttl] if ttl else []))
            else:
                record = {"key": f"{prefix}:{i}", "value": value}
                if ttl:
                    record["ttl"] = ttl
                out.write(json.dumps(record) + "\n")
    print(json.dumps({"path": path, "records": count}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
