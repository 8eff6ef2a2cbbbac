//! Property tests for every parser of outside input in the domain: whatever string or number
//! comes in, a parser either refuses it with a message saying what is allowed, or accepts
//! something that keeps the promises later code relies on. None panics.

use proptest::prelude::*;
use storefleet_domain::hostname::{MAX_DOMAIN_LEN, MAX_HOST_LEN};
use storefleet_domain::name::MAX_LEN;
use storefleet_domain::store::{TTL_MAX_SECONDS, TTL_MIN_SECONDS};
use storefleet_domain::{Engine, Phase, Plan, StoreDomain, StoreName, Ttl, UserName};

/// What Kubernetes requires of an Ingress host: a DNS-1123 subdomain.
fn is_dns_subdomain(host: &str) -> bool {
    host.len() <= MAX_HOST_LEN
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

proptest! {
    #[test]
    fn plans_accept_exactly_their_own_names(input in "\\PC{0,12}|small|medium") {
        match input.parse::<Plan>() {
            Ok(plan) => prop_assert_eq!(plan.as_str(), input.as_str()),
            Err(e) => {
                prop_assert!(Plan::ALL.iter().all(|p| p.as_str() != input));
                prop_assert!(e.to_string().contains("allowed: small, medium"));
            }
        }
    }

    #[test]
    fn engines_accept_exactly_their_own_names(input in "\\PC{0,14}|medusa|woocommerce") {
        match input.parse::<Engine>() {
            Ok(engine) => prop_assert_eq!(engine.as_str(), input.as_str()),
            Err(e) => {
                prop_assert!(Engine::ALL.iter().all(|p| p.as_str() != input));
                prop_assert!(e.to_string().contains("allowed: woocommerce, medusa"));
            }
        }
    }

    #[test]
    fn phases_read_back_only_what_they_write(
        input in "\\PC{0,14}|requested|provisioning|ready|failed|deleting|deleted"
    ) {
        if let Ok(phase) = input.parse::<Phase>() {
            prop_assert_eq!(phase.as_str(), input.as_str());
        }
    }

    #[test]
    fn a_ttl_is_accepted_exactly_inside_its_range(seconds in any::<u64>()) {
        let inside = (TTL_MIN_SECONDS..=TTL_MAX_SECONDS).contains(&seconds);
        match Ttl::from_seconds(seconds) {
            Ok(ttl) => {
                prop_assert!(inside);
                prop_assert_eq!(ttl.seconds(), seconds);
                // The expiry of any accepted value is computed without overflow.
                let now = chrono::Utc::now();
                prop_assert!(ttl.expiry_from(now) > now);
            }
            Err(e) => {
                prop_assert!(!inside);
                prop_assert!(e.to_string().contains("(5 minutes) to"));
            }
        }
    }

    #[test]
    fn ttls_near_the_bounds(offset in 0u64..3) {
        prop_assert!(Ttl::from_seconds(TTL_MIN_SECONDS + offset).is_ok());
        prop_assert!(Ttl::from_seconds(TTL_MAX_SECONDS - offset).is_ok());
        prop_assert!(Ttl::from_seconds(TTL_MIN_SECONDS - 1 - offset).is_err());
        prop_assert!(Ttl::from_seconds(TTL_MAX_SECONDS + 1 + offset).is_err());
    }

    #[test]
    fn accepted_user_names_are_label_values(
        input in "\\PC{0,70}|[a-z0-9][a-z0-9-]{0,61}[a-z0-9]"
    ) {
        match UserName::parse(&input) {
            Ok(name) => {
                prop_assert_eq!(name.as_str(), input.as_str());
                prop_assert!(!input.is_empty() && input.len() <= 63);
                prop_assert!(input
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
                prop_assert!(!input.starts_with('-') && !input.ends_with('-'));
            }
            Err(e) => prop_assert!(e.to_string().contains("allowed:")),
        }
    }

    #[test]
    fn every_store_host_under_an_accepted_domain_is_a_valid_ingress_host(
        domain in "\\PC{0,40}|([a-z0-9-]{0,64}\\.){0,4}[a-z0-9-]{0,12}",
        name in "[a-z][a-z0-9-]{1,28}[a-z0-9]",
    ) {
        let store = StoreName::parse(&name).expect("generated names are valid");
        match StoreDomain::parse(&domain) {
            Ok(parsed) => {
                prop_assert!(parsed.as_str().len() <= MAX_DOMAIN_LEN);
                let host = parsed.host_for(&store);
                prop_assert!(is_dns_subdomain(&host), "{}", host);
            }
            Err(e) => prop_assert!(e.to_string().contains("allowed: a DNS name")),
        }
    }

    #[test]
    fn generated_dns_names_are_accepted(
        domain in "([a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?\\.){0,6}[a-z]{2,10}"
    ) {
        prop_assert!(StoreDomain::parse(&domain).is_ok(), "{}", domain);
    }
}

#[test]
fn the_longest_domain_leaves_room_for_the_longest_store_name() {
    // 3 labels of 63 and one of 30, with dots: 222 characters.
    let longest = format!("{a}.{a}.{a}.{b}", a = "a".repeat(63), b = "b".repeat(30));
    assert_eq!(longest.len(), MAX_DOMAIN_LEN);
    let domain = StoreDomain::parse(&longest).expect("222 characters are allowed");
    let name = StoreName::parse(&"s".repeat(MAX_LEN)).expect("name");
    let host = domain.host_for(&name);
    assert_eq!(host.len(), MAX_HOST_LEN);
    assert!(is_dns_subdomain(&host));
    assert!(StoreDomain::parse(&format!("c{longest}")).is_err());
}
