//! How a store's facts read on every dashboard page: times, links, condition names, progress,
//! and the store as a row (the list's row, the store page's header).

use chrono::{DateTime, Utc};
use serde::Serialize;
use storefleet_domain::{Condition, ConditionStatus, ConditionType, Phase, Store, StoreHosts};

pub(super) fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Only web addresses become links; anything else (`javascript:`…) is never clickable.
pub(super) fn web_url(url: Option<String>) -> Option<String> {
    url.filter(|u| u.starts_with("https://") || u.starts_with("http://"))
}

pub(super) fn condition_name(kind: ConditionType) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// "done/total", then the first condition that is not yet true and why (the script does the same).
fn progress(conditions: &[Condition]) -> String {
    let done = conditions
        .iter()
        .filter(|c| c.status == ConditionStatus::True)
        .count();
    let total = ConditionType::ORDER.len();
    match conditions
        .iter()
        .find(|c| c.status != ConditionStatus::True)
    {
        Some(c) => format!("{done}/{total} · {}: {}", condition_name(c.kind), c.reason),
        None => format!("{done}/{total}"),
    }
}

/// The step being retried after failing, as "Step: message", while the store is provisioning:
/// what makes a store look like it keeps failing.
pub(super) fn failing_step(store: &Store) -> Option<String> {
    if store.status.phase != Phase::Provisioning {
        return None;
    }
    store
        .status
        .conditions
        .0
        .iter()
        .find(|c| c.status == ConditionStatus::False && c.reason == "Retrying")
        .map(|c| format!("{}: {}", condition_name(c.kind), c.message))
}

#[derive(Serialize)]
pub(super) struct StoreRow {
    id: String,
    name: String,
    /// Where the store is served, known from creation.
    host: String,
    owner: String,
    engine: &'static str,
    plan: &'static str,
    phase: &'static str,
    progress: String,
    message: Option<String>,
    storefront_url: Option<String>,
    admin_url: Option<String>,
    created: String,
    created_iso: String,
    expires: Option<String>,
    deletable: bool,
}

impl StoreRow {
    pub(super) fn new(s: &Store, hosts: &StoreHosts) -> Self {
        let gone = s.status.phase == Phase::Deleted;
        Self {
            id: s.id.to_string(),
            host: hosts.host(&s.spec.name),
            name: s.spec.name.to_string(),
            owner: s.spec.owner.to_string(),
            engine: s.spec.engine.as_str(),
            plan: s.spec.plan.as_str(),
            phase: s.status.phase.as_str(),
            // A deleted store has no live links, no "retrying" and no stale conditions.
            progress: if gone {
                String::new()
            } else {
                progress(&s.status.conditions.0)
            },
            message: if gone { None } else { s.status.message.clone() },
            storefront_url: web_url(s.status.storefront_url.clone()).filter(|_| !gone),
            admin_url: web_url(s.status.admin_url.clone()).filter(|_| !gone),
            created: time(s.created_at),
            created_iso: s.created_at.to_rfc3339(),
            expires: s.spec.expires_at.map(time),
            deletable: !matches!(s.status.phase, Phase::Deleting | Phase::Deleted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_counts_true_conditions_and_names_the_first_blocker() {
        let at = Utc::now();
        let condition = |kind, status, reason: &str| Condition {
            kind,
            status,
            reason: reason.to_owned(),
            message: String::new(),
            last_transition_time: at,
        };
        assert_eq!(progress(&[]), "0/6");
        let conditions = [
            condition(
                ConditionType::NamespaceReady,
                ConditionStatus::True,
                "Created",
            ),
            condition(
                ConditionType::GuardrailsApplied,
                ConditionStatus::False,
                "Retrying",
            ),
        ];
        assert_eq!(progress(&conditions), "1/6 · GuardrailsApplied: Retrying");
    }

    #[test]
    fn only_web_addresses_become_links() {
        assert_eq!(
            web_url(Some("https://shop.example".to_owned())),
            Some("https://shop.example".to_owned())
        );
        assert_eq!(web_url(Some("javascript:alert(1)".to_owned())), None);
    }
}
