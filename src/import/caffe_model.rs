//! Binary Caffe files: `.caffemodel` weights, `.binaryproto` mean images, the V1 → V2 layer
//! upgrade, the network's inputs, and writing caffemodels.
//!
//! A `.caffemodel` is a binary `NetParameter` whose layers carry their parameter blobs
//! (weights first, then biases); old files use the V1 `layers` field with an enum type and
//! blobs with the legacy `num/channels/height/width` dimensions. A mean `.binaryproto` is one
//! `BlobProto` of shape 1×C×H×W.
//!
//! Nothing here trusts a declared size: a blob's element count is computed with overflow
//! checks and compared with the data actually present before any array is built.
//!
//! ```
//! use lrp::import::caffe_model::{blob_from, decode_blob, mean_image};
//! use prost::Message;
//! let blob = blob_from(&[1, 3, 2, 2], &[0.0; 12]).unwrap();
//! let bytes = blob.encode_to_vec();
//! let mean = mean_image(&decode_blob(&bytes, "mean.binaryproto").unwrap(), "mean.binaryproto")
//!     .unwrap();
//! assert_eq!(mean.shape(), &[3, 2, 2]);
//! ```

use super::proto::caffe::{
    v1_layer_parameter::{DimCheckMode as V1DimCheckMode, LayerType},
    BlobProto, BlobShape, LayerParameter, NetParameter, ParamSpec, V1LayerParameter,
};
use super::{checked_product, read_file};
use crate::error::{Error, Result};
use ndarray::{Array3, ArrayD, IxDyn};
use prost::Message;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// Decodes a binary `NetParameter` (a `.caffemodel`, or a binary network definition).
pub fn decode_net(bytes: &[u8], file: &str) -> Result<NetParameter> {
    NetParameter::decode(bytes).map_err(|e| Error::Decode {
        file: file.to_string(),
        detail: format!("caffe.NetParameter: {e}"),
    })
}

/// Reads and decodes the `.caffemodel` at `path` (see [`decode_net`]).
pub fn read_caffemodel(path: impl AsRef<Path>) -> Result<NetParameter> {
    let path = path.as_ref();
    decode_net(&read_file(path)?, &path.display().to_string())
}

/// Decodes a binary `BlobProto` (a mean `.binaryproto`).
pub fn decode_blob(bytes: &[u8], file: &str) -> Result<BlobProto> {
    BlobProto::decode(bytes).map_err(|e| Error::Decode {
        file: file.to_string(),
        detail: format!("caffe.BlobProto: {e}"),
    })
}

/// Reads and decodes the `.binaryproto` at `path` (see [`decode_blob`]).
pub fn read_binaryproto(path: impl AsRef<Path>) -> Result<BlobProto> {
    let path = path.as_ref();
    decode_blob(&read_file(path)?, &path.display().to_string())
}

/// Reads the mean image at `path` as a C×H×W array (see [`mean_image`]).
pub fn read_mean_image(path: impl AsRef<Path>) -> Result<Array3<f32>> {
    let path = path.as_ref();
    let file = path.display().to_string();
    mean_image(&decode_blob(&read_file(path)?, &file)?, &file)
}

fn format_error(file: &str, what: &str, detail: impl Into<String>) -> Error {
    Error::Format {
        file: file.to_string(),
        layer: what.to_string(),
        detail: detail.into(),
    }
}

/// The shape of `blob`: its `shape` if present, else the legacy `[num, channels, height,
/// width]` (4 axes, as old files store even biases: 1×1×1×N). `what` names the blob in
/// errors (e.g. `layer `conv1` blob 0`).
pub fn blob_shape(blob: &BlobProto, file: &str, what: &str) -> Result<Vec<usize>> {
    let dims: Vec<i64> = match &blob.shape {
        Some(shape) => shape.dim.clone(),
        None => [blob.num(), blob.channels(), blob.height(), blob.width()]
            .iter()
            .map(|&d| i64::from(d))
            .collect(),
    };
    dims.iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| {
                format_error(
                    file,
                    what,
                    format!("negative dimension {d} in shape {dims:?}"),
                )
            })
        })
        .collect()
}

