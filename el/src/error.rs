//! Errors: where in the template, and what went wrong. Never the variables' values, which are
//! call data (phone numbers, names).

use std::borrow::Cow;
use std::fmt;

/// A template that does not parse: the 1-based character column and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    position: usize,
    message: Cow<'static, str>,
}

impl ParseError {
    /// Creates an error at a 1-based character column.
    pub fn new(position: usize, message: impl Into<Cow<'static, str>>) -> Self {
        ParseError {
            position,
            message: message.into(),
        }
    }

    /// The 1-based character column in the template where the problem was found.
    pub fn position(&self) -> usize {
        self.position
    }

    /// What went wrong, e.g. "expected `}`".
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.position, self.message)
    }
}

impl std::error::Error for ParseError {}

/// A template that parsed but could not be evaluated against these variables, e.g. a string
/// that is not a number in `+`, or a limit exceeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError {
    // Boxed: evaluation results carry this on every step, and a pointer keeps them small.
    inner: Box<EvalErrorInner>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct EvalErrorInner {
    path: Option<String>,
    position: Option<usize>,
    message: Cow<'static, str>,
}

impl EvalError {
    /// Creates an error that is not tied to a column (yet).
    #[cold]
    pub fn new(message: impl Into<Cow<'static, str>>) -> Self {
        EvalError {
            inner: Box::new(EvalErrorInner {
                path: None,
                position: None,
                message: message.into(),
            }),
        }
    }

    /// Ties the error to a column unless it already has one (the innermost column wins).
    pub(crate) fn at(mut self, position: usize) -> Self {
        if self.inner.position.is_none() {
            self.inner.position = Some(position);
        }
        self
    }

    /// Names the payload value (its JSON path) the error happened in.
    pub(crate) fn in_path(mut self, path: String) -> Self {
        self.inner.path = Some(path);
        self
    }

    /// The JSON path of the payload value that failed (payloads only; empty for the root).
    pub fn path(&self) -> Option<&str> {
        self.inner.path.as_deref()
    }

    /// The 1-based character column of the operator or expression that failed, if known.
    pub fn position(&self) -> Option<usize> {
        self.inner.position
    }

    /// What went wrong.
    pub fn message(&self) -> &str {
        &self.inner.message
    }
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = self.path().filter(|p| !p.is_empty()) {
            write!(f, "`{path}` ")?;
        }
        match self.position() {
            Some(p) => write!(f, "column {p}: {}", self.message()),
            None => f.write_str(self.message()),
        }
    }
}

impl std::error::Error for EvalError {}

/// A payload (a JSON tree of templates) with a string that does not parse, or a tree too deep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadError {
    path: String,
    error: ParseError,
}

impl PayloadError {
    pub(crate) fn new(path: String, error: ParseError) -> Self {
        PayloadError { path, error }
    }

    /// The JSON path of the offending value, e.g. `myObject.callId` or `items[2]`; empty for
    /// the payload itself.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The parse error inside that value.
    pub fn parse_error(&self) -> &ParseError {
        &self.error
    }
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.error)
        } else {
            write!(f, "`{}` {}", self.path, self.error)
        }
    }
}

impl std::error::Error for PayloadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}
