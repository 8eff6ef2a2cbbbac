//! Sealing with the platform key: store credentials are kept in the state store only as
//! ChaCha20-Poly1305 ciphertext bound to their store, so nothing sits there in plaintext.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::{Deserialize, Serialize};
use storefleet_domain::secrets::key as secret_key;
use storefleet_domain::StoreId;

/// Version tag in front of every sealed value, so the format can change without guessing.
const SEALED_PREFIX: &str = "v1.";
const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 12;

/// The platform's 32-byte key (`STOREFLEET_ENCRYPTION_KEY`). Never printed, not even by `{:?}`.
#[derive(Clone)]
pub struct PlatformKey(Key);

impl std::fmt::Debug for PlatformKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlatformKey(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// What was wrong, never the key itself.
    #[error(
        "the platform key must be base64 of exactly 32 random bytes \
         (make one with: head -c 32 /dev/urandom | base64): {0}"
    )]
    Invalid(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("sealed value is not in the expected format")]
    Malformed,
    /// Wrong key, another store's value, or a changed ciphertext: the AEAD cannot tell which.
    #[error(
        "sealed value does not open with this platform key for this store (was the key changed?)"
    )]
    WrongKeyOrTampered,
    #[error("sealed value opened but is not the expected content: {0}")]
    Content(String),
}

impl PlatformKey {
    /// Parse base64 (standard alphabet, padding optional) of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(KeyError::Invalid("it is empty".to_owned()));
        }
        let bytes = STANDARD
            .decode(trimmed)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed))
            .map_err(|_| KeyError::Invalid("it is not base64".to_owned()))?;
        if bytes.len() != KEY_BYTES {
            return Err(KeyError::Invalid(format!(
                "it decodes to {} bytes, not {KEY_BYTES}",
                bytes.len()
            )));
        }
        Ok(Self(*Key::from_slice(&bytes)))
    }

    /// A fresh random key, as base64 text (what `serve` writes beside its database).
    pub fn generate_base64() -> String {
        STANDARD.encode(ChaCha20Poly1305::generate_key(&mut OsRng))
    }

    /// Encrypt `plaintext` for `store`: `v1.<base64 nonce>.<base64 ciphertext>`. The store id
    /// is authenticated data, so a value copied onto another store's row does not open.
    pub fn seal(&self, store: StoreId, plaintext: &[u8]) -> String {
        let cipher = ChaCha20Poly1305::new(&self.0);
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = store.to_string();
        // Encryption into a Vec only fails when the plaintext exceeds the cipher's limit
        // (~256 GiB); credentials are a few hundred bytes.
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .unwrap_or_default();
        format!(
            "{SEALED_PREFIX}{}.{}",
            STANDARD.encode(nonce),
            STANDARD.encode(ciphertext)
        )
    }

    /// Decrypt what [`PlatformKey::seal`] produced for the same store.
    pub fn open(&self, store: StoreId, sealed: &str) -> Result<Vec<u8>, SealError> {
        let rest = sealed
            .strip_prefix(SEALED_PREFIX)
            .ok_or(SealError::Malformed)?;
        let (nonce, ciphertext) = rest.split_once('.').ok_or(SealError::Malformed)?;
        let nonce = STANDARD.decode(nonce).map_err(|_| SealError::Malformed)?;
        let ciphertext = STANDARD
            .decode(ciphertext)
            .map_err(|_| SealError::Malformed)?;
        if nonce.len() != NONCE_BYTES || ciphertext.is_empty() {
            return Err(SealError::Malformed);
        }
        let aad = store.to_string();
        ChaCha20Poly1305::new(&self.0)
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| SealError::WrongKeyOrTampered)
    }

    pub fn seal_credentials(&self, store: StoreId, credentials: &OwnerCredentials) -> String {
        // Serializing plain strings cannot fail.
        let json = serde_json::to_vec(credentials).unwrap_or_default();
        self.seal(store, &json)
    }

    pub fn open_credentials(
        &self,
        store: StoreId,
        sealed: &str,
    ) -> Result<OwnerCredentials, SealError> {
        let json = self.open(store, sealed)?;
        serde_json::from_slice(&json).map_err(|e| SealError::Content(e.to_string()))
    }
}

/// What a store's owner needs to run their store: the engine admin's login and, for Medusa,
/// the storefront's publishable API key. Database passwords stay in the cluster. `{:?}` shows
/// which fields are set, never their values.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerCredentials {
    pub admin_user: Option<String>,
    pub admin_email: Option<String>,
    pub admin_password: Option<String>,
    pub publishable_key: Option<String>,
}

impl std::fmt::Debug for OwnerCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |v: &Option<String>| if v.is_some() { "<set>" } else { "<none>" };
        f.debug_struct("OwnerCredentials")
            .field("admin_user", &set(&self.admin_user))
            .field("admin_email", &set(&self.admin_email))
            .field("admin_password", &set(&self.admin_password))
            .field("publishable_key", &set(&self.publishable_key))
            .finish()
    }
}

