//! Building a [`Graph`] from a Caffe network: `deploy.prototxt` + `.caffemodel` (+ mean
//! `.binaryproto`).
//!
//! The network definition is parsed ([`prototxt`](super::prototxt)), V1 layers are upgraded
//! ([`upgrade::normalize_net`]), layers that do not run in the `TEST` phase are dropped
//! (Caffe's `NetStateRule` semantics with state `phase: TEST, level: 0`, no stages), and every
//! remaining layer becomes one [`Node`](crate::Node) named after the layer. Weights are
//! matched to layers by **layer name** ([`blob`] reads caffemodels and mean images).
//!
//! Each computing layer type has a small builder, found in one table (layer type → builder,
//! one line each) of this module; the builders live in files by kind (`conv.rs`, `pool.rs`,
//! `norm.rs`, `activation.rs`, `combine.rs`), each opening with what it covers and what not.
//! Adding a layer type is one line in the table plus its builder
//! `fn(&mut Builder, &LayerParameter, &[Vec<usize>]) -> Result<Op>`, which gets the layer and
//! the per-sample shapes of its bottoms and fetches its blobs with `b.source.fetch`.
//!
//! **Canonisation.** [`load`] returns the canonised graph, like
//! [`onnx::load`](super::onnx::load): dropout removed, BatchNorm/Scale folded into the
//! neighbouring linear layers ([`crate::canonize`]); [`load_raw`] and the `from_net*`
//! functions return the graph as imported (one node per layer), and
//! [`CaffeModel::canonized`] canonises one.
//!
//! | Caffe layer | node | notes |
//! |---|---|---|
//! | `Input`, `input:`/`input_dim`/`input_shape` | graph input | batch axis dropped |
//! | `Data`, `ImageData`, `MemoryData`, … | graph input | only with `transform_param { crop_size }` (3 channels assumed) |
//! | `Convolution` | [`Op::Conv`] | kernel/stride/pad (`_h`/`_w`), dilation, group, bias_term; 2-D only |
//! | `Deconvolution` | [`Op::ConvTranspose`] | weight `[C, M/group, kh, kw]`; `pad` crops the output; 2-D only |
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

mod activation;
pub mod blob;
mod builder;
mod combine;
mod conv;
mod norm;
mod pool;
mod source;
pub mod upgrade;

pub use blob::{decode_caffemodel, LayerBlobs};
pub use source::MAX_RANDOM_PARAMS;

use self::blob::read_mean_image;
use self::builder::{build, Builder};
use self::source::Source;
use super::prototxt::read_net;
use super::read_file;
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::import::proto::caffe::{LayerParameter, NetParameter};
use crate::ops::Op;
use ndarray::Array3;
use std::collections::HashMap;
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
    /// This model with its graph canonised ([`crate::canonize`]): dropout removed, affine
    /// layers folded into the neighbouring linear layers. [`blobs`](Self::blobs) follows: a
    /// blob whose tensor was a dropout's output maps to the dropout's input, and blobs whose
    /// values no longer exist (the output of a convolution before its folded BatchNorm) are
    /// left out; [`logits`](Self::logits) is looked up again.
    pub fn canonized(mut self) -> Result<CaffeModel> {
        let raw = &self.graph;
        let graph = crate::canonize::canonize(raw)?;
        let passthrough: HashMap<&str, &str> = raw
            .nodes()
            .iter()
            .filter(|n| matches!(n.op, Op::Dropout | Op::Identity))
            .filter_map(|n| Some((n.output.as_str(), n.inputs.first()?.as_str())))
            .collect();
        let mut blobs = HashMap::with_capacity(self.blobs.len());
        for (blob, tensor) in &self.blobs {
            let mut t = tensor.as_str();
            while graph.shape(t).is_none() {
                match passthrough.get(t) {
                    Some(input) => t = input,
                    None => break,
                }
            }
            if graph.shape(t).is_some() {
                blobs.insert(blob.clone(), t.to_string());
            }
        }
        self.logits = logits_of(&graph);
        self.blobs = blobs;
        self.graph = graph;
        Ok(self)
    }

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
/// (matched by layer name), and optionally the mean image at `mean` (a `.binaryproto`), and
/// canonises its graph (see the module documentation).
///
/// Without a caffemodel the weights are seeded random values ([`random_weights`] with
/// [`DEFAULT_RANDOM_SEED`]) and a warning says so. Errors name the file and the layer.
pub fn load(prototxt: &Path, caffemodel: Option<&Path>, mean: Option<&Path>) -> Result<CaffeModel> {
    load_raw(prototxt, caffemodel, mean)?.canonized()
}

