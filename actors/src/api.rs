//! The shapes of the admin API, field for field as the CTI API document writes them.
//!
//! Requests reject unknown fields where a typo would silently lose data (credentials,
//! contexts); responses never carry a secret.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::domain::Protocol;
use crate::domain::{
    CrmContextId, DeliveryId, DeliveryStatus, HttpMethod, MappingId, UserId, XelionContextId,
    XelionEvent,
};

/// `POST /api/session/login`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionLoginRequest {
    /// A Xelion administrator of the tenant.
    pub admin_username: String,
    /// Its password.
    pub admin_password: String,
    /// Xelion host, optionally with a port.
    pub host: String,
    /// Xelion tenant.
    pub tenant: String,
    /// Optional: else the stored context's protocol, else `https`.
    #[serde(default)]
    pub protocol: Option<Protocol>,
}

/// The answer to a session login.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SessionLoginResponse {
    /// The API token, sent back as `Authorization: xelion <token>`.
    pub authentication: String,
    /// When it expires, `yyyy-MM-dd HH:mm:ss` UTC.
    pub valid_until: String,
}

/// The caller's API session, as the status page shows it. No token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    /// The Xelion administrator who logged in.
    pub username: String,
    /// The Xelion host of the session's scope.
    pub host: String,
    /// The Xelion tenant of the session's scope.
    pub tenant: String,
    /// When the session ends (`yyyy-MM-dd HH:mm:ss` UTC).
    pub valid_until: String,
}

/// `xelionContext` of `POST /api/crm-integrations`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct XelionContextRequest {
    /// A Xelion administrator of the tenant.
    pub admin_username: String,
    /// Its password (stored encrypted).
    pub admin_password: String,
    /// Xelion host, optionally with a port.
    pub host: String,
    /// Xelion tenant.
    pub tenant: String,
    /// `http` or `https` (default `https`).
    #[serde(default)]
    pub protocol: Option<Protocol>,
}

/// `crmContext` of `POST /api/crm-integrations`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CrmContextRequest {
    /// The CRM's OAuth 2.0 token endpoint.
    pub authorization_server_uri: String,
    /// Put before the access token in `Authorization` (default `Bearer `).
    #[serde(default)]
    pub authorization_header_prefix: Option<String>,
}

/// One user's OAuth 2.0 credentials.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserCredentialsRequest {
    /// The Xelion user name (resolved to its oid in Xelion).
    pub xelion_username: String,
    /// OAuth client id.
    #[serde(default)]
    pub client_id: Option<String>,
    /// OAuth client secret (stored encrypted).
    #[serde(default)]
    pub client_secret: Option<String>,
    /// OAuth device code (stored encrypted).
    #[serde(default)]
    pub device_code: Option<String>,
    /// OAuth refresh token (stored encrypted).
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// One event URI mapping as sent by a client.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventUriMappingRequest {
    /// On PUT: the mapping this element replaces.
    #[serde(default)]
    pub id: Option<MappingId>,
    /// `newCallEvent`, `callConnectedEvent`, `callHungUpEvent`, `channelHungUpEvent` or `missedCallEvent`.
    pub xelion_event: XelionEvent,
    /// The CRM URL, an EL template.
    pub crm_resource_uri: String,
    /// A JSON tree of EL templates; `null` sends no body.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub crm_resource_payload: Option<Value>,
    /// HTTP method (default `POST`).
    #[serde(default)]
    pub method: Option<String>,
    /// Extra request headers.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    /// Ignored: lets a client PUT back what GET returned.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub created_at: Option<Value>,
}

/// `POST /api/crm-integrations`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CrmIntegrationRequest {
    /// The Xelion tenant and its administrator.
    pub xelion_context: XelionContextRequest,
    /// The CRM.
    pub crm_context: CrmContextRequest,
    /// Users whose calls are delivered.
    #[serde(default)]
    pub user_credentials: Vec<UserCredentialsRequest>,
    /// What to send for which event.
    #[serde(default)]
    pub event_uri_mappings: Vec<EventUriMappingRequest>,
}

