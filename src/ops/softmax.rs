//! Softmax along one per-sample axis.
//!
//! `y[…, j, …] = exp(x[…, j, …] − m) / Σ_{j'} exp(x[…, j', …] − m)`, with `m = max_{j'}
//! x[…, j', …]` subtracted for numerical stability (it cancels exactly in exact arithmetic).
//!
//! Shapes: input `[N, …]` with per-sample axis `axis` (0 = the class axis of `[N, K]`, or the
//! channels of `[N, C, H, W]`), output the same.
//!
//! ## Relevance
//! A final softmax is skipped (relevance starts at the logits). Inside a network (attention)
//! two routes: pass (`R_in = R_out`), and AttnLRP's rule ([`Route::SoftmaxTaylor`](super::Route::SoftmaxTaylor),
//! Achtibat et al., ICML 2024, Proposition 3.1): the first-order Taylor expansion at the
//! input with its bias term, `R_in = x ⊙ (R_out − s ⊙ Σ_axis R_out)` (`s` the softmax output),
//! which is gradient × input with the gradient `R_out / s` at the output, as LXT computes it.
//! It does not conserve: `Σ R_in = Σ x ⊙ R_out − (Σ s ⊙ x)(Σ R_out)`.
//!
//! ```
//! use lrp::ops::Softmax;
//! use ndarray::{ArrayD, IxDyn};
//! let x = ArrayD::from_shape_vec(IxDyn(&[1, 3]), vec![0.0, (2f32).ln(), 1000.0]).unwrap();
//! let y = Softmax::new(0).forward(&x);
//! // exp(-1000) underflows to 0; the max is subtracted so nothing overflows.
//! assert_eq!(y.as_slice().unwrap(), &[0.0, 0.0, 1.0]);
//! let x = ArrayD::from_shape_vec(IxDyn(&[1, 2]), vec![0.0, (3f32).ln()]).unwrap();
//! let y = Softmax::new(0).forward(&x);
//! assert!((y[[0, 0]] - 0.25).abs() < 1e-7 && (y[[0, 1]] - 0.75).abs() < 1e-7);
//! // AttnLRP's rule: x = (0, ln 3), s = (1/4, 3/4), R_out = (1, 0):
//! // R_in = x ⊙ (R − s·1) = (0, ln 3 · (0 − 3/4)).
//! let r = Softmax::new(0).taylor_relevance(&x, &[1.0, 0.0], 1);
//! assert_eq!(r[0], 0.0);
//! assert!((r[1] + 0.75 * (3f32).ln()).abs() < 1e-6);
//! ```

use super::Tensor;
use crate::error::{Error, NodeRef, Result};
use rayon::prelude::*;

/// `f` on every row of `len` values of `ys`, in parallel over blocks of rows.
fn par_rows(ys: &mut [f32], len: usize, f: impl Fn(&mut [f32]) + Sync) {
    // About 16 k values per task: enough work to pay for scheduling it.
    let rows = ((1 << 14) / len.max(1)).max(1);
    ys.par_chunks_mut(rows * len)
        .for_each(|c| c.chunks_exact_mut(len).for_each(&f));
}

/// Softmax along a per-sample axis.
#[derive(Debug, Clone)]
pub struct Softmax {
    /// Per-sample axis (0 = classes of `[N, K]`, channels of `[N, C, H, W]`).
    pub axis: usize,
}

impl Softmax {
    /// Softmax along per-sample `axis`.
    pub fn new(axis: usize) -> Self {
        Softmax { axis }
    }

    /// Validate against a per-sample input shape; the output has the same shape.
    pub fn output_shape(&self, node: &NodeRef, input: &[usize]) -> Result<Vec<usize>> {
        if self.axis >= input.len() {
            return Err(Error::param(
                node,
                format!(
                    "axis {} is out of range for the per-sample input {input:?}",
                    self.axis
                ),
            ));
        }
        Ok(input.to_vec())
    }

    /// Forward pass on `[N, …]` (validated by [`Softmax::output_shape`]).
    ///
    /// Works on `outer × len × inner` blocks, updating whole contiguous `inner` rows at a time.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let s = x.shape();
        let ax = self.axis + 1;
        let len = s[ax];
        let inner: usize = s[ax + 1..].iter().product();
        let mut y = x.as_standard_layout().into_owned();
        if y.is_empty() {
            return y;
        }
        if inner == 1 {
            // The last axis (attention): contiguous rows, in parallel.
            let ys = y.as_slice_mut().expect("standard layout");
            par_rows(ys, len, |row| {
                let m = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                let mut sum = 0f32;
                for v in row.iter_mut() {
                    *v = (*v - m).exp();
                    sum += *v;
                }
                row.iter_mut().for_each(|v| *v /= sum);
            });
            return y;
        }
        let block = len * inner;
        // Running max, then the sum of exponentials, per inner position.
        let mut acc = vec![0f32; inner];
        for b in y
            .as_slice_mut()
            .expect("standard layout")
            .chunks_exact_mut(block)
        {
            acc.copy_from_slice(&b[..inner]);
            for row in b.chunks_exact(inner).skip(1) {
                for (m, &v) in acc.iter_mut().zip(row) {
                    *m = m.max(v);
                }
            }
            for row in b.chunks_exact_mut(inner) {
                for (v, &m) in row.iter_mut().zip(&acc) {
                    *v = (*v - m).exp();
                }
            }
            acc.fill(0.0);
            for row in b.chunks_exact(inner) {
                for (sum, &v) in acc.iter_mut().zip(row) {
                    *sum += v;
                }
            }
            for row in b.chunks_exact_mut(inner) {
                for (v, &sum) in row.iter_mut().zip(&acc) {
                    *v /= sum;
                }
            }
        }
        y
    }
}

