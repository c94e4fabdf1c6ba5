//! `UriTemplate`: a template for a CRM resource URI whose substituted values are
//! percent-encoded, while the literal parts (scheme, host, path, query keys) stay as written.

use serde_json::Value as Json;

use crate::ast::Part;
use crate::error::{EvalError, ParseError};
use crate::eval::{write_parts, Ctx};
use crate::template::Template;
use crate::value::{push_long, Value};
use crate::vars::Vars;
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
        let mut out = String::new();
        self.write(&ctx, &mut out)?;
        Ok(out)
    }

    /// Renders the URI to the end of `out` (the fast path: values are encoded straight into
    /// `out`). On error `out` is left as it was.
    pub fn render_to(&self, vars: &Vars<'_>, out: &mut String) -> Result<(), EvalError> {
        self.render_to_with(vars, &EvalOptions::default(), out)
    }

    /// [`UriTemplate::render_to`] with explicit options.
    pub fn render_to_with(
        &self,
        vars: &Vars<'_>,
        options: &EvalOptions,
        out: &mut String,
    ) -> Result<(), EvalError> {
        let ctx = self.template.vars_ctx(vars, options);
        self.write(&ctx, out)
    }

    fn write<'a>(&'a self, ctx: &Ctx<'a>, out: &mut String) -> Result<(), EvalError> {
        // Every position is encoded alike today (see `percent_encode`).
        let encode_str = |s: &str, out: &mut String| encode(s.as_bytes(), out);
        write_parts(
            self.template.parts(),
            ctx,
            out,
            encode_str,
            |value, out| match value {
                Value::String(s) => encode(s.as_bytes(), out),
                Value::Null => {}
                // Digits and `-` need no encoding.
                Value::Long(l) => push_long(out, *l),
                Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                other => encode(other.coerce_to_string().as_bytes(), out),
            },
        )
    }
}

/// How each byte is written in a URI value: the byte itself if RFC 3986 calls it unreserved
/// (`A-Z a-z 0-9 - . _ ~`), else `%XX`; as the little-endian bytes of a `u32` whose top byte
/// is the encoded length.
static ENCODED: [u32; 256] = {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut t = [0u32; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = if c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b'_' || c == b'~' {
            u32::from_le_bytes([c, 0, 0, 1])
        } else {
            u32::from_le_bytes([b'%', HEX[b >> 4], HEX[b & 15], 3])
        };
        b += 1;
    }
    t
};

/// Percent-encodes `bytes` to the end of `out` without a branch per byte: each byte's table
/// entry is stored whole and the end advances by its encoded length.
#[inline]
fn encode(bytes: &[u8], out: &mut String) {
    // SAFETY: only ASCII is appended (unreserved bytes as they are, any other byte as `%XX`),
    // so `out` stays UTF-8.
    let v = unsafe { out.as_mut_vec() };
    // Byte i is stored at an offset of at most 3i, four bytes wide: 3 * len + 1 in all.
    v.reserve(bytes.len() * 3 + 1);
    let len = v.len();
    // SAFETY: every store is within the capacity reserved above (see there), and `set_len`
    // covers exactly the bytes written: each step advances over bytes it has just stored.
    unsafe {
        let start = v.as_mut_ptr().add(len);
        let mut end = start;
        for &b in bytes {
            let e = ENCODED[usize::from(b)];
            end.cast::<u32>().write_unaligned(e.to_le());
            end = end.add((e >> 24) as usize);
        }
        v.set_len(len + end.offset_from(start) as usize);
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
    encode(value.as_bytes(), out);
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
