//! Control routes of the CRM simulator: `/_sim/crm/...`.

use std::time::{Duration, SystemTime};

use actix_web::{web, HttpRequest, Scope};

use super::{check_fault, created, fault_id, no_content, ok, Body, Reply};
use crate::api::{
    Affected, Arrivals, CrmSettings, ExpireAccessTokens, FaultKind, FaultSpec, NewAccessToken,
    NewClient, NewDeviceCode, NewRefreshToken, TokenCreated,
};
use crate::crm::{AccessToken, DeviceCode, DeviceState, RefreshState, RefreshToken};
use crate::error::ControlError;
use crate::random::random_token;
use crate::state::{lock, Data};

/// Adds the CRM routes to the `/_sim` scope.
pub(super) fn routes(scope: Scope) -> Scope {
    scope
        .route("/crm/clients", web::get().to(list_clients))
        .route("/crm/clients", web::post().to(add_client))
        .route("/crm/refresh-tokens", web::post().to(add_refresh_token))
        .route(
            "/crm/refresh-tokens/{token}/revoke",
            web::post().to(revoke_refresh_token),
        )
        .route("/crm/device-codes", web::post().to(add_device_code))
        .route(
            "/crm/device-codes/{code}/approve",
            web::post().to(approve_device_code),
        )
        .route(
            "/crm/device-codes/{code}/deny",
            web::post().to(deny_device_code),
        )
        .route("/crm/access-tokens", web::post().to(add_access_token))
        .route(
            "/crm/access-tokens/expire",
            web::post().to(expire_access_tokens),
        )
        .route("/crm/settings", web::get().to(get_settings))
        .route("/crm/settings", web::patch().to(update_settings))
        .route("/crm/requests", web::get().to(list_requests))
        .route("/crm/requests", web::delete().to(clear_requests))
        .route("/crm/arrivals", web::get().to(list_arrivals))
        .route("/crm/arrivals", web::delete().to(clear_arrivals))
        .route("/crm/counters", web::get().to(counters))
        .route("/crm/faults", web::get().to(list_faults))
        .route("/crm/faults", web::post().to(add_fault))
        .route("/crm/faults", web::delete().to(clear_faults))
        .route("/crm/faults/{id}", web::delete().to(remove_fault))
}

async fn list_clients(data: Data) -> Reply {
    let st = lock(&data.crm);
    let mut list: Vec<NewClient> = st
        .clients
        .iter()
        .map(|(id, secret)| NewClient {
            client_id: id.clone(),
            client_secret: secret.clone(),
        })
        .collect();
    list.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    ok(&list)
}

async fn add_client(data: Data, Body(new): Body<NewClient>) -> Reply {
    if new.client_id.is_empty() {
        return Err(ControlError::invalid("clientId: must not be empty"));
    }
    lock(&data.crm)
        .clients
        .insert(new.client_id.clone(), new.client_secret.clone());
    created(&new)
}

async fn add_refresh_token(data: Data, Body(new): Body<NewRefreshToken>) -> Reply {
    let token = new
        .token
        .unwrap_or_else(|| format!("rt-{}", random_token(32)));
    if token.is_empty() {
        return Err(ControlError::invalid("token: must not be empty"));
    }
    lock(&data.crm).refresh_tokens.insert(
        token.clone(),
        RefreshToken {
            client_id: new.client_id,
            subject: new.subject.clone(),
            state: RefreshState::Active,
        },
    );
    created(&TokenCreated {
        token,
        subject: new.subject,
    })
}

async fn revoke_refresh_token(data: Data, token: web::Path<String>) -> Reply {
    let mut st = lock(&data.crm);
    let rt = st
        .refresh_tokens
        .get_mut(token.as_str())
        .ok_or_else(|| ControlError::not_found(format!("no refresh token `{token}`")))?;
    rt.state = RefreshState::Revoked;
    no_content()
}

async fn add_device_code(data: Data, Body(new): Body<NewDeviceCode>) -> Reply {
    let code = new
        .device_code
        .unwrap_or_else(|| format!("dc-{}", random_token(32)));
    if code.is_empty() {
        return Err(ControlError::invalid("deviceCode: must not be empty"));
    }
    lock(&data.crm).device_codes.insert(
        code.clone(),
        DeviceCode {
            client_id: new.client_id,
            subject: new.subject.clone(),
            interval: Duration::from_secs(new.interval_seconds.unwrap_or(5)),
            expires_at: SystemTime::now()
                + Duration::from_secs(new.expires_in_seconds.unwrap_or(600)),
            last_poll: None,
            state: DeviceState::Pending,
        },
    );
    created(&TokenCreated {
        token: code,
        subject: new.subject,
    })
}

/// Moves a pending device code to `to`.
fn decide_device_code(data: &Data, code: &str, to: DeviceState) -> Reply {
    let mut st = lock(&data.crm);
    let dc = st
        .device_codes
        .get_mut(code)
        .ok_or_else(|| ControlError::not_found(format!("no device code `{code}`")))?;
    if dc.state != DeviceState::Pending {
        return Err(ControlError::conflict(format!(
            "device code `{code}` is no longer pending"
        )));
    }
    dc.state = to;
    no_content()
}

