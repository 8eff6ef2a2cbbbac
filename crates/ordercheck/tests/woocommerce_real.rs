#![allow(clippy::expect_used, clippy::unwrap_used)]
//! The order check against a real WooCommerce store, when one is given:
//!
//!   STOREFLEET_TEST_WOO_URL=https://shop.example.test cargo test -p storefleet-ordercheck --test woocommerce_real
//!
//! The store must be set up like the Storefleet chart does it (WooCommerce active, coming
//! soon off, cash on delivery enabled, a shipping zone, a purchasable product — SKU
//! `STOREFLEET-DEMO-1` preferred). The Store API needs no credentials; this places real
//! (marked) orders in that store. WooCommerce is on no package registry, so CI covers the
//! client with `store_api_shapes.rs` and skips this test.

use std::time::Duration;
use storefleet_ordercheck::{
    is_test_order_email, place_test_order, Engine, StoreCredentials, Target,
};

#[tokio::test]
async fn woocommerce_real_store_takes_an_order() {
    let Some(url) = std::env::var("STOREFLEET_TEST_WOO_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    else {
        storefleet_testkit::skip("no WooCommerce: set STOREFLEET_TEST_WOO_URL");
        return;
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let target = Target::new(Engine::Woocommerce, url, StoreCredentials::default());
    for n in 1..=3 {
        let report = place_test_order(&http, &target)
            .await
            .unwrap_or_else(|e| panic!("order {n}: {e}"));
        assert!(is_test_order_email(&report.email));
        assert!(
            report.order_id.parse::<u64>().is_ok_and(|id| id > 0),
            "WooCommerce order ids are numbers: {}",
            report.order_id
        );
        let steps: Vec<String> = report
            .steps
            .iter()
            .map(|s| format!("{}={} ms", s.step, s.duration.as_millis()))
            .collect();
        println!(
            "order-check woocommerce order {n}: {} in {} ms ({})",
            report.order_id,
            report.total.as_millis(),
            steps.join(", ")
        );
    }
}
