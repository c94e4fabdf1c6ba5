//! `.../crm-contexts/{crmContextId}/event-uri-mappings`: read and replace the mappings.

use actix_web::{web, HttpResponse};
use cti_actors::api::{
    EventUriMappingRequest, EventUriMappingView, MappingPreview, MappingPreviewRequest,
};
use cti_actors::domain::{CrmContextId, MappingId, XelionContextId};
use cti_actors::messages::{AddMapping, DeleteMapping, GetMappings, PreviewMappings, PutMappings};

use super::{ok_json, Call, ErrorBody, HttpError};

const PATH: &str =
    "/api/crm-integrations/{xelionContextId}/crm-contexts/{crmContextId}/event-uri-mappings";
const PREVIEW_PATH: &str =
    "/api/crm-integrations/{xelionContextId}/crm-contexts/{crmContextId}/event-uri-mappings/preview";
const ONE_PATH: &str =
    "/api/crm-integrations/{xelionContextId}/crm-contexts/{crmContextId}/event-uri-mappings/{mappingId}";

/// Registers the routes. `preview` is a resource of its own (no method guard on the path),
/// registered before `{mappingId}`: any method on it stays there (405 but for POST) instead
/// of being read as a mapping id.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(PATH, web::get().to(get_mappings))
        .route(PATH, web::put().to(put_mappings))
        .route(PATH, web::post().to(add_mapping))
        .service(web::resource(PREVIEW_PATH).route(web::post().to(preview_mappings)))
        .route(ONE_PATH, web::delete().to(delete_mapping));
}

/// Adds one mapping to a crm context.
///
/// The body is one element as PUT takes it, without `id`, validated the same way; the answer
/// is the stored mapping with its id. The tenant uses it from the next event on.
#[utoipa::path(post,
    path = "/api/crm-integrations/{xelionContextId}/crm-contexts/{crmContextId}/event-uri-mappings",
    tag = "event-uri-mappings",
    params(("xelionContextId" = i64, Path), ("crmContextId" = i64, Path)),
    request_body(content = EventUriMappingRequest, example = json!({
        "xelionEvent": "missedCallEvent",
        "crmResourceUri": "https://crm.example.org/calls/missed?from=${callerPhoneNumber}",
        "crmResourcePayload": {"callId": "${callId}", "to": "${calleePhoneNumber}"},
        "method": "POST"})),
    security(("xelion" = [])),
    responses((status = 200, body = EventUriMappingView),
        (status = 404, body = ErrorBody)))]
pub async fn add_mapping(
    call: Call,
    path: web::Path<(XelionContextId, CrmContextId)>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    call.require_token()?;
    let (xid, cid) = path.into_inner();
    let mapping: EventUriMappingRequest = call.json(&body)?;
    let added = call
        .send(AddMapping {
            token: call.token.clone(),
            xelion_context_id: xid,
            crm_context_id: cid,
            mapping,
        })
        .await?;
    Ok(ok_json(&added))
}

/// Deletes one mapping of a crm context.
///
/// Deliveries of that mapping not sent yet fail with `mapping <id> no longer exists`.
#[utoipa::path(delete,
    path = "/api/crm-integrations/{xelionContextId}/crm-contexts/{crmContextId}/event-uri-mappings/{mappingId}",
    tag = "event-uri-mappings",
    params(("xelionContextId" = i64, Path), ("crmContextId" = i64, Path), ("mappingId" = i64, Path)),
    security(("xelion" = [])),
    responses((status = 200, description = "deleted; empty body"),
        (status = 404, body = ErrorBody)))]
pub async fn delete_mapping(
    call: Call,
    path: web::Path<(XelionContextId, CrmContextId, MappingId)>,
) -> Result<HttpResponse, HttpError> {
    let (xid, cid, id) = path.into_inner();
    call.send(DeleteMapping {
        token: call.token.clone(),
        xelion_context_id: xid,
        crm_context_id: cid,
        mapping_id: id,
    })
    .await?;
    Ok(HttpResponse::Ok().finish())
}

/// The mappings of a crm context.
#[utoipa::path(get,
    path = "/api/crm-integrations/{xelionContextId}/crm-contexts/{crmContextId}/event-uri-mappings",
    tag = "event-uri-mappings",
    params(("xelionContextId" = i64, Path), ("crmContextId" = i64, Path)),
    security(("xelion" = [])),
    responses((status = 200, body = Vec<EventUriMappingView>),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_mappings(
    call: Call,
    path: web::Path<(XelionContextId, CrmContextId)>,
) -> Result<HttpResponse, HttpError> {
    let (xid, cid) = path.into_inner();
    let mappings = call
        .send(GetMappings {
            token: call.token.clone(),
            xelion_context_id: xid,
            crm_context_id: cid,
        })
        .await?;
    Ok(ok_json(&mappings))
}

/// Replaces the mappings of a crm context.
///
/// Exactly as many elements as GET returns, matched by `id`, else by an event that has one
/// mapping. Templates are validated; the answer is the new array. To add or remove one, use
/// POST or DELETE `.../event-uri-mappings/{mappingId}`.
#[utoipa::path(put,
    path = "/api/crm-integrations/{xelionContextId}/crm-contexts/{crmContextId}/event-uri-mappings",
    tag = "event-uri-mappings",
    params(("xelionContextId" = i64, Path), ("crmContextId" = i64, Path)),
    request_body = Vec<EventUriMappingRequest>, security(("xelion" = [])),
    responses((status = 200, body = Vec<EventUriMappingView>),
        (status = 400, description = "count rule, bad field or template error", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn put_mappings(
    call: Call,
    path: web::Path<(XelionContextId, CrmContextId)>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    call.require_token()?;
    let (xid, cid) = path.into_inner();
    let mappings: Vec<EventUriMappingRequest> = call.json(&body)?;
    let all = call
        .send(PutMappings {
            token: call.token.clone(),
            xelion_context_id: xid,
            crm_context_id: cid,
            mappings,
        })
        .await?;
    Ok(ok_json(&all))
}

/// Renders mappings for a sample event without sending anything.
///
/// Renders the mappings of one event type (the stored ones, or `eventUriMappings` when given)
/// for a sample event and answers the requests that would be sent, with placeholders for the
/// access token and the delivery id, or each template error with its position.
#[utoipa::path(post,
    path = "/api/crm-integrations/{xelionContextId}/crm-contexts/{crmContextId}/event-uri-mappings/preview",
    tag = "event-uri-mappings",
    params(("xelionContextId" = i64, Path), ("crmContextId" = i64, Path)),
    request_body = MappingPreviewRequest, security(("xelion" = [])),
    responses((status = 200, body = MappingPreview),
        (status = 400, description = "a missing or unknown xelionEvent, an event that is not an object, a bad mapping field", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn preview_mappings(
    call: Call,
    path: web::Path<(XelionContextId, CrmContextId)>,
    body: web::Bytes,
) -> Result<HttpResponse, HttpError> {
    call.require_token()?;
    let (xid, cid) = path.into_inner();
    let req: MappingPreviewRequest = call.json(&body)?;
    let preview = call
        .send(PreviewMappings {
            token: call.token.clone(),
            xelion_context_id: xid,
            crm_context_id: cid,
            req,
        })
        .await?;
    Ok(ok_json(&preview))
}
