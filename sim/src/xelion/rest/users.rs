//! The user calls: `me/info`, `users`, `users/{oid}`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{apply_faults, authenticate, xerr, XErr};
use crate::state::{lock, Data};
use crate::xelion::User;

/// The REST representation of a user.
fn user_object(u: &User) -> Value {
    json!({
        "oid": u.oid.to_string(),
        "objectType": "User",
        "userName": u.user_name,
        "commonName": u.common_name,
        "active": u.active,
        "isAdministrator": u.is_admin,
    })
}

/// The `links` of a user object.
fn user_links(tenant: &str, u: &User) -> Value {
    json!([{"rel": "self", "href": format!("/api/v1/{tenant}/users/{}", u.oid)}])
}

/// `GET me/info`: the logged-in user, wrapped in `{"object":...}`.
pub(super) async fn info(data: Data, req: HttpRequest, tenant: web::Path<String>) -> HttpResponse {
    let tenant = tenant.into_inner();
    if let Err(r) = apply_faults(&data, &req, Some(&tenant)).await {
        return r.respond(&req);
    }
    match authenticate(&data, &req, &tenant) {
        Ok((_, _, u)) => HttpResponse::Ok().json(json!({
            "object": user_object(&u),
            "links": user_links(&tenant, &u),
        })),
        Err(r) => r.respond(&req),
    }
}

/// Query parameters of `GET users`.
fn query_pairs(req: &HttpRequest) -> Result<Vec<(String, String)>, XErr> {
    serde_urlencoded::from_str(req.query_string())
        .map_err(|e| XErr::new(400, 10202, format!("Bad query string: {e}")))
}

/// A numeric query parameter, or the Xelion error naming it.
fn num_param(name: &str, value: &str) -> Result<u64, XErr> {
    value.parse().map_err(|_| {
        XErr::new(
            400,
            10202,
            format!("Bad query parameter {name}: `{value}` is not a number"),
        )
    })
}

/// `GET users`: `where=userName=<name>` (or `commonName=`), paged with `limit`, `after`, `before`.
pub(super) async fn users(data: Data, req: HttpRequest, tenant: web::Path<String>) -> HttpResponse {
    let tenant = tenant.into_inner();
    if let Err(r) = apply_faults(&data, &req, Some(&tenant)).await {
        return r.respond(&req);
    }
    if let Err(r) = authenticate(&data, &req, &tenant) {
        return r.respond(&req);
    }
    match list_users(&data, &req, &tenant) {
        Ok(v) => HttpResponse::Ok().json(v),
        Err(r) => r.respond(&req),
    }
}

/// The filtering and paging of `GET users`.
fn list_users(data: &Data, req: &HttpRequest, tenant: &str) -> Result<Value, XErr> {
    let mut limit = 15u64;
    let mut after = None;
    let mut before = None;
    let mut filter: Option<(String, String)> = None;
    for (k, v) in query_pairs(req)? {
        match k.as_str() {
            "limit" => limit = num_param("limit", &v)?.clamp(1, 1000),
            "after" => after = Some(num_param("after", &v)?),
            "before" => before = Some(num_param("before", &v)?),
            "where" => {
                let Some((field, value)) = v.split_once('=') else {
                    return Err(XErr::new(
                        400,
                        10202,
                        "Bad where clause: expected `field=value`",
                    ));
                };
                if field != "userName" && field != "commonName" {
                    return Err(XErr::new(
                        400,
                        10202,
                        format!(
                            "Bad where clause: cannot filter on `{field}` (userName, commonName)"
                        ),
                    ));
                }
                filter = Some((field.to_owned(), value.to_owned()));
            }
            _ => {}
        }
    }
    let st = lock(&data.xelion);
    let Some(t) = st.tenants.get(tenant) else {
        return Err(XErr::new(404, 10100, "Not found"));
    };
    let matching: Vec<&User> = t
        .users
        .values()
        .filter(|u| match &filter {
            Some((f, v)) if f == "userName" => u.user_name.eq_ignore_ascii_case(v),
            Some((_, v)) => u.common_name.eq_ignore_ascii_case(v),
            None => true,
        })
        .filter(|u| after.is_none_or(|a| u.oid > a))
        .filter(|u| before.is_none_or(|b| u.oid < b))
        .collect();
    let limit = usize::try_from(limit).unwrap_or(15);
    // With `before` the page is the one just before that id, like scrolling back.
    let page: Vec<&User> = if before.is_some() && after.is_none() {
        let skip = matching.len().saturating_sub(limit);
        matching[skip..].to_vec()
    } else {
        matching.into_iter().take(limit).collect()
    };
    let items: Vec<Value> = page
        .iter()
        .map(|u| json!({"object": user_object(u), "links": user_links(tenant, u)}))
        .collect();
    let mut meta = json!({
        "links": [{"rel": "self", "href": format!("{}?{}", req.path(), req.query_string())}],
    });
    if let (Some(first), Some(last)) = (page.first(), page.last()) {
        meta["paging"] = json!({
            "previousId": first.oid.to_string(),
            "nextId": last.oid.to_string(),
        });
    }
    Ok(json!({ "data": items, "meta": meta }))
}

/// `GET users/{oid}`.
pub(super) async fn user(
    data: Data,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (tenant, oid) = path.into_inner();
    if let Err(r) = apply_faults(&data, &req, Some(&tenant)).await {
        return r.respond(&req);
    }
    if let Err(r) = authenticate(&data, &req, &tenant) {
        return r.respond(&req);
    }
    let st = lock(&data.xelion);
    let found = oid
        .parse::<u64>()
        .ok()
        .and_then(|o| st.tenants.get(&tenant)?.users.get(&o));
    match found {
        Some(u) => HttpResponse::Ok().json(json!({
            "object": user_object(u),
            "links": user_links(&tenant, u),
        })),
        None => xerr(&req, 404, 10100, "Not found"),
    }
}
