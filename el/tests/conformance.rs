//! Runs every case of `tests/data/el-vectors.jsonl` (a copy of the shared conformance vectors)
//! according to its mode, and fails if any supported case fails. Cases left out are listed in
//! `LEFT_OUT` with the reason; the counts are printed (`cargo test -- --nocapture`).

use cti_el::{EvalOptions, Template, Value};
use serde_json::Value as Json;

/// Cases that do not map onto this engine, by line index (0-based) and expression, and why.
const LEFT_OUT: &[(usize, &str, &str)] = &[
    (
        121,
        "12345678901234567890",
        "BigInteger: Tomcat turns an integer literal beyond the Long range into a BigInteger; \
         this engine has no BigInteger and rejects it, as the specification (1.24) and \
         Expressly/JUEL do",
    ),
    (
        128,
        "1 % -9999999999999999999",
        "BigInteger literal (see above)",
    ),
    (
        436,
        "${'f\\\"o'}",
        "fails on Tomcat: the JUEL/EL 2.2 grammar rejects \\\" inside '...', Tomcat (our \
         reference) follows the EL 3.0+ prose and accepts it, and so do we",
    ),
    (
        437,
        "${\"f\\'o\"}",
        "fails on Tomcat: as above for \\' inside \"...\"",
    ),
];

struct Case {
    line: usize,
    expr: String,
    vars: Json,
    expect: Json,
    error: bool,
    mode: String,
    ty: Option<String>,
    strict: bool,
}

fn load() -> Vec<Case> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/el-vectors.jsonl");
    let text = std::fs::read_to_string(path).expect("read the vectors");
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(line, l)| {
            let v: Json = serde_json::from_str(l).expect("a JSON line");
            let s = |k: &str| v.get(k).and_then(Json::as_str).map(str::to_owned);
            Case {
                line,
                expr: s("expr").expect("expr"),
                vars: v.get("vars").cloned().unwrap_or(Json::Null),
                expect: v.get("expect").cloned().unwrap_or(Json::Null),
                error: s("kind").as_deref() == Some("error"),
                mode: s("mode").expect("mode"),
                ty: s("type"),
                strict: s("resolver").as_deref() == Some("strict"),
            }
        })
        .collect()
}