impl Softmax {
    /// AttnLRP's softmax rule: `R_in = x ⊙ (R − s ⊙ Σ_axis R)` for relevance `r` (`maps`
    /// samples, `k` per image of `x`, image-major) at the output `s = softmax(x)`.
    pub fn taylor_relevance(&self, x: &Tensor, r: &[f32], k: usize) -> Vec<f32> {
        self.per_lane(x, r, k, |x, s, r, out| {
            let total: f64 = r.iter().map(|&v| v as f64).sum();
            for (j, o) in out.iter_mut().enumerate() {
                *o = (x[j] as f64 * (r[j] as f64 - s[j] as f64 * total)) as f32;
            }
        })
    }

    /// The gradient `g_x = s ⊙ (g − Σ_axis g ⊙ s)` for gradients `g` (`k` maps per image of
    /// `x`, image-major) at the output `s = softmax(x)`.
    pub fn gradient(&self, x: &Tensor, g: &[f32], k: usize) -> Vec<f32> {
        self.per_lane(x, g, k, |_, s, g, out| {
            let dot: f64 = g.iter().zip(s).map(|(&a, &b)| a as f64 * b as f64).sum();
            for (j, o) in out.iter_mut().enumerate() {
                *o = (s[j] as f64 * (g[j] as f64 - dot)) as f32;
            }
        })
    }

    /// `f(x, s, r, out)` on every lane along the softmax axis of each of the maps `r` (`k`
    /// per image of `x`, image-major), with `s = softmax(x)`: the lanes' values gathered into
    /// contiguous slices, `out` scattered back.
    fn per_lane(
        &self,
        x: &Tensor,
        r: &[f32],
        k: usize,
        f: impl Fn(&[f32], &[f32], &[f32], &mut [f32]) + Sync,
    ) -> Vec<f32> {
        let s = self.forward(x);
        let shape = x.shape();
        let ax = self.axis + 1;
        let len = shape[ax];
        let inner: usize = shape[ax + 1..].iter().product();
        let per_sample: usize = shape[1..].iter().product();
        let (xs, ss) = (
            x.as_slice().expect("standard layout"),
            s.as_slice().expect("fresh tensor"),
        );
        let mut out = vec![0f32; r.len()];
        if per_sample == 0 || len * inner == 0 {
            return out;
        }
        if inner == 1 {
            // Contiguous lanes (the last axis): no gathering, in parallel over lanes.
            let lanes_per = per_sample / len;
            let po = crate::kernels::SyncPtr::new(&mut out);
            (0..r.len() / len).into_par_iter().for_each(|lane| {
                let (m, l) = (lane / lanes_per, lane % lanes_per);
                let at = (m / k.max(1)) * per_sample + l * len;
                // SAFETY: each task writes its own lane of `out` and reads none of it.
                let o = unsafe { &mut po.slice()[lane * len..(lane + 1) * len] };
                f(
                    &xs[at..at + len],
                    &ss[at..at + len],
                    &r[lane * len..(lane + 1) * len],
                    o,
                );
            });
            return out;
        }
        let mut lanes = vec![vec![0f32; len]; 4];
        for (m, (rm, om)) in r
            .chunks_exact(per_sample)
            .zip(out.chunks_exact_mut(per_sample))
            .enumerate()
        {
            let img = m / k.max(1);
            let (xi, si) = (
                &xs[img * per_sample..(img + 1) * per_sample],
                &ss[img * per_sample..(img + 1) * per_sample],
            );
            for block in 0..per_sample / (len * inner) {
                let base = block * len * inner;
                for i in 0..inner {
                    let at = |j: usize| base + j * inner + i;
                    let [lx, ls, lr, lo] = &mut lanes[..] else {
                        unreachable!("four lanes")
                    };
                    for j in 0..len {
                        (lx[j], ls[j], lr[j]) = (xi[at(j)], si[at(j)], rm[at(j)]);
                    }
                    f(lx, ls, lr, lo);
                    for (j, &v) in lo.iter().enumerate() {
                        om[at(j)] = v;
                    }
                }
            }
        }
        out
    }
}

