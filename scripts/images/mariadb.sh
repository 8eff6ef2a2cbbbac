#!/usr/bin/env bash
# Builds docker.io/library/mariadb:11.8 for charts/woocommerce: Debian bookworm minbase +
# mariadb-server (10.11; the reference is the chart's default, any MariaDB >= 10.6 serves
# WordPress), the mysql user as uid/gid 999, an empty /var/lib/mysql, /run/mysqld
# writable, the server listening on all addresses, our own entrypoint
# (mariadb-entrypoint.sh: the official image's MARIADB_* env contract) and
# healthcheck.sh (mariadb-healthcheck.sh: --connect, --innodb_initialized).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
image_begin mariadb
IMAGE_REF=docker.io/library/mariadb:11.8
PKGS=(mariadb-server)

image_cached "$(sha256_str "$(common_inputs) $(hash_paths "$IMAGES_DIR/mariadb.sh" \
  "$IMAGES_DIR/mariadb-entrypoint.sh" "$IMAGES_DIR/mariadb-healthcheck.sh")")" && exit 0

base_rootfs "${PKGS[@]}"
stage_rootfs "$BASE_ROOTFS"
R=$STAGE_DIR

step "mysql user as uid/gid 999, empty datadir, socket dir"
set_passwd_user "$R" mysql 999 999 /var/lib/mysql /bin/false
# the Debian package's own datadir (initialised at install time) is not used
rm -rf "$R/var/lib/mysql" "$R/run/mysqld" "$R/var/log/mysql"
install -d -o 999 -g 999 -m 0755 "$R/var/lib/mysql"
install -d -o 999 -g 999 -m 0777 "$R/run/mysqld"
install -d -o 999 -g 999 -m 0750 "$R/var/log/mysql"
install -d -m 0755 "$R/docker-entrypoint-initdb.d"
# not useful in a container: the init script, logrotate, the galera/SST helpers stay
rm -f "$R/etc/init.d/mariadb" "$R/etc/logrotate.d/mariadb"

step "server config: all addresses, no DNS, errors to stderr"
cat >"$R/etc/mysql/mariadb.conf.d/90-storefleet.cnf" <<'CNF'
# storefleet mariadb image (read after Debian's 50-server.cnf)
[mariadbd]
bind-address = 0.0.0.0
skip-name-resolve
host-cache-size = 0
# no log file: errors go to stderr (the container log)
CNF
chroot "$R" my_print_defaults mariadbd | grep -qx -- '--bind-address=0.0.0.0'
if chroot "$R" my_print_defaults mariadbd | grep -q -- '--log[-_]error'; then die "a config file sets log_error"; fi

step "entrypoint and healthcheck.sh"
install -m 0755 "$IMAGES_DIR/mariadb-entrypoint.sh" "$R/usr/local/bin/docker-entrypoint.sh"
install -m 0755 "$IMAGES_DIR/mariadb-healthcheck.sh" "$R/usr/local/bin/healthcheck.sh"
for t in mariadbd mariadb-install-db mariadb mariadb-admin mariadb-upgrade my_print_defaults setpriv; do
  chroot "$R" sh -c "command -v $t" >/dev/null || die "$t missing in the image"
done
chroot "$R" mariadbd --version >>"$STEP_LOG"

cat >"$R.config.json" <<'JSON'
{
  "Entrypoint": ["docker-entrypoint.sh"],
  "Cmd": ["mariadbd"],
  "Env": [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG=C.UTF-8"
  ],
  "WorkingDir": "/",
  "ExposedPorts": {"3306/tcp": {}},
  "Volumes": {"/var/lib/mysql": {}},
  "Labels": {"org.opencontainers.image.description": "Debian bookworm mariadb-server 10.11 built by storefleet scripts/images/mariadb.sh"}
}
JSON
write_image "$R" "$R.config.json"
rm -f "$R.config.json"
