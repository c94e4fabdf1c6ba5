//! Composite-template scanner, expression lexer and a recursive-descent parser with an explicit
//! nesting bound (so no input can exhaust the stack).

use crate::ast::{BinOp, Expr, Lit, Part, Suffix, UnOp};
use crate::error::ParseError;
use crate::eval::fold;
use crate::vars::Name;
use crate::Limits;

/// Parses a whole composite template into its parts.
pub(crate) fn parse_composite(src: &str, limits: &Limits) -> Result<Vec<Part>, ParseError> {
    if src.len() > limits.max_template_len {
        return Err(ParseError::new(
            1,
            format!(
                "template is longer than the limit of {} bytes",
                limits.max_template_len
            ),
        ));
    }
    let mut sc = Scanner::new(src);
    let mut parts = Vec::new();
    let mut text = String::new();
    // The first delimiter seen (`$` or `#`): mixing the two is illegal (EL §1.2.3).
    let mut delimiter: Option<char> = None;
    while let Some(c) = sc.peek() {
        let next = sc.peek_at(1);
        if c == '\\' && matches!(next, Some('$' | '#')) && sc.peek_at(2) == Some('{') {
            // `\${` and `\#{` are the only escapes in literal text; any other `\` is literal
            // (Tomcat; Expressly differs, see el-semantics.md §6).
            text.push(next.unwrap_or('$'));
            text.push('{');
            sc.bump_n(3);
        } else if (c == '$' || c == '#') && next == Some('{') {
            let start = sc.col;
            match delimiter {
                Some(d) if d != c => {
                    return Err(ParseError::new(
                        start,
                        "cannot mix `${` and `#{` in one template",
                    ))
                }
                _ => delimiter = Some(c),
            }
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            sc.bump_n(2);
            let mut p = Parser::new(sc, limits.max_depth());
            let (expr, _) = p.parse_choice()?;
            let end = p.next()?;
            match end.tok {
                Tok::RBrace => {}
                Tok::Eof => return Err(ParseError::new(end.col, "expected `}`")),
                other => return Err(p.unexpected(other, end.col, "expected an operator or `}`")),
            }
            sc = p.lexer.sc;
            parts.push(Part::Expr(fold(expr, limits.max_output)));
        } else {
            text.push(c);
            sc.bump();
        }
    }
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    Ok(parts)
}

/// A cursor over the template that knows the character column of its byte position.
#[derive(Clone, Copy)]
struct Scanner<'s> {
    src: &'s str,
    pos: usize,
    col: usize,
}

impl<'s> Scanner<'s> {
    fn new(src: &'s str) -> Self {
        Scanner {
            src,
            pos: 0,
            col: 1,
        }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.src[self.pos..].chars().nth(n)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        self.col += 1;
        Some(c)
    }

    fn bump_n(&mut self, n: usize) {
        for _ in 0..n {
            self.bump();
        }
    }
}

/// A token inside an eval-expression.
#[derive(Debug, Clone, PartialEq)]
enum Tok<'s> {
    Int(i64),
    Float(f64),
    Str(String),
    Ident(&'s str),
    True,
    False,
    Null,
    And,
    Or,
    Not,
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    Empty,
    Div,
    Mod,
    Instanceof,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Dot,
    Comma,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Question,
    Colon,
    Elvis,
    Coalesce,
    PlusEq,
    Assign,
    Semi,
    Arrow,
    LBrace,
    RBrace,
    Eof,
}

#[derive(Debug, Clone)]
struct Token<'s> {
    tok: Tok<'s>,
    col: usize,
}

#[derive(Clone, Copy)]
struct Lexer<'s> {
    sc: Scanner<'s>,
}

fn is_ident_start(c: char) -> bool {
    c == '$' || c == '_' || c.is_alphabetic()
}

fn is_ident_part(c: char) -> bool {
    is_ident_start(c) || c.is_ascii_digit() || c.is_numeric()
}

