#!/bin/bash
# Storefleet WooCommerce store setup. Runs in the wordpress:cli image as uid/gid 33
# (the php-apache image's www-data) against the WordPress volume and database.
# Safe to re-run: every step checks state first or is an idempotent update.
set -euo pipefail

WP_PATH=/var/www/html
log() { printf '%s [storefleet-setup] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() { log "ERROR: $*"; exit 1; }
# php -d: unpacking the WooCommerce zip needs more than php-cli's default 128M.
wp() { php -d memory_limit="${WP_CLI_MEMORY_LIMIT:-256M}" /usr/local/bin/wp --path="$WP_PATH" --no-color "$@"; }
wpwc() { wp wc "$@" --user="$ADMIN_USER"; }

: "${STORE_URL:?}" "${STORE_NAME:?}" "${ADMIN_USER:?}" "${ADMIN_EMAIL:?}" "${ADMIN_PASSWORD:?}"
: "${WORDPRESS_DB_HOST:?}" "${WORDPRESS_DB_USER:?}" "${WORDPRESS_DB_PASSWORD:?}" "${WORDPRESS_DB_NAME:?}"
START=$(date +%s)
DEADLINE=$(( START + ${WAIT_TIMEOUT_SECONDS:-600} ))

wait_for() {
  local what=$1; shift
  until "$@"; do
    if [ "$(date +%s)" -ge "$DEADLINE" ]; then die "timed out waiting for $what"; fi
    sleep 3
  done
  log "$what: ok"
}

db_up() {
  php -r '
    mysqli_report(MYSQLI_REPORT_OFF);
    $m = @mysqli_connect(getenv("WORDPRESS_DB_HOST"), getenv("WORDPRESS_DB_USER"),
                         getenv("WORDPRESS_DB_PASSWORD"), getenv("WORDPRESS_DB_NAME"));
    exit($m ? 0 : 1);'
}
# The WordPress container copies core into the shared volume and writes wp-config.php
# on its first start; wp-cli needs both.
files_ready() { [ -s "$WP_PATH/wp-config.php" ] && [ -e "$WP_PATH/wp-includes/version.php" ]; }
http_up() {
  php -r '
    $ctx = stream_context_create(["http" => ["ignore_errors" => true, "timeout" => 5,
                                              "follow_location" => 0]]);
    @file_get_contents(getenv("WP_INTERNAL_URL") . "/wp-login.php", false, $ctx);
    if (empty($http_response_header[0])) exit(1);
    preg_match("{HTTP/\S+ (\d+)}", $http_response_header[0], $m);
    exit(isset($m[1]) && (int)$m[1] < 500 ? 0 : 1);'
}

wait_for "database ${WORDPRESS_DB_HOST}" db_up
wait_for "WordPress files in ${WP_PATH}" files_ready
wait_for "WordPress HTTP at ${WP_INTERNAL_URL}" http_up

# ---- mail: no mail server in a store namespace; make wp_mail() a successful no-op --
mkdir -p "$WP_PATH/wp-content/mu-plugins"
# (ConfigMap files are read-only; replace rather than overwrite so re-runs work)
rm -f "$WP_PATH/wp-content/mu-plugins/storefleet-mail.php"
cp /setup/storefleet-mail.php "$WP_PATH/wp-content/mu-plugins/storefleet-mail.php"
chmod 0644 "$WP_PATH/wp-content/mu-plugins/storefleet-mail.php"
log "mail suppressed (mu-plugin)"

# ---- core ----------------------------------------------------------------------------
if wp core is-installed 2>/dev/null; then
  log "WordPress already installed"
else
  log "installing WordPress at $STORE_URL"
  wp core install --url="$STORE_URL" --title="$STORE_NAME" --admin_user="$ADMIN_USER" \
    --admin_password="$ADMIN_PASSWORD" --admin_email="$ADMIN_EMAIL" --skip-email
fi
wp option update home "$STORE_URL" >/dev/null
wp option update siteurl "$STORE_URL" >/dev/null
wp option update blogname "$STORE_NAME" >/dev/null
wp option update admin_email "$ADMIN_EMAIL" >/dev/null
# Keep the admin's password equal to the platform's Secret (rotation, re-runs).
wp user update "$ADMIN_USER" --user_pass="$ADMIN_PASSWORD" --skip-email >/dev/null
wp rewrite structure '/%postname%/' >/dev/null
wp rewrite flush >/dev/null
log "core configured (home/siteurl=$STORE_URL, permalinks /%postname%/)"

# ---- WooCommerce plugin --------------------------------------------------------------
if ! wp plugin is-installed woocommerce; then
  if [ "${WC_INSTALL_PLUGIN:-true}" = "true" ]; then
    log "installing WooCommerce ${WC_VERSION:-latest} from wordpress.org"
    if [ -n "${WC_VERSION:-}" ]; then
      wp plugin install woocommerce --version="$WC_VERSION"
    else
      wp plugin install woocommerce
    fi
  else
    die "woocommerce is not in the WordPress image and woocommerce.installPlugin=false"
  fi
fi
if ! wp plugin is-active woocommerce; then
  wp plugin activate woocommerce
fi
log "WooCommerce $(wp plugin get woocommerce --field=version) active"

# ---- WooCommerce settings ------------------------------------------------------------
wpwc tool run install_pages >/dev/null
set_opt() { wp option update "$1" "$2" >/dev/null; }
set_opt woocommerce_default_country "$WC_COUNTRY"
set_opt woocommerce_store_address "$WC_ADDRESS_1"
set_opt woocommerce_store_city "$WC_CITY"
set_opt woocommerce_store_postcode "$WC_POSTCODE"
set_opt woocommerce_currency "$WC_CURRENCY"
set_opt woocommerce_allowed_countries all
set_opt woocommerce_ship_to_countries ""
# Recent versions start new stores in "coming soon" mode: the cart then fails.
set_opt woocommerce_coming_soon no
set_opt woocommerce_store_pages_only no
set_opt woocommerce_enable_guest_checkout yes
set_opt woocommerce_enable_checkout_login_reminder no
set_opt woocommerce_calc_taxes no
set_opt woocommerce_allow_tracking no
set_opt woocommerce_show_marketplace_suggestions no
set_opt woocommerce_task_list_hidden yes
wp option update woocommerce_onboarding_profile '{"skipped":true}' --format=json >/dev/null
log "store settings: ${WC_COUNTRY}, ${WC_CURRENCY}, guest checkout on, coming-soon off"

wpwc payment_gateway update cod --enabled=true >/dev/null
log "payment: cash on delivery enabled"

# The wc CLI has no zone-location command: PHP through wp eval-file (idempotent).
wp eval-file /setup/shipping.php

# ---- demo product --------------------------------------------------------------------
product_id=$(wp eval 'echo (int) wc_get_product_id_by_sku(getenv("WC_PRODUCT_SKU"));')
if [ "${product_id:-0}" -gt 0 ]; then
  wpwc product update "$product_id" --status=publish --regular_price="$WC_PRODUCT_PRICE" \
    --stock_status=instock >/dev/null
  log "demo product $product_id (sku $WC_PRODUCT_SKU) exists"
else
  product_id=$(wpwc product create --name="$WC_PRODUCT_NAME" --type=simple --status=publish \
    --regular_price="$WC_PRODUCT_PRICE" --sku="$WC_PRODUCT_SKU" \
    --description="$WC_PRODUCT_DESCRIPTION" --manage_stock=false --stock_status=instock \
    --porcelain)
  log "demo product $product_id (sku $WC_PRODUCT_SKU) created"
fi

wp cache flush >/dev/null 2>&1 || true
log "done in $(( $(date +%s) - START ))s: $STORE_URL (product $product_id)"
