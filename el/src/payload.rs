//! `PayloadTemplate`: a JSON tree (a mapping's `crmResourcePayload`) whose string values are
//! templates.

use serde_json::{Map, Value as Json};

use crate::error::{EvalError, ParseError, PayloadError};
use crate::template::Template;
use crate::{EvalOptions, Limits};

/// How deep a payload tree may nest; serde_json's own parser stops at 128.
const MAX_PAYLOAD_DEPTH: usize = 128;

/// A parsed payload: the JSON tree with every string value parsed as a template.
#[derive(Debug, Clone)]
pub struct PayloadTemplate {
    root: Node,
    limits: Limits,
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
        Ok(PayloadTemplate {
            root: parse_node(payload, limits, &mut path, 0)?,
            limits: *limits,
        })
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
