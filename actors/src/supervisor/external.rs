//! `POST /api/cti-app-context` and `POST /api/external-api-endpoint/call`: commands of Xelion
//! app users, who authenticate with their own tokens (a Xelion session token to register, the
//! app context's access token to call), not with an admin API session.

use actix::prelude::*;

use super::Supervisor;
use crate::error::ApiError;
use crate::external::{CtiAppRequest, ExternalAnswer, ExternalApiRequest};

/// Registers (or replaces) an app context.
#[derive(Debug)]
pub struct RegisterAppContext {
    /// The token of `Authorization: xelion <token>`: a Xelion session token of the user.
    pub xelion_token: Option<String>,
    /// The body.
    pub req: CtiAppRequest,
}

impl Message for RegisterAppContext {
    type Result = Result<(), ApiError>;
}

/// Calls an external service with an app context's access token.
#[derive(Debug)]
pub struct CallExternalApi {
    /// The token of `Authorization: xelion_cti <token>`.
    pub access_token: Option<String>,
    /// The body.
    pub req: ExternalApiRequest,
}

impl Message for CallExternalApi {
    type Result = Result<ExternalAnswer, ApiError>;
}

impl Handler<RegisterAppContext> for Supervisor {
    type Result = ResponseFuture<Result<(), ApiError>>;

    fn handle(&mut self, msg: RegisterAppContext, _: &mut Context<Self>) -> Self::Result {
        let external = self.external.clone();
        Box::pin(async move {
            external.register(msg.xelion_token, msg.req).await?;
            Ok(())
        })
    }
}

impl Handler<CallExternalApi> for Supervisor {
    type Result = ResponseFuture<Result<ExternalAnswer, ApiError>>;

    fn handle(&mut self, msg: CallExternalApi, _: &mut Context<Self>) -> Self::Result {
        let external = self.external.clone();
        Box::pin(async move { external.call(msg.access_token, msg.req).await })
    }
}
