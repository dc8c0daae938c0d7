//! Operators that move data between positions: permute, slice, split, gather.
//!
//! - [Transpose](https://onnx.ai/onnx/operators/onnx__Transpose.html) (opsets 1, 13, 21) →
//!   [`Op::Transpose`]: `perm` (default: reverse the axes).
//! - [Slice](https://onnx.ai/onnx/operators/onnx__Slice.html) (opsets 1, 10, 11, 13) →
//!   [`Op::Slice`]: `starts`, `ends`, `axes` as attributes (opset < 10) or constant inputs,
//!   with `steps` (opset ≥ 10, negative allowed); an entry for the batch axis must keep it
//!   whole (start 0, step 1, end past it).
//! - [Split](https://onnx.ai/onnx/operators/onnx__Split.html) (opsets 2, 11, 13, 18) → one
//!   [`Op::Slice`] node per output (the first output is the node itself, the others are
//!   `NAME/output1`, …): sizes from `split` (attribute before opset 13, constant input from
//!   13), from `num_outputs` (opset 18: parts of `⌈d / n⌉`, the last one smaller) or equal
//!   parts; along a per-sample axis.
//! - [Gather](https://onnx.ai/onnx/operators/onnx__Gather.html) (opsets 1, 11, 13) of data with
//!   constant indices: along a per-sample axis with indices `start, start + step, …` (1-D) →
//!   [`Op::Slice`], a scalar index → a slice and an [`Op::Reshape`] that drops the axis; and
//!   the `as_strided` pattern of torch's dynamo exporter (a data tensor reshaped to `[-1]`
//!   with the batch merged in, declared batch 1, then gathered along axis 0 with the indices
//!   `0, 1, …` in order) → [`Op::Reshape`] to the indices' shape.
//!
//! - [Squeeze](https://onnx.ai/onnx/operators/onnx__Squeeze.html) and
//!   [Unsqueeze](https://onnx.ai/onnx/operators/onnx__Unsqueeze.html) (opsets 1, 11, 13, 21)
//!   of data → [`Op::Reshape`]: axes as an attribute (before opset 13) or a constant input;
//!   squeezing the batch axis (declared 1) merges it into the other axes; Squeeze without
//!   axes is not covered.
//!
//! Data whose batch axis is not first ([`super::Batch`]): Transpose moves it where `perm`
//! puts it (the per-sample axes permute among themselves), Slice, Split and Gather name axes
//! of the ONNX shape, mapped to per-sample axes.
//!
//! Not covered: slicing, splitting or gathering along the batch axis; Gather with other index
//! patterns (repeats, arbitrary orders, indices computed from data), GatherElements,
//! GatherND; Split and Slice of constants are folded instead ([`super::fold`]).

use super::attrs::{attribute_error, get_int, get_ints};
use super::{Batch, Ctx, Importer, Layer};
use crate::error::Result;
use crate::import::proto::onnx::NodeProto;
use crate::ops::{Op, Reshape, Slice, Transpose};

/// Axis `a` of a tensor of (full) rank `rank`, counted from the end when negative; `None`
/// when out of range.
pub(super) fn full_axis(a: i64, rank: usize) -> Option<usize> {
    let r = rank as i64;
    let a = if a < 0 { a + r } else { a };
    (0..r).contains(&a).then_some(a as usize)
}

pub(super) fn transpose(imp: &mut Importer<'_>, cx: &Ctx<'_>) -> Result<Layer> {
    let (node, x) = (cx.node, cx.x);
    let batch = imp.batch_of(x);
    let sample_rank = imp.data_shape(node, x)?.len();
    let rank = batch.onnx_shape(&vec![1; sample_rank]).len();
    let perm: Vec<i64> = match get_ints(node, "perm")? {
        Some(p) => p.to_vec(),
        None => (0..rank as i64).rev().collect(),
    };
    let mut seen = vec![false; rank];
    let valid = perm.len() == rank
        && perm.iter().all(|&p| {
            (0..rank as i64).contains(&p) && !std::mem::replace(&mut seen[p as usize], true)
        });
    if !valid {
        return Err(attribute_error(
            node,
            "perm",
            format!("{perm:?} is not a permutation of the {rank} axes of the input"),
        ));
    }
    // The batch axis goes where the permutation puts it; the other axes permute among
    // themselves.
    let mut per_sample = Vec::with_capacity(sample_rank);
    for (j, &p) in perm.iter().enumerate() {
        match batch.sample_axis(p, sample_rank) {
            Ok(Some(a)) => per_sample.push(a),
            Ok(None) => imp.out_batch = Some(Batch::At(j)),
            Err(()) => unreachable!("perm was validated against the rank"),
        }
    }
    Ok(Layer::on(Op::Transpose(Transpose::new(per_sample)), x))
}