/// The value a case produced, or `Err` with the error text.
enum Outcome {
    Value(Json, &'static str),
    Failed(String),
}

fn typed(v: &Value<'_>) -> (Json, &'static str) {
    let ty = match v {
        Value::Null => "null",
        Value::Bool(_) => "Boolean",
        Value::Long(_) => "Long",
        Value::Double(_) => "Double",
        Value::String(_) => "String",
        Value::Object(_) | Value::Array(_) => "Object",
    };
    (v.to_json(), ty)
}

fn run(case: &Case) -> Outcome {
    let options = EvalOptions {
        strict: case.strict,
    };
    // `eval`, `eval:T` and `api` take the expression without delimiters, as ELProcessor does.
    let src = if case.mode == "api" || case.mode.starts_with("eval") {
        format!("${{{}}}", case.expr)
    } else {
        case.expr.clone()
    };
    let template = match Template::parse(&src) {
        Ok(t) => t,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let result = (|| -> Result<(Json, &'static str), cti_el::EvalError> {
        match case.mode.as_str() {
            "template" => Ok((
                Json::String(template.render_with(&case.vars, &options)?),
                "String",
            )),
            "object" | "eval" | "api" => Ok(typed(&template.evaluate_value(&case.vars, &options)?)),
            m => {
                let v = template.evaluate_value(&case.vars, &options)?;
                let target = m.split_once(':').map(|(_, t)| t).unwrap_or("");
                Ok(match target {
                    "String" => (Json::String(v.coerce_to_string().into_owned()), "String"),
                    "Long" => (Json::from(v.coerce_to_long()?), "Long"),
                    "Integer" => {
                        let l = v.coerce_to_long()?;
                        (
                            Json::from(
                                i32::try_from(l)
                                    .map_err(|_| cti_el::EvalError::new("out of int range"))?,
                            ),
                            "Integer",
                        )
                    }
                    "Double" => (Json::from(v.coerce_to_double()?), "Double"),
                    "Boolean" => (Json::Bool(v.coerce_to_boolean()?), "Boolean"),
                    other => panic!("line {}: unknown mode target {other}", case.line),
                })
            }
        }
    })();
    match result {
        Ok((v, ty)) => Outcome::Value(v, ty),
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

fn same_number(a: &Json, b: &Json) -> bool {
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => x == y,
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x == y || ((x - y) / y).abs() < 1e-12,
            _ => false,
        },
    }
}

/// Whether the outcome is what the case expects (value and, where given, Java type).
fn check(case: &Case, outcome: &Outcome) -> Result<(), String> {
    match (case.error, outcome) {
        (true, Outcome::Failed(_)) => Ok(()),
        (true, Outcome::Value(v, _)) => Err(format!("expected an error, got {v}")),
        (false, Outcome::Failed(e)) => Err(format!("expected {}, got error: {e}", case.expect)),
        (false, Outcome::Value(v, ty)) => {
            let want_ty = case.ty.as_deref();
            let type_ok = match want_ty {
                None => true,
                Some("Integer") if case.mode.contains(':') => *ty == "Integer",
                Some("Integer") | Some("BigInteger") => *ty == "Long",
                Some(t) => t == *ty,
            };
            let value_ok = match (&case.expect, v) {
                (Json::Number(_), Json::Number(_)) => same_number(&case.expect, v),
                (e, v) => e == v,
            };
            if type_ok && value_ok {
                Ok(())
            } else {
                Err(format!(
                    "expected {} ({}), got {v} ({ty})",
                    case.expect,
                    want_ty.unwrap_or("any type")
                ))
            }
        }
    }
}

#[test]
fn conformance_vectors() {
    let cases = load();
    assert_eq!(
        cases.len(),
        511,
        "the vectors file changed: review LEFT_OUT"
    );
    let mut passed = 0;
    let mut left_out = 0;
    let mut failures = Vec::new();
    for case in &cases {
        if let Some((_, expr, _)) = LEFT_OUT.iter().find(|(l, _, _)| *l == case.line) {
            assert_eq!(
                *expr, case.expr,
                "LEFT_OUT entry for line {} is stale",
                case.line
            );
            left_out += 1;
            continue;
        }
        match check(case, &run(case)) {
            Ok(()) => passed += 1,
            Err(why) => failures.push(format!(
                "line {} [{}] {:?} vars={}: {why}",
                case.line, case.mode, case.expr, case.vars
            )),
        }
    }
    println!(
        "EL conformance: {passed} passed, {} failed, {left_out} left out of {}",
        failures.len(),
        cases.len()
    );
    for (line, expr, why) in LEFT_OUT {
        println!("  left out line {line} {expr:?}: {why}");
    }
    assert!(
        failures.is_empty(),
        "failing cases:\n{}",
        failures.join("\n")
    );
}

/// The checker itself must reject a wrong value, a wrong type and a missing error.
#[test]
fn checker_rejects_wrong_outcomes() {
    let case = |expr: &str, expect: Json, ty: Option<&str>, error: bool| Case {
        line: 0,
        expr: expr.into(),
        vars: Json::Null,
        expect,
        error,
        mode: "object".into(),
        ty: ty.map(str::to_owned),
        strict: false,
    };
    let c = case("${4/2}", Json::from(2), Some("Long"), false);
    assert!(check(&c, &run(&c)).is_err(), "Double 2.0 is not Long 2");
    let c = case("${1+1}", Json::from(3), None, false);
    assert!(check(&c, &run(&c)).is_err());
    let c = case("${1+1}", Json::Null, None, true);
    assert!(check(&c, &run(&c)).is_err());
    let c = case("${4/2}", Json::from(2.0), Some("Double"), false);
    assert!(check(&c, &run(&c)).is_ok());
}
