//! Building a [`Graph`] from a Caffe network: `deploy.prototxt` + `.caffemodel` (+ mean
//! `.binaryproto`).
//!
//! The network definition is parsed ([`prototxt`](super::prototxt)), V1 layers are upgraded
//! ([`normalize_net`]), layers that do not run in the `TEST` phase are dropped (Caffe's
//! `NetStateRule` semantics with state `phase: TEST, level: 0`, no stages), and every remaining
//! layer becomes one [`Node`] named after the layer. Weights are matched to layers by **layer
//! name**.
//!
//! | Caffe layer | node | notes |
//! |---|---|---|
//! | `Input`, `input:`/`input_dim`/`input_shape` | graph input | batch axis dropped |
//! | `Data`, `ImageData`, `MemoryData`, … | graph input | only with `transform_param { crop_size }` (3 channels assumed) |
//! | `Convolution` | [`Op::Conv`] | kernel/stride/pad (`_h`/`_w`), dilation, group, bias_term; 2-D only |
//! | `InnerProduct` | [`Op::Dense`] | flattens C×H×W in Caffe order; `axis: 1` only; `transpose` |
//! | `ReLU` | [`Op::Relu`] | `negative_slope ≠ 0` (leaky ReLU) is an error |
//! | `Pooling` | [`Op::MaxPool`], [`Op::AvgPool`], [`Op::GlobalAvgPool`] | `CeilClip` rounding (Caffe's `CEIL`), `FLOOR`; AVE counts padding; global MAX is a full-size window |
//! | `LRN` | [`Op::Lrn`] | `ACROSS_CHANNELS` only, odd `local_size` |
//! | `Concat` | [`Op::Concat`] | `axis` or legacy `concat_dim`; not the batch axis |
//! | `Dropout` | [`Op::Dropout`] | |
//! | `Softmax` | [`Op::Softmax`] | also GoogLeNet's auxiliary `Softmax` heads with `loss_weight` |
//! | `Split` | — | its tops alias its bottom |
//! | `Eltwise` | [`Op::Add`], [`Op::Mul`] | `SUM` with all coefficients 1, `PROD`; `MAX` and weighted sums are errors |
//! | `BatchNorm` | [`Op::Affine`] | blobs mean·s, var·s, s; `eps` (default 1e-5) |
//! | `Scale` | [`Op::Affine`] | one bottom, `axis: 1`, `num_axes: 1`, optional bias |
//! | `Flatten` | [`Op::Flatten`] | `axis: 1`, `end_axis: -1` only |
//! | `*Loss`, `Accuracy`, `Silence` | — | dropped, with a warning |
//!
//! Any other layer type is an [`Error::Format`] naming the file, the layer and its type.
//!
//! **Tensor names.** Caffe reuses blob names for in-place layers (`top == bottom`, e.g. ReLU).
//! The graph is in SSA form instead: each node writes a tensor named after its layer (made
//! unique with a `#n` suffix if it would clash), and a layer reading a blob reads its newest
//! version. [`CaffeModel::blobs`] maps every Caffe blob name to that newest tensor.
//!
//! **Outputs.** Every tensor that no node reads is a graph output; the last one in file order
//! (the main classifier; GoogLeNet's `loss3/…` after the auxiliary heads `loss1/…` and
//! `loss2/…`) comes first, so `graph.output_ids()[0]` is the main head.
//!
//! **Weights.** Blob shapes must equal what the prototxt implies (`[M, C/group, kh, kw]` and
//! `[M]` for convolutions, `[M, K]` — or `[K, M]` with `transpose: true` — and `[M]` for inner
//! products, `[C]`, `[C]`, `[1]` for BatchNorm, `[C]` for Scale), after dropping the leading
//! 1s of the legacy four-axis shapes of old files (a V1 bias `1×1×1×M` is `[M]`, a V1 inner
//! product weight `1×1×M×K` is `[M, K]`).
//!
//! ```
//! use lrp::import::caffe::{from_net_with_blobs, random_weights};
//! use lrp::import::prototxt::parse_net;
//! let text = r#"
//!     name: "tiny" input: "data" input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }
//!     layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
//!             convolution_param { num_output: 4 kernel_size: 3 stride: 2 } }
//!     layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
//!     layer { name: "fc" type: "InnerProduct" bottom: "conv1" top: "fc"
//!             inner_product_param { num_output: 2 } }
//!     layer { name: "prob" type: "Softmax" bottom: "fc" top: "prob" }"#;
//! let net = parse_net(text, "tiny.prototxt").unwrap().message;
//! let weights = random_weights(&net, 7).unwrap();
//! assert_eq!(weights["conv1"][0].0, vec![4, 3, 3, 3]);
//! let model = from_net_with_blobs(&net, &weights, "tiny.prototxt").unwrap();
//! assert_eq!(model.graph.input_shape(), &[3, 8, 8]);
//! assert_eq!(model.graph.shape("conv1").unwrap(), &[4, 3, 3]);
//! // The in-place ReLU writes its own tensor; `fc` reads it.
//! assert_eq!(model.blobs["conv1"], "relu1");
//! assert_eq!(model.graph.output_shape(), &[2]);
//! assert_eq!(model.logits.as_deref(), Some("fc"));
//! ```

use super::caffe_model::{
    blob_shape, blob_to_array, decode_net, normalize_net, read_mean_image, LayerBlobs,
};
use super::checked_product;
use super::proto::caffe::{
    eltwise_parameter::EltwiseOp, lrn_parameter::NormRegion, pooling_parameter::PoolMethod,
    pooling_parameter::RoundMode, BlobProto, LayerParameter, NetParameter, NetStateRule, Phase,
};
use super::prototxt::read_net;
use crate::error::{Error, NodeRef, Result};
use crate::graph::{Graph, Node};
use crate::ops::{Affine, Concat, Conv2d, Dense, Lrn, Op, Pool2d, PoolRounding, Softmax};
use crate::zoo::rng::Rng;
use ndarray::{Array1, Array2, Array3, ArrayD, Ix2, Ix4, IxDyn};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// Seed of the random weights used when a network is loaded without a caffemodel.
pub const DEFAULT_RANDOM_SEED: u64 = 0;

/// A Caffe network turned into a [`Graph`], with what was learnt on the way.
#[derive(Debug, Clone)]
pub struct CaffeModel {
    /// The network; node names are the Caffe layer names, its name is the prototxt's `name`.
    pub graph: Graph,
    /// Everything that was tolerated: unknown prototxt fields, dropped loss layers and unused
    /// inputs, weights of layers the prototxt lacks, random weights used for lack of a
    /// caffemodel.
    pub warnings: Vec<String>,
    /// The mean image (C×H×W, BGR, 0–255) if one was loaded.
    pub mean: Option<Array3<f32>>,
    /// Caffe blob name → graph tensor holding its final value (the newest version after
    /// in-place layers; the aliased tensor for `Split` tops).
    pub blobs: HashMap<String, String>,
    /// The tensor of the main head's logits: the input of the final `Softmax` of the first
    /// graph output, if that output is a softmax.
    pub logits: Option<String>,
}

