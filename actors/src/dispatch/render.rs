//! A mapping and a call event in, the request to send out: URI, method, headers and body,
//! rendered with `cti-el` from templates parsed once per mapping version. No I/O.
//!
//! The variables are the event's fields as Xelion sent them (with their JSON types) plus
//! `xelionEvent`, the event type. `Authorization` and `Idempotency-Key` are not rendered: the
//! sender adds them with [`authorize`] once it holds a token.

use std::fmt;

use cti_el::{EvalError, PayloadError, PayloadTemplate, UriTemplate, Vars};
use serde_json::{Map, Value};

use crate::domain::{HttpMethod, MappingId, XelionEvent};
use crate::store::EventUriMapping;

pub use super::cache::MappingCache;

/// The name of the variable that holds the event type.
pub const EVENT_VARIABLE: &str = "xelionEvent";

/// A mapping with its templates parsed: rendering it parses nothing.
#[derive(Debug, Clone)]
pub struct CompiledMapping {
    /// The mapping it was compiled from.
    pub id: MappingId,
    /// The event type it is for.
    pub xelion_event: XelionEvent,
    /// The method it sends with.
    pub method: HttpMethod,
    uri: UriTemplate,
    /// `None`: no body.
    payload: Option<PayloadTemplate>,
    /// The mapping's own headers, in the order stored.
    headers: Vec<(String, String)>,
    /// Whether `headers` sets `Content-Type` itself.
    has_content_type: bool,
    /// What it was compiled from, so a cache can tell a mapping changed in place.
    source: EventUriMapping,
}

/// The request a delivery sends, before `Authorization` and `Idempotency-Key` are added.
#[derive(Clone, PartialEq, Eq)]
pub struct PreparedRequest {
    /// The method.
    pub method: HttpMethod,
    /// The absolute `http`/`https` URL, substituted values percent-encoded.
    pub uri: String,
    /// Header names and values, in the order they are sent.
    pub headers: Vec<(String, String)>,
    /// The JSON body, if any.
    pub body: Option<String>,
}

/// Which part of a mapping a template error is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateField {
    /// `crmResourceUri`.
    Uri,
    /// `crmResourcePayload`.
    Payload,
    /// `headers`.
    Headers,
}

impl TemplateField {
    /// The field name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateField::Uri => "crmResourceUri",
            TemplateField::Payload => "crmResourcePayload",
            TemplateField::Headers => "headers",
        }
    }
}

/// When a template failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// It does not parse (the mapping is broken for every event).
    Parse,
    /// It parsed but failed for this event's variables.
    Render,
}

impl Stage {
    /// `parse` or `render`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Parse => "parse",
            Stage::Render => "render",
        }
    }
}

/// A template that does not parse or does not render: which one, where, and what. Never
/// carries the event's values (call data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Parse or render.
    pub stage: Stage,
    /// The template.
    pub field: TemplateField,
    /// Inside a payload: the JSON path of the value (`myObject.callId`, `items[2]`); empty
    /// for the payload itself. `None` for the URI and headers.
    pub path: Option<String>,
    /// The 1-based character column in that template, when known.
    pub column: Option<usize>,
    /// What went wrong.
    pub message: String,
}

/// A template of a mapping that failed for one event.
pub type RenderError = TemplateError;

impl TemplateError {
    /// Where, as a field path: `crmResourcePayload.myObject.callId`, `crmResourceUri`.
    pub fn location(&self) -> String {
        let mut at = self.field.as_str().to_string();
        match self.path.as_deref() {
            None | Some("") => {}
            Some(p) if p.starts_with('[') => at.push_str(p),
            Some(p) => {
                at.push('.');
                at.push_str(p);
            }
        }
        at
    }

    fn eval(field: TemplateField, e: EvalError) -> Self {
        TemplateError {
            stage: Stage::Render,
            field,
            path: e.path().map(str::to_string),
            column: e.position(),
            message: e.message().to_string(),
        }
    }

    fn payload(e: PayloadError) -> Self {
        TemplateError {
            stage: Stage::Parse,
            field: TemplateField::Payload,
            path: Some(e.path().to_string()),
            column: Some(e.parse_error().position()),
            message: e.parse_error().message().to_string(),
        }
    }
}

