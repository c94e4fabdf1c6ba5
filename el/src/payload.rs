//! `PayloadTemplate`: a JSON tree (a mapping's `crmResourcePayload`) whose string values are
//! templates.

use serde_json::{Map, Value as Json};

use crate::ast::{Expr, Part};
use crate::error::{EvalError, ParseError, PayloadError};
use crate::eval::{bound_str, eval, with_ident, write_parts, Ctx, Scope};
use crate::template::Template;
use crate::value::{format_double, push_long, Value};
use crate::vars::Vars;
use crate::{EvalOptions, Limits};

/// How deep a payload tree may nest; serde_json's own parser stops at 128.
const MAX_PAYLOAD_DEPTH: usize = 128;

/// A parsed payload: the JSON tree with every string value parsed as a template.
#[derive(Debug, Clone)]
pub struct PayloadTemplate {
    root: Node,
    limits: Limits,
    /// The tree flattened for [`PayloadTemplate::render_json`]: JSON text with holes.
    ops: Vec<Op>,
    /// The length of the literal strings (and literal text of composite strings), which count
    /// towards the output limit like rendered ones.
    literal_len: usize,
    /// The JSON path of the literal string that alone takes the literals over the output
    /// limit, if they are over it.
    literal_overflow: Option<Box<str>>,
}

/// A step of rendering a payload straight to its JSON text.
#[derive(Debug, Clone)]
enum Op {
    /// JSON text written as it is: structure, keys, numbers, literal strings.
    Raw(Box<str>),
    /// A string that is exactly one eval-expression: its value as typed JSON.
    Typed(Expr, Box<str>),
    /// The inside of a composite string (the quotes are `Raw`): its literal text already
    /// JSON-escaped, its values escaped as they are written.
    Str(Vec<Part>, Box<str>),
}

#[derive(Debug, Clone)]
enum Node {
    /// A value without strings to render (number, boolean, null).
    Plain(Json),
    /// A string value (a literal string, one typed `${...}`, or a composite) and its JSON path,
    /// kept to name it in evaluation errors.
    Template(Template, Box<str>),
    Array(Vec<Node>),
    /// Keys are kept as written (never templates), in the order serde_json keeps them.
    Object(Vec<(String, Node)>),
}

impl PayloadTemplate {
    /// Parses a payload with the default [`Limits`]; `null` is a valid payload.
    pub fn parse(payload: &Json) -> Result<PayloadTemplate, PayloadError> {
        Self::parse_with(payload, &Limits::default())
    }

    /// Parses a payload with the given limits (applied to each string and to the output).
    pub fn parse_with(payload: &Json, limits: &Limits) -> Result<PayloadTemplate, PayloadError> {
        let mut path = String::new();
        let root = parse_node(payload, limits, &mut path, 0)?;
        let mut flat = Flattener {
            ops: Vec::new(),
            raw: String::new(),
            literal_len: 0,
            literal_overflow: None,
            limit: limits.max_output,
        };
        flat.node(&root);
        flat.flush();
        Ok(PayloadTemplate {
            root,
            limits: *limits,
            ops: flat.ops,
            literal_len: flat.literal_len,
            literal_overflow: flat.literal_overflow,
        })
    }

    /// Renders the payload straight to its JSON text at the end of `out` (compact, keys in the
    /// order [`PayloadTemplate::render`] keeps them: the same text as serializing its result).
    /// A lone `${...}` keeps its JSON type. On error `out` is left as it was.
    pub fn render_json(&self, vars: &Vars<'_>, out: &mut String) -> Result<(), EvalError> {
        self.render_json_with(vars, &EvalOptions::default(), out)
    }