impl CaffeModel {
    /// Side length `S` of the square network input `[3, S, S]`, if the input is such a square
    /// image.
    pub fn input_size(&self) -> Option<usize> {
        match self.graph.input_shape() {
            [3, h, w] if h == w => Some(*h),
            _ => None,
        }
    }
}

/// Loads a Caffe network: the definition at `prototxt`, its weights from `caffemodel`
/// (matched by layer name), and optionally the mean image at `mean` (a `.binaryproto`).
///
/// Without a caffemodel the weights are seeded random values ([`random_weights`] with
/// [`DEFAULT_RANDOM_SEED`]) and a warning says so. Errors name the file and the layer.
pub fn load(prototxt: &Path, caffemodel: Option<&Path>, mean: Option<&Path>) -> Result<CaffeModel> {
    let parsed = read_net(prototxt)?;
    let file = prototxt.display().to_string();
    let mut warnings: Vec<String> = parsed.warnings.iter().map(|w| w.to_string()).collect();
    let mut model = match caffemodel {
        Some(path) => {
            let file = path.display().to_string();
            let weights = decode_caffemodel(&super::read_file(path)?, &file)?;
            let source = Source::stored(&weights, path.display().to_string());
            build(&parsed.message, source, &file)?.0
        }
        None => from_net(&parsed.message, None, &file)?,
    };
    warnings.append(&mut model.warnings);
    model.warnings = warnings;
    if let Some(path) = mean {
        model.mean = Some(read_mean_image(path)?);
    }
    Ok(model)
}

/// Builds the network `net` (as parsed from a prototxt, V1 or current format) with the blobs
/// of `weights` (a decoded caffemodel), or seeded random weights when `weights` is `None`.
/// `file` names the data in errors and warnings.
pub fn from_net(
    net: &NetParameter,
    weights: Option<&NetParameter>,
    file: &str,
) -> Result<CaffeModel> {
    match weights {
        Some(w) => Ok(build(net, Source::stored(w, file.to_string()), file)?.0),
        None => {
            let mut model = from_net_random(net, DEFAULT_RANDOM_SEED, file)?;
            model.warnings.push(format!(
                "{file}: no caffemodel given: the weights are random (seed {DEFAULT_RANDOM_SEED})"
            ));
            Ok(model)
        }
    }
}

/// Builds `net` with weights given in memory (layer name → blobs, as [`random_weights`]
/// returns them or as written by
/// [`caffemodel_with_weights`](super::caffe_model::caffemodel_with_weights)).
pub fn from_net_with_blobs(
    net: &NetParameter,
    weights: &HashMap<String, LayerBlobs>,
    file: &str,
) -> Result<CaffeModel> {
    let source = Source::Memory {
        map: weights,
        file: file.to_string(),
    };
    Ok(build(net, source, file)?.0)
}

/// Builds `net` with the weights [`random_weights`] would return for `seed`, without
/// materialising them twice.
pub fn from_net_random(net: &NetParameter, seed: u64, file: &str) -> Result<CaffeModel> {
    let source = Source::Random {
        rng: Rng::new(seed),
        record: None,
        budget: MAX_RANDOM_PARAMS,
        file: file.to_string(),
    };
    Ok(build(net, source, file)?.0)
}

/// Seeded random weights for every layer of `net` that has parameters, in Caffe's blob
/// order and shapes: He-normal weights (std `√(2 / fan_in)`), biases with std 0.01,
/// BatchNorm blobs `mean·s, var·s, s` with `s = 4`, `mean ~ N(0, 0.1²)`, `var ~ U(0.5, 1.5)`,
/// Scale `γ = 1 + N(0, 0.1²)`, `β ~ N(0, 0.1²)`. Layers are visited in file order with one
/// SplitMix64 stream ([`Rng`]), so a seed always gives the same weights.
///
/// Write them into a caffemodel with
/// [`caffemodel_with_weights`](super::caffe_model::caffemodel_with_weights).
pub fn random_weights(net: &NetParameter, seed: u64) -> Result<HashMap<String, LayerBlobs>> {
    let label = net.name.clone().unwrap_or_else(|| "<network>".into());
    let source = Source::Random {
        rng: Rng::new(seed),
        record: Some(HashMap::new()),
        budget: MAX_RANDOM_PARAMS,
        file: label.clone(),
    };
    let (_, source) = build(net, source, &label)?;
    match source {
        Source::Random {
            record: Some(map), ..
        } => Ok(map),
        _ => Ok(HashMap::new()),
    }
}

/// Decodes `.caffemodel` bytes like [`decode_net`]; when the data is truncated or corrupt
/// inside a layer, the error is an [`Error::Format`] naming that layer (its position and, if
/// its name field is intact, its name).
///
/// ```
/// use lrp::import::caffe::decode_caffemodel;
/// use lrp::import::caffe_model::{blob_from, encode_net};
/// use lrp::import::proto::caffe::{LayerParameter, NetParameter};
/// let layer = LayerParameter {
///     name: Some("fc6".into()),
///     blobs: vec![blob_from(&[4], &[1.0; 4]).unwrap()],
///     ..Default::default()
/// };
/// let bytes = encode_net(&NetParameter { layer: vec![layer], ..Default::default() });
/// let err = decode_caffemodel(&bytes[..bytes.len() - 3], "w.caffemodel").unwrap_err();
/// assert!(err.to_string().contains("w.caffemodel"));
/// assert!(err.to_string().contains("`fc6`"));
/// ```
pub fn decode_caffemodel(bytes: &[u8], file: &str) -> Result<NetParameter> {
    decode_net(bytes, file).map_err(|e| match locate_bad_layer(bytes) {
        Some((index, name)) => format_error(
            file,
            &match name {
                Some(name) => format!("layer {index} `{name}` of the caffemodel"),
                None => format!("layer {index} (name unreadable) of the caffemodel"),
            },
            format!("the data ends or breaks inside this layer (truncated file?): {e}"),
        ),
        None => e,
    })
}

