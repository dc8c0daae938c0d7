//! A parser of the protobuf text format, as Caffe's `deploy.prototxt` files use it.
//!
//! ```text
//! name: "CaffeNet"            # comments run to the end of the line
//! input: "data"
//! input_dim: 1 input_dim: 3   # repeated fields by repetition (or `dim: [1, 3]`)
//! layers { name: "conv1" type: CONVOLUTION   # enums as bare identifiers
//!          convolution_param: { num_output: 96 kernel_size: 7 stride: 4 } }
//! ```
//!
//! Accepted syntax: `field: value`, `field { ... }`, `field: { ... }` and `field < ... >`;
//! lists `field: [v1, v2]`; optional `;` or `,` after a field; strings in `"` or `'` with C
//! escapes (`\n`, `\"`, `\x41`, `\101`, `\u00e9`), adjacent strings concatenated; integers in
//! decimal, hex (`0x1F`) or octal (`017`); floats such as `1e-4`, `-0.5`, `.5`, `2.f`, and
//! `inf`/`nan` (accepted, with a warning); booleans `true`/`false`/`t`/`f`/`1`/`0`; enum values
//! by name or number.
//!
//! Fields are mapped onto the message types of our schema through its descriptors (built into
//! the crate by `build.rs`). A field the schema does not know is **skipped with a
//! [`Warning`]** (line, column and field path), never an error, so that files written for
//! other Caffe forks still load. Syntax errors, values of the wrong type or out of range,
//! unknown enum values and nesting deeper than [`ParseOptions::max_depth`] are
//! [`Error::Parse`] errors with file, line and column.
//!
//! ```
//! use lrp::import::prototxt::parse_net;
//! let parsed = parse_net(
//!     "name: 'tiny' layer { name: 'fc' type: 'InnerProduct' \
//!      inner_product_param { num_output: 2 } color: 'red' }",
//!     "tiny.prototxt",
//! )
//! .unwrap();
//! let fc = &parsed.message.layer[0];
//! assert_eq!(fc.inner_product_param.as_ref().unwrap().num_output, Some(2));
//! assert_eq!(parsed.warnings.len(), 1); // `color` is not a LayerParameter field
//! assert!(parsed.warnings[0].to_string().contains("layer[0](\"fc\").color"));
//! ```

use super::proto::caffe::NetParameter;
use super::proto::DESCRIPTOR_SET;
use crate::error::{Error, Result};
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, ReflectMessage, Value as RValue,
};
use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::sync::OnceLock;

/// Default limit on message nesting in text files.
pub const DEFAULT_MAX_DEPTH: usize = 64;

/// Options of the text parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Deepest allowed nesting of `{ ... }` blocks (the top level is depth 0). Deeper input is
    /// an [`Error::Parse`], which also bounds the parser's recursion.
    pub max_depth: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }
}

/// Something in a text file that was tolerated: a field our schema does not know (skipped), a
/// non-repeated field given twice (last value kept), a non-finite float.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The file label given to the parser.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// Field path, e.g. `layer[3]("conv1").convolution_param.foo`.
    pub path: String,
    /// What was tolerated.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.column, self.path, self.message
        )
    }
}

/// A parsed message and the warnings collected while parsing it.
#[derive(Debug, Clone)]
pub struct Parsed<T> {
    /// The message.
    pub message: T,
    /// Tolerated oddities, in file order.
    pub warnings: Vec<Warning>,
}

/// Parses a Caffe network definition (`deploy.prototxt`, V1 or current format) held in
/// `text`; `file` names it in errors and warnings.
///
/// The result is the network as written: V1 files keep their `layers`; see
/// [`caffe_model::normalize_net`](super::caffe_model::normalize_net) for the upgrade.
pub fn parse_net(text: &str, file: &str) -> Result<Parsed<NetParameter>> {
    parse_message(text, file, &ParseOptions::default())
}