    /// [`PayloadTemplate::render_json`] with explicit options.
    pub fn render_json_with(
        &self,
        vars: &Vars<'_>,
        options: &EvalOptions,
        out: &mut String,
    ) -> Result<(), EvalError> {
        let start = out.len();
        let result = self.write_json(vars, options, out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn write_json(
        &self,
        vars: &Vars<'_>,
        options: &EvalOptions,
        out: &mut String,
    ) -> Result<(), EvalError> {
        let limit = self.limits.max_output;
        let over = |path: &str| {
            EvalError::new(format!("output longer than the limit of {limit} bytes"))
                .in_path(path.to_string())
        };
        if let Some(path) = &self.literal_overflow {
            return Err(over(path));
        }
        let ctx = Ctx {
            scope: Scope::Vars(vars),
            strict: options.strict,
            max_output: limit,
        };
        let mut used = self.literal_len;
        for op in &self.ops {
            match op {
                Op::Raw(json) => out.push_str(json),
                Op::Typed(expr, path) => {
                    let written = match expr {
                        Expr::Ident { name, pos } => match bound_str(name, &ctx) {
                            Some(s) => {
                                push_json_string(s, out);
                                Ok(s.len())
                            }
                            None => with_ident(name, *pos, &ctx, |v| write_typed(v, out)),
                        },
                        _ => eval(expr, &ctx).map(|v| write_typed(&v, out)),
                    };
                    used += written.map_err(|e| e.in_path(path.to_string()))?;
                    if used > limit {
                        return Err(over(path));
                    }
                }
                Op::Str(parts, path) => {
                    let mut dynamic = 0;
                    let mut strings = 0;
                    let escape = |s: &str, out: &mut String| {
                        strings += s.len();
                        push_json_escaped(s, out);
                    };
                    write_parts(parts, &ctx, out, escape, |value, out| match value {
                        Value::String(s) => {
                            dynamic += s.len();
                            push_json_escaped(s, out);
                        }
                        other => {
                            let s = other.coerce_to_string();
                            dynamic += s.len();
                            push_json_escaped(&s, out);
                        }
                    })
                    .map_err(|e| e.in_path(path.to_string()))?;
                    used += dynamic + strings;
                    if used > limit {
                        return Err(over(path));
                    }
                }
            }
        }
        Ok(())
    }

    /// Renders the tree: a string that is exactly one `${...}` keeps the expression's JSON type,
    /// other strings render to strings, keys and non-string values stay as they are.
    pub fn render(&self, vars: &Json) -> Result<Json, EvalError> {
        self.render_with(vars, &EvalOptions::default())
    }

    /// [`PayloadTemplate::render`] with explicit options.
    pub fn render_with(&self, vars: &Json, options: &EvalOptions) -> Result<Json, EvalError> {
        // The output limit covers the rendered strings of the whole payload together.
        let mut budget = self.limits.max_output;
        render_node(
            &self.root,
            vars,
            options,
            &mut budget,
            self.limits.max_output,
        )
    }
}

/// Flattens a parsed tree into [`Op`]s, merging adjacent JSON text.
struct Flattener {
    ops: Vec<Op>,
    raw: String,
    literal_len: usize,
    literal_overflow: Option<Box<str>>,
    limit: usize,
}

impl Flattener {
    fn flush(&mut self) {
        if !self.raw.is_empty() {
            self.ops
                .push(Op::Raw(std::mem::take(&mut self.raw).into_boxed_str()));
        }
    }

    fn literal(&mut self, len: usize, path: &str) {
        self.literal_len += len;
        if self.literal_len > self.limit && self.literal_overflow.is_none() {
            self.literal_overflow = Some(path.into());
        }
    }

    fn node(&mut self, node: &Node) {
        match node {
            Node::Plain(v) => self.raw.push_str(&v.to_string()),
            Node::Template(t, path) => {
                if let Some(expr) = t.single_expression() {
                    self.flush();
                    self.ops.push(Op::Typed(expr.clone(), path.clone()));
                } else if t.is_literal() {
                    let mut text = String::new();
                    let mut len = 0;
                    for part in t.parts() {
                        if let Part::Text(s) = part {
                            len += s.len();
                            text.push_str(s);
                        }
                    }
                    self.raw.push('"');
                    push_json_escaped(&text, &mut self.raw);
                    self.raw.push('"');
                    self.literal(len, path);
                } else {
                    let mut len = 0;
                    let parts = t
                        .parts()
                        .iter()
                        .map(|part| match part {
                            Part::Text(s) => {
                                len += s.len();
                                let mut escaped = String::with_capacity(s.len());
                                push_json_escaped(s, &mut escaped);
                                Part::Text(escaped)
                            }
                            expr => expr.clone(),
                        })
                        .collect();
                    self.raw.push('"');
                    self.flush();
                    self.ops.push(Op::Str(parts, path.clone()));
                    self.raw.push('"');
                    self.literal(len, path);
                }
            }
            Node::Array(items) => {
                self.raw.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.raw.push(',');
                    }
                    self.node(item);
                }
                self.raw.push(']');
            }
            Node::Object(fields) => {
                self.raw.push('{');
                for (i, (key, item)) in fields.iter().enumerate() {
                    if i > 0 {
                        self.raw.push(',');
                    }
                    self.raw.push('"');
                    push_json_escaped(key, &mut self.raw);
                    self.raw.push_str("\":");
                    self.node(item);
                }
                self.raw.push('}');
            }
        }
    }
}

