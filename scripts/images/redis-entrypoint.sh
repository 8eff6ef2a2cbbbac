#!/bin/sh
# Entrypoint of the locally built docker.io/library/redis:7.4.11-alpine image
# (scripts/images/redis.sh), written for Storefleet after the official image's
# behaviour: arguments that start with '-' (or a *.conf file) are options for
# redis-server; without a config file protected mode is off (the container's network is
# the boundary, as upstream); started as root it drops to the redis user (uid 999,
# gid 1000); redis-server is exec'd as PID 1. Any other command (sh, redis-cli) runs as
# given.
set -eu

case "${1:-}" in
  '' | -* | *.conf) set -- redis-server "$@" ;;
esac

if [ "$1" = redis-server ]; then
  shift
  case "${1:-}" in
    *.conf) ;;                                    # the config file decides
    *) set -- --protected-mode no "$@" ;;         # later options may override it
  esac
  set -- redis-server "$@"
  if [ "$(id -u)" = 0 ]; then
    chown -R redis:redis /data 2>/dev/null || true
    exec setpriv --reuid=redis --regid=redis --init-groups "$@"
  fi
fi
exec "$@"
