//! Jakarta Expression Language (EL) templates for event URI mappings.
//!
//! Parse once, evaluate many: [`Template`] is a composite EL template (`text ${expr} text`)
//! evaluated against JSON variables; [`UriTemplate`] percent-encodes the substituted values of
//! a URI; [`PayloadTemplate`] renders a JSON tree whose strings are templates. The language and
//! its coercions follow the Jakarta EL specification as Apache Tomcat implements it, without
//! assignment, `;`, lambdas, functions or method calls: a template has no side effects, and
//! [`Limits`] bound its size, nesting and output.
//!
//! ```
//! use serde_json::json;
//! let t = cti_el::Template::parse(r#"${(initiation=="outgoing")?"calldialed":"callreceived"}"#)?;
//! assert_eq!(t.render(&json!({"initiation": "outgoing"}))?, "calldialed");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod ast;
pub mod batch;
mod error;
mod eval;
mod parser;
mod payload;
mod template;
mod uri;
mod value;
mod vars;

pub use error::{EvalError, ParseError, PayloadError};
pub use payload::PayloadTemplate;
pub use template::Template;
pub use uri::{percent_encode, UriPosition, UriTemplate};
pub use value::{format_double, Value};
pub use vars::Vars;

/// The largest nesting depth [`Limits::max_depth`] may raise parsing to; higher values are
/// capped so that parsing and evaluation always fit in a 2 MiB thread stack.
pub const HARD_MAX_DEPTH: usize = 128;

/// Bounds on the cost of a template; exceeding one is an error, never a panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest template accepted by the parser, in bytes.
    pub max_template_len: usize,
    /// Deepest nesting of sub-expressions (parentheses, brackets, `?:` branches, prefix
    /// operators); capped at [`HARD_MAX_DEPTH`].
    pub max_depth: usize,
    /// Longest rendered output (and `+=` result), in bytes.
    pub max_output: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_template_len: 64 * 1024,
            max_depth: 64,
            max_output: 1024 * 1024,
        }
    }
}

impl Limits {
    /// The effective nesting limit ([`Limits::max_depth`] capped at [`HARD_MAX_DEPTH`]).
    pub fn max_depth(&self) -> usize {
        self.max_depth.min(HARD_MAX_DEPTH)
    }
}

/// Options of one evaluation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EvalOptions {
    /// Strict identifier policy (Tomcat's standalone `ELProcessor`): an identifier missing from
    /// the variables is an error. The default, lenient policy (JSP, the router) makes it null.
    pub strict: bool,
}
