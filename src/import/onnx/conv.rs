//! Convolution.
//!
//! - [Conv](https://onnx.ai/onnx/operators/onnx__Conv.html) (opsets 1, 11, 22) →
//!   [`Op::Conv`] ([`Conv2d`]): a constant 4-D weight `[M, C/group, kh, kw]`, an optional
//!   constant bias `[M]`, `strides`, `dilations`, `group`, `pads` or `auto_pad` (`NOTSET`,
//!   `VALID`, `SAME_UPPER`, `SAME_LOWER`), `kernel_shape` checked against the weight.
//!
//! - [ConvTranspose](https://onnx.ai/onnx/operators/onnx__ConvTranspose.html) (opsets 1, 11,
//!   22) → [`Op::ConvTranspose`] ([`ConvTranspose2d`]): a constant 4-D weight
//!   `[C, M/group, kh, kw]`, an optional constant bias `[M]`, `strides`, `dilations`, `group`,
//!   `output_padding`, and the cropping from `pads`, from `output_shape` (its two spatial
//!   sizes, or all four) or from `auto_pad` (`SAME_UPPER`/`SAME_LOWER`: output size input ×
//!   stride; the odd unit of cropping goes to the end for `SAME_UPPER`, to the start for
//!   `SAME_LOWER`, as the ONNX specification and reference implementation do; an output
//!   larger than the uncropped one adds rows and columns at the end, as output padding).
//!
//! Not covered: 1-D and 3-D convolutions; a weight or bias computed from data; padding
//! beyond 2²⁰; a ConvTranspose `output_shape` that needs rows or columns before the first
//! (negative padding at the start).

use super::attrs::{attribute_error, get_int, get_ints, get_string, pair};
use super::{Ctx, Importer, Layer};
use crate::error::Result;
use crate::import::proto::onnx::NodeProto;
use crate::ops::{Conv2d, ConvTranspose2d, Op};
use ndarray::{Array1, Array4};

pub(super) fn conv(imp: &mut Importer<'_>, cx: &Ctx<'_>) -> Result<Layer> {
    let (node, x) = (cx.node, cx.x);
    let w = imp.weight(node, 1)?;
    let shape = w.shape().to_vec();
    let w: Array4<f32> = w.into_dimensionality().map_err(|_| {
        imp.unsupported(
            node,
            format!("only 2-D convolutions are supported (weight shape {shape:?})"),
        )
    })?;
    let bias = imp.optional_constant(node, 2)?.map(|b| b.floats());
    let (kh, kw) = (w.shape()[2], w.shape()[3]);
    if let Some(ks) = get_ints(node, "kernel_shape")? {
        if ks != [kh as i64, kw as i64] {
            return Err(attribute_error(
                node,
                "kernel_shape",
                format!("{ks:?} differs from the weight's {kh}×{kw}"),
            ));
        }
    }
    let bias = match bias {
        Some(b) if b.len() != w.shape()[0] => {
            return Err(imp.unsupported(
                node,
                format!(
                    "bias has {} values for {} output channels",
                    b.len(),
                    w.shape()[0]
                ),
            ))
        }
        Some(b) => Some(Array1::from(b.iter().copied().collect::<Vec<_>>())),
        None => None,
    };
    let strides = pair(node, "strides", 1)?;
    let dil = pair(node, "dilations", 1)?;
    let group = get_int(node, "group")?.unwrap_or(1);
    if group < 1 {
        return Err(attribute_error(
            node,
            "group",
            format!("must be ≥ 1, got {group}"),
        ));
    }
    let in_shape = imp.data_shape(node, x)?;
    if in_shape.len() != 3 {
        return Err(imp.unsupported(node, format!("input shape {in_shape:?} is not [C, H, W]")));
    }
    let pads = pads(node, &in_shape, [kh, kw], strides, dil)?;
    let mut conv = Conv2d::new(w, bias)
        .with_groups(group as usize)
        .with_pads(pads);
    conv.stride = strides;
    conv.dilation = dil;
    Ok(Layer::on(Op::Conv(conv), x))
}

