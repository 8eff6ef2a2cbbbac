#!/bin/bash
# Entrypoint of the storefleet mariadb image (scripts/images/mariadb.sh), written for
# Storefleet. It keeps the documented environment contract of the official `mariadb`
# image that charts/woocommerce uses:
#
#   MARIADB_ROOT_PASSWORD / MARIADB_ALLOW_EMPTY_ROOT_PASSWORD / MARIADB_RANDOM_ROOT_PASSWORD
#   (one is required on first start), MARIADB_ROOT_HOST (default %), MARIADB_DATABASE,
#   MARIADB_USER + MARIADB_PASSWORD (user@'%' with all privileges on MARIADB_DATABASE),
#   MARIADB_AUTO_UPGRADE (upgrade the system tables when the datadir was written by
#   another server version), MARIADB_INITDB_SKIP_TZINFO (accepted; time zone tables are
#   not loaded by this image). Each also as MYSQL_*, and as NAME_FILE (value in a file).
#   Scripts in /docker-entrypoint-initdb.d (*.sql, *.sql.gz, *.sh) run on first start.
#
# First start (no mysql/ in the datadir): mariadb-install-db, then a temporary server
# without networking applies the settings and creates healthcheck@localhost for
# healthcheck.sh (credentials in DATADIR/.my-healthcheck.cnf). Later starts skip that.
# DATADIR/.storefleet-initializing marks an initialisation in progress (healthcheck.sh
# fails meanwhile); found at start, the earlier one was killed and is started over.
# Runs as the mysql user (uid/gid 999), directly or, started as root, after taking
# ownership of the datadir and dropping to it. Arguments starting with "-" go to
# mariadbd, which is exec'd as this process (PID 1).
set -Eeuo pipefail

log() { printf '%s [Note] [Entrypoint]: %s\n' "$(date -u '+%F %T')" "$*" >&2; }
die() { printf '%s [ERROR] [Entrypoint]: %s\n' "$(date -u '+%F %T')" "$*" >&2; exit 1; }

# env_value NAME: MARIADB_NAME, else MYSQL_NAME, each directly or through NAME_FILE.
env_value() {
  local n v f
  for n in "MARIADB_$1" "MYSQL_$1"; do
    f="${n}_FILE"
    if [[ -n ${!f:-} ]]; then
      [[ -r ${!f} ]] || die "$f=${!f} is not readable"
      v=$(<"${!f}"); printf '%s' "$v"; return 0
    fi
    if [[ -n ${!n+x} ]]; then printf '%s' "${!n}"; return 0; fi
  done
  return 0
}

