//! `GET /health` (liveness) and `GET /health/ready` (database and tenants).

use actix::Addr;
use actix_web::{web, HttpResponse};
use cti_actors::supervisor::ListTenants;
use cti_actors::Supervisor;
use serde_json::json;

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(live))
        .route("/health/ready", web::get().to(ready));
}

async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn ready(supervisor: web::Data<Addr<Supervisor>>) -> HttpResponse {
    match supervisor.send(ListTenants).await {
        Ok(tenants) => {
            HttpResponse::Ok().json(json!({"status": "ready", "tenants": tenants.len()}))
        }
        Err(_) => HttpResponse::ServiceUnavailable().json(json!({"status": "unavailable"})),
    }
}