impl super::Operator for Softmax {
    type Params = Softmax;
    const KIND: &'static str = "Softmax";
    const CATEGORY: super::Category = super::Category::Activation;
    const ROUTES: &'static [super::Route] = &[
        super::Route::Pass,
        super::Route::SoftmaxTaylor,
        super::Route::Gradient,
    ];

    single_input!(Softmax);

    fn route(
        p: &Softmax,
        route: super::Route,
        ctx: &super::RouteCtx<'_>,
        r: Vec<f32>,
    ) -> Vec<Vec<f32>> {
        match route {
            super::Route::SoftmaxTaylor => vec![p.taylor_relevance(ctx.inputs[0], &r, ctx.k)],
            super::Route::Gradient => vec![p.gradient(ctx.inputs[0], &r, ctx.k)],
            _ => vec![r],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::{assert_close, random};
    use ndarray::{Axis, IxDyn};

    /// Textbook softmax in f64 over each lane of the axis, without the max shift.
    fn naive(axis: usize, x: &Tensor) -> Tensor {
        let ax = Axis(axis + 1);
        let mut y = Tensor::zeros(IxDyn(x.shape()));
        for (xl, mut yl) in x.lanes(ax).into_iter().zip(y.lanes_mut(ax)) {
            let sum: f64 = xl.iter().map(|&v| (v as f64).exp()).sum();
            for (o, &v) in yl.iter_mut().zip(xl.iter()) {
                *o = ((v as f64).exp() / sum) as f32;
            }
        }
        y
    }

    #[test]
    fn matches_naive_on_random_shapes() {
        let mut rng = crate::zoo::rng::Rng::new(81);
        for t in 0..30 {
            let rank = 1 + rng.below(3);
            let mut shape = vec![1 + rng.below(3)];
            shape.extend((0..rank).map(|_| 1 + rng.below(6)));
            let axis = rng.below(rank);
            let sm = Softmax::new(axis);
            let node = NodeRef::new("prob", "Softmax");
            assert_eq!(
                sm.output_shape(&node, &shape[1..]).unwrap(),
                shape[1..].to_vec()
            );
            let x = random(&shape, t).mapv(|v| v * 10.0);
            let y = sm.forward(&x);
            assert_close(&y, &naive(axis, &x), 1e-5);
            for s in y.sum_axis(Axis(axis + 1)).iter() {
                assert!((s - 1.0).abs() < 1e-5, "sum {s}");
            }
        }
    }

    #[test]
    fn four_d_along_channels_sums_to_one() {
        let x = random(&[2, 5, 3, 4], 7).mapv(|v| v * 50.0 + 300.0);
        let y = Softmax::new(0).forward(&x);
        assert!(y.iter().all(|v| v.is_finite() && *v >= 0.0));
        for s in y.sum_axis(Axis(1)).iter() {
            assert!((s - 1.0).abs() < 1e-5, "sum {s}");
        }
        // Shift invariance: the naive formula on the shifted input agrees.
        let shifted = x.mapv(|v| v - 300.0);
        assert_close(&y, &naive(0, &shifted), 1e-5);
    }

    /// AttnLRP's rule against gradient × input in f64: the Jacobian of the softmax applied
    /// to `R / s`, by finite differences of the naive softmax.
    #[test]
    fn taylor_rule_is_gradient_times_input() {
        let x = random(&[2, 3, 4], 5).mapv(|v| v * 2.0);
        let sm = Softmax::new(1);
        let s = naive(1, &x);
        let r = random(&[4, 3, 4], 6);
        let got = sm.taylor_relevance(&x, r.as_slice().unwrap(), 2);
        for m in 0..4 {
            let n = m / 2;
            for a in 0..3 {
                for i in 0..4 {
                    // d/dx_i Σ_j g_j s_j with g = R / s, by central differences in f64.
                    let h = 1e-4f64;
                    let f = |d: f64| -> f64 {
                        let row: Vec<f64> = (0..4)
                            .map(|j| x[[n, a, j]] as f64 + if j == i { d } else { 0.0 })
                            .collect();
                        let z: f64 = row.iter().map(|v| v.exp()).sum();
                        (0..4)
                            .map(|j| r[[m, a, j]] as f64 / s[[n, a, j]] as f64 * row[j].exp() / z)
                            .sum()
                    };
                    let grad = (f(h) - f(-h)) / (2.0 * h);
                    let want = x[[n, a, i]] as f64 * grad;
                    let g = got[m * 12 + a * 4 + i] as f64;
                    assert!((g - want).abs() < 1e-4, "{m} {a} {i}: {g} vs {want}");
                }
            }
        }
    }

    #[test]
    fn axis_out_of_range_names_the_node() {
        let msg = Softmax::new(1)
            .output_shape(&NodeRef::new("prob", "Softmax"), &[1000])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("prob") && msg.contains("axis 1"), "{msg}");
    }
}
