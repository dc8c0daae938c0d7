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
//! Both routes treat one operand as the weights of a linear map of the other and apply the
//! ε-rule (`s(z) = z + ε·sign(z)`, the rule's stabiliser) to it, with `z = y` (no bias):
//! `R_a = a ⊙ ((R / s(y)) · bᵀ)`, `R_b = b ⊙ (aᵀ · (R / s(y)))`.
//!
//! - **uniform** ([`Route::Uniform`], AttnLRP's rule for a bilinear product, Achtibat et al.,
//!   ICML 2024, Proposition 3.3): each operand gets half, `R_a / 2` and `R_b / 2` above; LXT
//!   divides the gradient into q, k by 4 and into v by 2, which is this rule on `q · kᵀ` and on
//!   `softmax · v`. Conserves up to ε.
//! - **gate** ([`Route::Gate`], CP-LRP, Ali et al., ICML 2022): the attention weights (the
//!   operand a Softmax computes, found by the explainer) are held constant: the other operand
//!   gets all of `R_b` (or `R_a`), the weights nothing. A product without a softmax operand
//!   (`q · kᵀ`, which under CP-LRP receives no relevance because the softmax after it is held
//!   constant) is split uniformly.
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
//! // Uniform rule on R = y: each operand gets half of the ε-rule's (conserving) share.
//! let r = [13.0, 16.0];
//! let (ra, rb) = matmul::epsilon_relevance(&a, &b, &r, 1, 0.0);
//! assert!((ra[0] - (3.0 + 4.0)).abs() < 1e-5 && (ra[1] - (10.0 + 12.0)).abs() < 1e-5);
//! assert!((rb.iter().sum::<f32>() - 29.0).abs() < 1e-5);
//! ```

use super::{Arity, Category, Operator, Route, RouteCtx, Tensor};
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

/// The ε-rule through `y = a · b` for each operand with the other as the weights, on
/// relevance `r` (`k` maps per sample of `a` and `b`, image-major): `(R_a, R_b)` with
/// `R_a = a ⊙ ((R / s(y)) · bᵀ)`, `R_b = b ⊙ (aᵀ · (R / s(y)))`, `s(z) = z + ε·sign(z)`
/// (`sign(0) = +1`), accumulated in f64.
pub fn epsilon_relevance(
    a: &Tensor,
    b: &Tensor,
    r: &[f32],
    k: usize,
    eps: f32,
) -> (Vec<f32>, Vec<f32>) {
    let y = matmul(a, b);
    let (sa, sb) = (a.shape(), b.shape());
    let rank = sa.len();
    let (m, kk, p) = (sa[rank - 2], sa[rank - 1], sb[rank - 1]);
    let (xa, xb, ys) = (
        a.as_slice().expect("standard layout"),
        b.as_slice().expect("standard layout"),
        y.as_slice().expect("fresh tensor"),
    );
    let (per_a, per_b, per_y) = (
        sa[1..].iter().product::<usize>(),
        sb[1..].iter().product::<usize>(),
        y.shape()[1..].iter().product::<usize>(),
    );
    let maps = r.len() / per_y.max(1);
    let (mut ra, mut rb) = (vec![0f32; maps * per_a], vec![0f32; maps * per_b]);
    let blocks = per_y / (m * p).max(1);
    for map in 0..maps {
        let img = map / k.max(1);
        for blk in 0..blocks {
            let (oa, ob, oy) = (
                img * per_a + blk * m * kk,
                img * per_b + blk * kk * p,
                img * per_y + blk * m * p,
            );
            let or = map * per_y + blk * m * p;
            // g = R / s(y) for this block.
            let g: Vec<f64> = (0..m * p)
                .map(|i| {
                    let z = ys[oy + i] as f64;
                    let s = z + eps as f64 * if z >= 0.0 { 1.0 } else { -1.0 };
                    r[or + i] as f64 / s
                })
                .collect();
            for i in 0..m {
                for c in 0..kk {
                    let mut acc = 0f64;
                    for j in 0..p {
                        acc += g[i * p + j] * xb[ob + c * p + j] as f64;
                    }
                    ra[map * per_a + blk * m * kk + i * kk + c] =
                        (xa[oa + i * kk + c] as f64 * acc) as f32;
                }
            }
            for c in 0..kk {
                for j in 0..p {
                    let mut acc = 0f64;
                    for i in 0..m {
                        acc += xa[oa + i * kk + c] as f64 * g[i * p + j];
                    }
                    rb[map * per_b + blk * kk * p + c * p + j] =
                        (xb[ob + c * p + j] as f64 * acc) as f32;
                }
            }
        }
    }
    (ra, rb)
}

