#!/bin/sh
# Render the nginx config from the environment (UPSTREAM_HOST, UPSTREAM_PORT, RESOLVER), check it,
# then run nginx in the foreground.
set -eu
sed -e "s|@UPSTREAM_HOST@|${UPSTREAM_HOST}|g" -e "s|@UPSTREAM_PORT@|${UPSTREAM_PORT}|g" \
    -e "s|@RESOLVER@|${RESOLVER}|g" /etc/nginx/nginx.conf.template > /etc/nginx/nginx.conf
nginx -t -q
exec "$@"
