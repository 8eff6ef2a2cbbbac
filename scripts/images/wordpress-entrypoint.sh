#!/bin/bash
# Entrypoint of the storefleet wordpress image (scripts/images/wordpress.sh), written for
# Storefleet. It keeps the documented contract of the official `wordpress` image that
# charts/woocommerce relies on, when the command is apache2-foreground (or apache2*):
#
# * First start: when /var/www/html (a volume) has neither index.php nor
#   wp-includes/version.php, WordPress core from /usr/src/wordpress is copied in
#   (including the baked wp-content/plugins/woocommerce; files already there are kept),
#   with WordPress's standard permalink .htaccess. Started as root the files go to
#   www-data (uid 33); started as another user (the chart's rootless mode: uid 33) they
#   belong to that user.
# * wp-config.php, when missing and any WORDPRESS_* variable is set, is written once. It
#   reads WORDPRESS_DB_HOST, _DB_USER, _DB_PASSWORD, _DB_NAME, _DB_CHARSET, _DB_COLLATE,
#   _TABLE_PREFIX, _DEBUG, the eight key/salt variables (_AUTH_KEY ... _NONCE_SALT) and
#   WORDPRESS_CONFIG_EXTRA (PHP code, evaluated) from the environment at run time (each
#   also as NAME_FILE = path of a file holding the value), so wp-cli started with the same
#   environment loads the same configuration. Keys/salts that are not set get random
#   values fixed in the file.
#
# Then it execs the command (apache2-foreground stays PID 1).
set -Eeuo pipefail

SRC=/usr/src/wordpress

log() { printf 'wordpress-entrypoint: %s\n' "$*" >&2; }

random_key() { head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

copy_core() {
  local owner=$1
  if [[ -n $(find . -mindepth 1 -maxdepth 1 ! -name 'lost+found' -print -quit) ]]; then
    log "WARNING: $PWD is not empty but has no WordPress; copying core over it (existing files are kept)"
  fi
  log "WordPress not found in $PWD: copying $SRC (WordPress ${WORDPRESS_VERSION:-?}, WooCommerce ${WOOCOMMERCE_VERSION:-?})"
  # entry by entry: the volume's root directory itself may belong to someone else
  find "$SRC" -mindepth 1 -maxdepth 1 -exec \
    cp -R --no-preserve=ownership --preserve=mode,timestamps,links -n -t . '{}' +
  if [[ ! -e .htaccess ]]; then
    # WordPress's standard rules for "pretty" permalinks (/%postname%/, /wp-json/).
    cat >.htaccess <<'HTACCESS'
# BEGIN WordPress
<IfModule mod_rewrite.c>
RewriteEngine On
RewriteRule .* - [E=HTTP_AUTHORIZATION:%{HTTP:Authorization}]
RewriteBase /
RewriteRule ^index\.php$ - [L]
RewriteCond %{REQUEST_FILENAME} !-f
RewriteCond %{REQUEST_FILENAME} !-d
RewriteRule . /index.php [L]
</IfModule>
# END WordPress
HTACCESS
  fi
  if [[ -n $owner ]]; then chown -R "$owner" .; fi
  log "copied: $(find . -type f | wc -l) files"
}

write_config() {
  local owner=$1 tmp keys="" k
  for k in AUTH_KEY SECURE_AUTH_KEY LOGGED_IN_KEY NONCE_KEY AUTH_SALT SECURE_AUTH_SALT LOGGED_IN_SALT NONCE_SALT; do
    keys+="    '$k' => '$(random_key)',"$'\n'
  done
  tmp=$(mktemp wp-config.php.XXXXXX)
  cat >"$tmp" <<PHP
<?php
/*
 * Written by the storefleet wordpress image on first start. Settings are read from the
 * environment at run time (WORDPRESS_*; NAME_FILE = a file holding the value), so
 * WordPress and wp-cli given the same environment use the same configuration.
 */
if (!function_exists('storefleet_wp_env')) {
  function storefleet_wp_env(\$name, \$default = '') {
    \$file = getenv(\$name . '_FILE');
    if (\$file !== false && \$file !== '' && is_readable(\$file)) {
      return rtrim(file_get_contents(\$file), "\r\n");
    }
    \$value = getenv(\$name);
    return \$value === false ? \$default : \$value;
  }
}

define('DB_NAME', storefleet_wp_env('WORDPRESS_DB_NAME', 'wordpress'));
define('DB_USER', storefleet_wp_env('WORDPRESS_DB_USER', 'wordpress'));
define('DB_PASSWORD', storefleet_wp_env('WORDPRESS_DB_PASSWORD', ''));
define('DB_HOST', storefleet_wp_env('WORDPRESS_DB_HOST', 'mysql'));
define('DB_CHARSET', storefleet_wp_env('WORDPRESS_DB_CHARSET', 'utf8mb4'));
define('DB_COLLATE', storefleet_wp_env('WORDPRESS_DB_COLLATE', ''));

// Keys and salts: from the environment, else the random values chosen at first start.
foreach (array(
$keys) as \$storefleet_key => \$storefleet_default) {
  define(\$storefleet_key, storefleet_wp_env('WORDPRESS_' . \$storefleet_key, \$storefleet_default));
}
unset(\$storefleet_key, \$storefleet_default);

\$table_prefix = storefleet_wp_env('WORDPRESS_TABLE_PREFIX', 'wp_');

define('WP_DEBUG', !in_array(strtolower(storefleet_wp_env('WORDPRESS_DEBUG', '')), array('', '0', 'false', 'no', 'off'), true));

// TLS terminated by a proxy in front of Apache.
if (isset(\$_SERVER['HTTP_X_FORWARDED_PROTO']) && stripos(\$_SERVER['HTTP_X_FORWARDED_PROTO'], 'https') !== false) {
  \$_SERVER['HTTPS'] = 'on';
}

if (\$storefleet_extra = storefleet_wp_env('WORDPRESS_CONFIG_EXTRA', '')) {
  eval(\$storefleet_extra);
}
unset(\$storefleet_extra);

if (!defined('ABSPATH')) {
  define('ABSPATH', __DIR__ . '/');
}

require_once ABSPATH . 'wp-settings.php';
PHP
  chmod 0640 "$tmp"
  if [[ -n $owner ]]; then chown "$owner" "$tmp"; fi
  mv "$tmp" wp-config.php
  log "wrote wp-config.php (settings from WORDPRESS_* at run time)"
}

if [[ ${1:-} == apache2* ]]; then
  owner=""
  if [[ $(id -u) -eq 0 ]]; then owner="www-data:www-data"; fi
  cd /var/www/html
  if [[ ! -e index.php && ! -e wp-includes/version.php ]]; then
    copy_core "$owner"
  fi
  if [[ ! -s wp-config.php ]] && compgen -v WORDPRESS_ >/dev/null; then
    write_config "$owner"
  fi
fi

exec "$@"
