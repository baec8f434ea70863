"""postgres_backup_exec's steps and postgres_backup_store's lock+room and commit+prune+unlock, through main().

The steps run for real (host mode: the tools are sh on this machine, under the password wrapper); the
store's actions on real files in a temporary directory.
"""

from __future__ import annotations

import json
import os

import pytest
from ansible_collections.opskit.webstack.plugins.module_utils import _pgbackup as store
from ansible_collections.opskit.webstack.plugins.modules import postgres_backup_exec, postgres_backup_info, postgres_backup_store
from test_modules_main import run  # its "rc" is the module's exit status
from test_pgbackup import make_backup, make_partial


def host_exec(tmp_path, steps, **more):
    args = {"mode": "host", "login_user": "u", "login_password": "S3cr:et", "environment": {"TMPDIR": str(tmp_path)}, "steps": steps, **more}
    return {key: value for key, value in args.items() if value is not None}


def test_steps_run_in_order_each_with_its_own_password_file_and_output(tmp_path, capsys):
    out_file = tmp_path / "out.txt"
    steps = [
        {"name": "first", "argv": ["sh", "-c", 'cat "$PGPASSFILE"']},
        {"name": "to a file", "argv": ["sh", "-c", "echo dumped"], "output_file": str(out_file)},
        {"name": "no login", "connect": False, "argv": ["sh", "-c", 'echo "[${PGPASSFILE:-}]"; ls -A "$TMPDIR" | wc -l']},
        {"name": "reads the file", "connect": False, "argv": ["cat"], "input_path": str(out_file)},
    ]
    out = run(postgres_backup_exec, host_exec(tmp_path, steps), capsys)
    assert out["rc"] == 0 and out["failed_step"] is None, out
    assert [step["name"] for step in out["steps"]] == ["first", "to a file", "no login", "reads the file"]
    assert out["steps"][0]["stdout"] == "*:*:*:u:S3cr\\:et"
    assert out_file.read_text() == "dumped\n" and out["steps"][1]["output_bytes"] == 7 and out["steps"][1]["stdout"] == ""
    # the step with no login has no password file (only its own private directory exists meanwhile)
    assert out["steps"][2]["stdout_lines"] == ["[]", "2"]
    assert out["steps"][3]["stdout"] == "dumped" and out["stdout"] == "dumped"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_the_first_failing_step_ends_the_call_and_is_named(tmp_path, capsys):
    marker = tmp_path / "ran"
    steps = [
        {"name": "ok", "argv": ["true"]},
        {"name": "Dump the database with pg_dump", "argv": ["sh", "-c", "echo broken >&2; exit 3"]},
        {"name": "never", "argv": ["touch", str(marker)]},
    ]
    out = run(postgres_backup_exec, host_exec(tmp_path, steps), capsys)
    assert out["rc"] == 1 and out["failed"] is True
    assert out["failed_step"] == "Dump the database with pg_dump" and out["steps"][-1]["rc"] == 3 and out["stderr"] == "broken"
    assert "pg_dump" in out["msg"] and "exit code 3" in out["msg"]
    assert [step["name"] for step in out["steps"]] == ["ok", "Dump the database with pg_dump"]
    assert not marker.exists()
    assert "S3cr" not in json.dumps(out)


def test_a_step_that_cannot_start_is_named(tmp_path, capsys):
    steps = [{"name": "ok", "argv": ["true"]}, {"name": "reads", "argv": ["cat"], "input_path": str(tmp_path / "missing")}]
    out = run(postgres_backup_exec, host_exec(tmp_path, steps), capsys)
    assert out["failed"] is True and out["failed_step"] == "reads" and len(out["steps"]) == 1


def test_argv_and_steps_exclude_each_other(tmp_path, capsys):
    out = run(postgres_backup_exec, host_exec(tmp_path, [{"name": "a", "argv": ["true"]}], argv=["true"]), capsys)
    assert out["failed"] is True and "mutually exclusive" in out["msg"]
    out = run(postgres_backup_exec, {"mode": "host"}, capsys)
    assert out["failed"] is True and "one of the following is required" in out["msg"]


