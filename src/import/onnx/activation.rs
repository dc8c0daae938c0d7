//! Element-wise activations and pass-through operators.
//!
//! - [Relu](https://onnx.ai/onnx/operators/onnx__Relu.html) (opsets 6, 13, 14) →
//!   [`Op::Relu`].
//! - [Softmax](https://onnx.ai/onnx/operators/onnx__Softmax.html) (opsets 1, 11, 13) →
//!   [`Op::Softmax`] along one per-sample axis. Before opset 13 Softmax works on the sample
//!   flattened from `axis` on; with `axis = 1` and non-trivial trailing axes it becomes
//!   Flatten → Softmax → Reshape (helper nodes `NAME/flatten`, `NAME/softmax`).
//! - [Dropout](https://onnx.ai/onnx/operators/onnx__Dropout.html) (opsets 7, 10, 12, 13) →
//!   [`Op::Dropout`] (inference: identity; removed by canonisation).
//! - [Identity](https://onnx.ai/onnx/operators/onnx__Identity.html) (opsets 1, 13, 14, 16,
//!   19, 21) → [`Op::Identity`].
//! - [Clip](https://onnx.ai/onnx/operators/onnx__Clip.html) (opsets 6, 11, 12, 13) →
//!   [`Op::Clip`]: before opset 11 the attributes `min`/`max` (defaults ∓3.402823e38), from
//!   11 on the optional constant inputs 1 and 2 (absent or empty name: unbounded). PyTorch
//!   exports ReLU6 (MobileNetV2) as `Clip(x, 0, 6)`.
//! - [HardSigmoid](https://onnx.ai/onnx/operators/onnx__HardSigmoid.html) (opsets 6, 22) →
//!   [`Op::HardSigmoid`] (`alpha` default 0.2, `beta` 0.5).
//! - [HardSwish](https://onnx.ai/onnx/operators/onnx__HardSwish.html) (opsets 14, 22) →
//!   [`Op::HardSwish`].
//! - [LeakyRelu](https://onnx.ai/onnx/operators/onnx__LeakyRelu.html) (opsets 6, 16) →
//!   [`Op::LeakyRelu`] (`alpha` default 0.01).
//! - [Elu](https://onnx.ai/onnx/operators/onnx__Elu.html) (opsets 6, 22) → [`Op::Elu`]
//!   (`alpha` default 1).
//! - [Gelu](https://onnx.ai/onnx/operators/onnx__Gelu.html) (opset 20) → [`Op::Gelu`]
//!   (`approximate` = `"none"` or `"tanh"`).
//! - [Swish](https://onnx.ai/onnx/operators/onnx__Swish.html) (opset 24) with `alpha = 1` →
//!   [`Op::Silu`]; the importer reads opsets up to 22, so today Swish nodes come only from
//!   the fusion of `Mul(x, Sigmoid(x))` ([`super::fuse_act`]).
//! - [PRelu](https://onnx.ai/onnx/operators/onnx__PRelu.html) (opsets 7, 9, 16) →
//!   [`Op::PRelu`] with a constant slope that broadcasts (unidirectionally) per channel,
//!   e.g. `[C, 1, 1]` or `[1, C, 1, 1]` on `[N, C, H, W]`, `[C]` on `[N, C]`, or is a single
//!   value.
//!
//! The operators with parameters but no data-dependent shape (Clip, HardSigmoid, HardSwish,
//! LeakyRelu, Elu, Gelu) are also evaluated on constants by the folder ([`super::fold`]).
//!
//! Not covered: softmax over the batch axis; before opset 13, softmax over flattened axes
//! from an axis other than 1; Dropout's mask output when a node reads it (an error when the
//! graph is built); Identity of sequences or optionals; Clip bounds computed from data;
//! Swish with `alpha ≠ 1`; PRelu slopes computed from data or broadcast along other axes than
//! the channels (per row, per pixel, per element of the sample); Mish, Softplus, Selu,
//! ThresholdedRelu, Celu.

use super::arith::broadcast_per_channel;
use super::attrs::{attribute_error, get_float, get_int, get_string};
use super::fold::Const;
use super::{Ctx, Importer, Layer};
use crate::error::Result;
use crate::import::proto::onnx::NodeProto;
use crate::ops::clip::Clip;
use crate::ops::elu::Elu;
use crate::ops::gelu::{Gelu, GeluApprox};
use crate::ops::hard_sigmoid::HardSigmoid;
use crate::ops::leaky_relu::LeakyRelu;
use crate::ops::prelu::PRelu;
use crate::ops::{Op, Reshape, Softmax};

pub(super) fn relu(_: &mut Importer<'_>, cx: &Ctx<'_>) -> Result<Layer> {
    Ok(Layer::on(Op::Relu, cx.x))
}

pub(super) fn dropout(_: &mut Importer<'_>, cx: &Ctx<'_>) -> Result<Layer> {
    // The mask output is allowed as long as nothing reads it (checked when the graph is
    // built: a read of an unknown tensor is an error).
    Ok(Layer::on(Op::Dropout, cx.x))
}

pub(super) fn identity(_: &mut Importer<'_>, cx: &Ctx<'_>) -> Result<Layer> {
    Ok(Layer::on(Op::Identity, cx.x))
}

