//! EL values and the specification's type coercions (EL 5.0 §1.23), as Tomcat applies them.
//!
//! JSON maps onto the Java types EL knows: integers that fit a `long` are `Long`, every other
//! number is a `Double`, strings are `String`, objects and arrays are a `Map` and a `List`.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::{Map, Value as Json};

use crate::error::EvalError;

/// A value during evaluation: one of the Java types EL works with, borrowing from the template
/// and the variables so that evaluating a mapping copies as little as possible.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// Java `null`: an unknown identifier, a missing property, JSON `null`.
    Null,
    /// `java.lang.Boolean`.
    Bool(bool),
    /// `java.lang.Long`: integer literals and JSON integers in the `long` range.
    Long(i64),
    /// `java.lang.Double`: floating-point literals, `/`, and every other JSON number.
    Double(f64),
    /// `java.lang.String`.
    String(Cow<'a, str>),
    /// A JSON object (a Java `Map`).
    Object(&'a Map<String, Json>),
    /// A JSON array (a Java `List`).
    Array(&'a [Json]),
}

impl<'a> Value<'a> {
    /// Maps a JSON value onto the EL type it stands for (see the module documentation).
    pub fn from_json(json: &'a Json) -> Value<'a> {
        match json {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => match n.as_i64() {
                Some(l) => Value::Long(l),
                // u64 beyond i64::MAX has no Long; Tomcat would need BigInteger, which we do not
                // carry, so it becomes the nearest Double.
                None => Value::Double(n.as_f64().unwrap_or(f64::NAN)),
            },
            Json::String(s) => Value::String(Cow::Borrowed(s)),
            Json::Array(a) => Value::Array(a),
            Json::Object(o) => Value::Object(o),
        }
    }

    /// The value as JSON: `Long` as an integer, a finite `Double` as a float, and a non-finite
    /// `Double` as the string Java prints for it (`"Infinity"`, `"-Infinity"`, `"NaN"`), because
    /// JSON has no number for those.
    pub fn to_json(&self) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Long(l) => Json::from(*l),
            Value::Double(d) => match serde_json::Number::from_f64(*d) {
                Some(n) => Json::Number(n),
                None => Json::String(format_double(*d)),
            },
            Value::String(s) => Json::String(s.to_string()),
            Value::Object(o) => Json::Object((*o).clone()),
            Value::Array(a) => Json::Array(a.to_vec()),
        }
    }

    /// The EL type name used in error messages (never the value: events carry personal data).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Long(_) => "an integer",
            Value::Double(_) => "a floating-point number",
            Value::String(_) => "a string",
            Value::Object(_) => "an object",
            Value::Array(_) => "an array",
        }
    }

    /// Coerces to String (§1.23.2): null is `""`, numbers print as Java prints them, objects
    /// and arrays print as compact JSON (where Java would print `{a=1}`; JSON is what a
    /// mapping's reader expects).
    pub fn coerce_to_string(&self) -> Cow<'a, str> {
        match self {
            Value::Null => Cow::Borrowed(""),
            Value::Bool(true) => Cow::Borrowed("true"),
            Value::Bool(false) => Cow::Borrowed("false"),
            Value::Long(l) => Cow::Owned(l.to_string()),
            Value::Double(d) => Cow::Owned(format_double(*d)),
            Value::String(s) => s.clone(),
            Value::Object(o) => Cow::Owned(Json::Object((*o).clone()).to_string()),
            Value::Array(a) => Cow::Owned(Json::Array(a.to_vec()).to_string()),
        }
    }

    /// Appends the String coercion to `out` without an intermediate allocation where possible.
    #[inline]
    pub(crate) fn append_to(&self, out: &mut String) {
        match self {
            Value::Null => {}
            Value::Long(l) => push_long(out, *l),
            Value::String(s) => out.push_str(s),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            other => out.push_str(&other.coerce_to_string()),
        }
    }

    /// Coerces to a primitive `boolean` (§1.23.5, as the operators `&&`, `||`, `!`, `?:` use
    /// it): null and `""` are false, a String is true only for "true" in any case, and any other
    /// type is an error.
    pub fn coerce_to_boolean(&self) -> Result<bool, EvalError> {
        match self {
            Value::Null => Ok(false),
            Value::Bool(b) => Ok(*b),
            Value::String(s) => Ok(s.eq_ignore_ascii_case("true")),
            other => Err(EvalError::new(format!(
                "cannot convert {} to a boolean",
                other.type_name()
            ))),
        }
    }

    /// Coerces to `Long` (§1.23.3): null and `""` are 0, a Double is truncated as Java's
    /// `longValue()` does, a String must be what `Long.valueOf` accepts.
    pub fn coerce_to_long(&self) -> Result<i64, EvalError> {
        match self {
            Value::Null => Ok(0),
            Value::Long(l) => Ok(*l),
            // `as` saturates and maps NaN to 0, exactly like Java's (long) cast.
            Value::Double(d) => Ok(*d as i64),
            Value::String(s) if s.is_empty() => Ok(0),
            Value::String(s) => parse_java_long(s)
                .ok_or_else(|| EvalError::new("cannot convert a string to an integer")),
            other => Err(EvalError::new(format!(
                "cannot convert {} to a number",
                other.type_name()
            ))),
        }
    }

    /// Coerces to `Double` (§1.23.3): null and `""` are 0.0, a String must be what
    /// `Double.valueOf` accepts (hexadecimal floating-point strings are not supported).
    pub fn coerce_to_double(&self) -> Result<f64, EvalError> {
        match self {
            Value::Null => Ok(0.0),
            Value::Long(l) => Ok(*l as f64),
            Value::Double(d) => Ok(*d),
            Value::String(s) if s.is_empty() => Ok(0.0),
            Value::String(s) => parse_java_double(s)
                .ok_or_else(|| EvalError::new("cannot convert a string to a number")),
            other => Err(EvalError::new(format!(
                "cannot convert {} to a number",
                other.type_name()
            ))),
        }
    }

    /// `empty A` (§1.11): null, `""`, an empty array or an empty object. Never an error.
    pub fn is_empty(&self) -> bool {
        match self {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Whether arithmetic treats this operand as a Double (§1.7.1 rule 3): a Double, or a
    /// String of more than one character containing `.`, `e` or `E` (Tomcat's
    /// `isStringFloat`, length check included).
    pub(crate) fn is_double_arith(&self) -> bool {
        match self {
            Value::Double(_) => true,
            Value::String(s) => s.len() > 1 && s.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')),
            _ => false,
        }
    }
}

/// Appends the decimal digits of `l` (as Java's `Long.toString` prints it).
pub(crate) fn push_long(out: &mut String, l: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = l.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if l < 0 {
        out.push('-');
    }
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or_default());
}