def test_lock_checks_the_room_and_creates_the_partial(tmp_path, capsys):
    path = tmp_path / "shop"
    out = run(postgres_backup_store, {"path": str(path), "action": "lock", "owner": "run-1", "database_size": 1000, "name": "shop-20260101T000000Z"}, capsys)
    assert out["rc"] == 0 and out["changed"] is True, out
    partial = path / ("shop-20260101T000000Z" + store.PARTIAL_SUFFIX)
    assert out["partial_path"] == str(partial) and partial.is_dir() and (partial.stat().st_mode & 0o777) == 0o700
    assert out["room"]["needed_bytes"] is None and out["room"]["free_bytes"] > 0  # no earlier backup to scale
    assert store.read_lock(str(path))["owner"] == "run-1"


def test_lock_with_too_little_room_fails_with_the_lock_held(tmp_path, capsys, monkeypatch):
    path = tmp_path / "shop"
    path.mkdir()
    make_backup(path, "shop-20250101T000000Z")
    monkeypatch.setattr(store, "free_bytes", lambda _path: 10)
    out = run(postgres_backup_store, {"path": str(path), "action": "lock", "owner": "run-1", "database_size": 10**9, "name": "shop-20260101T000000Z"}, capsys)
    assert out["failed"] is True and out["changed"] is True and "only 10 B are free" in out["msg"]
    assert out["lock"]["owner"] == "run-1" and not (path / ("shop-20260101T000000Z" + store.PARTIAL_SUFFIX)).exists()


def test_commit_then_prune_then_unlock_in_one_call(tmp_path, capsys):
    path = tmp_path / "shop"
    path.mkdir()
    make_backup(path, "shop-20250101T000000Z")
    run(postgres_backup_store, {"path": str(path), "action": "lock", "owner": "run-1"}, capsys)
    make_partial(path, "shop-20260101T000000Z")
    args = {"path": str(path), "action": "commit", "name": "shop-20260101T000000Z", "owner": "run-1", "prune": True, "unlock": True,
            "keep_daily": 1, "keep_weekly": 0, "keep_monthly": 0, "metadata": {"database": "shop"}, "_ansible_diff": True}
    out = run(postgres_backup_store, args, capsys)
    assert out["rc"] == 0 and out["committed"] is True and out["unlocked"] is True, out
    assert out["pruned"]["backups"] == ["shop-20250101T000000Z"] and out["pruned"]["kept"] == ["shop-20260101T000000Z"]
    assert store.latest_name(str(path)) == "shop-20260101T000000Z" and store.read_lock(str(path)) is None
    assert not (path / "shop-20250101T000000Z").exists()
    info = run(postgres_backup_info, {"path": str(path), "verify": True}, capsys)
    assert info["backup"]["valid"] is True and info["lock"] is None


def test_a_commit_whose_retention_fails_says_the_backup_is_good(tmp_path, capsys):
    path = tmp_path / "shop"
    path.mkdir()
    records = tmp_path / "records"
    (records / "r1").mkdir(parents=True)
    (records / "r1" / "backup.json").write_text("{not json")
    make_partial(path, "shop-20260101T000000Z")
    args = {"path": str(path), "action": "commit", "name": "shop-20260101T000000Z", "owner": "run-1", "prune": True, "unlock": True,
            "keep_referenced_by": [str(records)], "metadata": {}}
    out = run(postgres_backup_store, args, capsys)
    assert out["failed"] is True and out["committed"] is True and out["unlocked"] is False
    assert "was verified and marked latest" in out["msg"] and "apply the retention" in out["msg"]
    assert store.latest_name(str(path)) == "shop-20260101T000000Z"


def test_promote_with_the_sealed_manifest_still_checks_files_and_sizes(tmp_path):
    make_partial(tmp_path, "shop-20260101T000000Z")
    manifest = store.seal(str(tmp_path), "shop-20260101T000000Z", {})
    partial = tmp_path / ("shop-20260101T000000Z" + store.PARTIAL_SUFFIX)
    (partial / "globals.sql").write_bytes(b"short")
    (partial / "stray").write_bytes(b"x")
    with pytest.raises(store.BackupStoreError, match=r"globals\.sql: size 5.*stray: not in the manifest"):
        store.promote(str(tmp_path), "shop-20260101T000000Z", manifest=manifest)
    assert store.latest_name(str(tmp_path)) is None


