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
use crate::kernels::{self, MatRef};
use ndarray::IxDyn;
use rayon::prelude::*;

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

/// The per-block sizes of `a · b`: `(m, k, p)` and the number of `[m, k] · [k, p]` blocks per
/// sample.
fn dims(a: &Tensor, b: &Tensor) -> (usize, usize, usize, usize) {
    let (sa, sb) = (a.shape(), b.shape());
    let r = sa.len();
    let (m, k, p) = (sa[r - 2], sa[r - 1], sb[r - 1]);
    (m, k, p, sa[1..r - 2].iter().product())
}

/// Batched product of batch-first tensors validated by [`output_shape`]: one single-threaded
/// GEMM ([`kernels::sgemm`]) per block of the leading axes, the blocks in parallel (f32
/// accumulation with fused multiply-adds, as PyTorch's CPU `matmul`).
pub fn matmul(a: &Tensor, b: &Tensor) -> Tensor {
    let (m, k, p, _) = dims(a, b);
    let mut shape = a.shape().to_vec();
    let r = shape.len();
    shape[r - 1] = p;
    let mut y = Tensor::zeros(IxDyn(&shape));
    if y.is_empty() {
        return y;
    }
    let (xa, xb) = (a.as_standard_layout(), b.as_standard_layout());
    let (xa, xb) = (
        xa.as_slice().expect("standard"),
        xb.as_slice().expect("standard"),
    );
    let ys = y.as_slice_mut().expect("fresh tensor");
    ys.par_chunks_mut(m * p).enumerate().for_each(|(blk, yb)| {
        kernels::sgemm(
            m,
            p,
            k,
            MatRef::row_major(&xa[blk * m * k..(blk + 1) * m * k], k),
            MatRef::row_major(&xb[blk * k * p..(blk + 1) * k * p], p),
            yb,
            p,
            false,
        );
    });
    y
}

/// `(g · bᵀ, aᵀ · g)` per block for `g` holding `k` maps per sample of `a` and `b`
/// (image-major), each multiplied element-wise by its operand when `times_input`; a side not
/// wanted is left empty. Per block `g` is first mapped by `prep(block of y, block of g)`.
#[allow(clippy::too_many_arguments)]
fn backward(
    a: &Tensor,
    b: &Tensor,
    g: &[f32],
    k: usize,
    want: (bool, bool),
    times_input: bool,
    prep: impl Fn(usize, &mut [f32]) + Sync,
) -> (Vec<f32>, Vec<f32>) {
    let (m, kk, p, _) = dims(a, b);
    let (xa, xb) = (
        a.as_slice().expect("standard layout"),
        b.as_slice().expect("standard layout"),
    );
    let (per_a, per_b) = (
        a.shape()[1..].iter().product::<usize>(),
        b.shape()[1..].iter().product::<usize>(),
    );
    let per_y = per_a / kk.max(1) * p;
    let maps = g.len() / per_y.max(1);
    let mut ga = vec![0f32; if want.0 { maps * per_a } else { 0 }];
    let mut gb = vec![0f32; if want.1 { maps * per_b } else { 0 }];
    if per_y == 0 || m * p == 0 || kk == 0 {
        return (ga, gb);
    }
    let blocks = per_y / (m * p);
    let (pa, pb) = (
        kernels::SyncPtr::new(&mut ga),
        kernels::SyncPtr::new(&mut gb),
    );
    (0..maps * blocks).into_par_iter().for_each(|t| {
        let (map, blk) = (t / blocks, t % blocks);
        let img = map / k.max(1);
        let (oa, ob) = (img * per_a + blk * m * kk, img * per_b + blk * kk * p);
        let (ba, bb) = (&xa[oa..oa + m * kk], &xb[ob..ob + kk * p]);
        let og = map * per_y + blk * m * p;
        let mut gy = g[og..og + m * p].to_vec();
        prep(img * per_y + blk * m * p, &mut gy);
        if want.0 {
            // SAFETY: task t writes only block t of `ga` (disjoint ranges), reads none of it.
            let out = unsafe { &mut pa.slice()[t * m * kk..(t + 1) * m * kk] };
            kernels::sgemm(
                m,
                kk,
                p,
                MatRef::row_major(&gy, p),
                MatRef::row_major_t(bb, p),
                out,
                kk,
                false,
            );
            if times_input {
                out.iter_mut().zip(ba).for_each(|(o, &x)| *o *= x);
            }
        }
        if want.1 {
            // SAFETY: as above, block t of `gb`.
            let out = unsafe { &mut pb.slice()[t * kk * p..(t + 1) * kk * p] };
            kernels::sgemm(
                kk,
                p,
                m,
                MatRef::row_major_t(ba, kk),
                MatRef::row_major(&gy, p),
                out,
                p,
                false,
            );
            if times_input {
                out.iter_mut().zip(bb).for_each(|(o, &x)| *o *= x);
            }
        }
    });
    (ga, gb)
}

