#!/bin/sh
# Write REDIS_PASSWORD (when set) as requirepass into the config file, then run the server as the
# server's user (REDIS_SERVER_USER: redis, or valkey in the Valkey image) in the foreground.
set -eu
conf=/etc/redis/redis.conf
user=${REDIS_SERVER_USER:-redis}
if [ "${1:-}" = redis-server ] && [ -n "${REDIS_PASSWORD:-}" ]; then
  escaped=$(printf '%s' "$REDIS_PASSWORD" | sed 's/[\\"]/\\&/g')
  tmp=$(mktemp /etc/redis/.redis.conf.XXXXXX)
  grep -v '^requirepass ' "$conf" > "$tmp" || true
  printf 'requirepass "%s"\n' "$escaped" >> "$tmp"
  cat "$tmp" > "$conf"
  rm -f "$tmp"
fi
chown "$user:$user" /data /etc/redis "$conf"
if [ "${1:-}" = redis-server ]; then exec setpriv --reuid="$user" --regid="$user" --init-groups "$@"; fi
exec "$@"
