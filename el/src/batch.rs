//! The line protocol of `xelion-cti el batch`: one JSON request per line in, one JSON answer
//! per line out, in order. Kept here so the command stays thin and the protocol is tested.
//!
//! Request: `{"template": "<template>", "vars": {...}, "strict": false}`; instead of `template`,
//! `uri` renders a URI template and `payload` a JSON payload tree. `vars` and `strict` are
//! optional. Answer: `{"ok": <rendered>}` (a string, or JSON for `payload`) or
//! `{"error": "<message>"}`.

use serde_json::{json, Value as Json};

use crate::{EvalOptions, PayloadTemplate, Template, UriTemplate};

/// Processes one input line and returns the answer line (without a newline). Never fails: a
/// malformed line gives an `{"error": ...}` answer.
pub fn process_line(line: &str) -> String {
    let answer = match process(line) {
        Ok(v) => json!({ "ok": v }),
        Err(e) => json!({ "error": e }),
    };
    answer.to_string()
}

fn process(line: &str) -> Result<Json, String> {
    if line.trim().is_empty() {
        return Err("empty input line: expected a JSON object".into());
    }
    // serde_json's messages can quote input; report only where the line broke.
    let request: Json = serde_json::from_str(line)
        .map_err(|e| format!("input is not valid JSON (column {})", e.column()))?;
    let Json::Object(fields) = &request else {
        return Err("input must be a JSON object".into());
    };
    let null = Json::Null;
    let vars = fields.get("vars").unwrap_or(&null);
    if !matches!(vars, Json::Object(_) | Json::Null) {
        return Err("`vars` must be a JSON object".into());
    }
    let strict = match fields.get("strict") {
        None | Some(Json::Null) => false,
        Some(Json::Bool(b)) => *b,
        Some(_) => return Err("`strict` must be a boolean".into()),
    };
    let options = EvalOptions { strict };
    let text = |key: &str| match fields.get(key) {
        Some(Json::String(s)) => Ok(s.as_str()),
        _ => Err(format!("`{key}` must be a string")),
    };
    if fields.contains_key("template") {
        let t = Template::parse(text("template")?).map_err(|e| e.to_string())?;
        t.render_with(vars, &options)
            .map(Json::String)
            .map_err(|e| e.to_string())
    } else if fields.contains_key("uri") {
        let t = UriTemplate::parse(text("uri")?).map_err(|e| e.to_string())?;
        t.render_with(vars, &options)
            .map(Json::String)
            .map_err(|e| e.to_string())
    } else if let Some(payload) = fields.get("payload") {
        let t = PayloadTemplate::parse(payload).map_err(|e| e.to_string())?;
        t.render_with(vars, &options).map_err(|e| e.to_string())
    } else {
        Err("expected a `template`, `uri` or `payload` field".into())
    }
}

#[cfg(test)]
mod tests {
    use super::process_line;

    #[test]
    fn renders_a_template() {
        assert_eq!(
            process_line(r#"{"template": "${a} + ${b} = ${a + b}", "vars": {"a": 1, "b": 2}}"#),
            r#"{"ok":"1 + 2 = 3"}"#
        );
    }

    #[test]
    fn vars_are_optional_and_unknowns_are_empty() {
        assert_eq!(process_line(r#"{"template": "[${x}]"}"#), r#"{"ok":"[]"}"#);
    }

    #[test]
    fn strict_reports_unknown_identifiers() {
        assert_eq!(
            process_line(r#"{"template": "${x}", "strict": true}"#),
            r#"{"error":"column 3: unknown identifier `x`"}"#
        );
    }

    #[test]
    fn parse_and_eval_errors_are_answers() {
        assert_eq!(
            process_line(r#"{"template": "${a +}"}"#),
            r#"{"error":"column 6: expected an expression"}"#
        );
        assert_eq!(
            process_line(r#"{"template": "${a + 1}", "vars": {"a": "x"}}"#),
            r#"{"error":"column 5: cannot convert a string to an integer"}"#
        );
    }

    #[test]
    fn malformed_lines_are_answers_not_aborts() {
        for line in [
            "",
            "not json",
            "[1]",
            r#"{"template": 3}"#,
            r#"{"vars": {}}"#,
            r#"{"template": "x", "vars": 3}"#,
        ] {
            let out = process_line(line);
            assert!(out.starts_with(r#"{"error":"#), "{line}: {out}");
        }
    }

    #[test]
    fn uri_and_payload_requests() {
        assert_eq!(
            process_line(r#"{"uri": "https://x/?n=${n}", "vars": {"n": "+31 6"}}"#),
            r#"{"ok":"https://x/?n=%2B31%206"}"#
        );
        assert_eq!(
            process_line(r#"{"payload": {"n": "${n}", "s": "${n}!"}, "vars": {"n": 5}}"#),
            r#"{"ok":{"n":5,"s":"5!"}}"#
        );
    }
}
