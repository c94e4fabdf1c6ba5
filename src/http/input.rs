//! What a request carries, checked before a command sees it: JSON bodies parsed with the path
//! of a wrong field, NUL characters refused wherever they come in (body, query, path), and
//! path ids that are not numbers named.
//!
//! NUL (`\u0000`) cannot be stored in a PostgreSQL text column and would be stored silently
//! by SQLite; no field of the API has a use for it, so both backends answer the same 400
//! naming the field, before anything is stored or sent.

use actix_web::HttpRequest;
use cti_actors::ApiError;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Parses JSON with the path of the offending field in the error; refuses NUL characters.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::EmptyPayload(
            "the request body is empty; send JSON",
        ));
    }
    check_json_nul(body)?;
    if root_kind(body) == Some("an array") && !takes_an_array::<T>() {
        // serde reads a struct from an array too (positionally); the API never does.
        return Err(ApiError::bad_payload(
            "the body must be a JSON object, not an array; see GET /api/openapi.json",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = plain_words(&e.into_inner().to_string());
        if path == "." || path.is_empty() {
            match root_kind(body) {
                Some(got) if inner.starts_with("invalid type") => {
                    let want = if inner.contains("expected an array") {
                        "array"
                    } else {
                        "object"
                    };
                    ApiError::bad_payload(format!(
                        "the body must be a JSON {want}, not {got}; see GET /api/openapi.json"
                    ))
                }
                _ => ApiError::bad_payload(format!("invalid JSON body: {inner}")),
            }
        } else {
            ApiError::bad_payload(format!("{path}: {inner}"))
        }
    })
}

/// Whether `T` is read from an array (a list, or any JSON value) rather than an object.
fn takes_an_array<T: DeserializeOwned>() -> bool {
    serde_json::from_value::<T>(Value::Array(Vec::new())).is_ok()
}

/// serde's words for JSON's: `sequence` is an array, `map` and `struct X` are objects.
fn plain_words(msg: &str) -> String {
    let mut out = msg
        .replace("invalid type: sequence", "invalid type: array")
        .replace("invalid type: map", "invalid type: object")
        .replace("expected a sequence", "expected an array")
        .replace("expected a map", "expected an object");
    if let Some(at) = out.find("expected struct ") {
        let rest = &out[at + "expected struct ".len()..];
        let end = rest
            .find(|c: char| !c.is_alphanumeric() && c != '_')
            .unwrap_or(rest.len());
        out = format!("{}expected an object{}", &out[..at], &rest[end..]);
    }
    // serde reads a struct from an array positionally; to a client it is an array where an
    // object belongs.
    if out.starts_with("invalid length") {
        if let Some(at) = out.find("expected an object with ") {
            let tail = &out[at..];
            let position = tail.find(" at line").map_or("", |i| &tail[i..]);
            out = format!("invalid type: array, expected an object{position}");
        }
    }
    out
}

/// What the body is at its top level, for a body of the wrong type.
fn root_kind(body: &[u8]) -> Option<&'static str> {
    match body.iter().find(|b| !b.is_ascii_whitespace())? {
        b'[' => Some("an array"),
        b'{' => Some("an object"),
        b'"' => Some("a string"),
        b't' | b'f' => Some("a boolean"),
        b'n' => Some("null"),
        b'-' | b'0'..=b'9' => Some("a number"),
        _ => None,
    }
}

/// A JSON body carries NUL only as the escape `\u0000`; when the bytes hold no such escape
/// there is nothing to look for. Otherwise the first string (or key) holding one is named.
fn check_json_nul(body: &[u8]) -> Result<(), ApiError> {
    if !body.windows(6).any(|w| w == b"\\u0000") {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        // Malformed: the parse reports it.
        return Ok(());
    };
    let mut path = String::new();
    match find_nul(&value, &mut path) {
        None => Ok(()),
        Some(Nul::Value) if path.is_empty() => Err(nul_error("the body")),
        Some(Nul::Value) => Err(nul_error(&path)),
        Some(Nul::Key(key)) => Err(ApiError::bad_payload(format!(
            "{}: the key {} contains a NUL character (\\u0000), which is not allowed",
            if path.is_empty() { "the body" } else { &path },
            Value::String(key)
        ))),
    }
}