/// Walks the top-level fields of an encoded `NetParameter` and returns the position and,
/// if readable, the name of the first layer (field 100, or V1 field 2) whose bytes run past
/// the end of the data or do not decode.
fn locate_bad_layer(bytes: &[u8]) -> Option<(usize, Option<String>)> {
    use prost::encoding::decode_varint;
    use prost::Message;
    let mut buf = bytes;
    let mut index = 0;
    while !buf.is_empty() {
        let key = decode_varint(&mut buf).ok()?;
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                decode_varint(&mut buf).ok()?;
            }
            1 | 5 => {
                let n = if wire == 1 { 8 } else { 4 };
                buf = buf.get(n..)?;
            }
            2 => {
                let len = usize::try_from(decode_varint(&mut buf).ok()?).ok()?;
                let avail = len.min(buf.len());
                let body = &buf[..avail];
                if field == 100 || field == 2 {
                    let name_field = if field == 100 { 1 } else { 4 };
                    let broken = len > buf.len()
                        || if field == 100 {
                            LayerParameter::decode(body).is_err()
                        } else {
                            super::proto::caffe::V1LayerParameter::decode(body).is_err()
                        };
                    if broken {
                        return Some((index, partial_string_field(body, name_field)));
                    }
                    index += 1;
                }
                if len > buf.len() {
                    return None;
                }
                buf = &buf[len..];
            }
            _ => return None,
        }
    }
    None
}

/// The first complete string field `number` of a possibly truncated message.
fn partial_string_field(mut buf: &[u8], number: u64) -> Option<String> {
    use prost::encoding::decode_varint;
    while !buf.is_empty() {
        let key = decode_varint(&mut buf).ok()?;
        match key & 7 {
            0 => {
                decode_varint(&mut buf).ok()?;
            }
            1 => buf = buf.get(8..)?,
            5 => buf = buf.get(4..)?,
            2 => {
                let len = usize::try_from(decode_varint(&mut buf).ok()?).ok()?;
                let body = buf.get(..len)?;
                if key >> 3 == number {
                    return String::from_utf8(body.to_vec()).ok();
                }
                buf = &buf[len..];
            }
            _ => return None,
        }
    }
    None
}

fn format_error(file: &str, what: &str, detail: impl Into<String>) -> Error {
    Error::Format {
        file: file.to_string(),
        layer: what.to_string(),
        detail: detail.into(),
    }
}

fn layer_label(layer: &LayerParameter) -> String {
    format!("layer `{}` ({})", layer.name(), layer.r#type())
}

/// Whether a `NetStateRule` is met by the deploy state (phase TEST, level 0, no stages).
fn rule_met(rule: &NetStateRule) -> bool {
    if rule.phase.is_some_and(|p| p != Phase::Test as i32) {
        return false;
    }
    if rule.min_level.is_some_and(|m| m > 0) || rule.max_level.is_some_and(|m| m < 0) {
        return false;
    }
    // The state has no stages: a rule requiring one fails, `not_stage` always passes.
    rule.stage.is_empty()
}

/// Caffe's `StateMeetsRule` filtering: with `include` rules the layer runs iff one is met,
/// otherwise it runs unless an `exclude` rule is met.
fn runs_in_test_phase(layer: &LayerParameter) -> bool {
    if !layer.include.is_empty() {
        layer.include.iter().any(rule_met)
    } else {
        !layer.exclude.iter().any(rule_met)
    }
}

fn is_dropped_type(t: &str) -> bool {
    t.ends_with("Loss") || matches!(t, "Accuracy" | "Silence")
}

fn is_data_type(t: &str) -> bool {
    matches!(
        t,
        "Data" | "ImageData" | "MemoryData" | "HDF5Data" | "WindowData" | "DummyData"
    )
}

/// How a parameter blob is drawn by the random source.
#[derive(Debug, Clone, Copy)]
enum Init {
    He(usize),
    Bias,
    BnMean,
    BnVar,
    BnFactor,
    Gamma,
    Beta,
}

/// Most random parameter values drawn for one network, all blobs together (2²⁸ values,
/// 1 GiB): the prototxt alone declares these sizes, so they are bounded before anything is
/// allocated. VGG-16, the largest network of the zoo, has 1.4·10⁸ parameters. (A per-blob
/// limit alone let a 300-byte prototxt ask for 3.6 GB, found by the `prototxt` fuzz target.)
pub const MAX_RANDOM_PARAMS: usize = 1 << 28;

/// Scale factor `s` of the random BatchNorm blobs.
const RANDOM_BN_FACTOR: f32 = 4.0;

/// A blob a layer needs: its stored shape and how to draw it at random.
struct Want {
    shape: Vec<usize>,
    init: Init,
}

/// Where parameter blobs come from.
enum Source<'a> {
    /// A decoded caffemodel (current and V1 layers alike), by layer name.
    Stored {
        layers: HashMap<&'a str, &'a [BlobProto]>,
        used: HashSet<String>,
        file: String,
    },
    /// Blobs given in memory, by layer name.
    Memory {
        map: &'a HashMap<String, LayerBlobs>,
        file: String,
    },
    /// Seeded random values; recorded when `record` is set.
    Random {
        rng: Rng,
        record: Option<HashMap<String, LayerBlobs>>,
        /// Values that may still be drawn (starts at [`MAX_RANDOM_PARAMS`]).
        budget: usize,
        /// The network definition's file, named in errors.
        file: String,
    },
}

impl<'a> Source<'a> {
    fn stored(net: &'a NetParameter, file: String) -> Self {
        let mut layers: HashMap<&str, &[BlobProto]> = HashMap::new();
        for l in &net.layer {
            if !l.blobs.is_empty() {
                layers.insert(l.name(), &l.blobs);
            }
        }
        for l in &net.layers {
            if !l.blobs.is_empty() {
                layers.entry(l.name()).or_insert(&l.blobs);
            }
        }
        Source::Stored {
            layers,
            used: HashSet::new(),
            file,
        }
    }