impl fmt::Display for TemplateError {
    /// `crmResourcePayload.myObject.callId: column 9: expected `}``, as the PUT answers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.location())?;
        if let Some(c) = self.column {
            write!(f, "column {c}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for TemplateError {}

impl CompiledMapping {
    /// Parses the URI and payload templates and reads the headers.
    pub fn compile(m: &EventUriMapping) -> Result<Self, TemplateError> {
        let uri = UriTemplate::parse(m.crm_resource_uri.trim()).map_err(|e| TemplateError {
            stage: Stage::Parse,
            field: TemplateField::Uri,
            path: None,
            column: Some(e.position()),
            message: e.message().to_string(),
        })?;
        let payload = match &m.crm_resource_payload {
            None | Some(Value::Null) => None,
            Some(p) => Some(PayloadTemplate::parse(p).map_err(TemplateError::payload)?),
        };
        let headers = match &m.headers {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(h)) => h
                .iter()
                .map(|(name, value)| match value {
                    Value::String(v) => Ok((name.clone(), v.clone())),
                    _ => Err(TemplateError {
                        stage: Stage::Parse,
                        field: TemplateField::Headers,
                        path: None,
                        column: None,
                        message: format!("the value of `{name}` is not a string"),
                    }),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(TemplateError {
                    stage: Stage::Parse,
                    field: TemplateField::Headers,
                    path: None,
                    column: None,
                    message: "not an object of strings".into(),
                })
            }
        };
        let has_content_type = headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
        Ok(CompiledMapping {
            id: m.id,
            xelion_event: m.xelion_event,
            method: m.method,
            uri,
            payload,
            headers,
            has_content_type,
            source: m.clone(),
        })
    }

    /// Whether this was compiled from exactly `m` (same id and content).
    pub fn compiled_from(&self, m: &EventUriMapping) -> bool {
        self.source == *m
    }
}

/// The variables of an event: its fields plus `xelionEvent`, the event type (which wins over
/// a field of that name), indexed once and borrowed from the event. Build them once per event
/// when rendering several mappings.
pub fn variables(xelion_event: XelionEvent, fields: &Map<String, Value>) -> Vars<'_> {
    let mut vars = Vars::from_map(fields);
    vars.insert_str(EVENT_VARIABLE, xelion_event.as_str());
    vars
}

/// Renders the request of one mapping for one event.
pub fn render(
    m: &CompiledMapping,
    xelion_event: XelionEvent,
    fields: &Map<String, Value>,
) -> Result<PreparedRequest, RenderError> {
    render_vars(m, &variables(xelion_event, fields))
}

/// [`render`] with variables built by [`variables`]. The body is the payload rendered straight
/// to its JSON text.
pub fn render_vars(m: &CompiledMapping, vars: &Vars<'_>) -> Result<PreparedRequest, RenderError> {
    let mut uri = String::with_capacity(256);
    m.uri
        .render_to(vars, &mut uri)
        .map_err(|e| TemplateError::eval(TemplateField::Uri, e))?;
    let uri = checked_url(&uri)?;
    let body = match &m.payload {
        None => None,
        Some(p) => {
            let mut body = String::with_capacity(256);
            p.render_json(vars, &mut body)
                .map_err(|e| TemplateError::eval(TemplateField::Payload, e))?;
            // A payload that renders to null (a lone `${...}` that is null) sends no body.
            (body != "null").then_some(body)
        }
    };
    let mut headers = Vec::with_capacity(m.headers.len() + 3);
    headers.extend(m.headers.iter().cloned());
    if body.is_some() && !m.has_content_type {
        headers.push(("Content-Type".to_string(), "application/json".to_string()));
    }
    Ok(PreparedRequest {
        method: m.method,
        uri,
        headers,
        body,
    })
}

/// The rendered URI as the HTTP client will send it; an error unless it is an absolute
/// `http`/`https` URL with a host. The URI itself is not quoted: it carries call data.
fn checked_url(uri: &str) -> Result<String, RenderError> {
    let bad = |message: &str| TemplateError {
        stage: Stage::Render,
        field: TemplateField::Uri,
        path: None,
        column: None,
        message: message.to_string(),
    };
    let url = reqwest::Url::parse(uri)
        .map_err(|e| bad(&format!("renders to something that is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("renders to a URL that is not http:// or https://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("renders to a URL without a host"));
    }
    Ok(url.into())
}

/// Adds `Authorization: <prefix><token>` and `Idempotency-Key: <delivery id>`, replacing any
/// header of those names.
pub fn authorize(
    req: &mut PreparedRequest,
    prefix: &str,
    token: &str,
    delivery_id: impl fmt::Display,
) {
    req.headers.retain(|(n, _)| {
        !n.eq_ignore_ascii_case("authorization") && !n.eq_ignore_ascii_case("idempotency-key")
    });
    req.headers
        .push(("Authorization".to_string(), format!("{prefix}{token}")));
    req.headers
        .push(("Idempotency-Key".to_string(), delivery_id.to_string()));
}

impl fmt::Debug for PreparedRequest {
    /// The `Authorization` value is never shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| {
                if n.eq_ignore_ascii_case("authorization") {
                    (n.as_str(), "***")
                } else {
                    (n.as_str(), v.as_str())
                }
            })
            .collect();
        f.debug_struct("PreparedRequest")
            .field("method", &self.method)
            .field("uri", &self.uri)
            .field("headers", &headers)
            .field("body", &self.body)
            .finish()
    }
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
