//! Pooling.
//!
//! - [MaxPool](https://onnx.ai/onnx/operators/onnx__MaxPool.html) and
//!   [AveragePool](https://onnx.ai/onnx/operators/onnx__AveragePool.html) (opsets 7, 8, 10,
//!   11, 12, 19, 22) → [`Op::MaxPool`], [`Op::AvgPool`] ([`Pool2d`]): `kernel_shape`,
//!   `strides`, `pads` or `auto_pad`, `ceil_mode`, `count_include_pad`.
//! - [GlobalAveragePool](https://onnx.ai/onnx/operators/onnx__GlobalAveragePool.html)
//!   (opsets 1, 22) → [`Op::GlobalAvgPool`].
//!
//! Not covered: dilations ≠ 1; 1-D and 3-D pooling; MaxPool's `Indices` output;
//! `storage_order`; GlobalMaxPool, LpPool.

use super::attrs::{attribute_error, get_int, get_ints, pair};
use super::conv::pads;
use super::{Ctx, Importer, Layer};
use crate::error::Result;
use crate::ops::{Op, Pool2d, PoolRounding};

pub(super) fn pool(imp: &mut Importer<'_>, cx: &Ctx<'_>) -> Result<Layer> {
    let (node, x) = (cx.node, cx.x);
    let ks = get_ints(node, "kernel_shape")?
        .ok_or_else(|| attribute_error(node, "kernel_shape", "is required"))?;
    if ks.len() != 2 || ks.iter().any(|&k| !(1..1 << 20).contains(&k)) {
        return Err(attribute_error(
            node,
            "kernel_shape",
            format!("expected two positive values, got {ks:?}"),
        ));
    }
    let k = [ks[0] as usize, ks[1] as usize];
    let s = pair(node, "strides", 1)?;
    if pair(node, "dilations", 1)? != [1, 1] {
        return Err(attribute_error(
            node,
            "dilations",
            "dilated pooling is not supported",
        ));
    }
    let in_shape = imp.data_shape(node, x)?;
    if in_shape.len() != 3 {
        return Err(imp.unsupported(node, format!("input shape {in_shape:?} is not [C, H, W]")));
    }
    let pads = pads(node, &in_shape, k, s, [1, 1])?;
    let ceil = get_int(node, "ceil_mode")?.unwrap_or(0) != 0;
    let p = Pool2d::new(k, s)
        .with_pads(pads)
        .with_rounding(if ceil {
            PoolRounding::CeilClip
        } else {
            PoolRounding::Floor
        })
        .with_count_include_pad(get_int(node, "count_include_pad")?.unwrap_or(0) != 0);
    let op = if node.op_type() == "MaxPool" {
        if node.output.len() > 1 && !node.output[1].is_empty() {
            return Err(imp.unsupported(node, "the Indices output of MaxPool is not supported"));
        }
        Op::MaxPool(p)
    } else {
        Op::AvgPool(p)
    };
    Ok(Layer::on(op, x))
}

pub(super) fn global_average_pool(_: &mut Importer<'_>, cx: &Ctx<'_>) -> Result<Layer> {
    Ok(Layer::on(Op::GlobalAvgPool, cx.x))
}
