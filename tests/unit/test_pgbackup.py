"""Unit tests of plugins/module_utils/_pgbackup.py on real files in a temporary directory."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import stat
import subprocess
import sys

import pytest
from ansible_collections.opskit.webstack.plugins.module_utils import _pgbackup as store

UTC = store.UTC


def make_partial(root, name, files=None):
    partial = root / (name + store.PARTIAL_SUFFIX)
    (partial / "dump").mkdir(parents=True)
    for rel, content in (files or {"dump/toc.dat": b"toc", "dump/3001.dat.gz": b"data" * 100, "globals.sql": b"CREATE ROLE x;"}).items():
        (partial / rel).write_bytes(content)
    return partial


def make_backup(root, name):
    make_partial(root, name)
    store.seal(str(root), name, {"database": "shop"})
    store.promote(str(root), name)
    return root / name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("shop-20260102T030405Z", datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("my-db-20260102T030405Z", datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("shop-20260102T030405Z.partial", None),
        ("latest", None),
    ],
)
def test_parse_name(name, expected):
    assert store.parse_name(name) == expected


def test_backup_name_round_trips():
    when = datetime.datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert store.parse_name(store.backup_name("shop", when)) == when


def test_seal_writes_manifest_with_checksums(tmp_path):
    make_partial(tmp_path, "shop-20260101T000000Z")
    manifest = store.seal(str(tmp_path), "shop-20260101T000000Z", {"database": "shop"})
    on_disk = json.loads((tmp_path / "shop-20260101T000000Z.partial" / store.MANIFEST).read_text())
    assert on_disk == manifest
    assert set(manifest["files"]) == {"dump/toc.dat", "dump/3001.dat.gz", "globals.sql"}
    assert manifest["files"]["dump/toc.dat"]["sha256"] == hashlib.sha256(b"toc").hexdigest()
    assert manifest["size_bytes"] == 3 + 400 + len(b"CREATE ROLE x;")
    assert manifest["database"] == "shop"


def test_seal_refuses_empty_partial(tmp_path):
    (tmp_path / "shop-20260101T000000Z.partial").mkdir()
    with pytest.raises(store.BackupStoreError, match="holds no files"):
        store.seal(str(tmp_path), "shop-20260101T000000Z", {})


def test_promote_renames_and_marks_latest(tmp_path):
    path = make_backup(tmp_path, "shop-20260101T000000Z")
    assert path.is_dir()
    assert not (tmp_path / "shop-20260101T000000Z.partial").exists()
    assert store.latest_name(str(tmp_path)) == "shop-20260101T000000Z"
    assert store.verify(str(path)) == []


def test_flipped_byte_is_named(tmp_path):
    path = make_backup(tmp_path, "shop-20260101T000000Z")
    target = path / "dump" / "3001.dat.gz"
    data = bytearray(target.read_bytes())
    data[10] ^= 0x01
    target.write_bytes(bytes(data))
    problems = store.verify(str(path))
    assert len(problems) == 1
    assert str(target) in problems[0]
    assert "sha256" in problems[0]


def test_missing_and_extra_files_are_named(tmp_path):
    path = make_backup(tmp_path, "shop-20260101T000000Z")
    os.unlink(path / "globals.sql")
    (path / "stray").write_text("x")
    problems = store.verify(str(path))
    assert any("globals.sql: missing" in p for p in problems)
    assert any("stray: not in the manifest" in p for p in problems)


def test_promote_refuses_a_corrupted_partial(tmp_path):
    partial = make_partial(tmp_path, "shop-20260101T000000Z")
    store.seal(str(tmp_path), "shop-20260101T000000Z", {})
    (partial / "globals.sql").write_bytes(b"CREATE ROLE y;")
    with pytest.raises(store.BackupStoreError, match=r"globals\.sql"):
        store.promote(str(tmp_path), "shop-20260101T000000Z")
    assert store.latest_name(str(tmp_path)) is None
    assert partial.is_dir()


def test_verify_without_manifest(tmp_path):
    (tmp_path / "b").mkdir()
    assert "never sealed" in store.verify(str(tmp_path / "b"))[0]


def _days(*specs):
    return [datetime.datetime(*spec, tzinfo=UTC) for spec in specs]


@pytest.mark.parametrize(
    ("times", "daily", "weekly", "monthly", "expected"),
    [
        # two a day for three days: the newest of each day
        (_days((2026, 3, 3, 12), (2026, 3, 3, 1), (2026, 3, 2, 12), (2026, 3, 2, 1), (2026, 3, 1, 12)), 3, 0, 0, {0, 2, 4}),
        (_days((2026, 3, 3, 12), (2026, 3, 2, 12), (2026, 3, 1, 12)), 1, 0, 0, {0}),
        # weekly: 2026-03-02 is a Monday; 03-01 belongs to the week before
        (_days((2026, 3, 3, 12), (2026, 3, 2, 12), (2026, 3, 1, 12), (2026, 2, 20, 1)), 1, 2, 0, {0, 2}),
        # monthly
        (_days((2026, 3, 3), (2026, 2, 27), (2026, 2, 1), (2026, 1, 15), (2025, 12, 1)), 0, 0, 3, {0, 1, 3}),
        ([], 7, 4, 6, set()),
        (_days((2026, 3, 3), (2026, 3, 2)), 0, 0, 0, set()),
    ],
)
def test_retention_keep(times, daily, weekly, monthly, expected):
    assert store.retention_keep(times, daily, weekly, monthly) == expected


def test_prune_never_deletes_latest_and_cleans_partials(tmp_path):
    for name in ("shop-20260101T000000Z", "shop-20260102T000000Z", "shop-20260103T000000Z"):
        make_backup(tmp_path, name)
    # mark an older backup as latest (e.g. the newest was promoted by hand elsewhere)
    store.set_latest(str(tmp_path), "shop-20260101T000000Z")
    make_partial(tmp_path, "shop-20260104T000000Z")
    make_partial(tmp_path, "shop-20260105T000000Z")
    plan = store.plan_prune(str(tmp_path), 0, 0, 0, current_partial="shop-20260105T000000Z")
    assert plan["backups"] == ["shop-20260102T000000Z"]
    assert plan["partials"] == ["shop-20260104T000000Z.partial"]
    assert sorted(plan["kept"]) == ["shop-20260101T000000Z", "shop-20260103T000000Z"]
    store.apply_prune(str(tmp_path), plan)
    assert sorted(os.listdir(tmp_path)) == ["latest", "shop-20260101T000000Z", "shop-20260103T000000Z", "shop-20260105T000000Z.partial"]


def test_lock_is_exclusive_and_stale_locks_are_taken_over(tmp_path):
    assert store.acquire_lock(str(tmp_path), "run-a", 60, now=1000.0) is True
    assert store.acquire_lock(str(tmp_path), "run-a", 60, now=1001.0) is False
    with pytest.raises(store.LockBusyError, match="run-a"):
        store.acquire_lock(str(tmp_path), "run-b", 60, now=1030.0)
    assert store.acquire_lock(str(tmp_path), "run-b", 60, now=1100.0) is True
    assert store.release_lock(str(tmp_path), "run-a") is False
    assert store.release_lock(str(tmp_path), "run-b") is True
    assert store.read_lock(str(tmp_path)) is None


def test_lock_of_a_dead_holder_is_taken_over_at_once(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        holder = {"pid": child.pid, "start": store._proc_stat(child.pid)[2], "name": "ansible-playbook"}
        assert store.holder_alive(holder)
        assert store.acquire_lock(str(tmp_path), "run-a", 86400, holder=holder) is True
        with pytest.raises(store.LockBusyError, match="still running"):
            store.acquire_lock(str(tmp_path), "run-b", 86400)
    finally:
        child.kill()
        child.wait()
    assert not store.holder_alive(holder)
    assert store.acquire_lock(str(tmp_path), "run-b", 86400) is True
    assert store.read_lock(str(tmp_path))["owner"] == "run-b"


def test_a_reused_pid_is_not_the_holder(tmp_path):
    me = store._proc_stat(os.getpid())
    assert not store.holder_alive({"pid": os.getpid(), "start": me[2] + 1})


def test_find_holder_takes_the_topmost_ansible_playbook_or_the_ssh_session(tmp_path):
    proc = tmp_path / "proc"

    def fake(pid, ppid, name, cmdline, start=100):
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "stat").write_text(f"{pid} ({name}) S {ppid} " + " ".join(["0"] * 17) + f" {start} 0 0\n")
        (proc / str(pid) / "cmdline").write_bytes(cmdline.replace(" ", "\0").encode())

    fake(10, 1, "bash", "bash")
    fake(20, 10, "ansible-playboo", "/venv/bin/python /venv/bin/ansible-playbook site.yml")
    fake(30, 20, "ansible-playboo", "/venv/bin/python /venv/bin/ansible-playbook site.yml")
    fake(40, 30, "sh", "/bin/sh -c python AnsiballZ_x.py")
    fake(50, 40, "python3", "python3 AnsiballZ_x.py")
    assert store.find_holder(50, proc=str(proc)) == {"pid": 20, "start": 100, "name": "ansible-playbook"}
    fake(60, 1, "sshd-session", "sshd-session: deploy@notty")
    fake(70, 60, "sh", "/bin/sh -c python3 AnsiballZ_x.py")
    fake(80, 70, "python3", "python3 AnsiballZ_x.py")
    assert store.find_holder(80, proc=str(proc)) == {"pid": 60, "start": 100, "name": "sshd-session"}
    fake(90, 1, "cron", "cron")
    fake(91, 90, "python3", "python3 x.py")
    assert store.find_holder(91, proc=str(proc)) is None


def test_seal_makes_the_backup_private_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        partial = make_partial(tmp_path, "shop-20260101T000000Z")
        os.chmod(partial / "dump", 0o777)
        store.seal(str(tmp_path), "shop-20260101T000000Z", {})
    finally:
        os.umask(old)
    for current, _dirs, files in os.walk(partial):
        assert stat.S_IMODE(os.stat(current).st_mode) == 0o700
        for name in files:
            assert stat.S_IMODE(os.stat(os.path.join(current, name)).st_mode) == 0o600, name


def test_discard_removes_the_partial_and_measures_it(tmp_path):
    make_partial(tmp_path, "shop-20260101T000000Z")
    info = store.discard(str(tmp_path), "shop-20260101T000000Z")
    assert info["removed"] and info["partial_bytes"] == 3 + 400 + len(b"CREATE ROLE x;") and info["free_bytes"] > 0
    assert store.list_partials(str(tmp_path)) == []
    assert store.discard(str(tmp_path), "shop-20260101T000000Z")["removed"] is False


def test_estimate_scales_the_latest_backup_by_the_growth(tmp_path):
    assert store.estimate_size(str(tmp_path), 1000) is None
    make_partial(tmp_path, "shop-20260101T000000Z")
    store.seal(str(tmp_path), "shop-20260101T000000Z", {"database_size_bytes": 1000})
    store.promote(str(tmp_path), "shop-20260101T000000Z")
    size = store.list_backups(str(tmp_path))[0]["manifest"]["size_bytes"]
    assert store.estimate_size(str(tmp_path), 2000) == size * 2
    assert store.estimate_size(str(tmp_path), 500) == size


def test_referenced_backups_are_never_pruned(tmp_path):
    db = tmp_path / "shop"
    db.mkdir()
    names = []
    for hour in (1, 2, 3):
        name = f"shop-20260101T0{hour}0000Z"
        make_backup(db, name)
        names.append(name)
    releases = tmp_path / "releases"
    for release, name in (("r1", names[0]), ("r2", names[1])):
        (releases / release).mkdir(parents=True)
        (releases / release / "backup.json").write_text(json.dumps({"name": name, "path": str(db / name)}))
    (releases / "r3").mkdir()
    (releases / "r3" / "backup.json").write_text(json.dumps({"name": "other-20260101T010000Z"}))
    assert store.referenced_backups([str(releases), str(tmp_path / "none")], str(db)) == names[:2]
    plan = store.plan_prune(str(db), 1, 0, 0, keep_names=store.referenced_backups([str(releases)], str(db)))
    assert plan["backups"] == []
    assert store.plan_prune(str(db), 1, 0, 0)["backups"] == names[:2][::-1]
    (releases / "r2" / "backup.json").write_text("{broken")
    with pytest.raises(store.BackupStoreError, match="no backup was deleted"):
        store.referenced_backups([str(releases)], str(db))


def test_takeover_names_the_one_lock_to_take_over(tmp_path):
    assert store.acquire_lock(str(tmp_path), "run-a", 86400, controller={"host": "ctl", "pid": 1, "start": 2}) is True
    assert store.read_lock(str(tmp_path))["controller"] == {"host": "ctl", "pid": 1, "start": 2}
    with pytest.raises(store.LockBusyError):
        store.acquire_lock(str(tmp_path), "run-b", 86400, takeover="run-x")
    assert store.acquire_lock(str(tmp_path), "run-b", 86400, takeover="run-a") is True
