//! The store record: identity, spec and observed status.

use crate::{Conditions, DeletionStep, Engine, Phase, Plan, StoreName, UserName};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A store's id: a UUID v7, so ids sort by creation time. A type of its own, so a user's
/// or an event's id cannot be passed where a store's is meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StoreId(Uuid);

impl StoreId {
    /// A new id for a store created now.
    pub fn now_v7() -> Self {
        Self(Uuid::now_v7())
    }

    /// Parse the text form (any UUID form `uuid` accepts).
    pub fn parse_str(text: &str) -> Result<Self, uuid::Error> {
        Uuid::parse_str(text).map(Self)
    }

    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }

    /// The id as 32 hex digits without hyphens.
    pub fn simple(&self) -> uuid::fmt::Simple {
        self.0.simple()
    }
}

impl From<Uuid> for StoreId {
    fn from(value: Uuid) -> Self {
        Self(value)
    }
}

impl From<StoreId> for Uuid {
    fn from(value: StoreId) -> Self {
        value.0
    }
}

impl std::str::FromStr for StoreId {
    type Err = uuid::Error;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse_str(text)
    }
}

impl std::fmt::Display for StoreId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The namespace a store lives in: `store-<name>-<last 6 hex of its id>`. Deterministic,
/// so a retried step finds what an earlier attempt created instead of making a second one.
pub fn namespace_for(name: &StoreName, id: StoreId) -> String {
    let hex = id.simple().to_string();
    let suffix = &hex[hex.len() - 6..];
    format!("store-{name}-{suffix}")
}

/// A store as the state store holds it: identity and placement, fixed when it is created;
/// the owner's intent ([`StoreSpec`]); the platform's observation ([`StoreStatus`]).
///
/// The halves have one writer each. Only the API changes the spec (and bumps `generation`
/// when it does); the orchestrator saves a [`StoreStatus`] alone, so no pass can change
/// what the owner asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Store {
    pub id: StoreId,
    pub spec: StoreSpec,
    pub status: StoreStatus,
    pub namespace: String,
    pub cluster: String,
    /// Provisioning that has not finished by then fails.
    pub deadline_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Bumped each time the desired state changes (create, delete).
    pub generation: i64,
}

/// What the owner asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreSpec {
    pub name: StoreName,
    pub owner: UserName,
    pub engine: Engine,
    pub plan: Plan,
    /// When the store is deleted for its owner; `None` lives until deleted.
    pub expires_at: Option<DateTime<Utc>>,
}

/// What the platform observed and did: the orchestrator's to write.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreStatus {
    pub phase: Phase,
    pub conditions: Conditions,
    /// Why the store failed or what it waits on, for people.
    pub message: Option<String>,
    pub storefront_url: Option<String>,
    pub admin_url: Option<String>,
    /// The generation the orchestrator last brought the cluster to.
    pub observed_generation: i64,
    /// Whether any step ever wrote to the cluster for this store.
    pub touched_cluster: bool,
    /// The last deletion step that finished; `None` until one has.
    pub deletion_done: Option<DeletionStep>,
}

impl StoreStatus {
    /// The status of a store just asked for: requested, nothing observed yet.
    pub fn requested() -> Self {
        Self {
            phase: Phase::Requested,
            conditions: Conditions::default(),
            message: None,
            storefront_url: None,
            admin_url: None,
            observed_generation: 0,
            touched_cluster: false,
            deletion_done: None,
        }
    }
}

/// Smallest and largest time-to-live a store may ask for.
pub const TTL_MIN_SECONDS: u64 = 300;
pub const TTL_MAX_SECONDS: u64 = 30 * 24 * 3600;

/// How long a store may live before it is deleted for its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ttl(u64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "ttl_seconds is {0}; allowed: {TTL_MIN_SECONDS} (5 minutes) to {TTL_MAX_SECONDS} (30 days)"
)]
pub struct TtlError(pub u64);

impl Ttl {
    pub fn from_seconds(seconds: u64) -> Result<Self, TtlError> {
        if (TTL_MIN_SECONDS..=TTL_MAX_SECONDS).contains(&seconds) {
            Ok(Self(seconds))
        } else {
            Err(TtlError(seconds))
        }
    }

    pub fn seconds(self) -> u64 {
        self.0
    }

    pub fn expiry_from(self, now: DateTime<Utc>) -> DateTime<Utc> {
        // In range by construction, so the cast cannot wrap.
        now + chrono::Duration::seconds(self.0 as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_namespace_is_derived_from_name_and_id() {
        let name = StoreName::parse("shop").expect("valid name");
        let id = StoreId::parse_str("0192f3a4-0000-7000-8000-00000abcdef1").expect("uuid");
        assert_eq!(namespace_for(&name, id), "store-shop-bcdef1");
    }

    #[test]
    fn the_longest_namespace_is_a_valid_label() {
        let name = StoreName::parse(&"a".repeat(30)).expect("valid name");
        assert!(namespace_for(&name, StoreId::now_v7()).len() <= 63);
    }

    #[test]
    fn ttl_outside_its_range_is_refused_with_the_range() {
        assert!(Ttl::from_seconds(299).is_err());
        assert!(Ttl::from_seconds(TTL_MAX_SECONDS + 1).is_err());
        assert_eq!(Ttl::from_seconds(3600).map(Ttl::seconds), Ok(3600));
        assert!(TtlError(1).to_string().contains("30 days"));
    }
}
