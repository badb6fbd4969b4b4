//! Tokens of the Tingu language.
//!
//! Identifiers, integers (decimal, `0x`, `0b`, with `_` separators),
//! durations (`5s`, `100ms`, `20us`, `7ns`), strings (for `import`),
//! punctuation, and `//` / `/* */` comments. Never panics: a bad character
//! becomes a diagnostic and is skipped.

use crate::diag::{Diag, FileId, Span};

/// Kinds of token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    /// Identifier or keyword.
    Ident(String),
    /// Integer literal.
    Int(u128),
    /// Duration literal, in nanoseconds.
    Duration(u64),
    /// String literal (no escapes except `\"` and `\\`).
    Str(String),
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `;`
    Semi,
    /// `,`
    Comma,
    /// `:`
    Colon,
    /// `.`
    Dot,
    /// `..`
    DotDot,
    /// `..=`
    DotDotEq,
    /// `=`
    Assign,
    /// `==`
    EqEq,
    /// `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `*`
    Star,
    /// `/`
    Slash,
    /// `%`
    Percent,
    /// `!`
    Bang,
    /// `?`
    Question,
    /// `&&`
    AndAnd,
    /// `||`
    OrOr,
    /// `->`
    Arrow,
    /// End of input.
    Eof,
}

impl Tok {
    /// How the token is written, for messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Int(v) => format!("integer `{v}`"),
            Tok::Duration(_) => "a duration".into(),
            Tok::Str(_) => "a string".into(),
            Tok::Eof => "end of file".into(),
            other => format!("`{}`", other.punct()),
        }
    }

    fn punct(&self) -> &'static str {
        match self {
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::Semi => ";",
            Tok::Comma => ",",
            Tok::Colon => ":",
            Tok::Dot => ".",
            Tok::DotDot => "..",
            Tok::DotDotEq => "..=",
            Tok::Assign => "=",
            Tok::EqEq => "==",
            Tok::NotEq => "!=",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            Tok::Percent => "%",
            Tok::Bang => "!",
            Tok::Question => "?",
            Tok::AndAnd => "&&",
            Tok::OrOr => "||",
            Tok::Arrow => "->",
            _ => "?",
        }
    }
}

/// A token and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// What.
    pub tok: Tok,
    /// Where.
    pub span: Span,
}

