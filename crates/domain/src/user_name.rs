//! User names: parsed once at the edge into a newtype that is a valid Kubernetes label value.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What a user name may be: it becomes a Kubernetes label value on the user's namespaces.
pub const USER_NAME_RULE: &str =
    "1-63 characters: lowercase letters a-z, digits 0-9 and '-', starting and ending with a letter or digit";

/// A validated user name: the owner of stores, tokens and sessions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserName(String);

/// A string that is not a user name; the message says what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("user name {0:?} is not allowed; allowed: {USER_NAME_RULE}")]
pub struct UserNameError(pub String);

impl UserName {
    /// Parse outside input into a user name, or say what is allowed.
    pub fn parse(input: &str) -> Result<Self, UserNameError> {
        let ok = (1..=63).contains(&input.len())
            && input
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !input.starts_with('-')
            && !input.ends_with('-');
        if ok {
            Ok(Self(input.to_owned()))
        } else {
            Err(UserNameError(input.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for UserName {
    type Error = UserNameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<UserName> for String {
    fn from(value: UserName) -> Self {
        value.0
    }
}

impl std::ops::Deref for UserName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for UserName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for UserName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for UserName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<UserName> for String {
    fn eq(&self, other: &UserName) -> bool {
        *self == other.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_must_be_label_values() {
        assert!(UserName::parse("alice").is_ok());
        assert!(UserName::parse("ci-bot-2").is_ok());
        for bad in ["", "Alice", "-a", "a-", "a b", "a/b"] {
            assert!(UserName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_error_says_what_is_allowed() {
        let message = UserName::parse("A").map_err(|e| e.to_string());
        assert!(matches!(message, Err(m) if m.contains("allowed: 1-63 characters")));
    }
}
