//! `Template`: a parsed composite expression, evaluated many times.

use serde_json::Value as Json;

use crate::ast::{Expr, Part};
use crate::error::{EvalError, ParseError};
use crate::eval::{eval, write_parts, Ctx, Scope};
use crate::parser::parse_composite;
use crate::value::Value;
use crate::vars::Vars;
use crate::{EvalOptions, Limits};

/// A parsed EL template (literal text with `${...}` or `#{...}` eval-expressions).
#[derive(Debug, Clone)]
pub struct Template {
    parts: Vec<Part>,
    limits: Limits,
}

impl Template {
    /// Parses a template with the default [`Limits`].
    pub fn parse(src: &str) -> Result<Template, ParseError> {
        Self::parse_with(src, &Limits::default())
    }

    /// Parses a template with the given limits; the output limit applies to its evaluations.
    pub fn parse_with(src: &str, limits: &Limits) -> Result<Template, ParseError> {
        Ok(Template {
            parts: parse_composite(src, limits)?,
            limits: *limits,
        })
    }

    /// Whether the template is exactly one eval-expression (and so evaluates to a typed value).
    pub fn is_single_expression(&self) -> bool {
        matches!(self.parts.as_slice(), [Part::Expr(_)])
    }

    /// Whether the template has no eval-expression at all (its value is its text).
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// Renders to a string: each eval-expression coerced to String (null is empty text) and
    /// concatenated with the literal text. Unknown identifiers are null.
    pub fn render(&self, vars: &Json) -> Result<String, EvalError> {
        self.render_with(vars, &EvalOptions::default())
    }

    /// [`Template::render`] with explicit options (e.g. the strict identifier policy).
    pub fn render_with(&self, vars: &Json, options: &EvalOptions) -> Result<String, EvalError> {
        let ctx = self.ctx(vars, options);
        self.render_ctx(&ctx)
    }

    /// Evaluates to JSON: a template that is exactly one eval-expression gives its typed value
    /// (Long → integer, Double → float, non-finite Double → `"Infinity"`/`"-Infinity"`/`"NaN"`,
    /// booleans, strings, null, objects and arrays as they are); any other template gives the
    /// rendered string.
    pub fn evaluate(&self, vars: &Json) -> Result<Json, EvalError> {
        self.evaluate_with(vars, &EvalOptions::default())
    }

    /// [`Template::evaluate`] with explicit options.
    pub fn evaluate_with(&self, vars: &Json, options: &EvalOptions) -> Result<Json, EvalError> {
        Ok(self.evaluate_value(vars, options)?.to_json())
    }

