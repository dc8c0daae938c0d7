//! One layer representation for every Caffe file: the V1 → V2 layer upgrade (as Caffe's
//! `UpgradeV1LayerParameter` does it) and the network's declared inputs.

use super::format_error;
use crate::error::Result;
use crate::import::proto::caffe::{
    v1_layer_parameter::{DimCheckMode as V1DimCheckMode, LayerType},
    LayerParameter, NetParameter, ParamSpec, V1LayerParameter,
};

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

/// `dims` as sizes; a negative one is an error naming `what` in `file`.
pub(super) fn dims_to_usize(dims: &[i64], file: &str, what: &str) -> Result<Vec<usize>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::import::proto::caffe::InputParameter;
    use crate::import::prototxt::parse_net;
    use std::collections::HashSet;

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
}
