//! Layers that combine or reshape blobs: `Concat`, `Eltwise`, `Flatten`.
//!
//! - `Concat` → [`Op::Concat`]: `axis` or the legacy `concat_dim`, a per-sample axis.
//! - `Eltwise` → [`Op::Add`] (`SUM` with all coefficients 1) or [`Op::Mul`] (`PROD`).
//! - `Flatten` → [`Op::Flatten`]: `axis: 1`, `end_axis: -1` only.
//!
//! Not covered: concatenation along the batch axis, `Eltwise` `MAX` and weighted sums,
//! `Flatten` of other axis ranges, `Reshape`, `Slice`, `Crop`.

use super::builder::{canonical_axis, Builder};
use crate::error::Result;
use crate::import::proto::caffe::{eltwise_parameter::EltwiseOp, LayerParameter};
use crate::ops::{Concat, Op};

pub(super) fn concat(
    b: &mut Builder<'_>,
    layer: &LayerParameter,
    inputs: &[Vec<usize>],
) -> Result<Op> {
    let rank = inputs.first().map_or(1, Vec::len) + 1;
    let p = layer.concat_param.unwrap_or_default();
    let axis = match (p.axis, p.concat_dim) {
        (Some(a), _) => a,
        (None, Some(d)) => i32::try_from(d).unwrap_or(i32::MAX),
        (None, None) => 1,
    };
    match canonical_axis(axis, rank) {
        Some(a) if a >= 1 => Ok(Op::Concat(Concat::new(a - 1))),
        Some(_) => Err(b.err(layer, "concatenation along the batch axis unsupported")),
        None => Err(b.err(
            layer,
            format!("axis {axis} out of range for inputs of rank {rank}"),
        )),
    }
}

pub(super) fn eltwise(b: &mut Builder<'_>, layer: &LayerParameter, _: &[Vec<usize>]) -> Result<Op> {
    let p = layer.eltwise_param.clone().unwrap_or_default();
    match p.operation() {
        EltwiseOp::Sum if p.coeff.iter().all(|&c| c == 1.0) => Ok(Op::Add),
        EltwiseOp::Sum => Err(b.err(
            layer,
            format!("weighted sums unsupported (coeff {:?})", p.coeff),
        )),
        EltwiseOp::Prod => Ok(Op::Mul),
        EltwiseOp::Max => Err(b.err(layer, "Eltwise MAX unsupported")),
    }
}

pub(super) fn flatten(
    b: &mut Builder<'_>,
    layer: &LayerParameter,
    inputs: &[Vec<usize>],
) -> Result<Op> {
    let x = b.one_input(layer, inputs)?;
    let p = layer.flatten_param.unwrap_or_default();
    let rank = x.len() + 1;
    if canonical_axis(p.axis(), rank) != Some(1)
        || canonical_axis(p.end_axis(), rank) != Some(rank - 1)
    {
        return Err(b.err(
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
