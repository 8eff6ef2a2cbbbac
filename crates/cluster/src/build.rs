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
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;
use storefleet_domain::secrets::key;
use storefleet_domain::{Engine, Store};

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

/// Cloud instance-metadata and host-agent addresses (AWS IMDS, ECS task and EKS pod
/// identity agents; GCP, Azure, DigitalOcean, Hetzner, OpenStack; Azure WireServer; Oracle's
/// legacy endpoint; Alibaba; Tencent). Credentials of the node live behind them. Most lie in
/// [`PRIVATE_RANGES`] already; every one is excepted by name anyway, so no rule can reach one
/// by a change to the ranges. Store pods have no IPv6 egress rule at all, which keeps the IPv6
/// ones (`fd00:ec2::254`, `fd00:ec2::23`, GCP's `fd20:ce::254`) out of reach.
pub const CLOUD_METADATA: [&str; 8] = [
    "169.254.169.254/32",
    "169.254.170.2/32",
    "169.254.170.23/32",
    "169.254.0.23/32",
    "100.100.100.200/32",
    "168.63.129.16/32",
    "192.0.0.192/32",
    "169.254.169.123/32",
];

/// Pod Security Standard a store namespace enforces for `engine`: the strictest level every
/// pod of that engine's chart passes (proved on a real API server in `tests/store_fence.rs`).
/// WordPress runs as uid 33 with the "safe" sysctl `net.ipv4.ip_unprivileged_port_start` to
/// bind port 80 (`wordpress.rootless`, the chart's default), so both engines pass `restricted`;
/// the chart's `rootless: false` mode (root, seven capabilities) would need `baseline`.
pub fn pod_security_level(engine: Engine) -> &'static str {
    match engine {
        Engine::Woocommerce | Engine::Medusa => "restricted",
    }
}

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
    labels.insert(OWNER_LABEL.to_owned(), store.spec.owner.to_string());
    labels.insert(INSTANCE_LABEL.to_owned(), settings.instance.clone());
    if !settings.installation.is_empty() {
        labels.insert(INSTALLATION_LABEL.to_owned(), settings.installation.clone());
    }
    // Pod Security admission: refuse pods below the engine's level; warn and audit below
    // `restricted` whatever the engine, so a laxer engine still shows what it lacks.
    let level = pod_security_level(store.spec.engine);
    for (mode, level) in [
        ("enforce", level),
        ("warn", "restricted"),
        ("audit", "restricted"),
    ] {
        labels.insert(
            format!("pod-security.kubernetes.io/{mode}"),
            level.to_owned(),
        );
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
    let l = store.spec.plan.limits();
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
    let l = store.spec.plan.limits();
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

/// Pods with all of `labels` in the namespace `namespace`.
fn pods_in(namespace: &str, labels: &BTreeMap<String, String>) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(LabelSelector {
            match_labels: Some(labels.clone()),
            ..LabelSelector::default()
        }),
        ..namespace_peer(&[namespace.to_owned()])
    }
}

fn same_namespace_peer() -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(LabelSelector::default()),
        ..NetworkPolicyPeer::default()
    }
}

fn tcp_port(port: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(port)),
        protocol: Some("TCP".to_owned()),
        ..NetworkPolicyPort::default()
    }
}

fn ip_block(cidr: &str, except: &[&str]) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        ip_block: Some(IPBlock {
            cidr: cidr.to_owned(),
            except: (!except.is_empty()).then(|| except.iter().map(|r| (*r).to_owned()).collect()),
        }),
        ..NetworkPolicyPeer::default()
    }
}

/// The [`CLOUD_METADATA`] addresses strictly inside `cidr` (an `except` must be), so a
/// broad API range such as `0.0.0.0/0` (k3d, whose node address moves) still excludes them.
fn metadata_inside(cidr: &str) -> Vec<&'static str> {
    let Ok(net) = cidr.parse::<ipnet::IpNet>() else {
        return Vec::new();
    };
    CLOUD_METADATA
        .iter()
        .copied()
        .filter(|m| {
            m.parse::<ipnet::IpNet>()
                .is_ok_and(|m| net.contains(&m) && net.prefix_len() < m.prefix_len())
        })
        .collect()
}

/// Label of the platform's orchestrator pods (the platform chart's component label): the
/// only platform pods that reach a store (its order check through the Service).
pub const ORCHESTRATOR_POD_LABEL: (&str, &str) = ("app.kubernetes.io/component", "orchestrator");

