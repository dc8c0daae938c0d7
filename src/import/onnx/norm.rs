//! Normalisation layers.
//!
//! - [BatchNormalization](https://onnx.ai/onnx/operators/onnx__BatchNormalization.html)
//!   (opsets 7, 9, 14, 15) → [`Op::Affine`] in its inference form
//!   `y = γ (x − mean) / √(var + ε) + β`, from constant `scale`, `B`, `input_mean`,
//!   `input_var` and `epsilon`; canonisation folds it into the neighbouring linear layer.
//! - [LRN](https://onnx.ai/onnx/operators/onnx__LRN.html) (opsets 1, 13) → [`Op::Lrn`]:
//!   `size` (required), `alpha`, `beta`, `bias`.
//!
//! - [LayerNormalization](https://onnx.ai/onnx/operators/onnx__LayerNormalization.html)
//!   (opset 17; accepted in any opset, since the fusion below writes it into older models)
//!   → [`Op::LayerNorm`]: `axis` (default −1; not the batch axis), `epsilon` (default 1e-5),
//!   `stash_type` (ignored: we accumulate in f64, at least as precise as any stash type),
//!   constant `Scale` and optional `B`, each of a shape that broadcasts (numpy style,
//!   right-aligned) to the input and is 1 outside the normalised axes. Only output 0 may be
//!   used: a model that reads the mean or inverse standard deviation (outputs 1 and 2) is
//!   refused.
//! - The same normalisation spelled out by older exports (`ReduceMean`, `Sub`, `Pow`,
//!   `ReduceMean`, `Add`, `Sqrt`, `Div`, `Mul`, `Add`) is fused into a `LayerNormalization`
//!   node before import by [`super::fuse_norm`]; its normalised axes may then be any
//!   contiguous block of per-sample axes (the channels-first layer norm of ConvNeXt's
//!   reference code normalises over axis 1 of NCHW).
//!
//! Not covered: BatchNormalization's training mode (its running mean/variance outputs,
//! `training_mode = 1`), statistics computed from data; LayerNormalization over the batch
//! axis (`axis = 0`) and its outputs 1 and 2; InstanceNormalization, GroupNormalization.

use super::attrs::{attribute_error, get_float, get_int};
use super::fuse_norm::FUSED_AXES;
use super::{Ctx, Importer, Layer};
use crate::error::Result;
use crate::ops::{Affine, LayerNorm, Lrn, Op};
use ndarray::{Array1, ArrayD};

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

pub(super) fn layer_norm(imp: &mut Importer<'_>, cx: &Ctx<'_>) -> Result<Layer> {
    let node = cx.node;
    let fused = get_int(node, FUSED_AXES)?;
    let what = if fused.is_some() {
        " (of the layer normalisation fused from ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add)"
    } else {
        ""
    };
    if let Some(o) = node
        .output
        .iter()
        .skip(1)
        .find(|o| !o.is_empty() && imp.uses.get(o.as_str()).is_some_and(|&n| n > 0))
    {
        return Err(imp.unsupported(
            node,
            format!("output `{o}` (mean or inverse standard deviation) is used; only output 0 (the normalised tensor) is supported"),
        ));
    }
    let sample = imp.data_shape(node, cx.x)?;
    let rank = sample.len() as i64 + 1;
    let axis = get_int(node, "axis")?.unwrap_or(-1);
    let first = if axis < 0 { axis + rank } else { axis };
    if !(0..rank).contains(&first) {
        return Err(attribute_error(
            node,
            "axis",
            format!("{axis} is out of range for an input of rank {rank}"),
        ));
    }
    if first == 0 {
        return Err(attribute_error(
            node,
            "axis",
            format!("{axis} normalises over the batch axis; only per-sample axes (≥ 1) are supported{what}"),
        ));
    }
    let end = match fused {
        Some(count) if count >= 1 && first.checked_add(count).is_some_and(|e| e <= rank) => {
            first + count
        }
        Some(count) => {
            return Err(imp.unsupported(
                node,
                format!(
                "{count} normalised axes from axis {axis} do not fit an input of rank {rank}{what}"
            ),
            ))
        }
        None => rank,
    };
    let epsilon = get_float(node, "epsilon")?.unwrap_or(1e-5);
    let mut full = vec![1usize];
    full.extend(&sample);
    let (first, end) = (first as usize, end as usize);
    let expand = |i: usize, what_input: &str| -> Result<Option<Array1<f32>>> {
        let Some(c) = imp.optional_constant(node, i)? else {
            return Ok(None);
        };
        let values = broadcast_block(&c.floats(), &full, first, end)
            .map_err(|d| imp.unsupported(node, format!("{what_input} {d}{what}")))?;
        Ok(Some(values))
    };
    let scale = expand(1, "scale")?;
    let bias = expand(2, "bias")?;
    let scale = match scale {
        Some(s) => s,
        None if fused.is_some() => Array1::ones(full[first..end].iter().product::<usize>()),
        None => return Err(imp.unsupported(node, "input 1 (Scale) is required")),
    };
    let mut ln = LayerNorm::new(first - 1, epsilon, scale, bias);
    if end < full.len() {
        ln = ln.with_end(end - 1);
    }
    Ok(Layer::on(Op::LayerNorm(ln), cx.x))
}

/// The values of constant `c` over the block of axes `first..end` of a tensor of shape
/// `full`, row-major: `c` broadcasts numpy-style (right-aligned) to `full` and must be 1 on
/// every axis outside the block. The error says what does not fit.
fn broadcast_block(
    c: &ArrayD<f32>,
    full: &[usize],
    first: usize,
    end: usize,
) -> std::result::Result<Array1<f32>, String> {
    let cs = c.shape();
    let fits = cs.len() <= full.len()
        && cs
            .iter()
            .rev()
            .zip(full.iter().rev())
            .enumerate()
            .all(|(k, (&d, &f))| {
                let axis = full.len() - 1 - k;
                d == 1 || (d == f && (first..end).contains(&axis))
            });
    if !fits {
        return Err(format!(
            "of shape {cs:?} does not broadcast over the normalised axes {first}..{end} of the input {full:?} only"
        ));
    }
    // Index of `c` for each position of the block, through its (right-aligned) strides.
    let lead = full.len() - cs.len();
    let mut view = c.view().into_dyn();
    for _ in 0..lead {
        view.insert_axis_inplace(ndarray::Axis(0));
    }
    let block: Vec<usize> = full[first..end].to_vec();
    let mut at = vec![0usize; full.len()];
    let n: usize = block.iter().product();
    let mut out = Vec::with_capacity(n);
    for flat in 0..n {
        let mut rest = flat;
        for (k, &d) in block.iter().enumerate().rev() {
            let axis = first + k;
            at[axis] = if view.shape()[axis] == 1 { 0 } else { rest % d };
            rest /= d;
        }
        out.push(view[ndarray::IxDyn(&at)]);
    }
    Ok(Array1::from(out))
}