/// Squeeze (opsets 1, 11, 13, 21) and Unsqueeze (opsets 1, 11, 13, 21) of data: the axes as
/// an attribute (before opset 13) or a constant input; a per-sample [`Op::Reshape`]. Squeezing
/// the batch axis (size 1 when declared 1) merges it into the other axes ([`Batch::Merged`]);
/// Squeeze without axes is not supported (it would depend on the batch size).
pub(super) fn squeeze(imp: &mut Importer<'_>, cx: &Ctx<'_>) -> Result<Layer> {
    let (node, x) = (cx.node, cx.x);
    let sample = imp.data_shape(node, x)?;
    let batch = imp.batch_of(x);
    let axes: Vec<i64> = if imp.opset >= 13 {
        optional_ints(imp, node, 1)?.unwrap_or_default()
    } else {
        get_ints(node, "axes")?
            .map(<[i64]>::to_vec)
            .unwrap_or_default()
    };
    if axes.is_empty() {
        return Err(imp.unsupported(
            node,
            "axes are required for data (their sizes depend on the batch)",
        ));
    }
    let full = batch.onnx_shape(&sample);
    let unsqueeze = node.op_type() == "Unsqueeze";
    let out_rank = if unsqueeze {
        full.len() + axes.len()
    } else {
        full.len()
    };
    let mut marks = vec![false; out_rank];
    for &a in &axes {
        let r = out_rank as i64;
        let a = if a < 0 { a + r } else { a };
        if !(0..r).contains(&a) || std::mem::replace(&mut marks[a as usize], true) {
            return Err(imp.unsupported(
                node,
                format!("axes {axes:?} for a rank-{} input", full.len()),
            ));
        }
    }
    // Walk the output (Unsqueeze) or input (Squeeze) axes, tracking the batch position.
    let (mut out, mut new_batch) = (Vec::new(), Batch::Merged);
    let mut src = 0usize;
    for (j, &marked) in marks.iter().enumerate() {
        let is_batch = matches!(batch, Batch::At(b) if b == src);
        if unsqueeze && marked {
            out.push(1);
            continue;
        }
        if !unsqueeze && marked {
            if full[j] != 1 {
                return Err(imp.unsupported(node, format!("axis {j} has size {}, not 1", full[j])));
            }
            src += 1;
            continue;
        }
        if is_batch {
            new_batch = Batch::At(out.len());
        } else {
            out.push(full[src]);
        }
        src += 1;
    }
    imp.out_batch = Some(new_batch);
    if out.is_empty() {
        return Err(imp.unsupported(node, "no per-sample axis is left"));
    }
    Ok(Layer::on(Op::Reshape(Reshape::new(out)), x))
}

/// Input `i` of `node` as integers, or `None` when absent.
fn optional_ints(imp: &Importer<'_>, node: &NodeProto, i: usize) -> Result<Option<Vec<i64>>> {
    Ok(imp.optional_constant(node, i)?.map(|c| c.ints()))
}

/// Whether `(start, end, step)` keeps all of an axis whose size is not known (the batch).
fn keeps_whole(start: i64, end: i64, step: i64) -> bool {
    start == 0 && step == 1 && end >= i32::MAX as i64
}

