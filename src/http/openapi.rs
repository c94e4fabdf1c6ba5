//! `GET /api/openapi.json`: the OpenAPI 3 description, generated from the handlers and types.
//!
//! The handlers' annotations describe what each operation does and answers; [`document`]
//! then adds, in one place, the answers every operation shares (a path id that is not an
//! int64, a token that is missing, a body over the limit, a method the path does not take,
//! the database unavailable), the `Retry-After` of every 429, and an example of every
//! request body that has none of its own.

use std::sync::OnceLock;

use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    crm_integrations, deliveries, health, mappings, metrics, session, user_tokens, users,
    xelion_environment, ErrorBody, BODY_LIMIT,
};

/// The annotated operations.
#[derive(OpenApi)]
#[openapi(
    info(title = "xelion-cti", description = "Admin API of the Xelion CTI router"),
    paths(
        session::login, session::logout,
        crm_integrations::get_integration, crm_integrations::create_integration,
        crm_integrations::delete_integration,
        crm_integrations::update_crm_context, crm_integrations::delete_crm_context,
        crm_integrations::list_users, crm_integrations::add_users,
        users::get_user, users::update_user, users::delete_user, users::update_credential,
        user_tokens::get_status, user_tokens::verify,
        xelion_environment::get_environment, xelion_environment::put_environment,
        xelion_environment::get_status,
        xelion_environment::update_password, xelion_environment::update_username,
        mappings::get_mappings, mappings::put_mappings, mappings::add_mapping,
        mappings::delete_mapping, mappings::preview_mappings,
        deliveries::list_deliveries, deliveries::retry_delivery,
        health::live, health::ready, metrics::metrics,
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

/// The whole document, as served (built once).
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let doc = ApiDoc::openapi().merge_from(super::external::ExternalApiDoc::openapi());
        let mut doc = serde_json::to_value(doc).unwrap_or_default();
        complete(&mut doc);
        doc
    })
}

/// Registers the route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/openapi.json", web::get().to(openapi_json));
}

async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(document())
}

/// An answer in the error shape.
fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    })
}

/// The `Retry-After` header of a 429.
fn retry_after() -> Value {
    json!({
        "description": "seconds to wait before trying again",
        "schema": {"type": "integer", "format": "int64", "minimum": 0}
    })
}

/// A Xelion host as the server takes it: a DNS name (its last label starting with a letter)
/// or an IPv4 address, and an optional port without leading zeros.
pub const HOST_PATTERN: &str = concat!(
    r"^(?:(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?",
    r"|(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))",
    r"(?::(?:0|[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?$"
);

/// Text the server trims and refuses when nothing is left.
fn not_blank() -> Value {
    json!({"minLength": 1, "pattern": r"\S"})
}

