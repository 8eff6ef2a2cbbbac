//! Where stores are served, and which names no tenant may take: a store's host is
//! `<name>.<store domain>`, so a name that is a platform host (or a word people would take for
//! the platform's) would let a tenant serve the platform's visitors.

use crate::{StoreDomain, StoreName};
use std::collections::BTreeSet;

/// Names refused for every installation: the platform's own name, the usual service and
/// infrastructure hosts, and words visitors would trust as the operator's.
pub const RESERVED_NAMES: &[&str] = &[
    "storefleet",
    "www",
    "api",
    "app",
    "admin",
    "dashboard",
    "console",
    "portal",
    "login",
    "auth",
    "sso",
    "oauth",
    "account",
    "accounts",
    "billing",
    "support",
    "help",
    "docs",
    "status",
    "metrics",
    "grafana",
    "mail",
    "smtp",
    "imap",
    "pop3",
    "webmail",
    "autoconfig",
    "autodiscover",
    "ns1",
    "ns2",
    "ftp",
    "static",
    "assets",
    "cdn",
    "media",
    "localhost",
];

/// How a store's host and URL are made, and which names are not free to take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreHosts {
    domain: StoreDomain,
    https: bool,
    /// [`RESERVED_NAMES`] and the labels of the platform's own hosts under the store domain.
    reserved: BTreeSet<String>,
}

/// A name no tenant may take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("store name {0:?} is reserved for the platform (its host would be the platform's or one visitors would take for it); pick another name")]
pub struct ReservedName(pub String);

impl StoreHosts {
    /// Hosts under `domain`, served over HTTPS when `https`. `platform_hosts` are the hosts the
    /// platform itself answers on (its dashboard and API): a store named like one of them (or
    /// like a parent of one, which could set cookies for it) is refused.
    pub fn new(domain: StoreDomain, https: bool, platform_hosts: &[String]) -> Self {
        let mut reserved: BTreeSet<String> =
            RESERVED_NAMES.iter().map(|n| (*n).to_owned()).collect();
        let suffix = format!(".{}", domain.as_str());
        for host in platform_hosts {
            let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
            // `a.b.<domain>` claims `b`: the store at `b.<domain>` is a parent of the platform.
            if let Some(under) = host.strip_suffix(&suffix) {
                if let Some(label) = under.rsplit('.').next().filter(|l| !l.is_empty()) {
                    reserved.insert(label.to_owned());
                }
            }
        }
        Self {
            domain,
            https,
            reserved,
        }
    }

    /// Refuse a name that is reserved.
    pub fn check(&self, name: &StoreName) -> Result<(), ReservedName> {
        if self.reserved.contains(name.as_str()) {
            return Err(ReservedName(name.to_string()));
        }
        Ok(())
    }

    /// The host a store of this name is served at.
    pub fn host(&self, name: &StoreName) -> String {
        self.domain.host_for(name)
    }

    /// The storefront's URL.
    pub fn url(&self, name: &StoreName) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}/", self.host(name))
    }
}

impl Default for StoreHosts {
    /// The local default: `<name>.127.0.0.1.nip.io` over plain HTTP.
    fn default() -> Self {
        Self::new(StoreDomain::default(), false, &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> StoreName {
        StoreName::parse(s).expect("valid name")
    }

    fn hosts(platform: &[&str]) -> StoreHosts {
        let domain = StoreDomain::parse("shops.example.com").expect("domain");
        let platform: Vec<String> = platform.iter().map(|h| (*h).to_owned()).collect();
        StoreHosts::new(domain, true, &platform)
    }

    #[test]
    fn the_listed_names_are_reserved_and_others_are_free() {
        let hosts = hosts(&[]);
        for reserved in ["www", "api", "storefleet", "admin", "status", "cdn"] {
            assert_eq!(
                hosts.check(&name(reserved)),
                Err(ReservedName(reserved.to_owned()))
            );
        }
        assert_eq!(hosts.check(&name("shop")), Ok(()));
    }

    #[test]
    fn a_platform_host_under_the_store_domain_reserves_its_label() {
        let hosts = hosts(&[
            "Fleet.shops.example.com.",
            "eu.panel.shops.example.com",
            "platform.example.org",
        ]);
        // Its own host, and the parent of a platform host (it could set cookies for it).
        assert!(hosts.check(&name("fleet")).is_err());
        assert!(hosts.check(&name("panel")).is_err());
        // A host outside the store domain claims nothing.
        assert_eq!(hosts.check(&name("platform")), Ok(()));
        assert_eq!(hosts.check(&name("eu-shop")), Ok(()));
    }

    #[test]
    fn a_store_has_its_host_and_url_from_its_name() {
        let hosts = hosts(&[]);
        assert_eq!(hosts.host(&name("shop")), "shop.shops.example.com");
        assert_eq!(hosts.url(&name("shop")), "https://shop.shops.example.com/");
        assert_eq!(
            StoreHosts::default().url(&name("shop")),
            "http://shop.127.0.0.1.nip.io/"
        );
    }

    #[test]
    fn the_reserved_list_holds_only_names_a_store_could_take() {
        // A listed word that is not a valid store name would be dead weight: it is refused anyway.
        for reserved in RESERVED_NAMES {
            assert!(StoreName::parse(reserved).is_ok(), "{reserved}");
        }
    }
}
