//! What the status page shows, asked of the supervisor with the caller's token through the
//! same commands as the API (so the same tenant scoping): the session, the tenant's socket,
//! the users needing re-authorisation, the recent deliveries (failures first) and the stored
//! mappings for the preview. Nothing here holds a secret: the commands answer none.

use actix::Addr;
use cti_actors::api::{
    DeliveryQuery, DeliveryView, EventUriMappingView, MappingPreview, MappingPreviewItem,
    ReauthorisationView, SessionView,
};
use cti_actors::domain::{CrmContextId, DeliveryStatus, XelionContextId, XelionEvent};
use cti_actors::messages::{
    CurrentSession, GetIntegration, GetMappings, ListDeliveries, ListUsers,
    UsersNeedingReauthorisation,
};
use cti_actors::supervisor::GetTenantStatus;
use cti_actors::tenant::{TenantState, TenantStatus};
use cti_actors::{ApiError, Supervisor};
use serde::Serialize;
use serde_json::Value;

/// Failed deliveries shown at most.
const FAILED_SHOWN: u32 = 20;
/// Recent deliveries (of any status) shown at most.
const RECENT_SHOWN: u32 = 30;

/// Sends a command to the supervisor; a supervisor that cannot take it is `Unavailable`.
pub async fn ask<M, T>(supervisor: &Addr<Supervisor>, msg: M) -> Result<T, ApiError>
where
    M: actix::Message<Result = Result<T, ApiError>> + Send + 'static,
    T: Send + 'static,
    Supervisor: actix::Handler<M>,
{
    supervisor
        .send(msg)
        .await
        .unwrap_or(Err(ApiError::Unavailable))
}

/// The page's data, as the template reads it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusData {
    pub session: SessionView,
    pub csrf: String,
    pub notice: Option<String>,
    pub integration: Option<IntegrationData>,
}

/// The tenant's integration, when one is registered.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationData {
    pub xelion_context_id: XelionContextId,
    pub tenant: TenantRow,
    pub reauthorisation: Vec<ReauthorisationView>,
    pub deliveries: Vec<DeliveryRow>,
    pub failed_count: usize,
    pub mappings: Vec<MappingRow>,
    pub crm_contexts: Vec<CrmContextId>,
    pub preview: Option<Value>,
}

/// The tenant's event socket.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantRow {
    pub label: String,
    pub state: &'static str,
    /// `ok`, `warn` or `bad`: the badge's colour.
    pub tone: &'static str,
    pub since: Option<String>,
    pub subscribed_events: String,
    pub last_event_at: Option<String>,
    pub last_error: Option<String>,
    pub events_received: u64,
    pub reconnects: u64,
    pub mappings: usize,
}

/// One delivery of the table.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRow {
    pub id: i64,
    pub created_at: String,
    pub user: String,
    pub xelion_event: &'static str,
    pub call_id: String,
    pub status: &'static str,
    pub tone: &'static str,
    pub attempts: usize,
    pub last_error: Option<String>,
    pub last_answer: Option<String>,
    /// The retry form's action, for a failed delivery.
    pub retry_action: Option<String>,
}

/// A stored mapping, for the preview's picker.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MappingRow {
    /// The picker's value: `stored:{crmContextId}:{mappingId}`.
    pub value: String,
    pub label: String,
    #[serde(skip)]
    pub crm_context_id: CrmContextId,
    #[serde(skip)]
    pub view: EventUriMappingView,
}