impl<'s> Lexer<'s> {
    fn next(&mut self) -> Result<Token<'s>, ParseError> {
        while matches!(self.sc.peek(), Some(' ' | '\t' | '\n' | '\r')) {
            self.sc.bump();
        }
        let col = self.sc.col;
        let Some(c) = self.sc.peek() else {
            return Ok(Token { tok: Tok::Eof, col });
        };
        let next = self.sc.peek_at(1);
        let two = |t: Tok<'s>, sc: &mut Scanner<'s>| {
            sc.bump_n(2);
            t
        };
        let one = |t: Tok<'s>, sc: &mut Scanner<'s>| {
            sc.bump();
            t
        };
        let sc = &mut self.sc;
        let tok = match c {
            '0'..='9' => self.number(col)?,
            '.' if next.is_some_and(|n| n.is_ascii_digit()) => self.number(col)?,
            '\'' | '"' => self.string(col)?,
            '$' | '#' if next == Some('{') => {
                return Err(ParseError::new(
                    col,
                    format!("`{c}{{` cannot be nested inside an expression"),
                ))
            }
            c if is_ident_start(c) => self.word(),
            '(' => one(Tok::LParen, sc),
            ')' => one(Tok::RParen, sc),
            '[' => one(Tok::LBracket, sc),
            ']' => one(Tok::RBracket, sc),
            '{' => one(Tok::LBrace, sc),
            '}' => one(Tok::RBrace, sc),
            '.' => one(Tok::Dot, sc),
            ',' => one(Tok::Comma, sc),
            ';' => one(Tok::Semi, sc),
            '*' => one(Tok::Star, sc),
            '/' => one(Tok::Slash, sc),
            '%' => one(Tok::Percent, sc),
            ':' => one(Tok::Colon, sc),
            '+' if next == Some('=') => two(Tok::PlusEq, sc),
            '+' => one(Tok::Plus, sc),
            '-' if next == Some('>') => two(Tok::Arrow, sc),
            '-' => one(Tok::Minus, sc),
            '=' if next == Some('=') => two(Tok::Eq, sc),
            '=' => one(Tok::Assign, sc),
            '!' if next == Some('=') => two(Tok::Ne, sc),
            '!' => one(Tok::Not, sc),
            '<' if next == Some('=') => two(Tok::Le, sc),
            '<' => one(Tok::Lt, sc),
            '>' if next == Some('=') => two(Tok::Ge, sc),
            '>' => one(Tok::Gt, sc),
            '&' if next == Some('&') => two(Tok::And, sc),
            '|' if next == Some('|') => two(Tok::Or, sc),
            '?' if next == Some(':') => two(Tok::Elvis, sc),
            '?' if next == Some('?') => two(Tok::Coalesce, sc),
            '?' => one(Tok::Question, sc),
            '&' => return Err(ParseError::new(col, "expected `&&`")),
            '|' => return Err(ParseError::new(col, "expected `||`")),
            other => {
                return Err(ParseError::new(
                    col,
                    format!("unexpected character `{}`", other.escape_debug()),
                ))
            }
        };
        Ok(Token { tok, col })
    }

    /// `[0-9]+` is a Long; `[0-9]+ . [0-9]* Exp?`, `. [0-9]+ Exp?` and `[0-9]+ Exp` a Double.
    fn number(&mut self, col: usize) -> Result<Tok<'s>, ParseError> {
        let start = self.sc.pos;
        let mut float = false;
        while self.sc.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.sc.bump();
        }
        if self.sc.peek() == Some('.') {
            float = true;
            self.sc.bump();
            while self.sc.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.sc.bump();
            }
        }
        if matches!(self.sc.peek(), Some('e' | 'E')) {
            let sign = matches!(self.sc.peek_at(1), Some('+' | '-'));
            let digit_at = if sign { 2 } else { 1 };
            if self
                .sc
                .peek_at(digit_at)
                .is_some_and(|c| c.is_ascii_digit())
            {
                float = true;
                self.sc.bump_n(digit_at);
                while self.sc.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.sc.bump();
                }
            }
        }
        let text = &self.sc.src[start..self.sc.pos];
        if float {
            // Overflow gives infinity, as Java's Double.valueOf does.
            text.parse::<f64>()
                .map(Tok::Float)
                .map_err(|_| ParseError::new(col, "malformed floating-point literal"))
        } else {
            // Tomcat turns larger literals into BigInteger, which this engine does not carry;
            // the specification (1.24 notes) limits integer literals to the Long range.
            text.parse::<i64>().map(Tok::Int).map_err(|_| {
                ParseError::new(
                    col,
                    "integer literal out of range (largest is 9223372036854775807)",
                )
            })
        }
    }

    /// String literal with EL 4.0+ escapes: `\\`, `\'` and `\"` in either quote; nothing else.
    fn string(&mut self, col: usize) -> Result<Tok<'s>, ParseError> {
        let quote = self.sc.bump().unwrap_or('"');
        let mut out = String::new();
        loop {
            let here = self.sc.col;
            match self.sc.bump() {
                None => return Err(ParseError::new(col, "unterminated string literal")),
                Some(c) if c == quote => return Ok(Tok::Str(out)),
                Some('\\') => match self.sc.bump() {
                    Some(e @ ('\\' | '\'' | '"')) => out.push(e),
                    Some(e) => {
                        return Err(ParseError::new(
                            here,
                            format!(
                                "invalid escape `\\{}` in a string literal: only `\\\\`, `\\'` and `\\\"` are allowed",
                                e.escape_debug()
                            ),
                        ))
                    }
                    None => return Err(ParseError::new(col, "unterminated string literal")),
                },
                Some(c) => out.push(c),
            }
        }
    }

    fn word(&mut self) -> Tok<'s> {
        let start = self.sc.pos;
        while self.sc.peek().is_some_and(is_ident_part) {
            self.sc.bump();
        }
        match &self.sc.src[start..self.sc.pos] {
            "true" => Tok::True,
            "false" => Tok::False,
            "null" => Tok::Null,
            "and" => Tok::And,
            "or" => Tok::Or,
            "not" => Tok::Not,
            "eq" => Tok::Eq,
            "ne" => Tok::Ne,
            "lt" => Tok::Lt,
            "gt" => Tok::Gt,
            "le" => Tok::Le,
            "ge" => Tok::Ge,
            "empty" => Tok::Empty,
            "div" => Tok::Div,
            "mod" => Tok::Mod,
            "instanceof" => Tok::Instanceof,
            w => Tok::Ident(w),
        }
    }
}