    /// The blobs of `layer`, checked against `wants`, as arrays of the wanted shapes.
    fn fetch(&mut self, layer: &LayerParameter, wants: &[Want]) -> Result<Vec<ArrayD<f32>>> {
        let label = layer_label(layer);
        let describe = || {
            wants
                .iter()
                .map(|w| format!("{:?}", w.shape))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Source::Random {
                rng,
                record,
                budget,
                file,
            } => {
                let mut out = Vec::with_capacity(wants.len());
                for w in wants {
                    let n = checked_product(&w.shape)
                        .filter(|&n| n <= *budget)
                        .ok_or_else(|| {
                            format_error(
                                file,
                                &label,
                                format!(
                                    "random weights: blob shape {:?} would take the random \
                                     weights of the network beyond {MAX_RANDOM_PARAMS} values",
                                    w.shape
                                ),
                            )
                        })?;
                    *budget -= n;
                    let data: Vec<f32> = match w.init {
                        Init::He(fan_in) => {
                            let std = (2.0 / fan_in.max(1) as f32).sqrt();
                            (0..n).map(|_| rng.normal() * std).collect()
                        }
                        Init::Bias => (0..n).map(|_| rng.normal() * 0.01).collect(),
                        Init::BnMean => (0..n)
                            .map(|_| rng.normal() * 0.1 * RANDOM_BN_FACTOR)
                            .collect(),
                        Init::BnVar => (0..n)
                            .map(|_| (0.5 + rng.uniform()) * RANDOM_BN_FACTOR)
                            .collect(),
                        Init::BnFactor => vec![RANDOM_BN_FACTOR; n],
                        Init::Gamma => (0..n).map(|_| 1.0 + rng.normal() * 0.1).collect(),
                        Init::Beta => (0..n).map(|_| rng.normal() * 0.1).collect(),
                    };
                    if let Some(map) = record {
                        map.entry(layer.name().to_string())
                            .or_default()
                            .push((w.shape.clone(), data.clone()));
                    }
                    out.push(
                        ArrayD::from_shape_vec(IxDyn(&w.shape), data)
                            .map_err(|e| format_error(file, &label, e.to_string()))?,
                    );
                }
                Ok(out)
            }
            Source::Stored { layers, used, file } => {
                let blobs: &[BlobProto] = match layers.get(layer.name()) {
                    Some(b) => b,
                    None if !layer.blobs.is_empty() => &layer.blobs,
                    None => {
                        return Err(format_error(
                            file,
                            &label,
                            format!(
                                "the caffemodel has no blobs for this layer \
                             (it needs {} blob(s): {})",
                                wants.len(),
                                describe()
                            ),
                        ))
                    }
                };
                used.insert(layer.name().to_string());
                if blobs.len() != wants.len() {
                    return Err(format_error(
                        file,
                        &label,
                        format!(
                            "the caffemodel has {} blob(s) for this layer, \
                             the prototxt implies {}: {}",
                            blobs.len(),
                            wants.len(),
                            describe()
                        ),
                    ));
                }
                let mut out = Vec::with_capacity(wants.len());
                for (i, (blob, want)) in blobs.iter().zip(wants).enumerate() {
                    let what = format!("{label} blob {i}");
                    let got = blob_shape(blob, file, &what)?;
                    check_shape(&got, &want.shape, file, &what)?;
                    let array = blob_to_array(blob, file, &what)?;
                    out.push(
                        array
                            .into_shape_with_order(IxDyn(&want.shape))
                            .map_err(|e| format_error(file, &what, e.to_string()))?,
                    );
                }
                Ok(out)
            }
            Source::Memory { map, file } => {
                let blobs = map.get(layer.name()).ok_or_else(|| {
                    format_error(
                        file,
                        &label,
                        format!(
                            "no weights given for this layer (it needs {} blob(s): {})",
                            wants.len(),
                            describe()
                        ),
                    )
                })?;
                if blobs.len() != wants.len() {
                    return Err(format_error(
                        file,
                        &label,
                        format!(
                            "{} blob(s) given, the prototxt implies {}: {}",
                            blobs.len(),
                            wants.len(),
                            describe()
                        ),
                    ));
                }
                let mut out = Vec::with_capacity(wants.len());
                for (i, ((shape, data), want)) in blobs.iter().zip(wants).enumerate() {
                    let what = format!("{label} blob {i}");
                    check_shape(shape, &want.shape, file, &what)?;
                    if checked_product(shape) != Some(data.len()) {
                        return Err(format_error(
                            file,
                            &what,
                            format!("shape {shape:?} but {} values", data.len()),
                        ));
                    }
                    out.push(
                        ArrayD::from_shape_vec(IxDyn(&want.shape), data.clone())
                            .map_err(|e| format_error(file, &what, e.to_string()))?,
                    );
                }
                Ok(out)
            }
        }
    }
}

/// Compares a stored blob shape with the shape the prototxt implies, ignoring the leading 1s
/// of legacy four-axis shapes.
fn check_shape(got: &[usize], want: &[usize], file: &str, what: &str) -> Result<()> {
    let mut g = got;
    while g.len() > want.len() && g.first() == Some(&1) {
        g = &g[1..];
    }
    if g == want {
        Ok(())
    } else {
        Err(format_error(
            file,
            what,
            format!("the caffemodel blob has shape {got:?}, the prototxt implies {want:?}"),
        ))
    }
}

/// `[h, w]` from a repeated field or its `_h`/`_w` variants (Caffe's 2-D convolution rules).
fn conv_hw(
    rep: &[u32],
    h: Option<u32>,
    w: Option<u32>,
    default: Option<usize>,
    what: &str,
) -> std::result::Result<[usize; 2], String> {
    if h.is_some() || w.is_some() {
        if !rep.is_empty() {
            return Err(format!(
                "`{what}` is given both as {what}_h/{what}_w and as {what}"
            ));
        }
        return match (h, w) {
            (Some(h), Some(w)) => Ok([h as usize, w as usize]),
            _ => Err(format!("{what}_h and {what}_w must be given together")),
        };
    }
    match (rep, default) {
        ([], Some(d)) => Ok([d, d]),
        ([], None) => Err(format!("`{what}` is required")),
        ([a], _) => Ok([*a as usize; 2]),
        ([a, b], _) => Ok([*a as usize, *b as usize]),
        _ => Err(format!(
            "{} values of `{what}`; a 2-D convolution takes 1 or 2",
            rep.len()
        )),
    }
}

/// `[h, w]` from a pooling field and its `_h`/`_w` variants.
fn pool_hw(
    one: Option<u32>,
    h: Option<u32>,
    w: Option<u32>,
    default: Option<usize>,
    what: &str,
) -> std::result::Result<[usize; 2], String> {
    if h.is_some() || w.is_some() {
        if one.is_some() {
            return Err(format!(
                "`{what}` is given both as {what}_h/{what}_w and as {what}"
            ));
        }
        return match (h, w) {
            (Some(h), Some(w)) => Ok([h as usize, w as usize]),
            _ => Err(format!("{what}_h and {what}_w must be given together")),
        };
    }
    match (one, default) {
        (Some(v), _) => Ok([v as usize; 2]),
        (None, Some(d)) => Ok([d, d]),
        (None, None) => Err(format!("`{what}` is required")),
    }
}

/// Caffe's `CanonicalAxisIndex` for a blob of `rank` axes (batch included).
fn canonical_axis(axis: i32, rank: usize) -> Option<usize> {
    let r = i64::try_from(rank).ok()?;
    let a = i64::from(axis);
    let a = if a < 0 { a + r } else { a };
    if (0..r).contains(&a) {
        usize::try_from(a).ok()
    } else {
        None
    }
}

/// The graph under construction.
struct Builder<'a> {
    file: &'a str,
    source: Source<'a>,
    warnings: Vec<String>,
    inputs: Vec<(String, Vec<usize>)>,
    nodes: Vec<Node>,
    shapes: HashMap<String, Vec<usize>>,
    current: HashMap<String, String>,
    node_names: HashSet<String>,
}

