//! Normalisation layers.
//!
//! - [BatchNormalization](https://onnx.ai/onnx/operators/onnx__BatchNormalization.html)
//!   (opsets 7, 9, 14, 15) → [`Op::Affine`] in its inference form
//!   `y = γ (x − mean) / √(var + ε) + β`, from constant `scale`, `B`, `input_mean`,
//!   `input_var` and `epsilon`; canonisation folds it into the neighbouring linear layer.
//! - [LRN](https://onnx.ai/onnx/operators/onnx__LRN.html) (opsets 1, 13) → [`Op::Lrn`]:
//!   `size` (required), `alpha`, `beta`, `bias`.
//!
//! Not covered: BatchNormalization's training mode (its running mean/variance outputs,
//! `training_mode = 1`), statistics computed from data; InstanceNormalization,
//! LayerNormalization, GroupNormalization.

use super::attrs::{attribute_error, get_float, get_int};
use super::{Ctx, Importer, Layer};
use crate::error::Result;
use crate::ops::{Affine, Lrn, Op};

pub(super) fn batch_norm(imp: &mut Importer<'_>, cx: &Ctx<'_>) -> Result<Layer> {
    let node = cx.node;
    if node.output.iter().skip(1).any(|o| !o.is_empty()) {
        return Err(imp.unsupported(
            node,
            "training-mode outputs (running mean/variance) are not supported",
        ));
    }
    let get = |i: usize| -> Result<Vec<f32>> {
        Ok(imp.constant(node, i)?.floats().iter().copied().collect())
    };
    let (gamma, beta, mean, var) = (get(1)?, get(2)?, get(3)?, get(4)?);
    let eps = get_float(node, "epsilon")?.unwrap_or(1e-5);
    let nref = crate::NodeRef::new(node.name(), "BatchNormalization");
    let affine = Affine::from_batch_norm(&nref, &gamma, &beta, &mean, &var, eps)?;
    Ok(Layer::on(Op::Affine(affine), cx.x))
}

pub(super) fn lrn(_: &mut Importer<'_>, cx: &Ctx<'_>) -> Result<Layer> {
    let node = cx.node;
    let size =
        get_int(node, "size")?.ok_or_else(|| attribute_error(node, "size", "is required"))?;
    if size < 1 {
        return Err(attribute_error(
            node,
            "size",
            format!("must be ≥ 1, got {size}"),
        ));
    }
    let lrn = Lrn::new(
        size as usize,
        get_float(node, "alpha")?.unwrap_or(1e-4),
        get_float(node, "beta")?.unwrap_or(0.75),
        get_float(node, "bias")?.unwrap_or(1.0),
    );
    Ok(Layer::on(Op::Lrn(lrn), cx.x))
}