/// Recursive-descent parser for one eval-expression. `depth` counts nested sub-expressions
/// (parentheses, brackets, branches of `?:`, prefix operators) and is checked against the limit
/// on every entry, which bounds both this recursion and the evaluator's.
struct Parser<'s> {
    lexer: Lexer<'s>,
    peeked: Option<Token<'s>>,
    depth: usize,
    max_depth: usize,
}

impl<'s> Parser<'s> {
    fn new(sc: Scanner<'s>, max_depth: usize) -> Self {
        Parser {
            lexer: Lexer { sc },
            peeked: None,
            depth: 0,
            max_depth,
        }
    }

    fn peek(&mut self) -> Result<&Token<'s>, ParseError> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lexer.next()?);
        }
        // Just filled above; the fallback token is never observed.
        Ok(self.peeked.get_or_insert(Token {
            tok: Tok::Eof,
            col: 0,
        }))
    }

    fn next(&mut self) -> Result<Token<'s>, ParseError> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lexer.next(),
        }
    }

    fn enter(&mut self, col: usize) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return Err(ParseError::new(
                col,
                format!(
                    "expression nested deeper than the limit of {} levels",
                    self.max_depth
                ),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// An error for an unexpected token, naming unsupported constructs where we recognise them.
    fn unexpected(&self, tok: Tok<'s>, col: usize, expected: &'static str) -> ParseError {
        let msg: &'static str = match tok {
            Tok::Eof => return ParseError::new(col, expected),
            Tok::Assign => "assignment (`=`) is not supported",
            Tok::Semi => "`;` is not supported",
            Tok::Arrow => "lambda expressions are not supported",
            Tok::Instanceof => "`instanceof` is not supported",
            Tok::LBrace => "set and map literals are not supported",
            Tok::LParen => "function and method calls are not supported",
            _ => expected,
        };
        ParseError::new(col, msg)
    }

    /// Records a node of height `height` (1 + the height of its tallest child), rejecting
    /// trees taller than the limit: evaluation recurses once per level.
    fn node(&self, expr: Expr, height: usize, col: usize) -> Result<(Expr, usize), ParseError> {
        if height > self.max_depth {
            return Err(self.too_deep(col));
        }
        Ok((expr, height))
    }

    fn too_deep(&self, col: usize) -> ParseError {
        ParseError::new(
            col,
            format!(
                "expression nested deeper than the limit of {} levels",
                self.max_depth
            ),
        )
    }

    /// Parses a full expression (the `?:`, `??` and Elvis level). The only recursive entry
    /// point of the parser: `enter` bounds its depth.
    fn parse_choice(&mut self) -> Result<(Expr, usize), ParseError> {
        let start = self.peek()?.col;
        self.enter(start)?;
        let cond = self.parse_binary()?;
        // The operators are handled in a separate function to keep this frame, which every
        // level of nesting passes through, small.
        let result = self.choice_tail(cond);
        self.leave();
        result
    }

    /// `? :`, `?:` or `??` after the condition, if any.
    fn choice_tail(&mut self, (cond, hc): (Expr, usize)) -> Result<(Expr, usize), ParseError> {
        let t = self.peek()?;
        let col = t.col;
        Ok(match t.tok {
            Tok::Question => {
                self.next()?;
                let (then, ht) = self.parse_choice()?;
                let colon = self.next()?;
                if colon.tok != Tok::Colon {
                    return Err(self.unexpected(colon.tok, colon.col, "expected `:`"));
                }
                let (otherwise, ho) = self.parse_choice()?;
                let expr = Expr::Choice {
                    cond: Box::new(cond),
                    pos: col,
                    then: Box::new(then),
                    otherwise: Box::new(otherwise),
                };
                self.node(expr, 1 + hc.max(ht).max(ho), col)?
            }
            Tok::Elvis => {
                self.next()?;
                let (fallback, hf) = self.parse_choice()?;
                let expr = Expr::Elvis {
                    value: Box::new(cond),
                    pos: col,
                    fallback: Box::new(fallback),
                };
                self.node(expr, 1 + hc.max(hf), col)?
            }
            Tok::Coalesce => {
                self.next()?;
                let (fallback, hf) = self.parse_choice()?;
                let expr = Expr::Coalesce {
                    value: Box::new(cond),
                    fallback: Box::new(fallback),
                };
                self.node(expr, 1 + hc.max(hf), col)?
            }
            _ => (cond, hc),
        })
    }

    /// All binary operators, by operator precedence with explicit stacks (no recursion per
    /// level). Runs of one precedence level become one flat chain.
    fn parse_binary(&mut self) -> Result<(Expr, usize), ParseError> {
        let mut operands = vec![self.parse_unary()?];
        let mut ops: Vec<(BinOp, usize)> = Vec::new();
        loop {
            let t = self.peek()?;
            let Some(op) = binary_op(&t.tok) else { break };
            let col = t.col;
            self.next()?;
            while ops.last().is_some_and(|(top, _)| level(*top) >= level(op)) {
                self.reduce(&mut operands, &mut ops)?;
            }
            ops.push((op, col));
            operands.push(self.parse_unary()?);
        }
        while !ops.is_empty() {
            self.reduce(&mut operands, &mut ops)?;
        }
        operands
            .pop()
            .ok_or_else(|| ParseError::new(1, "internal error: empty operand stack"))
    }

    /// Applies the top operator to the top two operands, extending the left operand's chain
    /// when it is of the same precedence level (all levels are left-associative).
    fn reduce(
        &self,
        operands: &mut Vec<(Expr, usize)>,
        ops: &mut Vec<(BinOp, usize)>,
    ) -> Result<(), ParseError> {
        let (Some((op, col)), Some((rhs, hr)), Some((lhs, hl))) =
            (ops.pop(), operands.pop(), operands.pop())
        else {
            return Err(ParseError::new(
                1,
                "internal error: operator without operands",
            ));
        };
        let reduced = match lhs {
            Expr::Chain { first, mut rest }
                if rest.first().is_some_and(|(o, _, _)| level(*o) == level(op)) =>
            {
                rest.push((op, col, rhs));
                self.node(Expr::Chain { first, rest }, hl.max(1 + hr), col)?
            }
            lhs => self.node(
                Expr::Chain {
                    first: Box::new(lhs),
                    rest: vec![(op, col, rhs)],
                },
                1 + hl.max(hr),
                col,
            )?,
        };
        operands.push(reduced);
        Ok(())
    }

    /// Prefix operators, collected in a loop rather than by recursion.
    fn parse_unary(&mut self) -> Result<(Expr, usize), ParseError> {
        let mut prefix = Vec::new();
        loop {
            let t = self.peek()?;
            let op = match t.tok {
                Tok::Minus => UnOp::Neg,
                Tok::Not => UnOp::Not,
                Tok::Empty => UnOp::Empty,
                _ => break,
            };
            let col = t.col;
            if prefix.len() >= self.max_depth {
                return Err(self.too_deep(col));
            }
            prefix.push((op, col));
            self.next()?;
        }
        let (mut expr, mut height) = self.parse_value()?;
        for (op, col) in prefix.into_iter().rev() {
            (expr, height) = self.node(
                Expr::Unary {
                    op,
                    pos: col,
                    operand: Box::new(expr),
                },
                height + 1,
                col,
            )?;
        }
        Ok((expr, height))
    }

    /// A primary followed by `.name` and `[expr]` suffixes.
    fn parse_value(&mut self) -> Result<(Expr, usize), ParseError> {
        let (base, mut height) = self.parse_primary()?;
        let mut suffixes = Vec::new();
        loop {
            let t = self.peek()?;
            let col = t.col;
            match t.tok {
                Tok::Dot => {
                    self.next()?;
                    let name = self.next()?;
                    match name.tok {
                        Tok::Ident(n) => suffixes.push(Suffix::Dot {
                            name: n.into(),
                            pos: col,
                        }),
                        other => {
                            return Err(self.unexpected(
                                other,
                                name.col,
                                "expected a property name after `.`",
                            ))
                        }
                    }
                }
                Tok::LBracket => {
                    self.next()?;
                    let (index, hi) = self.parse_choice()?;
                    height = height.max(hi);
                    let close = self.next()?;
                    if close.tok != Tok::RBracket {
                        return Err(self.unexpected(close.tok, close.col, "expected `]`"));
                    }
                    suffixes.push(Suffix::Index { index, pos: col });
                }
                Tok::LParen => {
                    return Err(ParseError::new(
                        col,
                        "function and method calls are not supported",
                    ))
                }
                _ => break,
            }
        }
        if suffixes.is_empty() {
            return Ok((base, height));
        }
        let col = match suffixes.first() {
            Some(Suffix::Dot { pos, .. } | Suffix::Index { pos, .. }) => *pos,
            None => 1,
        };
        self.node(
            Expr::Access {
                base: Box::new(base),
                suffixes,
            },
            height + 1,
            col,
        )
    }

    fn parse_primary(&mut self) -> Result<(Expr, usize), ParseError> {
        let t = self.next()?;
        let col = t.col;
        let expr = match t.tok {
            Tok::Int(i) => Expr::Lit(Lit::Long(i)),
            Tok::Float(f) => Expr::Lit(Lit::Double(f)),
            Tok::Str(s) => Expr::Lit(Lit::Str(s.into())),
            Tok::True => Expr::Lit(Lit::Bool(true)),
            Tok::False => Expr::Lit(Lit::Bool(false)),
            Tok::Null => Expr::Lit(Lit::Null),
            Tok::Ident(name) => {
                self.reject_function(name)?;
                Expr::Ident {
                    name: Name::new(name),
                    pos: col,
                }
            }
            Tok::LParen => {
                if self.peek()?.tok == Tok::RParen {
                    return Err(ParseError::new(col, "lambda expressions are not supported"));
                }
                let inner = self.parse_choice()?;
                let close = self.next()?;
                if close.tok != Tok::RParen {
                    return Err(self.unexpected(close.tok, close.col, "expected `)`"));
                }
                return Ok(inner);
            }
            Tok::LBracket => {
                return Err(ParseError::new(col, "list literals are not supported"));
            }
            Tok::Eof | Tok::RBrace => {
                return Err(ParseError::new(col, "expected an expression"));
            }
            other => return Err(self.unexpected(other, col, "expected an expression")),
        };
        Ok((expr, 1))
    }

    /// `ns:f(` is a namespaced function call in EL; it binds tighter than `?:`, so
    /// `c ? b : f()` is illegal (EL §1.16). Functions are not supported, so name it.
    fn reject_function(&mut self, _name: &str) -> Result<(), ParseError> {
        if self.peek()?.tok != Tok::Colon {
            return Ok(());
        }
        let colon_col = self.peek()?.col;
        let mut ahead = self.lexer;
        if let (
            Ok(Token {
                tok: Tok::Ident(_), ..
            }),
            Ok(Token {
                tok: Tok::LParen, ..
            }),
        ) = (ahead.next(), ahead.next())
        {
            return Err(ParseError::new(
                colon_col,
                "namespaced functions (`prefix:name(...)`) are not supported",
            ));
        }
        Ok(())
    }
}