/// [`load`] without canonisation: one node per Caffe layer, dropout and affine layers kept.
pub fn load_raw(
    prototxt: &Path,
    caffemodel: Option<&Path>,
    mean: Option<&Path>,
) -> Result<CaffeModel> {
    let parsed = read_net(prototxt)?;
    let file = prototxt.display().to_string();
    let mut warnings: Vec<String> = parsed.warnings.iter().map(|w| w.to_string()).collect();
    let mut model = match caffemodel {
        Some(path) => {
            let file = path.display().to_string();
            let weights = decode_caffemodel(
                &read_file(path, crate::files::MAX_MODEL_BYTES, "a caffemodel")?,
                &file,
            )?;
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
/// [`caffemodel_with_weights`](blob::caffemodel_with_weights)).
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
    let source = Source::random(seed, false, file.to_string());
    Ok(build(net, source, file)?.0)
}

/// Seeded random weights for every layer of `net` that has parameters, in Caffe's blob
/// order and shapes: He-normal weights (std `√(2 / fan_in)`), biases with std 0.01,
/// BatchNorm blobs `mean·s, var·s, s` with `s = 4`, `mean ~ N(0, 0.1²)`, `var ~ U(0.5, 1.5)`,
/// Scale `γ = 1 + N(0, 0.1²)`, `β ~ N(0, 0.1²)`. Layers are visited in file order with one
/// SplitMix64 stream ([`Rng`](crate::zoo::rng::Rng)), so a seed always gives the same weights.
///
/// Write them into a caffemodel with
/// [`caffemodel_with_weights`](blob::caffemodel_with_weights).
pub fn random_weights(net: &NetParameter, seed: u64) -> Result<HashMap<String, LayerBlobs>> {
    let label = net.name.clone().unwrap_or_else(|| "<network>".into());
    let source = Source::random(seed, true, label.clone());
    let (_, source) = build(net, source, &label)?;
    match source {
        Source::Random {
            record: Some(map), ..
        } => Ok(map),
        _ => Ok(HashMap::new()),
    }
}

/// How a computing layer becomes an operator: from the layer, the per-sample shapes of its
/// bottoms, and the blobs it fetches from the builder's source.
type LayerFn = fn(&mut Builder<'_>, &LayerParameter, &[Vec<usize>]) -> Result<Op>;

/// The layer table: Caffe layer type → builder. Adding a layer type is one line here plus
/// its builder. (`Input`, data layers, `Split` and the dropped loss layers are handled by the
/// graph builder itself.)
const LAYERS: &[(&str, LayerFn)] = &[
    ("Convolution", conv::convolution),
    ("Deconvolution", conv::deconvolution),
    ("InnerProduct", conv::inner_product),
    ("Pooling", pool::pooling),
    ("LRN", norm::lrn),
    ("BatchNorm", norm::batch_norm),
    ("Scale", norm::scale),
    ("ReLU", activation::relu),
    ("PReLU", activation::prelu),
    ("ELU", activation::elu),
    ("Sigmoid", |b, layer, x| {
        b.one_input(layer, x).map(|_| Op::Sigmoid)
    }),
    ("TanH", |b, layer, x| {
        b.one_input(layer, x).map(|_| Op::Tanh)
    }),
    ("Softmax", activation::softmax),
    ("Dropout", activation::dropout),
    ("Concat", combine::concat),
    ("Eltwise", combine::eltwise),
    ("Flatten", combine::flatten),
];

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

/// The main head's logits: the input of a softmax writing the first graph output.
fn logits_of(graph: &Graph) -> Option<String> {
    let id = graph.logits_id();
    (graph.output_ids().first() != Some(&id)).then(|| graph.tensors()[id].name.clone())
}

#[cfg(test)]
mod tests {
    use super::source::check_shape;
    use super::*;
    use crate::import::prototxt::parse_net;
    use ndarray::{ArrayD, IxDyn};

    fn net(text: &str) -> NetParameter {
        parse_net(text, "t.prototxt").unwrap().message
    }

    #[test]
    fn sigmoid_and_tanh_layers() {
        let n = net(r#"input: "data" input_shape { dim: 1 dim: 3 }
            layer { name: "s" type: "Sigmoid" bottom: "data" top: "s" }
            layer { name: "t" type: "TanH" bottom: "s" top: "t" }"#);
        let m = from_net_random(&n, 1, "t").unwrap();
        let kinds: Vec<&str> = m.graph.nodes().iter().map(|n| n.op.kind()).collect();
        assert_eq!(kinds, ["Sigmoid", "Tanh"]);
        let x = ArrayD::from_shape_vec(IxDyn(&[1, 3]), vec![-1.0, 0.0, 2.0]).unwrap();
        let y = m.graph.forward(&x).unwrap();
        // tanh(sigmoid(x)), closed form.
        for (v, got) in [-1.0f64, 0.0, 2.0].iter().zip(y.iter()) {
            let want = (1.0 / (1.0 + (-v).exp())).tanh();
            assert!((*got as f64 - want).abs() < 1e-6, "{v}: {got} vs {want}");
        }
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

    #[test]
    fn deconvolution_is_a_transposed_convolution() {
        let n = net(r#"input: "data" input_shape { dim: 1 dim: 1 dim: 2 dim: 2 }
            layer { name: "up" type: "Deconvolution" bottom: "data" top: "up"
                    convolution_param { num_output: 1 kernel_size: 3 stride: 2 pad: 1 } }"#);
        let mut w: HashMap<String, LayerBlobs> = HashMap::new();
        // Weight [C=1, M=1, 3, 3] = 1..9, bias 0.5.
        w.insert(
            "up".into(),
            vec![
                (vec![1, 1, 3, 3], (1..=9).map(|v| v as f32).collect()),
                (vec![1], vec![0.5]),
            ],
        );
        let m = from_net_with_blobs(&n, &w, "t").unwrap();
        // OH = 2·(2 − 1) + 3 − 2·1 = 3.
        assert_eq!(m.graph.shape("up").unwrap(), &[1, 3, 3]);
        let x = ArrayD::from_shape_vec(IxDyn(&[1, 1, 2, 2]), vec![1.0, 0.0, 0.0, 2.0]).unwrap();
        let y = m.graph.forward(&x).unwrap();
        // Full 5×5 output: x[0,0]·W at rows/cols 0..3, x[1,1]·W at 2..5; cropped by 1.
        // Centre: 1·w[2,2] + 2·w[0,0] = 9 + 2 = 11.
        assert_eq!(y[[0, 0, 1, 1]], 11.5);
        assert_eq!(y[[0, 0, 0, 0]], 1.0 * 5.0 + 0.5);
        assert_eq!(y[[0, 0, 2, 2]], 2.0 * 5.0 + 0.5);
    }
}
