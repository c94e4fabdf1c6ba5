//! The parsed form of a template. Binary operators of one precedence level are kept as a flat
//! chain so that `1+1+...+1` is a list, not a tree as deep as the template is long: evaluation
//! recursion is then bounded by the parser's nesting limit alone.

use crate::vars::Name;

/// A composite template: literal text and eval-expressions, in order.
#[derive(Debug, Clone)]
pub(crate) enum Part {
    /// Literal text, escapes already applied.
    Text(String),
    /// An eval-expression (`${...}` or `#{...}`).
    Expr(Expr),
}

/// A literal value written in the template.
#[derive(Debug, Clone)]
pub(crate) enum Lit {
    Null,
    Bool(bool),
    Long(i64),
    Double(f64),
    Str(Box<str>),
}

/// An expression; `pos` fields are 1-based character columns for error messages.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    Lit(Lit),
    /// A variable, its name hashed for [`crate::Vars`] lookups.
    Ident {
        name: Name,
        pos: usize,
    },
    /// `base.a[b]...`: a base and its property suffixes, evaluated left to right.
    Access {
        base: Box<Expr>,
        suffixes: Vec<Suffix>,
    },
    Unary {
        op: UnOp,
        pos: usize,
        operand: Box<Expr>,
    },
    /// `first op e1 op e2 ...`, all operators of the same precedence level, left-associative.
    Chain {
        first: Box<Expr>,
        rest: Vec<(BinOp, usize, Expr)>,
    },
    /// `cond ? then : otherwise`.
    Choice {
        cond: Box<Expr>,
        pos: usize,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    /// EL 6.1 `a ?: b`: `a` if it coerces to true, else `b`.
    Elvis {
        value: Box<Expr>,
        pos: usize,
        fallback: Box<Expr>,
    },
    /// EL 6.1 `a ?? b`: `a` unless it is null, else `b`.
    Coalesce {
        value: Box<Expr>,
        fallback: Box<Expr>,
    },
}

/// A property suffix: `.name` or `[expr]`.
#[derive(Debug, Clone)]
pub(crate) enum Suffix {
    Dot { name: Box<str>, pos: usize },
    Index { index: Expr, pos: usize },
}

/// Prefix operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnOp {
    Neg,
    Not,
    Empty,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    Concat,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}
