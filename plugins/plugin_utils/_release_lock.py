# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The controller's side of the stack's lock, shared by the action plugins that take it (release_lock,
compose_rollout): who holds it (this ansible-playbook process), whether a holder is gone, and the message
a second run shows."""

from __future__ import annotations

import getpass
import os
import socket
import time

from ansible_collections.opskit.webstack.plugins.module_utils import _release_lock as lock


def this_holder(what):
    """The holder for a lock taken by this run: the worker that runs an action plugin is a child of the
    ansible-playbook process, and that process holds the lock."""
    pid = os.getppid()
    return {
        "controller": socket.gethostname(),
        "pid": pid,
        "pid_start": lock.process_start(pid),
        "user": getpass.getuser(),
        "what": str(what or ""),
        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def holder_gone(current, holder):
    """Whether the process holding the lock is gone; only known for a holder on this controller."""
    return current.get("controller") == holder["controller"] and not lock.process_alive(current.get("pid"), current.get("pid_start", ""))


def held_message(current, holder, path):
    same_controller = current.get("controller") == holder["controller"]
    return (
        "Another run is changing this stack: {what} by {user}@{controller} (ansible-playbook process {pid}) since {since}. "
        "Wait until it ends and run again.{hint}".format(
            what=current.get("what") or "a run", user=current.get("user", "?"), controller=current.get("controller", "?"),
            pid=current.get("pid", "?"), since=current.get("since", "?"),
            hint="" if same_controller else (
                " It was taken from another controller, so its process cannot be checked from here: if that run is gone, "
                "run again with break_lock (webstack_break_lock=true), or remove " + str(path) + ".")))


def took_over_message(current):
    return "Took over the lock of {} (process {} on {} is gone).".format(
        current.get("what") or "a run", current.get("pid"), current.get("controller"))
