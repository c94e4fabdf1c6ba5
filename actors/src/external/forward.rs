//! One request to an external service and its answer, read up to a bound: what becomes of a
//! timeout (504), a connection failure (502), an answer too large (502), a body that is not
//! JSON, a redirect (not followed: passed through).

use reqwest::header::{HeaderValue, AUTHORIZATION};
use serde_json::Value;

use super::call::Target;
use super::shapes::{ExternalAnswer, ExternalApiResponse};
use super::External;
use crate::error::ApiError;
use crate::outbound::{error_chain, refusal_in};
use crate::secrets::Secret;

/// The headers of a non-2xx answer that are passed on with it.
const PASSED_HEADERS: [&str; 4] = [
    "content-type",
    "location",
    "retry-after",
    "www-authenticate",
];

/// What the service answered.
pub(super) struct Reply {
    pub status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl External {
    /// Sends `target` with `Authorization: <prefix><token>` (and the payload as JSON) and
    /// reads the answer, at most `max_response_bytes` of it, all within `request_timeout`.
    pub(super) async fn forward(
        &self,
        target: &Target,
        prefix: &str,
        token: &Secret,
    ) -> Result<Reply, ApiError> {
        let mut auth =
            HeaderValue::from_str(&format!("{prefix}{}", token.expose())).map_err(|_| {
                ApiError::ExternalUnavailable(
                    "the access token cannot be sent in an `Authorization` header".to_string(),
                )
            })?;
        auth.set_sensitive(true);
        let mut request = self
            .http()
            .request(target.method.to_reqwest(), target.uri.as_str())?
            .header(AUTHORIZATION, auth)
            .timeout(self.settings.request_timeout);
        if let Some(payload) = &target.payload {
            request = request.json(payload);
        }
        let mut resp = request.send().await.map_err(|e| self.failure(e))?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .filter(|(name, _)| PASSED_HEADERS.contains(&name.as_str()))
            .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_string())))
            .collect();
        let max = self.settings.max_response_bytes;
        let too_large = || {
            ApiError::ExternalUnavailable(format!(
                "the external service answered HTTP {status} with more than {max} bytes, more \
                 than the server passes on"
            ))
        };
        if resp
            .content_length()
            .is_some_and(|len| len > u64::try_from(max).unwrap_or(u64::MAX))
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.failure(e))? {
            if body.len() + chunk.len() > max {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// A request that got no (whole) answer. The URL is left out: the caller knows it.
    fn failure(&self, e: reqwest::Error) -> ApiError {
        if let Some(blocked) = refusal_in(&e) {
            return blocked.into();
        }
        if e.is_timeout() {
            let limit = self.settings.request_timeout;
            return ApiError::ExternalTimeout(format!(
                "the external service did not answer within {} ms",
                limit.as_millis()
            ));
        }
        ApiError::ExternalUnavailable(format!(
            "the external service could not be reached: {}",
            error_chain(&e.without_url())
        ))
    }
}

impl Reply {
    /// 2xx: the document's `{"accessToken","payload"}` with `token`, the token that got it
    /// (a 204 or 205, which cannot carry a body, answers 200); anything else as received.
    pub(super) fn into_answer(self, token: Secret) -> ExternalAnswer {
        if !(200..300).contains(&self.status) {
            return ExternalAnswer::PassThrough {
                status: self.status,
                headers: self.headers,
                body: self.body,
            };
        }
        let status = match self.status {
            204 | 205 => 200,
            s => s,
        };
        ExternalAnswer::Success {
            status,
            body: ExternalApiResponse {
                access_token: token.expose().to_string(),
                payload: payload(&self.body),
            },
        }
    }
}

/// The body as JSON; one that is not JSON as a string (invalid UTF-8 replaced); none as null.
fn payload(body: &[u8]) -> Value {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_become_payloads() {
        assert_eq!(payload(b""), Value::Null);
        assert_eq!(payload(br#"{"a":[1]}"#), serde_json::json!({"a": [1]}));
        assert_eq!(payload(b"plain text"), Value::String("plain text".into()));
    }

    #[test]
    fn other_statuses_pass_through_and_no_content_answers_200() {
        let reply = |status| Reply {
            status,
            headers: vec![("location".into(), "https://elsewhere/".into())],
            body: b"moved".to_vec(),
        };
        match reply(302).into_answer(Secret::new("t")) {
            ExternalAnswer::PassThrough {
                status,
                headers,
                body,
            } => {
                assert_eq!(status, 302);
                assert_eq!(headers[0].1, "https://elsewhere/");
                assert_eq!(body, b"moved");
            }
            other => panic!("{other:?}"),
        }
        match reply(204).into_answer(Secret::new("t")) {
            ExternalAnswer::Success { status, body } => {
                assert_eq!(status, 200);
                assert_eq!(body.access_token, "t");
            }
            other => panic!("{other:?}"),
        }
    }
}
