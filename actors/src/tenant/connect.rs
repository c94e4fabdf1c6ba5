//! One connection attempt of a tenant: log in if needed (through the gate), ask for a
//! websocket URL, open and subscribe the socket. Runs off the actor, on cloned inputs.

use std::collections::BTreeSet;

use rand::Rng;

use super::socket::{self, Socket, SocketError};
use super::TenantDeps;
use crate::domain::XelionContextId as Id;
use crate::domain::XelionEvent;
use crate::secrets::Secret;
use crate::xelion::{XelionEndpoint, XelionError, XelionSession};

/// One connection attempt: everything it needs, cloned out of the actor.
pub(super) struct Attempt {
    pub(super) id: Id,
    pub(super) deps: TenantDeps,
    pub(super) endpoint: XelionEndpoint,
    pub(super) user: String,
    pub(super) password: Secret,
    pub(super) events: BTreeSet<XelionEvent>,
    pub(super) session: Option<XelionSession>,
    pub(super) user_space: String,
    pub(super) previous: Option<Secret>,
}

/// What an attempt brought back: a new session even when the socket then failed.
pub(super) struct Attempted {
    pub(super) fresh: Option<(XelionSession, String)>,
    pub(super) session_rejected: bool,
    pub(super) outcome: Result<(Socket, BTreeSet<XelionEvent>), Failure>,
}

/// Why an attempt failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum Failure {
    #[error("{0}")]
    Xelion(#[from] XelionError),
    #[error("{0}")]
    Socket(#[from] SocketError),
}

impl Attempt {
    pub(super) async fn run(self) -> Attempted {
        let mut fresh = None;
        let mut session_rejected = false;
        let outcome = self.connect(&mut fresh, &mut session_rejected).await;
        Attempted {
            fresh,
            session_rejected,
            outcome,
        }
    }

    async fn connect(
        &self,
        fresh: &mut Option<(XelionSession, String)>,
        session_rejected: &mut bool,
    ) -> Result<(Socket, BTreeSet<XelionEvent>), Failure> {
        let ep = &self.endpoint;
        let mut session = match &self.session {
            Some(s) => s.clone(),
            None => {
                let (s, space) = self.login(self.previous.clone()).await?;
                *fresh = Some((s.clone(), space));
                s
            }
        };
        let url = match self.deps.xelion.websocket_url(ep, &session).await {
            Ok(url) => url,
            Err(e) if e.is_unauthorized() && fresh.is_none() => {
                // The kept session expired: log in again, handing its token back.
                *session_rejected = true;
                let (s, space) = self.login(Some(session.authentication.clone())).await?;
                *fresh = Some((s.clone(), space));
                session = s;
                self.deps.xelion.websocket_url(ep, &session).await?
            }
            Err(e) => {
                *session_rejected = e.is_unauthorized();
                return Err(e.into());
            }
        };
        let mut socket =
            socket::open(&url, self.deps.xelion.policy(), &self.deps.settings.socket).await?;
        socket::subscribe(&mut socket, &self.events).await?;
        Ok((socket, self.events.clone()))
    }

    async fn login(
        &self,
        previous: Option<Secret>,
    ) -> Result<(XelionSession, String), XelionError> {
        login(
            &self.deps,
            self.id,
            &self.endpoint,
            &self.user,
            &self.password,
            &self.user_space,
            previous,
        )
        .await
    }
}

/// Logs in through the gate with the tenant's userSpace, handing back `previous` so that
/// Xelion ends that session first. If Xelion still refuses with 10005 (an old session lives
/// whose token is lost), the session opens under a new userSpace; the old one expires on its
/// own.
pub(super) async fn login(
    deps: &TenantDeps,
    id: Id,
    ep: &XelionEndpoint,
    user: &str,
    password: &Secret,
    user_space: &str,
    previous: Option<Secret>,
) -> Result<(XelionSession, String), XelionError> {
    let _turn = deps.gate.enter().await;
    match deps
        .xelion
        .login_replacing(ep, user, password, user_space, previous.as_ref())
        .await
    {
        Err(XelionError::Api { code: 10005, .. }) => {
            let space = format!(
                "xelion-cti-events-{id}-{:08x}",
                rand::thread_rng().gen::<u32>()
            );
            tracing::info!(
                "an earlier event session still lives; opening one under a new userSpace"
            );
            let s = deps.xelion.login(ep, user, password, &space).await?;
            Ok((s, space))
        }
        other => other.map(|s| (s, user_space.to_string())),
    }
}

/// Wrong user name or password (10004) or a disabled account (10006): retrying soon would
/// only risk a lock-out.
pub(super) fn is_credentials_rejected(e: &XelionError) -> bool {
    matches!(
        e,
        XelionError::Api {
            status: 401,
            code: 10004 | 10006,
            ..
        }
    )
}
