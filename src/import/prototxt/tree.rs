//! The syntax tree of a text file: fields with their positions, nested messages and lists,
//! before the schema gives them types. Nesting is bounded by the parser's `max_depth`.

use super::lexer::{parse_error, Pos, Tok, Token};
use crate::error::{Error, Result};
use std::fmt;

/// One `name: value` or `name { ... }` entry.
#[derive(Debug, Clone)]
pub(super) struct Field {
    pub(super) name: String,
    pub(super) pos: Pos,
    pub(super) value: Value,
}

#[derive(Debug, Clone)]
pub(super) enum Value {
    Scalar(Scalar),
    Message(Vec<Field>, Pos),
    List(Vec<Value>, Pos),
}

#[derive(Debug, Clone)]
pub(super) struct Scalar {
    pub(super) pos: Pos,
    pub(super) negative: bool,
    pub(super) tok: Tok,
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.tok, self.negative) {
            (Tok::Ident(s), true) => write!(f, "identifier `-{s}`"),
            (Tok::Number(s), true) => write!(f, "number `-{s}`"),
            (tok, _) => write!(f, "{tok}"),
        }
    }
}

impl Value {
    pub(super) fn pos(&self) -> Pos {
        match self {
            Value::Scalar(s) => s.pos,
            Value::Message(_, p) | Value::List(_, p) => *p,
        }
    }
}

pub(super) struct TreeParser<'a> {
    pub(super) tokens: Vec<Token>,
    pub(super) next: usize,
    pub(super) file: &'a str,
    pub(super) max_depth: usize,
}

