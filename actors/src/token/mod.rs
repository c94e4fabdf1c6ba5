//! OAuth 2.0 tokens: the only code that talks to OAuth token endpoints.
//!
//! A token has an owner ([`TokenOwner`]): a user of a crm context, whose deliveries need it,
//! or an app context, whose external API calls need it. [`Tokens`] is a cheap handle over a
//! registry actor that starts one [`TokenActor`] per owner on demand and lets idle ones stop. A token actor hands out the cached access token while
//! it is valid for longer than a margin, else makes one grant (refresh_token, or device_code
//! while only a device code is known) however many callers wait, stores its outcome (a
//! rotated refresh token with the new access token, in one statement) before anyone gets the
//! token, parks the owner on a grant error that only new credentials can fix, and backs off on
//! failures that may pass. The store reads and writes each kind of owner's own row.
//!
//! Files: `registry` (the actor that routes to the owners' actors), `actor` (one owner's state
//! machine), `grant` (one grant against a token endpoint, with the client authentication
//! fallback), `http` (the `oauth2` crate's HTTP client over the guarded client), `status`.
//!
//! [`TokenActor`]: actor::TokenActor

mod actor;
mod grant;
mod http;
mod published;
mod registry;
mod status;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix::prelude::*;
use tokio::sync::{broadcast, oneshot};

use crate::domain::{AppContextId, TokenOwner, UserId};
use crate::outbound::GuardedClient;
use crate::secrets::Secret;
use crate::store::{Store, StoreError};
use published::Published;
use registry::{Forget, Registry, ReloadOwner, Route};

pub use status::{TokenState, TokenStatus};

/// How often a request is routed again when the user's actor stopped before answering (it
/// went idle in between, or was replaced).
const ROUTE_ATTEMPTS: usize = 3;

/// Timers of the token actors.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// A cached access token is handed out only while it is valid for longer than this.
    pub margin: Duration,
    /// An actor nobody asked for this long stops (its state is in the database).
    pub idle_after: Duration,
    /// The longest a token endpoint may take to answer one request.
    pub request_timeout: Duration,
    /// The first retry window after a transient failure.
    pub backoff_min: Duration,
    /// The widest retry window (and the cap on a `Retry-After`).
    pub backoff_max: Duration,
    /// The time between device code polls when the endpoint has not asked for more.
    pub device_interval: Duration,
    /// What each `slow_down` adds to the device code poll interval (RFC 8628: 5 s).
    pub slow_down_step: Duration,
    /// The lifetime assumed when a token answer has no `expires_in`.
    pub default_lifetime: Duration,
    /// App contexts: how long callers may still present the access token a refresh replaced,
    /// so a client that raced the refresh is not locked out.
    pub previous_token_grace: Duration,
    /// Where grants are counted.
    pub metrics: crate::metrics::Metrics,
}

impl Default for TokenSettings {
    fn default() -> Self {
        TokenSettings {
            margin: Duration::from_secs(60),
            idle_after: Duration::from_secs(600),
            request_timeout: Duration::from_secs(20),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            device_interval: Duration::from_secs(5),
            slow_down_step: Duration::from_secs(5),
            default_lifetime: Duration::from_secs(3600),
            previous_token_grace: Duration::from_secs(60),
            metrics: crate::metrics::Metrics::default(),
        }
    }
}

/// An access token and when it stops working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// The bearer token.
    pub token: Secret,
    /// Its expiry, as the token endpoint gave it (`expires_in`).
    pub expires_at: SystemTime,
}

/// Why no access token could be handed out. No variant carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The owner is parked: only new credentials (through the API) can fix it. Deliveries
    /// wait for [`Tokens::subscribe_unparked`].
    #[error("user needs re-authorisation: the token endpoint answered `{error}` at {since}")]
    NeedsReauthorisation {
        /// The OAuth error code (`invalid_grant`, `access_denied`, ...).
        error: String,
        /// When the owner was parked (`yyyy-MM-dd HH:mm:ss` UTC).
        since: String,
    },
    /// A failure that may pass (the token endpoint failed or was unreachable, or a device code
    /// waits for approval); the actor retries on its own.
    #[error("no access token yet: {message}")]
    Transient {
        /// What failed, never a secret.
        message: String,
        /// When asking again makes sense.
        retry_after: Option<Duration>,
    },
    /// The user (or app context) does not exist (any more).
    #[error("no such user")]
    NoSuchUser,
    /// The database failed.
    #[error("storage: {0}")]
    Store(StoreError),
}

impl Clone for TokenError {
    /// One failure answers every caller waiting for the same grant. A database error is not
    /// `Clone` itself; its copies keep its message.
    fn clone(&self) -> Self {
        match self {
            TokenError::NeedsReauthorisation { error, since } => TokenError::NeedsReauthorisation {
                error: error.clone(),
                since: since.clone(),
            },
            TokenError::Transient {
                message,
                retry_after,
            } => TokenError::Transient {
                message: message.clone(),
                retry_after: *retry_after,
            },
            TokenError::NoSuchUser => TokenError::NoSuchUser,
            TokenError::Store(e) => TokenError::Store(copy_store_error(e)),
        }
    }
}

fn copy_store_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::NotFound => StoreError::NotFound,
        StoreError::Conflict(what) => StoreError::Conflict(what.clone()),
        StoreError::CrmContextExists(id) => StoreError::CrmContextExists(*id),
        StoreError::Crypto(what) => StoreError::Crypto(what.clone()),
        StoreError::WrongState(what) => StoreError::WrongState(what.clone()),
        StoreError::Outbox(what) => StoreError::Outbox(what.clone()),
        StoreError::Config(what) => StoreError::Config(what.clone()),
        StoreError::Database(db) => StoreError::Database(sqlx::Error::Protocol(db.to_string())),
    }
}

