//! `GET /api/openapi.json`: the OpenAPI 3 description, generated from the handlers and types.

use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    crm_integrations, deliveries, mappings, session, user_tokens, users, xelion_environment,
    ErrorBody,
};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(title = "xelion-cti", description = "Admin API of the Xelion CTI router"),
    paths(
        session::login, session::logout,
        crm_integrations::get_integration, crm_integrations::create_integration,
        crm_integrations::delete_integration, crm_integrations::list_users,
        crm_integrations::add_users,
        users::get_user, users::update_user, users::delete_user, users::update_credential,
        user_tokens::get_status, user_tokens::verify,
        xelion_environment::get_environment, xelion_environment::put_environment,
        xelion_environment::get_status,
        xelion_environment::update_password, xelion_environment::update_username,
        mappings::get_mappings, mappings::put_mappings, mappings::preview_mappings,
        deliveries::list_deliveries, deliveries::retry_delivery,
    ),
    components(schemas(ErrorBody)),
    modifiers(&XelionAuth)
)]
pub struct ApiDoc;

/// `Authorization: xelion <token>`.
struct XelionAuth;

impl Modify for XelionAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "xelion",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`xelion <token>` from POST /api/session/login",
            ))),
        );
    }
}

/// Registers the route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/openapi.json", web::get().to(openapi_json));
}

async fn openapi_json() -> HttpResponse {
    let doc = ApiDoc::openapi().merge_from(super::external::ExternalApiDoc::openapi());
    HttpResponse::Ok().json(doc)
}
