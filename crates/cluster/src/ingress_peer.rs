//! The ingress controller's pods, as store NetworkPolicies admit them: parsed from
//! `NAMESPACE:KEY=VALUE[,KEY=VALUE…]` at the boundary so only valid selectors exist.

use std::collections::BTreeMap;

/// Pods of one namespace, chosen by labels, that may reach a store's web port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressPeer {
    pub namespace: String,
    /// Every label must match. Never empty: a whole namespace is not an ingress controller.
    pub pod_labels: BTreeMap<String, String>,
}

impl IngressPeer {
    /// k3s/k3d's bundled Traefik, Traefik's own chart, and ingress-nginx, by their charts'
    /// `app.kubernetes.io/name` labels.
    pub fn defaults() -> Vec<Self> {
        [
            ("kube-system", "traefik"),
            ("traefik", "traefik"),
            ("ingress-nginx", "ingress-nginx"),
        ]
        .into_iter()
        .map(|(namespace, name)| Self {
            namespace: namespace.to_owned(),
            pod_labels: BTreeMap::from([("app.kubernetes.io/name".to_owned(), name.to_owned())]),
        })
        .collect()
    }

    /// `NAMESPACE:KEY=VALUE[,KEY=VALUE…]`, e.g. `kube-system:app.kubernetes.io/name=traefik`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (namespace, selector) = text.trim().split_once(':').ok_or_else(|| {
            format!("{text:?}: expected NAMESPACE:KEY=VALUE[,KEY=VALUE…] (the ingress controller's pods)")
        })?;
        if !is_dns_label(namespace) {
            return Err(format!("{namespace:?} is not a namespace name"));
        }
        let mut pod_labels = BTreeMap::new();
        for pair in selector.split(',').filter(|p| !p.trim().is_empty()) {
            let (key, value) = pair
                .trim()
                .split_once('=')
                .ok_or_else(|| format!("{pair:?}: expected KEY=VALUE"))?;
            if !is_label_key(key) {
                return Err(format!("{key:?} is not a label key"));
            }
            if !(value.is_empty() || is_label_name(value)) {
                return Err(format!("{value:?} is not a label value"));
            }
            pod_labels.insert(key.to_owned(), value.to_owned());
        }
        if pod_labels.is_empty() {
            return Err(format!(
                "{text:?}: name the ingress controller's pods by at least one label, not a whole namespace"
            ));
        }
        Ok(Self {
            namespace: namespace.to_owned(),
            pod_labels,
        })
    }
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A label name or value: ≤ 63 of `[A-Za-z0-9._-]`, alphanumeric at both ends.
fn is_label_name(s: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && edge(s.chars().next())
        && edge(s.chars().last())
}

fn is_label_key(s: &str) -> bool {
    match s.rsplit_once('/') {
        Some((prefix, name)) => {
            prefix.len() <= 253 && prefix.split('.').all(is_dns_label) && is_label_name(name)
        }
        None => is_label_name(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_and_labels_parse_into_a_peer() {
        let peer = IngressPeer::parse("ingress-nginx:app.kubernetes.io/name=ingress-nginx,app.kubernetes.io/component=controller")
            .expect("valid");
        assert_eq!(peer.namespace, "ingress-nginx");
        assert_eq!(peer.pod_labels.len(), 2);
        assert_eq!(peer.pod_labels["app.kubernetes.io/component"], "controller");
    }

    #[test]
    fn malformed_peers_are_refused_with_the_rule() {
        for (text, needle) in [
            ("kube-system", "expected NAMESPACE:"),
            ("kube-system:", "at least one label"),
            ("Kube_System:app=x", "not a namespace"),
            ("kube-system:app", "expected KEY=VALUE"),
            ("kube-system:-app=x", "not a label key"),
            ("kube-system:app=x y", "not a label value"),
        ] {
            let err = IngressPeer::parse(text).expect_err(text);
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn every_default_peer_names_pods_by_label() {
        for peer in IngressPeer::defaults() {
            assert!(!peer.pod_labels.is_empty(), "{peer:?}");
            let text = format!(
                "{}:{}",
                peer.namespace,
                peer.pod_labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            assert_eq!(IngressPeer::parse(&text).expect("default parses"), peer);
        }
    }
}