    /// Evaluates to an EL [`Value`] (for callers that coerce it further themselves).
    pub fn evaluate_value<'a>(
        &'a self,
        vars: &'a Json,
        options: &EvalOptions,
    ) -> Result<Value<'a>, EvalError> {
        let ctx = self.ctx(vars, options);
        match self.parts.as_slice() {
            [Part::Expr(e)] => eval(e, &ctx),
            _ => Ok(Value::String(self.render_ctx(&ctx)?.into())),
        }
    }

    fn ctx<'a>(&self, vars: &'a Json, options: &EvalOptions) -> Ctx<'a> {
        Ctx {
            scope: Scope::Json(vars),
            strict: options.strict,
            max_output: self.limits.max_output,
        }
    }

    /// The evaluation context for indexed variables.
    pub(crate) fn vars_ctx<'a>(&self, vars: &'a Vars<'a>, options: &EvalOptions) -> Ctx<'a> {
        Ctx {
            scope: Scope::Vars(vars),
            strict: options.strict,
            max_output: self.limits.max_output,
        }
    }

    /// Renders to the end of `out` (the fast path: nothing is allocated but `out`'s growth).
    /// On error `out` is left as it was.
    pub fn render_to(&self, vars: &Vars<'_>, out: &mut String) -> Result<(), EvalError> {
        self.render_to_with(vars, &EvalOptions::default(), out)
    }

    /// [`Template::render_to`] with explicit options.
    pub fn render_to_with(
        &self,
        vars: &Vars<'_>,
        options: &EvalOptions,
        out: &mut String,
    ) -> Result<(), EvalError> {
        let ctx = self.vars_ctx(vars, options);
        write_parts(
            &self.parts,
            &ctx,
            out,
            |s, out| out.push_str(s),
            |v, out| v.append_to(out),
        )
    }

    fn render_ctx<'a>(&'a self, ctx: &Ctx<'a>) -> Result<String, EvalError> {
        let mut out = String::new();
        write_parts(
            &self.parts,
            ctx,
            &mut out,
            |s, out| out.push_str(s),
            |v, out| v.append_to(out),
        )?;
        Ok(out)
    }

    /// The one eval-expression of a template that is exactly one, `None` for any other.
    pub(crate) fn single_expression(&self) -> Option<&Expr> {
        match self.parts.as_slice() {
            [Part::Expr(e)] => Some(e),
            _ => None,
        }
    }

    /// The parts, for renderers that treat literal text and values differently.
    pub(crate) fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// The evaluation context for these variables and options.
    pub(crate) fn context<'a>(&self, vars: &'a Json, options: &EvalOptions) -> Ctx<'a> {
        self.ctx(vars, options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DOC_EXAMPLE: &str = r#"${(initiation=="outgoing")?"calldialed":"callreceived"}"#;

    #[test]
    fn the_cti_documents_example() {
        let t = Template::parse(DOC_EXAMPLE).unwrap();
        assert_eq!(
            t.render(&json!({"initiation": "outgoing"})).unwrap(),
            "calldialed"
        );
        assert_eq!(
            t.render(&json!({"initiation": "incoming"})).unwrap(),
            "callreceived"
        );
        // An event without the field: null == "outgoing" is false.
        assert_eq!(t.render(&json!({})).unwrap(), "callreceived");
    }

    #[test]
    fn unknown_identifiers_are_null_unless_strict() {
        let t = Template::parse("[${callerUser}] [${caller.name}]").unwrap();
        assert_eq!(t.render(&json!({})).unwrap(), "[] []");
        let strict = EvalOptions { strict: true };
        let e = t.render_with(&json!({}), &strict).unwrap_err();
        assert_eq!(e.to_string(), "column 4: unknown identifier `callerUser`");
        assert_eq!(
            t.render_with(&json!({"callerUser": "u", "caller": {}}), &strict)
                .unwrap(),
            "[u] []"
        );
    }

    #[test]
    fn one_expression_keeps_its_type_anything_else_is_a_string() {
        let vars = json!({"n": 7, "d": 0.5, "b": false, "s": "x", "o": {"k": [1]}, "z": null});
        for (src, want) in [
            ("${n}", json!(7)),
            ("${n * 2}", json!(14)),
            ("${n / 2}", json!(3.5)),
            ("${4 / 2}", json!(2.0)),
            ("${d}", json!(0.5)),
            ("${b}", json!(false)),
            ("${s}", json!("x")),
            ("${o}", json!({"k": [1]})),
            ("${o.k}", json!([1])),
            ("${z}", Json::Null),
            ("${missing}", Json::Null),
            ("${1 / 0}", json!("Infinity")),
            ("${-1 / 0}", json!("-Infinity")),
            ("${0.0 / 0}", json!("NaN")),
            (" ${n}", json!(" 7")),
            ("${n}${n}", json!("77")),
            ("${o}!", json!(r#"{"k":[1]}!"#)),
            ("${d * 2}", json!(1.0)),
            ("plain", json!("plain")),
            ("", json!("")),
        ] {
            let t = Template::parse(src).unwrap();
            assert_eq!(t.evaluate(&vars).unwrap(), want, "{src}");
        }
        assert_eq!(
            Template::parse("${4 / 2}").unwrap().render(&vars).unwrap(),
            "2.0"
        );
        assert!(Template::parse("${n}").unwrap().is_single_expression());
        assert!(Template::parse("a\\${n}").unwrap().is_literal());
    }

    #[test]
    fn parse_errors_say_where_and_what() {
        let e = Template::parse("https://x/${callId").unwrap_err();
        assert_eq!((e.position(), e.message()), (19, "expected `}`"));
        assert_eq!(e.to_string(), "column 19: expected `}`");
        let e = Template::parse("héllo ${a +}").unwrap_err();
        assert_eq!(e.to_string(), "column 12: expected an expression");
        let e = Template::parse("${a} #{b}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "column 6: cannot mix `${` and `#{` in one template"
        );
        let e = Template::parse("${'abc}").unwrap_err();
        assert_eq!(e.to_string(), "column 3: unterminated string literal");
        let e = Template::parse("${a b}").unwrap_err();
        assert_eq!(e.to_string(), "column 5: expected an operator or `}`");
    }

    #[test]
    fn templates_are_shareable() {
        fn assert_traits<T: Clone + Send + Sync + std::fmt::Debug>() {}
        assert_traits::<Template>();
        assert_traits::<crate::UriTemplate>();
        assert_traits::<crate::PayloadTemplate>();
    }
}
