#!/usr/bin/env bash
# Builds docker.io/library/wordpress:cli-2.12.0-php8.3 (charts/woocommerce's setup Job):
# Debian bookworm minbase + php8.2-cli with the same PHP modules as the wordpress image
# (mysqli, curl, gd, mbstring, xml, zip, intl, bcmath, opcache), mariadb-client (for
# `wp db ...`), bash and coreutils, and wp-cli at /usr/local/bin/wp: the phar itself
# (setup.sh runs `php ... "$WP_CLI_BIN"`), executable. Runs as www-data = uid/gid 33
# (the wordpress image's owner of /var/www/html) with HOME=/tmp, WORKDIR /var/www/html;
# nothing outside /tmp and the WordPress volume is written, so a read-only root
# filesystem works. The reference is the chart's default; PHP is Debian's 8.2, wp-cli is
# whatever phar $STOREFLEET_WOOCOMMERCE_DIR holds. Without STOREFLEET_WOOCOMMERCE_DIR
# the image is skipped.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
image_begin wordpress-cli
IMAGE_REF=docker.io/library/wordpress:cli-2.12.0-php8.3
PHP_MODS=(php8.2-bcmath php8.2-curl php8.2-gd php8.2-intl php8.2-mbstring php8.2-mysql php8.2-opcache php8.2-xml php8.2-zip)
PKGS=(php8.2-cli "${PHP_MODS[@]}" mariadb-client ca-certificates)

SRC=${STOREFLEET_WOOCOMMERCE_DIR:-}
[[ -n $SRC ]] || image_skip "STOREFLEET_WOOCOMMERCE_DIR is not set (needs wp-cli.phar; see scripts/images/README.md)"
PHAR="$SRC/wp-cli.phar"
[[ -f $PHAR ]] || die "STOREFLEET_WOOCOMMERCE_DIR=$SRC has no wp-cli.phar (see scripts/images/README.md)"
[[ $(head -c 2 "$PHAR") == '#!' || $(head -c 5 "$PHAR") == '<?php' ]] || die "$PHAR does not look like a phar (a shell wrapper or download error page?)"

image_cached "$(sha256_str "$(common_inputs) $(hash_paths "$IMAGES_DIR/wordpress-cli.sh" \
  "$IMAGES_DIR/wordpress-cli-entrypoint.sh" "$PHAR")")" && exit 0

base_rootfs "${PKGS[@]}"
stage_rootfs "$BASE_ROOTFS"
R=$STAGE_DIR

step "php.ini for wp-cli"
cat >"$R/etc/php/8.2/cli/conf.d/99-storefleet.ini" <<'INI'
; storefleet wordpress-cli image (setup.sh raises memory_limit with -d where needed)
memory_limit = 256M
display_errors = STDERR
log_errors = Off
INI
php_mods=$(chroot "$R" php -m)
for m in mysqli curl gd mbstring xml zip intl bcmath Phar "Zend OPcache"; do
  grep -qx "$m" <<<"$php_mods" || die "PHP module $m missing"
done

step "wp-cli phar at /usr/local/bin/wp, www-data = 33, entrypoint"
install -m 0755 "$PHAR" "$R/usr/local/bin/wp"
install -m 0755 "$IMAGES_DIR/wordpress-cli-entrypoint.sh" "$R/usr/local/bin/docker-entrypoint.sh"
set_passwd_user "$R" www-data 33 33 /tmp /bin/bash
install -d -o 33 -g 33 -m 0755 "$R/var/www/html"
WP_CLI_VERSION=$(chroot "$R" env HOME=/tmp setpriv --reuid=33 --regid=33 --clear-groups php /usr/local/bin/wp --version --allow-root 2>>"$STEP_LOG" | sed -n 's/^WP-CLI //p')
[[ -n $WP_CLI_VERSION ]] || die "php /usr/local/bin/wp --version printed no version"
log "wp-cli $WP_CLI_VERSION"
for t in bash php wp mariadb mariadb-dump date mkdir cp rm chmod tail; do
  chroot "$R" sh -c "command -v $t" >/dev/null || die "$t missing in the image"
done

cat >"$R.config.json" <<JSON
{
  "Entrypoint": ["docker-entrypoint.sh"],
  "Cmd": ["wp", "shell"],
  "Env": [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG=C.UTF-8",
    "HOME=/tmp",
    "WORDPRESS_CLI_VERSION=$WP_CLI_VERSION"
  ],
  "User": "33:33",
  "WorkingDir": "/var/www/html",
  "Labels": {"org.opencontainers.image.description": "Debian bookworm php8.2-cli + wp-cli $WP_CLI_VERSION built by storefleet scripts/images/wordpress-cli.sh"}
}
JSON
write_image "$R" "$R.config.json"
rm -f "$R.config.json"
