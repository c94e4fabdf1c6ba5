//! The evaluator: EL operators with Tomcat's coercion order (ELArithmetic, ELSupport.equals,
//! ELSupport.compare). Recursion follows the AST, whose depth the parser bounds.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::Value as Json;

use crate::ast::{BinOp, Expr, Lit, Part, Suffix, UnOp};
use crate::error::EvalError;
use crate::value::{java_double_cmp, java_string_cmp, parse_java_double, parse_java_long, Value};
use crate::vars::{Bound, Name, Vars};

/// Where identifiers are looked up: a JSON object, or variables indexed by [`Vars`].
#[derive(Clone, Copy)]
pub(crate) enum Scope<'a> {
    Json(&'a Json),
    Vars(&'a Vars<'a>),
}

/// What an evaluation runs against.
pub(crate) struct Ctx<'a> {
    pub scope: Scope<'a>,
    pub strict: bool,
    pub max_output: usize,
}

impl<'a> Ctx<'a> {
    pub(crate) fn output_limit_error(&self) -> EvalError {
        EvalError::new(format!(
            "output longer than the limit of {} bytes",
            self.max_output
        ))
    }
}

pub(crate) fn eval<'a>(expr: &'a Expr, ctx: &Ctx<'a>) -> Result<Value<'a>, EvalError> {
    match expr {
        Expr::Lit(l) => Ok(match l {
            Lit::Null => Value::Null,
            Lit::Bool(b) => Value::Bool(*b),
            Lit::Long(i) => Value::Long(*i),
            Lit::Double(d) => Value::Double(*d),
            Lit::Str(s) => Value::String(Cow::Borrowed(s)),
        }),
        Expr::Ident { name, pos } => eval_ident(name, *pos, ctx),
        Expr::Access { base, suffixes } => eval_access(base, suffixes, ctx),
        Expr::Unary { op, pos, operand } => eval_unary(*op, *pos, operand, ctx),
        Expr::Chain { first, rest } => eval_chain(first, rest, ctx),
        Expr::Choice {
            cond,
            pos,
            then,
            otherwise,
        } => {
            let c = eval_condition(cond, *pos, ctx)?;
            eval(if c { then } else { otherwise }, ctx)
        }
        Expr::Elvis {
            value,
            pos,
            fallback,
        } => {
            let v = eval(value, ctx)?;
            if elvis_holds(&v, *pos)? {
                Ok(v)
            } else {
                eval(fallback, ctx)
            }
        }
        Expr::Coalesce { value, fallback } => {
            let v = eval(value, ctx)?;
            if v.is_null() {
                eval(fallback, ctx)
            } else {
                Ok(v)
            }
        }
    }
}

// The helpers below keep `eval`'s own frame small: it is on the stack once per tree level.

fn eval_condition<'a>(cond: &'a Expr, pos: usize, ctx: &Ctx<'a>) -> Result<bool, EvalError> {
    eval(cond, ctx)?.coerce_to_boolean().map_err(|e| e.at(pos))
}

fn elvis_holds(v: &Value<'_>, pos: usize) -> Result<bool, EvalError> {
    v.coerce_to_boolean().map_err(|e| e.at(pos))
}

fn eval_unary<'a>(
    op: UnOp,
    pos: usize,
    operand: &'a Expr,
    ctx: &Ctx<'a>,
) -> Result<Value<'a>, EvalError> {
    let v = eval(operand, ctx)?;
    match op {
        UnOp::Not => Ok(Value::Bool(!v.coerce_to_boolean().map_err(|e| e.at(pos))?)),
        UnOp::Empty => Ok(Value::Bool(v.is_empty())),
        UnOp::Neg => negate(v).map_err(|e| e.at(pos)),
    }
}

fn eval_access<'a>(
    base: &'a Expr,
    suffixes: &'a [Suffix],
    ctx: &Ctx<'a>,
) -> Result<Value<'a>, EvalError> {
    let mut value = eval(base, ctx)?;
    for suffix in suffixes {
        // A null base ends the chain without evaluating the remaining suffixes (§1.6).
        if value.is_null() {
            break;
        }
        value = match suffix {
            Suffix::Dot { name, pos } => {
                property(value, &Value::String(Cow::Borrowed(name))).map_err(|e| e.at(*pos))?
            }
            Suffix::Index { index, pos } => {
                let key = eval(index, ctx)?;
                property(value, &key).map_err(|e| e.at(*pos))?
            }
        };
    }
    Ok(value)
}

