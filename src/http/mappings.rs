//! `.../crm-contexts/{crmContextId}/event-uri-mappings`: read and replace the mappings.

use actix_web::{web, HttpResponse};
use cti_actors::api::{
    EventUriMappingRequest, EventUriMappingView, MappingPreview, MappingPreviewRequest,
};
use cti_actors::domain::{CrmContextId, XelionContextId};
use cti_actors::messages::{GetMappings, PreviewMappings, PutMappings};

use super::{ok_json, Call, ErrorBody, HttpError};

const PATH: &str =
    "/api/crm-integrations/{xelionContextId}/crm-contexts/{crmContextId}/event-uri-mappings";
const PREVIEW_PATH: &str =
    "/api/crm-integrations/{xelionContextId}/crm-contexts/{crmContextId}/event-uri-mappings/preview";

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(PATH, web::get().to(get_mappings))
        .route(PATH, web::put().to(put_mappings))
        .route(PREVIEW_PATH, web::post().to(preview_mappings));
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

/// Replaces the mappings: exactly as many elements as GET returns, matched by `id`, else by
/// an event that has one mapping. Templates are validated; the answer is the new array.
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

/// Renders the mappings of one event type (the stored ones, or `eventUriMappings` when given)
/// for a sample event and answers the requests that would be sent, with placeholders for the
/// access token and the delivery id, or each template error with its position. Sends nothing.
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
