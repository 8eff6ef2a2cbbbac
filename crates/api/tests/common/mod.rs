//! The one way API tests start the app: on port 0, over a given state store, with three users
//! (an admin, alice and bob) whose tokens the test holds.

#![allow(clippy::expect_used, dead_code)] // shared by test binaries that each use part of it

use chrono::Utc;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use storefleet_api::{auth, metrics::HttpMetrics, ApiConfig, AppState};
use storefleet_domain::UserName;
use storefleet_state::{Role, StateStore};

/// A running app and the tokens of its users.
pub struct SpawnedApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub state: StateStore,
    /// The app's shared state, to tell it what `serve` learns from the database's notifications.
    pub app: AppState,
    pub admin: String,
    pub alice: String,
    pub bob: String,
}

/// Create the three users in `state`, then serve the app on a free port until the test ends.
pub async fn spawn_app(state: StateStore, config: ApiConfig) -> SpawnedApp {
    let admin = add_user(&state, "admin", Role::Admin).await;
    let alice = add_user(&state, "alice", Role::User).await;
    let bob = add_user(&state, "bob", Role::User).await;
    let mut registry = Registry::with_prefix("storefleet");
    let metrics = HttpMetrics::register(&mut registry);
    let app = AppState::new(state.clone(), config, None, metrics);
    let router = storefleet_api::app(app.clone(), Arc::new(registry));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(storefleet_api::serve(
        listener,
        router,
        std::future::pending(),
    ));
    SpawnedApp {
        base,
        state,
        app,
        admin,
        alice,
        bob,
    }
}

/// A user named `name` with a fresh token; the token is returned, only its hash is stored.
pub async fn add_user(state: &StateStore, name: &str, role: Role) -> String {
    let token = auth::generate_token();
    state
        .create_user(
            &UserName::parse(name).expect("a user name"),
            role,
            &auth::hash_token(&token),
            Utc::now(),
        )
        .await
        .expect("user");
    token
}
