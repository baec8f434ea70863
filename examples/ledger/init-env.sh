#!/usr/bin/env bash
# Make the ledger stack's secrets file (.env beside this script, or the path given) with random
# passwords when it is missing; leave an existing one alone.
set -euo pipefail
env_file=${1:-$(cd "$(dirname "$0")" && pwd)/.env}
if [ -s "$env_file" ]; then
  echo "$env_file exists: left as it is"
  exit 0
fi
secret() { python3 -c 'import secrets; print(secrets.token_hex(20))'; }
umask 077
tmp=$(mktemp "$env_file.XXXXXX")
{
  echo "# Secrets of the ledger stack, made by init-env.sh. Keep this file 0600."
  echo "LEDGER_DB_PASSWORD=$(secret)"
  echo "LEDGER_CACHE_PASSWORD=$(secret)"
} > "$tmp"
chmod 0600 "$tmp"
mv "$tmp" "$env_file"
echo "$env_file created"