def test_a_background_step_runs_beside_the_next_and_is_waited_for(tmp_path, capsys):
    marker = tmp_path / "side"
    steps = [
        {"name": "beside", "background": True, "argv": ["sh", "-c", f"sleep 1; echo side > {marker}; echo done"]},
        {"name": "main", "argv": ["sh", "-c", f"test ! -e {marker} && echo first"]},
    ]
    out = run(postgres_backup_exec, host_exec(tmp_path, steps), capsys)
    assert out["rc"] == 0 and out["failed_step"] is None, out
    # the main step ran while the background one slept, and the call waited for it
    assert [(step["name"], step["stdout"]) for step in out["steps"]] == [("beside", "done"), ("main", "first")]
    assert marker.read_text() == "side\n"


def test_a_failing_background_step_fails_the_call_and_a_failing_step_stops_it(tmp_path, capsys):
    steps = [{"name": "beside", "background": True, "argv": ["sh", "-c", "exit 4"]}, {"name": "main", "argv": ["true"]}]
    out = run(postgres_backup_exec, host_exec(tmp_path, steps), capsys)
    assert out["failed"] is True and out["failed_step"] == "beside" and out["steps"][0]["rc"] == 4
    steps = [{"name": "beside", "background": True, "argv": ["sleep", "60"]}, {"name": "main", "argv": ["sh", "-c", "exit 5"]}]
    out = run(postgres_backup_exec, host_exec(tmp_path, steps), capsys)
    assert out["failed"] is True and out["failed_step"] == "main" and out["steps"][1]["rc"] == 5
    assert out["steps"][0]["stopped"] == "step 'main' failed"


# A stand-in for psql in a snapshot session: it reads the session's SQL line by line, names the
# snapshot, and says whether the dump (its marker file, $0) had ended when the SQL after it came.
FAKE_SESSION = (
    'while IFS= read -r line; do case $line in "SELECT pg_export_snapshot();") echo 00000003-0000001B-1;; '
    'COMMIT*) echo committed;; SET*|BEGIN*) ;; *) if [ -e "$0" ]; then echo "after: $line"; else echo "before: $line"; fi;; esac; done'
)


def fake_dump(tmp_path, marker, body="sleep 0.5"):
    script = tmp_path / "dump.sh"
    script.write_text(f'#!/bin/sh\n{body}\necho "$@"\ntouch {marker}\n')
    script.chmod(0o755)
    return str(script)


def test_a_snapshot_session_holds_its_snapshot_until_the_steps_using_it_end(tmp_path, capsys):
    marker = tmp_path / "dumped"
    steps = [
        {"name": "session", "export_snapshot": "SELECT 42;", "argv": ["sh", "-c", FAKE_SESSION, str(marker)]},
        {"name": "dump", "use_snapshot": True, "argv": [fake_dump(tmp_path, marker), "--dbname", "shop"]},
        {"name": "list", "background": True, "argv": ["echo", "listed"]},
    ]
    out = run(postgres_backup_exec, host_exec(tmp_path, steps), capsys)
    assert out["rc"] == 0 and out["failed_step"] is None, out
    byname = {step["name"]: step for step in out["steps"]}
    # the dump ran in the exported snapshot; the session's SQL ran only once the dump had ended, then COMMIT
    assert byname["dump"]["stdout"] == "--snapshot=00000003-0000001B-1 --dbname shop"
    assert byname["session"]["stdout_lines"] == ["00000003-0000001B-1", "after: SELECT 42;", "committed"]
    assert byname["list"]["stdout"] == "listed"


def test_a_snapshot_session_that_fails_first_runs_no_step_using_it(tmp_path, capsys):
    marker = tmp_path / "dumped"
    steps = [
        {"name": "session", "export_snapshot": "SELECT 1", "argv": ["sh", "-c", "echo 'FATAL: no such database' >&2; exit 2"]},
        {"name": "dump", "use_snapshot": True, "argv": [fake_dump(tmp_path, marker), "x"]},
    ]
    out = run(postgres_backup_exec, host_exec(tmp_path, steps), capsys)
    assert out["failed"] is True and out["failed_step"] == "session" and out["steps"][0]["rc"] == 2, out
    assert "no such database" in out["msg"] and not marker.exists()


def test_a_failing_step_in_the_snapshot_stops_the_session(tmp_path, capsys):
    marker = tmp_path / "dumped"
    steps = [
        {"name": "session", "export_snapshot": "SELECT 1", "argv": ["sh", "-c", FAKE_SESSION, str(marker)]},
        {"name": "dump", "use_snapshot": True, "argv": [fake_dump(tmp_path, marker, "echo broken >&2; exit 3"), "x"]},
    ]
    out = run(postgres_backup_exec, host_exec(tmp_path, steps), capsys)
    assert out["failed"] is True and out["failed_step"] == "dump" and out["stderr"] == "broken", out
    session = out["steps"][0]
    assert session["stopped"] == "step 'dump' failed" and "SELECT 1" not in session["stdout"]