/// Writes a value as JSON (a non-finite Double as the string Java prints for it); the length
/// of the string written, if it is one (what counts towards the output limit).
fn write_typed(value: &Value<'_>, out: &mut String) -> usize {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Long(l) => push_long(out, *l),
        Value::String(s) => {
            push_json_string(s, out);
            return s.len();
        }
        Value::Double(d) => match serde_json::Number::from_f64(*d) {
            Some(n) => out.push_str(&n.to_string()),
            None => {
                let s = format_double(*d);
                out.push('"');
                out.push_str(&s);
                out.push('"');
                return s.len();
            }
        },
        Value::Object(map) => out.push_str(&Json::Object((*map).clone()).to_string()),
        Value::Array(items) => out.push_str(&Json::Array(items.to_vec()).to_string()),
    }
    0
}

/// How each byte is written inside a JSON string, as serde_json writes it: 0 as it is, `u`
/// as `\u00XX`, any other byte `c` as `\c`.
static JSON_ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = b'u';
        b += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// Whether any of the 8 bytes of `w` is below 0x20, `"` or `\\` (exact as a whole, though not
/// per byte: see "Determine if a word has a byte less than n" in Bit Twiddling Hacks).
#[inline]
fn needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w;
    let q = w ^ (ONES * u64::from(b'"'));
    let quote = q.wrapping_sub(ONES) & !q;
    let b = w ^ (ONES * u64::from(b'\\'));
    let backslash = b.wrapping_sub(ONES) & !b;
    (below_space | quote | backslash) & HIGH != 0
}

/// Appends `s` as a JSON string (quoted and escaped).
#[inline]
fn push_json_string(s: &str, out: &mut String) {
    out.reserve(s.len() + 2);
    out.push('"');
    if needs_no_escape(s.as_bytes()) {
        out.push_str(s);
    } else {
        push_json_escaped(s, out);
    }
    out.push('"');
}

/// Whether no byte of `b` needs escaping in a JSON string, 8 bytes at a time.
#[inline]
fn needs_no_escape(b: &[u8]) -> bool {
    let n = b.len();
    if n < 8 {
        return b.iter().all(|&c| JSON_ESCAPE[usize::from(c)] == 0);
    }
    let word = |at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[at..at + 8]);
        u64::from_le_bytes(w)
    };
    let mut i = 0;
    while i + 8 < n {
        if needs_escape(word(i)) {
            return false;
        }
        i += 8;
    }
    // The last word, overlapping the one before it.
    !needs_escape(word(n - 8))
}

/// Appends `s` escaped for the inside of a JSON string; runs that need no escaping are copied
/// whole.
pub(crate) fn push_json_escaped(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    if needs_no_escape(bytes) {
        out.push_str(s);
        return;
    }
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape = JSON_ESCAPE[usize::from(b)];
        if escape == 0 {
            continue;
        }
        // Escaped bytes are ASCII, so runs start and end on character boundaries.
        if i > run {
            out.push_str(s.get(run..i).unwrap_or_default());
        }
        out.push('\\');
        if escape == b'u' {
            out.push_str("u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        } else {
            out.push(char::from(escape));
        }
        run = i + 1;
    }
    if run < bytes.len() {
        out.push_str(s.get(run..).unwrap_or_default());
    }
}

