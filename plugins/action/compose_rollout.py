# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Action of opskit.webstack.compose_rollout: with ``lock``, name the holder of the stack's lock (this
ansible-playbook process) and take over a lock whose holder is gone, as release_lock does; the step
itself runs in one module call on the host."""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible_collections.opskit.webstack.plugins.plugin_utils import _release_lock as lock_holder

MODULE = "opskit.webstack.compose_rollout"


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        args.pop("holder", None)
        args.pop("takeover", None)
        if not args.get("lock"):
            # as the normal action: async when asked
            wrap_async = self._task.async_val and not self._connection.has_native_async
            result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars, wrap_async=wrap_async))
            if not wrap_async:
                self._remove_tmp_path(self._connection._shell.tmpdir)
            return result
        # With the lock, the result must be read here (no async): held by a gone process means take it over.
        holder = lock_holder.this_holder(args.get("lock_what"))
        args["holder"] = holder
        out = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
        lock = out.get("lock") or {}
        current = lock.get("holder") or {}
        if out.get("failed") and lock.get("state") == "held" and lock_holder.holder_gone(current, holder):
            out = self._execute_module(module_name=MODULE, module_args=dict(args, takeover=current), task_vars=task_vars)
            lock = out.get("lock") or {}
            if lock.get("state") == "taken_over" and not out.get("failed"):
                out["msg"] = lock_holder.took_over_message(current)
            current = lock.get("holder") or current
        if out.get("failed") and lock.get("state") == "held":
            out["msg"] = lock_holder.held_message(current, holder, args["lock"])
        self._remove_tmp_path(self._connection._shell.tmpdir)
        result.update(out)
        return result
