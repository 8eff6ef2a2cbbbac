//! Kubernetes-style conditions that record how far a store has come and why it stopped.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The provisioning milestones, in the order the orchestrator reaches them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum ConditionType {
    NamespaceReady,
    GuardrailsApplied,
    ReleaseInstalled,
    WorkloadsReady,
    StoreConfigured,
    OrderCheckPassed,
}

impl ConditionType {
    /// Provisioning order: each one needs the ones before it.
    pub const ORDER: [ConditionType; 6] = [
        ConditionType::NamespaceReady,
        ConditionType::GuardrailsApplied,
        ConditionType::ReleaseInstalled,
        ConditionType::WorkloadsReady,
        ConditionType::StoreConfigured,
        ConditionType::OrderCheckPassed,
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: ConditionType,
    pub status: ConditionStatus,
    /// CamelCase machine-readable cause, e.g. `Applied`, `HelmFailed`.
    pub reason: String,
    /// What a person should know, and what to do about it.
    pub message: String,
    pub last_transition_time: DateTime<Utc>,
}

/// The condition list of one store; at most one entry per type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Conditions(pub Vec<Condition>);

impl Conditions {
    pub fn get(&self, kind: ConditionType) -> Option<&Condition> {
        self.0.iter().find(|c| c.kind == kind)
    }

    pub fn is_true(&self, kind: ConditionType) -> bool {
        self.get(kind)
            .is_some_and(|c| c.status == ConditionStatus::True)
    }

    pub fn reason_of(&self, kind: ConditionType) -> Option<&str> {
        self.get(kind).map(|c| c.reason.as_str())
    }

    /// Record a condition. The transition time moves only when the status changes, so it
    /// says since when the store has been in this state, not when we last looked.
    pub fn set(
        &mut self,
        kind: ConditionType,
        status: ConditionStatus,
        reason: &str,
        message: &str,
        now: DateTime<Utc>,
    ) {
        match self.0.iter_mut().find(|c| c.kind == kind) {
            Some(existing) => {
                if existing.status != status {
                    existing.last_transition_time = now;
                }
                existing.status = status;
                reason.clone_into(&mut existing.reason);
                message.clone_into(&mut existing.message);
            }
            None => {
                self.0.push(Condition {
                    kind,
                    status,
                    reason: reason.to_owned(),
                    message: message.to_owned(),
                    last_transition_time: now,
                });
                self.0.sort_by_key(|c| {
                    ConditionType::ORDER
                        .iter()
                        .position(|k| *k == c.kind)
                        .unwrap_or(usize::MAX)
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).single().expect("valid time")
    }

    #[test]
    fn the_transition_time_stays_while_the_status_does_not_change() {
        let mut conditions = Conditions::default();
        let kind = ConditionType::WorkloadsReady;
        conditions.set(kind, ConditionStatus::False, "Waiting", "0/1", at(10));
        conditions.set(kind, ConditionStatus::False, "Waiting", "0/2", at(20));
        assert_eq!(
            conditions.get(kind).map(|c| c.last_transition_time),
            Some(at(10))
        );
        assert_eq!(
            conditions.get(kind).map(|c| c.message.as_str()),
            Some("0/2")
        );
        conditions.set(kind, ConditionStatus::True, "Ready", "all ready", at(30));
        assert_eq!(
            conditions.get(kind).map(|c| c.last_transition_time),
            Some(at(30))
        );
        assert!(conditions.is_true(kind));
    }

    #[test]
    fn conditions_are_kept_in_provisioning_order() {
        let mut conditions = Conditions::default();
        conditions.set(
            ConditionType::ReleaseInstalled,
            ConditionStatus::True,
            "A",
            "",
            at(1),
        );
        conditions.set(
            ConditionType::NamespaceReady,
            ConditionStatus::True,
            "A",
            "",
            at(1),
        );
        let kinds: Vec<_> = conditions.0.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            vec![
                ConditionType::NamespaceReady,
                ConditionType::ReleaseInstalled
            ]
        );
    }
}
