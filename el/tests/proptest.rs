//! Property tests: arbitrary input never panics, and nesting is bounded (a deep template is an
//! error, not a stack overflow).

use cti_el::{Limits, PayloadTemplate, Template, UriTemplate, Vars};
use proptest::prelude::*;
use serde_json::{json, Value as Json};

fn vars() -> Json {
    json!({
        "a": 1, "b": 2.5, "s": "10", "t": "true", "e": "", "n": null,
        "o": {"k": "v", "x": [1, 2, {"y": "+31"}]}, "arr": [1, "2", null]
    })
}

/// The fast path (indexed variables, output appended to a buffer) renders what the JSON-value
/// path renders, fails where it fails, and leaves the buffer as it was on failure.
fn same<E: PartialEq + std::fmt::Debug>(
    src: &str,
    slow: Result<String, E>,
    fast: Result<(), E>,
    out: &str,
) {
    match (slow, fast) {
        (Ok(s), Ok(())) => assert_eq!(out, format!("pre{s}"), "{src:?}"),
        (Err(a), Err(b)) => {
            assert_eq!(a, b, "{src:?}");
            assert_eq!(out, "pre", "{src:?}");
        }
        (slow, fast) => panic!("{src:?}: {slow:?} but {fast:?}"),
    }
}

/// Exercises every entry point on one template text.
fn exercise(src: &str) {
    let v = vars();
    let indexed = Vars::from_json(&v);
    if let Ok(t) = Template::parse(src) {
        let _ = t.evaluate(&v);
        let _ = t.render_with(&v, &cti_el::EvalOptions { strict: true });
        let mut out = String::from("pre");
        let fast = t.render_to(&indexed, &mut out);
        same(src, t.render(&v), fast, &out);
    }
    if let Ok(u) = UriTemplate::parse(src) {
        let mut out = String::from("pre");
        let fast = u.render_to(&indexed, &mut out);
        same(src, u.render(&v), fast, &out);
    }
    if let Ok(p) = PayloadTemplate::parse(&json!({"k": src, "l": [src]})) {
        let mut out = String::from("pre");
        let fast = p.render_json(&indexed, &mut out);
        same(src, p.render(&v).map(|j| j.to_string()), fast, &out);
    }
}

/// Pieces of EL, so that random sequences are often close to valid templates.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("${".to_string()),
        Just("#{".to_string()),
        Just("}".to_string()),
        Just("\\${".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("?".to_string()),
        Just(":".to_string()),
        Just("?:".to_string()),
        Just("??".to_string()),
        Just(".".to_string()),
        prop::sample::select(vec![
            "+", "-", "*", "/", "%", "+=", "==", "!=", "<", ">", "<=", ">=", "&&", "||", "!",
            " and ", " or ", " not ", " empty ", " div ", " mod ", " eq ", " lt ", " ge ",
        ])
        .prop_map(str::to_string),
        prop::sample::select(vec![
            "a",
            "b",
            "s",
            "t",
            "e",
            "n",
            "o",
            "arr",
            "o.k",
            "o.x[2].y",
            "arr[1]",
            "missing",
            "true",
            "false",
            "null",
            "0",
            "1",
            "9223372036854775807",
            "1.5",
            "1e308",
            ".5",
            "'x'",
            "\"y\"",
            "'\\\\'",
            "'it\\'s'",
            "'1.0'",
            "'abc'",
            "''",
        ])
        .prop_map(str::to_string),
        "[ -~]{0,4}",
    ]
}

/// A well-formed expression of bounded but possibly large depth.
fn expr() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(vec![
        "a", "b", "s", "t", "e", "n", "o.k", "arr[0]", "1", "2.5", "'10'", "true", "null", "''",
    ])
    .prop_map(str::to_string);
    leaf.prop_recursive(12, 256, 3, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(vec![
                    "+", "-", "*", "/", "%", "+=", "==", "<", ">=", "&&", "||", "??", "?:", "mod"
                ]),
                inner.clone()
            )
                .prop_map(|(l, op, r)| format!("{l} {op} {r}")),
            inner.clone().prop_map(|e| format!("({e})")),
            inner.clone().prop_map(|e| format!("!{e}")),
            inner.clone().prop_map(|e| format!("-{e}")),
            inner.clone().prop_map(|e| format!("empty {e}")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(c, t, f)| format!("{c} ? {t} : {f}")),
            inner.prop_map(|e| format!("o[{e}]")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn arbitrary_strings_do_not_panic(src in "\\PC{0,64}") {
        exercise(&src);
    }

    #[test]
    fn arbitrary_el_fragments_do_not_panic(pieces in prop::collection::vec(piece(), 0..40)) {
        exercise(&pieces.concat());
    }

    #[test]
    fn well_formed_expressions_parse_and_evaluate_without_panic(e in expr()) {
        let src = format!("${{{e}}}");
        let t = Template::parse(&src);
        // Generated expressions are valid EL; only the depth limit may reject them.
        if let Err(err) = &t {
            prop_assert!(err.message().contains("nested deeper"), "{src}: {err}");
        }
        exercise(&src);
    }

    #[test]
    fn depth_is_bounded_for_any_nesting(
        n in 0usize..3000,
        open in prop::sample::select(vec!["(", "!", "-", "o[", "a ? 1 : ", "a ?? ", "[", "${"]),
        max_depth in 0usize..10_000,
    ) {
        let close = match open { "(" => ")", "o[" | "[" => "]", "${" => "}", _ => "" };
        let src = format!("${{{}1{}}}", open.repeat(n), close.repeat(n));
        let limits = Limits { max_depth, ..Limits::default() };
        match Template::parse_with(&src, &limits) {
            Ok(t) => { let _ = t.render(&vars()); }
            Err(e) => prop_assert!(e.position() >= 1 && e.position() <= src.chars().count() + 1),
        }
    }
}