/// The gradient of `y = a · b` per block: `g_a = g · bᵀ`, `g_b = aᵀ · g`, for `g` holding `k`
/// maps per sample of `a` and `b` (image-major), accumulated in f64 and in parallel over maps.
pub fn gradient(a: &Tensor, b: &Tensor, g: &[f32], k: usize) -> (Vec<f32>, Vec<f32>) {
    use rayon::prelude::*;
    let (sa, sb) = (a.shape(), b.shape());
    let rank = sa.len();
    let (m, kk, p) = (sa[rank - 2], sa[rank - 1], sb[rank - 1]);
    let (xa, xb) = (
        a.as_slice().expect("standard layout"),
        b.as_slice().expect("standard layout"),
    );
    let (per_a, per_b) = (
        sa[1..].iter().product::<usize>(),
        sb[1..].iter().product::<usize>(),
    );
    let per_y = per_a / kk.max(1) * p;
    let maps = g.len() / per_y.max(1);
    let (mut ga, mut gb) = (vec![0f32; maps * per_a], vec![0f32; maps * per_b]);
    if per_y == 0 || m * p == 0 {
        return (ga, gb);
    }
    let blocks = per_y / (m * p);
    ga.par_chunks_mut(per_a.max(1))
        .zip(gb.par_chunks_mut(per_b.max(1)))
        .enumerate()
        .for_each(|(map, (gam, gbm))| {
            let img = map / k.max(1);
            for blk in 0..blocks {
                let (oa, ob) = (img * per_a + blk * m * kk, img * per_b + blk * kk * p);
                let gy = &g[map * per_y + blk * m * p..map * per_y + (blk + 1) * m * p];
                for i in 0..m {
                    for c in 0..kk {
                        let acc: f64 = (0..p)
                            .map(|j| gy[i * p + j] as f64 * xb[ob + c * p + j] as f64)
                            .sum();
                        gam[blk * m * kk + i * kk + c] = acc as f32;
                    }
                }
                for c in 0..kk {
                    for j in 0..p {
                        let acc: f64 = (0..m)
                            .map(|i| xa[oa + i * kk + c] as f64 * gy[i * p + j] as f64)
                            .sum();
                        gbm[blk * kk * p + c * p + j] = acc as f32;
                    }
                }
            }
        });
    (ga, gb)
}

/// The matrix product of two activations (no parameters).
#[derive(Debug, Clone, Copy)]
pub struct MatMul;

impl Operator for MatMul {
    type Params = ();
    const KIND: &'static str = "MatMul";
    const CATEGORY: Category = Category::Product;
    const ARITY: Arity = Arity::Exactly(2);
    const ROUTES: &'static [Route] = &[Route::Uniform, Route::Gate, Route::Gradient];

    fn output_shape(_: &(), node: &NodeRef, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        output_shape(node, inputs[0], inputs[1])
    }

    fn forward(_: &(), inputs: &[&Tensor]) -> Tensor {
        matmul(inputs[0], inputs[1])
    }

    fn route(_: &(), route: Route, ctx: &RouteCtx<'_>, r: Vec<f32>) -> Vec<Vec<f32>> {
        if route == Route::Gradient {
            let (ga, gb) = gradient(ctx.inputs[0], ctx.inputs[1], &r, ctx.k);
            return vec![ga, gb];
        }
        let (ra, rb) = epsilon_relevance(ctx.inputs[0], ctx.inputs[1], &r, ctx.k, ctx.stabilizer);
        match (route, ctx.gate) {
            (Route::Gate, Some(0)) => vec![vec![0.0; ra.len()], rb],
            (Route::Gate, Some(1)) => vec![ra, vec![0.0; rb.len()]],
            _ => vec![
                ra.iter().map(|v| v / 2.0).collect(),
                rb.iter().map(|v| v / 2.0).collect(),
            ],
        }
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

    /// The ε-rule with ε = 0 is gradient × input of `Σ R ⊙ y / y`: against the product rule
    /// written out per element in f64; and it conserves (bias-free).
    #[test]
    fn epsilon_relevance_is_gradient_times_input_and_conserves() {
        let (a, b) = (random(&[2, 3, 4, 5], 7), random(&[2, 3, 5, 6], 8));
        let y = matmul(&a, &b);
        let r = random(&[4, 3, 4, 6], 9);
        let (ra, rb) = epsilon_relevance(&a, &b, r.as_slice().unwrap(), 2, 0.0);
        for m in 0..4 {
            let n = m / 2;
            for h in 0..3 {
                for i in 0..4 {
                    for c in 0..5 {
                        let want: f64 = (0..6)
                            .map(|j| {
                                a[[n, h, i, c]] as f64
                                    * b[[n, h, c, j]] as f64
                                    * r[[m, h, i, j]] as f64
                                    / y[[n, h, i, j]] as f64
                            })
                            .sum();
                        let got = ra[m * 60 + h * 20 + i * 5 + c] as f64;
                        assert!(
                            (got - want).abs() < 1e-3 * want.abs().max(1.0),
                            "{got} vs {want}"
                        );
                    }
                }
            }
        }
        let total: f32 = r.iter().sum();
        assert!((ra.iter().sum::<f32>() - total).abs() < 1e-2 * total.abs().max(1.0));
        assert!((rb.iter().sum::<f32>() - total).abs() < 1e-2 * total.abs().max(1.0));
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
