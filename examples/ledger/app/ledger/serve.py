"""Serve the app with waitress. On SIGTERM it keeps answering for LEDGER_STOP_GRACE seconds (the
proxy may still send a request or two while it re-resolves the service), then exits."""

import os
import signal
import sys
import threading
import time

from waitress import serve

from ledger import app


def main() -> int:
    def stop(_signum, _frame):
        def later():
            time.sleep(float(os.environ.get("LEDGER_STOP_GRACE", "1.5")))
            os._exit(0)

        threading.Thread(target=later, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    # every interface of the container: the proxy reaches it on the Compose network
    serve(app, host="0.0.0.0", port=int(os.environ.get("LEDGER_PORT", "8080")),  # noqa: S104
          threads=int(os.environ.get("LEDGER_THREADS", "8")), ident="ledger")
    return 0


if __name__ == "__main__":
    sys.exit(main())