/// Reads and parses the Caffe network definition at `path` (see [`parse_net`]).
pub fn read_net(path: impl AsRef<Path>) -> Result<Parsed<NetParameter>> {
    let path = path.as_ref();
    let file = path.display().to_string();
    let bytes = super::read_file(path)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        let (line, column) = position_of_byte(&bytes, e.valid_up_to());
        Error::Parse {
            file: file.clone(),
            line,
            column,
            detail: "the file is not valid UTF-8 text".into(),
        }
    })?;
    parse_net(text, &file)
}

/// Parses `text` as the text format of message type `M` of our schemas (e.g.
/// [`NetParameter`], [`BlobProto`](super::proto::caffe::BlobProto)).
pub fn parse_message<M>(text: &str, file: &str, options: &ParseOptions) -> Result<Parsed<M>>
where
    M: prost::Message + prost::Name + Default,
{
    let pool = pool()?;
    let descriptor = pool
        .get_message_by_name(&M::full_name())
        .ok_or_else(|| Error::Decode {
            file: file.to_string(),
            detail: format!(
                "{}: message type not in the built-in schema",
                M::full_name()
            ),
        })?;
    let tokens = Lexer::new(text, file).tokenize()?;
    let fields = TreeParser {
        tokens,
        next: 0,
        file,
        max_depth: options.max_depth,
    }
    .parse_top()?;
    let mut filler = Filler {
        file,
        warnings: Vec::new(),
    };
    let mut dynamic = DynamicMessage::new(descriptor);
    filler.fill(&mut dynamic, &fields, "")?;
    let message = dynamic.transcode_to::<M>().map_err(|e| Error::Decode {
        file: file.to_string(),
        detail: format!("{} after parsing the text: {e}", M::full_name()),
    })?;
    Ok(Parsed {
        message,
        warnings: filler.warnings,
    })
}

/// The descriptors of our schemas, decoded once.
fn pool() -> Result<&'static DescriptorPool> {
    static POOL: OnceLock<std::result::Result<DescriptorPool, String>> = OnceLock::new();
    POOL.get_or_init(|| DescriptorPool::decode(DESCRIPTOR_SET).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| Error::Decode {
            file: "<built-in schema>".into(),
            detail: format!("FileDescriptorSet: {e}"),
        })
}

/// Line and column (1-based) of byte `offset` in `bytes`.
fn position_of_byte(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[start..]).chars().count() + 1;
    (line, column)
}

// ---------------------------------------------------------------------------------------------
// Tokens

/// A position in the text, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pos {
    line: usize,
    column: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
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
            Tok::Str(s) => write!(f, "string {:?}", String::from_utf8_lossy(s)),
            Tok::Punct(c) => write!(f, "`{c}`"),
            Tok::Eof => write!(f, "end of input"),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    pos: Pos,
}

fn parse_error(file: &str, pos: Pos, detail: impl Into<String>) -> Error {
    Error::Parse {
        file: file.to_string(),
        line: pos.line,
        column: pos.column,
        detail: detail.into(),
    }
}

struct Lexer<'a> {
    chars: Vec<char>,
    at: usize,
    line: usize,
    column: usize,
    file: &'a str,
}