fn parse_node(
    value: &Json,
    limits: &Limits,
    path: &mut String,
    depth: usize,
) -> Result<Node, PayloadError> {
    if depth > MAX_PAYLOAD_DEPTH {
        return Err(PayloadError::new(
            path.clone(),
            ParseError::new(
                1,
                format!("payload nested deeper than {MAX_PAYLOAD_DEPTH} levels"),
            ),
        ));
    }
    Ok(match value {
        Json::String(s) => Node::Template(
            Template::parse_with(s, limits).map_err(|e| PayloadError::new(path.clone(), e))?,
            path.as_str().into(),
        ),
        Json::Array(items) => {
            let mut nodes = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                nodes.push(parse_node(item, limits, path, depth + 1)?);
                path.truncate(len);
            }
            Node::Array(nodes)
        }
        Json::Object(map) => {
            let mut fields = Vec::with_capacity(map.len());
            for (key, item) in map {
                let len = path.len();
                push_key(path, key);
                fields.push((key.clone(), parse_node(item, limits, path, depth + 1)?));
                path.truncate(len);
            }
            Node::Object(fields)
        }
        other => Node::Plain(other.clone()),
    })
}

/// Appends `.key` (or `["key"]` when the key is not a plain name) to a JSON path.
fn push_key(path: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '$');
    if plain {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&Json::String(key.to_owned()).to_string());
        path.push(']');
    }
}

