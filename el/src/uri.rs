//! `UriTemplate`: a template for a CRM resource URI whose substituted values are
//! percent-encoded, while the literal parts (scheme, host, path, query keys) stay as written.

use std::fmt::Write;

use serde_json::Value as Json;

use crate::ast::Part;
use crate::error::{EvalError, ParseError};
use crate::template::Template;
use crate::{EvalOptions, Limits};

/// Where in a URI a substituted value lands, decided by the literal text before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriPosition {
    /// Before any `?` or `#`: the value becomes (part of) one path segment.
    Path,
    /// After the first `?`: the value becomes (part of) one query key or value.
    Query,
    /// After the first `#`.
    Fragment,
}

/// A parsed URI template, e.g. `https://crm.example/calls?from=${callerPhoneNumber}`.
#[derive(Debug, Clone)]
pub struct UriTemplate {
    template: Template,
    positions: Vec<UriPosition>,
}

impl UriTemplate {
    /// Parses a URI template with the default [`Limits`].
    pub fn parse(src: &str) -> Result<UriTemplate, ParseError> {
        Self::parse_with(src, &Limits::default())
    }

    /// Parses a URI template with the given limits.
    pub fn parse_with(src: &str, limits: &Limits) -> Result<UriTemplate, ParseError> {
        let template = Template::parse_with(src, limits)?;
        let mut positions = Vec::new();
        let mut at = UriPosition::Path;
        for part in template.parts() {
            match part {
                Part::Text(t) => {
                    for c in t.chars() {
                        at = match (at, c) {
                            (UriPosition::Path, '?') => UriPosition::Query,
                            (UriPosition::Path | UriPosition::Query, '#') => UriPosition::Fragment,
                            (same, _) => same,
                        };
                    }
                }
                Part::Expr(_) => positions.push(at),
            }
        }
        Ok(UriTemplate {
            template,
            positions,
        })
    }

    /// The position of each eval-expression, in order.
    pub fn positions(&self) -> &[UriPosition] {
        &self.positions
    }

    /// Renders the URI: each value coerced to String, then percent-encoded for its position.
    pub fn render(&self, vars: &Json) -> Result<String, EvalError> {
        self.render_with(vars, &EvalOptions::default())
    }

    /// [`UriTemplate::render`] with explicit options.
    pub fn render_with(&self, vars: &Json, options: &EvalOptions) -> Result<String, EvalError> {
        let ctx = self.template.context(vars, options);
        self.template.render_parts(&ctx, |n, value, out| {
            let position = self.positions.get(n).copied().unwrap_or(UriPosition::Query);
            percent_encode(&value.coerce_to_string(), position, out);
        })
    }
}

/// Percent-encodes `value` (as UTF-8) for `position`.
///
/// A substituted value is data, never structure, so everything but RFC 3986 "unreserved"
/// characters is encoded in every position: `/` must not split a path segment, `&`, `=` and
/// `#` must not end a query value, and `+` must stay a plus sign (form decoding reads a bare
/// `+` in a query as a space: `+31612345678` has to arrive as `%2B31612345678`).
pub fn percent_encode(value: &str, position: UriPosition, out: &mut String) {
    // The position is part of the signature so that a position-specific set can be introduced
    // without changing callers; today the strict set is right for all three.
    let _ = position;
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(t: &str, vars: Json) -> String {
        match UriTemplate::parse(t).map(|u| u.render(&vars)) {
            Ok(Ok(s)) => s,
            other => panic!("{t}: {other:?}"),
        }
    }

    #[test]
    fn plus_in_query_is_encoded() {
        assert_eq!(
            render(
                "https://crm.example/c?from=${n}",
                json!({"n": "+31612345678"})
            ),
            "https://crm.example/c?from=%2B31612345678"
        );
    }

    #[test]
    fn ampersand_space_slash_and_equals_are_encoded() {
        assert_eq!(
            render("https://x/q?name=${v}&x=1", json!({"v": "a&b c/d=e#f"})),
            "https://x/q?name=a%26b%20c%2Fd%3De%23f&x=1"
        );
    }

    #[test]
    fn non_ascii_is_utf8_percent_encoded() {
        assert_eq!(
            render("https://x/q?n=${v}", json!({"v": "Zoë €"})),
            "https://x/q?n=Zo%C3%AB%20%E2%82%AC"
        );
    }

    #[test]
    fn path_values_cannot_add_segments() {
        let u = UriTemplate::parse("https://x/contacts/${id}/calls?c=${c}#${f}").unwrap();
        assert_eq!(
            u.positions(),
            &[UriPosition::Path, UriPosition::Query, UriPosition::Fragment]
        );
        assert_eq!(
            u.render(&json!({"id": "../admin", "c": "1", "f": "a b"}))
                .unwrap(),
            "https://x/contacts/..%2Fadmin/calls?c=1#a%20b"
        );
    }

    #[test]
    fn literal_parts_stay_as_written() {
        // Literal text is the mapping author's: already-encoded or reserved characters stay.
        assert_eq!(
            render("https://x/a%20b/c?x=a+b&y=${v}", json!({"v": "ok"})),
            "https://x/a%20b/c?x=a+b&y=ok"
        );
    }

    #[test]
    fn typed_values_and_expressions_are_coerced_then_encoded() {
        assert_eq!(
            render(
                "https://x/y?dir=${(initiation==\"outgoing\")?\"outbound\":\"inbound\"}&n=${n}&d=${d}&u=${missing}",
                json!({"initiation": "outgoing", "n": 42, "d": 1.5})
            ),
            "https://x/y?dir=outbound&n=42&d=1.5&u="
        );
    }

    #[test]
    fn question_mark_inside_an_expression_string_does_not_start_the_query() {
        let u = UriTemplate::parse("https://x/${'a?b'}/z").unwrap();
        assert_eq!(u.positions(), &[UriPosition::Path]);
        assert_eq!(u.render(&json!({})).unwrap(), "https://x/a%3Fb/z");
    }
}
