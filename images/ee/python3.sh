#!/bin/sh
# The Python of ansible-builder's scripts on a Debian base: /usr/bin/python3, except that Debian
# disables `python3 -m ensurepip` for the system Python; pip comes from the python3-pip package
# instead, so that call only checks it is there. (execution-environment.yml: python_path.)
if [ "${1:-}" = "-m" ] && [ "${2:-}" = "ensurepip" ]; then
  exec /usr/bin/python3 -m pip --version
fi
exec /usr/bin/python3 "$@"