pub(super) fn conv_transpose(imp: &mut Importer<'_>, cx: &Ctx<'_>) -> Result<Layer> {
    let (node, x) = (cx.node, cx.x);
    let w = imp.weight(node, 1)?;
    let shape = w.shape().to_vec();
    let w: Array4<f32> = w.into_dimensionality().map_err(|_| {
        imp.unsupported(
            node,
            format!("only 2-D transposed convolutions are supported (weight shape {shape:?})"),
        )
    })?;
    let (kh, kw) = (w.shape()[2], w.shape()[3]);
    if let Some(ks) = get_ints(node, "kernel_shape")? {
        if ks != [kh as i64, kw as i64] {
            return Err(attribute_error(
                node,
                "kernel_shape",
                format!("{ks:?} differs from the weight's {kh}×{kw}"),
            ));
        }
    }
    let group = get_int(node, "group")?.unwrap_or(1);
    if !(1..1 << 20).contains(&group) {
        return Err(attribute_error(
            node,
            "group",
            format!("must be ≥ 1, got {group}"),
        ));
    }
    let m = w.shape()[1].saturating_mul(group as usize);
    let bias = match imp.optional_constant(node, 2)?.map(|b| b.floats()) {
        Some(b) if b.len() != m => {
            return Err(imp.unsupported(
                node,
                format!("bias has {} values for {m} output channels", b.len()),
            ))
        }
        Some(b) => Some(Array1::from(b.iter().copied().collect::<Vec<_>>())),
        None => None,
    };
    let strides = pair(node, "strides", 1)?;
    let dil = pair(node, "dilations", 1)?;
    let out_pad = match get_ints(node, "output_padding")? {
        None => [0, 0],
        Some(p) if p.len() == 2 && p.iter().all(|&v| (0..1 << 20).contains(&v)) => {
            [p[0] as usize, p[1] as usize]
        }
        Some(p) => {
            return Err(attribute_error(
                node,
                "output_padding",
                format!("expected 2 non-negative values, got {p:?}"),
            ))
        }
    };
    let in_shape = imp.data_shape(node, x)?;
    if in_shape.len() != 3 {
        return Err(imp.unsupported(node, format!("input shape {in_shape:?} is not [C, H, W]")));
    }
    let mut t = ConvTranspose2d::new(w, bias).with_groups(group as usize);
    t.stride = strides;
    t.dilation = dil;
    let (pads, extra) = transpose_pads(node, &in_shape, [kh, kw], strides, dil, out_pad)?;
    t.pads = pads;
    t.output_padding = [out_pad[0] + extra[0], out_pad[1] + extra[1]];
    Ok(Layer::on(Op::ConvTranspose(t), x))
}

/// The cropping `[top, left, bottom, right]` of a ConvTranspose and the rows and columns to
/// add at the end beyond `output_padding`: from `pads`, or computed from `output_shape` or
/// `auto_pad` (see the module documentation).
fn transpose_pads(
    node: &NodeProto,
    in_shape: &[usize],
    k: [usize; 2],
    s: [usize; 2],
    d: [usize; 2],
    out_pad: [usize; 2],
) -> Result<([usize; 4], [usize; 2])> {
    let auto = get_string(node, "auto_pad")?.unwrap_or("NOTSET");
    let target: Option<[i64; 2]> = match get_ints(node, "output_shape")? {
        Some(o) if o.len() == 2 || o.len() == 4 => Some([o[o.len() - 2], o[o.len() - 1]]),
        Some(o) => {
            return Err(attribute_error(
                node,
                "output_shape",
                format!("expected the 2 spatial sizes (or all 4), got {o:?}"),
            ))
        }
        None => match auto {
            "SAME_UPPER" | "SAME_LOWER" => {
                // Input axes < 2³¹ and strides < 2²⁰: the products fit in i64.
                Some([
                    in_shape[1].saturating_mul(s[0]) as i64,
                    in_shape[2].saturating_mul(s[1]) as i64,
                ])
            }
            "NOTSET" | "" | "VALID" => None,
            other => {
                return Err(attribute_error(
                    node,
                    "auto_pad",
                    format!("unknown value `{other}`"),
                ))
            }
        },
    };
    let Some(target) = target else {
        if auto == "VALID" {
            return Ok(([0; 4], [0; 2]));
        }
        return match get_ints(node, "pads")? {
            None => Ok(([0; 4], [0; 2])),
            Some(p) if p.len() == 4 && p.iter().all(|&v| (0..1 << 20).contains(&v)) => Ok((
                [p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize],
                [0; 2],
            )),
            Some(p) => Err(attribute_error(
                node,
                "pads",
                format!("expected 4 non-negative values, got {p:?}"),
            )),
        };
    };
    let mut pads = [0usize; 4];
    let mut extra = [0usize; 2];
    for a in 0..2 {
        // Checked: an empty axis or kernel, or absurd sizes, are an error, not a wrap.
        let full = in_shape[1 + a]
            .checked_sub(1)
            .and_then(|n| s[a].checked_mul(n))
            .and_then(|v| v.checked_add(out_pad[a]))
            .and_then(|v| Some(v.checked_add(d[a].checked_mul(k[a].checked_sub(1)?)?)? + 1))
            .filter(|&v| v < 1 << 40)
            .ok_or_else(|| {
                attribute_error(
                    node,
                    "output_shape",
                    format!(
                        "undefined for kernel {k:?}, stride {s:?}, dilation {d:?} on input \
                         {in_shape:?}"
                    ),
                )
            })?;
        let total = (full as i64).saturating_sub(target[a]);
        // Floor division, as the ONNX reference implementation computes it: a negative
        // total gives a negative pad, i.e. more output.
        let half = total.div_euclid(2);
        let (start, end) = if auto == "SAME_UPPER" {
            (half, total - half)
        } else {
            (total - half, half)
        };
        if target[a] < 1 || start < 0 || target[a] >= 1 << 31 {
            return Err(attribute_error(
                node,
                "output_shape",
                format!(
                    "output size {} (uncropped {full}) needs padding before the first row or \
                     column, which is not supported",
                    target[a]
                ),
            ));
        }
        pads[a] = start as usize;
        if end >= 0 {
            pads[a + 2] = end as usize;
        } else {
            extra[a] = (-end) as usize;
        }
    }
    Ok((pads, extra))
}

