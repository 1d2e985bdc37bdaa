//! The OpenAPI document (served at `/openapi.json`, browsable at `/docs`).

use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use crate::{callbacks, error, health, notifications, providers};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Pombo",
        description = "Notification delivery on Temporal: every notification is a durable workflow."
    ),
    paths(
        notifications::create,
        notifications::read,
        notifications::list,
        notifications::timeline::list_events,
        notifications::timeline::report_status,
        providers::create,
        providers::list,
        providers::read,
        providers::update,
        providers::remove,
        callbacks::handler::receive,
        health::healthz,
        health::readyz,
    ),
    components(schemas(error::Problem, error::FieldError)),
    modifiers(&BearerAuth),
    tags(
        (name = "notifications", description = "Send notifications and follow their delivery"),
        (name = "providers", description = "The provider accounts that deliver a tenant's notifications"),
        (name = "callbacks", description = "Delivery reports from providers (signed by them, not by an API key)"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
