//! Pooling.
//!
//! - [MaxPool](https://onnx.ai/onnx/operators/onnx__MaxPool.html) and
//!   [AveragePool](https://onnx.ai/onnx/operators/onnx__AveragePool.html) (opsets 7, 8, 10,
//!   11, 12, 19, 22) → [`Op::MaxPool`], [`Op::AvgPool`] ([`Pool2d`]): `kernel_shape`,
//!   `strides`, `pads` or `auto_pad`, `ceil_mode`, `count_include_pad`.
//! - [GlobalAveragePool](https://onnx.ai/onnx/operators/onnx__GlobalAveragePool.html)
//!   (opsets 1, 22) → [`Op::GlobalAvgPool`].
//! - [ReduceMean](https://onnx.ai/onnx/operators/onnx__ReduceMean.html) (opsets 1, 11, 13,
//!   18) over the two spatial axes of a 4-D tensor (what torch's dynamo exporter writes for
//!   `adaptive_avg_pool2d(x, 1)` and `x.mean((2, 3))`) → [`Op::GlobalAvgPool`], followed by
//!   an [`Op::Flatten`] (`NAME`, the pooling being `NAME/pool`) when `keepdims = 0`. Axes as
//!   an attribute (before opset 18) or a constant input (from 18), negative allowed;
//!   `noop_with_empty_axes = 1` without axes is the identity.
//!
//! Not covered: dilations ≠ 1; 1-D and 3-D pooling; MaxPool's `Indices` output;
//! `storage_order`; GlobalMaxPool, LpPool; ReduceMean over other axes (the channel axis of a
//! spelled-out layer normalisation is fused before this builder sees it) or over all axes.

use super::attrs::{attribute_error, get_int, get_ints, pair};
use super::conv::pads;
use super::layout::full_axis;
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

pub(super) fn reduce_mean(imp: &mut Importer<'_>, cx: &Ctx<'_>) -> Result<Layer> {
    let (node, x) = (cx.node, cx.x);
    let shape = imp.data_shape(node, x)?;
    let axes: Vec<i64> = if imp.opset >= 18 {
        imp.optional_constant(node, 1)?
            .map(|c| c.ints())
            .unwrap_or_default()
    } else {
        get_ints(node, "axes")?
            .map(<[i64]>::to_vec)
            .unwrap_or_default()
    };
    let keepdims = get_int(node, "keepdims")?.unwrap_or(1) != 0;
    if axes.is_empty() {
        if imp.opset >= 18 && get_int(node, "noop_with_empty_axes")?.unwrap_or(0) != 0 {
            return Ok(Layer::on(Op::Identity, x));
        }
        return Err(imp.unsupported(
            node,
            "ReduceMean over all axes (batch included) is not supported",
        ));
    }
    let rank = shape.len() + 1;
    let mut full: Vec<usize> = axes
        .iter()
        .map(|&a| full_axis(a, rank))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            imp.unsupported(node, format!("axes {axes:?} out of range for rank {rank}"))
        })?;
    full.sort_unstable();
    full.dedup();
    if rank != 4 || full != [2, 3] {
        return Err(imp.unsupported(
            node,
            format!(
                "ReduceMean over axes {axes:?} of a rank-{rank} tensor is not supported; only \
                 the spatial axes [2, 3] of a 4-D tensor (global average pooling)"
            ),
        ));
    }
    if keepdims {
        return Ok(Layer::on(Op::GlobalAvgPool, x));
    }
    let pooled = format!("{}/pool", node.output.first().cloned().unwrap_or_default());
    imp.push_helper(
        cx,
        "pool",
        Op::GlobalAvgPool,
        vec![x.to_string()],
        pooled.clone(),
    )?;
    Ok(Layer::on(Op::Flatten, &pooled))
}
