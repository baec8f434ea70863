# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Work run beside other work, in a module: a read that need not wait for the one before it."""

from __future__ import annotations

import threading


class Beside(threading.Thread):
    """``function(*args)`` run in a thread from now on. Once joined: its ``value``, or its ``exception`` and
    ``error`` (a message naming ``what`` failed); :meth:`result` joins, then returns the value or raises the exception."""

    def __init__(self, what, function, *args):
        super().__init__(daemon=True)
        self.what, self.function, self.args = what, function, args
        self.value = None
        self.exception = None
        self.start()

    def run(self):
        try:
            self.value = self.function(*self.args)
        except Exception as exc:  # noqa: BLE001 -- any failure of the thread is the caller's to report
            self.exception = exc

    @property
    def error(self):
        return None if self.exception is None else f"Failed to {self.what}: {self.exception}"

    def result(self):
        self.join()
        if self.exception is not None:
            raise self.exception
        return self.value
