//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Storefleet API", description = "Provision isolated e-commerce stores on Kubernetes."),
    paths(
        crate::stores::create_store,
        crate::stores::list_stores,
        crate::stores::get_store,
        crate::stores::delete_store,
        crate::stores::store_events,
        crate::retry::retry_store,
        crate::credentials::store_credentials,
        crate::audit::list_audit,
        crate::users::list_users,
        crate::users::add_user,
        crate::users::remove_user,
        crate::stats::platform_stats,
    ),
    modifiers(&BearerAuth),
    tags((name = "stores", description = "Stores and their events"), (name = "audit", description = "Audit log (admins)"), (name = "users", description = "Users and their tokens (admins)"), (name = "admin", description = "Platform numbers (admins)"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as pretty JSON, as committed in `docs/openapi.json`.
pub fn document() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}
