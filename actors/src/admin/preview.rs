//! `POST .../event-uri-mappings/preview`: the requests a sample event would cause, rendered
//! exactly as a delivery renders them. Nothing is sent and nothing is stored.

use cti_el::Vars;
use serde_json::Value;

use super::validate::mapping_fields;
use super::{Admin, Scope};
use crate::api::{
    MappingPreview, MappingPreviewItem, MappingPreviewRequest, PreviewTemplateError,
    PreviewedRequest,
};
use crate::dispatch::render::{authorize, render_vars, variables, CompiledMapping, TemplateError};
use crate::domain::{CrmContextId, MappingId, XelionContextId, XelionEvent};
use crate::error::ApiError;
use crate::store::EventUriMapping;

/// What the preview shows instead of the access token.
pub const TOKEN_PLACEHOLDER: &str = "<access token>";
/// What the preview shows instead of the delivery id.
pub const DELIVERY_ID_PLACEHOLDER: &str = "<delivery id>";

/// A mapping to preview: the stored one, or one given in the request with its position.
struct Candidate {
    id: Option<MappingId>,
    index: Option<usize>,
    mapping: EventUriMapping,
}

impl Admin {
    /// Renders every mapping of `xelionEvent` (stored, or given) for the sample event.
    pub async fn preview_mappings(
        &self,
        scope: &Scope,
        xid: XelionContextId,
        cid: CrmContextId,
        req: MappingPreviewRequest,
    ) -> Result<MappingPreview, ApiError> {
        let event: XelionEvent = req
            .xelion_event
            .trim()
            .parse()
            .map_err(|e| ApiError::bad_payload(format!("xelionEvent: {e}")))?;
        let Value::Object(fields) = req.event else {
            return Err(ApiError::bad_payload(
                "event: must be an object of the call event's fields, e.g. {\"callId\": \"…\"}",
            ));
        };
        let given = match &req.event_uri_mappings {
            Some(list) => Some(given_mappings(list, cid)?),
            None => None,
        };
        let (_, crm) = self.scoped_crm_context(scope, xid, cid).await?;
        let (source, candidates) = match given {
            Some(list) => ("request", list),
            None => (
                "stored",
                self.store
                    .mappings(crm.id)
                    .await?
                    .into_iter()
                    .map(|m| Candidate {
                        id: Some(m.id),
                        index: None,
                        mapping: m,
                    })
                    .collect(),
            ),
        };
        let vars = variables(event, &fields);
        let previews = candidates
            .into_iter()
            .filter(|c| c.mapping.xelion_event == event)
            .map(|c| self.preview_one(c, &vars, &crm.authorization_header_prefix))
            .collect();
        Ok(MappingPreview {
            xelion_event: event,
            mappings: source,
            previews,
        })
    }

    fn preview_one(&self, c: Candidate, vars: &Vars<'_>, prefix: &str) -> MappingPreviewItem {
        let at = c.index.map(|i| format!("eventUriMappings[{i}]."));
        let rendered = CompiledMapping::compile(&c.mapping).and_then(|m| render_vars(&m, vars));
        let mut item = MappingPreviewItem {
            id: c.id,
            index: c.index,
            request: None,
            error: None,
            outbound_refusal: None,
        };
        match rendered {
            Ok(mut req) => {
                authorize(&mut req, prefix, TOKEN_PLACEHOLDER, DELIVERY_ID_PLACEHOLDER);
                item.outbound_refusal = self
                    .xelion
                    .policy()
                    .check_url(&req.uri)
                    .err()
                    .map(|e| e.to_string());
                item.request = Some(PreviewedRequest {
                    method: req.method,
                    body: req
                        .body
                        .map(|b| serde_json::from_str(&b).unwrap_or(Value::String(b))),
                    uri: req.uri,
                    headers: req.headers,
                });
            }
            Err(e) => item.error = Some(error_view(&e, at.as_deref().unwrap_or(""))),
        }
        item
    }
}

/// Given mappings, checked as a PUT body is, except that a template that does not parse is
/// answered in its element (with all the others) rather than as a 400.
fn given_mappings(
    list: &[crate::api::EventUriMappingRequest],
    cid: CrmContextId,
) -> Result<Vec<Candidate>, ApiError> {
    list.iter()
        .enumerate()
        .map(|(i, m)| {
            let checked = mapping_fields(&format!("eventUriMappings[{i}]"), m)?;
            Ok(Candidate {
                id: m.id,
                index: Some(i),
                mapping: EventUriMapping {
                    id: m.id.unwrap_or(MappingId(0)),
                    crm_context_id: cid,
                    xelion_event: checked.xelion_event,
                    crm_resource_uri: checked.crm_resource_uri,
                    crm_resource_payload: checked.crm_resource_payload,
                    method: checked.method,
                    headers: checked.headers,
                    created_at: String::new(),
                },
            })
        })
        .collect()
}

fn error_view(e: &TemplateError, prefix: &str) -> PreviewTemplateError {
    PreviewTemplateError {
        stage: e.stage.as_str(),
        field: e.field.as_str(),
        path: e.path.clone().filter(|p| !p.is_empty()),
        column: e.column,
        message: format!("{prefix}{e}"),
    }
}
