#!/usr/bin/env bash
# Builds docker.io/library/wordpress:7.1.0-php8.3-apache for charts/woocommerce: Debian
# bookworm minbase + apache2 (prefork) + libapache2-mod-php8.2 with the PHP modules
# WordPress/WooCommerce use (mysqli, curl, gd, mbstring, xml, zip, intl, bcmath, opcache),
# WordPress core in /usr/src/wordpress with the WooCommerce plugin baked into
# wp-content/plugins/woocommerce, and our own entrypoint (wordpress-entrypoint.sh: the
# official image's contract: copy core into /var/www/html on first start, wp-config.php
# from WORDPRESS_* env) and apache2-foreground (wordpress-apache2-foreground.sh).
# The reference is the chart's default; PHP is Debian's 8.2, not 8.3.
# Inputs: $STOREFLEET_WOOCOMMERCE_DIR/{wordpress,woocommerce} (see README.md here);
# without it the image is skipped.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
image_begin wordpress
IMAGE_REF=docker.io/library/wordpress:7.1.0-php8.3-apache
PHP_MODS=(php8.2-bcmath php8.2-curl php8.2-gd php8.2-intl php8.2-mbstring php8.2-mysql php8.2-opcache php8.2-xml php8.2-zip)
PKGS=(apache2 libapache2-mod-php8.2 "${PHP_MODS[@]}" ca-certificates)

SRC=${STOREFLEET_WOOCOMMERCE_DIR:-}
[[ -n $SRC ]] || image_skip "STOREFLEET_WOOCOMMERCE_DIR is not set (needs wordpress/ and woocommerce/; see scripts/images/README.md)"
for d in wordpress/wp-includes/version.php woocommerce/woocommerce.php; do
  [[ -f $SRC/$d ]] || die "STOREFLEET_WOOCOMMERCE_DIR=$SRC has no $d (see scripts/images/README.md)"
done
WP_VERSION=$(sed -n "s/^\$wp_version = '\(.*\)';.*/\1/p" "$SRC/wordpress/wp-includes/version.php")
WC_VERSION=$(sed -n 's/^ \* Version: *//p' "$SRC/woocommerce/woocommerce.php" | head -1)
log "WordPress $WP_VERSION, WooCommerce $WC_VERSION from $SRC"

# The inputs' contents are hashed in full: ~170 MB, about 1 s from the page cache.
image_cached "$(sha256_str "$(common_inputs) $(hash_paths "$IMAGES_DIR/wordpress.sh" \
  "$IMAGES_DIR/wordpress-entrypoint.sh" "$IMAGES_DIR/wordpress-apache2-foreground.sh") \
  $(hash_paths "$SRC/wordpress" "$SRC/woocommerce")")" && exit 0

base_rootfs "${PKGS[@]}"
stage_rootfs "$BASE_ROOTFS"
R=$STAGE_DIR

step "apache: prefork + mod_php, rewrite, .htaccess allowed, logs to stdout/stderr"
run chroot "$R" a2dismod -q -f mpm_event mpm_worker || true
run chroot "$R" a2enmod -q mpm_prefork php8.2 rewrite expires remoteip headers
run chroot "$R" a2disconf -q other-vhosts-access-log serve-cgi-bin || true
cat >"$R/etc/apache2/conf-available/storefleet-wordpress.conf" <<'CONF'
# storefleet wordpress image: serve /var/www/html with per-directory .htaccess
# (WordPress writes its permalink rules there).
ServerName localhost
<Directory /var/www/html>
    Options FollowSymLinks
    AllowOverride All
    Require all granted
</Directory>
DirectoryIndex index.php index.html
<FilesMatch "^\.ht">
    Require all denied