/// Split `text` into tokens (always ending with [`Tok::Eof`]); problems go to `diags`.
pub fn lex(file: FileId, text: &str, diags: &mut Vec<Diag>) -> Vec<Token> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let sp = |lo: usize, hi: usize| Span::new(file, lo, hi);
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'/' && bytes.get(i + 1) == Some(&b'/') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && bytes.get(i + 1) == Some(&b'*') {
            i += 2;
            let mut closed = false;
            while i < bytes.len() {
                if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                    i += 2;
                    closed = true;
                    break;
                }
                i += 1;
            }
            if !closed {
                diags.push(Diag::error(sp(start, start + 2), "unterminated comment"));
            }
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Ident(text[start..i].to_string()),
                span: sp(start, i),
            });
            continue;
        }
        if c.is_ascii_digit() {
            let (radix, digits_from) = match (c, bytes.get(i + 1)) {
                (b'0', Some(b'x' | b'X')) => (16, i + 2),
                (b'0', Some(b'b' | b'B')) => (2, i + 2),
                _ => (10, i),
            };
            i = digits_from;
            let mut value: Option<u128> = Some(0);
            let mut ndigits = 0;
            while i < bytes.len() {
                let b = bytes[i];
                if b == b'_' {
                    i += 1;
                    continue;
                }
                let Some(d) = (b as char).to_digit(radix) else {
                    break;
                };
                value = value
                    .and_then(|v| v.checked_mul(u128::from(radix)))
                    .and_then(|v| v.checked_add(u128::from(d)));
                ndigits += 1;
                i += 1;
            }
            // A unit suffix makes a duration; any other letters are an error.
            let suffix_start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let suffix = &text[suffix_start..i];
            if ndigits == 0 {
                diags.push(Diag::error(sp(start, i), "number has no digits"));
                continue;
            }
            let Some(v) = value else {
                diags.push(Diag::error(sp(start, i), "number too large"));
                // Keep a token so the parser stays in step.
                out.push(Token {
                    tok: Tok::Int(u128::MAX),
                    span: sp(start, i),
                });
                continue;
            };
            if suffix.is_empty() {
                out.push(Token {
                    tok: Tok::Int(v),
                    span: sp(start, i),
                });
                continue;
            }
            let scale: u128 = match suffix {
                "s" => 1_000_000_000,
                "ms" => 1_000_000,
                "us" => 1_000,
                "ns" => 1,
                _ => {
                    diags.push(Diag::error(
                        sp(start, i),
                        format!(
                            "unknown suffix `{suffix}` on a number (durations use s, ms, us or ns)"
                        ),
                    ));
                    out.push(Token {
                        tok: Tok::Int(v),
                        span: sp(start, i),
                    });
                    continue;
                }
            };
            match v.checked_mul(scale).and_then(|ns| u64::try_from(ns).ok()) {
                Some(ns) => out.push(Token {
                    tok: Tok::Duration(ns),
                    span: sp(start, i),
                }),
                None => {
                    diags.push(Diag::error(sp(start, i), "duration too long"));
                    out.push(Token {
                        tok: Tok::Duration(u64::MAX),
                        span: sp(start, i),
                    });
                }
            }
            continue;
        }
        if c == b'"' {
            i += 1;
            let mut s = String::new();
            let mut closed = false;
            while i < bytes.len() {
                match bytes[i] {
                    b'"' => {
                        i += 1;
                        closed = true;
                        break;
                    }
                    b'\n' => break,
                    b'\\' if matches!(bytes.get(i + 1), Some(b'"' | b'\\')) => {
                        s.push(bytes[i + 1] as char);
                        i += 2;
                    }
                    _ => {
                        // Copy one whole UTF-8 character.
                        let ch_len = text[i..].chars().next().map_or(1, char::len_utf8);
                        s.push_str(&text[i..i + ch_len]);
                        i += ch_len;
                    }
                }
            }
            if !closed {
                diags.push(Diag::error(sp(start, i), "unterminated string"));
                continue;
            }
            out.push(Token {
                tok: Tok::Str(s),
                span: sp(start, i),
            });
            continue;
        }
        let two = |a: u8, b: u8| c == a && bytes.get(i + 1) == Some(&b);
        let (tok, len) = if c == b'.' && bytes.get(i + 1) == Some(&b'.') {
            if bytes.get(i + 2) == Some(&b'=') {
                (Tok::DotDotEq, 3)
            } else {
                (Tok::DotDot, 2)
            }
        } else if two(b'=', b'=') {
            (Tok::EqEq, 2)
        } else if two(b'!', b'=') {
            (Tok::NotEq, 2)
        } else if two(b'<', b'=') {
            (Tok::Le, 2)
        } else if two(b'>', b'=') {
            (Tok::Ge, 2)
        } else if two(b'&', b'&') {
            (Tok::AndAnd, 2)
        } else if two(b'|', b'|') {
            (Tok::OrOr, 2)
        } else if two(b'-', b'>') {
            (Tok::Arrow, 2)
        } else {
            let t = match c {
                b'{' => Tok::LBrace,
                b'}' => Tok::RBrace,
                b'(' => Tok::LParen,
                b')' => Tok::RParen,
                b'[' => Tok::LBracket,
                b']' => Tok::RBracket,
                b';' => Tok::Semi,
                b',' => Tok::Comma,
                b':' => Tok::Colon,
                b'.' => Tok::Dot,
                b'=' => Tok::Assign,
                b'<' => Tok::Lt,
                b'>' => Tok::Gt,
                b'+' => Tok::Plus,
                b'-' => Tok::Minus,
                b'*' => Tok::Star,
                b'/' => Tok::Slash,
                b'%' => Tok::Percent,
                b'!' => Tok::Bang,
                b'?' => Tok::Question,
                _ => {
                    let ch_len = text[i..].chars().next().map_or(1, char::len_utf8);
                    let ch = text[i..].chars().next().unwrap_or('?');
                    diags.push(Diag::error(
                        sp(i, i + ch_len),
                        format!("unexpected character `{}`", ch.escape_debug()),
                    ));
                    i += ch_len;
                    continue;
                }
            };
            (t, 1)
        };
        out.push(Token {
            tok,
            span: sp(i, i + len),
        });
        i += len;
    }
    out.push(Token {
        tok: Tok::Eof,
        span: sp(text.len(), text.len()),
    });
    out
}
