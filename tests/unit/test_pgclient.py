"""Unit tests of plugins/module_utils/_pgclient.py: the wrapper run for real with sh (host mode)."""

from __future__ import annotations

import os
import time

import pytest
from ansible_collections.opskit.webstack.plugins.module_utils import _pgclient as client


@pytest.mark.parametrize(
    ("user", "password", "line"),
    [("u", "p", "*:*:*:u:p"), ("a:b", "x\\y:z", "*:*:*:a\\:b:x\\\\y\\:z"), ("", "p", "*:*:*:*:p")],
)
def test_pgpass_line_escapes(user, password, line):
    assert client.pgpass_line(user, password) == line


@pytest.mark.parametrize("password", ["a\nb", "a\rb", "a\0b"])
def test_pgpass_line_refuses_line_breaks(password):
    with pytest.raises(client.ClientError):
        client.pgpass_line("u", password)


def test_container_command_keeps_the_password_off_the_command_line():
    argv, env = client.build_command("container", ["pg_dump", "db"], {"PGUSER": "u"}, "c1", "postgres")
    assert argv[:7] == ["docker", "exec", "-i", "-u", "postgres", "-e", "PGUSER=u"]
    assert argv[7] == "c1" and argv[-2:] == ["pg_dump", "db"] and env is None
    data = client.build_input(client.pgpass_line("u", "s3cret"), "")
    assert "s3cret" not in " ".join(argv) and b"s3cret" in data


def run_host(tool, tmp_path, password="", stdin="", **kwargs):
    argv, env = client.build_command("host", tool, {"TMPDIR": str(tmp_path), "PGUSER": "u"})
    run = client.Run(argv, env, client.build_input(client.pgpass_line("u", password) if password else "", stdin), **kwargs)
    run.start()
    return run


def test_the_tool_reads_its_password_file_and_input_and_the_file_goes_away(tmp_path):
    tool = ["sh", "-c", 'cat "$PGPASSFILE"; stat -c %a "$PGPASSFILE"; cat; echo " $PGUSER"; exit 3']
    rc, out, err, stopped = run_host(tool, tmp_path, password="pa:ss", stdin="input").wait()
    assert (rc, stopped) == (3, None), err
    assert out.decode() == "*:*:*:u:pa\\:ss\n600\ninput u\n"
    assert os.listdir(tmp_path) == []


def test_no_password_means_no_file(tmp_path):
    rc, out, _err, _stopped = run_host(["sh", "-c", 'echo "[${PGPASSFILE:-}]"'], tmp_path).wait()
    assert rc == 0 and out == b"[]\n"


def test_a_closed_input_stops_the_tool_and_cleans_up(tmp_path):
    """The dead man's switch: the caller goes away (here: stop()), the tool is ended within seconds."""
    run = run_host(["sleep", "60"], tmp_path, password="x")
    time.sleep(0.5)
    assert len(os.listdir(tmp_path)) == 1
    began = time.monotonic()
    run.stop("test")
    rc, _out, _err, stopped = run.wait()
    assert time.monotonic() - began < 15
    assert rc != 0 and stopped == "test"
    assert os.listdir(tmp_path) == []


def test_timeout_and_a_dead_run_stop_the_tool(tmp_path):
    rc, _out, _err, stopped = run_host(["sleep", "60"], tmp_path, timeout=1).wait()
    assert rc != 0 and stopped.startswith("timeout")
    rc, _out, _err, stopped = run_host(["sleep", "60"], tmp_path, alive=lambda: False).wait()
    assert rc != 0 and "gone" in stopped
    assert os.listdir(tmp_path) == []


def test_a_tool_that_ends_at_once_never_leaves_the_wrapper_waiting(tmp_path):
    """Regression: the watcher was ended with SIGTERM, which a just-forked subshell could lose (hang)."""
    for _attempt in range(50):
        run = run_host(["true"], tmp_path, password="x", timeout=20)
        rc, _out, err, stopped = run.wait()
        assert (rc, stopped) == (0, None), err
    assert os.listdir(tmp_path) == []
