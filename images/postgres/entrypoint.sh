#!/bin/bash
# Initialise the cluster on first start, then run postgres in the foreground as the postgres user.
# Environment: POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE), POSTGRES_USER (default postgres),
# POSTGRES_DB (default: the user's name). Local socket connections use peer authentication; TCP
# uses scram-sha-256. Passwords go to psql on standard input, never on a command line.
set -euo pipefail
if [ "${1:-postgres}" != postgres ]; then exec "$@"; fi
if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then POSTGRES_PASSWORD=$(cat "$POSTGRES_PASSWORD_FILE"); fi
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql /backups 2>/dev/null || true
chmod 0700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  runuser -u postgres -- initdb -D "$PGDATA" --username=postgres --auth-local=peer \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  {
    echo "listen_addresses = '*'"
    echo "unix_socket_directories = '/run/postgresql'"
    echo "password_encryption = 'scram-sha-256'"
  } >> "$PGDATA/postgresql.conf"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  runuser -u postgres -- pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  quoted=${POSTGRES_PASSWORD:-}
  quoted=${quoted//\'/\'\'}
  {
    if [ "$user" != postgres ]; then
      echo "CREATE ROLE \"$user\" LOGIN;"
    fi
    if [ -n "${POSTGRES_PASSWORD:-}" ]; then
      echo "ALTER ROLE \"$user\" PASSWORD '$quoted';"
    fi
    if [ "$db" != postgres ]; then
      echo "CREATE DATABASE \"$db\" OWNER \"$user\";"
    fi
  } | runuser -u postgres -- psql -v ON_ERROR_STOP=1 -q -X -d postgres >/dev/null
  runuser -u postgres -- pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "postgres-entrypoint: initialised $PGDATA (user $user, database $db)"
fi
# exec (no runuser parent): postgres is PID 1 and gets docker stop's signal for a clean shutdown.
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA"
