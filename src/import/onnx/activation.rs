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
//!
//! Not covered: softmax over the batch axis; before opset 13, softmax over flattened axes
//! from an axis other than 1; Dropout's mask output when a node reads it (an error when the
//! graph is built); Identity of sequences or optionals.

use super::attrs::{attribute_error, get_int};
use super::{Ctx, Importer, Layer};
use crate::error::Result;
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