impl TreeParser<'_> {
    pub(super) fn peek(&self) -> &Token {
        // The token list always ends with Eof, and `bump` never moves past it.
        &self.tokens[self.next.min(self.tokens.len() - 1)]
    }

    pub(super) fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.next + 1 < self.tokens.len() {
            self.next += 1;
        }
        t
    }

    pub(super) fn is_punct(&self, c: char) -> bool {
        self.peek().tok == Tok::Punct(c)
    }

    pub(super) fn error(&self, pos: Pos, detail: impl Into<String>) -> Error {
        parse_error(self.file, pos, detail)
    }

    pub(super) fn parse_top(mut self) -> Result<Vec<Field>> {
        self.fields(0, None)
    }

    /// Fields up to the closing `close` (or end of input at the top level).
    pub(super) fn fields(
        &mut self,
        depth: usize,
        close: Option<(char, &str, Pos)>,
    ) -> Result<Vec<Field>> {
        let mut fields = Vec::new();
        loop {
            let t = self.peek().clone();
            match (&t.tok, close) {
                (Tok::Eof, None) => return Ok(fields),
                (Tok::Eof, Some((c, name, open))) => {
                    return Err(self.error(
                        t.pos,
                        format!(
                            "unexpected end of input: `{name}` opened at {}:{} is not closed \
                             (expected `{c}`)",
                            open.line, open.column
                        ),
                    ))
                }
                (Tok::Punct(p), Some((c, _, _))) if *p == c => {
                    self.bump();
                    return Ok(fields);
                }
                (Tok::Ident(_), _) | (Tok::Punct('['), _) => {
                    fields.push(self.field(depth)?);
                    if self.is_punct(';') || self.is_punct(',') {
                        self.bump();
                    }
                }
                (tok, _) => {
                    return Err(self.error(t.pos, format!("expected a field name, got {tok}")))
                }
            }
        }
    }

    pub(super) fn field(&mut self, depth: usize) -> Result<Field> {
        let start = self.bump();
        let name = match start.tok {
            Tok::Ident(s) => s,
            // `[ext.name]` or `[type.googleapis.com/pkg.Msg]`: kept as written, our schema has
            // no extensions, so it ends up as an unknown field.
            _ => {
                let mut s = String::from("[");
                loop {
                    let t = self.bump();
                    match t.tok {
                        Tok::Punct(']') => break,
                        Tok::Ident(x) => s.push_str(&x),
                        Tok::Punct(c @ ('.' | '/')) => s.push(c),
                        tok => {
                            return Err(
                                self.error(t.pos, format!("expected an extension name, got {tok}"))
                            )
                        }
                    }
                }
                s.push(']');
                s
            }
        };
        let colon = self.is_punct(':');
        if colon {
            self.bump();
        }
        let t = self.peek().clone();
        let value = match t.tok {
            Tok::Punct('{') | Tok::Punct('<') => self.message(depth, &name)?,
            Tok::Punct('[') => self.list(depth, &name)?,
            _ if colon => Value::Scalar(self.scalar()?),
            tok => {
                return Err(self.error(
                    t.pos,
                    format!("expected `:` or `{{` after field name `{name}`, got {tok}"),
                ))
            }
        };
        Ok(Field {
            name,
            pos: start.pos,
            value,
        })
    }

    pub(super) fn message(&mut self, depth: usize, name: &str) -> Result<Value> {
        let open = self.bump();
        if depth + 1 > self.max_depth {
            return Err(self.error(
                open.pos,
                format!(
                    "`{name}`: messages nested deeper than {} levels",
                    self.max_depth
                ),
            ));
        }
        let close = if open.tok == Tok::Punct('<') {
            '>'
        } else {
            '}'
        };
        let fields = self.fields(depth + 1, Some((close, name, open.pos)))?;
        Ok(Value::Message(fields, open.pos))
    }

    pub(super) fn list(&mut self, depth: usize, name: &str) -> Result<Value> {
        let open = self.bump();
        let mut items = Vec::new();
        if self.is_punct(']') {
            self.bump();
            return Ok(Value::List(items, open.pos));
        }
        loop {
            let t = self.peek().clone();
            let item = match t.tok {
                Tok::Punct('{') | Tok::Punct('<') => self.message(depth, name)?,
                Tok::Eof => {
                    return Err(self.error(
                        t.pos,
                        format!(
                            "unexpected end of input: list `{name}` opened at {}:{} is not closed",
                            open.pos.line, open.pos.column
                        ),
                    ))
                }
                _ => Value::Scalar(self.scalar()?),
            };
            items.push(item);
            let t = self.bump();
            match t.tok {
                Tok::Punct(',') => continue,
                Tok::Punct(']') => return Ok(Value::List(items, open.pos)),
                Tok::Eof => {
                    return Err(self.error(
                        t.pos,
                        format!(
                            "unexpected end of input: list `{name}` opened at {}:{} is not closed",
                            open.pos.line, open.pos.column
                        ),
                    ))
                }
                tok => {
                    return Err(self.error(
                        t.pos,
                        format!("expected `,` or `]` in list `{name}`, got {tok}"),
                    ))
                }
            }
        }
    }

    pub(super) fn scalar(&mut self) -> Result<Scalar> {
        let first = self.bump();
        match first.tok {
            Tok::Punct('-') => {
                let t = self.bump();
                match t.tok {
                    tok @ (Tok::Number(_) | Tok::Ident(_)) => Ok(Scalar {
                        pos: first.pos,
                        negative: true,
                        tok,
                    }),
                    tok => {
                        Err(self.error(t.pos, format!("expected a number after `-`, got {tok}")))
                    }
                }
            }
            tok @ (Tok::Number(_) | Tok::Ident(_)) => Ok(Scalar {
                pos: first.pos,
                negative: false,
                tok,
            }),
            Tok::Str(mut s) => {
                // Adjacent string literals are concatenated.
                while let Tok::Str(more) = &self.peek().tok {
                    s.extend_from_slice(more);
                    self.bump();
                }
                Ok(Scalar {
                    pos: first.pos,
                    negative: false,
                    tok: Tok::Str(s),
                })
            }
            tok => Err(self.error(first.pos, format!("expected a value, got {tok}"))),
        }
    }
}
