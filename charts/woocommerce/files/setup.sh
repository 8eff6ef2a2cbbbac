#!/bin/bash
# Storefleet WooCommerce store setup. Runs in the wordpress:cli image as uid/gid 33
# (the php-apache image's www-data) against the WordPress volume and database.
# Safe to re-run: every step checks state first or is an idempotent update.
set -euo pipefail

# Paths as mounted by the Job; overridable for running the script outside the cluster.
WP_PATH="${WP_PATH:-/var/www/html}"
SETUP_DIR="${SETUP_DIR:-/setup}"
WP_CLI_BIN="${WP_CLI_BIN:-/usr/local/bin/wp}"
log() { printf '%s [storefleet-setup] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() { log "ERROR: $*"; exit 1; }
# php -d: unpacking the WooCommerce zip needs more than php-cli's default 128M.
wp() { php -d memory_limit="${WP_CLI_MEMORY_LIMIT:-256M}" "$WP_CLI_BIN" --path="$WP_PATH" --no-color "$@"; }
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
# Any HTTP answer will do: a 500 can be WordPress's own "database tables are unavailable"
# page for a half-installed site, which only this script repairs (see "core" below).
http_up() {
  php -r '
    $ctx = stream_context_create(["http" => ["ignore_errors" => true, "timeout" => 5,
                                              "follow_location" => 0]]);
    @file_get_contents(getenv("WP_INTERNAL_URL") . "/wp-login.php", false, $ctx);
    exit(empty($http_response_header[0]) ? 1 : 0);'
}

wait_for "database ${WORDPRESS_DB_HOST}" db_up
wait_for "WordPress files in ${WP_PATH}" files_ready
wait_for "WordPress HTTP at ${WP_INTERNAL_URL}" http_up

# ---- mail: no mail server in a store namespace; make wp_mail() a successful no-op --
mkdir -p "$WP_PATH/wp-content/mu-plugins"
# (ConfigMap files are read-only; replace rather than overwrite so re-runs work)
rm -f "$WP_PATH/wp-content/mu-plugins/storefleet-mail.php"
cp "$SETUP_DIR/storefleet-mail.php" "$WP_PATH/wp-content/mu-plugins/storefleet-mail.php"
chmod 0644 "$WP_PATH/wp-content/mu-plugins/storefleet-mail.php"
log "mail suppressed (mu-plugin)"

# ---- core ----------------------------------------------------------------------------
if wp core is-installed 2>/dev/null; then
  log "WordPress already installed"
else
  # A `wp core install` killed between creating the tables and writing siteurl leaves
  # tables without a site: WordPress, `wp core is-installed` and `wp core install` then
  # all stop at "One or more database tables are unavailable", for good. Such a
  # database holds no site yet: drop its core tables so the install can start over.
  php -r '
    mysqli_report(MYSQLI_REPORT_OFF);
    $h = getenv("WORDPRESS_DB_HOST"); $port = null;
    if (preg_match("/^(.*):(\d+)$/", $h, $m)) { $h = $m[1]; $port = (int) $m[2]; }
    $db = mysqli_connect($h, getenv("WORDPRESS_DB_USER"), getenv("WORDPRESS_DB_PASSWORD"),
                         getenv("WORDPRESS_DB_NAME"), $port);
    if (!$db) { fwrite(STDERR, "database: " . mysqli_connect_error() . "\n"); exit(1); }
    $p = getenv("WORDPRESS_TABLE_PREFIX") ?: "wp_";
    $r = @$db->query("SELECT 1 FROM `{$p}options` WHERE option_name = \"siteurl\"");
    if ($r && $r->num_rows > 0) exit(0);
    $tables = array("commentmeta", "comments", "links", "options", "postmeta", "posts",
                    "term_relationships", "term_taxonomy", "termmeta", "terms", "usermeta", "users");
    foreach ($tables as $t) {
      $r = $db->query("SHOW TABLES LIKE \"" . $db->real_escape_string($p . $t) . "\"");
      if ($r && $r->num_rows > 0) {
        if (!$db->query("DROP TABLE `{$p}{$t}`")) { fwrite(STDERR, $db->error . "\n"); exit(1); }
        echo "dropped {$p}{$t} (interrupted core install)\n";
      }
    }'
  log "installing WordPress at $STORE_URL"
  wp core install --url="$STORE_URL" --title="$STORE_NAME" --admin_user="$ADMIN_USER" \
    --admin_password="$ADMIN_PASSWORD" --admin_email="$ADMIN_EMAIL" --skip-email
fi
# One wp-cli process for all core settings (each `wp` call boots WordPress: ~1 s).
# A run killed inside `wp core install` leaves a site that already counts as installed
# (options are written before roles and the admin user): repair roles and the user.
# The admin's password follows the platform's Secret (rotation, re-runs); it is only
# rewritten when it differs, so re-runs do not log the admin out.
wp eval '
  require_once ABSPATH . "wp-admin/includes/upgrade.php";
  if (!get_role("administrator")) { populate_roles(); WP_CLI::log("roles repaired"); }
  $login = getenv("ADMIN_USER"); $pass = getenv("ADMIN_PASSWORD"); $email = getenv("ADMIN_EMAIL");
  $user = get_user_by("login", $login);
  if (!$user) {
    $id = wp_insert_user(array("user_login" => $login, "user_pass" => $pass,
                               "user_email" => $email, "role" => "administrator"));
    if (is_wp_error($id)) WP_CLI::error("admin user: " . $id->get_error_message());
    WP_CLI::log("admin user $login created (interrupted core install)");
  } else {
    if (!$user->has_cap("administrator") && !in_array("administrator", $user->roles, true)) $user->add_role("administrator");
    if (!wp_check_password($pass, $user->user_pass, $user->ID)) wp_set_password($pass, $user->ID);
  }
  foreach (array("home" => getenv("STORE_URL"), "siteurl" => getenv("STORE_URL"),
                 "blogname" => getenv("STORE_NAME"), "admin_email" => $email) as $k => $v) {
    update_option($k, $v);
  }
  if (get_option("permalink_structure") !== "/%postname%/") {
    global $wp_rewrite;
    $wp_rewrite->set_permalink_structure("/%postname%/");
  }
  flush_rewrite_rules(false);
'
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
  # A run killed during activation leaves WooCommerce's install lock (transient
  # wc_installing, 10 minutes) behind; activation would then skip the install (no
  # tables) for longer than the Job's retries last. Nothing else installs WooCommerce
  # while it is inactive, so the lock is stale.
  wp transient delete wc_installing >/dev/null 2>&1 || true
  wp plugin activate woocommerce
fi
# Activation ran WooCommerce's installer unless a run was killed inside it (the plugin
# may then be active with the installer unfinished): finish it. woocommerce_version is
# written at the end of the installer.
wp eval '
  if (version_compare((string) get_option("woocommerce_version"), WC()->version, "<")) {
    delete_transient("wc_installing");
    WC_Install::install();
    WP_CLI::log("WooCommerce installer completed");
  }
  echo "WooCommerce " . get_option("woocommerce_version") . " installed\n";
'

# ---- WooCommerce settings ------------------------------------------------------------
wpwc tool run install_pages >/dev/null
# One wp-cli process for all options. Each is checked by reading it back: WooCommerce
# intercepts some of them. woocommerce_task_list_hidden, for one, is deprecated: its
# pre_update_option hook hides the "setup" task list, deletes the option and makes
# update_option() return false (so `wp option update` fails with "Could not update
# option" although it took effect); reading it back answers from the new option.
wp eval '
  $opts = array(
    "woocommerce_default_country" => getenv("WC_COUNTRY"),
    "woocommerce_store_address" => getenv("WC_ADDRESS_1"),
    "woocommerce_store_city" => getenv("WC_CITY"),
    "woocommerce_store_postcode" => getenv("WC_POSTCODE"),
    "woocommerce_currency" => getenv("WC_CURRENCY"),
    "woocommerce_allowed_countries" => "all",
    "woocommerce_ship_to_countries" => "",
    // Recent versions start new stores in "coming soon" mode: the cart then fails.
    "woocommerce_coming_soon" => "no",
    "woocommerce_store_pages_only" => "no",
    "woocommerce_enable_guest_checkout" => "yes",
    "woocommerce_enable_checkout_login_reminder" => "no",
    "woocommerce_calc_taxes" => "no",
    "woocommerce_allow_tracking" => "no",
    "woocommerce_show_marketplace_suggestions" => "no",
    "woocommerce_task_list_hidden" => "yes",
  );
  $bad = array();
  foreach ($opts as $k => $v) {
    update_option($k, $v);
    if ((string) get_option($k) !== (string) $v) $bad[] = "$k=" . var_export(get_option($k), true) . " (want $v)";
  }
  $profile = get_option("woocommerce_onboarding_profile", array());
  $profile = is_array($profile) ? $profile : array();
  if (empty($profile["skipped"])) update_option("woocommerce_onboarding_profile", array_merge($profile, array("skipped" => true)));
  if ($bad) WP_CLI::error("options not taken: " . implode(", ", $bad));
'
log "store settings: ${WC_COUNTRY}, ${WC_CURRENCY}, guest checkout on, coming-soon off"

wpwc payment_gateway update cod --enabled=true >/dev/null
log "payment: cash on delivery enabled"

# The wc CLI has no zone-location command: PHP through wp eval-file (idempotent).
wp eval-file "$SETUP_DIR/shipping.php"

# ---- demo product --------------------------------------------------------------------
# The REST v2 schema behind `wp wc product` knows in_stock (boolean), not stock_status.
# A run killed inside `wp wc product create` can leave the product saved (post first,
# SKU meta after): adopt a demo-named product without a SKU instead of making another.
product_id=$(wp eval '
  $id = (int) wc_get_product_id_by_sku(getenv("WC_PRODUCT_SKU"));
  if (!$id) {
    $ids = get_posts(array("post_type" => "product", "post_status" => array("publish", "draft", "pending", "private"),
                           "title" => getenv("WC_PRODUCT_NAME"), "fields" => "ids",
                           "orderby" => "ID", "order" => "ASC", "numberposts" => -1));
    foreach ($ids as $candidate) {
      $p = wc_get_product($candidate);
      if ($p && $p->get_sku() === "") { $id = (int) $candidate; break; }
    }
  }
  echo "$id\n";
' | tail -n 1)
case "$product_id" in ''|*[!0-9]*) die "demo product lookup printed '$product_id'";; esac
if [ "$product_id" -gt 0 ]; then
  wpwc product update "$product_id" --name="$WC_PRODUCT_NAME" --type=simple --status=publish \
    --regular_price="$WC_PRODUCT_PRICE" --sku="$WC_PRODUCT_SKU" \
    --description="$WC_PRODUCT_DESCRIPTION" --manage_stock=false --in_stock=true >/dev/null
  log "demo product $product_id (sku $WC_PRODUCT_SKU) exists"
else
  product_id=$(wpwc product create --name="$WC_PRODUCT_NAME" --type=simple --status=publish \
    --regular_price="$WC_PRODUCT_PRICE" --sku="$WC_PRODUCT_SKU" \
    --description="$WC_PRODUCT_DESCRIPTION" --manage_stock=false --in_stock=true \
    --porcelain)
  log "demo product $product_id (sku $WC_PRODUCT_SKU) created"
fi

# ---- check the effect, not wp-cli's exit codes -----------------------------------------
wp eval '
  $bad = array();
  global $wpdb;
  $ids = array_map("intval", $wpdb->get_col($wpdb->prepare(
    "SELECT p.ID FROM {$wpdb->posts} p JOIN {$wpdb->postmeta} m ON m.post_id = p.ID AND m.meta_key = %s
     WHERE p.post_type = %s AND p.post_status <> %s AND m.meta_value = %s",
    "_sku", "product", "trash", getenv("WC_PRODUCT_SKU"))));
  if (count($ids) !== 1) $bad[] = "want 1 product with SKU " . getenv("WC_PRODUCT_SKU") . ", found " . count($ids);
  $p = $ids ? wc_get_product($ids[0]) : null;
  if ($p && !($p->get_status() === "publish" && $p->is_purchasable() && $p->is_in_stock()
              && !$p->get_manage_stock() && $p->get_regular_price() === wc_format_decimal(getenv("WC_PRODUCT_PRICE"))))
    $bad[] = "demo product " . $p->get_id() . " is not published/purchasable/in stock at " . getenv("WC_PRODUCT_PRICE");
  $cod = WC()->payment_gateways()->payment_gateways()["cod"] ?? null;
  if (!$cod || $cod->enabled !== "yes") $bad[] = "cash on delivery is not enabled";
  if (get_option("woocommerce_coming_soon") !== "no") $bad[] = "store is in coming-soon mode";
  if (!wc_get_page_id("cart") || wc_get_page_id("cart") < 1 || wc_get_page_id("checkout") < 1) $bad[] = "cart/checkout pages missing";
  $zones = array_filter(WC_Shipping_Zones::get_zones(), fn($z) => $z["zone_name"] === getenv("WC_ZONE_NAME"));
  if (count($zones) !== 1) $bad[] = "want 1 shipping zone " . getenv("WC_ZONE_NAME") . ", found " . count($zones);
  if ($bad) WP_CLI::error(implode("; ", $bad));
  echo "verified: product, payment, pages, shipping\n";
'

wp cache flush >/dev/null 2>&1 || true
log "done in $(( $(date +%s) - START ))s: $STORE_URL (product $product_id)"