/// A crm context as answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CrmContextView {
    /// Put before the access token.
    pub authorization_header_prefix: String,
    /// The CRM's token endpoint.
    pub authorization_server_uri: String,
    /// Its id.
    pub id: CrmContextId,
}

/// A xelion context as answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct XelionContextView {
    /// Xelion host.
    pub host: String,
    /// Its id.
    pub id: XelionContextId,
    /// `http` or `https`.
    pub protocol: Protocol,
    /// Xelion tenant.
    pub tenant: String,
}

/// `RestCrmIntegration` as answered.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CrmIntegrationResponse {
    /// The first (or the created) crm context.
    pub crm_context: CrmContextView,
    /// The xelion context.
    pub xelion_context: XelionContextView,
    /// On GET: every crm context of the xelion context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crm_contexts: Option<Vec<CrmContextView>>,
}

/// A registered user, as `user-credentials` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UserCredentialsView {
    /// Xelion user name.
    pub xelion_username: String,
    /// Xelion oid.
    pub xelion_oid: String,
    /// Id for `/api/users/{userId}` (a string, as documented).
    pub user_credentials_id: String,
}

/// `GET /api/users/{userId}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    /// Xelion oid.
    pub xelion_oid: String,
    /// Xelion user name.
    pub xelion_username: String,
}

/// A user whose CRM credentials need re-authorisation (the token endpoint refused them;
/// deliveries are held until new ones are stored). No secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReauthorisationView {
    /// The user.
    pub user_id: UserId,
    /// Its crm context.
    pub crm_context_id: CrmContextId,
    /// Xelion user name.
    pub xelion_username: String,
    /// The OAuth error code (`invalid_grant`, ...).
    pub error: String,
    /// Since when (`yyyy-MM-dd HH:mm:ss` UTC).
    pub since: Option<String>,
}

/// `PUT /api/users/{userId}`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserUpdateRequest {
    /// The new Xelion user name.
    pub xelion_username: String,
    /// The new oid; looked up in Xelion when omitted.
    #[serde(default)]
    pub xelion_oid: Option<String>,
}

/// `POST /api/users/{userId}/{type}/update`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateValueRequest {
    /// The new value.
    pub value: String,
}

/// `GET/PUT /api/xelion-environment/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct XelionEnvironment {
    /// Xelion host.
    pub host: String,
    /// `http` or `https`.
    pub protocol: Protocol,
    /// Xelion tenant.
    pub tenant: String,
}

/// `POST /api/xelion-environment/{id}/admin/username/update`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdminUsernameUpdate {
    /// Must match the stored admin username.
    pub old_username: String,
    /// The new one (verified by a Xelion login with the stored password).
    pub new_username: String,
}

/// `POST /api/xelion-environment/{id}/admin/password/update`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdminPasswordUpdate {
    /// Must match the stored admin password.
    pub old_password: String,
    /// The new one (verified by a Xelion login).
    pub new_password: String,
}

/// An event URI mapping as answered.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct EventUriMappingView {
    /// When it was stored.
    pub created_at: String,
    /// The payload template.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub crm_resource_payload: Option<Value>,
    /// The URI template.
    pub crm_resource_uri: String,
    /// Its id.
    pub id: MappingId,
    /// The Xelion event.
    pub xelion_event: XelionEvent,
    /// HTTP method, shown when not `POST`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<HttpMethod>,
    /// Extra headers, when any.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub headers: Option<Value>,
}

/// The query of `GET .../deliveries`, as sent: each value is checked by the command, which
/// names the parameter of a bad one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeliveryQuery {
    /// `pending`, `retrying`, `held`, `delivered` or `failed`.
    #[serde(default)]
    pub status: Option<String>,
    /// A registered user's id.
    #[serde(default)]
    pub user_id: Option<String>,
    /// An event type.
    #[serde(default)]
    pub xelion_event: Option<String>,
    /// A Xelion callId.
    #[serde(default)]
    pub call_id: Option<String>,
    /// Created at or after (`yyyy-MM-ddTHH:mm:ss[.fff]`, UTC).
    #[serde(default)]
    pub since: Option<String>,
    /// Created before.
    #[serde(default)]
    pub until: Option<String>,
    /// The `nextCursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[serde(default)]
    pub limit: Option<String>,
}

