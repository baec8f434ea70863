#!/bin/sh
# PING with the password from the environment (REDISCLI_AUTH), never on the command line.
if [ -n "${REDIS_PASSWORD:-}" ]; then REDISCLI_AUTH=$REDIS_PASSWORD; export REDISCLI_AUTH; fi
cli=$(command -v redis-cli || command -v valkey-cli)
[ "$("$cli" -h 127.0.0.1 ping 2>/dev/null)" = PONG ]
