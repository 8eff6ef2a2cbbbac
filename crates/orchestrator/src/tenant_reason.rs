//! What a tenant is told when a step fails: one reason from a closed set. The cluster's and
//! helm's own text (which names service accounts, internal addresses, chart paths, other
//! objects) goes only to the orchestrator's log, with the store's id (`reconcile::act`).

use storefleet_cluster::ClusterError;

/// Why a step failed, as a tenant may see it. No variant carries text from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantReason {
    /// The platform runs without a cluster (`serve` on a laptop before one exists).
    NoCluster,
    /// The API server (or helm's connection to it) could not be reached.
    ClusterUnreachable,
    /// The cluster, or helm, gave up waiting.
    TimedOut,
    /// The store's ResourceQuota does not admit what the step creates.
    QuotaExceeded,
    /// The orchestrator may not do this (RBAC or an admission policy).
    NotPermitted,
    /// Someone else changed the same object at the same moment.
    Conflict,
    /// Another helm operation on the store's release is still running.
    ReleaseBusy,
    /// The API server refused a request for any other reason (an invalid object).
    ClusterRefused,
    /// Helm refused or failed to install the release for any other reason.
    ReleaseRefused,
    /// The platform cannot install this engine at all (missing chart or helm): the operator's
    /// configuration, not something waiting fixes.
    PlatformMisconfigured,
    /// The store's setup Job ran out of retries.
    SetupFailed,
    /// The store's workloads cannot become ready.
    WorkloadsFailed,
}

impl TenantReason {
    /// Classify a driver error. Kubernetes' and helm's messages are matched on the few
    /// phrases that are stable API (`exceeded quota`, `is forbidden`, ...); anything else falls
    /// back to the error's kind.
    pub fn of(error: &ClusterError) -> Self {
        let text = match error {
            ClusterError::Unavailable(m)
            | ClusterError::Rejected(m)
            | ClusterError::Helm(m)
            | ClusterError::Permanent(m) => m.to_ascii_lowercase(),
        };
        let has = |phrases: &[&str]| phrases.iter().any(|p| text.contains(p));
        if let ClusterError::Permanent(_) = error {
            return TenantReason::PlatformMisconfigured;
        }
        if has(&["no kubernetes cluster configured"]) {
            return TenantReason::NoCluster;
        }
        if has(&["exceeded quota", "exceeds quota"]) {
            return TenantReason::QuotaExceeded;
        }
        if has(&["timed out", "timeout", "deadline exceeded"]) {
            return TenantReason::TimedOut;
        }
        match error {
            ClusterError::Unavailable(_) => TenantReason::ClusterUnreachable,
            // "Operation cannot be fulfilled ...: the object has been modified" is a conflict,
            // not a refusal: look for it before "cannot".
            ClusterError::Rejected(_)
                if has(&["the object has been modified", "conflict", "already exists"]) =>
            {
                TenantReason::Conflict
            }
            ClusterError::Rejected(_) if has(&["forbidden", "cannot ", "denied"]) => {
                TenantReason::NotPermitted
            }
            ClusterError::Rejected(_) => TenantReason::ClusterRefused,
            ClusterError::Helm(_) if has(&["another operation", "pending-"]) => {
                TenantReason::ReleaseBusy
            }
            ClusterError::Helm(_)
                if has(&["cluster unreachable", "connection refused", "no such host"]) =>
            {
                TenantReason::ClusterUnreachable
            }
            ClusterError::Helm(_) if has(&["forbidden", "denied"]) => TenantReason::NotPermitted,
            ClusterError::Helm(_) | ClusterError::Permanent(_) => TenantReason::ReleaseRefused,
        }
    }

    /// The reason of a step that failed for good, from its reason code.
    pub fn of_fatal(reason: &str) -> Self {
        match reason {
            "SetupFailed" => TenantReason::SetupFailed,
            "WorkloadsFailed" => TenantReason::WorkloadsFailed,
            _ => TenantReason::PlatformMisconfigured,
        }
    }

    /// What the tenant reads.
    pub fn message(self) -> &'static str {
        match self {
            TenantReason::NoCluster => "no Kubernetes cluster is configured yet",
            TenantReason::ClusterUnreachable => "the cluster is unreachable",
            TenantReason::TimedOut => "timed out waiting for the cluster",
            TenantReason::QuotaExceeded => "the store's resource quota does not allow it",
            TenantReason::NotPermitted => "the cluster did not permit the platform to do it",
            TenantReason::Conflict => "another change to the same object came first",
            TenantReason::ReleaseBusy => "another operation on the store's release is running",
            TenantReason::ClusterRefused => "the cluster refused the request",
            TenantReason::ReleaseRefused => "the cluster refused the store's release",
            TenantReason::PlatformMisconfigured => {
                "the platform cannot install this engine; its operator has been told"
            }
            TenantReason::SetupFailed => "the store's setup job failed after its retries",
            TenantReason::WorkloadsFailed => "the store's workloads cannot start",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ClusterError as E;
    use TenantReason as R;

    #[test]
    fn driver_errors_are_classified_from_their_kind_and_stable_phrases() {
        let cases = [
            (E::Unavailable("error trying to connect: tcp connect error: Connection refused (os error 111) to 10.96.0.1:443".into()), R::ClusterUnreachable),
            (E::Unavailable("operation timed out".into()), R::TimedOut),
            (E::Unavailable("no Kubernetes cluster configured (no kubeconfig found); set KUBECONFIG".into()), R::NoCluster),
            (E::Rejected("resourcequotas \"store\" is forbidden: exceeded quota: store, requested: limits.memory=2Gi".into()), R::QuotaExceeded),
            (E::Rejected("rolebindings.rbac.authorization.k8s.io is forbidden: User \"system:serviceaccount:storefleet:storefleet-orchestrator\" cannot create resource".into()), R::NotPermitted),
            (E::Rejected("Operation cannot be fulfilled on namespaces \"store-x\": the object has been modified".into()), R::Conflict),
            (E::Rejected("namespaces \"store-x\" already exists".into()), R::Conflict),
            (E::Rejected("NetworkPolicy.networking.k8s.io \"deny\" is invalid: spec.podSelector".into()), R::ClusterRefused),
            (E::Helm("Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress".into()), R::ReleaseBusy),
            (E::Helm("release is pending-install since 3 s; waiting".into()), R::ReleaseBusy),
            (E::Helm("helm upgrade timed out after 300 s".into()), R::TimedOut),
            (E::Helm("Error: INSTALLATION FAILED: pods \"x\" is forbidden: exceeded quota: store".into()), R::QuotaExceeded),
            (E::Helm("Error: INSTALLATION FAILED: admission webhook \"x\" denied the request".into()), R::NotPermitted),
            (E::Helm("Error: INSTALLATION FAILED: template: medusa/templates/x.yaml:3: bad".into()), R::ReleaseRefused),
            (E::Permanent("engine chart /opt/storefleet/charts/medusa not found; set --charts-dir".into()), R::PlatformMisconfigured),
        ];
        for (error, want) in cases {
            assert_eq!(R::of(&error), want, "{error}");
        }
    }

    #[test]
    fn fatal_reasons_map_to_their_own_text() {
        assert_eq!(R::of_fatal("SetupFailed"), R::SetupFailed);
        assert_eq!(R::of_fatal("WorkloadsFailed"), R::WorkloadsFailed);
        assert_eq!(R::of_fatal("ReleaseImpossible"), R::PlatformMisconfigured);
    }
}