/// The values of `blob` (from `data`, or `double_data` converted to `f32`) as an array of
/// [`blob_shape`], after checking that the number of values equals the product of the
/// dimensions.
pub fn blob_to_array(blob: &BlobProto, file: &str, what: &str) -> Result<ArrayD<f32>> {
    let shape = blob_shape(blob, file, what)?;
    let count = checked_product(&shape).ok_or_else(|| {
        format_error(
            file,
            what,
            format!("shape {shape:?} overflows the element count"),
        )
    })?;
    let present = if blob.data.is_empty() {
        blob.double_data.len()
    } else {
        blob.data.len()
    };
    if present != count {
        return Err(format_error(
            file,
            what,
            format!("shape {shape:?} declares {count} values but the blob holds {present}"),
        ));
    }
    let data: Vec<f32> = if blob.data.is_empty() {
        blob.double_data.iter().map(|&d| d as f32).collect()
    } else {
        blob.data.clone()
    };
    ArrayD::from_shape_vec(IxDyn(&shape), data)
        .map_err(|e| format_error(file, what, format!("shape {shape:?}: {e}")))
}

/// The mean image stored in `blob` as a C×H×W array (Caffe's mean files are 1×C×H×W, BGR,
/// values in 0..=255). Accepts 4-D blobs with a leading 1 and 3-D blobs; empty axes are an
/// error.
pub fn mean_image(blob: &BlobProto, file: &str) -> Result<Array3<f32>> {
    let what = "mean image";
    let array = blob_to_array(blob, file, what)?;
    let shape = array.shape().to_vec();
    let chw = match shape.as_slice() {
        [1, c, h, w] | [c, h, w] if *c > 0 && *h > 0 && *w > 0 => [*c, *h, *w],
        _ => {
            return Err(format_error(
                file,
                what,
                format!("expected a non-empty 1×C×H×W or C×H×W blob, got shape {shape:?}"),
            ))
        }
    };
    array
        .into_shape_with_order(chw)
        .map_err(|e| format_error(file, what, format!("shape {shape:?}: {e}")))
}

/// A blob of `shape` holding `data` (row-major), with `shape` set and the legacy dimensions
/// left out, as current Caffe writes it. Fails if `data.len()` is not the product of `shape`.
pub fn blob_from(shape: &[usize], data: &[f32]) -> Result<BlobProto> {
    let what = "new blob";
    let count = checked_product(shape).ok_or_else(|| {
        format_error(
            "<memory>",
            what,
            format!("shape {shape:?} overflows the element count"),
        )
    })?;
    if count != data.len() {
        return Err(format_error(
            "<memory>",
            what,
            format!("shape {shape:?} needs {count} values, got {}", data.len()),
        ));
    }
    let dim = shape
        .iter()
        .map(|&d| {
            i64::try_from(d).map_err(|_| {
                format_error(
                    "<memory>",
                    what,
                    format!("dimension {d} does not fit int64"),
                )
            })
        })
        .collect::<Result<Vec<i64>>>()?;
    Ok(BlobProto {
        shape: Some(BlobShape { dim }),
        data: data.to_vec(),
        ..BlobProto::default()
    })
}