fn build<'a>(
    net: &NetParameter,
    source: Source<'a>,
    file: &'a str,
) -> Result<(CaffeModel, Source<'a>)> {
    let net = normalize_net(net.clone(), file)?;
    let mut b = Builder {
        file,
        source,
        warnings: Vec::new(),
        inputs: Vec::new(),
        nodes: Vec::new(),
        shapes: HashMap::new(),
        current: HashMap::new(),
        node_names: HashSet::new(),
    };
    b.declared_inputs(&net)?;
    for (index, layer) in net.layer.iter().enumerate() {
        if !runs_in_test_phase(layer) {
            continue;
        }
        b.layer(index, layer)?;
    }
    let model = b.finish(&net)?;
    Ok((model, b.source))
}

impl Builder<'_> {
    fn err(&self, layer: &LayerParameter, detail: impl Into<String>) -> Error {
        format_error(self.file, &layer_label(layer), detail)
    }

    /// Registers a graph input from a declared batch-first shape.
    fn add_input(&mut self, name: &str, declared: &[usize], what: &str) -> Result<()> {
        if declared.len() < 2 || declared.contains(&0) {
            return Err(format_error(
                self.file,
                what,
                format!(
                    "input `{name}` has shape {declared:?}; expected a batch axis \
                     and at least one more, none empty"
                ),
            ));
        }
        if self.current.contains_key(name) {
            return Err(format_error(
                self.file,
                what,
                format!("input `{name}` is declared twice"),
            ));
        }
        let shape = declared[1..].to_vec();
        self.inputs.push((name.to_string(), shape.clone()));
        self.shapes.insert(name.to_string(), shape);
        self.current.insert(name.to_string(), name.to_string());
        Ok(())
    }

    /// The `input:` declarations of the network (not the `Input` layers).
    fn declared_inputs(&mut self, net: &NetParameter) -> Result<()> {
        let without_layers = NetParameter {
            input: net.input.clone(),
            input_dim: net.input_dim.clone(),
            input_shape: net.input_shape.clone(),
            ..NetParameter::default()
        };
        for input in super::caffe_model::net_inputs(&without_layers, self.file)? {
            self.add_input(&input.name, &input.shape, "network inputs")?;
        }
        Ok(())
    }

    /// A fresh tensor name for the output of layer `name`.
    fn tensor_name(&self, name: &str) -> String {
        let taken = |t: &str| self.shapes.contains_key(t);
        if !taken(name) {
            return name.to_string();
        }
        (2..)
            .map(|i| format!("{name}#{i}"))
            .find(|t| !taken(t))
            .unwrap_or_else(|| name.to_string())
    }

    fn layer(&mut self, index: usize, layer: &LayerParameter) -> Result<()> {
        let ty = layer.r#type();
        if ty == "Input" {
            let shapes = layer
                .input_param
                .as_ref()
                .map(|p| p.shape.clone())
                .unwrap_or_default();
            if shapes.len() != layer.top.len() && shapes.len() != 1 {
                return Err(self.err(
                    layer,
                    format!(
                        "{} tops but {} shapes (need one per top, or one)",
                        layer.top.len(),
                        shapes.len()
                    ),
                ));
            }
            for (i, top) in layer.top.iter().enumerate() {
                let dims = &shapes[if shapes.len() == 1 { 0 } else { i }].dim;
                let dims: Vec<usize> = dims
                    .iter()
                    .map(|&d| usize::try_from(d))
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|_| self.err(layer, format!("negative dimension in {dims:?}")))?;
                self.add_input(top, &dims, &layer_label(layer))?;
            }
            return Ok(());
        }
        if is_data_type(ty) {
            let crop = layer
                .transform_param
                .as_ref()
                .and_then(|t| t.crop_size)
                .unwrap_or(0) as usize;
            let top = layer
                .top
                .first()
                .ok_or_else(|| self.err(layer, "has no top"))?;
            if crop == 0 {
                return Err(self.err(
                    layer,
                    "a data layer without `transform_param { crop_size }` does not say the input \
                     shape; use the deploy prototxt (with `input`/`Input`)",
                ));
            }
            self.warnings.push(format!(
                "{}: {}: taken as input `{top}` of shape [3, {crop}, {crop}] (3 channels assumed)",
                self.file,
                layer_label(layer)
            ));
            return self.add_input(top, &[1, 3, crop, crop], &layer_label(layer));
        }
        if is_dropped_type(ty) {
            self.warnings.push(format!(
                "{}: {}: dropped (not needed for inference)",
                self.file,
                layer_label(layer)
            ));
            return Ok(());
        }

        let mut bottoms = Vec::with_capacity(layer.bottom.len());
        for blob in &layer.bottom {
            let t = self.current.get(blob).cloned().ok_or_else(|| {
                self.err(
                    layer,
                    format!("reads blob `{blob}`, which no earlier layer or input produces"),
                )
            })?;
            bottoms.push(t);
        }
        if ty == "Split" {
            let [bottom] = bottoms.as_slice() else {
                return Err(self.err(layer, format!("needs 1 bottom, has {}", bottoms.len())));
            };
            let bottom = bottom.clone();
            for top in &layer.top {
                self.current.insert(top.clone(), bottom.clone());
            }
            return Ok(());
        }

        let name = if layer.name().is_empty() {
            let generated = format!("{ty}#{index}");
            self.warnings.push(format!(
                "{}: layer {index} ({ty}) has no name; called `{generated}`",
                self.file
            ));
            generated
        } else {
            layer.name().to_string()
        };
        if self.node_names.contains(&name) {
            return Err(self.err(layer, "a layer of this name already exists"));
        }
        if layer.top.len() != 1 {
            return Err(self.err(layer, format!("needs 1 top, has {}", layer.top.len())));
        }
        let in_shapes: Vec<Vec<usize>> = bottoms.iter().map(|t| self.shapes[t].clone()).collect();
        let op = self.op(layer, &in_shapes)?;
        let node = NodeRef::new(name.clone(), op.kind());
        let refs: Vec<&[usize]> = in_shapes.iter().map(Vec::as_slice).collect();
        let shape = op
            .output_shape(&node, &refs)
            .map_err(|e| self.err(layer, e.to_string()))?;
        if shape.contains(&0) {
            return Err(self.err(
                layer,
                format!("produces an empty tensor of shape {shape:?}"),
            ));
        }
        let out = self.tensor_name(&name);
        self.shapes.insert(out.clone(), shape);
        self.current.insert(layer.top[0].clone(), out.clone());
        self.node_names.insert(name.clone());
        self.nodes.push(Node {
            name,
            op,
            inputs: bottoms,
            output: out,
        });
        Ok(())
    }

    /// The operator of a computing layer, with its weights.
    fn op(&mut self, layer: &LayerParameter, inputs: &[Vec<usize>]) -> Result<Op> {
        let ty = layer.r#type();
        let one_input = |this: &Self| -> Result<Vec<usize>> {
            match inputs {
                [x] => Ok(x.clone()),
                _ => Err(this.err(layer, format!("needs 1 bottom, has {}", inputs.len()))),
            }
        };
        match ty {
            "Convolution" => {
                let x = one_input(self)?;
                let p = layer.convolution_param.clone().unwrap_or_default();
                let [c, _, _] = x.as_slice() else {
                    return Err(self.err(
                        layer,
                        format!("needs a C×H×W input, got per-sample shape {x:?}"),
                    ));
                };
                let c = *c;
                if p.axis() != 1 {
                    return Err(self.err(layer, format!("axis {} unsupported (only 1)", p.axis())));
                }
                let e = |d: String| self.err(layer, d);
                let kernel =
                    conv_hw(&p.kernel_size, p.kernel_h, p.kernel_w, None, "kernel").map_err(e)?;
                let stride =
                    conv_hw(&p.stride, p.stride_h, p.stride_w, Some(1), "stride").map_err(e)?;
                let pad = conv_hw(&p.pad, p.pad_h, p.pad_w, Some(0), "pad").map_err(e)?;
                let dilation = conv_hw(&p.dilation, None, None, Some(1), "dilation").map_err(e)?;
                let m = p.num_output.unwrap_or(0) as usize;
                let g = p.group() as usize;
                if m == 0 {
                    return Err(self.err(layer, "num_output must be given and positive"));
                }
                if g == 0 || c % g != 0 || m % g != 0 {
                    return Err(self.err(
                        layer,
                        format!("group {g} must divide the input channels {c} and num_output {m}"),
                    ));
                }
                if kernel.contains(&0) || stride.contains(&0) || dilation.contains(&0) {
                    return Err(self.err(
                        layer,
                        format!(
                            "kernel {kernel:?}, stride {stride:?} and dilation {dilation:?} must be positive"
                        ),
                    ));
                }
                let fan_in = c / g * kernel[0] * kernel[1];
                let mut wants = vec![Want {
                    shape: vec![m, c / g, kernel[0], kernel[1]],
                    init: Init::He(fan_in),
                }];
                if p.bias_term() {
                    wants.push(Want {
                        shape: vec![m],
                        init: Init::Bias,
                    });
                }
                let mut blobs = self.source.fetch(layer, &wants)?.into_iter();
                let w = blobs
                    .next()
                    .and_then(|w| w.into_dimensionality::<Ix4>().ok())
                    .ok_or_else(|| self.err(layer, "weight blob is not 4-D"))?;
                let bias = blobs.next().map(|b| Array1::from_iter(b.iter().copied()));
                let mut conv = Conv2d::new(w, bias).with_groups(g);
                conv.stride = stride;
                conv.dilation = dilation;
                conv.pads = [pad[0], pad[1], pad[0], pad[1]];
                Ok(Op::Conv(conv))
            }
            "InnerProduct" => {
                let x = one_input(self)?;
                let p = layer.inner_product_param.clone().unwrap_or_default();
                if canonical_axis(p.axis(), x.len() + 1) != Some(1) {
                    return Err(self.err(
                        layer,
                        format!("axis {} unsupported (only 1: flatten C×H×W)", p.axis()),
                    ));
                }
                let k =
                    checked_product(&x).ok_or_else(|| self.err(layer, "input size overflows"))?;
                let m = p.num_output.unwrap_or(0) as usize;
                if m == 0 {
                    return Err(self.err(layer, "num_output must be given and positive"));
                }
                let transpose = p.transpose();
                let mut wants = vec![Want {
                    shape: if transpose { vec![k, m] } else { vec![m, k] },
                    init: Init::He(k),
                }];
                if p.bias_term() {
                    wants.push(Want {
                        shape: vec![m],
                        init: Init::Bias,
                    });
                }
                let mut blobs = self.source.fetch(layer, &wants)?.into_iter();
                let w: Array2<f32> = blobs
                    .next()
                    .and_then(|w| w.into_dimensionality::<Ix2>().ok())
                    .ok_or_else(|| self.err(layer, "weight blob is not 2-D"))?;
                let w = if transpose {
                    w.t().as_standard_layout().into_owned()
                } else {
                    w
                };
                let bias = blobs.next().map(|b| Array1::from_iter(b.iter().copied()));
                Ok(Op::Dense(Dense::new(w, bias)))
            }
            "ReLU" => {
                one_input(self)?;
                let slope = layer
                    .relu_param
                    .as_ref()
                    .map_or(0.0, |p| p.negative_slope());
                if slope != 0.0 {
                    return Err(self.err(
                        layer,
                        format!("leaky ReLU unsupported (negative_slope = {slope})"),
                    ));
                }
                Ok(Op::Relu)
            }
            "Pooling" => {
                let x = one_input(self)?;
                let [_, h, w] = x.as_slice() else {
                    return Err(self.err(
                        layer,
                        format!("needs a C×H×W input, got per-sample shape {x:?}"),
                    ));
                };
                let p = layer.pooling_param.unwrap_or_default();
                let method = p.pool();
                let e = |d: String| self.err(layer, d);
                if p.global_pooling() {
                    if p.kernel_size.is_some() || p.kernel_h.is_some() || p.kernel_w.is_some() {
                        return Err(self.err(layer, "global pooling takes no kernel size"));
                    }
                    return match method {
                        PoolMethod::Ave => Ok(Op::GlobalAvgPool),
                        PoolMethod::Max => Ok(Op::MaxPool(Pool2d::new([*h, *w], [1, 1]))),
                        PoolMethod::Stochastic => {
                            Err(self.err(layer, "STOCHASTIC pooling unsupported"))
                        }
                    };
                }
                let kernel = pool_hw(p.kernel_size, p.kernel_h, p.kernel_w, None, "kernel_size")
                    .map_err(e)?;
                let stride =
                    pool_hw(p.stride, p.stride_h, p.stride_w, Some(1), "stride").map_err(e)?;
                let pad = pool_hw(p.pad, p.pad_h, p.pad_w, Some(0), "pad").map_err(e)?;
                let rounding = match p.round_mode() {
                    RoundMode::Ceil => PoolRounding::CeilClip,
                    RoundMode::Floor => PoolRounding::Floor,
                };
                let pool = Pool2d::new(kernel, stride)
                    .with_pads([pad[0], pad[1], pad[0], pad[1]])
                    .with_rounding(rounding);
                match method {
                    PoolMethod::Max => Ok(Op::MaxPool(pool)),
                    PoolMethod::Ave => Ok(Op::AvgPool(pool.with_count_include_pad(true))),
                    PoolMethod::Stochastic => {
                        Err(self.err(layer, "STOCHASTIC pooling unsupported"))
                    }
                }
            }
            "LRN" => {
                one_input(self)?;
                let p = layer.lrn_param.unwrap_or_default();
                if p.norm_region() != NormRegion::AcrossChannels {
                    return Err(self.err(
                        layer,
                        "WITHIN_CHANNEL normalisation unsupported (only ACROSS_CHANNELS)",
                    ));
                }
                let size = p.local_size() as usize;
                if size % 2 == 0 {
                    return Err(self.err(
                        layer,
                        format!("local_size {size} must be odd, as Caffe requires"),
                    ));
                }
                Ok(Op::Lrn(Lrn::new(size, p.alpha(), p.beta(), p.k())))
            }
            "Concat" => {
                let rank = inputs.first().map_or(1, Vec::len) + 1;
                let p = layer.concat_param.unwrap_or_default();
                let axis = match (p.axis, p.concat_dim) {
                    (Some(a), _) => a,
                    (None, Some(d)) => i32::try_from(d).unwrap_or(i32::MAX),
                    (None, None) => 1,
                };
                match canonical_axis(axis, rank) {
                    Some(a) if a >= 1 => Ok(Op::Concat(Concat::new(a - 1))),
                    Some(_) => {
                        Err(self.err(layer, "concatenation along the batch axis unsupported"))
                    }
                    None => Err(self.err(
                        layer,
                        format!("axis {axis} out of range for inputs of rank {rank}"),
                    )),
                }
            }
            "Dropout" => {
                one_input(self)?;
                Ok(Op::Dropout)
            }
            "Softmax" => {
                let x = one_input(self)?;
                let axis = layer.softmax_param.as_ref().map_or(1, |p| p.axis());
                match canonical_axis(axis, x.len() + 1) {
                    Some(a) if a >= 1 => Ok(Op::Softmax(Softmax::new(a - 1))),
                    _ => Err(self.err(
                        layer,
                        format!("axis {axis} unsupported for per-sample shape {x:?}"),
                    )),
                }
            }
            "Eltwise" => {
                let p = layer.eltwise_param.clone().unwrap_or_default();
                match p.operation() {
                    EltwiseOp::Sum if p.coeff.iter().all(|&c| c == 1.0) => Ok(Op::Add),
                    EltwiseOp::Sum => Err(self.err(
                        layer,
                        format!("weighted sums unsupported (coeff {:?})", p.coeff),
                    )),
                    EltwiseOp::Prod => Ok(Op::Mul),
                    EltwiseOp::Max => Err(self.err(layer, "Eltwise MAX unsupported")),
                }
            }
            "BatchNorm" => {
                let x = one_input(self)?;
                let c = *x
                    .first()
                    .ok_or_else(|| self.err(layer, "needs an input with channels"))?;
                let p = layer.batch_norm_param.unwrap_or_default();
                if p.use_global_stats == Some(false) {
                    return Err(self.err(
                        layer,
                        "use_global_stats: false (batch statistics) unsupported at inference",
                    ));
                }
                let wants = [
                    Want {
                        shape: vec![c],
                        init: Init::BnMean,
                    },
                    Want {
                        shape: vec![c],
                        init: Init::BnVar,
                    },
                    Want {
                        shape: vec![1],
                        init: Init::BnFactor,
                    },
                ];
                let blobs = self.source.fetch(layer, &wants)?;
                let s = blobs[2].iter().next().copied().unwrap_or(0.0);
                // Caffe: a zero scale factor means zero statistics.
                let inv = if s == 0.0 { 0.0 } else { 1.0 / s };
                let mean: Vec<f32> = blobs[0].iter().map(|v| v * inv).collect();
                let var: Vec<f32> = blobs[1].iter().map(|v| v * inv).collect();
                let node = NodeRef::new(layer.name(), "Affine");
                let ones = vec![1.0; c];
                let zeros = vec![0.0; c];
                let affine = Affine::from_batch_norm(&node, &ones, &zeros, &mean, &var, p.eps())
                    .map_err(|e| self.err(layer, e.to_string()))?;
                Ok(Op::Affine(affine))
            }
            "Scale" => {
                let x = one_input(self)?;
                let p = layer.scale_param.clone().unwrap_or_default();
                if canonical_axis(p.axis(), x.len() + 1) != Some(1) || p.num_axes() != 1 {
                    return Err(self.err(
                        layer,
                        format!(
                            "axis {} num_axes {} unsupported (only per-channel: 1, 1)",
                            p.axis(),
                            p.num_axes()
                        ),
                    ));
                }
                let c = *x
                    .first()
                    .ok_or_else(|| self.err(layer, "needs an input with channels"))?;
                let mut wants = vec![Want {
                    shape: vec![c],
                    init: Init::Gamma,
                }];
                if p.bias_term() {
                    wants.push(Want {
                        shape: vec![c],
                        init: Init::Beta,
                    });
                }
                let mut blobs = self.source.fetch(layer, &wants)?.into_iter();
                let gamma = blobs
                    .next()
                    .map(|b| Array1::from_iter(b.iter().copied()))
                    .unwrap_or_else(|| Array1::ones(c));
                let beta = blobs
                    .next()
                    .map(|b| Array1::from_iter(b.iter().copied()))
                    .unwrap_or_else(|| Array1::zeros(c));
                Ok(Op::Affine(Affine::new(gamma, beta)))
            }
            "Flatten" => {
                let x = one_input(self)?;
                let p = layer.flatten_param.unwrap_or_default();
                let rank = x.len() + 1;
                if canonical_axis(p.axis(), rank) != Some(1)
                    || canonical_axis(p.end_axis(), rank) != Some(rank - 1)
                {
                    return Err(self.err(
                        layer,
                        format!(
                            "axis {} end_axis {} unsupported (only 1, -1)",
                            p.axis(),
                            p.end_axis()
                        ),
                    ));
                }
                Ok(Op::Flatten)
            }
            other => Err(self.err(layer, format!("unsupported layer type `{other}`"))),
        }
    }

    fn finish(&mut self, net: &NetParameter) -> Result<CaffeModel> {
        let mut consumers: HashMap<&str, usize> = HashMap::new();
        for n in &self.nodes {
            for t in &n.inputs {
                *consumers.entry(t.as_str()).or_default() += 1;
            }
        }
        let mut outputs: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| !consumers.contains_key(n.output.as_str()))
            .map(|n| n.output.clone())
            .collect();
        if let Some(main) = outputs.pop() {
            outputs.insert(0, main);
        } else {
            return Err(format_error(self.file, "network", "has no computing layer"));
        }
        let unused: Vec<String> = self
            .inputs
            .iter()
            .filter(|(n, _)| !consumers.contains_key(n.as_str()))
            .map(|(n, _)| n.clone())
            .collect();
        for name in &unused {
            self.warnings.push(format!(
                "{}: input `{name}` is read by no layer; left out of the graph",
                self.file
            ));
        }
        let inputs: Vec<(String, Vec<usize>)> = self
            .inputs
            .iter()
            .filter(|(n, _)| !unused.contains(n))
            .cloned()
            .collect();
        if inputs.is_empty() {
            return Err(format_error(
                self.file,
                "network",
                "has no input that a layer reads",
            ));
        }
        if let Source::Stored { layers, used, file } = &self.source {
            let mut extra: Vec<&str> = layers
                .keys()
                .filter(|k| !used.contains(**k))
                .copied()
                .collect();
            if !extra.is_empty() {
                extra.sort_unstable();
                let shown: Vec<&str> = extra.iter().take(5).copied().collect();
                self.warnings.push(format!(
                    "{file}: blobs of {} layer(s) not used by the network: {}{}",
                    extra.len(),
                    shown.join(", "),
                    if extra.len() > 5 { ", ..." } else { "" }
                ));
            }
        }
        let nodes = std::mem::take(&mut self.nodes);
        let logits = nodes
            .iter()
            .find(|n| n.output == outputs[0])
            .and_then(|n| match n.op {
                Op::Softmax(_) => n.inputs.first().cloned(),
                _ => None,
            });
        let out_refs: Vec<&str> = outputs.iter().map(String::as_str).collect();
        let mut graph = Graph::new(inputs, nodes, &out_refs)
            .map_err(|e| format_error(self.file, "network", e.to_string()))?;
        graph.set_name(net.name());
        Ok(CaffeModel {
            graph,
            warnings: std::mem::take(&mut self.warnings),
            mean: None,
            blobs: std::mem::take(&mut self.current),
            logits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::prototxt::parse_net;

    fn net(text: &str) -> NetParameter {
        parse_net(text, "t.prototxt").unwrap().message
    }

    #[test]
    fn phase_rules_follow_caffe() {
        let n = net(r#"input: "data" input_shape { dim: 1 dim: 2 }
            layer { name: "a" type: "ReLU" bottom: "data" top: "a" include { phase: TRAIN } }
            layer { name: "b" type: "ReLU" bottom: "data" top: "b" exclude { phase: TEST } }
            layer { name: "c" type: "ReLU" bottom: "data" top: "c" include { phase: TEST } }
            layer { name: "d" type: "ReLU" bottom: "c" top: "d" exclude { phase: TRAIN } }"#);
        let m = from_net_random(&n, 1, "t").unwrap();
        let names: Vec<&str> = m.graph.nodes().iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["c", "d"]);
    }

    #[test]
    fn legacy_blob_shapes_are_squeezed() {
        assert!(check_shape(&[1, 1, 1, 5], &[5], "f", "b").is_ok());
        assert!(check_shape(&[1, 1, 4, 6], &[4, 6], "f", "b").is_ok());
        assert!(check_shape(&[1, 1, 1, 6], &[1, 6], "f", "b").is_ok());
        assert!(check_shape(&[2, 1, 1, 5], &[5], "f", "b").is_err());
        assert!(check_shape(&[6, 4], &[4, 6], "f", "b").is_err());
    }

    #[test]
    fn transposed_inner_product_and_batch_norm() {
        let n = net(r#"input: "data" input_shape { dim: 1 dim: 2 dim: 1 dim: 1 }
            layer { name: "bn" type: "BatchNorm" bottom: "data" top: "data" }
            layer { name: "sc" type: "Scale" bottom: "data" top: "data" scale_param { bias_term: true } }
            layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc"
                    inner_product_param { num_output: 3 transpose: true } }"#);
        let mut w: HashMap<String, LayerBlobs> = HashMap::new();
        // mean·s, var·s, s with s = 2: mean (1, 2), var (3, 0) with eps 1 → scale 1/2, 1.
        w.insert(
            "bn".into(),
            vec![
                (vec![2], vec![2.0, 4.0]),
                (vec![2], vec![6.0, 0.0]),
                (vec![1], vec![2.0]),
            ],
        );
        w.insert(
            "sc".into(),
            vec![(vec![2], vec![2.0, 1.0]), (vec![2], vec![0.5, 0.0])],
        );
        // Stored K×M = 2×3.
        w.insert(
            "fc".into(),
            vec![
                (vec![2, 3], vec![1.0, 0.0, 2.0, 0.0, 1.0, 3.0]),
                (vec![3], vec![0.0, 0.0, 1.0]),
            ],
        );
        let mut text_eps = n.clone();
        text_eps.layer[0].batch_norm_param = Some(Default::default());
        text_eps.layer[0].batch_norm_param.as_mut().unwrap().eps = Some(1.0);
        let m = from_net_with_blobs(&text_eps, &w, "t").unwrap();
        let x = ArrayD::from_shape_vec(IxDyn(&[1, 2, 1, 1]), vec![3.0, 4.0]).unwrap();
        let y = m.graph.forward(&x).unwrap();
        // bn: (3−1)/2 = 1, (4−2)/1 = 2; scale: 2·1+0.5 = 2.5, 1·2 = 2;
        // fc (W = stored.T): [2.5, 2, 2.5·2 + 2·3 + 1] = [2.5, 2, 12].
        assert_eq!(y.as_slice().unwrap(), &[2.5, 2.0, 12.0]);
        assert_eq!(m.blobs["data"], "sc");
    }

    #[test]
    fn split_aliases_and_outputs_put_the_last_head_first() {
        let n = net(r#"input: "data" input_shape { dim: 1 dim: 4 }
            layer { name: "sp" type: "Split" bottom: "data" top: "x1" top: "x2" }
            layer { name: "aux" type: "InnerProduct" bottom: "x1" top: "aux" inner_product_param { num_output: 2 } }
            layer { name: "main" type: "InnerProduct" bottom: "x2" top: "main" inner_product_param { num_output: 3 } }
            layer { name: "sum" type: "Eltwise" bottom: "x1" bottom: "x2" top: "sum" }
            layer { name: "loss" type: "SoftmaxWithLoss" bottom: "main" bottom: "label" top: "loss" }"#);
        let m = from_net_random(&n, 3, "t").unwrap();
        let outs: Vec<&str> = m
            .graph
            .output_ids()
            .iter()
            .map(|&i| m.graph.tensors()[i].name.as_str())
            .collect();
        assert_eq!(outs, ["sum", "aux", "main"]);
        assert!(m.warnings.iter().any(|w| w.contains("SoftmaxWithLoss")));
    }
}
