//! Pure functions from a store to the Kubernetes objects that fence it in. No I/O.

use crate::{
    ClusterSettings, CREDENTIALS_SECRET, INSTALLATION_LABEL, INSTANCE_LABEL, MANAGED_BY,
    OWNER_LABEL, STORE_ID_LABEL,
};
use k8s_openapi::api::core::v1::{
    LimitRange, LimitRangeItem, LimitRangeSpec, Namespace, ResourceQuota, ResourceQuotaSpec, Secret,
};
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;
use storefleet_domain::Store;

/// Private and link-local ranges a store may not reach: the cluster's own network and the
/// cloud metadata endpoint stay out of reach of a compromised store.
pub const PRIVATE_RANGES: [&str; 6] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "100.64.0.0/10",
    "127.0.0.0/8",
];

pub fn labels(store: &Store) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned()),
        (STORE_ID_LABEL.to_owned(), store.id.to_string()),
    ])
}

fn meta(store: &Store, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(store.namespace.clone()),
        labels: Some(labels(store)),
        ..ObjectMeta::default()
    }
}

pub fn namespace(store: &Store, settings: &ClusterSettings) -> Namespace {
    let mut labels = labels(store);
    labels.insert(OWNER_LABEL.to_owned(), store.owner.clone());
    labels.insert(INSTANCE_LABEL.to_owned(), settings.instance.clone());
    if !settings.installation.is_empty() {
        labels.insert(INSTALLATION_LABEL.to_owned(), settings.installation.clone());
    }
    Namespace {
        metadata: ObjectMeta {
            name: Some(store.namespace.clone()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    }
}

fn quantities(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Quantity((*v).to_owned())))
        .collect()
}

pub fn resource_quota(store: &Store) -> ResourceQuota {
    let l = store.plan.limits();
    ResourceQuota {
        metadata: meta(store, "store-quota"),
        spec: Some(ResourceQuotaSpec {
            hard: Some(quantities(&[
                ("requests.cpu", l.requests_cpu),
                ("requests.memory", l.requests_memory),
                ("limits.cpu", l.limits_cpu),
                ("limits.memory", l.limits_memory),
                ("requests.storage", l.requests_storage),
                ("persistentvolumeclaims", l.persistent_volume_claims),
                ("pods", l.pods),
                ("services.loadbalancers", "0"),
                ("services.nodeports", "0"),
            ])),
            ..ResourceQuotaSpec::default()
        }),
        ..ResourceQuota::default()
    }
}

pub fn limit_range(store: &Store) -> LimitRange {
    let l = store.plan.limits();
    LimitRange {
        metadata: meta(store, "store-limits"),
        spec: Some(LimitRangeSpec {
            limits: vec![
                LimitRangeItem {
                    type_: "Container".to_owned(),
                    default_request: Some(quantities(&[
                        ("cpu", l.default_request_cpu),
                        ("memory", l.default_request_memory),
                    ])),
                    default: Some(quantities(&[
                        ("cpu", l.default_limit_cpu),
                        ("memory", l.default_limit_memory),
                    ])),
                    ..LimitRangeItem::default()
                },
                LimitRangeItem {
                    type_: "PersistentVolumeClaim".to_owned(),
                    max: Some(quantities(&[("storage", l.max_pvc_storage)])),
                    ..LimitRangeItem::default()
                },
            ],
        }),
    }
}

fn namespace_peer(names: &[String]) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "kubernetes.io/metadata.name".to_owned(),
                operator: "In".to_owned(),
                values: Some(names.to_vec()),
            }]),
            ..LabelSelector::default()
        }),
        ..NetworkPolicyPeer::default()
    }
}

fn same_namespace_peer() -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(LabelSelector::default()),
        ..NetworkPolicyPeer::default()
    }
}

