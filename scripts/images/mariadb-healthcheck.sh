#!/bin/bash
# healthcheck.sh of the storefleet mariadb image (scripts/images/mariadb.sh), written for
# Storefleet; same name and options as the official image's for the checks
# charts/woocommerce's probes use:
#
#   healthcheck.sh [--connect] [--innodb_initialized] [--datadir=DIR]
#
#   --connect             the server accepts client connections with networking on (a
#                         temporary server of the entrypoint's first-start
#                         initialisation, running without networking, does not count)
#   --innodb_initialized  the InnoDB storage engine is available
#
# Exit status 0 when every given check passes (no check given: --connect); never while the
# entrypoint's first-start initialisation runs. It logs in as
# healthcheck@localhost through the socket with the credentials the entrypoint wrote to
# DATADIR/.my-healthcheck.cnf at initialisation. Without that file (a datadir initialised
# elsewhere) every check falls back to `mariadb-admin ping` (server answers at all).
set -uo pipefail

checks=()
datadir=""
for a in "$@"; do
  case $a in
    --connect|--innodb_initialized) checks+=("${a#--}") ;;
    --datadir=*) datadir=${a#--datadir=} ;;
    -h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "healthcheck.sh: unknown option $a (supported: --connect --innodb_initialized --datadir=DIR)" >&2; exit 2 ;;
  esac
done
[[ ${#checks[@]} -gt 0 ]] || checks=(connect)
if [[ -z $datadir ]]; then
  datadir=$(my_print_defaults mariadbd mysqld server mariadb 2>/dev/null | sed -n 's/^--datadir=//p' | tail -n1)
  datadir=${datadir:-/var/lib/mysql}
fi
cnf="${datadir%/}/.my-healthcheck.cnf"

if [[ -e ${datadir%/}/.storefleet-initializing ]]; then
  echo "healthcheck.sh: the entrypoint is initialising the datadir" >&2
  exit 1
fi

if [[ ! -r $cnf ]]; then
  mariadb-admin --connect-timeout=3 ping >/dev/null 2>&1 && exit 0
  echo "healthcheck.sh: server does not answer (no $cnf: ping only)" >&2
  exit 1
fi

q() { mariadb --defaults-extra-file="$cnf" --connect-timeout=3 --batch --skip-column-names -e "$1" 2>&1; }
rc=0
for c in "${checks[@]}"; do
  case $c in
    connect)
      out=$(q 'SELECT @@skip_networking')
      if [[ $? -ne 0 ]]; then echo "healthcheck.sh: connect: $out" >&2; rc=1
      elif [[ $out != 0 ]]; then echo "healthcheck.sh: connect: server runs without networking (initialisation)" >&2; rc=1; fi ;;
    innodb_initialized)
      out=$(q "SELECT COUNT(*) FROM information_schema.ENGINES WHERE ENGINE = 'InnoDB' AND SUPPORT IN ('YES', 'DEFAULT')")
      if [[ $? -ne 0 || $out != 1 ]]; then echo "healthcheck.sh: innodb_initialized: ${out:-InnoDB not available}" >&2; rc=1; fi ;;
  esac
done
exit "$rc"
