//! Checks of request values that several commands share: the error names the field and says
//! what would be accepted.

use cti_el::{PayloadTemplate, UriTemplate};

use crate::api::EventUriMappingRequest;
use crate::domain::{HttpMethod, MappingId};
use crate::error::ApiError;
use crate::outbound::{OutboundError, OutboundPolicy};
use crate::store::NewMapping;

/// Checks methods, headers and templates (the event is typed by then), and the target of a URI
/// whose host is written out against the outbound rule; errors name the field path and column.
pub fn validate_mappings(
    reqs: &[EventUriMappingRequest],
    prefix: &str,
    policy: &OutboundPolicy,
) -> Result<Vec<(Option<MappingId>, NewMapping)>, ApiError> {
    let mut out = Vec::with_capacity(reqs.len());
    for (i, m) in reqs.iter().enumerate() {
        let at = format!("{prefix}[{i}]");
        if let Err(e) = UriTemplate::parse(m.crm_resource_uri.trim()) {
            return Err(ApiError::BadTemplate(format!("{at}.crmResourceUri: {e}")));
        }
        if let Some(p) = m.crm_resource_payload.as_ref().filter(|p| !p.is_null()) {
            if let Err(e) = PayloadTemplate::parse(p) {
                return Err(ApiError::BadTemplate(format!(
                    "{at}.crmResourcePayload{}",
                    payload_error_suffix(&e)
                )));
            }
        }
        let fields = mapping_fields(&at, m)?;
        check_literal_target(
            &format!("{at}.crmResourceUri"),
            &fields.crm_resource_uri,
            policy,
        )?;
        out.push((m.id, fields));
    }
    Ok(out)
}

/// The outbound rule's verdict on a URL whose scheme and host are written out: a refused
/// address (`169.254.169.254`, `localhost` unless allowed) answers 400 (10206) naming the
/// field when it is stored. A host that is a template, or a name (resolved only when a
/// request is made), is checked when the delivery is made.
pub(super) fn check_literal_target(
    field: &str,
    uri: &str,
    policy: &OutboundPolicy,
) -> Result<(), ApiError> {
    let Some(origin) = literal_origin(uri) else {
        return Ok(());
    };
    match policy.check_literal(origin) {
        Ok(()) => Ok(()),
        Err(OutboundError::InvalidUrl(_)) => Err(ApiError::bad_payload(format!(
            "{field}: `{origin}` is not a valid URL"
        ))),
        Err(error) => Err(ApiError::TargetBlocked {
            field: field.to_string(),
            error,
        }),
    }
}

/// `scheme://authority` of a URI when no template reaches into it.
fn literal_origin(uri: &str) -> Option<&str> {
    let scheme_end = uri.find("://")?;
    let rest = &uri[scheme_end + 3..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let origin = &uri[..scheme_end + 3 + end];
    (!origin.contains("${") && !origin.contains("#{")).then_some(origin)
}

/// Checks everything of a mapping but whether its templates parse: the URI's scheme, the
/// method, the headers. `at` is the element's field path.
pub(super) fn mapping_fields(at: &str, m: &EventUriMappingRequest) -> Result<NewMapping, ApiError> {
    let uri = m.crm_resource_uri.trim();
    let lower = uri.to_ascii_lowercase();
    if !(lower.starts_with("http://")
        || lower.starts_with("https://")
        || uri.starts_with("${")
        || uri.starts_with("#{"))
    {
        return Err(ApiError::bad_payload(format!(
            "{at}.crmResourceUri: must be an http:// or https:// URL"
        )));
    }
    let payload = m.crm_resource_payload.clone().filter(|p| !p.is_null());
    let method = match &m.method {
        None => HttpMethod::Post,
        Some(method) => method
            .parse::<HttpMethod>()
            .map_err(|e| ApiError::bad_payload(format!("{at}.method: {e}")))?,
    };
    let headers = match &m.headers {
        None => None,
        Some(h) if h.is_empty() => None,
        Some(h) => {
            for (name, value) in h {
                let valid_name = !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
                if !valid_name {
                    return Err(ApiError::bad_payload(format!(
                        "{at}.headers: `{name}` is not a valid header name"
                    )));
                }
                if ["authorization", "idempotency-key", "content-length", "host"]
                    .contains(&name.to_ascii_lowercase().as_str())
                {
                    return Err(ApiError::bad_payload(format!(
                        "{at}.headers: `{name}` is set by the server and cannot be mapped"
                    )));
                }
                if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                    return Err(ApiError::bad_payload(format!(
                        "{at}.headers.{name}: the value must not contain line breaks"
                    )));
                }
            }
            serde_json::to_value(h).ok()
        }
    };
    Ok(NewMapping {
        xelion_event: m.xelion_event,
        crm_resource_uri: uri.to_string(),
        crm_resource_payload: payload,
        method,
        headers,
    })
}

fn payload_error_suffix(e: &cti_el::PayloadError) -> String {
    let path = e.path();
    if path.is_empty() {
        format!(": {}", e.parse_error())
    } else if path.starts_with('[') {
        format!("{path}: {}", e.parse_error())
    } else {
        format!(".{path}: {}", e.parse_error())
    }
}