#[inline]
pub(crate) fn eval_ident<'a>(
    name: &Name,
    pos: usize,
    ctx: &Ctx<'a>,
) -> Result<Value<'a>, EvalError> {
    with_ident(name, pos, ctx, Value::clone)
}

/// Calls `f` with the value of an identifier, without copying it out of the variables.
#[inline]
pub(crate) fn with_ident<'a, R>(
    name: &Name,
    pos: usize,
    ctx: &Ctx<'a>,
    f: impl FnOnce(&Value<'a>) -> R,
) -> Result<R, EvalError> {
    match ctx.scope {
        Scope::Vars(vars) => {
            if let Some(v) = vars.lookup(name.hash, &name.text) {
                return Ok(f(&v.value()));
            }
        }
        Scope::Json(json) => {
            if let Some(v) = json.get(&*name.text) {
                return Ok(f(&Value::from_json(v)));
            }
        }
    }
    if ctx.strict {
        Err(unknown_identifier(name, pos))
    } else {
        Ok(f(&Value::Null))
    }
}

/// Renders composite parts to the end of `out`; `emit_str` writes a value that is a string
/// bound to a variable (the usual case, without building a [`Value`]), `emit` any other value
/// (String coercion, percent-encoding for a URI, JSON escaping for a payload). On error `out`
/// is truncated back to where it was.
#[inline]
pub(crate) fn write_parts<'a>(
    parts: &'a [Part],
    ctx: &Ctx<'a>,
    out: &mut String,
    mut emit_str: impl FnMut(&str, &mut String),
    mut emit: impl FnMut(&Value<'_>, &mut String),
) -> Result<(), EvalError> {
    let start = out.len();
    for part in parts {
        // Per §1.2.3 a composite coerces each value to String; null adds nothing.
        let done = match part {
            Part::Text(t) => {
                out.push_str(t);
                Ok(())
            }
            Part::Expr(Expr::Ident { name, pos }) => match bound_str(name, ctx) {
                Some(s) => {
                    emit_str(s, out);
                    Ok(())
                }
                None => with_ident(name, *pos, ctx, |v| emit(v, out)),
            },
            Part::Expr(e) => eval(e, ctx).map(|v| emit(&v, out)),
        };
        if let Err(e) = done {
            out.truncate(start);
            return Err(e);
        }
        if out.len() - start > ctx.max_output {
            out.truncate(start);
            return Err(ctx.output_limit_error());
        }
    }
    Ok(())
}

/// The string an identifier is bound to in indexed variables, if it is bound to a string.
#[inline]
pub(crate) fn bound_str<'a>(name: &Name, ctx: &Ctx<'a>) -> Option<&'a str> {
    match ctx.scope {
        Scope::Vars(vars) => match vars.lookup(name.hash, &name.text)? {
            Bound::Json(Json::String(s)) => Some(s),
            Bound::Str(s) => Some(s),
            Bound::Json(_) => None,
        },
        Scope::Json(_) => None,
    }
}

#[cold]
fn unknown_identifier(name: &Name, pos: usize) -> EvalError {
    EvalError::new(format!("unknown identifier `{}`", name.text)).at(pos)
}