enum Nul {
    Value,
    Key(String),
}

/// Depth first; `path` is left at the offending value (`userCredentials[0].clientId`).
fn find_nul(value: &Value, path: &mut String) -> Option<Nul> {
    match value {
        Value::String(s) if s.contains('\0') => Some(Nul::Value),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = find_nul(item, path);
            if found.is_none() {
                path.truncate(len);
            }
            found
        }),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                return Some(Nul::Key(key.clone()));
            }
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key);
            let found = find_nul(item, path);
            if found.is_none() {
                path.truncate(len);
            }
            found
        }),
        _ => None,
    }
}

fn nul_error(field: &str) -> ApiError {
    ApiError::bad_payload(format!(
        "{field}: contains a NUL character (\\u0000), which is not allowed"
    ))
}

/// A NUL in the query (`%00`) or the path, named.
pub fn check_request_nul(req: &HttpRequest) -> Result<(), ApiError> {
    for (name, value) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        if name.contains('\0') {
            return Err(ApiError::bad_parameter(
                "a query parameter name contains a NUL character (%00), which is not allowed",
            ));
        }
        if value.contains('\0') {
            return Err(ApiError::bad_parameter(format!(
                "query parameter `{name}`: contains a NUL character (%00), which is not allowed"
            )));
        }
    }
    let raw = req.uri().path();
    if raw.contains("%00") || raw.contains('\0') {
        return Err(ApiError::bad_parameter(
            "the path contains a NUL character (%00), which is not allowed",
        ));
    }
    Ok(())
}

/// The message of a path that does not parse: names the id that is not a number.
pub fn path_error(req: &HttpRequest) -> ApiError {
    let bad = req
        .match_info()
        .iter()
        .find(|(name, value)| name.ends_with("Id") && value.parse::<i64>().is_err());
    match bad {
        Some((name, value)) => ApiError::bad_parameter(format!(
            "{name}: `{value}` is not an id; ids are whole numbers (e.g. {})",
            example_path(req, name)
        )),
        None => ApiError::bad_parameter(format!("invalid path: {}", req.path())),
    }
}

/// The request's path with the bad id replaced by `1`.
fn example_path(req: &HttpRequest, bad: &str) -> String {
    let Some(value) = req.match_info().get(bad) else {
        return req.path().to_string();
    };
    req.path()
        .split('/')
        .map(|seg| if seg == value { "1" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Login {
        admin_username: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        a: Vec<String>,
    }

    #[test]
    fn nul_is_named_by_its_path() {
        let err = parse_json::<Value>(br#"{"a":[{"b":"x\u0000y"}]}"#).unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(
            err.to_string().starts_with("a[0].b: contains a NUL"),
            "{err}"
        );
        let err = parse_json::<Value>(br#"{"p":{"k\u0000":1}}"#).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(r#"p: the key "k\u0000" contains"#),
            "{err}"
        );
        // An escaped backslash followed by `u0000` is no NUL.
        assert!(parse_json::<Value>(br#"{"a":"\\u0000"}"#).is_ok());
    }

    #[test]
    fn a_body_of_the_wrong_type_says_what_is_expected() {
        let err = parse_json::<Login>(b"[]").unwrap_err().to_string();
        assert_eq!(
            err,
            "the body must be a JSON object, not an array; see GET /api/openapi.json"
        );
        let err = parse_json::<Login>(br#"{"adminUsername":"a","inner":[]}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("inner: invalid type: array, expected an object"),
            "{err}"
        );
        let err = parse_json::<Vec<Inner>>(b"{}").unwrap_err().to_string();
        assert!(err.contains("must be a JSON array, not an object"), "{err}");
    }
}