async fn approve_device_code(data: Data, code: web::Path<String>) -> Reply {
    decide_device_code(&data, &code, DeviceState::Approved)
}

async fn deny_device_code(data: Data, code: web::Path<String>) -> Reply {
    decide_device_code(&data, &code, DeviceState::Denied)
}

async fn add_access_token(data: Data, Body(new): Body<NewAccessToken>) -> Reply {
    let mut st = lock(&data.crm);
    let lifetime = new.expires_in_seconds.map(Duration::from_secs);
    let token = match new.token {
        Some(t) if t.is_empty() => return Err(ControlError::invalid("token: must not be empty")),
        Some(t) => {
            let expires_at = SystemTime::now() + lifetime.unwrap_or(st.access_token_lifetime);
            st.access_tokens.insert(
                t.clone(),
                AccessToken {
                    subject: new.subject.clone(),
                    expires_at,
                },
            );
            t
        }
        None => st.issue_access_token(&new.subject, lifetime).0,
    };
    created(&TokenCreated {
        token,
        subject: new.subject,
    })
}

async fn expire_access_tokens(data: Data, Body(req): Body<ExpireAccessTokens>) -> Reply {
    let mut st = lock(&data.crm);
    let past = SystemTime::now() - Duration::from_secs(1);
    let mut affected = 0;
    for t in st.access_tokens.values_mut() {
        if req.subject.as_ref().is_none_or(|s| *s == t.subject) && t.expires_at > past {
            t.expires_at = past;
            affected += 1;
        }
    }
    ok(&Affected { affected })
}

/// The settings as the control API shows them.
fn settings(data: &Data) -> CrmSettings {
    let st = lock(&data.crm);
    CrmSettings {
        access_token_lifetime_seconds: Some(st.access_token_lifetime.as_secs()),
        rotate_refresh_tokens: Some(st.rotate_refresh_tokens),
        record: Some(st.record_mode),
    }
}

async fn get_settings(data: Data) -> Reply {
    ok(&settings(&data))
}

async fn update_settings(data: Data, Body(upd): Body<CrmSettings>) -> Reply {
    {
        let mut st = lock(&data.crm);
        if let Some(s) = upd.access_token_lifetime_seconds {
            st.access_token_lifetime = Duration::from_secs(s);
        }
        if let Some(r) = upd.rotate_refresh_tokens {
            st.rotate_refresh_tokens = r;
        }
        if let Some(m) = upd.record {
            st.record_mode = m;
        }
    }
    ok(&settings(&data))
}

/// `GET /_sim/crm/requests?path=&subject=&status=&method=`: filters are exact matches.
async fn list_requests(data: Data, req: HttpRequest) -> Reply {
    let filters: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string())
        .map_err(|e| ControlError::invalid(format!("bad query string: {e}")))?;
    for (k, _) in &filters {
        if !["path", "subject", "status", "method"].contains(&k.as_str()) {
            return Err(ControlError::invalid(format!(
                "unknown filter `{k}` (path, subject, status, method)"
            )));
        }
    }
    let st = lock(&data.crm);
    let list: Vec<_> = st
        .requests
        .iter()
        .filter(|r| {
            filters.iter().all(|(k, v)| match k.as_str() {
                "path" => r.path == *v,
                "subject" => r.subject.as_deref() == Some(v.as_str()),
                "status" => r.status.map(|s| s.to_string()).as_deref() == Some(v.as_str()),
                _ => r.method.eq_ignore_ascii_case(v),
            })
        })
        .collect();
    ok(&list)
}

async fn clear_requests(data: Data) -> Reply {
    lock(&data.crm).requests.clear();
    no_content()
}

async fn counters(data: Data) -> Reply {
    ok(&lock(&data.crm).counters)
}

async fn list_faults(data: Data) -> Reply {
    ok(&lock(&data.crm).faults.list())
}

async fn add_fault(data: Data, Body(spec): Body<FaultSpec>) -> Reply {
    check_fault(&spec)?;
    if spec.kind == FaultKind::RefuseWebsocket {
        return Err(ControlError::invalid(
            "kind: refuseWebsocket is a Xelion fault",
        ));
    }
    if spec.tenant.is_some() || spec.error_code.is_some() {
        return Err(ControlError::invalid(
            "tenant and errorCode are Xelion fault fields",
        ));
    }
    created(&lock(&data.crm).faults.add(spec))
}

async fn clear_faults(data: Data) -> Reply {
    lock(&data.crm).faults.clear();
    no_content()
}

async fn remove_fault(data: Data, id: web::Path<String>) -> Reply {
    let id = fault_id(&id)?;
    if lock(&data.crm).faults.remove(id) {
        no_content()
    } else {
        Err(ControlError::not_found(format!("no fault {id}")))
    }
}

/// `GET /_sim/crm/arrivals`: what `arrivals` recording kept.
async fn list_arrivals(data: Data) -> Reply {
    let st = lock(&data.crm);
    ok(&Arrivals {
        arrivals: st.arrivals.clone(),
        dropped: st.arrivals_dropped,
    })
}

/// `DELETE /_sim/crm/arrivals`: forget them.
async fn clear_arrivals(data: Data) -> Reply {
    let mut st = lock(&data.crm);
    st.arrivals = Vec::new();
    st.arrivals_dropped = 0;
    no_content()
}