fn eval_chain<'a>(
    first: &'a Expr,
    rest: &'a [(BinOp, usize, Expr)],
    ctx: &Ctx<'a>,
) -> Result<Value<'a>, EvalError> {
    let mut acc = eval(first, ctx)?;
    // Every operator of a chain has the same precedence level, so the first one tells the kind.
    match rest.first().map(|r| r.0) {
        Some(BinOp::And) | Some(BinOp::Or) => {
            for (op, pos, e) in rest {
                let b = acc.coerce_to_boolean().map_err(|err| err.at(*pos))?;
                // Short-circuit: `false && ...` and `true || ...` skip the rest of the chain.
                if b == (*op == BinOp::Or) {
                    return Ok(Value::Bool(b));
                }
                acc = eval(e, ctx)?;
            }
            let (_, pos, _) = &rest[rest.len() - 1];
            Ok(Value::Bool(
                acc.coerce_to_boolean().map_err(|e| e.at(*pos))?,
            ))
        }
        Some(BinOp::Concat) => {
            // One buffer for the whole chain keeps `a += b += c ...` linear.
            let mut out = acc.coerce_to_string().into_owned();
            for (_, pos, e) in rest {
                eval(e, ctx)?.append_to(&mut out);
                if out.len() > ctx.max_output {
                    return Err(ctx.output_limit_error().at(*pos));
                }
            }
            Ok(Value::String(Cow::Owned(out)))
        }
        _ => {
            for (op, pos, e) in rest {
                // Tomcat's `<` and `>` (AstLessThan, AstGreaterThan) answer false for a null left
                // operand before evaluating the right one; `<=`, `>=`, `==` and arithmetic
                // evaluate both operands first.
                if matches!(op, BinOp::Lt | BinOp::Gt) && acc.is_null() {
                    acc = Value::Bool(false);
                    continue;
                }
                let rhs = eval(e, ctx)?;
                acc = binary(*op, acc, rhs).map_err(|err| err.at(*pos))?;
            }
            Ok(acc)
        }
    }
}

fn binary<'a>(op: BinOp, a: Value<'a>, b: Value<'a>) -> Result<Value<'a>, EvalError> {
    Ok(match op {
        BinOp::Add | BinOp::Sub | BinOp::Mul => arith(op, &a, &b)?,
        BinOp::Div => divide(&a, &b)?,
        BinOp::Mod => modulo(&a, &b)?,
        BinOp::Eq => Value::Bool(equals(&a, &b)?),
        BinOp::Ne => Value::Bool(!equals(&a, &b)?),
        BinOp::Lt | BinOp::Gt => {
            if a.is_null() || b.is_null() {
                Value::Bool(false)
            } else {
                let ord = compare(&a, &b)?;
                Value::Bool(if op == BinOp::Lt {
                    ord == Ordering::Less
                } else {
                    ord == Ordering::Greater
                })
            }
        }
        BinOp::Le | BinOp::Ge => {
            if a.is_null() && b.is_null() {
                // Rule 1: `A == B` (both null) makes `<=` and `>=` true.
                Value::Bool(true)
            } else if a.is_null() || b.is_null() {
                Value::Bool(false)
            } else {
                let ord = compare(&a, &b)?;
                Value::Bool(if op == BinOp::Le {
                    ord != Ordering::Greater
                } else {
                    ord != Ordering::Less
                })
            }
        }
        // Handled in eval_chain; unreachable here but harmless to answer correctly.
        BinOp::And => Value::Bool(a.coerce_to_boolean()? && b.coerce_to_boolean()?),
        BinOp::Or => Value::Bool(a.coerce_to_boolean()? || b.coerce_to_boolean()?),
        BinOp::Concat => {
            let mut s = a.coerce_to_string().into_owned();
            b.append_to(&mut s);
            Value::String(Cow::Owned(s))
        }
    })
}

/// `+ - *` (§1.7.1): both null → 0; a Double operand or a String with `.`/`e`/`E` → Double;
/// otherwise Long, with Java's wrap-around on overflow.
fn arith<'a>(op: BinOp, a: &Value<'a>, b: &Value<'a>) -> Result<Value<'a>, EvalError> {
    if a.is_null() && b.is_null() {
        return Ok(Value::Long(0));
    }
    if a.is_double_arith() || b.is_double_arith() {
        let (x, y) = (a.coerce_to_double()?, b.coerce_to_double()?);
        return Ok(Value::Double(match op {
            BinOp::Add => x + y,
            BinOp::Sub => x - y,
            _ => x * y,
        }));
    }
    let (x, y) = (a.coerce_to_long()?, b.coerce_to_long()?);
    Ok(Value::Long(match op {
        BinOp::Add => x.wrapping_add(y),
        BinOp::Sub => x.wrapping_sub(y),
        _ => x.wrapping_mul(y),
    }))
}