fn render_node(
    node: &Node,
    vars: &Json,
    options: &EvalOptions,
    budget: &mut usize,
    limit: usize,
) -> Result<Json, EvalError> {
    Ok(match node {
        Node::Plain(v) => v.clone(),
        Node::Template(t, path) => {
            let v = t
                .evaluate_with(vars, options)
                .map_err(|e| e.in_path(path.to_string()))?;
            if let Json::String(s) = &v {
                *budget = budget.checked_sub(s.len()).ok_or_else(|| {
                    EvalError::new(format!("output longer than the limit of {limit} bytes"))
                        .in_path(path.to_string())
                })?;
            }
            v
        }
        Node::Array(items) => Json::Array(
            items
                .iter()
                .map(|n| render_node(n, vars, options, budget, limit))
                .collect::<Result<_, _>>()?,
        ),
        Node::Object(fields) => {
            let mut map = Map::with_capacity(fields.len());
            for (k, n) in fields {
                map.insert(k.clone(), render_node(n, vars, options, budget, limit)?);
            }
            Json::Object(map)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Json {
        json!({
            "callId": "c-42",
            "initiation": "outgoing",
            "calleePhoneNumber": "+31612345678",
            "duration": 30,
            "rating": 4.5,
            "recorded": true,
            "callerUser": null,
            "caller": {"name": "Ann", "tags": ["vip"]}
        })
    }

    #[test]
    fn single_expression_keeps_its_json_type() {
        let p = PayloadTemplate::parse(&json!({
            "n": "${duration}",
            "d": "${rating}",
            "b": "${recorded}",
            "z": "${callerUser}",
            "missing": "${nobody}",
            "obj": "${caller}",
            "sum": "${duration + 1}",
            "half": "${duration / 2}",
            "inf": "${1 / 0}",
            "deferred": "#{duration}"
        }))
        .unwrap();
        assert_eq!(
            p.render(&event()).unwrap(),
            json!({
                "n": 30, "d": 4.5, "b": true, "z": null, "missing": null,
                "obj": {"name": "Ann", "tags": ["vip"]},
                "sum": 31, "half": 15.0, "inf": "Infinity", "deferred": 30
            })
        );
    }

    #[test]
    fn other_strings_render_to_strings_and_the_rest_is_untouched() {
        let p = PayloadTemplate::parse(&json!({
            "callId": "id ${callId}",
            "count": "${duration} s",
            "eventType": "newCallEvent",
            "${callId}": 7,
            "flag": false,
            "items": ["${duration}", 1, null, {"to": "${calleePhoneNumber}"}]
        }))
        .unwrap();
        assert_eq!(
            p.render(&event()).unwrap(),
            json!({
                "callId": "id c-42",
                "count": "30 s",
                "eventType": "newCallEvent",
                "${callId}": 7,
                "flag": false,
                "items": [30, 1, null, {"to": "+31612345678"}]
            })
        );
    }

    #[test]
    fn render_json_writes_what_render_serializes() {
        let event = json!({
            "callId": "c-42", "q": "say \"hi\"\\ \u{1}\n\t€ ok", "n": 3, "d": 0.5, "big": 1e300,
            "o": {"k": [1, "x"]}, "z": null, "b": true,
            "xelionEvent": "callHungUpEvent"
        });
        let vars = Vars::from_json(&event);
        for payload in [
            json!({"a": "${callId}", "q": "${q}", "mixed": "<${q}> \"lit\" ${n}\u{2}",
                   "n": "${n}", "d": "${d}", "big": "${big}", "inf": "${1/0}", "o": "${o}",
                   "z": "${z}", "b": "${b}", "missing": "${nobody}", "lit": "plain \"text\"",
                   "k\"ey\n": [1, null, false, 2.5, "${n + 1}", {"deep": "${o.k[1]}"}],
                   "e": {}, "l": [], "t": "${xelionEvent}"}),
            json!("${callId}"),
            json!("${z}"),
            json!(null),
            json!([]),
            json!(7),
        ] {
            let p = PayloadTemplate::parse(&payload).unwrap();
            let mut out = String::from("[");
            p.render_json(&vars, &mut out).unwrap();
            assert_eq!(out, format!("[{}", p.render(&event).unwrap()), "{payload}");
        }
    }

    #[test]
    fn render_json_errors_name_the_json_path_and_leave_the_buffer() {
        let p = PayloadTemplate::parse(&json!({"a": {"b": ["ok", "${callId + 1}"]}})).unwrap();
        let event = event();
        let mut out = String::from("kept");
        let e = p
            .render_json(&Vars::from_json(&event), &mut out)
            .unwrap_err();
        assert_eq!(e.path(), Some("a.b[1]"));
        assert_eq!(out, "kept");
    }

    #[test]
    fn null_payload_renders_null() {
        let p = PayloadTemplate::parse(&Json::Null).unwrap();
        assert_eq!(p.render(&event()).unwrap(), Json::Null);
    }

    #[test]
    fn errors_name_the_json_path() {
        let e = PayloadTemplate::parse(&json!({"myObject": {"callId": "${callId"}})).unwrap_err();
        assert_eq!(e.path(), "myObject.callId");
        assert_eq!(e.parse_error().position(), 9);
        assert_eq!(e.to_string(), "`myObject.callId` column 9: expected `}`");

        let e = PayloadTemplate::parse(&json!({"items": [1, 2, "${a +}"]})).unwrap_err();
        assert_eq!(e.path(), "items[2]");

        let e = PayloadTemplate::parse(&json!({"a b": ["${"]})).unwrap_err();
        assert_eq!(e.path(), "[\"a b\"][0]");

        let e = PayloadTemplate::parse(&json!("${1 +}")).unwrap_err();
        assert_eq!(e.path(), "");
    }

    #[test]
    fn evaluation_errors_name_the_json_path() {
        let p = PayloadTemplate::parse(&json!({"a": {"b": ["ok", "${callId + 1}"]}})).unwrap();
        let e = p.render(&event()).unwrap_err();
        assert_eq!(e.path(), Some("a.b[1]"));
        assert_eq!(
            e.to_string(),
            "`a.b[1]` column 10: cannot convert a string to an integer"
        );
    }

    #[test]
    fn output_limit_covers_the_whole_payload() {
        let limits = Limits {
            max_output: 10,
            ..Limits::default()
        };
        let p = PayloadTemplate::parse_with(&json!(["${callId}", "${callId}"]), &limits).unwrap();
        assert!(p.render(&event()).is_ok());
        let p =
            PayloadTemplate::parse_with(&json!(["${callId}", "${callId}", "${callId}"]), &limits)
                .unwrap();
        assert!(p.render(&event()).is_err());
    }
}
