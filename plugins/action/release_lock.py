# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Action of opskit.webstack.release_lock: name the holder and check its liveness on the controller."""

from __future__ import annotations

import getpass
import os
import socket
import time

from ansible.plugins.action import ActionBase
from ansible_collections.opskit.webstack.plugins.module_utils import _release_lock as lock


class ActionModule(ActionBase):
    _VALID_ARGS = frozenset(("path", "state", "what", "break_lock"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        # The worker that runs this is a child of the ansible-playbook process: that process holds the lock.
        pid = os.getppid()
        holder = {
            "controller": socket.gethostname(),
            "pid": pid,
            "pid_start": lock.process_start(pid),
            "user": getpass.getuser(),
            "what": str(args.get("what") or ""),
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        module_args = dict(args, holder=holder)
        out = self._execute_module(module_name="opskit.webstack.release_lock", module_args=module_args, task_vars=task_vars)
        if out.get("failed") or args.get("state", "present") == "absent" or out.get("state") != "held":
            result.update(out)
            return result
        current = out.get("holder") or {}
        same_controller = current.get("controller") == holder["controller"]
        gone = same_controller and not lock.process_alive(current.get("pid"), current.get("pid_start", ""))
        if gone or self._bool(args.get("break_lock")):
            out = self._execute_module(module_name="opskit.webstack.release_lock",
                                       module_args=dict(module_args, takeover=current), task_vars=task_vars)
            if out.get("state") in ("taken_over", "acquired"):
                result.update(out)
                result["msg"] = "Took over the lock of {} (process {} on {} is gone).".format(
                    current.get("what") or "a run", current.get("pid"), current.get("controller"))
                return result
            current = out.get("holder") or current
        result.update(out)
        result["failed"] = True
        result["msg"] = (
            "Another run is changing this stack: {what} by {user}@{controller} (ansible-playbook process {pid}) since {since}. "
            "Wait until it ends and run again.{hint}".format(
                what=current.get("what") or "a run", user=current.get("user", "?"), controller=current.get("controller", "?"),
                pid=current.get("pid", "?"), since=current.get("since", "?"),
                hint="" if same_controller else (
                    " It was taken from another controller, so its process cannot be checked from here: if that run is gone, "
                    "run again with break_lock (webstack_break_lock=true), or remove " + str(args.get("path")) + ".")))
        return result

    @staticmethod
    def _bool(value):
        return str(value).strip().lower() in ("1", "true", "yes", "on", "y")
