//! Activations and pass-through layers: `ReLU`, `PReLU`, `ELU`, `Softmax`, `Dropout`
//! (`Sigmoid` and `TanH` need no builder of their own: their lines in the layer table make
//! [`Op::Sigmoid`] and [`Op::Tanh`]).
//!
//! - `ReLU` → [`Op::Relu`], or [`Op::LeakyRelu`] when `relu_param { negative_slope }` is not 0
//!   (Caffe's `max(0, x) + negative_slope · min(0, x)`).
//! - `PReLU` → [`Op::PRelu`]: one blob of slopes, one per channel (the bottom's axis 1,
//!   shape `[C]`), or a single value with `prelu_param { channel_shared: true }` (shape
//!   `[]`). Random weights draw slopes in [0.125, 0.375), around Caffe's default filler 0.25.
//! - `ELU` → [`Op::Elu`] with `elu_param { alpha }` (default 1).
//! - `Softmax` → [`Op::Softmax`] along a per-sample `axis` (also GoogLeNet's auxiliary
//!   heads with `loss_weight`).
//! - `Dropout` → [`Op::Dropout`] (identity at inference; removed by canonisation).
//!
//! Not covered: softmax over the batch axis; the `Clip` and `Swish` layers of later Caffe
//! versions.

use super::builder::{canonical_axis, Builder};
use super::source::{Init, Want};
use crate::error::Result;
use crate::import::proto::caffe::LayerParameter;
use crate::ops::elu::Elu;
use crate::ops::leaky_relu::LeakyRelu;
use crate::ops::prelu::PRelu;
use crate::ops::{Op, Softmax};

pub(super) fn relu(
    b: &mut Builder<'_>,
    layer: &LayerParameter,
    inputs: &[Vec<usize>],
) -> Result<Op> {
    b.one_input(layer, inputs)?;
    let slope = layer
        .relu_param
        .as_ref()
        .map_or(0.0, |p| p.negative_slope());
    if slope != 0.0 {
        return Ok(Op::LeakyRelu(LeakyRelu::new(slope)));
    }
    Ok(Op::Relu)
}

pub(super) fn prelu(
    b: &mut Builder<'_>,
    layer: &LayerParameter,
    inputs: &[Vec<usize>],
) -> Result<Op> {
    let x = b.one_input(layer, inputs)?;
    let shared = layer
        .prelu_param
        .as_ref()
        .is_some_and(|p| p.channel_shared());
    let shape = if shared {
        vec![]
    } else {
        let c = *x
            .first()
            .ok_or_else(|| b.err(layer, "needs an input with channels"))?;
        vec![c]
    };
    let blobs = b.source.fetch(
        layer,
        &[Want {
            shape,
            init: Init::Slope,
        }],
    )?;
    let slope = blobs.into_iter().next().unwrap_or_default();
    Ok(Op::PRelu(PRelu::new(slope.iter().copied().collect())))
}

pub(super) fn elu(
    b: &mut Builder<'_>,
    layer: &LayerParameter,
    inputs: &[Vec<usize>],
) -> Result<Op> {
    b.one_input(layer, inputs)?;
    let alpha = layer.elu_param.as_ref().map_or(1.0, |p| p.alpha());
    Ok(Op::Elu(Elu::new(alpha)))
}

pub(super) fn softmax(
    b: &mut Builder<'_>,
    layer: &LayerParameter,
    inputs: &[Vec<usize>],
) -> Result<Op> {
    let x = b.one_input(layer, inputs)?;
    let axis = layer.softmax_param.as_ref().map_or(1, |p| p.axis());
    match canonical_axis(axis, x.len() + 1) {
        Some(a) if a >= 1 => Ok(Op::Softmax(Softmax::new(a - 1))),
        _ => Err(b.err(
            layer,
            format!("axis {axis} unsupported for per-sample shape {x:?}"),
        )),
    }
}

pub(super) fn dropout(
    b: &mut Builder<'_>,
    layer: &LayerParameter,
    inputs: &[Vec<usize>],
) -> Result<Op> {
    b.one_input(layer, inputs)?;
    Ok(Op::Dropout)
}

