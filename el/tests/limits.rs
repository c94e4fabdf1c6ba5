//! Bounded cost: every limit is an error, never a panic or a stack overflow. Test threads have
//! 2 MiB stacks, as actix and tokio workers do, so these also show the recursion fits there.

use cti_el::{Limits, Template, HARD_MAX_DEPTH};
use serde_json::json;

fn nested(open: &str, inner: &str, close: &str, n: usize) -> String {
    format!("${{{}{}{}}}", open.repeat(n), inner, close.repeat(n))
}

#[test]
fn nesting_beyond_the_limit_is_a_parse_error() {
    for src in [
        nested("(", "1", ")", 64),
        nested("!", "true", "", 64),
        nested("-", "1", "", 64),
        nested("empty ", "x", "", 64),
        nested("x[", "0", "]", 64),
        format!("${{{}1}}", "true ? 1 : ".repeat(64)),
        format!("${{{}1}}", "x ?? ".repeat(64)),
    ] {
        let err = Template::parse(&src).expect_err("too deep");
        assert!(err.message().contains("nested deeper"), "{src}: {err}");
    }
}

#[test]
fn nesting_within_the_limit_parses_and_evaluates() {
    let t = Template::parse(&nested("(", "1", ")", 63)).expect("63 levels");
    assert_eq!(t.render(&json!({})).unwrap(), "1");
    let t = Template::parse(&nested("-", "1", "", 63)).expect("63 levels");
    assert_eq!(t.render(&json!({})).unwrap(), "-1");
}

#[test]
fn the_hard_cap_holds_whatever_the_limits_say() {
    let limits = Limits {
        max_depth: usize::MAX,
        max_template_len: usize::MAX,
        ..Limits::default()
    };
    let deep = nested("(", "1", ")", 100_000);
    let err = Template::parse_with(&deep, &limits).expect_err("capped");
    assert!(err.message().contains(&HARD_MAX_DEPTH.to_string()), "{err}");
    // The deepest allowed template still fits a 2 MiB stack in a debug build, every
    // precedence level on the way included.
    let ops = ["a ? ", "!", "-", "(", "x[", "1 + ", "empty "];
    let mut src = String::from("${");
    let mut close = String::new();
    for i in 0..HARD_MAX_DEPTH - 1 {
        match ops[i % ops.len()] {
            "a ? " => {
                src.push_str("a ? 1 : ");
            }
            "(" => {
                src.push('(');
                close.insert(0, ')');
            }
            "x[" => {
                src.push_str("x[");
                close.insert(0, ']');
            }
            op => src.push_str(op),
        }
    }
    src.push('1');
    src.push_str(&close);
    src.push('}');
    let t = Template::parse_with(&src, &limits).expect("at the cap");
    let _ = t.render(&json!({"a": false, "x": [1, 2]}));
    let _ = t.clone();
}

#[test]
fn long_flat_chains_do_not_recurse() {
    // 64 KiB of `+1`: a flat chain, evaluated iteratively.
    let src = format!("${{0{}}}", "+1".repeat(30_000));
    let t = Template::parse(&src).expect("flat chain");
    assert_eq!(t.render(&json!({})).unwrap(), "30000");
    let src = format!("${{x{}}}", " += x".repeat(10_000));
    let t = Template::parse(&src).expect("flat concat");
    assert_eq!(t.render(&json!({"x": "ab"})).unwrap().len(), 20_002);
    let src = format!("${{{} true}}", "true &&".repeat(8_000));
    assert_eq!(
        Template::parse(&src).unwrap().render(&json!({})).unwrap(),
        "true"
    );
}

#[test]
fn template_length_limit() {
    let src = "x".repeat(64 * 1024 + 1);
    let err = Template::parse(&src).expect_err("too long");
    assert!(err.message().contains("longer than"), "{err}");
    assert!(Template::parse(&src[1..]).is_ok());
}

#[test]
fn output_limit() {
    let limits = Limits {
        max_output: 1000,
        ..Limits::default()
    };
    let vars = json!({"x": "y".repeat(600)});
    let t = Template::parse_with("${x}", &limits).unwrap();
    assert!(t.render(&vars).is_ok());
    let t = Template::parse_with("${x}${x}", &limits).unwrap();
    assert!(t
        .render(&vars)
        .unwrap_err()
        .message()
        .contains("output longer"));
    let t = Template::parse_with("${x += x}", &limits).unwrap();
    assert!(t
        .render(&vars)
        .unwrap_err()
        .message()
        .contains("output longer"));
    assert!(t.evaluate(&vars).is_err());
}

#[test]
fn output_limit_on_the_fast_path_leaves_the_buffer_as_it_was() {
    let limits = Limits {
        max_output: 1000,
        ..Limits::default()
    };
    let event = json!({"x": "y".repeat(600), "q": "\"".repeat(400)});
    let vars = cti_el::Vars::from_json(&event);
    let mut out = String::from("kept");
    let t = Template::parse_with("${x}${x}", &limits).unwrap();
    assert!(t.render_to(&vars, &mut out).is_err());
    let u = cti_el::UriTemplate::parse_with("https://x/?a=${x}&b=${x}", &limits).unwrap();
    assert!(u.render_to(&vars, &mut out).is_err());
    let p =
        cti_el::PayloadTemplate::parse_with(&json!({"a": "${x}", "b": "${x}"}), &limits).unwrap();
    let e = p.render_json(&vars, &mut out).unwrap_err();
    assert!(e.message().contains("output longer"), "{e}");
    assert_eq!(out, "kept");
    // Escaping does not count: 400 quotes are 400 bytes of the limit, not 800.
    let p = cti_el::PayloadTemplate::parse_with(&json!({"q": "${q}"}), &limits).unwrap();
    p.render_json(&vars, &mut out).unwrap();
    assert_eq!(out.len(), "kept".len() + 2 + 800 + 6);
}
