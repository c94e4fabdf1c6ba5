//! The HTTP admin API: one module per resource of the CTI API document.
//!
//! Handlers parse and check the request, send one message to the supervisor and turn the
//! reply into JSON. They never touch storage or the Xelion client.

use actix::{Addr, MailboxError};
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use cti_actors::metrics::Metrics;
use cti_actors::{ApiError, Supervisor};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::{ready, Ready};
use utoipa::ToSchema;

pub mod crm_integrations;
pub mod deliveries;
pub mod external;
pub mod fallback;
pub mod health;
pub mod input;
pub mod mappings;
pub mod metrics;
pub mod openapi;
pub mod session;
pub mod ui;
pub mod user_tokens;
pub mod users;
pub mod xelion_environment;

pub use fallback::not_found;
pub use input::parse_json;

/// Request bodies larger than this are refused with 413.
pub const BODY_LIMIT: usize = 256 * 1024;

/// The error body, Xelion's shape.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// A stable code (see README.md).
    pub error_code: u32,
    /// What is wrong and how to fix it.
    pub message: String,
    /// `resource=<METHOD> <path>`.
    pub info: String,
    /// On 409 for a crm context that exists already: its id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crm_context_id: Option<i64>,
}

/// An [`ApiError`] with the resource it happened on.
#[derive(Debug)]
pub struct HttpError {
    err: ApiError,
    resource: String,
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.err, self.resource)
    }
}

impl ResponseError for HttpError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The one place an error becomes an answer, so the one place it is logged (see
    /// [`HttpError::log`]).
    fn error_response(&self) -> HttpResponse {
        self.log();
        let spec = self.err.spec();
        let mut resp = HttpResponse::build(self.status_code());
        if let ApiError::RateLimited { retry_after } = self.err {
            resp.insert_header(("Retry-After", retry_after.to_string()));
        }
        resp.json(ErrorBody {
            error_code: spec.code,
            message: self.err.to_string(),
            info: self.resource.clone(),
            crm_context_id: match self.err {
                ApiError::CrmContextExists(id) => Some(id.0),
                _ => None,
            },
        })
    }
}

impl HttpError {
    /// Logs the error as it is answered: a server-side failure at ERROR (with its detail,
    /// which the answer never carries), a caller's mistake at DEBUG. The status page calls it
    /// for the errors it shows.
    pub(crate) fn log(&self) {
        let spec = self.err.spec();
        match &self.err {
            ApiError::Internal { context, detail } => tracing::error!(
                kind = spec.kind,
                status = spec.status,
                resource = %self.resource,
                error = %detail,
                "internal error while {context}"
            ),
            ApiError::DatabaseUnavailable { detail } => tracing::error!(
                kind = spec.kind,
                status = spec.status,
                resource = %self.resource,
                error = %detail,
                "the database is unavailable"
            ),
            // Xelion's failure, not the server's: a warning with the URL tried and the reason.
            err @ ApiError::XelionUnavailable(_) => tracing::warn!(
                kind = spec.kind,
                status = spec.status,
                resource = %self.resource,
                "{err}"
            ),
            err if spec.status >= 500 => tracing::error!(
                kind = spec.kind,
                status = spec.status,
                resource = %self.resource,
                "{err}"
            ),
            err => tracing::debug!(
                kind = spec.kind,
                status = spec.status,
                resource = %self.resource,
                "{err}"
            ),
        }
    }
}

fn resource(req: &HttpRequest) -> String {
    format!("resource={} {}", req.method(), req.path())
}

/// Wraps an error for a request.
pub fn http_error(req: &HttpRequest, err: ApiError) -> HttpError {
    HttpError {
        err,
        resource: resource(req),
    }
}

/// What every handler needs: the supervisor, the caller's token, and where errors happened.
pub struct Call {
    supervisor: Addr<Supervisor>,
    /// The token of `Authorization: xelion <token>`, if any.
    pub token: Option<String>,
    resource: String,
    /// The peer address, for rate limits.
    pub source: String,
    /// What is wrong with an `Authorization` header that carries no usable token.
    auth_problem: Option<String>,
}

impl Call {
    /// Sends a command to the supervisor.
    pub async fn send<M, T>(&self, msg: M) -> Result<T, HttpError>
    where
        M: actix::Message<Result = Result<T, ApiError>> + Send + 'static,
        T: Send + 'static,
        Supervisor: actix::Handler<M>,
    {
        match self.supervisor.send(msg).await {
            Ok(res) => res.map_err(|err| self.error(err)),
            Err(MailboxError::Closed | MailboxError::Timeout) => {
                Err(self.error(ApiError::Unavailable))
            }
        }
    }