# sql_str VALUE: VALUE as a single-quoted SQL string literal.
sql_str() { local s=${1//\\/\\\\}; s=${s//\'/\\\'}; printf "'%s'" "$s"; }
sql_ident() { local s=${1//\`/\`\`}; printf '`%s`' "$s"; }

if [[ ${1:-} == -* ]]; then set -- mariadbd "$@"; fi

if [[ ${1:-} != mariadbd && ${1:-} != mysqld ]]; then exec "$@"; fi
for a in "$@"; do
  case $a in --help|--verbose|--version|-V|-?) exec "$@" ;; esac
done

# The effective datadir and socket after config files and arguments.
# (rows of the variables table start in column 0; wrapped help text is indented)
SETTINGS=$("$@" --verbose --help 2>/dev/null | awk '/^(datadir|socket) / { v[$1] = $2 } END { print v["datadir"], v["socket"] }')
read -r DATADIR SOCKET <<<"$SETTINGS"
DATADIR=${DATADIR%/}
[[ -n $DATADIR && -n $SOCKET ]] || die "could not read datadir/socket from '$* --verbose --help'"

if [[ $(id -u) -eq 0 ]]; then
  mkdir -p "$DATADIR" "$(dirname "$SOCKET")"
  find "$DATADIR" "$(dirname "$SOCKET")" \! -user mysql -exec chown mysql:mysql '{}' +
  exec setpriv --reuid=mysql --regid=mysql --init-groups -- "$0" "$@"
fi

[[ -w $DATADIR ]] || die "datadir $DATADIR is not writable by uid $(id -u) (volume owner/fsGroup?)"
[[ -w $(dirname "$SOCKET") ]] || die "socket directory $(dirname "$SOCKET") is not writable by uid $(id -u)"

TEMP_PID=""
INIT_MARKER=.storefleet-initializing
temp_server_start() {
  "$@" --skip-networking --socket="$SOCKET" --loose-wsrep_on=OFF --skip-slave-start \
    --loose-innodb_buffer_pool_dump_at_shutdown=0 &
  TEMP_PID=$!
  for _ in $(seq 1 60); do
    if mariadb-admin --protocol=socket --socket="$SOCKET" -uroot --connect-timeout=1 status >/dev/null 2>&1; then
      return 0
    fi
    kill -0 "$TEMP_PID" 2>/dev/null || die "temporary server exited during start (see its log above)"
    sleep 1
  done
  die "temporary server did not answer within 60 s"
}
temp_server_stop() {
  kill -TERM "$TEMP_PID"
  wait "$TEMP_PID" || die "temporary server did not shut down cleanly"
  TEMP_PID=""
}
temp_sql() { mariadb --protocol=socket --socket="$SOCKET" -uroot --binary-mode --batch; }

init_datadir() {
  local root_pw root_host db user pw hc_pw allow_empty random_root
  root_pw=$(env_value ROOT_PASSWORD)
  allow_empty=$(env_value ALLOW_EMPTY_ROOT_PASSWORD)
  random_root=$(env_value RANDOM_ROOT_PASSWORD)
  root_host=$(env_value ROOT_HOST); root_host=${root_host:-%}
  db=$(env_value DATABASE)
  user=$(env_value USER)
  pw=$(env_value PASSWORD)
  if [[ -z $root_pw && -z $allow_empty && -z $random_root ]]; then
    die "database is uninitialized and no root password option is set: set MARIADB_ROOT_PASSWORD, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD or MARIADB_RANDOM_ROOT_PASSWORD"
  fi
  if [[ -n $random_root ]]; then
    root_pw=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
    log "GENERATED ROOT PASSWORD: $root_pw"
  fi
  [[ $user != root ]] || die "MARIADB_USER=root: the root user is configured by MARIADB_ROOT_PASSWORD"
  if [[ -n $user && -z $pw ]]; then die "MARIADB_USER is set but MARIADB_PASSWORD is empty"; fi

  log "initializing database files in $DATADIR"
  # healthcheck.sh fails while this marker exists; removed when initialisation is done
  : >"$DATADIR/$INIT_MARKER"
  mariadb-install-db --datadir="$DATADIR" --auth-root-authentication-method=normal \
    --skip-test-db --skip-name-resolve >/dev/null ||
    die "mariadb-install-db failed"

  log "starting a temporary server (no networking)"
  temp_server_start "$@"

  hc_pw=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
  {
    echo "SET @@SESSION.SQL_LOG_BIN=0;"
    # only root, the system accounts and ours remain
    echo "DELETE FROM mysql.global_priv WHERE user = '' OR (user NOT IN ('root', 'mariadb.sys', 'healthcheck') );"
    echo "DELETE FROM mysql.global_priv WHERE user = 'root' AND host <> 'localhost';"
    echo "DELETE FROM mysql.proxies_priv WHERE host <> 'localhost';"
    echo "FLUSH PRIVILEGES;"
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $(sql_str "$root_pw");"
    if [[ $root_host != localhost ]]; then
      echo "CREATE USER 'root'@$(sql_str "$root_host") IDENTIFIED BY $(sql_str "$root_pw");"
      echo "GRANT ALL ON *.* TO 'root'@$(sql_str "$root_host") WITH GRANT OPTION;"
      echo "GRANT PROXY ON ''@'%' TO 'root'@$(sql_str "$root_host") WITH GRANT OPTION;"
    fi
    for h in localhost 127.0.0.1 ::1; do
      echo "CREATE USER 'healthcheck'@'$h' IDENTIFIED BY $(sql_str "$hc_pw");"
    done
    if [[ -n $db ]]; then
      echo "CREATE DATABASE IF NOT EXISTS $(sql_ident "$db");"
    fi
    if [[ -n $user ]]; then
      echo "CREATE USER $(sql_str "$user")@'%' IDENTIFIED BY $(sql_str "$pw");"
      if [[ -n $db ]]; then
        echo "GRANT ALL ON $(sql_ident "${db//_/\\_}").* TO $(sql_str "$user")@'%';"
      fi
    fi
  } | temp_sql || die "setting up users and database failed"

  # from here on root needs its password
  local cnf
  cnf=$(mktemp /tmp/.storefleet-root-XXXXXX.cnf)
  printf '[client]\nuser=root\npassword=%s\nsocket=%s\nprotocol=socket\n' "$root_pw" "$SOCKET" >"$cnf"
  local f
  for f in /docker-entrypoint-initdb.d/*; do
    [[ -e $f ]] || continue
    # shellcheck disable=SC1090
    case $f in
      *.sh)     log "running $f"; if [[ -x $f ]]; then "$f"; else . "$f"; fi ;;
      *.sql)    log "running $f"; mariadb --defaults-extra-file="$cnf" ${db:+"$db"} <"$f" ;;
      *.sql.gz) log "running $f"; gzip -dc "$f" | mariadb --defaults-extra-file="$cnf" ${db:+"$db"} ;;
      *)        log "ignoring $f" ;;
    esac
  done
  rm -f "$cnf"

  temp_server_stop
  # written last: healthcheck.sh only passes for a finished initialization
  printf '[client]\nuser=healthcheck\npassword=%s\nsocket=%s\n' "$hc_pw" "$SOCKET" >"$DATADIR/.my-healthcheck.cnf.tmp"
  chmod 0600 "$DATADIR/.my-healthcheck.cnf.tmp"
  mv "$DATADIR/.my-healthcheck.cnf.tmp" "$DATADIR/.my-healthcheck.cnf"
  # fresh system tables are current: no upgrade on the next start
  server_version "$1" >"$DATADIR/mysql_upgrade_info"
  rm -f "$DATADIR/$INIT_MARKER"
  log "database initialized${db:+ (database $db)}${user:+ (user $user@%)}"
}

# server_version MARIADBD: e.g. 10.11.14-MariaDB-0+deb12u1 (what mariadb-upgrade records)
server_version() { "$1" --version | sed -n 's/.* Ver \([^ ]*\) .*/\1/p'; }

upgrade_if_needed() {
  local want have
  want=$(server_version "$1")
  have=$(head -n1 "$DATADIR/mysql_upgrade_info" 2>/dev/null | tr -d '\0' || true)
  [[ -n $want && ${have%%-*} != "${want%%-*}" ]] || return 0
  if [[ -z $(env_value AUTO_UPGRADE) ]]; then
    log "datadir was written by MariaDB '${have:-unknown}', server is $want; set MARIADB_AUTO_UPGRADE=1 to upgrade the system tables"
    return 0
  fi
  log "upgrading system tables ('${have:-unknown}' -> $want)"
  temp_server_start "$@" --skip-grant-tables
  mariadb-upgrade --protocol=socket --socket="$SOCKET" -uroot --upgrade-system-tables >&2 ||
    die "mariadb-upgrade failed"
  temp_server_stop
}

if [[ -e $DATADIR/$INIT_MARKER ]]; then
  # only this entrypoint writes the marker, before mariadb-install-db: the datadir holds
  # nothing but a first-start initialisation that was killed before it finished
  log "WARNING: an earlier first-start initialisation of $DATADIR did not finish: starting it over"
  find "$DATADIR" -mindepth 1 -maxdepth 1 ! -name 'lost+found' ! -name "$INIT_MARKER" -exec rm -rf '{}' +
  init_datadir "$@"
elif [[ ! -d $DATADIR/mysql ]]; then
  init_datadir "$@"
else
  upgrade_if_needed "$@"
fi

exec "$@"
