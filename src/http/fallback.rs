//! Answers the router and the framework give, in the API's error shape: an unknown path (404),
//! a known path with another method (405 with `Allow`), a body that cannot be read (a corrupt
//! gzip stream, 400; too large, 413), and the request checks that run before any handler.

use std::sync::OnceLock;

use super::openapi::document;
use super::{http_error, input, BODY_LIMIT};
use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{HeaderValue, ALLOW, RETRY_AFTER};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use cti_actors::error::What;
use cti_actors::ApiError;

/// `Retry-After` (seconds) of a 429 that came without one.
const DEFAULT_RETRY_AFTER: &str = "30";

/// Paths the server answers that the OpenAPI document does not list, with their methods.
const OWN_ROUTES: [(&str, &str); 1] = [("/api/openapi.json", "GET")];

/// Every route as (path pattern segments, method), from the OpenAPI document: the document
/// is the list of what the server answers, so 405 and the document cannot disagree.
fn route_table() -> &'static Vec<(Vec<String>, String)> {
    static TABLE: OnceLock<Vec<(Vec<String>, String)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let doc = document();
        let mut table: Vec<(Vec<String>, String)> = OWN_ROUTES
            .iter()
            .chain(super::ui::ROUTES.iter())
            .map(|(p, m)| (segments(p), m.to_string()))
            .collect();
        if let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) {
            for (path, item) in paths {
                let Some(ops) = item.as_object() else {
                    continue;
                };
                for method in ops.keys() {
                    let m = method.to_ascii_uppercase();
                    if ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&m.as_str()) {
                        table.push((segments(path), m));
                    }
                }
            }
        }
        table
    })
}

fn segments(path: &str) -> Vec<String> {
    path.trim_matches('/')
        .split('/')
        .map(str::to_string)
        .collect()
}

/// The methods the server answers on `path` (empty: no such path). Where several patterns
/// match, the one whose literal segments come first wins, as in the router (`.../preview` is
/// not `.../{mappingId}`).
pub fn allowed_methods(path: &str) -> Vec<String> {
    let want = segments(path);
    let matching: Vec<(Vec<bool>, &String)> = route_table()
        .iter()
        .filter_map(|(pattern, method)| {
            if pattern.len() != want.len() {
                return None;
            }
            let mut literal = Vec::with_capacity(pattern.len());
            for (p, w) in pattern.iter().zip(&want) {
                if p.starts_with('{') && p.ends_with('}') && !w.is_empty() {
                    literal.push(false);
                } else if p == w {
                    literal.push(true);
                } else {
                    return None;
                }
            }
            Some((literal, method))
        })
        .collect();
    // `true` (literal) sorts after `false`: the greatest mask is the most literal match.
    let Some(best) = matching.iter().map(|(mask, _)| mask).max().cloned() else {
        return Vec::new();
    };
    let mut methods: Vec<String> = matching
        .into_iter()
        .filter(|(mask, _)| *mask == best)
        .map(|(_, m)| m.clone())
        .collect();
    methods.sort();
    methods.dedup();
    methods
}

/// The default service: 405 with `Allow` when the path exists with other methods, else 404.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    let allowed = allowed_methods(req.path());
    if allowed.is_empty() {
        return http_error(
            &req,
            ApiError::NotFound(What::Endpoint {
                method: req.method().to_string(),
                path: req.path().to_string(),
            }),
        )
        .error_response();
    }
    method_not_allowed(&req, &allowed)
}

fn method_not_allowed(req: &HttpRequest, allowed: &[String]) -> HttpResponse {
    let mut resp = http_error(
        req,
        ApiError::MethodNotAllowed {
            method: req.method().to_string(),
            allowed: allowed.join(", "),
        },
    )
    .error_response();
    if let Ok(v) = HeaderValue::from_str(&allowed.join(", ")) {
        resp.headers_mut().insert(ALLOW, v);
    }
    resp
}

/// Runs the request checks (NUL in the query or path) before routing, and turns the
/// framework's own error answers into the API's shape.
pub async fn guard(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if let Err(e) = input::check_request_nul(req.request()) {
        let resp = http_error(req.request(), e).error_response();
        return Ok(req.into_response(resp));
    }
    let mut res = next.call(req).await?;
    let status = res.status();
    if status == StatusCode::TOO_MANY_REQUESTS && !res.headers().contains_key(RETRY_AFTER) {
        // Every 429 says when to come back, also one passed through from elsewhere.
        res.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static(DEFAULT_RETRY_AFTER));
    }
    let payload = res
        .response()
        .error()
        .and_then(|e| e.as_error::<PayloadError>())
        .map(|e| match e {
            PayloadError::Overflow => ApiError::PayloadTooLarge { limit: BODY_LIMIT },
            other => ApiError::bad_payload(format!(
                "the request body could not be read ({other}); send JSON, plain or gzip-encoded \
                 with a matching Content-Encoding"
            )),
        });
    if let Some(err) = payload {
        let (req, _) = res.into_parts();
        let resp = http_error(&req, err).error_response();
        return Ok(ServiceResponse::new(req, resp));
    }
    if status == StatusCode::PAYLOAD_TOO_LARGE && res.response().error().is_some() {
        let (req, _) = res.into_parts();
        let resp =
            http_error(&req, ApiError::PayloadTooLarge { limit: BODY_LIMIT }).error_response();
        return Ok(ServiceResponse::new(req, resp));
    }
    if status == StatusCode::METHOD_NOT_ALLOWED && res.response().error().is_none() {
        // A resource's own 405 (empty body): the same answer as the default service's.
        let (req, _) = res.into_parts();
        let allowed = allowed_methods(req.path());
        let resp = method_not_allowed(&req, &allowed);
        return Ok(ServiceResponse::new(req, resp));
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_paths_list_their_methods() {
        assert_eq!(allowed_methods("/api/users/3"), ["DELETE", "GET", "PUT"]);
        assert_eq!(allowed_methods("/api/users/3/clientid/update"), ["POST"]);
        assert_eq!(allowed_methods("/health"), ["GET"]);
        assert_eq!(allowed_methods("/ui"), ["GET"]);
        assert_eq!(
            allowed_methods("/ui/integrations/1/deliveries/2/retry"),
            ["POST"]
        );
        assert!(allowed_methods("/api/nothing").is_empty());
        assert!(allowed_methods("/api/users//x").is_empty());
        let mappings = "/api/crm-integrations/1/crm-contexts/2/event-uri-mappings";
        assert_eq!(allowed_methods(mappings), ["GET", "POST", "PUT"]);
        assert_eq!(allowed_methods(&format!("{mappings}/preview")), ["POST"]);
        assert_eq!(allowed_methods(&format!("{mappings}/7")), ["DELETE"]);
        assert_eq!(
            allowed_methods("/api/crm-integrations/1/crm-contexts/2"),
            ["DELETE", "PUT"]
        );
    }
}
