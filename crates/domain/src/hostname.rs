//! The base domain stores are served under: `<store name>.<domain>` must be a valid host name.

use crate::name::{StoreName, MAX_LEN};
use std::fmt;

/// Longest host name Kubernetes accepts in an Ingress (a DNS-1123 subdomain).
pub const MAX_HOST_LEN: usize = 253;
/// Longest domain: room is left for the longest store name and its dot.
pub const MAX_DOMAIN_LEN: usize = MAX_HOST_LEN - MAX_LEN - 1;

/// What is allowed, said once so every error carries the same rule.
pub const DOMAIN_RULE: &str = "a DNS name of at most 222 characters: dot-separated labels of 1-63 \
     lowercase letters a-z, digits 0-9 and '-', each starting and ending with a letter or digit, \
     e.g. shops.example.com or 127.0.0.1.nip.io";

/// A validated base domain for store hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreDomain(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("store domain is {len} characters long; allowed: {DOMAIN_RULE}")]
    Length { len: usize },
    #[error("store domain has an empty label (two dots in a row, or a dot at either end); allowed: {DOMAIN_RULE}")]
    EmptyLabel,
    #[error("store domain label {label:?} is longer than 63 characters; allowed: {DOMAIN_RULE}")]
    LongLabel { label: String },
    #[error("store domain contains {found:?}; allowed: {DOMAIN_RULE}")]
    Character { found: char },
    #[error("store domain label {label:?} starts or ends with '-'; allowed: {DOMAIN_RULE}")]
    Hyphen { label: String },
}

impl StoreDomain {
    /// Parse operator input, saying exactly what is wrong when it is not a usable domain.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let len = input.chars().count();
        if !(1..=MAX_DOMAIN_LEN).contains(&len) {
            return Err(DomainError::Length { len });
        }
        if let Some(found) = input
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '.'))
        {
            return Err(DomainError::Character { found });
        }
        for label in input.split('.') {
            if label.is_empty() {
                return Err(DomainError::EmptyLabel);
            }
            if label.len() > 63 {
                return Err(DomainError::LongLabel {
                    label: label.to_owned(),
                });
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(DomainError::Hyphen {
                    label: label.to_owned(),
                });
            }
        }
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host a store is served at.
    pub fn host_for(&self, store: &StoreName) -> String {
        format!("{store}.{}", self.0)
    }
}

impl Default for StoreDomain {
    /// `127.0.0.1.nip.io`: every store host resolves to this machine, for a local install.
    fn default() -> Self {
        Self("127.0.0.1.nip.io".to_owned())
    }
}

impl fmt::Display for StoreDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usual_domains_are_accepted() {
        assert_eq!(
            StoreDomain::parse(StoreDomain::default().as_str()),
            Ok(StoreDomain::default())
        );
        for ok in [
            "127.0.0.1.nip.io",
            "shops.example.com",
            "localhost",
            "a-b.c0",
        ] {
            assert!(StoreDomain::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn each_mistake_is_named() {
        assert_eq!(StoreDomain::parse(""), Err(DomainError::Length { len: 0 }));
        assert_eq!(
            StoreDomain::parse("Shops.example.com"),
            Err(DomainError::Character { found: 'S' })
        );
        assert_eq!(
            StoreDomain::parse("https://x.io"),
            Err(DomainError::Character { found: ':' })
        );
        assert_eq!(StoreDomain::parse("a..b"), Err(DomainError::EmptyLabel));
        assert_eq!(
            StoreDomain::parse("example.com."),
            Err(DomainError::EmptyLabel)
        );
        assert_eq!(
            StoreDomain::parse("-x.io"),
            Err(DomainError::Hyphen { label: "-x".into() })
        );
        let long = "a".repeat(64);
        assert_eq!(
            StoreDomain::parse(&format!("{long}.io")),
            Err(DomainError::LongLabel { label: long })
        );
        let message = StoreDomain::parse("a b").unwrap_err().to_string();
        assert!(message.contains("e.g. shops.example.com"), "{message}");
    }
}
