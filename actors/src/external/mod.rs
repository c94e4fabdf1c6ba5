//! External API calls for Xelion app users: `POST /api/cti-app-context` registers a user's
//! OAuth 2.0 credentials for an external service (`register.rs`), `POST
//! /api/external-api-endpoint/call` calls that service with them (`call.rs`: who may call,
//! the refresh on 401; `forward.rs`: one request and its answer, bounded).
//!
//! The access token is kept fresh by the token actors (`crate::token`), the same machinery as
//! the users' CRM tokens, with the app context as the owner: one refresh however many calls
//! meet an expired token, and a rotated refresh token stored before the new access token is
//! used. Every request (Xelion's `me/info`, the service, its token endpoint) goes through the
//! guarded client: the outbound rule applies.

mod call;
mod forward;
mod register;
mod shapes;

use std::time::Duration;

use crate::error::ApiError;
use crate::outbound::GuardedClient;
use crate::store::Store;
use crate::token::{TokenError, Tokens};
use crate::xelion::XelionClient;

pub use shapes::{
    AppExternalApiContext, AppUserContext, AppXelionContext, CtiAppRequest, EndpointContext,
    ExternalAnswer, ExternalApiRequest, ExternalApiResponse,
};

/// Limits of the calls to external services.
#[derive(Debug, Clone)]
pub struct ExternalSettings {
    /// The longest one request to an external service may take, its answer read: after it the
    /// call answers 504.
    pub request_timeout: Duration,
    /// The most of an answer that is read: a larger one answers 502 (nothing of it is passed
    /// on), so one call cannot fill the server's memory.
    pub max_response_bytes: usize,
}

impl Default for ExternalSettings {
    fn default() -> Self {
        ExternalSettings {
            request_timeout: Duration::from_secs(30),
            max_response_bytes: 4 * 1024 * 1024,
        }
    }
}

/// Runs the two commands (cheap to clone).
#[derive(Clone)]
pub struct External {
    store: Store,
    xelion: XelionClient,
    tokens: Tokens,
    settings: ExternalSettings,
}

impl External {
    /// The commands over a store, the Xelion client (whose guarded HTTP client also calls the
    /// services) and the token actors.
    pub fn new(
        store: Store,
        xelion: XelionClient,
        tokens: Tokens,
        settings: ExternalSettings,
    ) -> Self {
        External {
            store,
            xelion,
            tokens,
            settings,
        }
    }

    fn http(&self) -> &GuardedClient {
        self.xelion.http()
    }
}

/// Why an app context got no access token, as the caller sees it.
fn token_failure(e: TokenError) -> ApiError {
    match e {
        TokenError::NeedsReauthorisation { error, since } => ApiError::unauthenticated(format!(
            "the token endpoint refused the refresh token (`{error}`, {since}); register the \
             app context again with POST /api/cti-app-context"
        )),
        TokenError::Transient { message, .. } => ApiError::ExternalUnavailable(format!(
            "no access token could be had from the token endpoint: {message}"
        )),
        TokenError::NoSuchUser => ApiError::unauthenticated(
            "the app context is gone; register it again with POST /api/cti-app-context",
        ),
        TokenError::Store(e) => e.into(),
    }
}