</FilesMatch>
# Client addresses behind a Service/ingress proxy in private address space.
RemoteIPHeader X-Forwarded-For
RemoteIPInternalProxy 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 169.254.0.0/16 127.0.0.0/8
LogFormat "%a %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\"" combined
CONF
run chroot "$R" a2enconf -q storefleet-wordpress
# Apache may run as www-data directly (chart: rootless) or start as root and drop to
# www-data: its run/lock/log dirs must be writable by both.
# (inside the chroot: /var/run and /var/lock are absolute symlinks)
chroot "$R" sh -ec '. /etc/apache2/envvars
  for d in "$APACHE_RUN_DIR" "$APACHE_LOCK_DIR" "$APACHE_LOG_DIR"; do
    rm -rf "$d"; mkdir -p "$d"; chown www-data:www-data "$d"; chmod 1777 "$d"
  done
  ln -sfT /dev/stderr "$APACHE_LOG_DIR/error.log"
  ln -sfT /dev/stdout "$APACHE_LOG_DIR/access.log"
  ln -sfT /dev/stdout "$APACHE_LOG_DIR/other_vhosts_access.log"'
grep -q 'ErrorLog ${APACHE_LOG_DIR}/error.log' "$R/etc/apache2/apache2.conf"
test -e "$R/etc/apache2/mods-enabled/mpm_prefork.load" && test -e "$R/etc/apache2/mods-enabled/php8.2.load"
test ! -e "$R/etc/apache2/mods-enabled/mpm_event.load"

step "php.ini defaults for WordPress/WooCommerce"
cat >"$R/etc/php/8.2/mods-available/storefleet.ini" <<'INI'
; storefleet wordpress image defaults
; priority=99
memory_limit = 256M
upload_max_filesize = 64M
post_max_size = 64M
max_execution_time = 120
expose_php = Off
display_errors = Off
display_startup_errors = Off
log_errors = On
error_reporting = E_ALL & ~E_DEPRECATED & ~E_STRICT
opcache.enable = 1
opcache.memory_consumption = 128
opcache.interned_strings_buffer = 16
opcache.max_accelerated_files = 10000
opcache.revalidate_freq = 2
INI
ln -sfT ../../mods-available/storefleet.ini "$R/etc/php/8.2/apache2/conf.d/99-storefleet.ini"
ln -sfT ../../mods-available/storefleet.ini "$R/etc/php/8.2/cli/conf.d/99-storefleet.ini"
php_mods=$(chroot "$R" php -m)
for m in mysqli curl gd mbstring xml zip intl bcmath "Zend OPcache"; do
  grep -qx "$m" <<<"$php_mods" || die "PHP module $m missing"
done

step "WordPress $WP_VERSION in /usr/src/wordpress, WooCommerce $WC_VERSION in its plugins"
rm -rf "$R/usr/src/wordpress"
mkdir -p "$R/usr/src"
cp -a "$SRC/wordpress" "$R/usr/src/wordpress"
rm -rf "$R/usr/src/wordpress/wp-content/plugins/woocommerce"
cp -a "$SRC/woocommerce" "$R/usr/src/wordpress/wp-content/plugins/woocommerce"
chown -R 0:0 "$R/usr/src/wordpress"
chmod -R u+rwX,go+rX,go-w "$R/usr/src/wordpress"
rm -rf "$R/var/www/html"
install -d -o 33 -g 33 -m 0755 "$R/var/www/html"

step "entrypoint and apache2-foreground"
install -m 0755 "$IMAGES_DIR/wordpress-entrypoint.sh" "$R/usr/local/bin/docker-entrypoint.sh"
install -m 0755 "$IMAGES_DIR/wordpress-apache2-foreground.sh" "$R/usr/local/bin/apache2-foreground"
chroot "$R" bash -c 'source /etc/apache2/envvars && apache2 -t' >>"$STEP_LOG" 2>&1 || die "apache2 -t failed"

cat >"$R.config.json" <<JSON
{
  "Entrypoint": ["docker-entrypoint.sh"],
  "Cmd": ["apache2-foreground"],
  "Env": [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG=C.UTF-8",
    "WORDPRESS_VERSION=$WP_VERSION",
    "WOOCOMMERCE_VERSION=$WC_VERSION"
  ],
  "WorkingDir": "/var/www/html",
  "ExposedPorts": {"80/tcp": {}},
  "Volumes": {"/var/www/html": {}},
  "Labels": {"org.opencontainers.image.description": "Debian bookworm apache2 + mod_php 8.2, WordPress $WP_VERSION + WooCommerce $WC_VERSION, built by storefleet scripts/images/wordpress.sh"}
}
JSON
write_image "$R" "$R.config.json"
rm -f "$R.config.json"