#[cfg(test)]
mod tests {
    use crate::import::caffe::{from_net_random, from_net_with_blobs};
    use crate::import::caffe_model::{caffemodel_with_weights, decode_caffemodel, LayerBlobs};
    use crate::import::prototxt::parse_net;
    use crate::ops::Op;
    use ndarray::{ArrayD, IxDyn};
    use std::collections::HashMap;

    const NET: &str = r#"input: "data" input_shape { dim: 1 dim: 2 dim: 1 dim: 3 }
        layer { name: "leaky" type: "ReLU" bottom: "data" top: "a" relu_param { negative_slope: 0.1 } }
        layer { name: "prelu" type: "PReLU" bottom: "a" top: "b" }
        layer { name: "shared" type: "PReLU" bottom: "b" top: "c" prelu_param { channel_shared: true } }
        layer { name: "elu" type: "ELU" bottom: "c" top: "d" elu_param { alpha: 0.5 } }"#;

    #[test]
    fn leaky_relu_prelu_and_elu_follow_caffe() {
        let net = parse_net(NET, "act.prototxt").unwrap().message;
        let mut blobs: HashMap<String, LayerBlobs> = HashMap::new();
        blobs.insert("prelu".into(), vec![(vec![2], vec![0.5, 2.0])]);
        blobs.insert("shared".into(), vec![(vec![], vec![0.25])]);
        let m = from_net_with_blobs(&net, &blobs, "act.caffemodel").unwrap();
        let kinds: Vec<&str> = m.graph.nodes().iter().map(|n| n.op.kind()).collect();
        assert_eq!(kinds, ["LeakyRelu", "PRelu", "PRelu", "Elu"]);
        let xs = [-4.0f32, 1.0, -2.0, -8.0, 3.0, 0.0];
        let x = ArrayD::from_shape_vec(IxDyn(&[1, 2, 1, 3]), xs.to_vec()).unwrap();
        let y = m.graph.forward(&x).unwrap();
        // Caffe's formulas in f64: ReLU max(0,x) + 0.1·min(0,x); PReLU per channel (0.5, 2),
        // then shared 0.25; ELU 0.5·(e^x − 1) below 0.
        for (i, (v, got)) in xs.iter().zip(y.iter()).enumerate() {
            let mut v = *v as f64;
            v = v.max(0.0) + 0.1 * v.min(0.0);
            v = v.max(0.0) + [0.5, 2.0][i / 3] * v.min(0.0);
            v = v.max(0.0) + 0.25 * v.min(0.0);
            let want = if v < 0.0 { 0.5 * v.exp_m1() } else { v };
            assert!(
                (*got as f64 - want).abs() <= 1e-6 * want.abs().max(1e-6),
                "{i}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn prelu_blobs_are_checked_and_drawn_per_channel() {
        let net = parse_net(NET, "act.prototxt").unwrap().message;
        let mut blobs: HashMap<String, LayerBlobs> = HashMap::new();
        blobs.insert("prelu".into(), vec![(vec![3], vec![0.5, 2.0, 1.0])]);
        blobs.insert("shared".into(), vec![(vec![], vec![0.25])]);
        let err = from_net_with_blobs(&net, &blobs, "act.caffemodel").unwrap_err();
        assert!(err.to_string().contains("layer `prelu` (PReLU)"), "{err}");
        let m = from_net_random(&net, 3, "act.prototxt").unwrap();
        let Op::PRelu(p) = &m.graph.nodes()[1].op else {
            panic!("PRelu expected")
        };
        assert_eq!(p.slope.len(), 2);
        assert!(
            p.slope.iter().all(|a| (0.125..0.375).contains(a)),
            "{:?}",
            p.slope
        );
        let Op::PRelu(p) = &m.graph.nodes()[2].op else {
            panic!("PRelu expected")
        };
        assert_eq!(p.slope.len(), 1);
        // Through caffemodel bytes and back: the shared slope's blob has shape [].
        let w = crate::import::caffe::random_weights(&net, 3).unwrap();
        let bytes = caffemodel_with_weights(&net, &w, "act.caffemodel").unwrap();
        let decoded = decode_caffemodel(&bytes, "act.caffemodel").unwrap();
        let back = crate::import::caffe::from_net(&net, Some(&decoded), "act.caffemodel").unwrap();
        assert_eq!(
            back.graph.nodes()[2].op.params(),
            m.graph.nodes()[2].op.params()
        );
    }
}
