//! Store names: parsed once at the edge into a DNS-label-safe newtype.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Shortest allowed store name.
pub const MIN_LEN: usize = 3;
/// Longest allowed store name; keeps `store-<name>-<hex6>` well inside the 63-character label limit.
pub const MAX_LEN: usize = 30;

/// What is allowed, said once so every error carries the same rule.
pub const NAME_RULE: &str =
    "3-30 characters: lowercase letters a-z, digits 0-9 and '-', starting with a letter and ending with a letter or digit";

/// A validated store name: a DNS label of 3–30 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StoreName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("store name is {len} characters long; allowed: {NAME_RULE}")]
    Length { len: usize },
    #[error("store name contains {found:?}; allowed: {NAME_RULE}")]
    Character { found: char },
    #[error("store name must start with a letter; allowed: {NAME_RULE}")]
    Start,
    #[error("store name must end with a letter or digit; allowed: {NAME_RULE}")]
    End,
}

impl StoreName {
    /// Parse user input into a store name, saying exactly what is wrong when it is not one.
    pub fn parse(input: &str) -> Result<Self, NameError> {
        let len = input.chars().count();
        if !(MIN_LEN..=MAX_LEN).contains(&len) {
            return Err(NameError::Length { len });
        }
        if let Some(found) = input
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(NameError::Character { found });
        }
        if !input.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(NameError::Start);
        }
        if input.ends_with('-') {
            return Err(NameError::End);
        }
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for StoreName {
    type Error = NameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<StoreName> for String {
    fn from(value: StoreName) -> Self {
        value.0
    }
}

impl fmt::Display for StoreName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_plain_lowercase_name_is_accepted() {
        assert_eq!(StoreName::parse("shop-1").map(|n| n.0), Ok("shop-1".into()));
    }

    #[test]
    fn each_kind_of_bad_name_gets_its_own_reason() {
        assert_eq!(StoreName::parse("ab"), Err(NameError::Length { len: 2 }));
        assert_eq!(
            StoreName::parse(&"a".repeat(31)),
            Err(NameError::Length { len: 31 })
        );
        assert_eq!(
            StoreName::parse("Shop"),
            Err(NameError::Character { found: 'S' })
        );
        assert_eq!(
            StoreName::parse("../etc"),
            Err(NameError::Character { found: '.' })
        );
        assert_eq!(StoreName::parse("1shop"), Err(NameError::Start));
        assert_eq!(StoreName::parse("shop-"), Err(NameError::End));
    }

    #[test]
    fn the_error_message_says_what_is_allowed() {
        let message = StoreName::parse("x").unwrap_err().to_string();
        assert!(message.contains("3-30 characters"), "{message}");
    }

    proptest! {
        #[test]
        fn any_accepted_name_is_a_dns_label(input in "\\PC{0,40}") {
            if let Ok(name) = StoreName::parse(&input) {
                let s = name.as_str();
                prop_assert!(s.len() >= 3 && s.len() <= 30);
                prop_assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
                prop_assert!(s.as_bytes()[0].is_ascii_lowercase());
                prop_assert!(!s.ends_with('-'));
            }
        }

        #[test]
        fn every_generated_valid_name_parses(input in "[a-z][a-z0-9-]{1,28}[a-z0-9]") {
            prop_assert!(StoreName::parse(&input).is_ok());
        }
    }
}