/// `/` and `div` (§1.7.2): both null → Long 0, otherwise always Double (`1/0` is Infinity).
fn divide<'a>(a: &Value<'a>, b: &Value<'a>) -> Result<Value<'a>, EvalError> {
    if a.is_null() && b.is_null() {
        return Ok(Value::Long(0));
    }
    Ok(Value::Double(a.coerce_to_double()? / b.coerce_to_double()?))
}

/// `%` and `mod` (§1.7.3): Double like Java's `%` (fmod), else Long where `% 0` is an error.
fn modulo<'a>(a: &Value<'a>, b: &Value<'a>) -> Result<Value<'a>, EvalError> {
    if a.is_null() && b.is_null() {
        return Ok(Value::Long(0));
    }
    if a.is_double_arith() || b.is_double_arith() {
        return Ok(Value::Double(a.coerce_to_double()? % b.coerce_to_double()?));
    }
    let (x, y) = (a.coerce_to_long()?, b.coerce_to_long()?);
    if y == 0 {
        return Err(EvalError::new("division by zero in `%`"));
    }
    // Long.MIN_VALUE % -1 is 0 in Java; wrapping_rem gives that instead of overflowing.
    Ok(Value::Long(x.wrapping_rem(y)))
}

/// Unary `-` (§1.7.4, Tomcat's AstNegative): null → 0; a String is parsed as Double if it has
/// `.`/`e`/`E`, else as Long (no `""` → 0 here); Long and Double keep their type.
fn negate(v: Value<'_>) -> Result<Value<'_>, EvalError> {
    match &v {
        Value::Null => Ok(Value::Long(0)),
        Value::Long(l) => Ok(Value::Long(l.wrapping_neg())),
        Value::Double(d) => Ok(Value::Double(-d)),
        Value::String(s) => {
            if v.is_double_arith() {
                parse_java_double(s)
                    .map(|d| Value::Double(-d))
                    .ok_or_else(|| EvalError::new("cannot convert a string to a number"))
            } else {
                parse_java_long(s)
                    .map(|l| Value::Long(l.wrapping_neg()))
                    .ok_or_else(|| EvalError::new("cannot convert a string to an integer"))
            }
        }
        other => Err(EvalError::new(format!(
            "cannot negate {}",
            other.type_name()
        ))),
    }
}

/// `==` (§1.9.2, ELSupport.equals): by operand *type*, in the specification's order.
pub(crate) fn equals(a: &Value<'_>, b: &Value<'_>) -> Result<bool, EvalError> {
    match (a, b) {
        (Value::Null, Value::Null) => return Ok(true),
        (Value::Null, _) | (_, Value::Null) => return Ok(false),
        _ => {}
    }
    if matches!(a, Value::Double(_)) || matches!(b, Value::Double(_)) {
        // Double.equals: bitwise, so NaN equals NaN and 0.0 differs from -0.0.
        let (x, y) = (a.coerce_to_double()?, b.coerce_to_double()?);
        return Ok(java_double_cmp(x, y) == Ordering::Equal);
    }
    if matches!(a, Value::Long(_)) || matches!(b, Value::Long(_)) {
        return Ok(a.coerce_to_long()? == b.coerce_to_long()?);
    }
    if matches!(a, Value::Bool(_)) || matches!(b, Value::Bool(_)) {
        return Ok(a.coerce_to_boolean()? == b.coerce_to_boolean()?);
    }
    if matches!(a, Value::String(_)) || matches!(b, Value::String(_)) {
        return Ok(a.coerce_to_string() == b.coerce_to_string());
    }
    // Objects and arrays: Java's Map/List equals, i.e. structural.
    Ok(match (a, b) {
        (Value::Object(x), Value::Object(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => x == y,
        _ => false,
    })
}

/// `< > <= >=` on two non-null operands (§1.9.1, ELSupport.compare, which asks equals first).
fn compare(a: &Value<'_>, b: &Value<'_>) -> Result<Ordering, EvalError> {
    if equals(a, b)? {
        return Ok(Ordering::Equal);
    }
    if matches!(a, Value::Double(_)) || matches!(b, Value::Double(_)) {
        return Ok(java_double_cmp(
            a.coerce_to_double()?,
            b.coerce_to_double()?,
        ));
    }
    if matches!(a, Value::Long(_)) || matches!(b, Value::Long(_)) {
        return Ok(a.coerce_to_long()?.cmp(&b.coerce_to_long()?));
    }
    if matches!(a, Value::String(_)) || matches!(b, Value::String(_)) {
        return Ok(java_string_cmp(
            &a.coerce_to_string(),
            &b.coerce_to_string(),
        ));
    }
    match (a, b) {
        // Boolean is Comparable (false < true).
        (Value::Bool(x), Value::Bool(y)) => Ok(x.cmp(y)),
        _ => Err(EvalError::new(format!(
            "cannot compare {} with {}",
            a.type_name(),
            b.type_name()
        ))),
    }
}

/// `base[key]` / `base.key` on a non-null base: MapELResolver for objects (a missing key is
/// null), ListELResolver for arrays (index coerced to int; out of range is null).
fn property<'a>(base: Value<'a>, key: &Value<'_>) -> Result<Value<'a>, EvalError> {
    match base {
        Value::Object(map) => Ok(match key {
            // A Java Map keyed by String finds nothing for a Long or Boolean key.
            Value::String(k) => map.get(&**k).map(Value::from_json).unwrap_or(Value::Null),
            _ => Value::Null,
        }),
        Value::Array(items) => {
            let index: i32 = match key {
                // intValue(): truncating, as Java does.
                Value::Long(l) => *l as i32,
                Value::Double(d) => *d as i32,
                Value::Bool(b) => i32::from(*b),
                Value::String(s) => s
                    .parse::<i32>()
                    .map_err(|_| EvalError::new("array index is not an integer"))?,
                other => {
                    return Err(EvalError::new(format!(
                        "cannot use {} as an array index",
                        other.type_name()
                    )))
                }
            };
            Ok(usize::try_from(index)
                .ok()
                .and_then(|i| items.get(i))
                .map(Value::from_json)
                .unwrap_or(Value::Null))
        }
        other => Err(EvalError::new(format!(
            "cannot read a property of {}",
            other.type_name()
        ))),
    }
}

/// Constant folding at parse time: every sub-expression without identifiers is evaluated once
/// and replaced by its value. One that fails is kept as written, so that rendering reports the
/// error with its column, as it would without folding.
pub(crate) fn fold(mut expr: Expr, max_output: usize) -> Expr {
    fold_in_place(&mut expr, max_output);
    expr
}

/// Folds `expr`'s constant sub-expressions; whether `expr` has no identifiers.
fn fold_in_place(expr: &mut Expr, max_output: usize) -> bool {
    let constant = match expr {
        Expr::Lit(_) => return true,
        Expr::Ident { .. } => false,
        Expr::Access { base, suffixes } => {
            let mut c = fold_in_place(base, max_output);
            for s in suffixes {
                if let Suffix::Index { index, .. } = s {
                    c &= fold_in_place(index, max_output);
                }
            }
            c
        }
        Expr::Unary { operand, .. } => fold_in_place(operand, max_output),
        Expr::Chain { first, rest } => {
            let mut c = fold_in_place(first, max_output);
            for (_, _, e) in rest {
                c &= fold_in_place(e, max_output);
            }
            c
        }
        Expr::Choice {
            cond,
            then,
            otherwise,
            ..
        } => {
            fold_in_place(cond, max_output)
                & fold_in_place(then, max_output)
                & fold_in_place(otherwise, max_output)
        }
        Expr::Elvis {
            value, fallback, ..
        }
        | Expr::Coalesce { value, fallback } => {
            fold_in_place(value, max_output) & fold_in_place(fallback, max_output)
        }
    };
    if constant {
        let none = Json::Null;
        let ctx = Ctx {
            scope: Scope::Json(&none),
            strict: false,
            max_output,
        };
        let lit = match eval(expr, &ctx) {
            Ok(Value::Null) => Lit::Null,
            Ok(Value::Bool(b)) => Lit::Bool(b),
            Ok(Value::Long(l)) => Lit::Long(l),
            Ok(Value::Double(d)) => Lit::Double(d),
            Ok(Value::String(s)) => Lit::Str(s.into_owned().into()),
            // Without variables there is no object or array; errors stay for rendering.
            Ok(Value::Object(_) | Value::Array(_)) | Err(_) => return true,
        };
        *expr = Expr::Lit(lit);
    }
    constant
}