/// One request a delivery made to the CRM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    /// When it was sent (`yyyy-MM-ddTHH:mm:ss.fffffffff`, UTC).
    pub at: String,
    /// The CRM's HTTP status; null when no answer came.
    pub status: Option<u16>,
    /// How long it took.
    pub duration_ms: u64,
    /// The start of the answer's body (at most 512 bytes).
    pub excerpt: Option<String>,
    /// What went wrong (a timeout, a refused connection).
    pub error: Option<String>,
}

/// A delivery of the log, with its attempts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    /// Its id (also the `Idempotency-Key` sent to the CRM).
    pub id: DeliveryId,
    /// The crm context it goes to.
    pub crm_context_id: CrmContextId,
    /// The user it is sent as.
    pub user_id: UserId,
    /// The mapping it renders.
    pub mapping_id: MappingId,
    /// The event type.
    pub xelion_event: XelionEvent,
    /// The event's callId.
    pub call_id: String,
    /// `pending`, `retrying`, `held`, `delivered` or `failed`.
    pub status: DeliveryStatus,
    /// When it is due (pending and retrying deliveries only).
    pub next_attempt_at: Option<String>,
    /// Why it failed or is held.
    pub reason: Option<String>,
    /// When it was accepted.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
    /// The call event's fields as Xelion sent them.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub event: Value,
    /// Every request made, oldest first.
    pub attempts: Vec<AttemptView>,
}

/// A page of the delivery log, newest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeliveryPage {
    /// The deliveries.
    pub deliveries: Vec<DeliveryView>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    pub next_cursor: Option<String>,
}

/// `POST .../event-uri-mappings/preview`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MappingPreviewRequest {
    /// A sample call event: the fields of a Xelion notification, as Xelion sends them.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub event: Value,
    /// The event type to render the mappings of.
    pub xelion_event: String,
    /// Mappings to try instead of the stored ones (the shape of the PUT body).
    #[serde(default)]
    pub event_uri_mappings: Option<Vec<EventUriMappingRequest>>,
}

/// The answer of a mapping preview.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MappingPreview {
    /// The event type rendered.
    pub xelion_event: XelionEvent,
    /// `stored` (the crm context's mappings) or `request` (the given `eventUriMappings`).
    pub mappings: &'static str,
    /// One element per mapping of that event type, in order.
    pub previews: Vec<MappingPreviewItem>,
}

/// What one mapping would send for the sample event, or why it cannot.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MappingPreviewItem {
    /// The stored mapping's id (or the `id` given with it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<MappingId>,
    /// For given mappings: the position in `eventUriMappings`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// The request that would be sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<PreviewedRequest>,
    /// The template that does not parse or render, and where.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<PreviewTemplateError>,
    /// The outbound rule refuses the URI's address: the delivery would fail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbound_refusal: Option<String>,
}

/// A request as it would be sent, the access token and delivery id as placeholders.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PreviewedRequest {
    /// HTTP method.
    pub method: HttpMethod,
    /// The URL, substituted values percent-encoded.
    pub uri: String,
    /// Header names and values, in the order sent.
    #[serde(serialize_with = "ordered_object")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub headers: Vec<(String, String)>,
    /// The JSON body; `null`: no body.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub body: Option<Value>,
}

/// A template error with its position.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PreviewTemplateError {
    /// `parse` (broken for every event) or `render` (failed for this event).
    pub stage: &'static str,
    /// `crmResourceUri`, `crmResourcePayload` or `headers`.
    pub field: &'static str,
    /// Inside the payload: the JSON path of the value (`myObject.callId`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The 1-based character column in that template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// The whole message, e.g. `crmResourceUri: column 37: expected an expression`.
    pub message: String,
}

/// Name-value pairs as a JSON object, in their order.
fn ordered_object<S: serde::Serializer>(
    pairs: &[(String, String)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap as _;
    let mut map = serializer.serialize_map(Some(pairs.len()))?;
    for (name, value) in pairs {
        map.serialize_entry(name, value)?;
    }
    map.end()
}
