//! The one public error type of the crate.
//!
//! Every variant names what is at fault (the node, the tensor, the file) and the offending
//! value, so that a user can act on the message alone. The library never panics on user input:
//! anything that can go wrong with a model, an image or a parameter ends up here.
//!
//! # Error catalogue
//!
//! Every variant of [`Error`], when it happens, a message it gives and what to do about it.
//! The messages are the ones `tests/error_messages.rs` observes on its bad inputs (there, each
//! variant is provoked through the public API and its message checked), with the temporary
//! directories left out of the paths. Paths appear as they were given. The `lrp` command line
//! prints the same message on one line after `lrp: error: `, with the model file in front
//! when the message names only a node.
//!
//! ### `Shape`
//! A node's input shapes do not fit it: found while a graph is built, so on import of an ONNX
//! model or when building with [`GraphBuilder`](crate::GraphBuilder). A convolution whose
//! weight expects 2 input channels, fed 3:
//! ```text
//! node `conv1` (Conv): input has 3 channels but the weight [4, 2, 3, 3] with 1 group(s) expects 2
//! ```
//! *What to do:* the model file is inconsistent (or was cut from a bigger one): check the
//! named node's weights against the layer before it. The Caffe importer reports the same
//! faults as [`Format`](Error::Format), naming the prototxt and the layer.
//!
//! ### `Parameter`
//! A node's parameters are invalid in themselves (zero stride, negative LRN `alpha`, bias of
//! the wrong length, groups that do not divide the channels; also a layer LRP has no rule
//! for, such as a product of two tensors):
//! ```text
//! node `norm1` (Lrn): invalid parameter: alpha must be finite and non-negative, got -1
//! ```
//! *What to do:* fix the named parameter of the named node in the model.
//!
//! ### `Graph`
//! The wiring is broken: a node reads a tensor nothing writes, a tensor is written twice, a
//! cycle, an output that does not exist, the wrong number of inputs to `run`; or the tensors
//! a file declares would exceed [`MAX_ACTIVATION_VALUES`](crate::MAX_ACTIVATION_VALUES) per
//! sample:
//! ```text
//! graph: node `relu1` (Relu) reads tensor `ghost`, which no earlier node writes and is not an input
//! ```
//! *What to do:* the model is incomplete or mis-exported; look at the named node's inputs.
//!
//! ### `Invalid`
//! An option is invalid: an unknown preset, a malformed rule or layer selector, an override
//! that matches no layer, a target class the model does not have, a shard `K/N` out of
//! range, two models or presets of one name (their outputs would share a folder, see
//! [`dataset::distinct_names`](crate::dataset::distinct_names)):
//! ```text
//! target class 7 does not exist: the model has 2 classes (0..1)
//! preset `paper` is given twice; each needs an output folder of its own
//! shard `4/3`: expected K/N with 1 ≤ K ≤ N, e.g. 2/8
//! unknown preset `epsilon-plux`; known presets: epsilon, alpha2-beta1, epsilon-plus, epsilon-plus-flat, epsilon-alpha2-beta1, epsilon-alpha2-beta1-flat, epsilon-gamma-box, paper
//! ```
//! Also an unknown attribution method or a method parameter out of range
//! ([`attribution::Attributor::new`](crate::attribution::Attributor::new)):
//! ```text
//! unknown method `gradiant` (lrp, gradient, gradient-x-input, smoothgrad, integrated-gradients, occlusion, guided-backprop, excitation-backprop)
//! integrated-gradients: steps and batch must be at least 1
//! smoothgrad: noise level -0.1 must be finite and ≥ 0
//! occlusion window [40, 8] is larger than the input 32×32
//! ```
//! *What to do:* use one of the values the message lists (`lrp info --colormaps` lists the
//! presets, `lrp info MODEL` the layers and the output size).
//!
//! ### `InputShape`
//! A tensor handed to [`Graph::forward`](crate::Graph::forward) or an explainer does not have
//! the graph's input shape (here the age model's 64×64 input given to the 32×32 gender model):
//! ```text
//! input `images`: expected shape [1, 3, 32, 32] (batch first), got [1, 3, 64, 64]
//! ```
//! *What to do:* preprocess for the model's size
//! ([`Preprocess::input_shape`](crate::preprocess::Preprocess::input_shape)); an `.npy`
//! input must be N×C×H×W with the model's C, H and W.
//!
//! ### `NonFinite`
//! A weight, an input, a relevance or heatmap holds NaN or infinity:
//! ```text
//! node `conv1` (Conv) parameter 0: contains a non-finite value (NaN) at flat index 5
//! input `images`: contains a non-finite value (inf) at flat index 1091
//! ```
//! *What to do:* the model file or the input is corrupt (or a training run diverged); the
//! flat index locates the value in the row-major tensor.
//!
//! ### `Io`
//! A file cannot be read: missing, a directory, no permission:
//! ```text
//! missing.onnx: cannot read: No such file or directory (os error 2)
//! ```
//! *What to do:* check the path.
//!
//! ### `Parse`
//! A prototxt is malformed, or a value does not fit its field; the location is line:column
//! and the detail names the field path:
//! ```text
//! negative.prototxt:3:35: layer[0]("conv1").convolution_param.num_output: number `-4` is out of range for uint32
//! ```
//! *What to do:* fix the file at that line and column.
//!
//! ### `Decode`
//! A binary protobuf file (ONNX model, caffemodel, binaryproto) cannot be decoded: truncated,
//! corrupt, or another kind of file. The first 1000 bytes of `gender-v1.onnx`:
//! ```text
//! truncated.onnx: cannot decode onnx.ModelProto: failed to decode Protobuf message: ModelProto.graph: buffer underflow
//! ```
//! *What to do:* download or export the file again; check that each file is of the kind its
//! role needs (model: `.onnx` or a Caffe `.prototxt`, weights: a `.caffemodel`, mean image: a
//! `.binaryproto`).
//!
//! ### `Format`
//! A file decodes but its content is inconsistent or unsupported: an unknown layer type or
//! operator, blobs whose shape differs from what the prototxt implies, a network too large
//! for random weights, a model that does not take a square RGB image, a wrong number of
//! labels, an unknown model file extension:
//! ```text
//! unknown.prototxt: layer `warp1` (SpatialWarp): unsupported layer type `SpatialWarp`
//! prototxt-random-weights-oom.prototxt: layer `fc` (InnerProduct): random weights: blob shape [30000, 30000] would take the random weights of the network beyond 268435456 values
//! ```
//! *What to do:* the message names the file and the layer, node or blob; the module docs of
//! [`import::caffe`](crate::import::caffe) and [`import::onnx`](crate::import::onnx) list
//! what is supported.
//!
//! ### `Attribute`
//! An ONNX node attribute is missing, has the wrong type or an invalid value:
//! ```text
//! node `conv1` (Conv), attribute `strides`: expected two positive values, got [0, 0]
//! ```
//! *What to do:* fix the named attribute of the named node (re-export the model).
//!
//! ### `Export`
//! A graph cannot be written as ONNX because a node uses a feature opset 13 cannot express
//! (pooling with plain ceil rounding whose last window starts in the padding):
//! ```text
//! node `pool5` (MaxPool): cannot export to ONNX opset 13: ceil rounding without the clip rule gives [1, 3, 3] for input [1, 4, 4], but ONNX ceil_mode = 1 drops windows that start in the padding and gives [1, 2, 2] (kernel [2, 2], stride [2, 2], pads [0, 0, 1, 1])
//! ```
//! *What to do:* change the named node (here: pad so that the rounding modes agree, or use
//! [`PoolRounding::CeilClip`](crate::ops::PoolRounding::CeilClip)); nothing was written.
//!
//! ### `Write`
//! A file cannot be written (missing directory, no permission, disk full), a model or a PNG:
//! ```text
//! no-such-dir/gender.onnx: cannot write: No such file or directory (os error 2)
//! missing/map.png: cannot write: No such file or directory (os error 2)
//! ```
//! *What to do:* create the directory or choose another path.
//!
//! ### `ImageTooLarge`
//! An image header declares more pixels than
//! [`LoadLimits`](crate::preprocess::LoadLimits) allow; refused before any pixel is
//! allocated:
//! ```text
//! huge.png: image of 100000×100000 pixels exceeds the limit of 16384 pixels per side and 67108864 pixels in all
//! ```
//! *What to do:* scale the image down, or raise the limits with
//! [`load_rgb_with`](crate::preprocess::load_rgb_with) if the image is genuine.
//!
//! ### `FaceBox`
//! A face box selects no pixel of its image (empty, inverted, or entirely outside):
//! ```text
//! assets/astronaut.png: face box (left 600, top 600, right 700, bottom 700) on a 512×512 image: the box lies outside the image
//! ```
//! *What to do:* give `left,top,right,bottom` in pixels inside the image, right > left,
//! bottom > top.
//!
//! ### `Preprocess`
//! A preprocessing configuration is invalid or does not fit: a mean image smaller than the
//! network input, a zero standard deviation, input size 0, no images:
//! ```text
//! preprocessing: mean.binaryproto: the mean image must be 3×H×W (BGR) with H and W at least the input size 227, got 3×8×8
//! ```
//! *What to do:* use the mean file that belongs to the model.
//!
//! ### `Heatmap`
//! A heatmap function got an input it cannot use: a relevance tensor of the wrong rank, an
//! empty map, a figure row with more heatmaps than columns, a percentile out of range:
//! ```text
//! heatmap: relevance tensor must be [n, k, C, H, W], got shape [1, 3, 32, 32]
//! ```
//! *What to do:* pass [`Explanation::relevance`](crate::explain::Explanation::relevance)
//! whole to [`reduce_all`](crate::heatmap::reduce_all), or one map to
//! [`reduce`](crate::heatmap::reduce); keep parameters in the stated range.
//!
//! ### `Compare`
//! A comparison got inputs it cannot use: maps of different sizes, no maps, a grid, patch or
//! step count of 0, more clusters than maps. Heatmaps of the 32×32 gender and the 64×64 age
//! model averaged directly:
//! ```text
//! compare: map 1 has shape [64, 64], map 0 [32, 32]; bring them to one grid first (resize_area)
//! ```
//! *What to do:* bring maps to one grid with [`resize_area`](crate::compare::resize_area);
//! keep parameters at least 1.
//!
//! ### `Evaluate`
//! A quality metric got inputs it cannot use: an attribution whose size is neither the
//! input's `C·H·W` nor its `H·W`, a mask of another size or selecting nothing, a step,
//! subset or batch out of range. A 32×32 heatmap scored against a 64×64 mask:
//! ```text
//! evaluate: relevance mass accuracy: the mask has 4096 values for an attribution of 1024
//! ```
//! *What to do:* score the heatmap of the very input the mask or model belongs to; keep
//! parameters in the stated range.
//!
//! ### `Concept`
//! Concept relevance ([`concepts`](crate::concepts)) got a condition it cannot use: a layer
//! the model does not have (the message lists those with channels), a layer off the path to
//! the logits or without channels, a channel out of range, a condition with no channels, no
//! condition at all. Channel 64 of the age model's first convolution:
//! ```text
//! concepts: condition 0: layer `layer_52_conv` has 64 channels (0..63); channel 64 does not exist
//! ```
//! *What to do:* `lrp info MODEL` lists the layers and their output shapes (channels first).
//!
//! ### `UnknownName`
//! A name that is none of the known ones (a colour map, a graph output of `--output`, a
//! shipped model of `--model`); the message lists the valid names:
//! ```text
//! unknown output `gender`; valid names: age, gender_logits
//! unknown shipped model `face-api`; valid names: gender-v1, age-v1, face-api-gender, face-api-age
//! unknown colour map `firered-black`; valid names: black-firered, bwr, seismic, coldnhot, jet, gray-red, afmhot, viridis, magma, inferno, plasma, cividis, turbo, rainbow, sinebow, cubehelix, warm, cool, spectral, rd-bu, rd-gy, rd-yl-bu, rd-yl-gn, br-bg, pi-yg, pr-gn, pu-or, blues, greens, greys, oranges, purples, reds, yl-or-rd, yl-gn-bu (append -r to reverse)
//! ```
//! *What to do:* pick one of the listed names.
//!
//! ### `FileTooLarge`
//! A file is larger than the limit for its kind ([`files`](crate::files): 4 GiB for models,
//! weights and `.npy` inputs, 256 MiB for images and mean images, 64 MiB for prototxt and
//! label files, 256 MiB from a pipe or device); a regular file is refused from its size,
//! before it is read:
//! ```text
//! huge.png: 300000000 bytes exceed the limit of 268435456 bytes for an image
//! /dev/zero: more than 268435456 bytes (the limit for an image); not a regular file, read up to the limit
//! ```
//! *What to do:* check that the path names the file meant; a genuine larger file can be read
//! with [`read_bounded`](crate::files::read_bounded) and a higher limit through the library.
//!
//! ### `NonFiniteOutput`
//! A model's logits hold NaN or infinity for an input (weights that overflow, an input far
//! outside the range the model was trained on), so there is no prediction to report or
//! explain:
//! ```text
//! overflow: output 0 of input 0 is inf; the model produces no finite logits for it
//! ```
//! *What to do:* check the input's preprocessing (`--input-npy` values, the mean image) and
//! the model's weights.
//!
//! ### `Image`
//! An image cannot be decoded (not a PNG or JPEG, corrupt, truncated) or encoded (a PNG of
//! no pixels); failing to read or write the file itself is [`Io`](Error::Io) or
//! [`Write`](Error::Write):
//! ```text
//! notes.png: image: not a PNG or JPEG file (unrecognised signature)
//! ```
//! *What to do:* convert the image to PNG or JPEG.
//!
//! ### `MemoryLimit`
//! Explaining one image with a model would need more memory than the limit allows
//! ([`memory::Estimate::check`](crate::memory::Estimate::check)); refused from the graph's
//! shapes, before anything is allocated. A 3×8×8 input padded by 5000 pixels, against a
//! limit of 2 GiB:
//! ```text
//! pad5000.onnx: explaining one image needs about 14.9 GiB (activations 6.0 GiB, relevance 7.5 GiB per image, weights 432 B + 1.5 GiB prepared by the rules), more than the memory limit of 2.0 GiB
//! ```
//! *What to do:* the model's input or a layer is far larger than intended (check the sizes
//! `lrp info` lists); if it is genuine, run where more memory is available or raise the
//! limit (`--max-memory` on the command line).
//!
//! ### `Unsupported`
//! Reduced precision asked for on a CPU that cannot compute it
//! ([`kernels::set_precision`](crate::kernels::set_precision), `lrp explain --precision bf16`,
//! Python's `precision="bf16"`): bfloat16 needs AVX512-BF16 (every CPU with AMX has it too).
//! ```text
//! --precision bf16 needs a CPU with AVX512-BF16 or AMX; this one has neither
//! ```
//! *What to do:* leave the precision at its default, float32, or run on a CPU that has
//! AVX512-BF16 (Intel Cooper Lake, Sapphire Rapids and later; AMD Zen 4 and later).

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

