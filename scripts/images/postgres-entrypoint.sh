#!/bin/sh
# Entrypoint of the locally built docker.io/library/postgres:15.19-alpine image
# (scripts/images/postgres.sh), written for Storefleet. It keeps the documented
# contract of the official image that charts/medusa relies on:
#   - arguments starting with '-' are options for postgres (`-c shared_buffers=64MB`);
#     any other command (sh, psql, ...) is run as given;
#   - POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_USER
#     (default postgres), POSTGRES_DB (default $POSTGRES_USER), PGDATA (default
#     /var/lib/postgresql/data), POSTGRES_INITDB_ARGS; *_FILE variants of the first three;
#   - an empty PGDATA is initialised once: initdb with POSTGRES_USER as superuser and its
#     password (scram-sha-256), password login from any host, POSTGRES_DB created,
#     /docker-entrypoint-initdb.d/*.sh|*.sql run; later starts skip all of that;
#   - started as root it prepares the directories and drops to uid/gid 70 (postgres);
#   - postgres is exec'd as the container's PID 1 (signals reach it directly) and listens
#     on 0.0.0.0 and the socket directory /var/run/postgresql.
set -eu

log() { echo "entrypoint: $*" >&2; }

# VAR_FILE=path sets VAR from that file (secrets mounted as files).
file_env() {
  eval "_file=\${${1}_FILE:-}"
  if [ -n "$_file" ]; then
    eval "_set=\${$1+x}"
    [ -z "$_set" ] || { log "both $1 and ${1}_FILE are set"; exit 1; }
    _val=$(cat "$_file")
    export "$1=$_val"
  fi
}

case "${1:-}" in
  '' | -*) set -- postgres "$@" ;;
esac
[ "$1" = postgres ] || exec "$@"

export PGDATA="${PGDATA:-/var/lib/postgresql/data}"

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  chmod 3775 /var/run/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

mkdir -p "$PGDATA"
chmod 700 "$PGDATA" 2>/dev/null || true
mkdir -p /var/run/postgresql 2>/dev/null || true
chmod 3775 /var/run/postgresql 2>/dev/null || true

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  file_env POSTGRES_USER
  file_env POSTGRES_PASSWORD
  file_env POSTGRES_DB
  user=${POSTGRES_USER:-postgres}
  db=${POSTGRES_DB:-$user}
  auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
    log "error: PGDATA $PGDATA is empty and POSTGRES_PASSWORD is not set"
    log "  (set POSTGRES_PASSWORD, or POSTGRES_HOST_AUTH_METHOD=trust to allow logins without one)"
    exit 1
  fi
  if [ -n "$(ls -A "$PGDATA" 2>/dev/null)" ]; then
    log "error: PGDATA $PGDATA has no PG_VERSION but is not empty; refusing to initialise it"
    exit 1
  fi

  log "initialising $PGDATA (superuser $user, database $db)"
  # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of options
  if [ -n "${POSTGRES_PASSWORD:-}" ]; then
    printf '%s\n' "$POSTGRES_PASSWORD" |
      initdb --username="$user" --pwfile=/dev/stdin --auth-local=trust --auth-host="$auth" \
        ${POSTGRES_INITDB_ARGS:-} >&2
  else
    initdb --username="$user" --auth-local=trust --auth-host="$auth" ${POSTGRES_INITDB_ARGS:-} >&2
  fi
  printf '\n# storefleet entrypoint: password logins from anywhere\nhost all all all %s\n' \
    "$auth" >>"$PGDATA/pg_hba.conf"

  # Unix socket only while initialising: nothing can connect over TCP half-way.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w -t 60 start >&2
  export PGUSER="$user" PGDATABASE=postgres
  if [ "$db" != postgres ]; then
    psql -v ON_ERROR_STOP=1 -q --no-password --set db="$db" <<'SQL'
CREATE DATABASE :"db";
SQL
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh)
        log "running $f"
        # shellcheck source=/dev/null
        . "$f" ;;
      *.sql) log "running $f"; psql -v ON_ERROR_STOP=1 -q --no-password --dbname "$db" -f "$f" ;;
      */\*) ;;
      *) log "ignoring $f" ;;
    esac
  done
  unset PGUSER PGDATABASE
  pg_ctl -D "$PGDATA" -m fast -w stop >&2
  log "initialisation done"
fi

exec "$@"
