"""Container healthcheck: exit 0 when the app's /health answers 200, 1 otherwise.

Used by the image's HEALTHCHECK and the compose file (`python3 -m webapp.healthcheck`), so that the
probe is one short command and the same everywhere.
"""

import sys
import urllib.error
import urllib.request

URL = "http://127.0.0.1:8000/health"


def main() -> int:
    try:
        with urllib.request.urlopen(URL, timeout=2) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError):
        return 1


if __name__ == "__main__":
    sys.exit(main())
