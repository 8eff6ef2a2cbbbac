<?php
/**
 * Plugin Name: Storefleet mail suppression
 * Description: Store namespaces have no mail server; make wp_mail() report success
 *              without sending, so orders, sign-ups and password resets do not fail.
 */
add_filter('pre_wp_mail', '__return_true', 10, 0);