/// The current (V2) type string of a V1 layer type, as Caffe's `UpgradeV1LayerType` names
/// it (`CONVOLUTION` → `"Convolution"`, `SOFTMAX_LOSS` → `"SoftmaxWithLoss"`, ...); `None` for
/// `NONE`.
pub fn v1_type_name(t: LayerType) -> Option<&'static str> {
    Some(match t {
        LayerType::None => return None,
        LayerType::Absval => "AbsVal",
        LayerType::Accuracy => "Accuracy",
        LayerType::Argmax => "ArgMax",
        LayerType::Bnll => "BNLL",
        LayerType::Concat => "Concat",
        LayerType::ContrastiveLoss => "ContrastiveLoss",
        LayerType::Convolution => "Convolution",
        LayerType::Data => "Data",
        LayerType::Deconvolution => "Deconvolution",
        LayerType::Dropout => "Dropout",
        LayerType::DummyData => "DummyData",
        LayerType::EuclideanLoss => "EuclideanLoss",
        LayerType::Eltwise => "Eltwise",
        LayerType::Exp => "Exp",
        LayerType::Flatten => "Flatten",
        LayerType::Hdf5Data => "HDF5Data",
        LayerType::Hdf5Output => "HDF5Output",
        LayerType::HingeLoss => "HingeLoss",
        LayerType::Im2col => "Im2col",
        LayerType::ImageData => "ImageData",
        LayerType::InfogainLoss => "InfogainLoss",
        LayerType::InnerProduct => "InnerProduct",
        LayerType::Lrn => "LRN",
        LayerType::MemoryData => "MemoryData",
        LayerType::MultinomialLogisticLoss => "MultinomialLogisticLoss",
        LayerType::Mvn => "MVN",
        LayerType::Pooling => "Pooling",
        LayerType::Power => "Power",
        LayerType::Relu => "ReLU",
        LayerType::Sigmoid => "Sigmoid",
        LayerType::SigmoidCrossEntropyLoss => "SigmoidCrossEntropyLoss",
        LayerType::Silence => "Silence",
        LayerType::Softmax => "Softmax",
        LayerType::SoftmaxLoss => "SoftmaxWithLoss",
        LayerType::Split => "Split",
        LayerType::Slice => "Slice",
        LayerType::Tanh => "TanH",
        LayerType::WindowData => "WindowData",
        LayerType::Threshold => "Threshold",
    })
}

/// Converts a V1 layer into the current representation, as Caffe's `UpgradeV1LayerParameter`
/// does: the enum type becomes the type string, `blobs_lr`/`weight_decay`/`param`/
/// `blob_share_mode` become `ParamSpec`s, and the `*_param` messages are moved over.
// Which generated parameter messages are `Copy` depends on their fields; clone them all alike.
#[allow(clippy::clone_on_copy)]
pub fn upgrade_v1_layer(v1: &V1LayerParameter, file: &str) -> Result<LayerParameter> {
    let name = v1.name().to_string();
    let what = format!("V1 layer `{name}`");
    let raw_type = v1.r#type.unwrap_or(0);
    let layer_type = LayerType::try_from(raw_type)
        .ok()
        .and_then(v1_type_name)
        .ok_or_else(|| {
            format_error(
                file,
                &what,
                format!("missing or unknown V1 layer type {raw_type}"),
            )
        })?;
    let n_params = v1
        .param
        .len()
        .max(v1.blob_share_mode.len())
        .max(v1.blobs_lr.len())
        .max(v1.weight_decay.len());
    let param = (0..n_params)
        .map(|i| ParamSpec {
            name: v1.param.get(i).filter(|s| !s.is_empty()).cloned(),
            share_mode: v1
                .blob_share_mode
                .get(i)
                .map(|&m| match V1DimCheckMode::try_from(m) {
                    Ok(V1DimCheckMode::Permissive) => 1,
                    _ => 0,
                }),
            lr_mult: v1.blobs_lr.get(i).copied(),
            decay_mult: v1.weight_decay.get(i).copied(),
        })
        .collect();
    Ok(LayerParameter {
        name: v1.name.clone(),
        r#type: Some(layer_type.to_string()),
        bottom: v1.bottom.clone(),
        top: v1.top.clone(),
        loss_weight: v1.loss_weight.clone(),
        param,
        blobs: v1.blobs.clone(),
        include: v1.include.clone(),
        exclude: v1.exclude.clone(),
        transform_param: v1.transform_param.clone(),
        loss_param: v1.loss_param.clone(),
        accuracy_param: v1.accuracy_param.clone(),
        argmax_param: v1.argmax_param.clone(),
        concat_param: v1.concat_param.clone(),
        convolution_param: v1.convolution_param.clone(),
        data_param: v1.data_param.clone(),
        dropout_param: v1.dropout_param.clone(),
        eltwise_param: v1.eltwise_param.clone(),
        inner_product_param: v1.inner_product_param.clone(),
        lrn_param: v1.lrn_param.clone(),
        pooling_param: v1.pooling_param.clone(),
        power_param: v1.power_param.clone(),
        relu_param: v1.relu_param.clone(),
        sigmoid_param: v1.sigmoid_param.clone(),
        softmax_param: v1.softmax_param.clone(),
        slice_param: v1.slice_param.clone(),
        tanh_param: v1.tanh_param.clone(),
        threshold_param: v1.threshold_param.clone(),
        ..LayerParameter::default()
    })
}

