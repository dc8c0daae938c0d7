//! Shape operators on data.
//!
//! - [Flatten](https://onnx.ai/onnx/operators/onnx__Flatten.html) (opsets 1, 9, 11, 13, 21)
//!   → [`Op::Flatten`]: `axis = 1` (keep the batch) only.
//! - [Reshape](https://onnx.ai/onnx/operators/onnx__Reshape.html) (opsets 1, 5, 13, 14, 19,
//!   21) → [`Op::Flatten`] or [`Op::Reshape`]: the target's first dimension keeps the batch
//!   (0, −1, 1 or the batch size the model's input declares, which legacy exports spell out);
//!   shape as a constant input (opset ≥ 5) or attribute; `allowzero` as long as the target
//!   has no 0. With a declared batch of 1, a target without a batch entry (`reshape(-1)`)
//!   merges the batch into the result; only a Reshape giving the batch back or the Gather of
//!   torch's `as_strided` may read such a tensor ([`super::layout`]).
//! - [Concat](https://onnx.ai/onnx/operators/onnx__Concat.html) (opsets 4, 11, 13) →
//!   [`Op::Concat`] of data tensors along a per-sample axis; with constant inputs (a vision
//!   transformer's class token, its batch axis of size 1) → [`Op::ConstConcat`].
//!
//! A Reshape of data whose batch axis is not first (declared batch 1; see
//! [`super::Batch`]) resolves the target against the ONNX shape; the batch is the first axis
//! of size 1 with as many elements before it as before the input's batch axis, else it is
//! merged into the other axes.
//! - [Pad](https://onnx.ai/onnx/operators/onnx__Pad.html) (opsets 2, 11, 13, 18, 19, 21) →
//!   [`Op::Pad`]: `constant` mode, pads as input (opset ≥ 11) or attribute, the optional
//!   constant value and (opset 18) `axes`.
//!
//! Not covered: Flatten at other axes; Reshape across the batch otherwise, `allowzero` with a 0
//! in the target; Concat along
//! the batch axis; Pad's `reflect`, `edge` and `wrap` modes,
//! negative (cropping) pads, padding the batch axis; Squeeze and Unsqueeze on data (on
//! constants they are folded, see [`super::fold`]).

use super::attrs::{attribute_error, get_float, get_int, get_ints, get_string};
use super::{Batch, Ctx, Importer, Layer};
use crate::error::Result;
use crate::ops::const_concat::ConstConcat;
use crate::ops::{Concat, Op, Pad, Reshape};

pub(super) fn flatten(imp: &mut Importer<'_>, cx: &Ctx<'_>) -> Result<Layer> {
    let (node, x) = (cx.node, cx.x);
    let axis = get_int(node, "axis")?.unwrap_or(1);
    let rank = imp.data_shape(node, x)?.len() as i64 + 1;
    if axis != 1 && axis != 1 - rank {
        return Err(imp.unsupported(
            node,
            format!("Flatten with axis {axis}: only axis 1 (keep the batch) is supported"),
        ));
    }
    Ok(Layer::on(Op::Flatten, x))
}

pub(super) fn reshape(imp: &mut Importer<'_>, cx: &Ctx<'_>) -> Result<Layer> {
    let (node, x) = (cx.node, cx.x);
    let target: Vec<i64> = if imp.opset >= 5 && node.input.len() > 1 {
        imp.constant(node, 1)?.ints()
    } else {
        get_ints(node, "shape")?
            .ok_or_else(|| attribute_error(node, "shape", "is required"))?
            .to_vec()
    };
    if get_int(node, "allowzero")?.unwrap_or(0) != 0 && target.contains(&0) {
        return Err(attribute_error(
            node,
            "allowzero",
            format!("target {target:?}: a 0 that makes an empty axis is not supported"),
        ));
    }
    let in_shape = imp.data_shape(node, x)?;
    let batch = imp.batch_of(x);
    if batch != Batch::At(0) && imp.batch != 1 {
        return Err(imp.unsupported(
            node,
            format!("reshapes `{x}`, whose batch axis is not first ({batch:?}); that needs a declared batch of 1"),
        ));
    }
    let (per_sample, out_batch) = if batch == Batch::At(0) {
        reshape_target(&target, &in_shape, imp.batch, batch == Batch::Merged)
            .map(|(s, merged)| (s, if merged { Batch::Merged } else { Batch::At(0) }))
    } else {
        moved_batch_reshape(&target, &in_shape, batch)
    }
    .map_err(|d| {
        let shown = format!("{:?} (batch {batch:?})", batch.onnx_shape(&in_shape));
        imp.unsupported(node, format!("shape {target:?} for input {shown}: {d}"))
    })?;
    imp.out_batch = Some(out_batch);
    if per_sample.len() == 1 && out_batch == Batch::At(0) {
        Ok(Layer::on(Op::Flatten, x))
    } else {
        Ok(Layer::on(Op::Reshape(Reshape::new(per_sample)), x))
    }
}

