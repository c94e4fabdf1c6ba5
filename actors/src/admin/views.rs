//! Stored rows as the API shows them: never a secret.

use crate::api::{
    CrmContextView, EventUriMappingView, UserCredentialsView, UserView, XelionContextView,
};
use crate::domain::HttpMethod;
use crate::store::{CrmContext, EventUriMapping, UserCredentials, XelionContext};

pub(super) fn crm_view(c: &CrmContext) -> CrmContextView {
    CrmContextView {
        authorization_header_prefix: c.authorization_header_prefix.clone(),
        authorization_server_uri: c.authorization_server_uri.clone(),
        id: c.id,
    }
}

pub(super) fn xelion_view(x: &XelionContext) -> XelionContextView {
    XelionContextView {
        host: x.host.clone(),
        id: x.id,
        protocol: x.protocol,
        tenant: x.tenant.clone(),
    }
}

pub(super) fn user_credentials_view(u: &UserCredentials) -> UserCredentialsView {
    UserCredentialsView {
        xelion_username: u.xelion_username.clone(),
        xelion_oid: u.xelion_oid.clone(),
        user_credentials_id: u.id.to_string(),
    }
}

pub(super) fn user_view(u: UserCredentials) -> UserView {
    UserView {
        xelion_oid: u.xelion_oid,
        xelion_username: u.xelion_username,
    }
}

/// `method` is shown only when it is not the default `POST`.
pub(super) fn mapping_view(m: &EventUriMapping) -> EventUriMappingView {
    EventUriMappingView {
        created_at: m.created_at.clone(),
        crm_resource_payload: m.crm_resource_payload.clone(),
        crm_resource_uri: m.crm_resource_uri.clone(),
        id: m.id,
        xelion_event: m.xelion_event,
        method: (m.method != HttpMethod::Post).then_some(m.method),
        headers: m.headers.clone(),
    }
}
