<?php
// Idempotent shipping setup for Storefleet, run with `wp eval-file` (WordPress and
// WooCommerce loaded). Inputs from the environment:
//   WC_ZONE_NAME, WC_ZONE_COUNTRIES (comma-separated ISO codes),
//   WC_FLAT_RATE_TITLE, WC_FLAT_RATE_COST, WC_REST_OF_WORLD ("true"/"false")

$zone_name = getenv('WC_ZONE_NAME') ?: 'Domestic';
$countries = array_values(array_filter(array_map('trim', explode(',', strtoupper(getenv('WC_ZONE_COUNTRIES') ?: 'DE')))));
$title = getenv('WC_FLAT_RATE_TITLE') ?: 'Flat rate';
$cost = getenv('WC_FLAT_RATE_COST') ?: '5';
$rest_of_world = getenv('WC_REST_OF_WORLD') === 'true';

function storefleet_ensure_flat_rate(WC_Shipping_Zone $zone, string $title, string $cost): void {
    $instance_id = 0;
    foreach ($zone->get_shipping_methods(false) as $method) {
        if ($method->id === 'flat_rate') {
            $instance_id = (int) $method->instance_id;
            break;
        }
    }
    if (!$instance_id) {
        $instance_id = (int) $zone->add_shipping_method('flat_rate');
    }
    if (!$instance_id) {
        WP_CLI::error("could not add a flat rate to zone '{$zone->get_zone_name()}'");
    }
    // Instance settings live in option woocommerce_flat_rate_<instance>_settings.
    $key = "woocommerce_flat_rate_{$instance_id}_settings";
    $settings = get_option($key, array());
    $settings = array_merge(is_array($settings) ? $settings : array(), array(
        'title' => $title,
        'tax_status' => 'none',
        'cost' => $cost,
    ));
    update_option($key, $settings);
    global $wpdb;
    $wpdb->update("{$wpdb->prefix}woocommerce_shipping_zone_methods",
        array('is_enabled' => 1), array('instance_id' => $instance_id));
    WP_CLI::log("flat rate '{$title}' ({$cost}) on zone '{$zone->get_zone_name()}' (instance {$instance_id})");
}

$zone = null;
foreach (WC_Shipping_Zones::get_zones() as $z) {
    if ($z['zone_name'] === $zone_name) {
        $zone = new WC_Shipping_Zone((int) $z['id']);
        break;
    }
}
if (!$zone) {
    $zone = new WC_Shipping_Zone();
    $zone->set_zone_name($zone_name);
    $zone->set_zone_order(0);
}
$zone->set_locations(array_map(fn($c) => array('code' => $c, 'type' => 'country'), $countries));
$zone->save();
WP_CLI::log("shipping zone '{$zone_name}' (id {$zone->get_id()}): " . implode(',', $countries));
storefleet_ensure_flat_rate($zone, $title, $cost);

if ($rest_of_world) {
    // Zone 0 = "Locations not covered by your other zones".
    storefleet_ensure_flat_rate(new WC_Shipping_Zone(0), $title, $cost);
}
WC_Cache_Helper::get_transient_version('shipping', true);