/// `Long.valueOf`: an optional sign and ASCII digits, no whitespace, in range.
pub(crate) fn parse_java_long(s: &str) -> Option<i64> {
    // Rust's i64 parser has exactly Java's grammar for ASCII input.
    s.parse::<i64>().ok()
}

/// `Double.valueOf`: trims ASCII control characters and spaces, then accepts an optional sign
/// followed by `NaN`, `Infinity`, or a decimal with optional exponent and `f`/`d` suffix.
pub(crate) fn parse_java_double(s: &str) -> Option<f64> {
    let t = s.trim_matches(|c: char| c <= ' ');
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let magnitude = match body {
        "NaN" => f64::NAN,
        "Infinity" => f64::INFINITY,
        _ => {
            let digits = body.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(body);
            if !is_decimal_float(digits) {
                return None;
            }
            digits.parse::<f64>().ok()?
        }
    };
    Some(if neg { -magnitude } else { magnitude })
}

/// `digits [. digits] [exp]` or `. digits [exp]`, the unsigned decimal form Java accepts.
fn is_decimal_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let f = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - f;
    }
    if int_digits + frac_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let e = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == e {
            return false;
        }
    }
    i == b.len()
}

/// Java's `Double.toString`: the shortest digits that round-trip, in plain notation for
/// 10^-3 <= |d| < 10^7 (always with a fractional digit, `3.0`) and as `d.dddE±n` otherwise
/// (`1.0E10`, `1.0E-5`).
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    // `{:e}` gives the shortest round-trip digits as `d.ddde±x`.
    let sci = format!("{:e}", d.abs());
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    let mut digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let mut exp = exp;
    if digits.len() == 1 {
        // Java (JDK 19+) considers two-digit decimals when one digit suffices and prints the
        // one closest to the value: Double.MIN_VALUE is 4.9E-324, not 5.0E-324.
        let two = format!("{:.1e}", d.abs());
        if two.parse::<f64>() == Ok(d.abs()) {
            if let Some((m, e)) = two.split_once('e') {
                digits = m.chars().filter(|c| *c != '.').collect();
                while digits.len() > 1 && digits.ends_with('0') {
                    digits.pop();
                }
                exp = e.parse::<i32>().unwrap_or(exp);
            }
        }
    }
    let mut out = String::with_capacity(digits.len() + 8);
    if d < 0.0 {
        out.push('-');
    }
    let abs = d.abs();
    if (1e-3..1e7).contains(&abs) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        out.push('.');
        if digits.len() > 1 {
            out.push_str(&digits[1..]);
        } else {
            out.push('0');
        }
        out.push('E');
        out.push_str(&exp.to_string());
    }
    out
}

