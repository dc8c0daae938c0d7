//! Element-wise arithmetic.
//!
//! [Add](https://onnx.ai/onnx/operators/onnx__Add.html),
//! [Sum](https://onnx.ai/onnx/operators/onnx__Sum.html),
//! [Sub](https://onnx.ai/onnx/operators/onnx__Sub.html),
//! [Mul](https://onnx.ai/onnx/operators/onnx__Mul.html) and
//! [Div](https://onnx.ai/onnx/operators/onnx__Div.html) (opsets 7, 8, 13, 14):
//!
//! - of data tensors (same shapes): Add and Sum → [`Op::Add`], Mul → [`Op::Mul`];
//! - of one data tensor and one constant that is a scalar, one value per channel or of the
//!   sample's full shape: [`Op::Affine`] (`x + c`, `x − c`, `c − x`, `x · c`, `x / c`); a
//!   constant that broadcasts otherwise (numpy rules, without growing the batch axis: one
//!   value per channel of a channels-last tensor, say, such as the bias of `nn.Linear` on
//!   `[N, H, W, C]`) is expanded to the sample's full shape, an element-wise affine map;
//! - Sum of several data tensors and one constant: a sum node `NAME/sum`, then the constant
//!   as a shift.
//!
//! Not covered: Sub and Div of two data tensors; a constant divided by data; division by a
//! constant containing 0; a constant that does not broadcast to the data's shape or would
//! grow it; more than one constant operand with data.

use super::{Ctx, Importer, Layer};
use crate::error::Result;
use crate::import::proto::onnx::NodeProto;
use crate::ops::{Affine, Op};
use ndarray::Array1;

/// Add/Sum/Mul/Sub/Div: of data tensors, or of data and a constant (an affine map).
pub(super) fn arith(imp: &mut Importer<'_>, cx: &Ctx<'_>) -> Result<Layer> {
    let node = cx.node;
    let op = node.op_type();
    let ins: Vec<&str> = node.input.iter().map(String::as_str).collect();
    let consts: Vec<usize> = (0..ins.len()).filter(|&i| imp.is_const(ins[i])).collect();
    if consts.is_empty() {
        let inputs = node.input.clone();
        return match op {
            "Add" | "Sum" => Ok(Layer {
                op: Op::Add,
                inputs,
            }),
            "Mul" => Ok(Layer {
                op: Op::Mul,
                inputs,
            }),
            _ => Err(imp.unsupported(node, format!("{op} of two data tensors is not supported"))),
        };
    }
    if consts.len() == 1 && ins.len() > 2 && matches!(op, "Add" | "Sum") {
        // Sum of data tensors plus one constant: a sum node, then the constant as a shift.
        let data: Vec<String> = (0..ins.len())
            .filter(|&i| i != consts[0])
            .map(|i| ins[i].to_string())
            .collect();
        let sum_out = format!("{}/sum", node.output.first().cloned().unwrap_or_default());
        imp.push_helper(cx, "sum", Op::Add, data, sum_out.clone())?;
        let mut rest = node.clone();
        rest.input = vec![sum_out, ins[consts[0]].to_string()];
        rest.op_type = Some("Add".into());
        let x = rest.input[0].clone();
        return arith(
            imp,
            &Ctx {
                node: &rest,
                x: &x,
                name: cx.name,
            },
        );
    }
    if ins.len() != 2 || consts.len() != 1 {
        return Err(imp.unsupported(
            node,
            "only binary operations with one constant operand are supported",
        ));
    }
    let x = ins[1 - consts[0]];
    let affine = affine(imp, node, consts[0], x)?;
    Ok(Layer::on(Op::Affine(affine), x))
}