pub(super) fn softmax(imp: &mut Importer<'_>, cx: &Ctx<'_>) -> Result<Layer> {
    let (node, x) = (cx.node, cx.x);
    let shape = imp.data_shape(node, x)?;
    let rank = shape.len() as i64 + 1;
    let default = if imp.opset >= 13 { -1 } else { 1 };
    let axis = get_int(node, "axis")?.unwrap_or(default);
    let axis = if axis < 0 { axis + rank } else { axis };
    if axis < 1 || axis >= rank {
        return Err(attribute_error(
            node,
            "axis",
            format!("softmax over axis {axis} of a rank-{rank} tensor is not supported"),
        ));
    }
    // Before opset 13 Softmax flattens the axes from `axis` on; that equals a softmax along
    // one axis only when the axes after it are all 1.
    if imp.opset < 13 && shape[axis as usize..].iter().any(|&d| d != 1) {
        if axis != 1 {
            return Err(imp.unsupported(
                node,
                format!(
                    "opset {} Softmax over the flattened axes {axis}.. of {shape:?} is not \
                     supported",
                    imp.opset
                ),
            ));
        }
        // Flatten, softmax, and reshape back.
        let out = node.output.first().cloned().unwrap_or_default();
        let flat = format!("{out}/flat");
        let soft = format!("{out}/softmax");
        imp.push_helper(
            cx,
            "flatten",
            Op::Flatten,
            vec![x.to_string()],
            flat.clone(),
        )?;
        let op = Op::Softmax(Softmax::new(0));
        imp.push_helper(cx, "softmax", op, vec![flat], soft.clone())?;
        return Ok(Layer::on(Op::Reshape(Reshape::new(shape)), &soft));
    }
    Ok(Layer::on(Op::Softmax(Softmax::new(axis as usize - 1)), x))
}

/// Clip, HardSigmoid, HardSwish, LeakyRelu, Elu, Gelu and Swish: one data input, parameters
/// from attributes and constant inputs ([`unary_op`]).
pub(super) fn unary(imp: &mut Importer<'_>, cx: &Ctx<'_>) -> Result<Layer> {
    Ok(Layer::on(unary_op(imp, cx.node)?, cx.x))
}

/// The same operators on a constant input, for the constant folder.
pub(super) fn fold_unary(imp: &Importer<'_>, node: &NodeProto) -> Result<Const> {
    let op = unary_op(imp, node)?;
    let x = imp.constant(node, 0)?.floats();
    Ok(Const::F(op.forward(&[&x])))
}

/// The operator of a parameterised element-wise node (see [`unary`]).
fn unary_op(imp: &Importer<'_>, node: &NodeProto) -> Result<Op> {
    let float =
        |name: &str, default: f32| Ok::<_, crate::Error>(get_float(node, name)?.unwrap_or(default));
    Ok(match node.op_type() {
        "Clip" => Op::Clip(clip(imp, node)?),
        "HardSigmoid" => {
            Op::HardSigmoid(HardSigmoid::new(float("alpha", 0.2)?, float("beta", 0.5)?))
        }
        "HardSwish" => Op::HardSwish,
        "LeakyRelu" => Op::LeakyRelu(LeakyRelu::new(float("alpha", 0.01)?)),
        "Elu" => Op::Elu(Elu::new(float("alpha", 1.0)?)),
        "Gelu" => {
            let approximate = match get_string(node, "approximate")?.unwrap_or("none") {
                "none" => GeluApprox::Erf,
                "tanh" => GeluApprox::Tanh,
                other => {
                    return Err(attribute_error(
                        node,
                        "approximate",
                        format!("expected \"none\" or \"tanh\", got \"{other}\""),
                    ))
                }
            };
            Op::Gelu(Gelu::new(approximate))
        }
        "Swish" => {
            let alpha = float("alpha", 1.0)?;
            if alpha != 1.0 {
                return Err(attribute_error(
                    node,
                    "alpha",
                    format!("only alpha = 1 (SiLU) is supported, got {alpha}"),
                ));
            }
            Op::Silu
        }
        other => return Err(imp.unsupported(node, format!("operator {other} is not supported"))),
    })
}

/// Clip's bounds: attributes before opset 11, optional constant scalar inputs from 11 on.
fn clip(imp: &Importer<'_>, node: &NodeProto) -> Result<Clip> {
    if imp.opset < 11 {
        let min = get_float(node, "min")?.unwrap_or(-3.402_823e38);
        let max = get_float(node, "max")?.unwrap_or(3.402_823e38);
        return Ok(Clip::new(min, max));
    }
    let mut bounds = [f32::NEG_INFINITY, f32::INFINITY];
    for (i, bound) in bounds.iter_mut().enumerate() {
        if let Some(c) = imp.optional_constant(node, i + 1)? {
            let v = c.floats();
            *bound = match v.len() {
                1 => v.iter().copied().next().unwrap_or(*bound),
                n => {
                    return Err(imp.unsupported(
                        node,
                        format!("input {} must be a scalar, got {n} values", i + 1),
                    ))
                }
            };
        }
    }
    Ok(Clip::new(bounds[0], bounds[1]))
}

/// PRelu with a constant slope that is one value or one per channel of the data input.
pub(super) fn prelu(imp: &mut Importer<'_>, cx: &Ctx<'_>) -> Result<Layer> {
    let (node, x) = (cx.node, cx.x);
    if node.input.first().map(String::as_str) != Some(x) {
        return Err(imp.unsupported(node, "input 0 (the data) must not be a constant"));
    }
    let shape = imp.data_shape(node, x)?;
    let slope = imp.weight(node, 1)?;
    if broadcast_per_channel(slope.shape(), &shape).is_none() {
        return Err(imp.unsupported(
            node,
            format!(
                "the slope of shape {:?} does not broadcast per channel (or as a single value) \
                 over [N, {}]",
                slope.shape(),
                shape
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let slope: Vec<f32> = slope.iter().copied().collect();
    Ok(Layer::on(Op::PRelu(PRelu::new(slope)), x))
}