/// The per-sample shape of a data Reshape to `target` of an input of per-sample shape
/// `per_sample`, and whether the result has its batch merged into its axes.
///
/// Normally the target's first entry keeps the batch ([`per_sample_reshape`]). With a
/// declared batch of 1, a target without a batch entry (torch's `x.reshape(-1)`) merges the
/// batch into the result: its ONNX shape is the per-sample shape. The input may itself be
/// batch-merged (its ONNX shape is `per_sample`); a target starting with 1 gives the batch
/// back.
fn reshape_target(
    target: &[i64],
    per_sample: &[usize],
    batch: i64,
    merged_in: bool,
) -> std::result::Result<(Vec<usize>, bool), String> {
    if merged_in {
        let full = resolve_shape(target, per_sample)?;
        return Ok(match full.split_first() {
            Some((1, rest)) if !rest.is_empty() => (rest.to_vec(), false),
            _ => (full, true),
        });
    }
    match per_sample_reshape(target, per_sample, batch) {
        Ok(s) => Ok((s, false)),
        Err(e) if batch == 1 => {
            let mut with_batch = vec![1usize];
            with_batch.extend_from_slice(per_sample);
            match resolve_shape(target, &with_batch) {
                Ok(full) => Ok((full, true)),
                Err(_) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// The per-sample shape and batch position of a Reshape (declared batch 1) of a tensor whose
/// batch axis is not first (see [`Batch`]): the target is resolved against the ONNX shape;
/// the batch is the first axis of size 1 whose position in the row-major order matches the
/// input's (as many elements before it), or merged into the other axes when there is none.
fn moved_batch_reshape(
    target: &[i64],
    per_sample: &[usize],
    batch: Batch,
) -> std::result::Result<(Vec<usize>, Batch), String> {
    let full_in = batch.onnx_shape(per_sample);
    let out = resolve_shape(target, &full_in)?;
    let before = |s: &[usize], j: usize| s[..j].iter().product::<usize>();
    let pick = |ok: &dyn Fn(usize) -> bool| {
        (0..out.len()).find(|&j| out[j] == 1 && out.len() > 1 && ok(j))
    };
    let j = match batch {
        Batch::At(b) => {
            let prefix = before(&full_in, b);
            pick(&|j| before(&out, j) == prefix)
        }
        Batch::Merged => pick(&|_| true),
    };
    Ok(match j {
        Some(j) => {
            let mut s = out;
            s.remove(j);
            (s, Batch::At(j))
        }
        None => (out, Batch::Merged),
    })
}

pub(super) fn concat(imp: &mut Importer<'_>, cx: &Ctx<'_>) -> Result<Layer> {
    let (node, x) = (cx.node, cx.x);
    let axis =
        get_int(node, "axis")?.ok_or_else(|| attribute_error(node, "axis", "is required"))?;
    let rank = imp.data_shape(node, x)?.len() as i64 + 1;
    let axis = if axis < 0 { axis + rank } else { axis };
    if axis < 1 || axis >= rank {
        return Err(imp.unsupported(
            node,
            format!("Concat along axis {axis}: only per-sample axes are supported"),
        ));
    }
    if node.input.iter().any(|i| imp.is_const(i)) {
        return const_concat(imp, cx, axis as usize - 1);
    }
    Ok(Layer {
        op: Op::Concat(Concat::new(axis as usize - 1)),
        inputs: node.input.clone(),
    })
}

/// Concat of data with constants (a class token): the constants' ONNX shapes include the
/// batch axis where the data has it, of size 1 (the batch they are expanded to); it is
/// dropped to give their per-sample shape.
fn const_concat(imp: &mut Importer<'_>, cx: &Ctx<'_>, axis: usize) -> Result<Layer> {
    let node = cx.node;
    let batch = imp.batch_of(cx.x);
    let rank = imp.data_shape(node, cx.x)?.len();
    let mut parts = Vec::new();
    let mut inputs = Vec::new();
    for name in &node.input {
        if !imp.is_const(name) {
            parts.push(None);
            inputs.push(name.clone());
            continue;
        }
        let c = imp.consts[name.as_str()].floats();
        let mut shape = c.shape().to_vec();
        if let Batch::At(b) = batch {
            if shape.len() != rank + 1 || shape[b] != 1 {
                return Err(imp.unsupported(
                    node,
                    format!("constant `{name}` has shape {shape:?}; expected rank {} with 1 on the batch axis {b}", rank + 1),
                ));
            }
            shape.remove(b);
        }
        let c = c
            .into_shape_with_order(ndarray::IxDyn(&shape))
            .map_err(|e| imp.unsupported(node, format!("constant `{name}`: {e}")))?;
        parts.push(Some(crate::ops::standard(c)));
    }
    Ok(Layer {
        op: Op::ConstConcat(ConstConcat::new(axis, parts)),
        inputs,
    })
}

/// Pads `[begin…, end…]` over all axes (batch included) and the constant value: from the
/// inputs (opset ≥ 11, with the optional `axes` of opset 18) or the attributes.
fn pads_and_value(imp: &Importer<'_>, cx: &Ctx<'_>, rank: usize) -> Result<(Vec<i64>, f32)> {
    let node = cx.node;
    if imp.opset < 11 {
        let pads = get_ints(node, "pads")?
            .ok_or_else(|| attribute_error(node, "pads", "is required"))?
            .to_vec();
        return Ok((pads, get_float(node, "value")?.unwrap_or(0.0)));
    }
    let pads = imp.constant(node, 1)?.ints();
    let value = match imp.optional_constant(node, 2)? {
        Some(v) => v.floats().iter().next().copied().unwrap_or(0.0),
        None => 0.0,
    };
    // Opset 18: optional axes input; pads then cover only those axes.
    let Some(axes) = imp.optional_constant(node, 3)? else {
        return Ok((pads, value));
    };
    let axes = axes.ints();
    if pads.len() != 2 * axes.len() {
        return Err(imp.unsupported(node, format!("{} pads for {} axes", pads.len(), axes.len())));
    }
    let mut full = vec![0i64; 2 * rank];
    for (j, &a) in axes.iter().enumerate() {
        let a = if a < 0 { a + rank as i64 } else { a };
        if a < 0 || a >= rank as i64 {
            return Err(imp.unsupported(node, format!("axis {a} out of range")));
        }
        full[a as usize] = pads[j];
        full[a as usize + rank] = pads[j + axes.len()];
    }
    Ok((full, value))
}

pub(super) fn pad(imp: &mut Importer<'_>, cx: &Ctx<'_>) -> Result<Layer> {
    let (node, x) = (cx.node, cx.x);
    let mode = get_string(node, "mode")?.unwrap_or("constant");
    if mode != "constant" {
        return Err(attribute_error(
            node,
            "mode",
            format!("only constant padding is supported, got `{mode}`"),
        ));
    }
    let rank = imp.data_shape(node, x)?.len() + 1;
    let (pads, value) = pads_and_value(imp, cx, rank)?;
    if pads.len() != 2 * rank {
        return Err(imp.unsupported(node, format!("{} pads for a rank-{rank} input", pads.len())));
    }
    if pads.iter().any(|&p| !(0..1 << 20).contains(&p)) {
        return Err(imp.unsupported(
            node,
            format!("pads {pads:?}: negative (cropping) or huge pads are not supported"),
        ));
    }
    if pads[0] != 0 || pads[rank] != 0 {
        return Err(imp.unsupported(node, "padding the batch axis is not supported"));
    }
    let begin = pads[1..rank].iter().map(|&p| p as usize).collect();
    let end = pads[rank + 1..].iter().map(|&p| p as usize).collect();
    Ok(Layer::on(Op::Pad(Pad::new(begin, end, value)), x))
}

/// Resolve an ONNX Reshape target (0 copies, −1 infers) against a full shape.
pub(super) fn resolve_shape(
    target: &[i64],
    input: &[usize],
) -> std::result::Result<Vec<usize>, String> {
    // Checked products throughout: the target comes from the file, and a product that
    // wraps could match the input's count.
    let product = |s: &[usize]| crate::import::checked_product(s).ok_or("too many elements");
    let total: usize = product(input)?;
    let mut out = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &t) in target.iter().enumerate() {
        match t {
            0 => out.push(*input.get(i).ok_or("0 refers to a missing axis")?),
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            t if t > 0 && t < 1 << 31 => out.push(t as usize),
            _ => return Err(format!("invalid target dimension {t}")),
        }
    }
    if let Some(i) = infer {
        let known: usize = product(&out)?;
        if known == 0 || total % known != 0 {
            return Err("the size cannot be inferred".into());
        }
        out[i] = total / known;
    }
    if product(&out)? != total {
        return Err(format!("{total} elements do not fit"));
    }
    Ok(out)
}

/// The per-sample shape of a data Reshape: the target's first dimension is the batch
/// (0, −1, 1 or the declared batch size `batch`).
fn per_sample_reshape(
    target: &[i64],
    per_sample: &[usize],
    batch: i64,
) -> std::result::Result<Vec<usize>, String> {
    let Some((&first, rest)) = target.split_first() else {
        return Err("empty target shape".into());
    };
    if !(-1..=1).contains(&first) && first != batch {
        return Err(format!(
            "the first dimension {first} must keep the batch (0, -1, 1 or the declared batch {batch})"
        ));
    }
    if first == -1 && rest.contains(&-1) {
        return Err("two dimensions to infer".into());
    }
    // 0 copies per-sample axis i − 1 of the input.
    let mut with_batch = vec![1usize];
    with_batch.extend_from_slice(per_sample);
    let rest: Vec<i64> = rest.to_vec();
    let mut probe = vec![1i64];
    probe.extend(rest);
    let out = resolve_shape(&probe, &with_batch)?;
    Ok(out[1..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reshape_targets() {
        assert_eq!(
            per_sample_reshape(&[0, -1], &[3, 4, 5], 1).unwrap(),
            vec![60]
        );
        assert_eq!(
            per_sample_reshape(&[1, 12, 5], &[3, 4, 5], 1).unwrap(),
            vec![12, 5]
        );
        assert_eq!(
            per_sample_reshape(&[-1, 60], &[3, 4, 5], 1).unwrap(),
            vec![60]
        );
        assert!(per_sample_reshape(&[7, -1], &[3, 4, 5], 1).is_err());
        assert!(per_sample_reshape(&[0, 7], &[3, 4, 5], 1).is_err());
        // The declared batch spelled out (legacy exports fold `x.size(0)` to it), rank 5
        // with 0 and -1: ShuffleNet's `x.view(b, g, c / g, h, w)`.
        assert_eq!(
            per_sample_reshape(&[4, 2, -1, 0, 5], &[6, 5, 7], 4).unwrap(),
            vec![2, 3, 7, 5]
        );
        assert!(per_sample_reshape(&[4, -1], &[6, 5, 7], 1).is_err());
    }

    #[test]
    fn batch_merging_reshapes() {
        // torch's reshape(-1) of [1, 768, 1, 1]: the batch merges into [768].
        assert_eq!(
            reshape_target(&[-1], &[768, 1, 1], 1, false).unwrap(),
            (vec![768], true)
        );
        // Not with a declared batch of 2.
        assert!(reshape_target(&[-1], &[768, 1, 1], 2, false).is_err());
        // A merged tensor gets its batch back from a leading 1, or stays merged.
        assert_eq!(
            reshape_target(&[1, 768], &[768], 1, true).unwrap(),
            (vec![768], false)
        );
        assert_eq!(
            reshape_target(&[2, 384], &[768], 1, true).unwrap(),
            (vec![2, 384], true)
        );
        // The usual reading wins: [1, -1] keeps the batch.
        assert_eq!(
            reshape_target(&[1, -1], &[768, 1, 1], 1, false).unwrap(),
            (vec![768], false)
        );
    }
}
