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

mod fill;
mod lexer;
#[cfg(test)]
mod tests;
mod tree;

use self::fill::Filler;
use self::lexer::Lexer;
use self::tree::TreeParser;
use super::proto::caffe::NetParameter;
use super::proto::DESCRIPTOR_SET;
use crate::error::{Error, Result};
use prost_reflect::{DescriptorPool, DynamicMessage};
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
    let bytes = super::read_file(path, crate::files::MAX_TEXT_BYTES, "a prototxt")?;
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