/// The affine map of a binary operation of data `x` and constant input `ci`.
fn affine(imp: &Importer<'_>, node: &NodeProto, ci: usize, x: &str) -> Result<Affine> {
    let op = node.op_type();
    let shape = imp.data_shape(node, x)?;
    let c = imp.constant(node, ci)?.floats();
    let total: usize = shape.iter().product();
    let full = c.len() == total && c.len() > 1 && {
        // A constant of the sample's full shape (with or without a batch axis of 1).
        let dims: Vec<usize> = c.shape().iter().copied().skip_while(|&d| d == 1).collect();
        let want: Vec<usize> = shape.iter().copied().skip_while(|&d| d == 1).collect();
        dims == want
    };
    let per_channel = if full {
        Some(true)
    } else {
        broadcast_per_channel(c.shape(), &shape)
    };
    let (ch, vals): (usize, Vec<f32>) = match per_channel {
        Some(true) => {
            let ch = if full { total } else { shape[0] };
            (ch, c.iter().copied().collect())
        }
        Some(false) => (
            shape[0],
            vec![c.iter().next().copied().unwrap_or(0.0); shape[0]],
        ),
        None => {
            // Any other broadcast: expanded to one value per element of a sample.
            let expanded = expand_to_sample(&c, &shape).ok_or_else(|| {
                imp.unsupported(
                    node,
                    format!(
                        "the constant of shape {:?} does not broadcast over [N, {shape:?}] \
                         without growing it",
                        c.shape()
                    ),
                )
            })?;
            (total, expanded)
        }
    };
    let (scale, shift): (Vec<f32>, Vec<f32>) = match (op, ci) {
        ("Add" | "Sum", _) => (vec![1.0; ch], vals),
        ("Mul", _) => (vals, vec![0.0; ch]),
        ("Sub", 1) => (vec![1.0; ch], vals.iter().map(|v| -v).collect()),
        ("Sub", _) => (vec![-1.0; ch], vals),
        ("Div", 1) => {
            if vals.contains(&0.0) {
                return Err(imp.unsupported(node, "division by a constant that contains 0"));
            }
            (vals.iter().map(|v| 1.0 / v).collect(), vec![0.0; ch])
        }
        _ => return Err(imp.unsupported(node, "dividing a constant by data is not supported")),
    };
    Ok(Affine::new(Array1::from(scale), Array1::from(shift)))
}

/// The values of constant `c` broadcast (numpy rules) to one sample of shape `per_sample`, in
/// row-major order; `None` when `c` does not broadcast to `[1, per_sample…]`.
fn expand_to_sample(c: &ndarray::ArrayD<f32>, per_sample: &[usize]) -> Option<Vec<f32>> {
    let mut full = vec![1usize];
    full.extend_from_slice(per_sample);
    if c.ndim() > full.len() {
        return None;
    }
    let b = c.broadcast(ndarray::IxDyn(&full))?;
    Some(b.iter().copied().collect())
}

/// Whether a constant of shape `c` broadcasts over `[N, per_sample…]` as a scalar
/// (`Some(false)`) or per channel, i.e. along per-sample axis 0 only (`Some(true)`).
pub(super) fn broadcast_per_channel(c: &[usize], per_sample: &[usize]) -> Option<bool> {
    let count: usize = c.iter().product();
    if count == 1 {
        return Some(false);
    }
    let rank = per_sample.len() + 1;
    if c.len() > rank {
        return None;
    }
    // Align right: the constant's axis for the channel is rank − 1 − (per_sample.len() − 1)…
    let offset = rank - c.len();
    for (j, &d) in c.iter().enumerate() {
        let axis = offset + j; // full-tensor axis
        let want = if axis == 1 { per_sample[0] } else { 1 };
        if d != want && !(axis == 0 && d == 1) {
            return None;
        }
    }
    if offset > 1 {
        return None;
    }
    Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasts() {
        assert_eq!(
            broadcast_per_channel(&[1, 32, 1, 1], &[32, 5, 5]),
            Some(true)
        );
        assert_eq!(broadcast_per_channel(&[32, 1, 1], &[32, 5, 5]), Some(true));
        assert_eq!(broadcast_per_channel(&[1], &[32, 5, 5]), Some(false));
        assert_eq!(broadcast_per_channel(&[], &[32, 5, 5]), Some(false));
        assert_eq!(broadcast_per_channel(&[5], &[32, 5, 5]), None);
        assert_eq!(broadcast_per_channel(&[32, 5, 5], &[32, 5, 5]), None);
        assert_eq!(broadcast_per_channel(&[1, 16], &[16]), Some(true));
    }

    #[test]
    fn expands_other_broadcasts() {
        // One value per channel of a channels-last [2, 2, 3] sample.
        let c = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[3]), vec![1.0, 2.0, 3.0]).unwrap();
        let v = expand_to_sample(&c, &[2, 2, 3]).unwrap();
        assert_eq!(v, [1.0, 2.0, 3.0].repeat(4));
        // Along the width only.
        let c =
            ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[1, 1, 2]), vec![5.0, 6.0]).unwrap();
        assert_eq!(
            expand_to_sample(&c, &[3, 1, 2]).unwrap(),
            [5.0, 6.0].repeat(3)
        );
        // Growing the batch or a per-sample axis is refused.
        let c = ndarray::ArrayD::zeros(ndarray::IxDyn(&[2, 3]));
        assert!(expand_to_sample(&c, &[3]).is_none());
        assert!(expand_to_sample(&c, &[1, 3]).is_none());
    }
}
