//! What an audit entry says was done and how it ended, as closed sets parsed once where rows
//! are read and written back through `as_str()`.
//!
//! A value this version does not know (written by a newer version sharing the database) is
//! kept as `Other` with its text, not refused: one unknown row must not hide the rest of the
//! audit log from an admin, and the text is shown and filtered on exactly as it was stored.

/// Declares an enum of known audit words with an `Other(String)` for the rest.
macro_rules! audit_words {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
            /// A value this version does not know, kept as stored.
            Other(String),
        }

        impl $name {
            /// The text stored in the audit log and shown by the API.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Other(text) => text,
                }
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                match text {
                    $($text => Self::$variant,)+
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl From<String> for $name {
            fn from(text: String) -> Self {
                match Self::from(text.as_str()) {
                    Self::Other(_) => Self::Other(text),
                    known => known,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

audit_words! {
    /// What was done.
    AuditAction {
        /// A store was asked for (or the ask was denied).
        StoreCreate => "store.create",
        /// A store was deleted, by its owner or by its TTL.
        StoreDelete => "store.delete",
        /// A failed store was sent back to provisioning.
        StoreRetry => "store.retry",
        /// A store's credential copy was read (or the read was denied).
        StoreCredentialsRead => "store.credentials.read",
        /// A user was added.
        UserAdd => "user.add",
        /// A user was removed.
        UserRemove => "user.remove",
        /// A user's token was replaced.
        UserRotateToken => "user.rotate_token",
    }
}

audit_words! {
    /// How it ended.
    AuditOutcome {
        /// Done.
        Succeeded => "succeeded",
        /// Refused; the reason is in the entry's detail.
        Denied => "denied",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_word_reads_back_as_itself() {
        let actions = [
            AuditAction::StoreCreate,
            AuditAction::StoreDelete,
            AuditAction::StoreRetry,
            AuditAction::StoreCredentialsRead,
            AuditAction::UserAdd,
            AuditAction::UserRemove,
            AuditAction::UserRotateToken,
        ];
        for action in actions {
            assert_eq!(AuditAction::from(action.as_str()), action);
        }
        for outcome in [AuditOutcome::Succeeded, AuditOutcome::Denied] {
            assert_eq!(AuditOutcome::from(outcome.as_str().to_owned()), outcome);
        }
    }

    #[test]
    fn an_unknown_word_from_a_newer_version_is_kept_as_stored() {
        let action = AuditAction::from("store.rename".to_owned());
        assert_eq!(action, AuditAction::Other("store.rename".to_owned()));
        assert_eq!(action.as_str(), "store.rename");
        assert_eq!(AuditOutcome::from("failed").to_string(), "failed");
    }
}
