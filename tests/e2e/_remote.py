"""Helpers of the remote end-to-end test (test_remote.py): Docker hosts reached over SSH.

Each host is a container of images/dockerhost (sshd and a dockerd of its own: Debian bookworm's
docker.io 20.10, or trixie's 26), started with the recipe of ../shared/MACHINE-NOTES.md (no
--privileged), its SSH port published on 127.0.0.1 (18270-18299). The stack's images reach its engine
with ``docker save | docker exec -i HOST docker load``; the example stack is copied to /srv/webstack.

The controller is this checkout's venv run with no docker at all: a PATH made of links to every
program but docker*, DOCKER_HOST pointing nowhere, a HOME of its own whose known_hosts holds the
hosts' keys (host key checking stays on, as ansible.cfg ships it), and an ssh-agent holding a key
made for the run. The inventory is laid out like inventories/prod: its group_vars (but the vault)
copied as they are, a vault.yml encrypted with a test password, a hosts.yml naming the
two hosts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
PROD = ROOT / "inventories" / "prod"
PREFIX = "opskit-e2e-remote"
# The images of the example stack (examples/webstack/compose.yml defaults) and the releases deployed.
# v3-unhealthy: a release whose rollout fails (its /health never turns healthy).
STACK_IMAGES = ["opskit/postgres:15", "opskit/redis:7", "opskit/nginx:bookworm", "opskit/webapp:v1", "opskit/webapp:v2",
                "opskit/webapp:v3-unhealthy"]
VAULT_PASSWORD = "opskit-e2e-remote-vault-password"
SECRETS = {"vault_webstack_db_password": "e2e-remote-db-0b6f41", "vault_webstack_redis_password": "e2e-remote-redis-5c2e9a"}
# Where inventories/prod puts the stack (group_vars/webstack/vars.yml).
PROJECT_DIR = "/srv/webstack"
BACKUP_DIR = "/var/backups/webstack"

RUN_FLAGS = [
    "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--security-opt", "systempaths=unconfined",
    "--device", "/dev/fuse", "--device-cgroup-rule", "a *:* rwm",
]


def sh(argv: list[str], *, timeout: int = 600, check: bool = True, input_bytes: bytes | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, timeout=timeout, check=check, capture_output=True, input=input_bytes, **kw)


def controller_is_ee() -> bool:
    """The execution environment is the controller unless OPSKIT_E2E_CONTROLLER=venv."""
    return os.environ.get("OPSKIT_E2E_CONTROLLER", "ee") != "venv"


def build_images() -> None:
    """images/remote.sh: the Docker hosts' images (opskit/dockerhost:bookworm and :trixie) and, with the
    execution environment as the controller, its image (images/ee/build.sh); seconds when up to date.
    OPSKIT_E2E_HOST_IMAGES=present uses the images as they are when they all exist."""
    wanted = [f"opskit/dockerhost:{suite}" for suite in ("bookworm", "trixie")]
    if controller_is_ee():
        wanted.append(os.environ.get("OPSKIT_E2E_EE_IMAGE", "opskit/webstack-ee:latest"))
    if os.environ.get("OPSKIT_E2E_HOST_IMAGES") == "present" and all(
        sh(["docker", "image", "inspect", image], check=False).returncode == 0 for image in wanted
    ):
        return
    argv = ["bash", str(ROOT / "images" / "remote.sh")] + ([] if controller_is_ee() else ["--no-ee"])
    run = subprocess.run(argv, capture_output=True, text=True, timeout=3600, check=False)
    print(run.stdout, end="")
    if run.returncode != 0:
        raise RuntimeError(f"images/remote.sh failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")


def ee_image() -> str | None:
    """The execution environment image to use as the controller (OPSKIT_E2E_EE_IMAGE, default
    opskit/webstack-ee:latest): it must exist unless OPSKIT_E2E_CONTROLLER=venv, which uses the venv."""
    if not controller_is_ee():
        return None
    image = os.environ.get("OPSKIT_E2E_EE_IMAGE", "opskit/webstack-ee:latest")
    if sh(["docker", "image", "inspect", image], check=False).returncode != 0:
        raise RuntimeError(f"the execution environment image {image} is missing (images/remote.sh, make ee)")
    return image


def save_images(images: list[str], archive: Path) -> None:
    """docker save of the images into one archive (layers shared by the images go once)."""
    sh(["docker", "save", "-o", str(archive), *images], timeout=1200)


@dataclass
class DockerHost:
    """One remote Docker host: a container with sshd and its own dockerd."""

    suite: str
    port: int
    name: str = field(init=False)
    volume: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = f"{PREFIX}-{self.suite}"
        self.volume = f"{self.name}-docker"

    @property
    def inventory_name(self) -> str:
        return f"{self.suite}-host"

    def remove(self) -> None:
        sh(["docker", "rm", "-f", "-v", self.name], check=False)
        sh(["docker", "volume", "rm", "-f", self.volume], check=False)

    def start(self, public_key: str) -> None:
        self.remove()
        sh(["docker", "run", "-d", "--name", self.name, "--hostname", self.name, *RUN_FLAGS,
            "-v", f"{self.volume}:/var/lib/docker", "-p", f"127.0.0.1:{self.port}:22",
            "-e", f"AUTHORIZED_KEY={public_key}", f"opskit/dockerhost:{self.suite}"])

    def exec(self, *argv: str, timeout: int = 600, input_bytes: bytes | None = None, check: bool = True) -> str:
        run = sh(["docker", "exec", "-i", self.name, *argv], timeout=timeout, input_bytes=input_bytes, check=False)
        if check and run.returncode != 0:
            raise RuntimeError(f"{self.name}: {' '.join(argv)} -> rc {run.returncode}: {run.stderr.decode(errors='replace')[-1500:]}")
        return run.stdout.decode(errors="replace")

    def engine(self, *argv: str, timeout: int = 300) -> str:
        """The docker CLI of the host's own engine."""
        return self.exec("docker", *argv, timeout=timeout)

    def wait_engine(self, timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        while True:
            run = sh(["docker", "exec", self.name, "docker", "version", "--format", "{{.Server.Version}}"], check=False, timeout=60)
            if run.returncode == 0:
                return run.stdout.decode().strip()
            if time.monotonic() > deadline:
                log = self.exec("tail", "-n", "30", "/var/log/dockerd.log", check=False)
                raise RuntimeError(f"{self.name}: dockerd did not answer in {timeout}s:\n{log}")
            time.sleep(2)

    def host_key(self) -> str:
        return self.exec("cat", "/etc/ssh/ssh_host_ed25519_key.pub").split()[:2]

    def load_images(self, archive: Path) -> None:
        """docker load of an archive made by save_images, inside the host's engine."""
        with archive.open("rb") as handle:
            load = subprocess.run(["docker", "exec", "-i", self.name, "docker", "load", "-q"], stdin=handle,
                                  capture_output=True, timeout=1800, check=False)
        if load.returncode:
            raise RuntimeError(f"{self.name}: docker load failed: {load.stderr.decode(errors='replace')[-1500:]}")

    def copy_stack(self) -> None:
        """The example stack's files (no .env, no state) to /srv/webstack, and a .env with the vault's secrets."""
        tar = subprocess.run(["tar", "-C", str(ROOT / "examples" / "webstack"), "--exclude=./.env", "--exclude=./.state",
                              "--exclude=__pycache__", "-cf", "-", "."], capture_output=True, check=True, timeout=120)
        self.exec("sh", "-c", f"mkdir -p {PROJECT_DIR} && tar -C {PROJECT_DIR} -xf -", input_bytes=tar.stdout)
        env = (f"POSTGRES_PASSWORD={SECRETS['vault_webstack_db_password']}\n"
               f"REDIS_PASSWORD={SECRETS['vault_webstack_redis_password']}\n")
        self.exec("sh", "-c", f"umask 077 && cat > {PROJECT_DIR}/.env", input_bytes=env.encode())

    def psql(self, query: str, database: str = "webstack") -> str:
        """psql inside the host's database container, as the stack's user over TCP (the socket is peer-only)."""
        return self.engine("exec", "-e", f"PGPASSWORD={SECRETS['vault_webstack_db_password']}", "webstack-db-1", "psql",
                           "-h", "127.0.0.1", "-U", "webstack", "-d", database, "-At", "-c", query).strip()

    def start_load(self, rate: float = 5, seconds: int = 900) -> None:
        """benchmarks/loadgen.py inside the host (through _hostload.py, which keeps each failed request's time and
        answer), on the proxy's 127.0.0.1:8080 (/health), in the background."""
        for source, name in ((ROOT / "benchmarks" / "loadgen.py", "loadgen.py"), (Path(__file__).with_name("_hostload.py"), "hostload.py")):
            self.exec("sh", "-c", f"mkdir -p /opt/load && cat > /opt/load/{name}", input_bytes=source.read_bytes())
        self.exec("rm", "-f", "/tmp/load.stop", "/tmp/load.json")
        sh(["docker", "exec", "-d", self.name, "python3", "/opt/load/hostload.py", "--url", "http://127.0.0.1:8080/health",
            "--rate", str(rate), "--duration", str(seconds), "--timeout", "15", "--stop-file", "/tmp/load.stop",
            "--out", "/tmp/load.json"])

    def logs(self, container: str, since: str = "30m") -> str:
        """The last lines of a container's log in the host's engine (stdout and stderr)."""
        run = sh(["docker", "exec", self.name, "sh", "-c", f"docker logs --timestamps --since {since} {container} 2>&1 | tail -n 400"],
                 check=False, timeout=120)
        return run.stdout.decode(errors="replace")

    def stop_load(self, timeout: float = 60) -> dict:
        """Stop the load and return its summary (benchmarks/loadgen.py's)."""
        self.exec("touch", "/tmp/load.stop")
        deadline = time.monotonic() + timeout
        while True:
            out = self.exec("cat", "/tmp/load.json", check=False)
            if out.strip():
                return json.loads(out)
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: the load generator wrote no summary in {timeout}s")
            time.sleep(1)

    def served_version(self) -> str:
        """The version /health answers through the host's proxy."""
        health = self.exec("python3", "-c", "import urllib.request; "
                           "print(urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=30).read().decode())")
        return json.loads(health)["version"]

    def container_ids(self, service: str) -> set[str]:
        out = self.engine("ps", "-q", "--no-trunc", "--filter", "label=com.docker.compose.project=webstack",
                          "--filter", f"label=com.docker.compose.service={service}")
        return set(out.split())

    def redis(self, *argv: str) -> str:
        return self.engine("exec", "-e", f"REDISCLI_AUTH={SECRETS['vault_webstack_redis_password']}", "webstack-redis-1",
                           "redis-cli", "--no-auth-warning", *argv).strip()


class Controller:
    """ansible-playbook as a user runs it, from a controller with no docker and an ssh-agent."""

    def __init__(self, workdir: Path, hosts: list[DockerHost]):
        self.workdir = workdir
        self.hosts = hosts
        self.home = workdir / "home"
        self.bin = workdir / "bin"
        self.inventory = workdir / "inventory"
        self.vault_file = workdir / "vault-password"
        self.agent_sock = workdir / "agent.sock"
        self.agent_pid: int | None = None
        # ssh's ControlPath must stay under 108 characters (a socket's path): a short directory of its own,
        # or multiplexing is silently off and every task pays a whole SSH handshake.
        self.control_dir = Path(tempfile.mkdtemp(prefix="oxr-", dir="/tmp"))
        self.timings: list[tuple[str, float]] = []
        # The execution environment as the controller (images/ee/build.sh), when built; else the venv.
        self.ee_image = ee_image()

    # --- set-up ---------------------------------------------------------------------------------
    def make_path(self) -> None:
        """Links to every program of the venv and of PATH but docker*: the controller has no docker."""
        self.bin.mkdir(parents=True, exist_ok=True)
        for directory in [str(VENV_BIN), *os.environ.get("PATH", "").split(os.pathsep)]:
            if not directory or not os.path.isdir(directory):
                continue
            for entry in os.scandir(directory):
                link = self.bin / entry.name
                if entry.name.startswith("docker") or link.exists() or link.is_symlink():
                    continue
                if entry.is_file() and os.access(entry.path, os.X_OK):
                    link.symlink_to(entry.path)

    def make_key_and_agent(self) -> str:
        ssh_dir = self.home / ".ssh"
        ssh_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = self.workdir / "id_ed25519"
        sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "opskit-e2e-remote", "-f", str(key)])
        out = sh(["ssh-agent", "-s", "-a", str(self.agent_sock)]).stdout.decode()
        for part in out.replace(";", "\n").splitlines():
            if part.strip().startswith("SSH_AGENT_PID="):
                self.agent_pid = int(part.strip().split("=", 1)[1])
        sh(["ssh-add", "-q", str(key)], env={**os.environ, "SSH_AUTH_SOCK": str(self.agent_sock)})
        key.unlink()  # from now on the key lives only in the agent
        return (self.workdir / "id_ed25519.pub").read_text().strip()

    def write_known_hosts(self) -> None:
        lines = [f"[127.0.0.1]:{host.port} {' '.join(host.host_key())}" for host in self.hosts]
        known = self.home / ".ssh" / "known_hosts"
        known.write_text("\n".join(lines) + "\n")
        known.chmod(0o600)

    def write_inventory(self, host_vars: dict[str, dict[str, str]] | None = None) -> None:
        """inventories/prod's group_vars as they are; hosts.yml (with host_vars: {suite: {name: value}}) and
        vault.yml of the test."""
        group = self.inventory / "group_vars" / "webstack"
        group.mkdir(parents=True, exist_ok=True)
        for shipped in sorted((PROD / "group_vars" / "webstack").glob("*.yml")):
            if shipped.name != "vault.yml":
                shutil.copy(shipped, group / shipped.name)
        hosts = ["---", "webstack:", "  hosts:"]
        for host in self.hosts:
            hosts += [f"    {host.inventory_name}:", "      ansible_host: 127.0.0.1", f"      ansible_port: {host.port}"]
            hosts += [f"      {name}: {json.dumps(value)}" for name, value in (host_vars or {}).get(host.suite, {}).items()]
        hosts += ["  vars:", "    ansible_user: deploy", "    ansible_become: true"]
        (self.inventory / "hosts.yml").write_text("\n".join(hosts) + "\n")
        self.vault_file.write_text(VAULT_PASSWORD + "\n")
        self.vault_file.chmod(0o600)
        plain = group / "vault.yml"
        plain.write_text("---\n" + "".join(f"{k}: {v}\n" for k, v in SECRETS.items()))
        sh([str(VENV_BIN / "ansible-vault"), "encrypt", "--vault-password-file", str(self.vault_file), str(plain)], env=self.env())

    def start(self) -> str:
        self.make_path()
        return self.make_key_and_agent()

    def stop(self) -> None:
        if self.agent_pid:
            sh(["kill", str(self.agent_pid)], check=False)
            self.agent_pid = None
        for sock in self.control_dir.glob("*"):  # the masters exit with their sockets gone (ControlPersist)
            sock.unlink(missing_ok=True)
        shutil.rmtree(self.control_dir, ignore_errors=True)

    # --- runs -----------------------------------------------------------------------------------
    def ee_command(self, argv: list[str]) -> list[str]:
        """argv inside the execution environment: the checkout and the run's directory mounted at their
        own paths, the host's loopback (the SSH ports), the agent's socket; no Docker socket."""
        env = self.env()
        flags = ["docker", "run", "--rm", "--network", "host", "--user", "0",
                 "-v", f"{ROOT}:{ROOT}", "-v", f"{self.workdir}:{self.workdir}", "-v", f"{self.control_dir}:{self.control_dir}",
                 "-w", str(ROOT)]
        for name in ("HOME", "SSH_AUTH_SOCK", "ANSIBLE_CONFIG", "ANSIBLE_SSH_COMMON_ARGS", "ANSIBLE_SSH_ARGS",
                     "ANSIBLE_SSH_CONTROL_PATH_DIR", "ANSIBLE_PIPELINING", "ANSIBLE_CALLBACKS_ENABLED", "ANSIBLE_FORCE_COLOR", "ANSIBLE_NOCOLOR", "PY_COLORS"):
            flags += ["-e", f"{name}={env[name]}"]
        return [*flags, "--entrypoint", "", self.ee_image, *argv]

    def ee_has_no_docker(self) -> bool:
        check = "! command -v docker && ! ls /var/run/docker.sock && ! python3 -c 'import docker'"
        run = sh(["docker", "run", "--rm", "--entrypoint", "", self.ee_image, "sh", "-c", check], check=False)
        return run.returncode == 0

    def env(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if k in ("LANG", "LC_ALL", "TERM", "TZ", "TMPDIR", "USER", "LOGNAME")}
        return {
            **keep,
            "PATH": str(self.bin),
            "HOME": str(self.home),
            "SSH_AUTH_SOCK": str(self.agent_sock),
            "DOCKER_HOST": "unix:///nonexistent/opskit-e2e-controller-has-no-docker.sock",
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            # ssh reads the home of the passwd entry, not $HOME: name the run's own files.
            "ANSIBLE_SSH_COMMON_ARGS": f"-F /dev/null -o UserKnownHostsFile={self.home / '.ssh' / 'known_hosts'}",
            # One SSH connection per host for the whole run (ControlPersist outlives each playbook), no
            # compression on loopback, and pipelining (ansible.cfg has it; said here too) as users run it.
            "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=300s",
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(self.control_dir),
            "ANSIBLE_PIPELINING": "True",
            # Each run's log ends with its slowest tasks (where the time of a step goes).
            "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
            "ANSIBLE_FORCE_COLOR": "false",
            "ANSIBLE_NOCOLOR": "1",
            "PY_COLORS": "0",
        }

    def playbook(self, name: str, *args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
        argv = ["ansible-playbook", str(ROOT / "playbooks" / name), "-i", str(self.inventory),
                "--vault-password-file", str(self.vault_file), *args]
        start = time.monotonic()
        if self.ee_image:
            run = subprocess.run(self.ee_command(argv), cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
        else:
            argv[0] = str(self.bin / "ansible-playbook")
            run = subprocess.run(argv, cwd=ROOT, env=self.env(), capture_output=True, text=True, timeout=timeout, check=False)
        self.timings.append((f"  {name}", time.monotonic() - start))
        (self.workdir / f"{len(self.timings):02d}-{name}.log").write_text(run.stdout + "\n--- stderr ---\n" + run.stderr)
        return run


def failure_text(run: subprocess.CompletedProcess) -> str:
    """The end of a failed run: the failed tasks first, then the tail."""
    lines = run.stdout.splitlines()
    failed = [i for i, line in enumerate(lines) if line.startswith(("fatal:", "failed:")) or "[ERROR]" in line]
    picked = []
    for i in failed[:4]:
        picked += [*lines[max(0, i - 3): i + 25], "..."]
    return "\n".join(picked + lines[-40:]) + "\n--- stderr ---\n" + run.stderr[-2000:]