/// Java's `Double.compare`: -0.0 < 0.0, and NaN equals itself and is above everything.
pub(crate) fn java_double_cmp(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.total_cmp(&b),
    }
}

/// Java's `String.compareTo`: lexical by UTF-16 code unit (differs from byte order only for
/// characters above U+FFFF against U+E000..U+FFFF).
pub(crate) fn java_string_cmp(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_like_java() {
        for (d, s) in [
            (3.0, "3.0"),
            (0.25, "0.25"),
            (1e10, "1.0E10"),
            (1.234e100, "1.234E100"),
            (1e7, "1.0E7"),
            (9999999.0, "9999999.0"),
            (0.001, "0.001"),
            (0.0001, "1.0E-4"),
            (-70.2, "-70.2"),
            (123456.789, "123456.789"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (f64::NAN, "NaN"),
            (-0.0, "-0.0"),
            (2.5e-5, "2.5E-5"),
            (100.0, "100.0"),
            (f64::from_bits(1), "4.9E-324"),
            (1e23, "1.0E23"),
            (0.3, "0.3"),
            (f64::MAX, "1.7976931348623157E308"),
        ] {
            assert_eq!(format_double(d), s, "{d}");
        }
    }

    #[test]
    fn java_double_parsing() {
        assert_eq!(parse_java_double(" 1.5 "), Some(1.5));
        assert_eq!(parse_java_double("1d"), Some(1.0));
        assert_eq!(parse_java_double("-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_java_double("1."), Some(1.0));
        assert_eq!(parse_java_double(".5e1"), Some(5.0));
        assert!(parse_java_double("NaN").is_some_and(f64::is_nan));
        for bad in ["", ".", "e5", "1e", "inf", "1.0.0", "abc", "1 2"] {
            assert_eq!(parse_java_double(bad), None, "{bad}");
        }
    }

    #[test]
    fn java_long_parsing() {
        assert_eq!(parse_java_long("+7"), Some(7));
        assert_eq!(parse_java_long("-01"), Some(-1));
        assert_eq!(parse_java_long(" 1"), None);
        assert_eq!(parse_java_long("1.0"), None);
        assert_eq!(parse_java_long("9223372036854775808"), None);
    }
}
