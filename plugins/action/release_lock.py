# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Action of opskit.webstack.release_lock: name the holder and check its liveness on the controller."""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible_collections.opskit.webstack.plugins.plugin_utils import _release_lock as lock_holder


class ActionModule(ActionBase):
    _VALID_ARGS = frozenset(("path", "state", "what", "break_lock"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        holder = lock_holder.this_holder(args.get("what"))
        module_args = dict(args, holder=holder)
        out = self._execute_module(module_name="opskit.webstack.release_lock", module_args=module_args, task_vars=task_vars)
        if out.get("failed") or args.get("state", "present") == "absent" or out.get("state") != "held":
            result.update(out)
            return result
        current = out.get("holder") or {}
        if lock_holder.holder_gone(current, holder) or self._bool(args.get("break_lock")):
            out = self._execute_module(module_name="opskit.webstack.release_lock",
                                       module_args=dict(module_args, takeover=current), task_vars=task_vars)
            if out.get("state") in ("taken_over", "acquired"):
                result.update(out)
                result["msg"] = lock_holder.took_over_message(current)
                return result
            current = out.get("holder") or current
        result.update(out)
        result["failed"] = True
        result["msg"] = lock_holder.held_message(current, holder, args.get("path"))
        return result

    @staticmethod
    def _bool(value):
        return str(value).strip().lower() in ("1", "true", "yes", "on", "y")