/// The total SAME padding of one axis of size `n` for kernel `k`, stride `s` and dilation
/// `d`: `(⌈n/s⌉ − 1)·s + d·(k − 1) + 1 − n`, at least 0; `None` for a zero size, kernel or
/// stride, or on overflow.
fn same_total(n: usize, k: usize, s: usize, d: usize) -> Option<usize> {
    let o = n.checked_div(s)?.checked_add(usize::from(n % s != 0))?;
    let span = d.checked_mul(k.checked_sub(1)?)?.checked_add(1)?;
    Some(
        o.checked_sub(1)?
            .checked_mul(s)?
            .checked_add(span)?
            .saturating_sub(n),
    )
}

/// Padding `[top, left, bottom, right]` of a 2-D window (convolution or pooling) from `pads`
/// or `auto_pad`, for per-sample input shape `in_shape` (`[C, H, W]`), kernel `k`, strides
/// `s` and dilations `d`.
pub(super) fn pads(
    node: &NodeProto,
    in_shape: &[usize],
    k: [usize; 2],
    s: [usize; 2],
    d: [usize; 2],
) -> Result<[usize; 4]> {
    let auto = get_string(node, "auto_pad")?.unwrap_or("NOTSET");
    match auto {
        "NOTSET" | "" => match get_ints(node, "pads")? {
            None => Ok([0; 4]),
            Some(p) if p.len() == 4 && p.iter().all(|&v| (0..1 << 20).contains(&v)) => {
                Ok([p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize])
            }
            Some(p) => Err(attribute_error(
                node,
                "pads",
                format!("expected 4 non-negative values, got {p:?}"),
            )),
        },
        "VALID" => Ok([0; 4]),
        "SAME_UPPER" | "SAME_LOWER" => {
            let mut out = [0usize; 4];
            for a in 0..2 {
                let n = in_shape[1 + a];
                // Checked: a zero kernel or an empty input axis (from the file) has no
                // SAME padding; it is an error naming the node, not a wrapped size.
                let total = same_total(n, k[a], s[a], d[a]).ok_or_else(|| {
                    attribute_error(
                        node,
                        "auto_pad",
                        format!(
                            "{auto} is undefined for kernel {k:?}, stride {s:?}, dilation {d:?} \
                             on input {in_shape:?}"
                        ),
                    )
                })?;
                let (lo, hi) = if auto == "SAME_UPPER" {
                    (total / 2, total - total / 2)
                } else {
                    (total - total / 2, total / 2)
                };
                out[a] = lo;
                out[a + 2] = hi;
            }
            Ok(out)
        }
        other => Err(attribute_error(
            node,
            "auto_pad",
            format!("unknown value `{other}`"),
        )),
    }
}
