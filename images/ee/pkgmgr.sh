#!/bin/sh
# apt-get behind the package manager calls of ansible-builder's scripts, which speak dnf:
#   pkgmgr install [-y] [OPTIONS] PACKAGE...      pkgmgr clean all
# (execution-environment.yml sets it as options.package_manager_path on a Debian base.)
set -eu
command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
  install)
    packages=""
    for word in "$@"; do
      case "$word" in -*) ;; *) packages="$packages $word" ;; esac
    done
    [ -n "$packages" ] || exit 0
    apt-get update -qq
    # shellcheck disable=SC2086 # one word per package
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages
    ;;
  clean)
    apt-get clean
    rm -rf /var/lib/apt/lists/*
    ;;
  *)
    echo "pkgmgr: unsupported command '$command' (install, clean)" >&2
    exit 2
    ;;
esac