/// The binary operator a token stands for, if any.
fn binary_op(tok: &Tok<'_>) -> Option<BinOp> {
    Some(match tok {
        Tok::Or => BinOp::Or,
        Tok::And => BinOp::And,
        Tok::Eq => BinOp::Eq,
        Tok::Ne => BinOp::Ne,
        Tok::Lt => BinOp::Lt,
        Tok::Gt => BinOp::Gt,
        Tok::Le => BinOp::Le,
        Tok::Ge => BinOp::Ge,
        Tok::PlusEq => BinOp::Concat,
        Tok::Plus => BinOp::Add,
        Tok::Minus => BinOp::Sub,
        Tok::Star => BinOp::Mul,
        Tok::Slash | Tok::Div => BinOp::Div,
        Tok::Percent | Tok::Mod => BinOp::Mod,
        _ => return None,
    })
}

/// Precedence (EL §1.16), higher binds tighter.
pub(crate) fn level(op: BinOp) -> u8 {
    match op {
        BinOp::Or => 1,
        BinOp::And => 2,
        BinOp::Eq | BinOp::Ne => 3,
        BinOp::Lt | BinOp::Gt | BinOp::Le | BinOp::Ge => 4,
        BinOp::Concat => 5,
        BinOp::Add | BinOp::Sub => 6,
        BinOp::Mul | BinOp::Div | BinOp::Mod => 7,
    }
}