def test_a_step_using_a_snapshot_needs_a_session_before_it(tmp_path, capsys):
    steps = [{"name": "dump", "use_snapshot": True, "argv": ["echo"]}]
    out = run(postgres_backup_exec, host_exec(tmp_path, steps), capsys)
    assert out["failed"] is True and "exported a snapshot" in out["msg"], out


def test_a_busy_lock_fails_unchanged_with_the_holders_record(tmp_path, capsys):
    path = tmp_path / "shop"
    path.mkdir()
    make_backup(path, "shop-20250101T000000Z")
    record = {"owner": "other", "host": "elsewhere", "created": 2e9, "holder": {"pid": 1, "start": 1, "name": "sshd"},
              "controller": {"host": "ctl", "pid": 4242, "start": 7}}
    (path / ".lock").write_text(json.dumps(record))
    args = {"path": str(path), "action": "lock", "owner": "run-1", "database_size": 1000}
    out = run(postgres_backup_store, args, capsys)
    assert out["failed"] is True and out["changed"] is False and "held by other" in out["msg"]
    assert out["lock"]["controller"] == record["controller"] and out["latest"] == "shop-20250101T000000Z"
    # the caller found that run gone on its controller: it takes the lock over
    out = run(postgres_backup_store, dict(args, takeover="other"), capsys)
    assert out["rc"] == 0 and out["changed"] is True and out["lock"]["owner"] == "run-1"


def test_exec_takes_the_lock_runs_the_tools_and_commits_in_one_call(tmp_path, capsys):
    path = tmp_path / "shop"
    path.mkdir()
    make_backup(path, "shop-20250101T000000Z")
    name = "shop-20260101T000000Z"
    partial = path / (name + ".partial")
    steps = [
        {"name": "counts", "background": True, "argv": ["sh", "-c", 'echo \'{"row_counts": {"public.orders": 3}}\'']},
        {"name": "dump", "argv": ["sh", "-c", f"echo data > {partial}/dump.sql"]},
        {"name": "list", "connect": False, "argv": ["printf", ";\\n; Archive\\n1; TABLE a\\n2; TABLE b\\n"]},
        {"name": "snapshot", "argv": ["echo", "100:100:"]},
    ]
    lock = {"path": str(path), "owner": "run-1", "database_size": 1000, "name": name}
    commit = {"path": str(path), "name": name, "owner": "run-1", "unlock": True, "prune": True, "keep_daily": 1, "keep_weekly": 0,
              "keep_monthly": 0, "metadata": {"database": "shop"}, "row_counts_step": "counts", "snapshot_step": "snapshot",
              "snapshot": "100:100:", "list_step": "list"}
    out = run(postgres_backup_exec, host_exec(tmp_path, steps, lock=lock, commit=commit), capsys)
    assert out["rc"] == 0 and out["committed"] is True, out
    assert out["store_lock"]["changed"] is True and out["store_lock"]["latest"] == "shop-20250101T000000Z"
    manifest = out["store_commit"]["manifest"]
    assert manifest["row_counts"] == {"public.orders": 3} and manifest["toc_entries"] == 2 and manifest["database"] == "shop"
    assert manifest["duration_seconds"] >= 0 and manifest["started_at"].endswith("Z")
    assert out["store_commit"]["unlocked"] is True and store.read_lock(str(path)) is None
    assert store.latest_name(str(path)) == name and out["store_commit"]["pruned"]["backups"] == ["shop-20250101T000000Z"]
    info = run(postgres_backup_info, {"path": str(path), "verify": True}, capsys)
    assert info["backup"]["valid"] is True and info["backup"]["name"] == name