/// Everything the page shows for the token's tenant. `NotAuthenticated` for a token that is
/// unknown or expired.
pub async fn gather(
    supervisor: &Addr<Supervisor>,
    token: &str,
    csrf: String,
) -> Result<StatusData, ApiError> {
    let t = || Some(token.to_string());
    let session = ask(supervisor, CurrentSession { token: t() }).await?;
    let integration = match ask(
        supervisor,
        GetIntegration {
            token: t(),
            host: None,
            tenant: None,
        },
    )
    .await
    {
        Ok(i) => Some(i),
        Err(ApiError::NotFound(_)) => None,
        Err(e) => return Err(e),
    };
    let integration = match integration {
        None => None,
        Some(i) => {
            let xid = i.xelion_context.id;
            let crms: Vec<CrmContextId> = i
                .crm_contexts
                .unwrap_or_else(|| vec![i.crm_context])
                .into_iter()
                .map(|c| c.id)
                .collect();
            Some(integration_data(supervisor, token, xid, crms).await?)
        }
    };
    Ok(StatusData {
        session,
        csrf,
        notice: None,
        integration,
    })
}

async fn integration_data(
    supervisor: &Addr<Supervisor>,
    token: &str,
    xid: XelionContextId,
    crms: Vec<CrmContextId>,
) -> Result<IntegrationData, ApiError> {
    let t = || Some(token.to_string());
    let deliveries = |status: Option<&str>, limit: u32| ListDeliveries {
        token: t(),
        xelion_context_id: xid,
        query: DeliveryQuery {
            status: status.map(str::to_string),
            limit: Some(limit.to_string()),
            ..DeliveryQuery::default()
        },
    };
    let (status, reauthorisation, failed, recent) = tokio::join!(
        ask(
            supervisor,
            GetTenantStatus {
                token: t(),
                xelion_context_id: xid,
            }
        ),
        ask(
            supervisor,
            UsersNeedingReauthorisation {
                token: t(),
                xelion_context_id: xid,
            }
        ),
        ask(supervisor, deliveries(Some("failed"), FAILED_SHOWN)),
        ask(supervisor, deliveries(None, RECENT_SHOWN)),
    );
    let mut names = std::collections::HashMap::new();
    let mut mappings = Vec::new();
    for &cid in &crms {
        let users = ask(
            supervisor,
            ListUsers {
                token: t(),
                xelion_context_id: xid,
                crm_context_id: cid,
                username: None,
                oid: None,
            },
        )
        .await?;
        for u in users {
            names.insert(u.user_credentials_id, u.xelion_username);
        }
        let stored = ask(
            supervisor,
            GetMappings {
                token: t(),
                xelion_context_id: xid,
                crm_context_id: cid,
            },
        )
        .await?;
        mappings.extend(stored.into_iter().map(|m| mapping_row(cid, m)));
    }
    let failed = failed?.deliveries;
    let failed_count = failed.len();
    let rows = failed
        .into_iter()
        .chain(
            recent?
                .deliveries
                .into_iter()
                .filter(|d| d.status != DeliveryStatus::Failed),
        )
        .map(|d| delivery_row(xid, d, &names))
        .collect();
    Ok(IntegrationData {
        xelion_context_id: xid,
        tenant: tenant_row(&status?),
        reauthorisation: reauthorisation?,
        deliveries: rows,
        failed_count,
        mappings,
        crm_contexts: crms,
        preview: None,
    })
}

fn tenant_row(s: &TenantStatus) -> TenantRow {
    let tone = match s.state {
        TenantState::Subscribed => "ok",
        TenantState::Connecting | TenantState::BackingOff => "warn",
        _ => "bad",
    };
    TenantRow {
        label: s.label.clone(),
        state: s.state.as_str(),
        tone,
        since: s.since.clone(),
        subscribed_events: s
            .subscribed_events
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        last_event_at: s.last_event_at.clone(),
        last_error: s.last_error.clone(),
        events_received: s.events_received,
        reconnects: s.reconnects,
        mappings: s.mappings,
    }
}

