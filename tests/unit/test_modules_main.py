"""The modules' main() through ansible-core's own argument patching: results, check mode, failures."""

from __future__ import annotations

import json
import socket

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.opskit.webstack.plugins.modules import alembic, alembic_info, health_check
from test_alembic_utils import R1, R2, R3_BAD, make_project, version_rows
from test_health_utils import http_server  # noqa: F401 pylint: disable=unused-import


def run(module, args, capsys):
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        module.main()
    out = json.loads(capsys.readouterr().out)
    out["rc"] = exit_info.value.code
    return out


def test_alembic_check_mode_then_run_then_idempotent(tmp_path, capsys):
    ini, url = make_project(tmp_path, R1, R2)
    args = {"config_file": str(ini), "database_url": url, "_ansible_diff": True}
    check = run(alembic, {**args, "_ansible_check_mode": True}, capsys)
    assert check["changed"] is True and [p["revision"] for p in check["pending"]] == ["r1_initial", "r2_more"]
    assert version_rows(url) == []
    done = run(alembic, args, capsys)
    assert done["changed"] is True and done["revision_after"] == "r2_more"
    assert done["diff"] == {"before": "revision: base\n", "after": "revision: r2_more\n"}
    again = run(alembic, args, capsys)
    assert again["changed"] is False and again["rc"] == 0


def test_alembic_failure_result(tmp_path, capsys):
    ini, url = make_project(tmp_path, R1, R2, R3_BAD)
    out = run(alembic, {"config_file": str(ini), "database_url": url}, capsys)
    assert out["rc"] == 1 and out["failed"] is True
    assert out["failure_kind"] == "migration_failed" and out["failed_revision"] == "r3_broken"
    assert out["revision_after"] == "r2_more" and out["changed"] is True
    assert out["msg"].startswith("Failed to upgrade: the upgrade of revision r3_broken failed")


def test_alembic_downgrade_needs_revision(tmp_path, capsys):
    ini, url = make_project(tmp_path, R1)
    out = run(alembic, {"config_file": str(ini), "database_url": url, "command": "downgrade"}, capsys)
    assert out["failed"] and "revision" in out["msg"]


def test_alembic_hides_the_url_password(tmp_path, capsys):
    ini, _unused = make_project(tmp_path, R1)
    out = run(alembic, {"config_file": str(ini), "database_url": "postgresql://u:Sup3rS3cret@127.0.0.1:1/x",
                        "connect_timeout": 2}, capsys)
    assert out["failure_kind"] == "unreachable"
    assert "Sup3rS3cret" not in json.dumps(out)


def test_alembic_info_module(tmp_path, capsys):
    ini, url = make_project(tmp_path, R1, R2)
    out = run(alembic_info, {"config_file": str(ini), "database_url": url}, capsys)
    assert out["changed"] is False and out["current"] == [] and out["revision"] is None
    assert [p["revision"] for p in out["pending"]] == ["r1_initial", "r2_more"]
    assert version_rows(url) == []


def test_health_check_module_passes_in_check_mode(http_server, capsys):  # noqa: F811
    out = run(health_check, {"_ansible_check_mode": True, "checks": [
        {"type": "http", "url": http_server + "/health", "json_path": "status", "json_value": "healthy"}]}, capsys)
    assert out["rc"] == 0 and out["changed"] is False and out["failed_checks"] == []
    assert out["checks"][0]["ok"] and out["checks"][0]["name"].startswith("http http://127.0.0.1:")


def test_health_check_module_fails_naming_the_check(http_server, capsys):  # noqa: F811
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    out = run(health_check, {"checks": [
        {"name": "ok", "type": "http", "url": http_server + "/health"},
        {"name": "down", "type": "tcp", "port": port},
        {"name": "cache", "type": "redis", "port": port, "password": "hunter2hunter2"}]}, capsys)
    assert out["failed"] is True and out["failed_checks"] == ["down", "cache"]
    assert out["msg"].startswith("2 of 3 health checks failed: down: connection refused")
    assert "hunter2hunter2" not in json.dumps(out)


@pytest.mark.parametrize("check, problem", [
    ({"type": "http"}, "an http check needs url"),
    ({"type": "tcp"}, "a tcp check needs port"),
    ({"type": "http", "url": "ftp://x/"}, "url must start with http:// or https://"),
    ({"type": "http", "url": "http://x/", "body_pattern": "("}, "body_pattern is not a regular expression"),
    ({"type": "http", "url": "http://x/", "json_value": 1}, "json_value needs json_path"),
])
def test_health_check_module_validates(check, problem, capsys):
    out = run(health_check, {"checks": [check]}, capsys)
    assert out["failed"] and out["msg"].startswith("Invalid health checks: ") and problem in out["msg"]


def test_health_check_module_rejects_unknown_type(capsys):
    out = run(health_check, {"checks": [{"type": "smtp"}]}, capsys)
    assert out["failed"] and "smtp" in out["msg"]