/// One layer representation for every file: a network whose V1 `layers` are upgraded into
/// `layer` (the V1 list is emptied). A network using both lists is an error, as in Caffe.
pub fn normalize_net(mut net: NetParameter, file: &str) -> Result<NetParameter> {
    if net.layers.is_empty() {
        return Ok(net);
    }
    if !net.layer.is_empty() {
        return Err(format_error(
            file,
            "network",
            format!(
                "uses both `layer` ({} entries) and the V1 `layers` ({} entries)",
                net.layer.len(),
                net.layers.len()
            ),
        ));
    }
    net.layer = net
        .layers
        .iter()
        .map(|v1| upgrade_v1_layer(v1, file))
        .collect::<Result<_>>()?;
    net.layers.clear();
    Ok(net)
}

/// An input blob of a network and its shape (batch first, as declared).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetInput {
    /// The blob name, e.g. `data`.
    pub name: String,
    /// The declared shape, e.g. `[1, 3, 227, 227]`.
    pub shape: Vec<usize>,
}

fn dims_to_usize(dims: &[i64], file: &str, what: &str) -> Result<Vec<usize>> {
    dims.iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| {
                format_error(
                    file,
                    what,
                    format!("negative dimension {d} in shape {dims:?}"),
                )
            })
        })
        .collect()
}

/// The inputs of `net` with their shapes, from whichever declaration the file uses: `input`
/// with four `input_dim` per input (V1 era), `input` with one `input_shape` per input (or
/// one shared), or `Input` layers with `input_param { shape }` (one per top, or one shared).
/// Declarations in both styles are all returned, in that order; an input without a shape
/// is an error.
pub fn net_inputs(net: &NetParameter, file: &str) -> Result<Vec<NetInput>> {
    let mut inputs = Vec::new();
    if !net.input.is_empty() {
        if !net.input_dim.is_empty() && !net.input_shape.is_empty() {
            return Err(format_error(
                file,
                "network inputs",
                "both `input_dim` and `input_shape` are given",
            ));
        }
        if !net.input_dim.is_empty() {
            if net.input_dim.len() != 4 * net.input.len() {
                return Err(format_error(
                    file,
                    "network inputs",
                    format!(
                        "{} inputs need {} `input_dim` values (4 each), got {}",
                        net.input.len(),
                        4 * net.input.len(),
                        net.input_dim.len()
                    ),
                ));
            }
            for (name, dims) in net.input.iter().zip(net.input_dim.chunks(4)) {
                let dims: Vec<i64> = dims.iter().map(|&d| i64::from(d)).collect();
                let shape = dims_to_usize(&dims, file, &format!("input `{name}`"))?;
                inputs.push(NetInput {
                    name: name.clone(),
                    shape,
                });
            }
        } else {
            let n = net.input_shape.len();
            if n != net.input.len() && n != 1 {
                return Err(format_error(
                    file,
                    "network inputs",
                    format!(
                        "{} inputs but {n} `input_shape` entries (need one per input, or one)",
                        net.input.len()
                    ),
                ));
            }
            for (i, name) in net.input.iter().enumerate() {
                let shape = &net.input_shape[if n == 1 { 0 } else { i }];
                inputs.push(NetInput {
                    name: name.clone(),
                    shape: dims_to_usize(&shape.dim, file, &format!("input `{name}`"))?,
                });
            }
        }
    }
    for layer in net.layer.iter().filter(|l| l.r#type() == "Input") {
        let what = format!("Input layer `{}`", layer.name());
        let shapes = layer
            .input_param
            .as_ref()
            .map(|p| p.shape.as_slice())
            .unwrap_or_default();
        if shapes.len() != layer.top.len() && shapes.len() != 1 {
            return Err(format_error(
                file,
                &what,
                format!(
                    "{} tops but {} shapes (need one per top, or one)",
                    layer.top.len(),
                    shapes.len()
                ),
            ));
        }
        for (i, top) in layer.top.iter().enumerate() {
            let shape = &shapes[if shapes.len() == 1 { 0 } else { i }];
            inputs.push(NetInput {
                name: top.clone(),
                shape: dims_to_usize(&shape.dim, file, &what)?,
            });
        }
    }
    Ok(inputs)
}

