//! Plans: the size classes a store can have, each mapping to quota and default limits.

use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// A store's size class.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    #[default]
    Small,
    Medium,
}

/// Kubernetes quantities for a plan, as strings the API server parses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanLimits {
    /// ResourceQuota: sum of requests/limits over every pod in the store namespace.
    pub requests_cpu: &'static str,
    pub requests_memory: &'static str,
    pub limits_cpu: &'static str,
    pub limits_memory: &'static str,
    pub requests_storage: &'static str,
    pub persistent_volume_claims: &'static str,
    pub pods: &'static str,
    /// LimitRange: defaults for a container that sets none, and the largest PVC allowed.
    pub default_request_cpu: &'static str,
    pub default_request_memory: &'static str,
    pub default_limit_cpu: &'static str,
    pub default_limit_memory: &'static str,
    pub max_pvc_storage: &'static str,
}

impl Plan {
    pub const ALL: [Plan; 2] = [Plan::Small, Plan::Medium];

    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Small => "small",
            Plan::Medium => "medium",
        }
    }

    /// Sizes chosen so the engine charts' own requests fit with room for the setup Job.
    pub fn limits(self) -> PlanLimits {
        match self {
            Plan::Small => PlanLimits {
                requests_cpu: "1",
                requests_memory: "2Gi",
                limits_cpu: "2",
                limits_memory: "3Gi",
                requests_storage: "5Gi",
                persistent_volume_claims: "2",
                pods: "10",
                default_request_cpu: "50m",
                default_request_memory: "64Mi",
                default_limit_cpu: "500m",
                default_limit_memory: "256Mi",
                max_pvc_storage: "5Gi",
            },
            Plan::Medium => PlanLimits {
                requests_cpu: "2",
                requests_memory: "4Gi",
                limits_cpu: "4",
                limits_memory: "6Gi",
                requests_storage: "20Gi",
                persistent_volume_claims: "4",
                pods: "20",
                default_request_cpu: "100m",
                default_request_memory: "128Mi",
                default_limit_cpu: "1",
                default_limit_memory: "512Mi",
                max_pvc_storage: "20Gi",
            },
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown plan {0:?}; allowed: small, medium")]
pub struct UnknownPlan(pub String);

impl FromStr for Plan {
    type Err = UnknownPlan;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Plan::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPlan(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_round_trip_through_their_names() {
        for plan in Plan::ALL {
            assert_eq!(plan.as_str().parse::<Plan>(), Ok(plan));
        }
        assert_eq!(
            "large".parse::<Plan>(),
            Err(UnknownPlan("large".to_owned()))
        );
    }

    #[test]
    fn a_medium_store_gets_more_than_a_small_one() {
        assert_ne!(Plan::Small.limits(), Plan::Medium.limits());
        assert_eq!(Plan::default(), Plan::Small);
    }
}
