"""Container healthcheck: exit 0 when GET /api/ping answers 200 with {"ok": true}, 1 otherwise."""

import json
import sys
import urllib.error
import urllib.request

URL = "http://127.0.0.1:8080/api/ping"


def main() -> int:
    try:
        with urllib.request.urlopen(URL, timeout=3) as response:
            return 0 if response.status == 200 and json.load(response).get("ok") is True else 1
    except (urllib.error.URLError, OSError, ValueError):
        return 1


if __name__ == "__main__":
    sys.exit(main())