/// What a caller asks of an owner's actor for a token.
#[derive(Debug, Clone)]
enum Ask {
    /// A token valid beyond the margin, refreshing if needed.
    Get,
    /// The CRM refused this token: a newer one, refreshing only if it is still the current.
    Invalidate(Secret),
}

/// One request to an owner's actor, with where its answer goes.
enum Request {
    Token {
        ask: Ask,
        reply: oneshot::Sender<Result<AccessToken, TokenError>>,
    },
    Status {
        reply: oneshot::Sender<Result<TokenStatus, TokenError>>,
    },
    /// A grant at once if the token is not fresh (even while backing off), then the status
    /// as that grant left it.
    Verify {
        reply: oneshot::Sender<Result<TokenStatus, TokenError>>,
    },
}

impl Message for Request {
    type Result = ();
}

/// The handle of the token actors (cheap to clone).
#[derive(Clone)]
pub struct Tokens {
    registry: Addr<Registry>,
    unparked: broadcast::Sender<UserId>,
    /// The valid tokens the actors hold, read without a message.
    published: Arc<Published>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens").finish_non_exhaustive()
    }
}

impl Tokens {
    /// Starts the registry on the current actix system. Grants go through `http` (the outbound
    /// rule applies to token endpoints too).
    pub fn start(store: Store, http: GuardedClient, settings: TokenSettings) -> Tokens {
        let (unparked, _) = broadcast::channel(1024);
        let published = Arc::new(Published::new(settings.margin));
        let registry =
            Registry::new(store, http, settings, unparked.clone(), published.clone()).start();
        Tokens {
            registry,
            unparked,
            published,
        }
    }

    /// An access token valid for longer than the margin: the cached one, or one fresh grant
    /// shared by every caller waiting at the same time.
    pub async fn get(&self, user: UserId) -> Result<AccessToken, TokenError> {
        self.token(TokenOwner::User(user), Ask::Get).await
    }

    /// After a 401 from the CRM with `stale`: a newer token if there is one (no grant), else a
    /// fresh grant.
    pub async fn invalidate(
        &self,
        user: UserId,
        stale: &Secret,
    ) -> Result<AccessToken, TokenError> {
        self.published.withdraw(TokenOwner::User(user), stale);
        self.token(TokenOwner::User(user), Ask::Invalidate(stale.clone()))
            .await
    }

    /// Where the user's token stands.
    pub async fn status(&self, user: UserId) -> Result<TokenStatus, TokenError> {
        self.route(TokenOwner::User(user), |reply| Request::Status { reply })
            .await
    }

    /// Makes sure the user has a valid access token now (a grant at once when needed, even
    /// while backing off), then answers the status, whatever the grant's outcome.
    pub async fn verify(&self, user: UserId) -> Result<TokenStatus, TokenError> {
        self.route(TokenOwner::User(user), |reply| Request::Verify { reply })
            .await
    }

    /// The user's credentials changed through the API (the store has un-parked it): the actor
    /// drops what it knows and reloads. Subscribers of [`Tokens::subscribe_unparked`] hear of
    /// it once the reload is queued ahead of any later request.
    pub fn reload(&self, user: UserId) {
        self.published.set(TokenOwner::User(user), None);
        self.registry.do_send(ReloadOwner(TokenOwner::User(user)));
    }

    /// The user was deleted: its actor stops.
    pub fn forget(&self, user: UserId) {
        self.published.set(TokenOwner::User(user), None);
        self.registry.do_send(Forget(TokenOwner::User(user)));
    }

    /// Users whose credentials were just updated, so they are no longer parked.
    pub fn subscribe_unparked(&self) -> broadcast::Receiver<UserId> {
        self.unparked.subscribe()
    }

    /// [`Tokens::get`] for an app context: its registered access token until the service
    /// refuses it (its expiry is not known), then the refreshed ones while they are valid for
    /// longer than the margin.
    pub async fn get_app(&self, app: AppContextId) -> Result<AccessToken, TokenError> {
        self.token(TokenOwner::App(app), Ask::Get).await
    }

    /// [`Tokens::invalidate`] for an app context: the service refused `stale`.
    pub async fn invalidate_app(
        &self,
        app: AppContextId,
        stale: &Secret,
    ) -> Result<AccessToken, TokenError> {
        self.published.withdraw(TokenOwner::App(app), stale);
        self.token(TokenOwner::App(app), Ask::Invalidate(stale.clone()))
            .await
    }

    /// The app context was registered again (new credentials, un-parked): its actor reloads.
    pub fn reload_app(&self, app: AppContextId) {
        self.published.set(TokenOwner::App(app), None);
        self.registry.do_send(ReloadOwner(TokenOwner::App(app)));
    }

    async fn token(&self, owner: TokenOwner, ask: Ask) -> Result<AccessToken, TokenError> {
        if matches!(ask, Ask::Get) {
            if let Some(token) = self.published.valid(owner, SystemTime::now()) {
                return Ok(token);
            }
        }
        self.route(owner, |reply| Request::Token {
            ask: ask.clone(),
            reply,
        })
        .await
    }

    /// Sends a request through the registry; routes it again when the actor stopped before
    /// answering.
    async fn route<T>(
        &self,
        owner: TokenOwner,
        request: impl Fn(oneshot::Sender<Result<T, TokenError>>) -> Request,
    ) -> Result<T, TokenError> {
        for _ in 0..ROUTE_ATTEMPTS {
            let (tx, rx) = oneshot::channel();
            self.registry.do_send(Route {
                owner,
                request: request(tx),
            });
            if let Ok(answer) = rx.await {
                return answer;
            }
        }
        Err(TokenError::Transient {
            message: "the token service is not running".to_string(),
            retry_after: None,
        })
    }
}
