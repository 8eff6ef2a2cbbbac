//! The order check: one real test order through a store's own storefront API.
