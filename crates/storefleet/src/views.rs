//! What the CLI reads from the API's answers: small typed views holding only the fields it
//! prints or decides on. `-o json|yaml` still print the answer as the API gave it; these are for
//! the human views, the store references and `store wait`.
//!
//! Client-side on purpose: the API's own view types carry typed dates, and a `DateTime` printed
//! back would not be the text the API sent. Every field is optional, so an answer missing one
//! prints `-` as before instead of failing.

use serde::de::DeserializeOwned;
use serde::Deserialize;

/// A store, as the human views print it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Store {
    pub id: Option<String>,
    pub name: Option<String>,
    pub owner: Option<String>,
    pub engine: Option<String>,
    pub plan: Option<String>,
    pub phase: Option<String>,
    pub host: Option<String>,
    pub namespace: Option<String>,
    pub message: Option<String>,
    pub storefront_url: Option<String>,
    pub admin_url: Option<String>,
    pub expires_at: Option<String>,
    pub created_at: Option<String>,
    pub conditions: Vec<Condition>,
}

/// One of a store's conditions.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub status: Option<String>,
    pub reason: Option<String>,
    pub message: Option<String>,
}

/// A page of stores; `next_after` is the cursor to the next one.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StorePage {
    pub items: Vec<serde_json::Value>,
    pub next_after: Option<String>,
}

/// A store's events.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EventPage {
    pub items: Vec<serde_json::Value>,
}

/// The owner's credential view.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Credentials {
    pub storefront_url: Option<String>,
    pub admin_url: Option<String>,
    pub admin_user: Option<String>,
    pub admin_email: Option<String>,
    pub admin_password: Option<String>,
    pub publishable_key: Option<String>,
}

/// One store event.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Event {
    pub at: Option<String>,
    pub kind: Option<String>,
    pub reason: Option<String>,
    pub message: Option<String>,
}

/// The API's error body.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ErrorDetail {
    pub message: Option<String>,
    pub field: Option<String>,
}

/// `value` read as `T`; an answer of another shape is an error that says so.
pub fn read<T: DeserializeOwned>(value: &serde_json::Value) -> anyhow::Result<T> {
    T::deserialize(value)
        .map_err(|e| anyhow::anyhow!("the API answered in a shape this client does not know: {e}"))
}

impl Store {
    /// The first condition that is not yet true, and why, for progress lines.
    pub fn waiting_on(&self) -> String {
        self.conditions
            .iter()
            .find(|c| c.status.as_deref() != Some("True"))
            .map(|c| {
                format!(
                    "waiting on {} ({})",
                    c.kind.as_deref().unwrap_or("?"),
                    c.reason.as_deref().unwrap_or("")
                )
            })
            .unwrap_or_else(|| "waiting on the orchestrator".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_store_reads_the_fields_it_prints_and_missing_ones_stay_empty() {
        let store: Store = read(&json!({
            "id": "0190aaaa-0000-7000-8000-000000000001", "name": "shop", "phase": "provisioning",
            "generation": 3,
            "conditions": [
                {"type": "NamespaceReady", "status": "True", "reason": "Created", "message": ""},
                {"type": "ReleaseInstalled", "status": "False", "reason": "Installing", "message": "helm"}
            ]
        }))
        .expect("a store");
        assert_eq!(store.name.as_deref(), Some("shop"));
        assert_eq!(store.owner, None);
        assert_eq!(
            store.waiting_on(),
            "waiting on ReleaseInstalled (Installing)"
        );
    }

    #[test]
    fn an_answer_of_another_shape_is_an_error() {
        let error = read::<Store>(&json!({"name": 7}))
            .err()
            .map(|e| e.to_string());
        assert!(
            error.as_deref().is_some_and(|e| e.contains("shape")),
            "{error:?}"
        );
    }
}
