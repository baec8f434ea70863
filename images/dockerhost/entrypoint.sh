#!/bin/bash
# Start a Docker host inside a container: host keys of its own, its own dockerd, then sshd.
# Run with (no --privileged, which this machine's engine refuses):
#   docker run -d --cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined
#     --security-opt apparmor=unconfined --security-opt systempaths=unconfined --device /dev/fuse
#     --device-cgroup-rule 'a *:* rwm' -v VOLUME:/var/lib/docker -p 127.0.0.1:PORT:22 IMAGE
# The deploy user's key: AUTHORIZED_KEY (environment) or /home/deploy/.ssh/authorized_keys.
set -eu
ssh-keygen -A >/dev/null
if [ -n "${AUTHORIZED_KEY:-}" ]; then
  printf '%s\n' "$AUTHORIZED_KEY" > /home/deploy/.ssh/authorized_keys
  chown deploy:deploy /home/deploy/.ssh/authorized_keys && chmod 0600 /home/deploy/.ssh/authorized_keys
fi

# cgroup v1 controllers mounted read-write for the inner engine; on a cgroup v2 host, nothing to do.
mount -o remount,rw /sys 2>/dev/null || true
if [ "$(stat -fc %T /sys/fs/cgroup)" = tmpfs ]; then
  mount -o remount,rw /sys/fs/cgroup 2>/dev/null || true
  for c in blkio cpu cpuacct cpuset devices freezer memory pids; do
    [ -d "/sys/fs/cgroup/$c" ] || continue
    umount "/sys/fs/cgroup/$c" 2>/dev/null || true
    mkdir -p "/sys/fs/cgroup/$c"
    mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c" 2>/dev/null || true
  done
  if [ -d /sys/fs/cgroup/systemd ]; then
    umount /sys/fs/cgroup/systemd 2>/dev/null || true
    mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd 2>/dev/null || true
  fi
fi

# A cgroup parent of its own, so that two such hosts on one machine do not share one.
printf '{"cgroup-parent": "/opskit-%s", "storage-driver": "overlay2"}\n' "$(hostname)" > /etc/docker/daemon.json
dockerd > /var/log/dockerd.log 2>&1 &
exec /usr/sbin/sshd -D -e