pub(super) fn slice(imp: &mut Importer<'_>, cx: &Ctx<'_>) -> Result<Layer> {
    let (node, x) = (cx.node, cx.x);
    let rank = imp.data_shape(node, x)?.len() + 1;
    let (starts, ends, axes, steps) = if imp.opset < 10 {
        let get = |name: &str| -> Result<Option<Vec<i64>>> {
            Ok(get_ints(node, name)?.map(<[i64]>::to_vec))
        };
        let starts =
            get("starts")?.ok_or_else(|| attribute_error(node, "starts", "is required"))?;
        let ends = get("ends")?.ok_or_else(|| attribute_error(node, "ends", "is required"))?;
        (starts, ends, get("axes")?, None)
    } else {
        let starts = imp.constant(node, 1)?.ints();
        let ends = imp.constant(node, 2)?.ints();
        (
            starts,
            ends,
            optional_ints(imp, node, 3)?,
            optional_ints(imp, node, 4)?,
        )
    };
    let k = starts.len();
    let axes = axes.unwrap_or_else(|| (0..k as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; k]);
    if ends.len() != k || axes.len() != k || steps.len() != k {
        return Err(imp.unsupported(
            node,
            format!(
                "{k} starts, {} ends, {} axes and {} steps: one of each per sliced axis",
                ends.len(),
                axes.len(),
                steps.len()
            ),
        ));
    }
    let _ = rank;
    let mut op = Slice::new(Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..k {
        let Some(a) = imp.sample_axis(node, x, axes[i])? else {
            if keeps_whole(starts[i], ends[i], steps[i]) {
                continue;
            }
            return Err(imp.unsupported(node, "slicing the batch axis is not supported"));
        };
        op.axes.push(a);
        op.starts.push(starts[i]);
        op.ends.push(ends[i]);
        op.steps.push(steps[i]);
    }
    Ok(Layer::on(Op::Slice(op), x))
}

/// The sizes of the parts of a Split of an axis of size `d` into `n` outputs.
fn split_sizes(imp: &Importer<'_>, node: &NodeProto, d: usize, n: usize) -> Result<Vec<usize>> {
    let given: Option<Vec<i64>> = if imp.opset >= 13 {
        optional_ints(imp, node, 1)?
    } else {
        get_ints(node, "split")?.map(<[i64]>::to_vec)
    };
    if let Some(sizes) = given {
        // A checked sum: sizes from the file could add up past i64 and wrap to `d`.
        let sum = sizes.iter().try_fold(0i64, |a, &s| a.checked_add(s));
        if sizes.len() != n || sizes.iter().any(|&s| s < 0) || sum != Some(d as i64) {
            return Err(imp.unsupported(
                node,
                format!("split sizes {sizes:?} for {n} outputs of an axis of size {d}"),
            ));
        }
        return Ok(sizes.iter().map(|&s| s as usize).collect());
    }
    if let Some(parts) = get_int(node, "num_outputs")? {
        if parts != n as i64 || n == 0 {
            return Err(attribute_error(
                node,
                "num_outputs",
                format!("{parts} but the node has {n} outputs"),
            ));
        }
        // Opset 18: parts of ⌈d / n⌉, the last one smaller.
        let each = d.div_ceil(n);
        return Ok((0..n)
            .map(|i| each.min(d.saturating_sub(i * each)))
            .collect());
    }
    if n == 0 || d % n != 0 {
        return Err(imp.unsupported(
            node,
            format!("an axis of size {d} does not split into {n} equal parts"),
        ));
    }
    Ok(vec![d / n; n])
}

pub(super) fn split(imp: &mut Importer<'_>, cx: &Ctx<'_>) -> Result<Layer> {
    let (node, x) = (cx.node, cx.x);
    let shape = imp.data_shape(node, x)?;
    let axis = get_int(node, "axis")?.unwrap_or(0);
    let a = full_axis(axis, shape.len() + 1)
        .ok_or_else(|| attribute_error(node, "axis", format!("{axis} is out of range")))?;
    if a == 0 {
        return Err(imp.unsupported(node, "splitting the batch axis is not supported"));
    }
    let sizes = split_sizes(imp, node, shape[a - 1], node.output.len())?;
    let mut parts = Vec::new();
    let mut start = 0i64;
    for &s in &sizes {
        let end = start + s as i64;
        parts.push(Op::Slice(Slice::new(
            vec![a - 1],
            vec![start],
            vec![end],
            vec![1],
        )));
        start = end;
    }
    for (i, op) in parts.iter().enumerate().skip(1) {
        let out = &node.output[i];
        if out.is_empty() {
            continue;
        }
        imp.push_helper(
            cx,
            &format!("output{i}"),
            op.clone(),
            vec![x.to_string()],
            out.clone(),
        )?;
    }
    Ok(Layer::on(parts.swap_remove(0), x))
}

pub(super) fn gather(imp: &mut Importer<'_>, cx: &Ctx<'_>) -> Result<Layer> {
    let (node, x) = (cx.node, cx.x);
    if node.input.first().map(String::as_str) != Some(x) {
        return Err(imp.unsupported(node, "the indices must be a constant and the data computed"));
    }
    let shape = imp.data_shape(node, x)?;
    let indices = imp.constant(node, 1)?;
    let (idx, idx_shape) = (indices.ints(), indices.shape().to_vec());
    let axis = get_int(node, "axis")?.unwrap_or(0);
    if imp.is_merged(x) {
        // torch's `as_strided` in dynamo exports: data reshaped to [-1] (batch 1 merged in),
        // gathered back in order into the shape of the indices.
        let identity = idx.iter().enumerate().all(|(i, &v)| v == i as i64);
        if axis == 0
            && identity
            && idx.len() == shape.iter().product::<usize>()
            && idx_shape.first() == Some(&1)
        {
            // The leading 1 of the indices gives the batch back.
            imp.out_batch = Some(Batch::At(0));
            return Ok(Layer::on(
                Op::Reshape(Reshape::new(idx_shape[1..].to_vec())),
                x,
            ));
        }
        return Err(imp.unsupported(
            node,
            "gathering from a tensor whose batch was merged into its other axes is supported only \
             for the indices 0, 1, … in order with a leading 1",
        ));
    }
    let rank = shape.len() + 1;
    let a = full_axis(axis, rank)
        .ok_or_else(|| attribute_error(node, "axis", format!("{axis} is out of range")))?;
    if a == 0 {
        return Err(imp.unsupported(node, "gathering along the batch axis is not supported"));
    }
    let d = shape[a - 1] as i64;
    let idx: Vec<i64> = idx.iter().map(|&i| if i < 0 { i + d } else { i }).collect();
    if idx.iter().any(|i| !(0..d).contains(i)) || idx.is_empty() {
        return Err(imp.unsupported(
            node,
            format!("indices {idx:?} are out of range for an axis of size {d}"),
        ));
    }
    let step = if idx.len() > 1 { idx[1] - idx[0] } else { 1 };
    let progression = step != 0 && idx.windows(2).all(|w| w[1] - w[0] == step);
    if idx_shape.len() > 1 || !progression {
        return Err(imp.unsupported(
            node,
            format!(
                "indices of shape {idx_shape:?}: only a scalar or a 1-D progression \
                 start, start + step, … is supported"
            ),
        ));
    }
    let end = idx[idx.len() - 1] + step.signum();
    let end = if end < 0 { i64::MIN } else { end };
    let slice = Op::Slice(Slice::new(vec![a - 1], vec![idx[0]], vec![end], vec![step]));
    if !idx_shape.is_empty() {
        return Ok(Layer::on(slice, x));
    }
    // A scalar index drops the axis: slice, then reshape.
    let sliced = format!("{}/slice", node.output.first().cloned().unwrap_or_default());
    imp.push_helper(cx, "slice", slice, vec![x.to_string()], sliced.clone())?;
    let mut out = shape.clone();
    out.remove(a - 1);
    if out.is_empty() {
        return Err(imp.unsupported(
            node,
            "a scalar index on the only per-sample axis leaves no per-sample axis",
        ));
    }
    Ok(Layer {
        op: Op::Reshape(Reshape::new(out)),
        inputs: vec![sliced],
    })
}
