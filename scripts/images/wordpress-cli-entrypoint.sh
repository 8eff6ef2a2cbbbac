#!/bin/sh
# Entrypoint of the storefleet wordpress-cli image (scripts/images/wordpress-cli.sh):
# like the official wordpress:cli image, arguments that are not a command run as wp-cli
# arguments (`IMAGE plugin list` = `wp plugin list`, `IMAGE --info` = `wp --info`);
# anything else (`bash /setup/setup.sh`, `wp ...`) is exec'd as given.
set -e
if [ $# -eq 0 ]; then set -- wp shell; fi
case $1 in
  -*) set -- wp "$@" ;;
  *) if ! command -v "$1" >/dev/null 2>&1; then set -- wp "$@"; fi ;;
esac
exec "$@"
