//! Storefleet's domain: what a store is and how it moves through its life. Pure data and decisions, no I/O.

pub mod condition;
pub mod engine;
#[cfg(any(test, feature = "test-support"))]
pub mod fixtures;
pub mod hostname;
pub mod hosts;
pub mod lifecycle;
pub mod name;
pub mod plan;
pub mod secrets;
pub mod store;
pub mod user_name;

pub use condition::{Condition, ConditionStatus, ConditionType, Conditions};
pub use engine::Engine;
pub use hostname::{DomainError, StoreDomain};
pub use hosts::{ReservedName, StoreHosts, RESERVED_NAMES};
pub use lifecycle::{next_action, Action, DeletionStep, Phase, Step};
pub use name::{NameError, StoreName};
pub use plan::{Plan, PlanLimits};
pub use store::{namespace_for, Store, StoreId, StoreSpec, StoreStatus, Ttl, TtlError};
pub use user_name::{UserName, UserNameError, USER_NAME_RULE};