/// Deny everything, then allow: traffic inside the namespace, ingress from the ingress
/// controller and the platform, egress to DNS and to the public internet minus private ranges.
pub fn network_policies(store: &Store, settings: &ClusterSettings) -> Vec<NetworkPolicy> {
    let deny = NetworkPolicy {
        metadata: meta(store, "default-deny-all"),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Ingress".to_owned(), "Egress".to_owned()]),
            ..NetworkPolicySpec::default()
        }),
    };
    let dns_port = |protocol: &str| NetworkPolicyPort {
        port: Some(IntOrString::Int(53)),
        protocol: Some(protocol.to_owned()),
        ..NetworkPolicyPort::default()
    };
    let allow = NetworkPolicy {
        metadata: meta(store, "storefleet-allow"),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Ingress".to_owned(), "Egress".to_owned()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![
                    same_namespace_peer(),
                    namespace_peer(&settings.ingress_namespaces),
                    namespace_peer(std::slice::from_ref(&settings.platform_namespace)),
                ]),
                ..NetworkPolicyIngressRule::default()
            }]),
            egress: Some(vec![
                NetworkPolicyEgressRule {
                    to: Some(vec![same_namespace_peer()]),
                    ..NetworkPolicyEgressRule::default()
                },
                NetworkPolicyEgressRule {
                    to: Some(vec![namespace_peer(&["kube-system".to_owned()])]),
                    ports: Some(vec![dns_port("UDP"), dns_port("TCP")]),
                },
                NetworkPolicyEgressRule {
                    to: Some(vec![NetworkPolicyPeer {
                        ip_block: Some(IPBlock {
                            cidr: "0.0.0.0/0".to_owned(),
                            except: Some(PRIVATE_RANGES.iter().map(|r| (*r).to_owned()).collect()),
                        }),
                        ..NetworkPolicyPeer::default()
                    }]),
                    ..NetworkPolicyEgressRule::default()
                },
            ]),
        }),
    };
    // The engine's setup Job writes its outputs (Medusa's publishable key) through the API
    // server, whose address is private. Only pods that carry this label may reach it, and only
    // on the API server's ports.
    let api_port = |port: i32| NetworkPolicyPort {
        port: Some(IntOrString::Int(port)),
        protocol: Some("TCP".to_owned()),
        ..NetworkPolicyPort::default()
    };
    let kube_api = NetworkPolicy {
        metadata: meta(store, "storefleet-allow-kube-api"),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([(
                    KUBE_API_ACCESS_LABEL.to_owned(),
                    "true".to_owned(),
                )])),
                ..LabelSelector::default()
            }),
            policy_types: Some(vec!["Egress".to_owned()]),
            egress: Some(vec![NetworkPolicyEgressRule {
                to: Some(vec![NetworkPolicyPeer {
                    ip_block: Some(IPBlock {
                        cidr: "0.0.0.0/0".to_owned(),
                        except: None,
                    }),
                    ..NetworkPolicyPeer::default()
                }]),
                ports: Some(vec![api_port(443), api_port(6443)]),
            }]),
            ..NetworkPolicySpec::default()
        }),
    };
    vec![deny, allow, kube_api]
}

/// Pod label that lets a store pod (the engine's setup Job) reach the Kubernetes API server.
pub const KUBE_API_ACCESS_LABEL: &str = "storefleet.io/kube-api-access";

/// Binds the store-admin ClusterRole to the orchestrator in this namespace only.
pub fn role_binding(store: &Store, settings: &ClusterSettings) -> RoleBinding {
    let (sa_namespace, sa_name) = &settings.orchestrator_service_account;
    RoleBinding {
        metadata: meta(store, "storefleet-orchestrator"),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".to_owned(),
            kind: "ClusterRole".to_owned(),
            name: settings.store_admin_role.clone(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_owned(),
            name: sa_name.clone(),
            namespace: Some(sa_namespace.clone()),
            ..Subject::default()
        }]),
    }
}

/// Generated credentials of one store, as the engine charts expect them.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub admin_user: String,
    pub admin_email: String,
    pub admin_password: String,
    pub db_password: String,
    pub db_root_password: String,
    pub app_secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials { .. }")
    }
}

impl Credentials {
    pub fn generate(store: &Store) -> Self {
        Self {
            admin_user: "admin".to_owned(),
            admin_email: format!("admin@{}.stores.storefleet.invalid", store.name),
            admin_password: random_secret(24),
            db_password: random_secret(32),
            db_root_password: random_secret(32),
            app_secret: random_secret(48),
        }
    }
}

fn random_secret(len: usize) -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), len)
}

pub fn credentials_secret(store: &Store, credentials: &Credentials) -> Secret {
    Secret {
        metadata: meta(store, CREDENTIALS_SECRET),
        type_: Some("Opaque".to_owned()),
        string_data: Some(BTreeMap::from([
            ("admin-user".to_owned(), credentials.admin_user.clone()),
            ("admin-email".to_owned(), credentials.admin_email.clone()),
            (
                "admin-password".to_owned(),
                credentials.admin_password.clone(),
            ),
            ("db-password".to_owned(), credentials.db_password.clone()),
            (
                "db-root-password".to_owned(),
                credentials.db_root_password.clone(),
            ),
            ("app-secret".to_owned(), credentials.app_secret.clone()),
        ])),
        ..Secret::default()
    }
}

/// Values for the engine chart. Written to a file for `helm -f`, never passed with `--set`.
pub fn helm_values(store: &Store, settings: &ClusterSettings) -> serde_json::Value {
    serde_json::json!({
        "store": { "id": store.id.to_string(), "name": store.name.as_str() },
        "plan": store.plan.as_str(),
        "ingress": {
            "enabled": true,
            "host": settings.store_host(store),
            "className": settings.ingress_class.clone().unwrap_or_default(),
            "tlsIssuer": settings.tls_issuer.clone().unwrap_or_default(),
        },
        "credentials": { "secretName": CREDENTIALS_SECRET },
    })
}