    /// The same call for an operation with an `Authorization` scheme of its own (not
    /// `xelion`): its 401s are its own, not a complaint about the admin token's scheme.
    pub fn with_own_scheme(mut self) -> Self {
        self.auth_problem = None;
        self
    }

    /// Wraps an error for this call. A 401 for a request whose `Authorization` header was
    /// there but not usable says what is wrong with it rather than that it is missing.
    pub fn error(&self, err: ApiError) -> HttpError {
        let err = match (err, &self.auth_problem) {
            (ApiError::NotAuthenticated(_), Some(problem)) if self.token.is_none() => {
                ApiError::NotAuthenticated(problem.clone())
            }
            (err, _) => err,
        };
        HttpError {
            err,
            resource: self.resource.clone(),
        }
    }

    /// A 401 before anything else when no token was sent at all (a body is parsed only for
    /// callers that could be allowed; the token itself is checked by the supervisor).
    pub fn require_token(&self) -> Result<(), HttpError> {
        match self.token {
            Some(_) => Ok(()),
            None => Err(self.error(ApiError::unauthenticated(MISSING_TOKEN))),
        }
    }

    /// Parses a JSON body, naming the field path of what is wrong.
    pub fn json<T: DeserializeOwned>(&self, body: &[u8]) -> Result<T, HttpError> {
        parse_json(body).map_err(|e| self.error(e))
    }
}

impl FromRequest for Call {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(supervisor) = req.app_data::<web::Data<Addr<Supervisor>>>() else {
            return ready(Err(http_error(req, ApiError::Unavailable).into()));
        };
        let (token, auth_problem) = match req.headers().get("Authorization") {
            None => (None, None),
            Some(v) => match read_authorization(v.to_str().unwrap_or("")) {
                Ok(token) => (Some(token), None),
                Err(problem) => (None, Some(problem)),
            },
        };
        ready(Ok(Call {
            supervisor: supervisor.get_ref().clone(),
            token,
            auth_problem,
            resource: resource(req),
            source: req
                .peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default(),
        }))
    }
}

const MISSING_TOKEN: &str =
    "missing `Authorization: xelion <token>`; get a token from POST /api/session/login";

/// The token of `Authorization: xelion <token>`, or what is wrong with the header.
fn read_authorization(value: &str) -> Result<String, String> {
    let value = value.trim();
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("xelion") {
        let scheme = if scheme.is_empty() { "(none)" } else { scheme };
        return Err(format!(
            "Authorization: the scheme must be `xelion` (`Authorization: xelion <token>`), not \
             `{}`; get a token from POST /api/session/login",
            scheme.chars().take(20).collect::<String>()
        ));
    }
    if token.is_empty() {
        return Err(
            "Authorization: `xelion` is not followed by a token (`Authorization: xelion <token>`)"
                .to_string(),
        );
    }
    Ok(token.to_string())
}

/// A 200 with a JSON body.
pub fn ok_json<T: Serialize>(value: &T) -> HttpResponse {
    HttpResponse::Ok().json(value)
}

/// Registers every route of the admin API and the server's own endpoints.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(BODY_LIMIT))
        .app_data(
            web::PathConfig::default()
                .error_handler(|_, req| http_error(req, input::path_error(req)).into()),
        )
        .app_data(web::QueryConfig::default().error_handler(|err, req| {
            http_error(
                req,
                ApiError::bad_parameter(format!("invalid query: {err}")),
            )
            .into()
        }))
        .configure(session::routes)
        .configure(crm_integrations::routes)
        .configure(users::routes)
        .configure(user_tokens::routes)
        .configure(xelion_environment::routes)
        .configure(mappings::routes)
        .configure(deliveries::routes)
        .configure(external::routes)
        .configure(openapi::routes)
        .configure(health::routes)
        .configure(metrics::routes)
        .configure(ui::routes);
}

/// Logs each request (method, path, status, time; never headers or bodies).
pub async fn access_log(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<actix_web::body::BoxBody>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let method = req.method().clone();
    let path = req.path().to_string();
    let started = std::time::Instant::now();
    let res = next.call(req).await?;
    let status = res.status();
    if let Some(metrics) = res.request().app_data::<web::Data<Metrics>>() {
        let route = res.request().match_pattern();
        metrics.http_request(
            route.as_deref().unwrap_or("unmatched"),
            method.as_str(),
            status.as_u16(),
            started.elapsed(),
        );
    }
    tracing::info!(
        %method,
        %path,
        status = status.as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    Ok(res)
}