/// The rules the server enforces on the fields of the request schemas, beyond their types:
/// (schema, property, rule).
fn field_rules() -> Vec<(&'static str, &'static str, Value)> {
    let methods = json!({"enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]});
    let events = json!({"enum": ["newCallEvent", "callConnectedEvent", "callHungUpEvent",
                                  "channelHungUpEvent", "missedCallEvent"]});
    let token_uri =
        json!({"minLength": 1, "maxLength": 2048, "pattern": r"^\s*[Hh][Tt][Tt][Pp][Ss]?://"});
    let prefix = json!({"maxLength": 256, "pattern": r"^[\x20-\x7E]*$"});
    let required = json!({"minLength": 1});
    vec![
        ("SessionLoginRequest", "adminUsername", not_blank()),
        ("SessionLoginRequest", "adminPassword", required.clone()),
        ("SessionLoginRequest", "tenant", not_blank()),
        ("XelionContextRequest", "adminUsername", not_blank()),
        ("XelionContextRequest", "adminPassword", required.clone()),
        ("XelionContextRequest", "tenant", not_blank()),
        (
            "CrmContextRequest",
            "authorizationServerUri",
            token_uri.clone(),
        ),
        ("CrmContextRequest", "authorizationHeaderPrefix", prefix),
        ("UserCredentialsRequest", "xelionUsername", not_blank()),
        ("EventUriMappingRequest", "crmResourceUri", not_blank()),
        ("EventUriMappingRequest", "method", methods.clone()),
        ("UserUpdateRequest", "xelionUsername", not_blank()),
        ("UpdateValueRequest", "value", required.clone()),
        ("XelionEnvironment", "tenant", not_blank()),
        ("AdminUsernameUpdate", "newUsername", not_blank()),
        ("AdminPasswordUpdate", "newPassword", required.clone()),
        ("MappingPreviewRequest", "xelionEvent", events),
        (
            "AppExternalApiContext",
            "authorizationServerUri",
            token_uri.clone(),
        ),
        ("AppUserContext", "clientId", not_blank()),
        ("AppUserContext", "xelionUsername", not_blank()),
        ("AppUserContext", "refreshToken", not_blank()),
        ("AppUserContext", "accessToken", not_blank()),
        ("AppXelionContext", "tenant", not_blank()),
        ("ExternalApiRequest", "xelionUsername", not_blank()),
        ("EndpointContext", "authorizationServerUri", token_uri),
        ("EndpointContext", "endpointUri", not_blank()),
        ("EndpointContext", "method", methods),
    ]
}

/// The rules of path and query parameters, by name.
fn parameter_rule(name: &str) -> Option<Value> {
    Some(match name {
        "xelionHost" => json!({"pattern": HOST_PATTERN, "maxLength": 253}),
        "oauthCredentialsType" => {
            json!({"enum": ["clientid", "clientsecret", "refreshtoken", "devicecode"]})
        }
        "status" => json!({"enum": ["pending", "retrying", "held", "delivered", "failed"]}),
        "xelionEvent" => json!({"enum": ["newCallEvent", "callConnectedEvent",
            "callHungUpEvent", "channelHungUpEvent", "missedCallEvent"]}),
        "limit" => json!({"minimum": 1, "maximum": 500}),
        _ => return None,
    })
}

/// Merges `rule`'s keys into a schema object.
fn merge(schema: &mut Value, rule: &Value) {
    if let (Some(schema), Some(rule)) = (schema.as_object_mut(), rule.as_object()) {
        for (k, v) in rule {
            schema.insert(k.clone(), v.clone());
        }
    }
}

/// Puts the field rules and the host syntax into the component schemas.
fn schema_rules(doc: &mut Value) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (schema, property, rule) in field_rules() {
        if let Some(p) = schemas
            .get_mut(schema)
            .and_then(|s| s.get_mut("properties"))
            .and_then(|p| p.get_mut(property))
        {
            merge(p, &rule);
        }
    }
    // An array of users must name one at least.
    if let Some(forms) = schemas
        .get_mut("UsersBody")
        .and_then(|s| s.get_mut("oneOf"))
        .and_then(Value::as_array_mut)
    {
        for form in forms.iter_mut().filter(|f| f["type"] == "array") {
            merge(form, &json!({"minItems": 1}));
        }
    }
    // Payloads are any JSON (a template tree: object, array, string, number, ...).
    for (schema, property) in [
        ("EventUriMappingRequest", "crmResourcePayload"),
        ("EventUriMappingView", "crmResourcePayload"),
        ("EndpointContext", "payload"),
        ("ExternalApiResponse", "payload"),
    ] {
        if let Some(p) = schemas
            .get_mut(schema)
            .and_then(|s| s.get_mut("properties"))
            .and_then(|p| p.get_mut(property))
            .and_then(Value::as_object_mut)
        {
            p.remove("type");
        }
    }
    let host = json!({"pattern": HOST_PATTERN, "maxLength": 253});
    for name in [
        "SessionLoginRequest",
        "XelionContextRequest",
        "XelionEnvironment",
        "AppXelionContext",
    ] {
        if let Some(p) = schemas
            .get_mut(name)
            .and_then(|s| s.get_mut("properties"))
            .and_then(|p| p.get_mut("host"))
        {
            merge(p, &host);
        }
    }
}

/// Adds what every operation shares; see the module's documentation.
fn complete(doc: &mut Value) {
    schema_rules(doc);
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(ops) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in ops.iter_mut() {
            complete_operation(path, method, op);
        }
    }
}