/// The ε-rule through `y = a · b` for each operand with the other as the weights, on
/// relevance `r` (`k` maps per sample of `a` and `b`, image-major): `(R_a, R_b)` with
/// `R_a = a ⊙ ((R / s(y)) · bᵀ)`, `R_b = b ⊙ (aᵀ · (R / s(y)))`, `s(z) = z + ε·sign(z)`
/// (`sign(0) = +1`, and 0 where `s(y) = 0`), by GEMMs in f32 as LXT computes it.
pub fn epsilon_relevance(
    a: &Tensor,
    b: &Tensor,
    r: &[f32],
    k: usize,
    eps: f32,
) -> (Vec<f32>, Vec<f32>) {
    epsilon_scaled(a, b, r, k, eps, 1.0, (true, true))
}

/// [`epsilon_relevance`] times `scale`, for the sides in `want`.
fn epsilon_scaled(
    a: &Tensor,
    b: &Tensor,
    r: &[f32],
    k: usize,
    eps: f32,
    scale: f32,
    want: (bool, bool),
) -> (Vec<f32>, Vec<f32>) {
    let y = matmul(a, b);
    let ys = y.as_slice().expect("fresh tensor");
    let st = kernels::Stabilized(eps);
    backward(a, b, r, k, want, true, |oy, g| {
        for (v, &z) in g.iter_mut().zip(&ys[oy..]) {
            *v = st.apply(*v, z) * scale;
        }
    })
}

/// The gradient of `y = a · b` per block: `g_a = g · bᵀ`, `g_b = aᵀ · g`, for `g` holding `k`
/// maps per sample of `a` and `b` (image-major), by GEMMs, the blocks in parallel.
pub fn gradient(a: &Tensor, b: &Tensor, g: &[f32], k: usize) -> (Vec<f32>, Vec<f32>) {
    backward(a, b, g, k, (true, true), false, |_, _| {})
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
        let (a, b) = (ctx.inputs[0], ctx.inputs[1]);
        let (eps, k) = (ctx.stabilizer, ctx.k);
        match (route, ctx.gate) {
            (Route::Gate, Some(0)) => {
                let (_, rb) = epsilon_scaled(a, b, &r, k, eps, 1.0, (false, true));
                let per: usize = ctx.in_shapes[0].iter().product();
                vec![vec![0.0; ctx.maps() * per], rb]
            }
            (Route::Gate, Some(1)) => {
                let (ra, _) = epsilon_scaled(a, b, &r, k, eps, 1.0, (true, false));
                let per: usize = ctx.in_shapes[1].iter().product();
                vec![ra, vec![0.0; ctx.maps() * per]]
            }
            _ => {
                let (ra, rb) = epsilon_scaled(a, b, &r, k, eps, 0.5, (true, true));
                vec![ra, rb]
            }
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

    /// The gradient per block against the product rule written out per element in f64, and
    /// the routes: uniform halves both ε-rule shares, gate gives the gate operand nothing and
    /// the other its whole share.
    #[test]
    fn gradient_and_routes_match_the_product_rule() {
        let (a, b) = (random(&[2, 3, 4, 5], 17), random(&[2, 3, 5, 6], 18));
        let g = random(&[4, 3, 4, 6], 19);
        let gs = g.as_slice().unwrap();
        let (ga, gb) = gradient(&a, &b, gs, 2);
        for m in 0..4 {
            let n = m / 2;
            for h in 0..3 {
                for c in 0..5 {
                    for i in 0..4 {
                        let want: f64 = (0..6)
                            .map(|j| g[[m, h, i, j]] as f64 * b[[n, h, c, j]] as f64)
                            .sum();
                        let got = ga[m * 60 + h * 20 + i * 5 + c] as f64;
                        assert!(
                            (got - want).abs() < 1e-5 * want.abs().max(1.0),
                            "{got} {want}"
                        );
                    }
                    for j in 0..6 {
                        let want: f64 = (0..4)
                            .map(|i| a[[n, h, i, c]] as f64 * g[[m, h, i, j]] as f64)
                            .sum();
                        let got = gb[m * 90 + h * 30 + c * 6 + j] as f64;
                        assert!(
                            (got - want).abs() < 1e-5 * want.abs().max(1.0),
                            "{got} {want}"
                        );
                    }
                }
            }
        }
        let (ra, rb) = epsilon_relevance(&a, &b, gs, 2, 1e-6);
        let route = |route, gate| {
            let ctx = RouteCtx {
                inputs: &[&a, &b],
                in_shapes: &[&[3, 4, 5], &[3, 5, 6]],
                out_shape: &[3, 4, 6],
                k: 2,
                stabilizer: 1e-6,
                gate,
            };
            MatMul::route(&(), route, &ctx, gs.to_vec())
        };
        let half = |v: &[f32]| v.iter().map(|x| x / 2.0).collect::<Vec<_>>();
        assert_eq!(route(Route::Uniform, None), vec![half(&ra), half(&rb)]);
        assert_eq!(
            route(Route::Gate, Some(0)),
            vec![vec![0.0; ra.len()], rb.clone()]
        );
        assert_eq!(
            route(Route::Gate, Some(1)),
            vec![ra.clone(), vec![0.0; rb.len()]]
        );
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
