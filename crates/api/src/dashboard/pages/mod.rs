//! The store pages: the list (with the create form), a store's page, the credential page, and
//! the create and delete posts.
//! Creates and deletes go through the API's own functions, so quotas, idempotency, audit
//! and error messages are the same whichever way a person takes.
//!
//! One module per page; what they show alike is in `view`.

mod credentials;
mod list;
mod store;
mod view;

pub(crate) use credentials::{credentials, CsrfForm};
pub(crate) use list::{create, list};
pub(crate) use store::{delete, detail};