fn complete_operation(path: &str, method: &str, op: &mut Value) {
    let api = path.starts_with("/api/");
    if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        for p in params {
            let name = p["name"].as_str().unwrap_or_default().to_string();
            if let Some(rule) = parameter_rule(&name) {
                if let Some(schema) = p.get_mut("schema") {
                    merge(schema, &rule);
                }
            }
        }
    }
    let has_path_ids = path.contains('{');
    let has_query = op
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
    let has_body = op.get("requestBody").is_some();
    let secured = op
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|s| !s.is_empty());
    if let Some(body) = op.get_mut("requestBody").and_then(Value::as_object_mut) {
        // An empty body is refused (400): every body is required.
        body.insert("required".into(), Value::Bool(true));
        if let Some(example) = example(path, method) {
            if let Some(media) = body
                .get_mut("content")
                .and_then(|c| c.get_mut("application/json"))
                .and_then(Value::as_object_mut)
            {
                media.entry("example").or_insert(example);
            }
        }
    }
    let Some(responses) = op
        .as_object_mut()
        .and_then(|o| o.get_mut("responses"))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let mut add = |status: &str, response: Value| {
        responses.entry(status.to_string()).or_insert(response);
    };
    if has_path_ids || has_query || has_body {
        add(
            "400",
            error_response(
                "a path id that is not an int64, a bad query parameter or a bad body; `message` \
                 names the parameter or the field path",
            ),
        );
    }
    if secured {
        add(
            "401",
            error_response(
                "no `Authorization` header with a token of the required scheme, or an unknown \
                 or expired token",
            ),
        );
    }
    if has_path_ids && api {
        add(
            "404",
            error_response("no such object (an object of another tenant answers the same)"),
        );
    }
    let mut not_allowed = error_response(
        "the path exists but does not take this method; `Allow` lists the methods it takes",
    );
    not_allowed["headers"] = json!({
        "Allow": {"description": "the methods the path takes", "schema": {"type": "string"}}
    });
    add("405", not_allowed);
    if has_body {
        add(
            "413",
            error_response(&format!("the body is larger than {BODY_LIMIT} bytes")),
        );
    }
    if contacts_xelion(method, path) {
        add(
            "502",
            error_response(
                "Xelion could not be reached or failed (refused, TLS against a plain server, \
                 timeout); `message` says which URL and why",
            ),
        );
    }
    if api {
        add(
            "503",
            error_response("the database is unavailable or the server is restarting; try again"),
        );
    }
    if let Some(limited) = responses.get_mut("429").and_then(Value::as_object_mut) {
        let headers = limited
            .entry("headers")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(h) = headers.as_object_mut() {
            h.entry("Retry-After").or_insert_with(retry_after);
        }
    }
}

/// Whether an operation logs in at Xelion (or asks it something) before it answers.
fn contacts_xelion(method: &str, path: &str) -> bool {
    matches!(
        (method, path),
        ("post", "/api/session/login")
            | ("post", "/api/crm-integrations")
            | ("post", "/api/cti-app-context")
            | ("put", "/api/users/{userId}")
            | ("put", "/api/xelion-environment/{xelionContextId}")
    ) || (method == "post"
        && (path.ends_with("/user-credentials")
            || path.ends_with("/admin/password/update")
            || path.ends_with("/admin/username/update")))
}

