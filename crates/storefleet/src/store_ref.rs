//! Which store a command line names: a full id, an unambiguous id prefix, or the name of one of
//! the caller's live stores (as `kubectl` takes names and `git` takes short hashes).

use crate::exit_code::{fail, Failure};
use crate::views::Store;

/// Shortest id prefix taken, so a typo of one or two characters is not read as a prefix.
pub const MIN_PREFIX: usize = 4;

/// The id of the store `reference` names among `stores` (the caller's list, as the API gives it).
/// A live store's exact name wins over an id prefix; an ambiguous reference is an error that
/// lists the candidates instead of picking one.
pub fn resolve(reference: &str, stores: &[Store]) -> anyhow::Result<String> {
    let live = |store: &&Store| store.phase.as_deref() != Some("deleted");
    let by_name: Vec<&Store> = stores
        .iter()
        .filter(live)
        .filter(|s| s.name.as_deref() == Some(reference))
        .collect();
    let named = format!("live stores are named {reference}");
    if let Some(id) = the_one(
        &by_name,
        &named,
        |s| &s.owner,
        "owner",
        "give the id instead",
    )? {
        return Ok(id);
    }
    let prefix = reference.to_ascii_lowercase();
    if prefix.len() >= MIN_PREFIX && prefix.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        let by_id: Vec<&Store> = stores
            .iter()
            .filter(|s| s.id.as_deref().is_some_and(|id| id.starts_with(&prefix)))
            .collect();
        let matched = format!("stores match the id prefix {reference}");
        if let Some(id) = the_one(&by_id, &matched, |s| &s.name, "name", "give more of the id")? {
            return Ok(id);
        }
    }
    fail(
        Failure::NotFound,
        format!(
            "no store with this id, id prefix or live store name: {reference} (`storefleet store list` shows yours)"
        ),
    )
}

/// The id of the only candidate; `None` for none; for several, an error that lists each (id
/// and the field `detail` picks, named `label`) and says what to do.
fn the_one(
    candidates: &[&Store],
    what: &str,
    detail: impl Fn(&Store) -> &Option<String>,
    label: &str,
    advice: &str,
) -> anyhow::Result<Option<String>> {
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    match candidates {
        [] => Ok(None),
        [one] => Ok(Some(text(&one.id))),
        several => fail(
            Failure::Usage,
            format!(
                "{} {what}: {}; {advice}",
                several.len(),
                several
                    .iter()
                    .map(|s| format!("{} ({label} {})", text(&s.id), text(detail(s))))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store(id: &str, name: &str, phase: &str, owner: &str) -> Store {
        crate::views::read(&json!({"id": id, "name": name, "phase": phase, "owner": owner}))
            .expect("a store")
    }

    fn stores() -> Vec<Store> {
        vec![
            store(
                "0190aaaa-0000-7000-8000-000000000001",
                "shop",
                "ready",
                "alice",
            ),
            store(
                "0190aaaa-0000-7000-8000-000000000002",
                "shop",
                "deleted",
                "alice",
            ),
            store(
                "0190bbbb-0000-7000-8000-000000000003",
                "cafe",
                "provisioning",
                "alice",
            ),
        ]
    }

    #[test]
    fn a_live_name_names_that_store_and_deleted_namesakes_do_not_count() {
        assert_eq!(
            resolve("shop", &stores()).ok().as_deref(),
            Some("0190aaaa-0000-7000-8000-000000000001")
        );
    }

    #[test]
    fn a_unique_id_prefix_names_its_store_and_an_ambiguous_one_lists_the_candidates() {
        assert_eq!(
            resolve("0190bb", &stores()).ok().as_deref(),
            Some("0190bbbb-0000-7000-8000-000000000003")
        );
        let error = resolve("0190aa", &stores()).err().map(|e| e.to_string());
        let error = error.unwrap_or_default();
        assert!(error.contains("2 stores match the id prefix"), "{error}");
        assert!(error.contains("000000000002 (name shop)"), "{error}");
    }

    #[test]
    fn short_prefixes_and_unknown_names_are_refused_with_a_hint() {
        for reference in ["019", "nothing", "0190cc"] {
            let error = resolve(reference, &stores()).err().map(|e| e.to_string());
            assert!(
                error.as_deref().is_some_and(|e| e.contains("store list")),
                "{reference}: {error:?}"
            );
        }
    }

    #[test]
    fn two_live_stores_of_one_name_are_ambiguous_for_an_admin() {
        let mut all = stores();
        all.push(store(
            "0190cccc-0000-7000-8000-000000000004",
            "shop",
            "ready",
            "bob",
        ));
        let error = resolve("shop", &all).err().map(|e| e.to_string());
        let error = error.unwrap_or_default();
        assert!(error.contains("2 live stores are named shop"), "{error}");
        assert!(error.contains("owner bob"), "{error}");
    }
}
