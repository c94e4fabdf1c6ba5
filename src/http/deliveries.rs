//! `.../crm-integrations/{xelionContextId}/deliveries`: the delivery log, and sending a
//! failed delivery again.

use actix_web::{web, HttpRequest, HttpResponse};
use cti_actors::api::{DeliveryPage, DeliveryQuery, DeliveryView};
use cti_actors::domain::{DeliveryId, XelionContextId};
use cti_actors::messages::{ListDeliveries, RetryDelivery};
use cti_actors::ApiError;

use super::{ok_json, Call, ErrorBody, HttpError};

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/api/crm-integrations/{xelionContextId}/deliveries",
        web::get().to(list_deliveries),
    )
    .route(
        "/api/crm-integrations/{xelionContextId}/deliveries/{deliveryId}/retry",
        web::post().to(retry_delivery),
    );
}

/// The deliveries of a tenant, newest first, each with its attempts; filters combine.
#[utoipa::path(get, path = "/api/crm-integrations/{xelionContextId}/deliveries",
    tag = "deliveries",
    params(("xelionContextId" = i64, Path),
        ("status" = Option<String>, Query, description = "pending | retrying | held | delivered | failed"),
        ("userId" = Option<i64>, Query, description = "a registered user's id"),
        ("xelionEvent" = Option<String>, Query, description = "an event type, e.g. callHungUpEvent"),
        ("callId" = Option<String>, Query, description = "a Xelion callId"),
        ("since" = Option<String>, Query, description = "created at or after, yyyy-MM-ddTHH:mm:ss[.fff] UTC"),
        ("until" = Option<String>, Query, description = "created before, same format"),
        ("cursor" = Option<String>, Query, description = "the nextCursor of the previous page"),
        ("limit" = Option<u32>, Query, description = "page size, 1 to 500 (default 50)")),
    security(("xelion" = [])),
    responses((status = 200, body = DeliveryPage),
        (status = 400, description = "a bad parameter, named in the message", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_deliveries(
    call: Call,
    req: HttpRequest,
    path: web::Path<XelionContextId>,
) -> Result<HttpResponse, HttpError> {
    call.require_token()?;
    let query = web::Query::<DeliveryQuery>::from_query(req.query_string())
        .map_err(|e| call.error(ApiError::bad_parameter(format!("invalid query: {e}"))))?
        .into_inner();
    let page = call
        .send(ListDeliveries {
            token: call.token.clone(),
            xelion_context_id: path.into_inner(),
            query,
        })
        .await?;
    Ok(ok_json(&page))
}

/// Sends a failed delivery again.
///
/// It becomes pending and due now, for the dispatcher to pick up. Answers the delivery; one
/// that is not failed is a conflict.
#[utoipa::path(post,
    path = "/api/crm-integrations/{xelionContextId}/deliveries/{deliveryId}/retry",
    tag = "deliveries",
    params(("xelionContextId" = i64, Path), ("deliveryId" = i64, Path)),
    security(("xelion" = [])),
    responses((status = 200, body = DeliveryView),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "the delivery is not failed", body = ErrorBody)))]
pub async fn retry_delivery(
    call: Call,
    path: web::Path<(XelionContextId, DeliveryId)>,
) -> Result<HttpResponse, HttpError> {
    let (xid, id) = path.into_inner();
    let delivery = call
        .send(RetryDelivery {
            token: call.token.clone(),
            xelion_context_id: xid,
            delivery_id: id,
        })
        .await?;
    Ok(ok_json(&delivery))
}
