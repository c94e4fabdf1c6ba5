//! `.../crm-contexts/{id}/event-uri-mappings`: read them, replace them all at once, add one,
//! delete one.

use std::collections::{HashMap, HashSet};

use super::validate::validate_mappings;
use super::views::mapping_view;
use super::{Admin, Scope, TenantChange};
use crate::api::{EventUriMappingRequest, EventUriMappingView};
use crate::domain::{CrmContextId, MappingId, XelionContextId, XelionEvent};
use crate::error::{ApiError, What};
use crate::store::{EventUriMapping, NewMapping, StoreError};

impl Admin {
    /// `GET .../event-uri-mappings`.
    pub async fn get_mappings(
        &self,
        scope: &Scope,
        xid: XelionContextId,
        cid: CrmContextId,
    ) -> Result<Vec<EventUriMappingView>, ApiError> {
        let (_, crm) = self.scoped_crm_context(scope, xid, cid).await?;
        let mappings = self.store.mappings(crm.id).await?;
        Ok(mappings.iter().map(mapping_view).collect())
    }

    /// `PUT .../event-uri-mappings`: as many elements as exist, matched by `id` or by a
    /// `xelionEvent` that has exactly one mapping.
    pub async fn put_mappings(
        &self,
        scope: &Scope,
        xid: XelionContextId,
        cid: CrmContextId,
        reqs: Vec<EventUriMappingRequest>,
    ) -> Result<(Vec<EventUriMappingView>, TenantChange), ApiError> {
        let (ctx, crm) = self.scoped_crm_context(scope, xid, cid).await?;
        let existing = self.store.mappings(crm.id).await?;
        if reqs.len() != existing.len() {
            return Err(ApiError::MappingCount {
                sent: reqs.len(),
                stored: existing.len(),
                crm_context: cid,
            });
        }
        let validated = validate_mappings(&reqs, "", self.xelion.policy())?;
        let changes = match_mappings(&existing, validated)?;
        let all = self.store.replace_mappings(crm.id, changes).await?;
        Ok((
            all.iter().map(mapping_view).collect(),
            TenantChange::Changed(ctx.id),
        ))
    }
}

impl Admin {
    /// `POST .../event-uri-mappings`: adds one mapping, validated as PUT validates each
    /// element; it must not name an `id`.
    pub async fn add_mapping(
        &self,
        scope: &Scope,
        xid: XelionContextId,
        cid: CrmContextId,
        req: EventUriMappingRequest,
    ) -> Result<(EventUriMappingView, TenantChange), ApiError> {
        let (ctx, crm) = self.scoped_crm_context(scope, xid, cid).await?;
        if let Some(id) = req.id {
            return Err(ApiError::bad_payload(format!(
                "id: a new mapping has no id yet (got {id}); to replace mapping {id}, use PUT"
            )));
        }
        let mut validated = validate_mappings(std::slice::from_ref(&req), "", self.xelion.policy())
            .map_err(strip_index)?;
        let Some((_, new)) = validated.pop() else {
            return Err(ApiError::internal(
                "validating a mapping",
                "no mapping came back",
            ));
        };
        let added = self.store.add_mapping(crm.id, &new).await?;
        Ok((mapping_view(&added), TenantChange::Changed(ctx.id)))
    }

    /// `DELETE .../event-uri-mappings/{mappingId}`.
    pub async fn delete_mapping(
        &self,
        scope: &Scope,
        xid: XelionContextId,
        cid: CrmContextId,
        id: MappingId,
    ) -> Result<TenantChange, ApiError> {
        let (ctx, crm) = self.scoped_crm_context(scope, xid, cid).await?;
        self.store
            .delete_mapping(crm.id, id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => ApiError::NotFound(What::Mapping(id, cid)),
                other => other.into(),
            })?;
        Ok(TenantChange::Changed(ctx.id))
    }
}

/// The error of a one-element validation, its field paths without the `[0]` of the element.
fn strip_index(e: ApiError) -> ApiError {
    let strip = |m: String| m.strip_prefix("[0].").map(str::to_string).unwrap_or(m);
    match e {
        ApiError::BadPayload(m) => ApiError::BadPayload(strip(m)),
        ApiError::BadTemplate(m) => ApiError::BadTemplate(strip(m)),
        ApiError::TargetBlocked { field, error } => ApiError::TargetBlocked {
            field: strip(field),
            error,
        },
        other => other,
    }
}

/// Pairs each validated element with the stored mapping it replaces.
fn match_mappings(
    existing: &[EventUriMapping],
    validated: Vec<(Option<MappingId>, NewMapping)>,
) -> Result<Vec<(MappingId, NewMapping)>, ApiError> {
    let mut per_event: HashMap<XelionEvent, Vec<MappingId>> = HashMap::new();
    for m in existing {
        per_event.entry(m.xelion_event).or_default().push(m.id);
    }
    let mut used = HashSet::new();
    let mut out = Vec::with_capacity(validated.len());
    for (i, (id, m)) in validated.into_iter().enumerate() {
        let target = match id {
            Some(id) => {
                if !existing.iter().any(|e| e.id == id) {
                    return Err(ApiError::bad_payload(format!(
                        "[{i}].id: mapping {id} does not belong to this crm context"
                    )));
                }
                id
            }
            None => match per_event.get(&m.xelion_event).map(Vec::as_slice) {
                Some([only]) => *only,
                Some(_) => {
                    return Err(ApiError::bad_payload(format!(
                        "[{i}]: `{}` has several mappings; give the `id` of the one to replace",
                        m.xelion_event
                    )))
                }
                None => {
                    return Err(ApiError::bad_payload(format!(
                        "[{i}]: no mapping for `{}` exists to replace; give the `id` of the mapping to replace",
                        m.xelion_event
                    )))
                }
            },
        };
        if !used.insert(target) {
            return Err(ApiError::bad_payload(format!(
                "[{i}]: mapping {target} is replaced twice in this request"
            )));
        }
        out.push((target, m));
    }
    Ok(out)
}