/// Deny everything, then allow: traffic inside the namespace; in, on the engine's web port
/// only, from the ingress controller's pods and the platform's orchestrator; out, to DNS and
/// to the public internet minus private ranges and cloud metadata addresses.
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
    let orchestrator = BTreeMap::from([(
        ORCHESTRATOR_POD_LABEL.0.to_owned(),
        ORCHESTRATOR_POD_LABEL.1.to_owned(),
    )]);
    let mut web_peers: Vec<NetworkPolicyPeer> = settings
        .ingress_from
        .iter()
        .map(|peer| pods_in(&peer.namespace, &peer.pod_labels))
        .collect();
    web_peers.push(pods_in(&settings.platform_namespace, &orchestrator));
    let internet_except: Vec<&str> = PRIVATE_RANGES
        .iter()
        .chain(CLOUD_METADATA.iter())
        .copied()
        .collect();
    let allow = NetworkPolicy {
        metadata: meta(store, "storefleet-allow"),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Ingress".to_owned(), "Egress".to_owned()]),
            ingress: Some(vec![
                NetworkPolicyIngressRule {
                    from: Some(vec![same_namespace_peer()]),
                    ..NetworkPolicyIngressRule::default()
                },
                NetworkPolicyIngressRule {
                    from: Some(web_peers),
                    ports: Some(vec![tcp_port(i32::from(crate::web_port(
                        store.spec.engine,
                    )))]),
                },
            ]),
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
                    to: Some(vec![ip_block("0.0.0.0/0", &internet_except)]),
                    ..NetworkPolicyEgressRule::default()
                },
            ]),
        }),
    };
    // The engine's setup Job writes its outputs (Medusa's publishable key) through the API
    // server, whose address is private. Only pods that carry this label may reach it: its
    // addresses when they are known, else any address but the metadata ones, on its ports.
    let api_peers = if settings.kube_api_cidrs.is_empty() {
        vec![ip_block("0.0.0.0/0", &CLOUD_METADATA)]
    } else {
        settings
            .kube_api_cidrs
            .iter()
            .map(|cidr| ip_block(cidr, &metadata_inside(cidr)))
            .collect()
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
                to: Some(api_peers),
                ports: Some(vec![tcp_port(443), tcp_port(6443)]),
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

/// Name of the Role (and its RoleBinding) the engine charts are installed under.
pub const DEPLOYER_ROLE: &str = "storefleet-store-deployer";

/// What helm may do in a store namespace, impersonating [`ClusterSettings::store_deployer`]:
/// the kinds the engine charts render (checked by `tests/engine_charts.rs`) and helm's release
/// records (Secrets). No NetworkPolicies, ResourceQuotas, LimitRanges or Pods: a chart cannot
/// open the fence, lift the quota or start a pod outside a workload. Roles and RoleBindings
/// stay (Medusa's setup Job gets one Secret through them): RBAC's escalation check caps what a
/// chart's Role grants at these rules, and binding a ClusterRole needs rights it lacks.
pub fn deployer_role(store: &Store) -> Role {
    let all = [
        "get", "list", "watch", "create", "update", "patch", "delete",
    ];
    let rule = |group: &str, resources: &[&str]| PolicyRule {
        api_groups: Some(vec![group.to_owned()]),
        resources: Some(resources.iter().map(|r| (*r).to_owned()).collect()),
        verbs: all.iter().map(|v| (*v).to_owned()).collect(),
        ..PolicyRule::default()
    };
    Role {
        metadata: meta(store, DEPLOYER_ROLE),
        rules: Some(vec![
            rule(
                "",
                &[
                    "secrets",
                    "configmaps",
                    "services",
                    "persistentvolumeclaims",
                    "serviceaccounts",
                ],
            ),
            rule("apps", &["deployments", "statefulsets"]),
            rule("batch", &["jobs"]),
            rule("networking.k8s.io", &["ingresses"]),
            rule("rbac.authorization.k8s.io", &["roles", "rolebindings"]),
        ]),
    }
}

/// Binds [`deployer_role`] to the user helm impersonates, in this namespace only.
pub fn deployer_role_binding(store: &Store, settings: &ClusterSettings) -> RoleBinding {
    RoleBinding {
        metadata: meta(store, DEPLOYER_ROLE),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".to_owned(),
            kind: "Role".to_owned(),
            name: DEPLOYER_ROLE.to_owned(),
        },
        subjects: Some(vec![Subject {
            kind: "User".to_owned(),
            name: settings.store_deployer.clone(),
            api_group: Some("rbac.authorization.k8s.io".to_owned()),
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
            admin_email: format!("admin@{}.stores.storefleet.invalid", store.spec.name),
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
            (key::ADMIN_USER.to_owned(), credentials.admin_user.clone()),
            (key::ADMIN_EMAIL.to_owned(), credentials.admin_email.clone()),
            (
                key::ADMIN_PASSWORD.to_owned(),
                credentials.admin_password.clone(),
            ),
            (key::DB_PASSWORD.to_owned(), credentials.db_password.clone()),
            (
                key::DB_ROOT_PASSWORD.to_owned(),
                credentials.db_root_password.clone(),
            ),
            (key::APP_SECRET.to_owned(), credentials.app_secret.clone()),
        ])),
        ..Secret::default()
    }
}

/// Values for the engine chart. Written to a file for `helm -f`, never passed with `--set`.
pub fn helm_values(store: &Store, settings: &ClusterSettings) -> serde_json::Value {
    serde_json::json!({
        "store": { "id": store.id.to_string(), "name": store.spec.name.as_str() },
        "plan": store.spec.plan.as_str(),
        "ingress": {
            "enabled": true,
            "host": settings.store_host(store),
            "className": settings.ingress_class.clone().unwrap_or_default(),
            "tlsIssuer": settings.tls_issuer.clone().unwrap_or_default(),
        },
        "credentials": { "secretName": CREDENTIALS_SECRET },
    })
}