/// `message` on one line: runs of whitespace, line breaks included, become one space. Error
/// messages of dependencies (the image decoders') can end in blank lines; ours are one line.
///
/// ```
/// assert_eq!(lrp::error::one_line("Not enough bytes\n\n"), "Not enough bytes");
/// ```
pub fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The longest message, in characters, that [`sanitize`] lets through whole.
pub const MAX_MESSAGE_CHARS: usize = 2000;

/// `message` made safe for a terminal, as one line of at most [`MAX_MESSAGE_CHARS`]
/// characters: [`one_line`], then [`sanitize_with`] with that bound. Every message the `lrp`
/// command line prints (errors, warnings) goes through it; names from model files (node,
/// layer, tensor names) can hold anything.
///
/// ```
/// use lrp::error::sanitize;
/// assert_eq!(sanitize("node `a\x1b[2Jb` (Relu):\n  bad"), "node `a\\x1b[2Jb` (Relu): bad");
/// let long = "x".repeat(1 << 20);
/// let cut = sanitize(&long);
/// assert!(cut.chars().count() < 2100 && cut.ends_with("… (1046576 more characters)"));
/// ```
pub fn sanitize(message: &str) -> String {
    sanitize_with(&one_line(message), MAX_MESSAGE_CHARS)
}

/// `text` made safe for a terminal, with at most `max_chars` of its characters kept; the one
/// sanitiser of everything the command line prints ([`sanitize`] for messages, and line by
/// line for its standard output):
///
/// - every control character (C0 — line breaks and tabs included —, DEL, C1) and the Unicode
///   characters that reorder, hide or break text (bidirectional overrides and isolates,
///   zero-width characters, line and paragraph separators) is written as an escape, `\x1b`
///   or `\u{202e}`, so that nothing from a file can move the cursor, change colours, start a
///   new line or disguise the text; spaces stay as they are;
/// - a longer text is cut after `max_chars` characters with `… (N more characters)`.
///
/// ```
/// use lrp::error::sanitize_with;
/// assert_eq!(sanitize_with("a\u{202e}b\x07  c\n", 100), "a\\u{202e}b\\x07  c\\x0a");
/// assert_eq!(sanitize_with("abcdef", 3), "abc… (3 more characters)");
/// ```
pub fn sanitize_with(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars.saturating_mul(4)) + 32);
    let mut chars = text.chars();
    for (kept, c) in chars.by_ref().enumerate() {
        if kept == max_chars {
            // What is left, this character included.
            let rest = 1 + chars.count();
            out.push_str(&format!("… ({rest} more characters)"));
            return out;
        }
        if c.is_control() || is_hidden(c) {
            let code = c as u32;
            if code < 0x100 {
                out.push_str(&format!("\\x{code:02x}"));
            } else {
                out.push_str(&format!("\\u{{{code:x}}}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The detail of [`Error::FileTooLarge`].
fn too_large(size: &Option<u64>, limit: &u64, kind: &str) -> String {
    match size {
        Some(size) => format!("{size} bytes exceed the limit of {limit} bytes for {kind}"),
        None => format!(
            "more than {limit} bytes (the limit for {kind}); not a regular file, read up to the limit"
        ),
    }
}

/// Unicode format characters that reorder or hide text on a terminal, and the Unicode line
/// and paragraph separators.
fn is_hidden(c: char) -> bool {
    matches!(c,
        '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
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

    /// A quality metric of explanations ([`evaluate`](crate::evaluate)) got an input it cannot
    /// use: an attribution of another size than the input or mask, an empty mask, a step,
    /// subset or batch out of range, an attribution without a distribution.
    #[error("evaluate: {0}")]
    Evaluate(String),

    /// Concept relevance ([`concepts`](crate::concepts)) got a condition it cannot use: an
    /// unknown layer or one without channels, a channel out of range, an empty condition.
    #[error("concepts: {0}")]
    Concept(String),

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

    /// A file is larger than the limit for its kind (see [`files`](crate::files)): refused
    /// from its size before it is read, or, for a pipe or a device, once the limit is read.
    #[error("{file}: {}", too_large(.size, .limit, .kind))]
    FileTooLarge {
        /// The path as given.
        file: String,
        /// What the file was read as, e.g. `an image`.
        kind: &'static str,
        /// The file's size, when it is a regular file.
        size: Option<u64>,
        /// The limit, in bytes.
        limit: u64,
    },

    /// A model's output holds NaN or infinity for an input: the model computes nothing
    /// meaningful there, and no prediction or explanation is made from it.
    #[error("{model}: output {index} of input {sample} is {value}; the model produces no finite logits for it")]
    NonFiniteOutput {
        /// The model's name.
        model: String,
        /// The input (row of the batch).
        sample: usize,
        /// The first non-finite output of that row.
        index: usize,
        /// Its value (NaN or ±inf).
        value: f32,
    },

    /// An image could not be encoded, decoded or written.
    #[error("{file}: image: {detail}")]
    Image {
        /// The path (or a label such as `<memory>` for in-memory encoding).
        file: String,
        /// The encoder's or the file system's complaint.
        detail: String,
    },

    /// Explaining would need more memory than the limit allows (estimated from the graph's
    /// shapes before anything is allocated; see [`crate::memory`]).
    #[error(
        "{what}: explaining one image needs about {} ({detail}), more than the memory limit of {}",
        crate::memory::format_bytes(*.needed),
        crate::memory::format_bytes(*.limit)
    )]
    MemoryLimit {
        /// The model (or graph) at fault.
        what: String,
        /// The estimated bytes for one image.
        needed: u64,
        /// The limit in bytes.
        limit: u64,
        /// The estimate's parts.
        detail: String,
    },

    /// An option this CPU cannot run: `--precision bf16` (or `precision="bf16"`) without
    /// AVX512-BF16. Refused rather than replaced by float32 silently.
    #[error("{option} needs {needs}; this one has neither")]
    Unsupported {
        /// What was asked for, as the user wrote it (`--precision bf16`).
        option: String,
        /// What it needs (`a CPU with AVX512-BF16 or AMX`).
        needs: String,
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