impl<'a> Lexer<'a> {
    fn new(text: &str, file: &'a str) -> Self {
        Lexer {
            chars: text.chars().collect(),
            at: 0,
            line: 1,
            column: 1,
            file,
        }
    }

    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
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

    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.column,
        }
    }

    fn tokenize(mut self) -> Result<Vec<Token>> {
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
                    format!("unexpected character {c:?}"),
                ));
            };
            tokens.push(Token { tok, pos });
        }
    }

    /// A numeric literal: digits, letters, `.`, `_`, and a sign right after an exponent `e`.
    fn number(&mut self) -> Tok {
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
    fn string(&mut self, start: Pos) -> Result<Vec<u8>> {
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

    fn escape(&mut self, pos: Pos, out: &mut Vec<u8>) -> Result<()> {
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

// ---------------------------------------------------------------------------------------------
// Syntax tree

/// One `name: value` or `name { ... }` entry.
#[derive(Debug, Clone)]
struct Field {
    name: String,
    pos: Pos,
    value: Value,
}

#[derive(Debug, Clone)]
enum Value {
    Scalar(Scalar),
    Message(Vec<Field>, Pos),
    List(Vec<Value>, Pos),
}

#[derive(Debug, Clone)]
struct Scalar {
    pos: Pos,
    negative: bool,
    tok: Tok,
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
    fn pos(&self) -> Pos {
        match self {
            Value::Scalar(s) => s.pos,
            Value::Message(_, p) | Value::List(_, p) => *p,
        }
    }
}

struct TreeParser<'a> {
    tokens: Vec<Token>,
    next: usize,
    file: &'a str,
    max_depth: usize,
}

impl TreeParser<'_> {
    fn peek(&self) -> &Token {
        // The token list always ends with Eof, and `bump` never moves past it.
        &self.tokens[self.next.min(self.tokens.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.next + 1 < self.tokens.len() {
            self.next += 1;
        }
        t
    }

    fn is_punct(&self, c: char) -> bool {
        self.peek().tok == Tok::Punct(c)
    }

    fn error(&self, pos: Pos, detail: impl Into<String>) -> Error {
        parse_error(self.file, pos, detail)
    }

    fn parse_top(mut self) -> Result<Vec<Field>> {
        self.fields(0, None)
    }

    /// Fields up to the closing `close` (or end of input at the top level).
    fn fields(&mut self, depth: usize, close: Option<(char, &str, Pos)>) -> Result<Vec<Field>> {
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

    fn field(&mut self, depth: usize) -> Result<Field> {
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

    fn message(&mut self, depth: usize, name: &str) -> Result<Value> {
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

    fn list(&mut self, depth: usize, name: &str) -> Result<Value> {
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

    fn scalar(&mut self) -> Result<Scalar> {
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

// ---------------------------------------------------------------------------------------------
// Mapping the tree onto the schema

struct Filler<'a> {
    file: &'a str,
    warnings: Vec<Warning>,
}

/// `parent.name`, or `name` at the top.
fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

/// Human name of a field's type for messages.
fn kind_name(kind: &Kind) -> String {
    match kind {
        Kind::Double => "double".into(),
        Kind::Float => "float".into(),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => "int32".into(),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => "int64".into(),
        Kind::Uint32 | Kind::Fixed32 => "uint32".into(),
        Kind::Uint64 | Kind::Fixed64 => "uint64".into(),
        Kind::Bool => "bool".into(),
        Kind::String => "string".into(),
        Kind::Bytes => "bytes".into(),
        Kind::Message(m) => format!("message {}", m.full_name()),
        Kind::Enum(e) => format!("enum {}", e.full_name()),
    }
}

impl Filler<'_> {
    fn error(&self, pos: Pos, path: &str, detail: impl fmt::Display) -> Error {
        parse_error(self.file, pos, format!("{path}: {detail}"))
    }

    fn warn(&mut self, pos: Pos, path: &str, message: impl Into<String>) {
        self.warnings.push(Warning {
            file: self.file.to_string(),
            line: pos.line,
            column: pos.column,
            path: path.to_string(),
            message: message.into(),
        });
    }

    fn fill(&mut self, msg: &mut DynamicMessage, fields: &[Field], path: &str) -> Result<()> {
        let descriptor = msg.descriptor();
        let mut seen = HashSet::new();
        for f in fields {
            let fpath = join(path, &f.name);
            let Some(fd) = descriptor.get_field_by_name(&f.name) else {
                self.warn(
                    f.pos,
                    &fpath,
                    format!(
                        "field `{}` is not in our schema of {}; skipped",
                        f.name,
                        descriptor.full_name()
                    ),
                );
                continue;
            };
            if fd.is_list() {
                let items: &[Value] = match &f.value {
                    Value::List(items, _) => items,
                    one => std::slice::from_ref(one),
                };
                for item in items {
                    let index = msg.get_field(&fd).as_list().map_or(0, |l| l.len());
                    let ipath = match item {
                        Value::Message(sub, _) => format!("{fpath}[{index}]{}", name_suffix(sub)),
                        _ => fpath.clone(),
                    };
                    let v = self.convert(&fd, item, &ipath)?;
                    if let RValue::List(list) = msg.get_field_mut(&fd) {
                        list.push(v);
                    }
                }
            } else if fd.is_map() {
                return Err(self.error(f.pos, &fpath, "map fields are not supported"));
            } else {
                if let Value::List(_, pos) = &f.value {
                    return Err(self.error(
                        *pos,
                        &fpath,
                        "the field is not repeated, a list `[...]` is not allowed",
                    ));
                }
                if !seen.insert(fd.number()) {
                    self.warn(
                        f.pos,
                        &fpath,
                        "non-repeated field given more than once; the last value is used",
                    );
                }
                let v = self.convert(&fd, &f.value, &fpath)?;
                msg.set_field(&fd, v);
            }
        }
        Ok(())
    }

    fn convert(&mut self, fd: &FieldDescriptor, value: &Value, path: &str) -> Result<RValue> {
        let kind = fd.kind();
        if let Kind::Message(md) = &kind {
            return match value {
                Value::Message(fields, _) => {
                    let mut sub = DynamicMessage::new(md.clone());
                    self.fill(&mut sub, fields, path)?;
                    Ok(RValue::Message(sub))
                }
                other => Err(self.error(
                    other.pos(),
                    path,
                    format!("expected a message `{{ ... }}` of type {}", md.full_name()),
                )),
            };
        }
        let s = match value {
            Value::Scalar(s) => s,
            other => {
                return Err(self.error(
                    other.pos(),
                    path,
                    format!("expected a {} value, got a message", kind_name(&kind)),
                ))
            }
        };
        let mismatch = |this: &Self| {
            this.error(
                s.pos,
                path,
                format!("expected a {} value, got {s}", kind_name(&kind)),
            )
        };
        Ok(match &kind {
            Kind::Float | Kind::Double => {
                let v = self.float(s, path).ok_or_else(|| mismatch(self))?;
                if !v.is_finite() {
                    self.warn(s.pos, path, format!("non-finite value {v}"));
                }
                if matches!(kind, Kind::Float) {
                    let f = v as f32;
                    if v.is_finite() && !f.is_finite() {
                        return Err(self.error(
                            s.pos,
                            path,
                            format!("{s} is out of range for float"),
                        ));
                    }
                    RValue::F32(f)
                } else {
                    RValue::F64(v)
                }
            }
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                RValue::I32(self.int_in(s, path, &kind, i32::MIN.into(), i32::MAX.into())? as i32)
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                RValue::I64(self.int_in(s, path, &kind, i64::MIN.into(), i64::MAX.into())? as i64)
            }
            Kind::Uint32 | Kind::Fixed32 => {
                RValue::U32(self.int_in(s, path, &kind, 0, u32::MAX.into())? as u32)
            }
            Kind::Uint64 | Kind::Fixed64 => {
                RValue::U64(self.int_in(s, path, &kind, 0, u64::MAX.into())? as u64)
            }
            Kind::Bool => match (&s.tok, s.negative) {
                (Tok::Ident(t), false) if matches!(t.as_str(), "true" | "True" | "t") => {
                    RValue::Bool(true)
                }
                (Tok::Ident(t), false) if matches!(t.as_str(), "false" | "False" | "f") => {
                    RValue::Bool(false)
                }
                (Tok::Number(n), false) if n == "1" => RValue::Bool(true),
                (Tok::Number(n), false) if n == "0" => RValue::Bool(false),
                _ => return Err(mismatch(self)),
            },
            Kind::String => match &s.tok {
                Tok::Str(b) => RValue::String(
                    String::from_utf8(b.clone())
                        .map_err(|_| self.error(s.pos, path, "the string is not valid UTF-8"))?,
                ),
                _ => return Err(mismatch(self)),
            },
            Kind::Bytes => match &s.tok {
                Tok::Str(b) => RValue::Bytes(prost::bytes::Bytes::from(b.clone())),
                _ => return Err(mismatch(self)),
            },
            Kind::Enum(ed) => match (&s.tok, s.negative) {
                (Tok::Ident(name), false) => match ed.get_value_by_name(name) {
                    Some(v) => RValue::EnumNumber(v.number()),
                    None => {
                        let known: Vec<String> =
                            ed.values().map(|v| v.name().to_string()).collect();
                        return Err(self.error(
                            s.pos,
                            path,
                            format!(
                                "unknown value `{name}` of enum {} (known: {})",
                                ed.full_name(),
                                known.join(", ")
                            ),
                        ));
                    }
                },
                (Tok::Number(_), _) => {
                    let n = self.int_in(s, path, &kind, i32::MIN.into(), i32::MAX.into())? as i32;
                    if ed.get_value(n).is_none() {
                        return Err(self.error(
                            s.pos,
                            path,
                            format!("{n} is not a value of enum {}", ed.full_name()),
                        ));
                    }
                    RValue::EnumNumber(n)
                }
                _ => return Err(mismatch(self)),
            },
            Kind::Message(_) => return Err(mismatch(self)),
        })
    }

    /// A float from a number (decimal, exponent, `f` suffix, hex/octal integer) or from
    /// `inf`/`infinity`/`nan`; `None` if `s` is no float.
    fn float(&self, s: &Scalar, _path: &str) -> Option<f64> {
        let v = match &s.tok {
            Tok::Ident(t) => match t.to_ascii_lowercase().as_str() {
                "inf" | "infinity" => f64::INFINITY,
                "nan" => f64::NAN,
                _ => return None,
            },
            Tok::Number(t) => {
                if let Some(i) = parse_integer(t) {
                    i as f64
                } else {
                    let body = t.strip_suffix(['f', 'F']).unwrap_or(t);
                    if body.is_empty()
                        || !body
                            .chars()
                            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
                    {
                        return None;
                    }
                    body.parse::<f64>().ok()?
                }
            }
            _ => return None,
        };
        Some(if s.negative { -v } else { v })
    }

    /// An integer in `[min, max]`.
    fn int_in(&self, s: &Scalar, path: &str, kind: &Kind, min: i128, max: i128) -> Result<i128> {
        let Tok::Number(t) = &s.tok else {
            return Err(self.error(
                s.pos,
                path,
                format!("expected a {} value, got {s}", kind_name(kind)),
            ));
        };
        let magnitude = parse_integer(t).ok_or_else(|| {
            self.error(
                s.pos,
                path,
                format!("expected an integer ({}), got {s}", kind_name(kind)),
            )
        })?;
        let v = if s.negative {
            -i128::from(magnitude)
        } else {
            i128::from(magnitude)
        };
        if v < min || v > max {
            return Err(self.error(
                s.pos,
                path,
                format!("{s} is out of range for {}", kind_name(kind)),
            ));
        }
        Ok(v)
    }
}

/// Decimal, `0x` hex or `0`-prefixed octal integer literal; `None` if `t` is not one or does
/// not fit 64 bits.
fn parse_integer(t: &str) -> Option<u64> {
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else if t.len() > 1 && t.starts_with('0') {
        u64::from_str_radix(&t[1..], 8).ok()
    } else if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()) {
        t.parse().ok()
    } else {
        None
    }
}

/// `("conv1")` when a message's fields include `name: "conv1"`, for readable paths.
fn name_suffix(fields: &[Field]) -> String {
    fields
        .iter()
        .find_map(|f| match (&f.name[..], &f.value) {
            (
                "name",
                Value::Scalar(Scalar {
                    tok: Tok::Str(s), ..
                }),
            ) => Some(format!("({:?})", String::from_utf8_lossy(s))),
            _ => None,
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::proto::caffe::{
        pooling_parameter::PoolMethod, v1_layer_parameter::LayerType, BlobProto, Phase,
    };

    fn net(text: &str) -> Parsed<NetParameter> {
        match parse_net(text, "test.prototxt") {
            Ok(p) => p,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    /// (line, column, detail) of a parse error.
    fn error(text: &str) -> (usize, usize, String) {
        match parse_net(text, "test.prototxt") {
            Err(Error::Parse {
                file,
                line,
                column,
                detail,
            }) => {
                assert_eq!(file, "test.prototxt");
                (line, column, detail)
            }
            Err(other) => panic!("expected a parse error, got {other}"),
            Ok(_) => panic!("expected a parse error for {text:?}"),
        }
    }

    #[test]
    fn comments_and_whitespace() {
        let p = net("# header\nname: \"n\" # trailing\n\n  # only a comment\ninput: 'data'#x\n");
        assert_eq!(p.message.name(), "n");
        assert_eq!(p.message.input, vec!["data"]);
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn nested_messages_with_and_without_colon() {
        let p = net(
            "layer { name: 'c' type: 'Convolution' convolution_param: { num_output: 4 \
             kernel_size: 3 weight_filler < type: 'xavier' > } }",
        );
        let c = p.message.layer[0].convolution_param.as_ref().unwrap();
        assert_eq!(c.num_output, Some(4));
        assert_eq!(c.kernel_size, vec![3]);
        assert_eq!(c.weight_filler.as_ref().unwrap().r#type(), "xavier");
        // Defaults of the published schema apply to absent fields.
        assert!(c.bias_term());
        assert_eq!(c.group(), 1);
    }

    #[test]
    fn repeated_fields_by_repetition_and_list() {
        let p = net("input: 'a' input: 'b' input_dim: 1; input_dim: 3, input_dim: [5, 7]");
        assert_eq!(p.message.input, vec!["a", "b"]);
        assert_eq!(p.message.input_dim, vec![1, 3, 5, 7]);
        let p = net("input_shape [ { dim: 1 dim: 2 }, { dim: [3] } ]");
        assert_eq!(p.message.input_shape.len(), 2);
        assert_eq!(p.message.input_shape[1].dim, vec![3]);
    }

    #[test]
    fn enums_numbers_bools_and_strings() {
        let p = net("layer { name: \"p\\\"q\" type: 'Pooling' phase: TEST \
             pooling_param { pool: AVE stride: 0x2 pad: 01 global_pooling: true } \
             lrn_param { alpha: 1e-4 beta: -0.5 k: .5 local_size: 5 } \
             relu_param { negative_slope: 2.f } loss_weight: 1 \
             param { name: 'a' 'b' } }");
        let l = &p.message.layer[0];
        assert_eq!(l.name(), "p\"q");
        assert_eq!(l.phase(), Phase::Test);
        let pool = l.pooling_param.as_ref().unwrap();
        assert_eq!(pool.pool(), PoolMethod::Ave);
        assert_eq!((pool.stride(), pool.pad()), (2, 1));
        assert!(pool.global_pooling());
        let lrn = l.lrn_param.as_ref().unwrap();
        assert_eq!((lrn.alpha(), lrn.beta(), lrn.k()), (1e-4, -0.5, 0.5));
        assert_eq!(l.relu_param.as_ref().unwrap().negative_slope(), 2.0);
        assert_eq!(l.loss_weight, vec![1.0]);
        assert_eq!(l.param[0].name(), "ab");
        // Enum by number, escapes.
        let p = net("layers { type: 4 name: '\\x41\\102\\u00e9\\n' }");
        assert_eq!(p.message.layers[0].r#type(), LayerType::Convolution);
        assert_eq!(p.message.layers[0].name(), "AB\u{e9}\n");
    }

    #[test]
    fn v1_layers_parse_with_enum_types() {
        let p = net(
            "input: 'data' input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8\n\
             layers { name: 'conv1' type: CONVOLUTION bottom: 'data' top: 'conv1' \
             blobs_lr: 1 blobs_lr: 2 convolution_param { num_output: 2 kernel_size: 3 } }",
        );
        let l = &p.message.layers[0];
        assert_eq!(l.r#type(), LayerType::Convolution);
        assert_eq!(l.blobs_lr, vec![1.0, 2.0]);
    }

    #[test]
    fn unknown_fields_are_skipped_with_warnings() {
        let p = net(
            "name: 'n'\nfancy_option: 3\nlayer {\n  name: 'conv1'\n  type: 'Convolution'\n  \
             convolution_param { num_output: 2 my_flag: true nested { x: 1 y { z: 'q' } } }\n}\n\
             layer { future_param { a: [1, 2] } name: 'l2' }",
        );
        assert_eq!(p.message.name(), "n");
        assert_eq!(p.message.layer.len(), 2);
        assert_eq!(
            p.message.layer[0]
                .convolution_param
                .as_ref()
                .unwrap()
                .num_output,
            Some(2)
        );
        let w: Vec<(usize, usize, &str)> = p
            .warnings
            .iter()
            .map(|w| (w.line, w.column, w.path.as_str()))
            .collect();
        assert_eq!(
            w,
            vec![
                (2, 1, "fancy_option"),
                (6, 37, "layer[0](\"conv1\").convolution_param.my_flag"),
                (6, 51, "layer[0](\"conv1\").convolution_param.nested"),
                (8, 9, "layer[1](\"l2\").future_param"),
            ]
        );
        assert!(p.warnings[0]
            .to_string()
            .starts_with("test.prototxt:2:1: fancy_option:"));
    }

    #[test]
    fn duplicate_and_non_finite_values_warn() {
        let p = net("name: 'a' name: 'b' layer { lrn_param { alpha: inf beta: -nan } }");
        assert_eq!(p.message.name(), "b");
        assert_eq!(p.warnings.len(), 3);
        let lrn = p.message.layer[0].lrn_param.as_ref().unwrap();
        assert!(lrn.alpha().is_infinite() && lrn.beta().is_nan());
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        let (line, column, detail) = error("name: 'n'\nlayer {\n  name: 'x'\n  type 'ReLU'\n}");
        assert_eq!((line, column), (4, 8));
        assert!(detail.contains("expected `:` or `{`"), "{detail}");
        let (line, column, _) = error("layer { name: 'x' } }");
        assert_eq!((line, column), (1, 21));
        let (line, column, detail) = error("name: 'unterminated\ninput: 'x'");
        assert_eq!((line, column), (1, 7));
        assert!(detail.contains("unterminated string"), "{detail}");
        let (_, _, detail) = error("name: @");
        assert!(detail.contains("unexpected character"), "{detail}");
        let (_, _, detail) = error("name: 'a\\q'");
        assert!(detail.contains("invalid escape"), "{detail}");
        let (_, _, detail) = error("input_dim: [1, 2");
        assert!(detail.contains("not closed"), "{detail}");
    }

    #[test]
    fn wrong_value_types_are_errors() {
        let cases = [
            (
                "layer { convolution_param { num_output: 'four' } }",
                "expected a uint32",
            ),
            (
                "layer { convolution_param { num_output: -4 } }",
                "out of range for uint32",
            ),
            (
                "layer { convolution_param { num_output: 1.5 } }",
                "expected an integer",
            ),
            (
                "layer { convolution_param { num_output: 4294967296 } }",
                "out of range",
            ),
            (
                "layer { convolution_param { bias_term: maybe } }",
                "expected a bool",
            ),
            (
                "layer { pooling_param { pool: MEDIAN } }",
                "unknown value `MEDIAN`",
            ),
            (
                "layer { pooling_param { pool: 7 } }",
                "7 is not a value of enum",
            ),
            ("layer { type: Convolution }", "expected a string"),
            ("layer { lrn_param { alpha: 'x' } }", "expected a float"),
            (
                "layer { lrn_param { alpha: 1e39 } }",
                "out of range for float",
            ),
            ("layer { lrn_param: 3 }", "expected a message"),
            ("layer { name { x: 1 } }", "got a message"),
            ("name: ['a', 'b']", "not repeated"),
        ];
        for (text, expected) in cases {
            let (line, column, detail) = error(text);
            assert!(
                detail.contains(expected),
                "{text}: {line}:{column}: {detail} (expected {expected:?})"
            );
        }
        let (_, _, detail) = error("layer { name: 'c1' convolution_param { num_output: 'x' } }");
        assert!(
            detail.starts_with("layer[0](\"c1\").convolution_param.num_output:"),
            "{detail}"
        );
    }

    #[test]
    fn depth_is_limited() {
        // Unknown fields are still parsed (and depth-checked) before being skipped.
        let deep = format!("{}{}", "a { ".repeat(100), "} ".repeat(100));
        let (line, column, detail) = error(&deep);
        assert_eq!((line, column), (1, 4 * 64 + 3));
        assert!(detail.contains("deeper than 64"), "{detail}");
        let ok = format!("{}{}", "a { ".repeat(64), "} ".repeat(64));
        assert_eq!(net(&ok).warnings.len(), 1);
        let options = ParseOptions { max_depth: 2 };
        let r = parse_message::<NetParameter>(
            "layer { convolution_param { weight_filler { } } }",
            "t",
            &options,
        );
        assert!(matches!(r, Err(Error::Parse { .. })));
        // Deep input does not overflow the stack either.
        let very_deep = "a {".repeat(100_000);
        assert!(matches!(
            parse_net(&very_deep, "t"),
            Err(Error::Parse { .. })
        ));
    }

    #[test]
    fn truncated_input_is_an_error() {
        let text = "name: 'n' layer { name: 'conv1' type: 'Convolution' convolution_param { \
                    num_output: 96 kernel_size: 11 } }";
        for cut in 1..text.len() {
            let prefix = &text[..cut];
            // Every prefix either parses (cut at a field boundary) or fails with a parse error.
            if let Err(e) = parse_net(prefix, "cut.prototxt") {
                assert!(matches!(e, Error::Parse { .. }), "{prefix:?}: {e}");
            }
        }
        let (_, _, detail) = error("layer { name: 'x'");
        assert!(
            detail.contains("`layer` opened at 1:7 is not closed"),
            "{detail}"
        );
        let (_, _, detail) = error("name:");
        assert!(
            detail.contains("expected a value, got end of input"),
            "{detail}"
        );
    }

    #[test]
    fn other_messages_of_the_schema() {
        let p = parse_message::<BlobProto>(
            "shape { dim: 2 dim: 1 } data: 0.5 data: -1",
            "blob.prototxt",
            &ParseOptions::default(),
        )
        .unwrap();
        assert_eq!(p.message.data, vec![0.5, -1.0]);
        assert_eq!(p.message.shape.unwrap().dim, vec![2, 1]);
    }

    #[test]
    fn invalid_utf8_file_is_a_parse_error() {
        let dir = std::env::temp_dir().join(format!("lrp-prototxt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.prototxt");
        std::fs::write(&path, b"name: 'a'\nname: '\xff'").unwrap();
        match read_net(&path) {
            Err(Error::Parse { line, column, .. }) => assert_eq!((line, column), (2, 8)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            read_net(dir.join("missing")),
            Err(Error::Io { .. })
        ));
        std::fs::remove_dir_all(&dir).ok();
    }
}