/// Encodes `net` as `.caffemodel` bytes.
pub fn encode_net(net: &NetParameter) -> Vec<u8> {
    net.encode_to_vec()
}

/// Weights of one layer: its blobs in Caffe's order (weights, then bias), each a shape and
/// its row-major values.
pub type LayerBlobs = Vec<(Vec<usize>, Vec<f32>)>;

/// `.caffemodel` bytes for the network `deploy` (as parsed from its prototxt) with the blobs
/// of `weights` (layer name → blobs). V1 layers are upgraded first, so the result always uses
/// the current `layer` list. Fails if `weights` names a layer that `deploy` does not have,
/// or a blob's values do not match its shape.
pub fn caffemodel_with_weights(
    deploy: &NetParameter,
    weights: &HashMap<String, LayerBlobs>,
    file: &str,
) -> Result<Vec<u8>> {
    let mut net = normalize_net(deploy.clone(), file)?;
    let names: HashSet<&str> = net.layer.iter().map(|l| l.name()).collect();
    let mut missing: Vec<&String> = weights
        .keys()
        .filter(|k| !names.contains(k.as_str()))
        .collect();
    if !missing.is_empty() {
        missing.sort();
        return Err(format_error(
            file,
            &format!("layer `{}`", missing[0]),
            "weights given for a layer the network does not have",
        ));
    }
    for layer in &mut net.layer {
        if let Some(blobs) = weights.get(layer.name()) {
            layer.blobs = blobs
                .iter()
                .enumerate()
                .map(|(i, (shape, data))| {
                    blob_from(shape, data).map_err(|e| match e {
                        Error::Format { detail, .. } => format_error(
                            file,
                            &format!("layer `{}` blob {i}", layer.name()),
                            detail,
                        ),
                        other => other,
                    })
                })
                .collect::<Result<_>>()?;
        }
    }
    Ok(encode_net(&net))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::proto::caffe::InputParameter;
    use crate::import::prototxt::parse_net;

    fn blob(shape: Option<Vec<i64>>, legacy: [i32; 4], data: Vec<f32>) -> BlobProto {
        BlobProto {
            shape: shape.map(|dim| BlobShape { dim }),
            num: Some(legacy[0]),
            channels: Some(legacy[1]),
            height: Some(legacy[2]),
            width: Some(legacy[3]),
            data,
            ..BlobProto::default()
        }
    }

    #[test]
    fn blob_shapes_from_shape_or_legacy_dims() {
        let b = blob(Some(vec![2, 3]), [0; 4], vec![0.0; 6]);
        assert_eq!(blob_shape(&b, "f", "b").unwrap(), vec![2, 3]);
        let b = blob(None, [1, 1, 2, 3], (0..6).map(|v| v as f32).collect());
        let a = blob_to_array(&b, "f", "b").unwrap();
        assert_eq!(a.shape(), &[1, 1, 2, 3]);
        assert_eq!(a[[0, 0, 1, 2]], 5.0);
        let b = BlobProto {
            shape: Some(BlobShape { dim: vec![2] }),
            double_data: vec![1.5, -2.0],
            ..BlobProto::default()
        };
        assert_eq!(
            blob_to_array(&b, "f", "b").unwrap().as_slice().unwrap(),
            &[1.5, -2.0]
        );
    }

    #[test]
    fn blob_sizes_are_checked_before_allocating() {
        let short = blob(Some(vec![2, 3]), [0; 4], vec![0.0; 5]);
        let e = blob_to_array(&short, "w.caffemodel", "layer `fc` blob 0").unwrap_err();
        assert_eq!(
            e.to_string(),
            "w.caffemodel: layer `fc` blob 0: shape [2, 3] declares 6 values but the blob holds 5"
        );
        // A huge declared shape with no data fails without allocating, and overflow is caught.
        let huge = blob(Some(vec![1 << 40, 1 << 40]), [0; 4], vec![]);
        assert!(matches!(
            blob_to_array(&huge, "f", "b"),
            Err(Error::Format { .. })
        ));
        let overflow = blob(Some(vec![i64::MAX, i64::MAX, 4]), [0; 4], vec![]);
        let e = blob_to_array(&overflow, "f", "b").unwrap_err().to_string();
        assert!(e.contains("overflows"), "{e}");
        let negative = blob(Some(vec![2, -3]), [0; 4], vec![]);
        let e = blob_to_array(&negative, "f", "b").unwrap_err().to_string();
        assert!(e.contains("negative dimension -3"), "{e}");
        assert!(blob_from(&[2, 2], &[0.0; 3]).is_err());
    }

    #[test]
    fn mean_image_shapes() {
        let b = blob(None, [1, 3, 2, 2], (0..12).map(|v| v as f32).collect());
        let m = mean_image(&b, "mean").unwrap();
        assert_eq!(m.shape(), &[3, 2, 2]);
        assert_eq!(m[[2, 1, 0]], 10.0);
        let b = blob(Some(vec![3, 2, 2]), [0; 4], vec![0.0; 12]);
        assert_eq!(mean_image(&b, "mean").unwrap().shape(), &[3, 2, 2]);
        let b = blob(None, [2, 3, 2, 2], vec![0.0; 24]);
        let e = mean_image(&b, "mean.binaryproto").unwrap_err().to_string();
        assert!(
            e.starts_with("mean.binaryproto: mean image: expected a non-empty"),
            "{e}"
        );
        let b = blob(None, [1, 3, 2, 0], vec![]);
        assert!(mean_image(&b, "mean").is_err());
    }

    #[test]
    fn truncated_bytes_are_decode_errors() {
        let b = blob_from(&[1, 3, 4, 4], &[1.0; 48]).unwrap();
        let bytes = b.encode_to_vec();
        for cut in [1, 5, bytes.len() / 2, bytes.len() - 1] {
            match decode_blob(&bytes[..cut], "m.binaryproto") {
                Err(Error::Decode { file, detail }) => {
                    assert_eq!(file, "m.binaryproto");
                    assert!(detail.starts_with("caffe.BlobProto"), "{detail}");
                }
                // A cut at a field boundary may decode: then the size check catches it.
                Ok(partial) => assert!(mean_image(&partial, "m").is_err()),
                Err(other) => panic!("{other}"),
            }
        }
        assert!(matches!(
            decode_net(&[0xff, 0xff], "x"),
            Err(Error::Decode { .. })
        ));
    }

    #[test]
    fn every_v1_type_has_a_v2_name() {
        let mut names = HashSet::new();
        for n in 0..64 {
            if let Ok(t) = LayerType::try_from(n) {
                match v1_type_name(t) {
                    None => assert_eq!(t, LayerType::None),
                    Some(name) => assert!(names.insert(name), "duplicate {name}"),
                }
            }
        }
        assert_eq!(names.len(), 39);
    }

    #[test]
    fn v1_layers_upgrade_like_caffe() {
        let text = "layers { name: 'fc' type: INNER_PRODUCT bottom: 'x' top: 'y' \
                    blobs_lr: 1 blobs_lr: 2 weight_decay: 1 weight_decay: 0 param: 'w' \
                    inner_product_param { num_output: 8 } \
                    include { phase: TEST } }\n\
                    layers { name: 'loss' type: SOFTMAX_LOSS bottom: 'y' }";
        let net = normalize_net(parse_net(text, "v1").unwrap().message, "v1").unwrap();
        assert!(net.layers.is_empty());
        let fc = &net.layer[0];
        assert_eq!(fc.r#type(), "InnerProduct");
        assert_eq!(
            (fc.bottom.clone(), fc.top.clone()),
            (vec!["x".into()], vec!["y".into()])
        );
        assert_eq!(fc.param.len(), 2);
        assert_eq!(
            (
                fc.param[0].name(),
                fc.param[0].lr_mult(),
                fc.param[0].decay_mult()
            ),
            ("w", 1.0, 1.0)
        );
        assert_eq!(
            (
                fc.param[1].name.as_deref(),
                fc.param[1].lr_mult(),
                fc.param[1].decay_mult()
            ),
            (None, 2.0, 0.0)
        );
        assert_eq!(fc.inner_product_param.as_ref().unwrap().num_output(), 8);
        assert_eq!(fc.include.len(), 1);
        assert_eq!(net.layer[1].r#type(), "SoftmaxWithLoss");

        let both = "layer { name: 'a' } layers { name: 'b' type: RELU }";
        let e = normalize_net(parse_net(both, "mixed").unwrap().message, "mixed").unwrap_err();
        assert!(e.to_string().contains("both `layer`"), "{e}");
        let untyped = parse_net("layers { name: 'b' }", "u").unwrap().message;
        let e = normalize_net(untyped, "u.prototxt")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "u.prototxt: V1 layer `b`: missing or unknown V1 layer type 0"
        );
    }

    #[test]
    fn inputs_from_every_declaration_style() {
        let net = |t: &str| parse_net(t, "n").unwrap().message;
        let ins = net_inputs(
            &net("input: 'a' input_dim: 1 input_dim: 3 input_dim: 5 input_dim: 6"),
            "n",
        )
        .unwrap();
        assert_eq!(
            ins,
            vec![NetInput {
                name: "a".into(),
                shape: vec![1, 3, 5, 6]
            }]
        );
        let ins = net_inputs(
            &net("input: 'a' input: 'b' input_shape { dim: 1 dim: 2 }"),
            "n",
        )
        .unwrap();
        assert_eq!(ins.len(), 2);
        assert_eq!(ins[1].shape, vec![1, 2]);
        let ins = net_inputs(
            &net("layer { name: 'in' type: 'Input' top: 'data' input_param { shape { dim: 2 dim: 3 } } }"),
            "n",
        )
        .unwrap();
        assert_eq!(
            ins,
            vec![NetInput {
                name: "data".into(),
                shape: vec![2, 3]
            }]
        );

        for bad in [
            "input: 'a' input_dim: 1 input_dim: 3",
            "input: 'a' input: 'b' input: 'c' input_shape { dim: 1 } input_shape { dim: 2 }",
            "input: 'a' input_dim: 1 input_dim: 1 input_dim: 1 input_dim: -1",
            "input: 'a' input_shape { dim: 1 } input_dim: 1",
            "input: 'a'",
        ] {
            assert!(
                matches!(net_inputs(&net(bad), "n"), Err(Error::Format { .. })),
                "{bad}"
            );
        }
        let mut n = NetParameter::default();
        n.layer.push(LayerParameter {
            name: Some("in".into()),
            r#type: Some("Input".into()),
            top: vec!["a".into(), "b".into()],
            input_param: Some(InputParameter { shape: vec![] }),
            ..LayerParameter::default()
        });
        assert!(net_inputs(&n, "n").is_err());
    }

    #[test]
    fn caffemodel_writer_checks_names_and_sizes() {
        let deploy = parse_net(
            "layers { name: 'fc' type: INNER_PRODUCT inner_product_param { num_output: 2 } }",
            "d",
        )
        .unwrap()
        .message;
        let mut w = HashMap::new();
        w.insert(
            "fc".to_string(),
            vec![(vec![2, 3], vec![1.0; 6]), (vec![2], vec![0.5; 2])],
        );
        let bytes = caffemodel_with_weights(&deploy, &w, "out.caffemodel").unwrap();
        let back = decode_net(&bytes, "out.caffemodel").unwrap();
        assert!(back.layers.is_empty());
        assert_eq!(back.layer[0].r#type(), "InnerProduct");
        assert_eq!(
            blob_to_array(&back.layer[0].blobs[1], "o", "b")
                .unwrap()
                .as_slice()
                .unwrap(),
            &[0.5, 0.5]
        );

        w.insert("nope".to_string(), vec![]);
        let e = caffemodel_with_weights(&deploy, &w, "out.caffemodel")
            .unwrap_err()
            .to_string();
        assert!(e.contains("layer `nope`"), "{e}");
        w.remove("nope");
        w.insert("fc".to_string(), vec![(vec![2, 3], vec![1.0; 5])]);
        let e = caffemodel_with_weights(&deploy, &w, "out.caffemodel")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("out.caffemodel: layer `fc` blob 0: shape [2, 3] needs 6"),
            "{e}"
        );
    }
}