def test_exec_row_counts_are_null_when_the_snapshot_moved(tmp_path, capsys):
    path = tmp_path / "shop"
    name = "shop-20260101T000000Z"
    steps = [
        {"name": "counts", "argv": ["echo", '{"row_counts": {"public.orders": 3}}']},
        {"name": "dump", "argv": ["sh", "-c", f"echo data > {path}/{name}.partial/dump.sql"]},
        {"name": "snapshot", "argv": ["echo", "100:101:"]},
    ]
    commit = {"path": str(path), "name": name, "owner": "run-1", "unlock": True, "row_counts_step": "counts",
              "snapshot_step": "snapshot", "snapshot": "100:100:"}
    out = run(postgres_backup_exec, host_exec(tmp_path, steps, lock={"path": str(path), "owner": "run-1", "name": name}, commit=commit), capsys)
    assert out["rc"] == 0 and out["store_commit"]["manifest"]["row_counts"] is None, out


def test_exec_with_a_busy_lock_runs_no_tool_and_names_the_holder(tmp_path, capsys):
    path = tmp_path / "shop"
    path.mkdir()
    store.acquire_lock(str(path), "other", 86400, holder={"pid": os.getpid(), "start": store._proc_stat(os.getpid())[2], "name": "x"})
    marker = tmp_path / "ran"
    lock = {"path": str(path), "owner": "run-1", "name": "shop-20260101T000000Z"}
    out = run(postgres_backup_exec, host_exec(tmp_path, [{"name": "never", "argv": ["touch", str(marker)]}], lock=lock), capsys)
    assert out["rc"] == 1 and out["store_lock"]["busy"] is True and out["store_lock"]["lock"]["owner"] == "other", out
    assert out["failed_step"] == postgres_backup_exec.LOCK_STEP and out["changed"] is False
    assert not marker.exists() and not (path / "shop-20260101T000000Z.partial").exists()
    out = run(postgres_backup_exec, host_exec(tmp_path, [{"name": "now", "argv": ["touch", str(marker)]}], lock=dict(lock, takeover="other")), capsys)
    assert out["rc"] == 0 and marker.exists() and store.read_lock(str(path))["owner"] == "run-1", out


def test_exec_failing_tool_keeps_the_lock_and_commits_nothing(tmp_path, capsys):
    path = tmp_path / "shop"
    name = "shop-20260101T000000Z"
    commit = {"path": str(path), "name": name, "owner": "run-1", "unlock": True}
    lock = {"path": str(path), "owner": "run-1", "name": name}
    out = run(postgres_backup_exec, host_exec(tmp_path, [{"name": "dump", "argv": ["sh", "-c", "exit 2"]}], lock=lock, commit=commit), capsys)
    assert out["rc"] == 1 and out["failed_step"] == "dump" and out["store_lock"]["changed"] is True, out
    assert "committed" not in out and store.read_lock(str(path))["owner"] == "run-1"
    assert (path / (name + ".partial")).is_dir() and store.latest_name(str(path)) is None


def test_exec_commit_of_an_empty_partial_fails_named(tmp_path, capsys):
    path = tmp_path / "shop"
    name = "shop-20260101T000000Z"
    lock = {"path": str(path), "owner": "run-1", "name": name}
    out = run(postgres_backup_exec, host_exec(tmp_path, [{"name": "nothing", "argv": ["true"]}], lock=lock,
                                              commit={"path": str(path), "name": name}), capsys)
    assert out["rc"] == 1 and out["failed_step"] == postgres_backup_exec.COMMIT_STEP and out["committed"] is False, out
    assert "holds no files" in out["msg"]


def test_exec_reads_and_verifies_the_store_beside_its_tool(tmp_path, capsys):
    path = tmp_path / "shop"
    path.mkdir()
    make_backup(path, "shop-20250101T000000Z")
    make_backup(path, "shop-20260101T000000Z")
    out = run(postgres_backup_exec, host_exec(tmp_path, None, argv=["echo", "live"], backup={"path": str(path), "verify": True}), capsys)
    assert out["rc"] == 0 and out["stdout"] == "live", out
    info = out["backup_info"]
    assert info["latest"] == "shop-20260101T000000Z" and info["backup"]["valid"] is True and len(info["backups"]) == 2
    first = path / "shop-20250101T000000Z"
    victim = next(p for p in first.rglob("*") if p.is_file() and p.name != "manifest.json")
    victim.write_bytes(b"x" * victim.stat().st_size)
    out = run(postgres_backup_exec, host_exec(tmp_path, None, argv=["true"], backup={"path": str(path), "name": first.name, "verify": True}), capsys)
    assert out["backup_info"]["backup"]["valid"] is False and "sha256" in out["backup_info"]["backup"]["problems"][0], out
