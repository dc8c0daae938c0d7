//! The one public error type of the crate.
//!
//! Every variant names what is at fault (the node, the tensor, the file) and the offending
//! value, so that a user can act on the message alone. The library never panics on user input:
//! anything that can go wrong with a model, an image or a parameter ends up here.

use std::fmt;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where in a graph an error happened: a node name and its operator kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRef {
    /// The node's name as given by the model (or the zoo builder).
    pub name: String,
    /// The operator kind, e.g. `Conv` or `MaxPool`.
    pub op: &'static str,
}

impl NodeRef {
    /// A reference to node `name` of kind `op`.
    pub fn new(name: impl Into<String>, op: &'static str) -> Self {
        NodeRef {
            name: name.into(),
            op,
        }
    }
}

impl fmt::Display for NodeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node `{}` ({})", self.name, self.op)
    }
}

/// All errors of the `lrp` crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A node's inputs have shapes it cannot work with (found during shape inference).
    #[error("{node}: {detail}")]
    Shape {
        /// The node at fault.
        node: NodeRef,
        /// What is wrong, with the shapes involved.
        detail: String,
    },

    /// A node's parameters are invalid in themselves (zero stride, weight shape that does not
    /// match the declared channels, groups that do not divide the channels, ...).
    #[error("{node}: invalid parameter: {detail}")]
    Parameter {
        /// The node at fault.
        node: NodeRef,
        /// What is wrong.
        detail: String,
    },

    /// The graph's wiring is broken: a tensor read before anything writes it, written twice,
    /// a cycle, an unknown output.
    #[error("graph: {0}")]
    Graph(String),

    /// An option or argument is invalid: an unknown preset, a malformed rule or layer
    /// selector, a target class the model does not have, an override that matches no layer.
    #[error("{0}")]
    Invalid(String),

    /// A tensor handed to `forward` does not match what the graph was built for.
    #[error("input `{name}`: expected shape {expected:?} (batch first), got {got:?}")]
    InputShape {
        /// The graph input's name.
        name: String,
        /// The shape the graph expects, with the batch size of the given tensor.
        expected: Vec<usize>,
        /// The shape that was passed.
        got: Vec<usize>,
    },

    /// A weight or input holds NaN or infinity.
    #[error("{what}: contains a non-finite value ({value}) at flat index {index}")]
    NonFinite {
        /// What holds the value, e.g. `node `conv1` (Conv) weights`.
        what: String,
        /// The offending value.
        value: f32,
        /// Its position in the flattened tensor.
        index: usize,
    },

    /// A model file could not be read from disk.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The path as given.
        file: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A text file (Caffe prototxt) is malformed, or a value does not fit its field.
    #[error("{file}:{line}:{column}: {detail}")]
    Parse {
        /// The file (or the label given for in-memory text).
        file: String,
        /// 1-based line of the offending token.
        line: usize,
        /// 1-based column (in characters) of the offending token.
        column: usize,
        /// What is wrong, naming the field path (e.g. `layer[3]("conv1").convolution_param`).
        detail: String,
    },

    /// A binary protobuf file (ONNX model, caffemodel, binaryproto) could not be decoded:
    /// truncated, corrupt, or not a file of that kind.
    #[error("{file}: cannot decode {detail}")]
    Decode {
        /// The file (or the label given for in-memory bytes).
        file: String,
        /// The message type expected and the decoder's complaint.
        detail: String,
    },

    /// A file decodes but its content is inconsistent or unsupported: a blob whose data
    /// length differs from its shape, a tensor stored externally, V1 and V2 layers mixed, ...
    #[error("{file}: {layer}: {detail}")]
    Format {
        /// The file (or the label given for in-memory data).
        file: String,
        /// The layer, tensor, blob or input at fault, e.g. `layer `conv1` blob 0`.
        layer: String,
        /// What is wrong, with the offending values.
        detail: String,
    },

    /// An ONNX node attribute is missing, has the wrong type or an invalid value.
    #[error("node `{node}` ({op}), attribute `{attribute}`: {detail}")]
    Attribute {
        /// The node's name (or `#index` when it has none).
        node: String,
        /// The node's operator type, e.g. `Conv`.
        op: String,
        /// The attribute's name.
        attribute: String,
        /// What is wrong, e.g. `expected INTS, got FLOAT`.
        detail: String,
    },

    /// A graph cannot be written in the requested format: a node uses a feature that the
    /// format (at the exported version) cannot express.
    #[error("{node}: cannot export to {format}: {detail}")]
    Export {
        /// The node at fault.
        node: NodeRef,
        /// The target format, e.g. `ONNX opset 13`.
        format: &'static str,
        /// What cannot be expressed, with the offending values.
        detail: String,
    },

    /// A file could not be written to disk.
    #[error("{file}: cannot write: {source}")]
    Write {
        /// The path as given.
        file: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// An image declares dimensions beyond the decoding limits; it is refused after reading
    /// its header, before any pixel buffer is allocated.
    #[error(
        "{file}: image of {width}×{height} pixels exceeds the limit of {max_side} pixels per \
         side and {max_pixels} pixels in all"
    )]
    ImageTooLarge {
        /// The file (or the label given for in-memory bytes).
        file: String,
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The limit on either side.
        max_side: u32,
        /// The limit on width × height.
        max_pixels: u64,
    },

    /// A face box selects no pixel of its image (empty, inverted, or entirely outside).
    #[error(
        "{image}: face box (left {left}, top {top}, right {right}, bottom {bottom}) on a \
         {width}×{height} image: {detail}"
    )]
    FaceBox {
        /// The image file, or `image` for an in-memory image.
        image: String,
        /// Left edge (inclusive), in pixels.
        left: i64,
        /// Top edge (inclusive).
        top: i64,
        /// Right edge (exclusive).
        right: i64,
        /// Bottom edge (exclusive).
        bottom: i64,
        /// Width of the image.
        width: u32,
        /// Height of the image.
        height: u32,
        /// What is wrong.
        detail: String,
    },

    /// A preprocessing configuration is invalid or does not fit the images (input size 0, a
    /// mean image smaller than the input, a zero standard deviation, no images).
    #[error("preprocessing: {0}")]
    Preprocess(String),

    /// A heatmap operation got an input it cannot use: an empty map, a tensor of the wrong
    /// rank, sizes that do not match, a parameter out of range.
    #[error("heatmap: {0}")]
    Heatmap(String),

    /// A comparison of heatmaps or models got an input it cannot use: maps of different
    /// sizes, no maps, a parameter out of range (grid 0, patch 0, more clusters than maps).
    #[error("compare: {0}")]
    Compare(String),

    /// A name that is none of the known ones (a colour map, ...); the message lists them.
    #[error("unknown {kind} `{name}`; valid names: {valid}")]
    UnknownName {
        /// What was looked up, e.g. `colour map`.
        kind: &'static str,
        /// The name as given.
        name: String,
        /// The valid names, comma-separated.
        valid: String,
    },

    /// An image could not be encoded, decoded or written.
    #[error("{file}: image: {detail}")]
    Image {
        /// The path (or a label such as `<memory>` for in-memory encoding).
        file: String,
        /// The encoder's or the file system's complaint.
        detail: String,
    },
}

impl Error {
    /// Shape error for `node`.
    pub(crate) fn shape(node: &NodeRef, detail: impl Into<String>) -> Self {
        Error::Shape {
            node: node.clone(),
            detail: detail.into(),
        }
    }

    /// Parameter error for `node`.
    pub(crate) fn param(node: &NodeRef, detail: impl Into<String>) -> Self {
        Error::Parameter {
            node: node.clone(),
            detail: detail.into(),
        }
    }
}
