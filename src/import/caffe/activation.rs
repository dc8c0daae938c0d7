//! Activations and pass-through layers: `ReLU`, `Softmax`, `Dropout` (`Sigmoid` and `TanH`
//! need no builder of their own: their lines in the layer table make [`Op::Sigmoid`] and
//! [`Op::Tanh`]).
//!
//! - `ReLU` → [`Op::Relu`].
//! - `Softmax` → [`Op::Softmax`] along a per-sample `axis` (also GoogLeNet's auxiliary
//!   heads with `loss_weight`).
//! - `Dropout` → [`Op::Dropout`] (identity at inference; removed by canonisation).
//!
//! Not covered: leaky ReLU (`negative_slope` ≠ 0), `PReLU`, `ELU`, softmax over the batch
//! axis.

use super::builder::{canonical_axis, Builder};
use crate::error::Result;
use crate::import::proto::caffe::LayerParameter;
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
        return Err(b.err(
            layer,
            format!("leaky ReLU unsupported (negative_slope = {slope})"),
        ));
    }
    Ok(Op::Relu)
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