fn delivery_row(
    xid: XelionContextId,
    d: DeliveryView,
    names: &std::collections::HashMap<String, String>,
) -> DeliveryRow {
    let last = d.attempts.last();
    let last_error = d
        .reason
        .clone()
        .or_else(|| last.and_then(|a| a.error.clone()));
    let last_answer = last.and_then(|a| match a.status {
        Some(s) if !(200..300).contains(&s) => Some(match &a.excerpt {
            Some(e) if !e.is_empty() => format!("HTTP {s}: {}", shorten(e, 200)),
            _ => format!("HTTP {s}"),
        }),
        _ => None,
    });
    // "HTTP 422" above "HTTP 422: {...}" says it twice.
    let last_error = last_error.filter(|e| {
        !last_answer
            .as_ref()
            .is_some_and(|a| a.starts_with(e.as_str()))
    });
    let failed = d.status == DeliveryStatus::Failed;
    DeliveryRow {
        id: d.id.0,
        created_at: d
            .created_at
            .chars()
            .take(19)
            .collect::<String>()
            .replace('T', " "),
        user: names
            .get(&d.user_id.0.to_string())
            .cloned()
            .unwrap_or_else(|| format!("user {}", d.user_id.0)),
        xelion_event: d.xelion_event.as_str(),
        call_id: d.call_id,
        status: d.status.as_str(),
        tone: match d.status {
            DeliveryStatus::Delivered => "ok",
            DeliveryStatus::Failed => "bad",
            _ => "warn",
        },
        attempts: d.attempts.len(),
        last_error,
        last_answer,
        retry_action: failed
            .then(|| format!("/ui/integrations/{}/deliveries/{}/retry", xid.0, d.id.0)),
    }
}

fn mapping_row(cid: CrmContextId, m: EventUriMappingView) -> MappingRow {
    MappingRow {
        value: format!("stored:{}:{}", cid.0, m.id.0),
        label: format!(
            "#{} {} {} {}",
            m.id.0,
            m.xelion_event.as_str(),
            m.method.unwrap_or_default().as_str(),
            shorten(&m.crm_resource_uri, 80)
        ),
        crm_context_id: cid,
        view: m,
    }
}

/// At most `n` characters, `…` when cut.
pub fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// The preview's results, as the template reads them.
pub fn preview_items(preview: &MappingPreview, only: Option<i64>) -> Vec<Value> {
    preview
        .previews
        .iter()
        .filter(|p| only.is_none_or(|id| p.id.map(|m| m.0) == Some(id)))
        .map(preview_item)
        .collect()
}

fn preview_item(p: &MappingPreviewItem) -> Value {
    let title = match (p.id, p.index) {
        (Some(id), _) => format!("mapping #{}", id.0),
        _ => "the templates above".to_string(),
    };
    let request = p.request.as_ref().map(|r| {
        serde_json::json!({
            "method": r.method.as_str(),
            "uri": r.uri,
            "headers": r.headers.iter()
                .map(|(n, v)| serde_json::json!({"name": n, "value": v}))
                .collect::<Vec<_>>(),
            "body": r.body.as_ref()
                .map(|b| serde_json::to_string_pretty(b).unwrap_or_default()),
        })
    });
    serde_json::json!({
        "title": title,
        "request": request,
        "error": p.error.as_ref().map(|e| e.message.clone()),
        "refusal": p.outbound_refusal,
    })
}

/// The event types, for the preview's picker.
pub fn event_names() -> impl Iterator<Item = &'static str> {
    XelionEvent::ALL.iter().map(|e| e.as_str())
}

/// A sample call event for the preview form, as Xelion sends one.
pub const SAMPLE_EVENT: &str = r#"{
  "initiation": "incoming",
  "date": "2024-05-14 10:21:07",
  "callId": "186ba647df1ef222",
  "callerPhoneNumber": "+31612345678",
  "calleePhoneNumber": "+31201234567",
  "duration": 42,
  "callerUser": "",
  "calleeUser": "alice",
  "callerFlowId": "2018-09-12-09:50:43-00000002",
  "calleeFlowId": "2018-09-12-09:50:43-00000003"
}"#;
