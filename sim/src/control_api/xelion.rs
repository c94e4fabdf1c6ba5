//! Control routes of the Xelion simulator: `/_sim/xelion/...`.

use std::time::Duration;

use actix_web::{web, Scope};

use super::{check_fault, created, fault_id, no_content, ok, Body, Reply};
use crate::api::{
    Affected, DropMode, DropSockets, ExpireSessions, FaultKind, FaultSpec, LoadSpec, NewCall,
    NewTenant, NewUser, SendFrame, TenantUpdate, UserUpdate,
};
use crate::error::ControlError;
use crate::state::{lock, Data};
use crate::xelion::{calls, load as bulk, ws};

/// Adds the Xelion routes to the `/_sim` scope.
pub(super) fn routes(scope: Scope) -> Scope {
    scope
        .route("/xelion/tenants", web::get().to(list_tenants))
        .route("/xelion/tenants", web::post().to(create_tenant))
        .route("/xelion/tenants/{tenant}", web::get().to(get_tenant))
        .route("/xelion/tenants/{tenant}", web::patch().to(update_tenant))
        .route("/xelion/tenants/{tenant}", web::delete().to(delete_tenant))
        .route("/xelion/tenants/{tenant}/users", web::get().to(list_users))
        .route(
            "/xelion/tenants/{tenant}/users",
            web::post().to(create_user),
        )
        .route(
            "/xelion/tenants/{tenant}/users/{user}",
            web::patch().to(update_user),
        )
        .route("/xelion/tenants/{tenant}/calls", web::post().to(place_call))
        .route(
            "/xelion/tenants/{tenant}/sessions/expire",
            web::post().to(expire_sessions),
        )
        .route(
            "/xelion/tenants/{tenant}/sockets/drop",
            web::post().to(drop_sockets),
        )
        .route(
            "/xelion/tenants/{tenant}/sockets/send",
            web::post().to(send_frame),
        )
        .route("/xelion/load", web::post().to(load))
        .route("/xelion/counters", web::get().to(counters))
        .route("/xelion/faults", web::get().to(list_faults))
        .route("/xelion/faults", web::post().to(add_fault))
        .route("/xelion/faults", web::delete().to(clear_faults))
        .route("/xelion/faults/{id}", web::delete().to(remove_fault))
}

async fn list_tenants(data: Data) -> Reply {
    let st = lock(&data.xelion);
    let list: Vec<_> = st.tenants.values().map(|t| t.info()).collect();
    ok(&list)
}

async fn create_tenant(data: Data, Body(new): Body<NewTenant>) -> Reply {
    let info = lock(&data.xelion).add_tenant(&new.name, new.session_lifetime_seconds)?;
    created(&info)
}

async fn get_tenant(data: Data, tenant: web::Path<String>) -> Reply {
    ok(&lock(&data.xelion).tenant(&tenant)?.info())
}

async fn update_tenant(
    data: Data,
    tenant: web::Path<String>,
    Body(upd): Body<TenantUpdate>,
) -> Reply {
    let mut st = lock(&data.xelion);
    let t = st.tenant_mut(&tenant)?;
    if let Some(s) = upd.session_lifetime_seconds {
        t.session_lifetime = Duration::from_secs(s);
    }
    ok(&t.info())
}

async fn delete_tenant(data: Data, tenant: web::Path<String>) -> Reply {
    ws::drop_sockets(&data, &tenant, None, DropMode::Abrupt);
    let mut st = lock(&data.xelion);
    st.tickets.retain(|_, t| t.tenant != tenant.as_str());
    match st.tenants.remove(tenant.as_str()) {
        Some(_) => no_content(),
        None => Err(ControlError::no_tenant(&tenant)),
    }
}

async fn list_users(data: Data, tenant: web::Path<String>) -> Reply {
    ok(&lock(&data.xelion).tenant(&tenant)?.info().users)
}

async fn create_user(data: Data, tenant: web::Path<String>, Body(new): Body<NewUser>) -> Reply {
    let user = lock(&data.xelion).add_user(&tenant, new)?;
    created(&user)
}

async fn update_user(
    data: Data,
    path: web::Path<(String, String)>,
    Body(upd): Body<UserUpdate>,
) -> Reply {
    let (tenant, user) = path.into_inner();
    let mut st = lock(&data.xelion);
    let u = st
        .tenant_mut(&tenant)?
        .users
        .values_mut()
        .find(|u| u.user_name == user)
        .ok_or_else(|| ControlError::no_user(&tenant, &user))?;
    if let Some(p) = upd.password {
        u.password = p;
    }
    if let Some(a) = upd.is_administrator {
        u.is_admin = a;
    }
    if let Some(a) = upd.active {
        u.active = a;
    }
    if let Some(c) = upd.common_name {
        u.common_name = c;
    }
    if let Some(p) = upd.phone_number {
        u.phone_number = p;
    }
    ok(&u.info())
}

async fn place_call(data: Data, tenant: web::Path<String>, Body(call): Body<NewCall>) -> Reply {
    lock(&data.xelion).tenant(&tenant)?;
    ok(&calls::place(&data, &tenant, call).await?)
}

async fn load(data: Data, Body(spec): Body<LoadSpec>) -> Reply {
    ok(&bulk::run(&data, spec).await?)
}

async fn expire_sessions(
    data: Data,
    tenant: web::Path<String>,
    Body(req): Body<ExpireSessions>,
) -> Reply {
    let affected = lock(&data.xelion)
        .tenant_mut(&tenant)?
        .expire_sessions(req.user_name.as_deref())?;
    ok(&Affected { affected })
}

async fn drop_sockets(
    data: Data,
    tenant: web::Path<String>,
    Body(req): Body<DropSockets>,
) -> Reply {
    lock(&data.xelion).tenant(&tenant)?;
    let affected = ws::drop_sockets(&data, &tenant, req.user_name.as_deref(), req.mode);
    ok(&Affected { affected })
}

async fn send_frame(data: Data, tenant: web::Path<String>, Body(req): Body<SendFrame>) -> Reply {
    {
        let st = lock(&data.xelion);
        let t = st.tenant(&tenant)?;
        if let Some(name) = &req.user_name {
            if t.user_by_name(name).is_none() {
                return Err(ControlError::no_user(&tenant, name));
            }
        }
    }
    let affected = ws::send_text(&data, &tenant, req.user_name.as_deref(), req.text).await;
    ok(&Affected { affected })
}

async fn counters(data: Data) -> Reply {
    ok(&lock(&data.xelion).counters())
}

async fn list_faults(data: Data) -> Reply {
    ok(&lock(&data.xelion).faults.list())
}

async fn add_fault(data: Data, Body(mut spec): Body<FaultSpec>) -> Reply {
    check_fault(&spec)?;
    if spec.kind == FaultKind::RefuseWebsocket && spec.path.is_none() {
        spec.path = Some("me/websocket".into());
    }
    created(&lock(&data.xelion).faults.add(spec))
}

async fn clear_faults(data: Data) -> Reply {
    lock(&data.xelion).faults.clear();
    no_content()
}

async fn remove_fault(data: Data, id: web::Path<String>) -> Reply {
    let id = fault_id(&id)?;
    if lock(&data.xelion).faults.remove(id) {
        no_content()
    } else {
        Err(ControlError::not_found(format!("no fault {id}")))
    }
}