/// The trimmed value; 400 naming the field when nothing is left.
pub(crate) fn non_empty(field: &str, value: &str) -> Result<String, ApiError> {
    let v = value.trim();
    if v.is_empty() {
        Err(ApiError::bad_payload(format!("{field}: must not be empty")))
    } else {
        Ok(v.to_string())
    }
}

/// A Xelion host: a name or address with an optional port, nothing else (no scheme, path,
/// credentials), lower-cased.
pub fn normalize_host(raw: &str) -> Result<String, ApiError> {
    let host = raw.trim().to_ascii_lowercase();
    let bad = || {
        ApiError::bad_payload(format!(
            "host: `{raw}` is not a host name with an optional port (e.g. `xelion.example.com` or `127.0.0.1:9001`)"
        ))
    };
    if host.is_empty() || host.len() > 253 {
        return Err(bad());
    }
    let parsed = reqwest::Url::parse(&format!("http://{host}/")).map_err(|_| bad())?;
    let rebuilt = match parsed.port() {
        Some(p) => format!("{}:{p}", parsed.host_str().unwrap_or_default()),
        None => parsed.host_str().unwrap_or_default().to_string(),
    };
    if parsed.path() != "/" || !parsed.username().is_empty() || rebuilt != host {
        return Err(bad());
    }
    Ok(host)
}

/// The longest token endpoint a crm context takes (a crm context is unique by its fields, and
/// an index entry has a bounded size).
pub const MAX_TOKEN_URI_LEN: usize = 2048;
/// The longest `authorizationHeaderPrefix`.
pub const MAX_HEADER_PREFIX_LEN: usize = 256;

/// A crm context's fields as stored: the token endpoint checked (URL, outbound rule, length)
/// and the header prefix (default `Bearer `) fit for a header value. `at` is the field path
/// of the crm context (`crmContext.` or empty).
pub(crate) fn crm_context_fields(
    at: &str,
    req: &crate::api::CrmContextRequest,
    policy: &OutboundPolicy,
) -> Result<(String, String), ApiError> {
    let uri_field = format!("{at}authorizationServerUri");
    if req.authorization_server_uri.trim().len() > MAX_TOKEN_URI_LEN {
        return Err(ApiError::bad_payload(format!(
            "{uri_field}: longer than {MAX_TOKEN_URI_LEN} characters"
        )));
    }
    let uri = check_http_url(&uri_field, &req.authorization_server_uri, policy)?;
    let prefix = req
        .authorization_header_prefix
        .clone()
        .unwrap_or_else(|| "Bearer ".to_string());
    let field = format!("{at}authorizationHeaderPrefix");
    if prefix.len() > MAX_HEADER_PREFIX_LEN {
        return Err(ApiError::bad_payload(format!(
            "{field}: longer than {MAX_HEADER_PREFIX_LEN} characters"
        )));
    }
    if prefix.chars().any(|c| c.is_control()) || !prefix.is_ascii() {
        return Err(ApiError::bad_payload(format!(
            "{field}: must be printable ASCII (it starts the Authorization header)"
        )));
    }
    Ok((uri, prefix))
}

/// An `http://` or `https://` URL, trimmed, whose address the outbound rule does not refuse.
pub(crate) fn check_http_url(
    field: &str,
    raw: &str,
    policy: &OutboundPolicy,
) -> Result<String, ApiError> {
    let url = reqwest::Url::parse(raw.trim())
        .map_err(|_| ApiError::bad_payload(format!("{field}: `{raw}` is not a valid URL")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ApiError::bad_payload(format!(
            "{field}: must be an http:// or https:// URL"
        )));
    }
    check_literal_target(field, raw.trim(), policy)?;
    Ok(raw.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_targets_are_checked_templated_ones_are_not() {
        let p = OutboundPolicy::default();
        let blocked = |u: &str| check_literal_target("f", u, &p).unwrap_err().status();
        assert_eq!(blocked("http://169.254.169.254/latest"), 400);
        assert_eq!(blocked("http://127.0.0.1:9002/x?a=${callId}"), 400);
        assert_eq!(blocked("http://localhost:8080/"), 400);
        assert_eq!(blocked("https://[::1]/"), 400);
        let err = check_literal_target("crmContext.x", "http://10.0.0.1/t", &p).unwrap_err();
        assert_eq!(err.code(), 10206);
        assert!(
            err.to_string().starts_with("crmContext.x: 10.0.0.1"),
            "{err}"
        );
        for ok in [
            "https://crm.example.org/${callId}",
            "http://${host}/x",
            "http://10.0.0.${n}/x",
            "${uri}",
            "https://93.184.216.34/x",
        ] {
            assert!(check_literal_target("f", ok, &p).is_ok(), "{ok}");
        }
        let open = OutboundPolicy::parse(&["127.0.0.1/8"]).unwrap();
        assert!(check_literal_target("f", "http://localhost:9/", &open).is_ok());
    }

    #[test]
    fn hosts_are_normalized_or_refused() {
        assert_eq!(
            normalize_host("Xelion.Example.COM").unwrap(),
            "xelion.example.com"
        );
        assert_eq!(normalize_host("127.0.0.1:9001").unwrap(), "127.0.0.1:9001");
        for bad in ["", "http://x", "x/y", "a@b", "x:notaport", "x y"] {
            assert!(normalize_host(bad).is_err(), "{bad}");
        }
    }
}
