//! Fully connected layers.
//!
//! - [Gemm](https://onnx.ai/onnx/operators/onnx__Gemm.html) (opsets 7, 9, 11, 13) →
//!   [`Op::Dense`] ([`Dense`]): data as input A, a constant matrix B (`transB` either way),
//!   `alpha` folded into the weight, an optional constant C (scalar or one value per output,
//!   times `beta`) as the bias.
//! - [MatMul](https://onnx.ai/onnx/operators/onnx__MatMul.html) (opsets 1, 9, 13) →
//!   [`Op::Dense`] without bias: data on the left, a constant matrix `[K, M]` on the right.
//!   Data of per-sample shape `[K]` as a plain dense layer; data of higher rank `[…, K]`
//!   (PyTorch's `nn.Linear` on a channels-last `[N, H, W, C]` tensor, as in ConvNeXt) as a
//!   dense layer on the last axis ([`Dense::on_last_axis`]). The bias `Add` that exporters
//!   write after it becomes an [`Op::Affine`] ([`super::arith`]) that canonisation folds into
//!   the layer's bias.
//!
//! - MatMul of two data tensors (attention scores `q · kᵀ` and context `softmax · v`) →
//!   [`Op::MatMul`], batched over the leading per-sample axes.
//!
//! Gemm takes a data input of per-sample shape `[K]` (flatten first), or `[T·N, K]` with the
//! batch merged into its rows (torch's MultiheadAttention output projection), a dense layer on
//! the last axis. Not covered: `transA = 1`, data as the right operand with a constant left
//! one, a constant batched right operand (rank above 2), broadcasting of the leading axes of
//! two data operands, a C that broadcasts over the batch in other ways.

use super::attrs::{attribute_error, get_float, get_int};
use super::{Ctx, Importer, Layer};
use crate::error::Result;
use crate::import::proto::onnx::NodeProto;
use crate::ops::{Dense, Op};
use ndarray::{Array1, Array2, ArrayD};

pub(super) fn gemm(imp: &mut Importer<'_>, cx: &Ctx<'_>) -> Result<Layer> {
    let (node, x) = (cx.node, cx.x);
    if node.input.first().map(String::as_str) != Some(x) {
        return Err(imp.unsupported(node, "the data must be input A (the left operand)"));
    }
    if get_int(node, "transA")?.unwrap_or(0) != 0 {
        return Err(attribute_error(
            node,
            "transA",
            "transposing the data input is not supported",
        ));
    }
    let trans_b = get_int(node, "transB")?.unwrap_or(0) != 0;
    let alpha = get_float(node, "alpha")?.unwrap_or(1.0);
    let beta = get_float(node, "beta")?.unwrap_or(1.0);
    let b = matrix(imp, node, |s| {
        format!("B has shape {s:?}; expected a matrix")
    })?;
    // Our weight is [outputs, inputs].
    let mut w = if trans_b { b } else { b.t().to_owned() };
    if alpha != 1.0 {
        w.mapv_inplace(|v| v * alpha);
    }
    let m = w.nrows();
    let c = match imp.optional_constant(node, 2)? {
        None => None,
        Some(c) => {
            let c = c.floats();
            let v: Vec<f32> = match c.len() {
                1 => vec![c.iter().next().copied().unwrap_or(0.0); m],
                l if l == m && c.shape().iter().filter(|&&d| d != 1).count() <= 1 => {
                    c.iter().copied().collect()
                }
                _ => {
                    return Err(imp.unsupported(
                        node,
                        format!(
                            "C has shape {:?}; only a scalar or a vector of {m} broadcasts \
                             over the batch",
                            c.shape()
                        ),
                    ))
                }
            };
            Some(Array1::from(v).mapv(|v| v * beta))
        }
    };
    dense(imp, node, x, w, c)
}

pub(super) fn matmul(imp: &mut Importer<'_>, cx: &Ctx<'_>) -> Result<Layer> {
    let (node, x) = (cx.node, cx.x);
    if node.input.iter().all(|i| !imp.is_const(i)) {
        // A product of two activations (attention): batched over the leading axes.
        for i in &node.input {
            let s = imp.data_shape(node, i)?;
            if s.len() < 2 {
                return Err(imp.unsupported(
                    node,
                    format!("`{i}` has per-sample shape {s:?}; a product of two data tensors needs [L…, M, K] · [L…, K, P]"),
                ));
            }
        }
        return Ok(Layer {
            op: Op::MatMul,
            inputs: node.input.clone(),
        });
    }
    if node.input.first().map(String::as_str) != Some(x) {
        return Err(imp.unsupported(node, "the data must be the left operand"));
    }
    let b = matrix(imp, node, |s| {
        format!("the right operand has shape {s:?}; expected a matrix")
    })?;
    let shape = imp.data_shape(node, x)?;
    if shape.len() > 1 {
        let d = Dense::new(b.t().to_owned(), None).on_last_axis();
        return Ok(Layer::on(Op::Dense(d), x));
    }
    dense(imp, node, x, b.t().to_owned(), None)
}

/// Input 1 of `node` as a matrix (moved when only this node reads it); `wrong` says what is
/// wrong with another shape.
fn matrix(
    imp: &mut Importer<'_>,
    node: &NodeProto,
    wrong: impl Fn(&[usize]) -> String,
) -> Result<Array2<f32>> {
    let b: ArrayD<f32> = imp.weight(node, 1)?;
    let shape = b.shape().to_vec();
    b.into_dimensionality()
        .map_err(|_| imp.unsupported(node, wrong(&shape)))
}

fn dense(
    imp: &mut Importer<'_>,
    node: &NodeProto,
    x: &str,
    w: Array2<f32>,
    b: Option<Array1<f32>>,
) -> Result<Layer> {
    let shape = imp.data_shape(node, x)?;
    if shape.len() == 2 && imp.is_merged(x) {
        // `[T·N, K]` with the batch merged into the rows (torch's MultiheadAttention output
        // projection): the layer on the last axis of the per-sample `[T, K]`.
        return Ok(Layer::on(Op::Dense(Dense::new(w, b).on_last_axis()), x));
    }
    if shape.len() != 1 {
        return Err(imp.unsupported(
            node,
            format!(
                "the data input has per-sample shape {shape:?}; Gemm and MatMul take [N, K] \
                 (flatten first)"
            ),
        ));
    }
    Ok(Layer::on(Op::Dense(Dense::new(w, b)), x))
}
