//! The Secrets in a store's namespace and the keys in them, named once for every crate: the
//! orchestrator writes them, the order check and the owner's credential copy read them. The
//! engine charts (YAML) name the same keys literally; `engine_charts.rs` in the cluster crate
//! checks that the rendered charts use exactly these.

/// Secret holding the credentials the orchestrator generated for a store.
pub const CREDENTIALS_SECRET: &str = "store-credentials";
/// Secret an engine's setup Job writes its outputs to (Medusa's publishable API key).
pub const ENGINE_OUTPUTS_SECRET: &str = "store-engine-outputs";

/// Keys of a store's Secrets.
pub mod key {
    /// Engine admin user name ([`super::CREDENTIALS_SECRET`]).
    pub const ADMIN_USER: &str = "admin-user";
    /// Engine admin e-mail, the login of Medusa's admin ([`super::CREDENTIALS_SECRET`]).
    pub const ADMIN_EMAIL: &str = "admin-email";
    /// Engine admin password ([`super::CREDENTIALS_SECRET`]).
    pub const ADMIN_PASSWORD: &str = "admin-password";
    /// The store database's application password ([`super::CREDENTIALS_SECRET`]).
    pub const DB_PASSWORD: &str = "db-password";
    /// The store database's root password ([`super::CREDENTIALS_SECRET`]).
    pub const DB_ROOT_PASSWORD: &str = "db-root-password";
    /// Seed the engine derives its signing keys and salts from ([`super::CREDENTIALS_SECRET`]).
    pub const APP_SECRET: &str = "app-secret";
    /// Medusa's publishable storefront API key ([`super::ENGINE_OUTPUTS_SECRET`]).
    pub const PUBLISHABLE_KEY: &str = "publishable-key";
}

/// Every key the orchestrator writes to [`CREDENTIALS_SECRET`].
pub const CREDENTIAL_KEYS: [&str; 6] = [
    key::ADMIN_USER,
    key::ADMIN_EMAIL,
    key::ADMIN_PASSWORD,
    key::DB_PASSWORD,
    key::DB_ROOT_PASSWORD,
    key::APP_SECRET,
];
