"""The container_module action plugin: the command it runs on the host, how it reads docker's failures."""

from __future__ import annotations

import shlex

import pytest
from ansible_collections.opskit.webstack.plugins.action import container_module as cm

HOST = "app1"


def classify(rc, stdout="", stderr="", docker="docker", python="/usr/bin/python3"):
    return cm.classify_exec_failure(rc, stdout, stderr, docker=docker, container="web-redis-1", python=python, host=HOST)


def test_exec_command_plain():
    assert cm.build_exec_command("docker", "web-redis-1", "/usr/bin/python3") == "docker exec -i web-redis-1 /usr/bin/python3"


def test_exec_command_user_env_and_quoting():
    cmd = cm.build_exec_command("/usr/bin/podman", "my app", "/opt/py 3/bin/python", "app:app", {"B": "two words", "A": "x;rm -rf /"})
    assert shlex.split(cmd) == [
        "/usr/bin/podman", "exec", "-i", "--user", "app:app",
        "-e", "A=x;rm -rf /", "-e", "B=two words", "my app", "/opt/py 3/bin/python",
    ]


def test_argument_spec_matches_the_documentation():
    import yaml
    from ansible_collections.opskit.webstack.plugins.modules import container_module as doc

    options = yaml.safe_load(doc.DOCUMENTATION)["options"]
    assert set(options) == set(cm.ARGUMENT_SPEC)
    for name, spec in cm.ARGUMENT_SPEC.items():
        assert options[name]["type"] == spec["type"], name
        assert options[name].get("default") == spec.get("default"), name
        assert bool(options[name].get("required")) == bool(spec.get("required")), name


@pytest.mark.parametrize(
    ("rc", "stdout", "stderr", "expected"),
    [
        (1, "", "Error response from daemon: No such container: web-redis-1", "does not exist on the engine of app1"),
        (1, "", "Error response from daemon: Container 3f1c is not running", "is not running"),
        (1, "", "Error response from daemon: Container 3f1c is paused, unpause the container before exec", "is not running"),
        (
            1, "",
            "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: Get ...",
            "may not use the Docker engine",
        ),
        (1, "", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?", "does not answer"),
        (
            126,
            'OCI runtime exec failed: exec failed: unable to start container process: exec: "/usr/bin/python3": '
            "stat /usr/bin/python3: no such file or directory: unknown",
            "",
            "no Python at '/usr/bin/python3'",
        ),
        (
            126, "",
            'OCI runtime exec failed: exec failed: container_linux.go:380: starting container process caused: '
            'exec: "/usr/bin/python3": stat /usr/bin/python3: no such file or directory: unknown',
            "no Python at",
        ),
        (127, "", "/bin/sh: 1: docker: not found", "the container CLI 'docker' was not found on app1"),
    ],
)
def test_exec_failures_are_named(rc, stdout, stderr, expected):
    message = classify(rc, stdout, stderr)
    assert message is not None and expected in message


def test_a_module_result_is_not_a_docker_failure():
    # A module that failed answers with JSON: its own result, not an exec failure.
    assert classify(1, '{"failed": true, "msg": "no such file or directory"}', "") is None
    assert classify(0, '{"changed": false, "ping": "pong"}', "") is None


def test_unknown_failure_is_left_to_the_result_parser():
    assert classify(2, "", "something else entirely") is None