/// The example request body of an operation whose annotation has none.
fn example(path: &str, method: &str) -> Option<Value> {
    let host = json!({"host": "xelion.example.com", "tenant": "master", "protocol": "https"});
    Some(match (method, path) {
        ("post", "/api/session/login") => json!({
            "adminUsername": "admin", "adminPassword": "admin-password",
            "host": "xelion.example.com", "tenant": "master", "protocol": "https"
        }),
        ("post", "/api/crm-integrations") => json!({
            "xelionContext": {
                "adminUsername": "admin", "adminPassword": "admin-password",
                "host": "xelion.example.com", "tenant": "master", "protocol": "https"
            },
            "crmContext": {
                "authorizationServerUri": "https://crm.example.org/oauth/token",
                "authorizationHeaderPrefix": "Bearer "
            },
            "userCredentials": [{
                "xelionUsername": "alice", "clientId": "client-id",
                "clientSecret": "client-secret", "refreshToken": "refresh-token"
            }],
            "eventUriMappings": [{
                "xelionEvent": "newCallEvent",
                "crmResourceUri": "https://crm.example.org/calls",
                "crmResourcePayload": {"callId": "${callId}", "to": "${calleePhoneNumber}"}
            }]
        }),
        ("post", p) if p.ends_with("/user-credentials") => json!([{
            "xelionUsername": "alice", "clientId": "client-id",
            "clientSecret": "client-secret", "refreshToken": "refresh-token"
        }]),
        ("put", p) if p.ends_with("/event-uri-mappings") => json!([{
            "id": 1, "xelionEvent": "missedCallEvent",
            "crmResourceUri": "https://crm.example.org/calls/missed?from=${callerPhoneNumber}",
            "crmResourcePayload": null, "method": "POST"
        }]),
        ("post", p) if p.ends_with("/event-uri-mappings/preview") => json!({
            "xelionEvent": "newCallEvent",
            "event": {"callId": "4711", "callerPhoneNumber": "+31201234567",
                      "calleePhoneNumber": "+31207654321", "initiation": "incoming"}
        }),
        ("put", "/api/users/{userId}") => json!({"xelionUsername": "alice"}),
        ("post", "/api/users/{userId}/{oauthCredentialsType}/update") => {
            json!({"value": "new-client-secret"})
        }
        ("put", "/api/xelion-environment/{xelionContextId}") => host,
        ("post", p) if p.ends_with("/admin/password/update") => {
            json!({"oldPassword": "admin-password", "newPassword": "new-admin-password"})
        }
        ("post", p) if p.ends_with("/admin/username/update") => {
            json!({"oldUsername": "admin", "newUsername": "administrator"})
        }
        ("post", "/api/cti-app-context") => json!({
            "appExternalApiContext": {
                "authorizationServerUri": "https://api.example.org/oauth/token",
                "authorizationHeaderPrefix": "Bearer "
            },
            "appUserContext": {
                "clientId": "client-id", "xelionUsername": "alice",
                "clientSecret": "client-secret", "refreshToken": "refresh-token",
                "accessToken": "access-token"
            },
            "appXelionContext": host
        }),
        ("post", "/api/external-api-endpoint/call") => json!({
            "appXelionContext": host,
            "endpointContext": {
                "authorizationServerUri": "https://api.example.org/oauth/token",
                "endpointUri": "https://api.example.org/v1/contacts?phone=%2B31201234567",
                "method": "GET"
            },
            "xelionUsername": "alice"
        }),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_complete() {
        let doc = document();
        let paths = doc["paths"].as_object().expect("paths");
        for (path, item) in paths {
            for (method, op) in item.as_object().expect("operations") {
                let at = format!("{method} {path}");
                let summary = op["summary"].as_str().unwrap_or_default();
                assert!(
                    !summary.is_empty() && !summary.contains('\n') && summary.len() <= 90,
                    "{at}: the summary must be one short line: {summary:?}"
                );
                let responses = op["responses"].as_object().expect("responses");
                assert!(responses.contains_key("405"), "{at}: 405");
                if let Some(body) = op.get("requestBody") {
                    assert!(responses.contains_key("413"), "{at}: 413");
                    assert!(responses.contains_key("400"), "{at}: 400");
                    assert!(
                        body["content"]["application/json"]["example"].is_object()
                            || body["content"]["application/json"]["example"].is_array(),
                        "{at}: no example body"
                    );
                }
                if path.contains('{') {
                    assert!(responses.contains_key("400"), "{at}: 400");
                }
                if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                    assert!(responses.contains_key("401"), "{at}: 401");
                }
                if let Some(limited) = responses.get("429") {
                    assert!(
                        limited["headers"]["Retry-After"].is_object(),
                        "{at}: 429 without Retry-After"
                    );
                }
            }
        }
    }
}
