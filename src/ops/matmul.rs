//! Matrix product of two activations (ONNX `MatMul` with data on both sides): the attention
//! scores `q · kᵀ` and the context `softmax · v` of a transformer.
//!
//! `y[…, i, j] = Σ_k a[…, i, k] · b[…, k, j]`, one product per index `…` of the leading axes.
//!
//! Shapes: per-sample `a` `[L…, M, K]` and `b` `[L…, K, P]` with the same leading axes `L…`
//! (rank 2 or more; ONNX's broadcasting of leading axes of size 1 is not covered); output
//! `[L…, M, P]`.
//!
//! ## Relevance
//! Not offered yet: AttnLRP's uniform rule (each operand half of the relevance, by the ε rule
//! with the other operand as the weights) and CP-LRP's rule (the attention weights held
//! constant) are the next step of issue 18. Under any preset the explainer reports this layer
//! as having no route for its rule.
//!
//! ```
//! use lrp::ops::matmul;
//! use ndarray::{ArrayD, IxDyn};
//! // One sample, one head: [1, 2] · [2, 2].
//! let a = ArrayD::from_shape_vec(IxDyn(&[1, 1, 1, 2]), vec![1.0, 2.0]).unwrap();
//! let b = ArrayD::from_shape_vec(IxDyn(&[1, 1, 2, 2]), vec![3.0, 4.0, 5.0, 6.0]).unwrap();
//! let y = matmul::matmul(&a, &b);
//! assert_eq!(y.shape(), &[1, 1, 1, 2]);
//! assert_eq!(y.as_slice().unwrap(), &[13.0, 16.0]);
//! ```

use super::{Arity, Category, Operator, Route, Tensor};
use crate::error::{Error, NodeRef, Result};
use ndarray::{ArrayView2, IxDyn};

/// The per-sample output shape of `a · b` (see the module documentation), or an error naming
/// `node`.
pub fn output_shape(node: &NodeRef, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let ok = a.len() >= 2 && a.len() == b.len();
    let r = a.len();
    if !ok || a[..r - 2] != b[..r - 2] || a[r - 1] != b[r - 2] {
        return Err(Error::shape(
            node,
            format!(
                "cannot multiply per-sample shapes {a:?} and {b:?}: expected [L…, M, K] and \
                 [L…, K, P] with the same leading axes"
            ),
        ));
    }
    let mut out = a.to_vec();
    out[r - 1] = b[r - 1];
    Ok(out)
}

/// Batched product of batch-first tensors validated by [`output_shape`].
pub fn matmul(a: &Tensor, b: &Tensor) -> Tensor {
    let (sa, sb) = (a.shape(), b.shape());
    let r = sa.len();
    let (m, k, p) = (sa[r - 2], sa[r - 1], sb[r - 1]);
    let mut shape = sa.to_vec();
    shape[r - 1] = p;
    let mut y = Tensor::zeros(IxDyn(&shape));
    let (xa, xb) = (
        a.as_standard_layout().into_owned(),
        b.as_standard_layout().into_owned(),
    );
    let (xa, xb) = (
        xa.as_slice().expect("standard"),
        xb.as_slice().expect("standard"),
    );
    if y.is_empty() {
        return y;
    }
    let ys = y.as_slice_mut().expect("fresh tensor");
    for ((ya, ba), bb) in ys
        .chunks_exact_mut(m * p)
        .zip(xa.chunks_exact(m * k))
        .zip(xb.chunks_exact(k * p))
    {
        let va = ArrayView2::from_shape((m, k), ba).expect("block shape");
        let vb = ArrayView2::from_shape((k, p), bb).expect("block shape");
        let prod = va.dot(&vb);
        for (o, v) in ya.iter_mut().zip(prod.iter()) {
            *o = *v;
        }
    }
    y
}

/// The matrix product of two activations (no parameters).
#[derive(Debug, Clone, Copy)]
pub struct MatMul;

impl Operator for MatMul {
    type Params = ();
    const KIND: &'static str = "MatMul";
    const CATEGORY: Category = Category::Product;
    const ARITY: Arity = Arity::Exactly(2);
    const ROUTES: &'static [Route] = &[];

    fn output_shape(_: &(), node: &NodeRef, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        output_shape(node, inputs[0], inputs[1])
    }

    fn forward(_: &(), inputs: &[&Tensor]) -> Tensor {
        matmul(inputs[0], inputs[1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::{assert_close, random};
    use ndarray::Dimension;

    /// Triple loop in f64.
    fn naive(a: &Tensor, b: &Tensor) -> Tensor {
        let (sa, sb) = (a.shape(), b.shape());
        let r = sa.len();
        let mut shape = sa.to_vec();
        shape[r - 1] = sb[r - 1];
        let mut y = Tensor::zeros(IxDyn(&shape));
        for (idx, out) in y.indexed_iter_mut() {
            let mut s = 0f64;
            for k in 0..sa[r - 1] {
                let mut ia = idx.as_array_view().to_vec();
                ia[r - 1] = k;
                let mut ib = idx.as_array_view().to_vec();
                ib[r - 2] = k;
                s += a[IxDyn(&ia)] as f64 * b[IxDyn(&ib)] as f64;
            }
            *out = s as f32;
        }
        y
    }

    #[test]
    fn batched_heads_match_a_triple_loop() {
        for (t, (lead, m, k, p)) in [(vec![3], 5, 4, 6), (vec![2, 3], 1, 7, 2), (vec![], 4, 4, 4)]
            .into_iter()
            .enumerate()
        {
            let mut sa = vec![2];
            sa.extend(&lead);
            let mut sb = sa.clone();
            sa.extend([m, k]);
            sb.extend([k, p]);
            let (a, b) = (random(&sa, t as u64), random(&sb, 50 + t as u64));
            let node = NodeRef::new("scores", "MatMul");
            let out = output_shape(&node, &sa[1..], &sb[1..]).unwrap();
            let y = matmul(&a, &b);
            assert_eq!(&y.shape()[1..], out.as_slice());
            assert_close(&y, &naive(&a, &b), 1e-6);
        }
        let msg = output_shape(&NodeRef::new("scores", "MatMul"), &[3, 5, 4], &[3, 5, 4])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("scores") && msg.contains("[3, 5, 4]"), "{msg}");
    }
}
