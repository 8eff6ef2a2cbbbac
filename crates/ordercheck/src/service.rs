//! The order check as something its user is handed: over HTTP for real ([`HttpOrderCheck`]),
//! scripted in tests (`fake`, feature `test-support`). The orchestrator holds an
//! `Arc<dyn OrderCheck>`, so it owns no HTTP client and a unit test needs no real store.

use crate::{place_test_order, OrderCheckFailure, OrderReport, Target};
use async_trait::async_trait;

#[async_trait]
pub trait OrderCheck: Send + Sync {
    /// Place one test order in `target`; see [`place_test_order`].
    async fn place_test_order(&self, target: &Target) -> Result<OrderReport, OrderCheckFailure>;
}

/// The real check through the store's storefront API, sharing one connection pool.
#[derive(Clone, Default)]
pub struct HttpOrderCheck {
    http: reqwest::Client,
}

impl HttpOrderCheck {
    pub fn new(http: reqwest::Client) -> Self {
        Self { http }
    }
}

#[async_trait]
impl OrderCheck for HttpOrderCheck {
    async fn place_test_order(&self, target: &Target) -> Result<OrderReport, OrderCheckFailure> {
        place_test_order(&self.http, target).await
    }
}
