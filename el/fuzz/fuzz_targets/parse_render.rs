//! Fuzzes every entry point: arbitrary bytes as a template (plain, URI, inside a payload) and,
//! when the input splits at a NUL, the rest as JSON variables. Any panic, stack overflow or
//! runaway allocation is a finding.

#![no_main]

use cti_el::{EvalOptions, Limits, PayloadTemplate, Template, UriTemplate, Vars};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

fuzz_target!(|data: &[u8]| {
    let (template, vars) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let Ok(src) = std::str::from_utf8(template) else {
        return;
    };
    let vars: Value = serde_json::from_slice(vars).unwrap_or_else(|_| {
        json!({"a": 1, "s": "10", "o": {"k": [1, "x", null]}, "t": "true", "d": 2.5})
    });
    let limits = Limits {
        max_output: 64 * 1024,
        ..Limits::default()
    };
    let indexed = Vars::from_json(&vars);
    let mut out = String::new();
    if let Ok(t) = Template::parse_with(src, &limits) {
        let _ = t.render(&vars);
        let _ = t.render_to(&indexed, &mut out);
        let _ = t.evaluate(&vars);
        let _ = t.render_with(&vars, &EvalOptions { strict: true });
    }
    if let Ok(u) = UriTemplate::parse_with(src, &limits) {
        let _ = u.render(&vars);
        let _ = u.render_to(&indexed, &mut out);
    }
    if let Ok(p) = PayloadTemplate::parse_with(&json!({"x": src, "y": [src, 1]}), &limits) {
        let _ = p.render(&vars);
        let _ = p.render_json(&indexed, &mut out);
    }
    let _ = cti_el::batch::process_line(src);
});
