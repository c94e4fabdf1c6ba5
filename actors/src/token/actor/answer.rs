//! How a token actor answers: the callers waiting for a grant, the fallback to a token that is
//! still valid, and the status.

use std::time::{Duration, SystemTime};

use tokio::sync::oneshot;

use super::{Phase, TokenActor};
use crate::clock::xelion_date;
use crate::token::{AccessToken, Request, TokenError, TokenState, TokenStatus};

/// A caller waiting for the grant under way.
pub(super) enum Waiter {
    /// Wants a token.
    Token {
        reply: oneshot::Sender<Result<AccessToken, TokenError>>,
        /// Whether a token that is still valid (if within the margin) will do should the
        /// grant fail for a while. Not for a caller whose token the CRM just refused.
        takes_current: bool,
    },
    /// Verifying: wants the status the grant leaves.
    Status(oneshot::Sender<Result<TokenStatus, TokenError>>),
}

impl TokenActor {
    /// The answer of a parked owner.
    pub(super) fn parked_error(&self) -> Option<TokenError> {
        self.parked
            .as_ref()
            .map(|(error, at)| TokenError::NeedsReauthorisation {
                error: error.clone(),
                since: xelion_date(*at),
            })
    }

    /// A token, or for a caller that takes it, the current token while it is still valid.
    pub(super) fn fallback(
        &self,
        takes_current: bool,
        error: TokenError,
    ) -> Result<AccessToken, TokenError> {
        let transient = matches!(error, TokenError::Transient { .. } | TokenError::Store(_));
        match self.access.as_ref() {
            Some(a) if takes_current && transient && a.expires_at > SystemTime::now() => {
                Ok(a.clone())
            }
            _ => Err(error),
        }
    }

    /// Answers every waiter with a grant's outcome, once the actor's state shows it.
    pub(super) fn answer_waiters(&mut self, result: Result<AccessToken, TokenError>) {
        let status = self.user_status();
        for waiter in std::mem::take(&mut self.waiters) {
            match waiter {
                Waiter::Token {
                    reply,
                    takes_current,
                } => {
                    let _ = reply.send(match &result {
                        Ok(token) => Ok(token.clone()),
                        Err(e) => self.fallback(takes_current, e.clone()),
                    });
                }
                Waiter::Status(reply) => {
                    let _ = reply.send(status.clone());
                }
            }
        }
    }

    /// The state could not be loaded: every waiter gets the error.
    pub(super) fn fail_waiters(&mut self, error: &TokenError) {
        for waiter in self.waiters.drain(..) {
            match waiter {
                Waiter::Token { reply, .. } => {
                    let _ = reply.send(Err(error.clone()));
                }
                Waiter::Status(reply) => {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
    }

    /// Where a user's token stands (only users show a status: asked of an app context's
    /// actor, the answer is "no such user"); a device poll under way after a "not yet" still
    /// shows as awaiting approval.
    pub(super) fn user_status(&self) -> Result<TokenStatus, TokenError> {
        let user_id = self.owner.user().ok_or(TokenError::NoSuchUser)?;
        let awaiting = self.device_pending && self.phase == Phase::Granting;
        let (state, error) = match (&self.parked, self.phase) {
            (Some(parked), _) => (TokenState::NeedsReauthorisation, Some(parked.clone())),
            (None, _) if awaiting => (TokenState::AwaitingApproval, None),
            (None, Phase::Idle) => (TokenState::Ok, None),
            (None, Phase::Granting) => (TokenState::Refreshing, None),
            (None, Phase::BackingOff { .. }) => (TokenState::BackingOff, self.last_failure.clone()),
            (None, Phase::AwaitingApproval { .. }) => (TokenState::AwaitingApproval, None),
        };
        let record = self.record.as_ref();
        Ok(TokenStatus {
            user_id,
            state,
            error: error.as_ref().map(|(e, _)| e.clone()),
            error_at: error.as_ref().map(|(_, at)| xelion_date(*at)),
            access_token_expires_at: self.access.as_ref().map(|a| time(a.expires_at)),
            last_refresh_at: record.and_then(|r| r.last_refresh_at).map(xelion_date),
            grants: record.map_or(0, |r| u64::try_from(r.grants).unwrap_or(0)),
            device_poll_interval_ms: (state == TokenState::AwaitingApproval)
                .then(|| u64::try_from(self.device_interval.as_millis()).unwrap_or(u64::MAX)),
        })
    }
}

/// A time as the status writes it.
fn time(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    xelion_date(secs)
}

pub(super) fn transient(message: String, retry_after: Duration) -> TokenError {
    TokenError::Transient {
        message,
        retry_after: Some(retry_after),
    }
}

pub(super) fn awaiting_approval(wait: Duration) -> TokenError {
    transient(
        "the device code waits for the user's approval".to_string(),
        wait,
    )
}

/// A request that cannot be served: the state did not load.
pub(super) fn fail_request(request: Request, error: TokenError) {
    match request {
        Request::Token { reply, .. } => {
            let _ = reply.send(Err(error));
        }
        Request::Status { reply } | Request::Verify { reply } => {
            let _ = reply.send(Err(error));
        }
    }
}
