#!/bin/bash
# apache2-foreground of the storefleet wordpress image: Debian's apache2 environment,
# no stale pid file, then Apache in the foreground as this process (PID 1: SIGTERM stops
# it, SIGWINCH stops it gracefully, SIGUSR1 reloads). Started as root, Apache's workers
# run as www-data; started as www-data (uid 33), everything runs as that user.
set -e
# shellcheck disable=SC1091
. /etc/apache2/envvars
# The image has these directories writable for root and www-data; a runtime that mounts
# an empty /run (e.g. `ctr run`) hides them: then use a private directory under /tmp.
if ! mkdir -p "$APACHE_RUN_DIR" "$APACHE_LOCK_DIR" 2>/dev/null ||
   [[ ! -w $APACHE_RUN_DIR || ! -w $APACHE_LOCK_DIR ]]; then
  APACHE_RUN_DIR=$(mktemp -d /tmp/apache2.XXXXXX)
  export APACHE_RUN_DIR APACHE_LOCK_DIR=$APACHE_RUN_DIR APACHE_PID_FILE=$APACHE_RUN_DIR/apache2.pid
fi
rm -f "$APACHE_PID_FILE"
exec apache2 -DFOREGROUND "$@"
