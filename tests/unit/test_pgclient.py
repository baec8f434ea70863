"""Unit tests of plugins/module_utils/_pgclient.py: the wrapper run for real with sh (host mode)."""

from __future__ import annotations

import hashlib
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


def test_a_streamed_input_reaches_the_tool_whole_and_the_switch_still_works(tmp_path):
    """input_path: a file of several MiB goes to the tool through a FIFO (no copy), then the switch stays armed."""
    work = tmp_path / "tmp"
    work.mkdir()
    source = tmp_path / "dump.bin"
    source.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    stream = client.InputStream(str(source))
    tool = ["sh", "-c", "sha256sum | cut -c1-64; ls \"$TMPDIR\"/.opskit-pg.*"]
    argv, env = client.build_command("host", tool, {"TMPDIR": str(work), "OPSKIT_STREAM_IN": "1"})
    run = client.Run(argv, env, client.build_input("", length=stream.length), input_stream=stream, timeout=60)
    run.start()
    rc, out, err, stopped = run.wait()
    assert (rc, stopped) == (0, None), err
    lines = out.decode().split()
    assert lines[0] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert lines[1:] == ["in"]  # the FIFO, not a copy of the input
    assert os.listdir(work) == []


def test_a_directory_is_streamed_as_a_tar_of_the_announced_size(tmp_path):
    src = tmp_path / "dump"
    (src / "sub").mkdir(parents=True)
    (src / "toc.dat").write_bytes(b"x" * 1000)
    (src / "sub" / ("n" * 120 + ".dat.gz")).write_bytes(os.urandom(70000))
    (src / "empty").write_bytes(b"")
    stream = client.InputStream(str(src))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    tool = ["sh", "-c", 'tee "$0/../raw.tar" | tar -x -C "$0"', str(out_dir)]
    argv, env = client.build_command("host", tool, {"TMPDIR": str(tmp_path), "OPSKIT_STREAM_IN": "1"})
    run = client.Run(argv, env, client.build_input("", length=stream.length), input_stream=stream, timeout=60)
    run.start()
    rc, _out, err, _stopped = run.wait()
    assert rc == 0, err
    assert (tmp_path / "raw.tar").stat().st_size == stream.length
    for path in src.rglob("*"):
        twin = out_dir / path.relative_to(src)
        assert twin.exists() and (path.is_dir() or twin.read_bytes() == path.read_bytes())


def test_the_output_goes_to_a_file(tmp_path):
    argv, env = client.build_command("host", ["sh", "-c", "head -c 200000 /dev/zero; echo done >&2"], {"TMPDIR": str(tmp_path)})
    target = tmp_path / "out.bin"
    with open(target, "wb") as sink:
        run = client.Run(argv, env, client.build_input(""), output=sink, timeout=60)
        run.start()
        rc, out, err, _stopped = run.wait()
    assert (rc, out, err) == (0, b"", b"done\n")
    assert target.stat().st_size == 200000


def test_the_password_can_come_from_a_variable_where_the_tool_runs(tmp_path):
    argv, env = client.build_command("host", ["sh", "-c", 'cat "$PGPASSFILE"; echo "[${OPSKIT_PASSWORD_ENV:-}]"'],
                                     {"TMPDIR": str(tmp_path), "PGUSER": "app", "OPSKIT_PASSWORD_ENV": "DB_PW"})
    env["DB_PW"] = "se:c\\ret"
    run = client.Run(argv, env, client.build_input(""), timeout=30)
    run.start()
    rc, out, err, _stopped = run.wait()
    assert rc == 0, err
    assert out.decode() == "*:*:*:app:se\\:c\\\\ret\n[]\n"
    env["DB_PW"] = ""
    run = client.Run(argv, env, client.build_input(""), timeout=30)
    run.start()
    rc, _out, err, _stopped = run.wait()
    assert rc == 125 and b"DB_PW is empty" in err


def test_client_container_command():
    argv, env = client.build_command("client_container", ["pg_dump", "db"], {"PGHOST": "db.example.org"}, image="postgres:15",
                                     mounts=["/srv/b"], run_user="1000:1000", name="n1")
    assert env is None
    assert argv[:4] == ["docker", "run", "--rm", "-i"]
    assert argv[argv.index("--network") + 1] == "host" and argv[argv.index("--user") + 1] == "1000:1000"
    assert "type=bind,source=/srv/b,target=/srv/b" in argv
    image_at = argv.index("postgres:15")
    assert argv[image_at - 2:image_at] == ["-e", "PGHOST=db.example.org"]
    assert argv[image_at + 1] == "-c" and argv[-2:] == ["pg_dump", "db"]
    with pytest.raises(client.ClientError):
        client.build_command("client_container", ["psql"], {}, image="")
    with pytest.raises(client.ClientError):
        client.build_command("client_container", ["psql"], {}, image="p:1", mounts=["/a:b"])


@pytest.mark.parametrize(
    ("tags", "major", "image"),
    [
        (["15", "17"], 15, "postgres:15"),
        (["17", "15"], 16, "postgres:17"),
        (["17-bookworm", "17", "17.2"], 17, "postgres:17"),
        (["16-alpine", "latest"], 14, "postgres:16-alpine"),
        (["15", "latest"], 17, None),
        ([], 15, None),
    ],
)
def test_pick_client_image(tags, major, image):
    assert client.pick_client_image("postgres", tags, major) == image


def test_highest_client_image():
    assert client.highest_client_image("opskit/postgres", ["15", "17", "latest", "9.6"]) == "opskit/postgres:17"
    assert client.highest_client_image("x", ["latest"]) is None
