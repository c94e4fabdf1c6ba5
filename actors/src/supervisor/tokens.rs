//! `GET /api/users/{userId}/status` and `POST /api/users/{userId}/verify`: a user's token,
//! asked of the token actors once the caller is known to see that user.

use actix::prelude::*;

use super::Supervisor;
use crate::domain::UserId;
use crate::error::{ApiError, What};
use crate::token::{TokenError, TokenStatus, Tokens};

/// The token status of one user.
#[derive(Debug)]
pub struct GetUserStatus {
    /// `Authorization: xelion <token>`.
    pub token: Option<String>,
    /// The user.
    pub user_id: UserId,
}

impl Message for GetUserStatus {
    type Result = Result<TokenStatus, ApiError>;
}

/// Makes sure a user has a valid access token now, then answers its status.
#[derive(Debug)]
pub struct VerifyUser {
    /// `Authorization: xelion <token>`.
    pub token: Option<String>,
    /// The user.
    pub user_id: UserId,
}

impl Message for VerifyUser {
    type Result = Result<TokenStatus, ApiError>;
}

impl Handler<GetUserStatus> for Supervisor {
    type Result = ResponseFuture<Result<TokenStatus, ApiError>>;

    fn handle(&mut self, msg: GetUserStatus, _: &mut Context<Self>) -> Self::Result {
        let admin = self.admin.clone();
        let tokens = self.tokens.clone();
        Box::pin(async move {
            let scope = admin.authenticate(msg.token.as_deref()).await?;
            // 404 for a user outside the caller's tenant, like every other call.
            admin.get_user(&scope, msg.user_id).await?;
            answer(&tokens, msg.user_id, false).await
        })
    }
}

impl Handler<VerifyUser> for Supervisor {
    type Result = ResponseFuture<Result<TokenStatus, ApiError>>;

    fn handle(&mut self, msg: VerifyUser, _: &mut Context<Self>) -> Self::Result {
        let admin = self.admin.clone();
        let tokens = self.tokens.clone();
        Box::pin(async move {
            let scope = admin.authenticate(msg.token.as_deref()).await?;
            admin.get_user(&scope, msg.user_id).await?;
            answer(&tokens, msg.user_id, true).await
        })
    }
}

async fn answer(tokens: &Tokens, user: UserId, verify: bool) -> Result<TokenStatus, ApiError> {
    let status = if verify {
        tokens.verify(user).await
    } else {
        tokens.status(user).await
    };
    status.map_err(|e| match e {
        TokenError::NoSuchUser => ApiError::NotFound(What::User(user)),
        TokenError::Store(e) => e.into(),
        TokenError::NeedsReauthorisation { .. } | TokenError::Transient { .. } => {
            ApiError::Unavailable
        }
    })
}
