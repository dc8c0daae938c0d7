//! Tokens of the text format: identifiers, numbers, strings with C escapes, punctuation, each
//! with its line and column.

use crate::error::{Error, Result};
use std::fmt;

/// A position in the text, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pos {
    pub(super) line: usize,
    pub(super) column: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    /// `[A-Za-z_][A-Za-z0-9_]*`
    Ident(String),
    /// A numeric literal as written (without sign).
    Number(String),
    /// A quoted string, unescaped.
    Str(Vec<u8>),
    /// One of `{ } < > : ; , [ ] - . /`.
    Punct(char),
    /// End of input.
    Eof,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "identifier `{s}`"),
            Tok::Number(s) => write!(f, "number `{s}`"),
            Tok::Str(s) => write!(f, "string \"{}\"", String::from_utf8_lossy(s)),
            Tok::Punct(c) => write!(f, "`{c}`"),
            Tok::Eof => write!(f, "end of input"),
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) pos: Pos,
}

pub(super) fn parse_error(file: &str, pos: Pos, detail: impl Into<String>) -> Error {
    Error::Parse {
        file: file.to_string(),
        line: pos.line,
        column: pos.column,
        detail: detail.into(),
    }
}

pub(super) struct Lexer<'a> {
    pub(super) chars: Vec<char>,
    pub(super) at: usize,
    pub(super) line: usize,
    pub(super) column: usize,
    pub(super) file: &'a str,
}

impl<'a> Lexer<'a> {
    pub(super) fn new(text: &str, file: &'a str) -> Self {
        Lexer {
            chars: text.chars().collect(),
            at: 0,
            line: 1,
            column: 1,
            file,
        }
    }

    pub(super) fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    pub(super) fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.at).copied()?;
        self.at += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    pub(super) fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.column,
        }
    }

    pub(super) fn tokenize(mut self) -> Result<Vec<Token>> {
        let mut tokens = Vec::new();
        loop {
            // Whitespace and comments.
            while let Some(c) = self.peek(0) {
                if c.is_whitespace() {
                    self.bump();
                } else if c == '#' {
                    while let Some(c) = self.peek(0) {
                        if c == '\n' {
                            break;
                        }
                        self.bump();
                    }
                } else {
                    break;
                }
            }
            let pos = self.pos();
            let Some(c) = self.peek(0) else {
                tokens.push(Token { tok: Tok::Eof, pos });
                return Ok(tokens);
            };
            let tok = if c.is_ascii_alphabetic() || c == '_' {
                let mut s = String::new();
                while let Some(c) = self.peek(0) {
                    if c.is_ascii_alphanumeric() || c == '_' {
                        s.push(c);
                        self.bump();
                    } else {
                        break;
                    }
                }
                Tok::Ident(s)
            } else if c.is_ascii_digit()
                || (c == '.' && self.peek(1).is_some_and(|d| d.is_ascii_digit()))
            {
                self.number()
            } else if c == '"' || c == '\'' {
                Tok::Str(self.string(pos)?)
            } else if "{}<>:;,[]-./".contains(c) {
                self.bump();
                Tok::Punct(c)
            } else {
                return Err(parse_error(
                    self.file,
                    pos,
                    format!("unexpected character `{c}`"),
                ));
            };
            tokens.push(Token { tok, pos });
        }
    }

    /// A numeric literal: digits, letters, `.`, `_`, and a sign right after an exponent `e`.
    pub(super) fn number(&mut self) -> Tok {
        let mut s = String::new();
        let hex = self.peek(0) == Some('0') && matches!(self.peek(1), Some('x' | 'X'));
        while let Some(c) = self.peek(0) {
            let sign_after_exponent = (c == '+' || c == '-')
                && !hex
                && s.ends_with(['e', 'E'])
                && self.peek(1).is_some_and(|d| d.is_ascii_digit());
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || sign_after_exponent {
                s.push(c);
                self.bump();
            } else {
                break;
            }
        }
        Tok::Number(s)
    }

    /// A quoted string with C escapes; the opening quote is at `start`.
    pub(super) fn string(&mut self, start: Pos) -> Result<Vec<u8>> {
        let quote = self.bump().unwrap_or('"');
        let mut out = Vec::new();
        loop {
            let pos = self.pos();
            match self.bump() {
                None | Some('\n') => {
                    return Err(parse_error(
                        self.file,
                        start,
                        "unterminated string (no closing quote on this line)",
                    ))
                }
                Some(c) if c == quote => return Ok(out),
                Some('\\') => self.escape(pos, &mut out)?,
                Some(c) => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
    }

    pub(super) fn escape(&mut self, pos: Pos, out: &mut Vec<u8>) -> Result<()> {
        let bad =
            |file: &str, what: &str| parse_error(file, pos, format!("invalid escape: {what}"));
        let Some(c) = self.bump() else {
            return Err(bad(self.file, "end of input after `\\`"));
        };
        let simple = match c {
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'v' => Some(0x0b),
            '\\' => Some(b'\\'),
            '\'' => Some(b'\''),
            '"' => Some(b'"'),
            '?' => Some(b'?'),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            return Ok(());
        }
        match c {
            '0'..='7' => {
                let mut v = c.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match self.peek(0).and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            self.bump();
                        }
                        None => break,
                    }
                }
                let b = u8::try_from(v).map_err(|_| bad(self.file, "octal escape above \\377"))?;
                out.push(b);
            }
            'x' | 'X' => {
                let mut v = 0u32;
                let mut n = 0;
                while n < 2 {
                    match self.peek(0).and_then(|d| d.to_digit(16)) {
                        Some(d) => {
                            v = v * 16 + d;
                            self.bump();
                            n += 1;
                        }
                        None => break,
                    }
                }
                if n == 0 {
                    return Err(bad(self.file, "`\\x` without hex digits"));
                }
                out.push(v as u8);
            }
            'u' | 'U' => {
                let len = if c == 'u' { 4 } else { 8 };
                let mut v = 0u32;
                for _ in 0..len {
                    match self.bump().and_then(|d| d.to_digit(16)) {
                        Some(d) => v = v.wrapping_mul(16).wrapping_add(d),
                        None => return Err(bad(self.file, "expected hex digits after `\\u`")),
                    }
                }
                let ch = char::from_u32(v)
                    .ok_or_else(|| bad(self.file, "not a Unicode scalar value"))?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            other => return Err(bad(self.file, &format!("`\\{other}`"))),
        }
        Ok(())
    }
}