impl OwnerCredentials {
    /// Pick the owner-facing keys out of the store's Secrets (as the cluster driver reads them).
    pub fn from_secret_keys(keys: &std::collections::BTreeMap<String, String>) -> Self {
        let get = |k: &str| keys.get(k).filter(|v| !v.is_empty()).cloned();
        Self {
            admin_user: get(secret_key::ADMIN_USER),
            admin_email: get(secret_key::ADMIN_EMAIL),
            admin_password: get(secret_key::ADMIN_PASSWORD),
            publishable_key: get(secret_key::PUBLISHABLE_KEY),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PlatformKey {
        PlatformKey::from_base64(&PlatformKey::generate_base64()).expect("key")
    }

    fn store() -> StoreId {
        StoreId::now_v7()
    }

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_store() {
        let (k, id) = (key(), store());
        let sealed = k.seal(id, b"hunter2");
        assert!(!sealed.contains("hunter2"));
        assert_eq!(k.open(id, &sealed).expect("open"), b"hunter2");
        assert_eq!(
            key().open(id, &sealed),
            Err(SealError::WrongKeyOrTampered),
            "another key"
        );
        assert_eq!(
            k.open(store(), &sealed),
            Err(SealError::WrongKeyOrTampered),
            "another store's row"
        );
    }

    #[test]
    fn sealing_twice_gives_different_ciphertexts() {
        let (k, id) = (key(), store());
        assert_ne!(k.seal(id, b"same"), k.seal(id, b"same"));
    }

    #[test]
    fn a_changed_ciphertext_or_bad_format_is_refused() {
        let (k, id) = (key(), store());
        let sealed = k.seal(id, b"secret");
        let (head, body) = sealed.rsplit_once('.').expect("two parts");
        let mut bytes = STANDARD.decode(body).expect("b64");
        bytes[0] ^= 1;
        let tampered = format!("{head}.{}", STANDARD.encode(bytes));
        assert_eq!(k.open(id, &tampered), Err(SealError::WrongKeyOrTampered));
        for bad in [
            "",
            "v1.",
            "v2.AAAA.AAAA",
            "v1.AAAA",
            "v1.!!.!!",
            "v1.AAAA.AAAA",
        ] {
            assert_eq!(k.open(id, bad), Err(SealError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn keys_must_be_base64_of_32_bytes_and_errors_do_not_echo_them() {
        let good = PlatformKey::generate_base64();
        assert!(PlatformKey::from_base64(&good).is_ok());
        assert!(PlatformKey::from_base64(&format!("  {good}\n")).is_ok());
        assert!(PlatformKey::from_base64(good.trim_end_matches('=')).is_ok());
        let short = STANDARD.encode([7u8; 16]);
        for bad in ["", "not base64 at all!", short.as_str()] {
            let e = PlatformKey::from_base64(bad).expect_err(bad).to_string();
            assert!(e.contains("32 random bytes"), "{e}");
            if !bad.is_empty() {
                assert!(!e.contains(bad), "error echoes the key: {e}");
            }
        }
        assert_eq!(format!("{:?}", key()), "PlatformKey(<redacted>)");
    }

    proptest::proptest! {
        #[test]
        fn any_key_text_is_refused_without_echo_or_accepted_as_32_bytes(
            text in "\\PC{0,60}|[A-Za-z0-9+/]{8,60}={0,2}"
        ) {
            match PlatformKey::from_base64(&text) {
                Ok(_) => {
                    let trimmed = text.trim();
                    let bytes = STANDARD
                        .decode(trimmed)
                        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed));
                    proptest::prop_assert_eq!(bytes.map(|b| b.len()).ok(), Some(KEY_BYTES));
                }
                Err(e) => {
                    let message = e.to_string();
                    proptest::prop_assert!(message.contains("32 random bytes"));
                    if text.trim().len() >= 8 {
                        proptest::prop_assert!(!message.contains(text.trim()), "echoed: {}", message);
                    }
                }
            }
        }

        #[test]
        fn every_32_byte_key_is_accepted_and_round_trips_any_plaintext(
            raw in proptest::array::uniform32(proptest::num::u8::ANY),
            plaintext in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
        ) {
            let k = PlatformKey::from_base64(&STANDARD.encode(raw)).expect("32 bytes");
            let id = StoreId::now_v7();
            let sealed = k.seal(id, &plaintext);
            proptest::prop_assert_eq!(k.open(id, &sealed).expect("open"), plaintext);
        }

        #[test]
        fn opening_arbitrary_text_never_panics(text in "\\PC{0,80}|v1\\.[A-Za-z0-9+/=]{0,24}\\.[A-Za-z0-9+/=]{0,40}") {
            proptest::prop_assert!(key().open(StoreId::now_v7(), &text).is_err());
        }
    }

    #[test]
    fn credentials_round_trip_and_debug_shows_no_values() {
        let (k, id) = (key(), store());
        let keys = [
            (secret_key::ADMIN_EMAIL, "owner@example.com"),
            (secret_key::ADMIN_PASSWORD, "pw-123456"),
            (secret_key::DB_PASSWORD, "never-copied"),
            (secret_key::PUBLISHABLE_KEY, ""),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
        let creds = OwnerCredentials::from_secret_keys(&keys);
        assert_eq!(creds.admin_password.as_deref(), Some("pw-123456"));
        assert_eq!(creds.publishable_key, None, "empty values are not kept");
        let sealed = k.seal_credentials(id, &creds);
        assert!(!sealed.contains("never-copied"));
        assert_eq!(k.open_credentials(id, &sealed).expect("open"), creds);
        let shown = format!("{creds:?}");
        assert!(
            !shown.contains("pw-123456") && !shown.contains("owner@"),
            "{shown}"
        );
    }
}
