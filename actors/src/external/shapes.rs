//! The JSON shapes of `POST /api/cti-app-context` and `POST /api/external-api-endpoint/call`,
//! field for field as the CTI API document writes them (`protocol` is an addition).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::Protocol;

/// `POST /api/cti-app-context`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CtiAppRequest {
    /// The external service's OAuth 2.0 token endpoint and header prefix.
    pub app_external_api_context: AppExternalApiContext,
    /// The Xelion app user and its OAuth 2.0 credentials at the service.
    pub app_user_context: AppUserContext,
    /// The Xelion tenant of the user.
    pub app_xelion_context: AppXelionContext,
}

/// `appExternalApiContext`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppExternalApiContext {
    /// The token endpoint; calls name the app context by this exact value.
    pub authorization_server_uri: String,
    /// Put verbatim before the access token in `Authorization` (include the space, e.g.
    /// `Bearer `).
    pub authorization_header_prefix: String,
}

/// `appUserContext`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppUserContext {
    /// The OAuth client.
    pub client_id: String,
    /// The Xelion user the `Authorization: xelion` token belongs to.
    pub xelion_username: String,
    /// Optional (a public client has none); stored encrypted.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Stored encrypted; used when the service refuses the access token.
    pub refresh_token: String,
    /// The current access token: what calls present as `Authorization: xelion_cti <token>`.
    pub access_token: String,
}

/// `appXelionContext`: where the Xelion user lives.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppXelionContext {
    /// Xelion host, optionally with a port.
    pub host: String,
    /// Xelion tenant.
    pub tenant: String,
    /// Optional: the stored xelion context's protocol wins, else this, else `https`.
    #[serde(default)]
    pub protocol: Option<Protocol>,
}

/// `POST /api/external-api-endpoint/call`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalApiRequest {
    /// The Xelion tenant of the app context.
    pub app_xelion_context: AppXelionContext,
    /// What to call.
    pub endpoint_context: EndpointContext,
    /// The Xelion user of the app context.
    pub xelion_username: String,
}

/// `endpointContext`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointContext {
    /// Exactly the `authorizationServerUri` of the registration.
    pub authorization_server_uri: String,
    /// The URL called as given (query parameters already percent-encoded).
    pub endpoint_uri: String,
    /// Sent as the JSON body; none for GET or `null`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub payload: Option<Value>,
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: String,
}

/// The answer to a call the service answered with 2xx.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExternalApiResponse {
    /// The access token now current (a new one after a refresh): present it next time.
    pub access_token: String,
    /// The service's JSON body; a body that is not JSON as a string; `null` for none.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub payload: Value,
}

/// What the HTTP layer answers a call with.
#[derive(Debug, Clone, PartialEq)]
pub enum ExternalAnswer {
    /// The service answered 2xx: its status (200 for a 204 or 205, which cannot carry the
    /// token) and the document's body.
    Success {
        /// HTTP status.
        status: u16,
        /// `{"accessToken","payload"}`.
        body: ExternalApiResponse,
    },
    /// Any other status, passed through: status, body as received, and the headers that
    /// matter to a client.
    PassThrough {
        /// The service's status.
        status: u16,
        /// `Content-Type`, `Location`, `Retry-After`, `WWW-Authenticate`, when present.
        headers: Vec<(String, String)>,
        /// The body as received (at most the configured bound).
        body: Vec<u8>,
    },
}
