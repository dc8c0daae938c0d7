//! Layer normalisation (ONNX `LayerNormalization`, opset 17; PyTorch `nn.LayerNorm`), and the
//! same normalisation over one block of axes inside the sample (the channels-first LayerNorm
//! of ConvNeXt's reference code, `x.mean(1, keepdim=True)` …).
//!
//! `y = γ ⊙ (x − μ) / σ + β`, with `μ` and `σ² = mean((x − μ)²)` (biased variance) over the
//! normalised axes and `σ = √(σ² + ε)`.
//!
//! Shapes: per-sample input `[d_0, …, d_{r−1}]`; the normalised axes are
//! `axis..end` (`end` = `r` unless set: ONNX's `axis..rank`), `N = d_axis ⋯ d_{end−1}` values
//! each; `γ` (scale) and `β` (bias, optional) hold `N` values in row-major order of the
//! normalised axes, and broadcast over all other axes. The output has the input's shape. The
//! batch axis is never normalised (ONNX `axis = 0` is not per-sample and the importer rejects
//! it). The forward pass accumulates the mean and the (two-pass) variance in `f64`.
//!
//! # Relevance
//! Two routes:
//!
//! - [`Route::LayerNormLinear`] (rule `layer-norm`, the composites' default): the rule of
//!   AttnLRP (Achtibat et al., "AttnLRP: Attention-Aware Layer-Wise Relevance Propagation for
//!   Transformers", ICML 2024; as LXT computes it, the standard deviation held constant). With
//!   `σ` fixed the normalisation is the linear map
//!   `y_i = Σ_j γ_i (δ_ij − 1/N) x_j / σ + β_i`, and the ε-rule on that map gives
//!
//!   `R_x_j = (x_j / σ) · (γ_j r_j − (1/N) Σ_i γ_i r_i)`,  `r_i = R_i / s(y_i)`,
//!
//!   with `s(z) = z + ε·sign(z)`, `sign(0) = +1` ([`crate::kernels::Stabilized`]) and `ε` the
//!   rule's stabiliser (1e-6 in every preset; [`crate::composite::Composite::with_stabilizer`]
//!   changes it). `σ` and `y` are recomputed from the layer's input of the forward pass.
//!   Summing over `j`: `Σ_j R_x_j = Σ_i R_i (y_i − β_i) / s(y_i)`, so the rule conserves
//!   relevance exactly (up to `ε`) when `β = 0`; a bias absorbs its share `R_i β_i / s(y_i)`,
//!   as the bias of any linear layer does under the ε-rule.
//! - [`Route::Pass`] (rule `pass`): `R_x = R_y`.
//!
//! ```
//! use lrp::ops::{LayerNorm, Op, Route, RouteCtx};
//! use ndarray::{array, ArrayD, IxDyn};
//! // One sample of 3 values, γ = [1, 2, 1], no bias, ε = 0: μ = 2, σ = √(2/3).
//! let ln = LayerNorm::new(0, 0.0, array![1.0, 2.0, 1.0], None);
//! let x = ArrayD::from_shape_vec(IxDyn(&[1, 3]), vec![1.0, 2.0, 3.0]).unwrap();
//! let y = ln.forward(&x);
//! let s = (2.0f32 / 3.0).sqrt();
//! for (got, want) in y.iter().zip([-1.0 / s, 0.0, 1.0 / s]) {
//!     assert!((got - want).abs() < 1e-6, "{got} vs {want}");
//! }
//!
//! // AttnLRP with ε = 1e-6 on R_y = [1, 0, 1]: r = R / s(y) ≈ [−σ, 0, σ], Σ_i γ_i r_i = 0,
//! // so R_x = (x / σ) ⊙ γ ⊙ r = [1·(−1), 0, 3·1].
//! let ctx = RouteCtx { inputs: &[&x], in_shapes: &[&[3]], out_shape: &[3], k: 1, stabilizer: 1e-6, gate: None };
//! let r = Op::LayerNorm(ln).route(Route::LayerNormLinear, &ctx, vec![1.0, 0.0, 1.0]).unwrap();
//! for (got, want) in r[0].iter().zip([-1.0, 0.0, 3.0]) {
//!     assert!((got - want).abs() < 1e-5, "{got} vs {want}");
//! }
//! // Conservation with β = 0: ΣR_x = 2 = ΣR_y (up to ε).
//! assert!((r[0].iter().sum::<f32>() - 2.0).abs() < 1e-5);
//! ```

use super::{pass_on, Category, Operator, Route, RouteCtx, Tensor};
use crate::error::{Error, NodeRef, Result};
use crate::kernels::Stabilized;
use ndarray::Array1;
use rayon::prelude::*;

/// Layer normalisation over the per-sample axes `axis..end` (see the module documentation).
#[derive(Debug, Clone)]
pub struct LayerNorm {
    /// First normalised per-sample axis (ONNX `axis` minus one, after resolving a negative
    /// axis against the input's rank).
    pub axis: usize,
    /// The per-sample axis after the last normalised one; `None`: through the last axis, as
    /// ONNX `LayerNormalization` defines it.
    pub end: Option<usize>,
    /// `ε` added to the variance.
    pub epsilon: f32,
    pub(crate) scale: Array1<f32>,
    pub(crate) bias: Option<Array1<f32>>,
}

/// A sample as blocks of `n` normalised positions, each with `inner` values side by side
/// (`inner = 1` when the normalised axes are the last ones).
#[derive(Debug, Clone, Copy)]
struct Layout {
    n: usize,
    inner: usize,
}

/// Mean and `σ = √(var + ε)` of `n` values `row(j)`, in f64 (two passes).
fn stats(n: usize, eps: f32, row: impl Fn(usize) -> f32) -> (f64, f64) {
    let mean = (0..n).map(|j| row(j) as f64).sum::<f64>() / n as f64;
    let var = (0..n)
        .map(|j| {
            let d = row(j) as f64 - mean;
            d * d
        })
        .sum::<f64>()
        / n as f64;
    (mean, (var + eps as f64).sqrt())
}

impl LayerNorm {
    /// Layer normalisation from per-sample axis `axis` through the last, with `epsilon`,
    /// `scale` γ and optional `bias` β (one value per normalised position; checked by
    /// [`LayerNorm::output_shape`]).
    pub fn new(axis: usize, epsilon: f32, scale: Array1<f32>, bias: Option<Array1<f32>>) -> Self {
        LayerNorm {
            axis,
            end: None,
            epsilon,
            scale: super::standard(scale),
            bias: bias.map(super::standard),
        }
    }

    /// The same normalisation over the per-sample axes `axis..end` only (`end` exclusive):
    /// `LayerNorm::new(0, …).with_end(1)` normalises over the channels of each pixel of a
    /// `[C, H, W]` sample.
    pub fn with_end(mut self, end: usize) -> Self {
        self.end = Some(end);
        self
    }

    /// The scale γ, one value per normalised position.
    pub fn scale(&self) -> &Array1<f32> {
        &self.scale
    }

    /// The bias β, if any.
    pub fn bias(&self) -> Option<&Array1<f32>> {
        self.bias.as_ref()
    }

    /// The per-sample axis after the last normalised one, for a sample of rank `rank`.
    pub fn end_axis(&self, rank: usize) -> usize {
        self.end.unwrap_or(rank)
    }

    fn layout(&self, sample: &[usize]) -> Layout {
        let end = self.end_axis(sample.len());
        Layout {
            n: sample[self.axis..end].iter().product(),
            inner: sample[end..].iter().product(),
        }
    }

    /// Validate against a per-sample input; the output has the same shape.
    ///
    /// Requires `axis < end ≤ rank`, `γ` (and `β`) of `N` values (the product of the
    /// normalised dimensions), and a finite `ε ≥ 0`.
    pub fn output_shape(&self, node: &NodeRef, input: &[usize]) -> Result<Vec<usize>> {
        let rank = input.len();
        let end = self.end_axis(rank);
        if self.axis >= end || end > rank {
            return Err(Error::shape(
                node,
                format!(
                    "normalised per-sample axes {}..{end} do not fit the per-sample input {input:?}",
                    self.axis
                ),
            ));
        }
        if !(self.epsilon.is_finite() && self.epsilon >= 0.0) {
            return Err(Error::param(
                node,
                format!("epsilon must be finite and ≥ 0, got {}", self.epsilon),
            ));
        }
        let n: usize = input[self.axis..end].iter().product();
        let lens = [
            ("scale", Some(self.scale.len())),
            ("bias", self.bias.as_ref().map(Array1::len)),
        ];
        for (what, len) in lens {
            if let Some(len) = len.filter(|&l| l != n) {
                return Err(Error::shape(
                    node,
                    format!(
                        "{what} has {len} values but the normalised axes {:?} of input {input:?} hold {n}",
                        &input[self.axis..end]
                    ),
                ));
            }
        }
        Ok(input.to_vec())
    }

    /// Forward pass on `[N, …]` (validated by [`LayerNorm::output_shape`]); parallel over the
    /// normalised blocks.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let l = self.layout(&x.shape()[1..]);
        let mut y = Tensor::zeros(x.raw_dim());
        if y.is_empty() {
            return y;
        }
        let xs = x.as_slice().expect("standard layout input");
        let block = l.n * l.inner;
        y.as_slice_mut()
            .expect("fresh tensor")
            .par_chunks_mut(block)
            .zip(xs.par_chunks(block))
            .for_each(|(yb, xb)| {
                for q in 0..l.inner {
                    let (mean, sigma) = stats(l.n, self.epsilon, |j| xb[j * l.inner + q]);
                    for j in 0..l.n {
                        yb[j * l.inner + q] = self.output(j, xb[j * l.inner + q], mean, sigma);
                    }
                }
            });
        y
    }

    /// `y_j = γ_j (x − μ)/σ + β_j`, in f64, as the forward pass computes it.
    fn output(&self, j: usize, x: f32, mean: f64, sigma: f64) -> f32 {
        let b = self.bias.as_ref().map_or(0.0, |b| b[j] as f64);
        (self.scale[j] as f64 * (x as f64 - mean) / sigma + b) as f32
    }

    /// AttnLRP's rule (see the module documentation) with stabiliser `eps`: the relevance of
    /// the input `x` (`[n, …]`, standard layout) for `k` relevance maps per image `r`
    /// (`n·k` samples, image-major).
    pub fn attnlrp_relevance(&self, x: &Tensor, r: &[f32], k: usize, eps: f32) -> Vec<f32> {
        let sample = &x.shape()[1..];
        let l = self.layout(sample);
        let per: usize = sample.iter().product();
        let mut out = vec![0f32; r.len()];
        if out.is_empty() {
            return out;
        }
        let xs = x.as_slice().expect("standard layout input");
        let block = l.n * l.inner;
        let stab = Stabilized(eps);
        let gamma = self.scale.as_slice().expect("standard layout");
        out.par_chunks_mut(block)
            .zip(r.par_chunks(block))
            .enumerate()
            .for_each_init(
                || vec![0f64; l.n],
                |ratio, (b, (ob, rb))| {
                    // Block b of relevance map (b·block / per): its image is that map / k.
                    let image = b * block / per / k;
                    let within = b * block % per;
                    let xb = &xs[image * per + within..image * per + within + block];
                    for q in 0..l.inner {
                        let at = |j: usize| j * l.inner + q;
                        let (mean, sigma) = stats(l.n, self.epsilon, |j| xb[at(j)]);
                        let mut total = 0f64;
                        for (j, rj) in ratio.iter_mut().enumerate() {
                            let y = self.output(j, xb[at(j)], mean, sigma);
                            *rj = stab.apply(rb[at(j)], y) as f64;
                            total += gamma[j] as f64 * *rj;
                        }
                        let centre = total / l.n as f64;
                        for (j, rj) in ratio.iter().enumerate() {
                            ob[at(j)] =
                                (xb[at(j)] as f64 / sigma * (gamma[j] as f64 * rj - centre)) as f32;
                        }
                    }
                },
            );
        out
    }
}

impl LayerNorm {
    /// The gradient through the normalisation, `σ` included:
    /// `g_x_j = (h_j − mean(h) − x̂_j · mean(h ⊙ x̂)) / σ` with `h = γ ⊙ g`,
    /// `x̂ = (x − μ)/σ`, for `k` gradient maps per image `g` (`n·k` samples, image-major).
    pub fn gradient(&self, x: &Tensor, g: &[f32], k: usize) -> Vec<f32> {
        let sample = &x.shape()[1..];
        let l = self.layout(sample);
        let per: usize = sample.iter().product();
        let mut out = vec![0f32; g.len()];
        if out.is_empty() || l.n == 0 {
            return out;
        }
        let xs = x.as_slice().expect("standard layout input");
        let block = l.n * l.inner;
        let gamma = self.scale.as_slice().expect("standard layout");
        out.par_chunks_mut(block)
            .zip(g.par_chunks(block))
            .enumerate()
            .for_each(|(b, (ob, gb))| {
                let image = b * block / per / k;
                let within = b * block % per;
                let xb = &xs[image * per + within..image * per + within + block];
                for q in 0..l.inner {
                    let at = |j: usize| j * l.inner + q;
                    let (mean, sigma) = stats(l.n, self.epsilon, |j| xb[at(j)]);
                    let xhat = |j: usize| (xb[at(j)] as f64 - mean) / sigma;
                    let h = |j: usize| gamma[j] as f64 * gb[at(j)] as f64;
                    let (mut h_mean, mut hx_mean) = (0f64, 0f64);
                    for j in 0..l.n {
                        h_mean += h(j);
                        hx_mean += h(j) * xhat(j);
                    }
                    h_mean /= l.n as f64;
                    hx_mean /= l.n as f64;
                    for j in 0..l.n {
                        ob[at(j)] = ((h(j) - h_mean - xhat(j) * hx_mean) / sigma) as f32;
                    }
                }
            });
        out
    }
}

impl Operator for LayerNorm {
    type Params = LayerNorm;
    const KIND: &'static str = "LayerNorm";
    const CATEGORY: Category = Category::Normalization;
    const ROUTES: &'static [Route] = &[Route::LayerNormLinear, Route::Pass, Route::Gradient];

    single_input!(LayerNorm);

    fn params(p: &LayerNorm) -> Vec<&[f32]> {
        std::iter::once(&p.scale)
            .chain(p.bias.as_ref())
            .map(|a| a.as_slice().unwrap_or(&[]))
            .collect()
    }

    fn params_mut(p: &mut LayerNorm) -> Vec<&mut [f32]> {
        let mut out: Vec<&mut [f32]> = Vec::new();
        out.extend(p.scale.as_slice_mut());
        if let Some(b) = p.bias.as_mut() {
            out.extend(b.as_slice_mut());
        }
        out
    }

    fn route(p: &LayerNorm, route: Route, ctx: &RouteCtx<'_>, r: Vec<f32>) -> Vec<Vec<f32>> {
        match route {
            Route::LayerNormLinear => {
                vec![p.attnlrp_relevance(ctx.inputs[0], &r, ctx.k, ctx.stabilizer)]
            }
            Route::Gradient => vec![p.gradient(ctx.inputs[0], &r, ctx.k)],
            _ => pass_on(r),
        }
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;
    use crate::ops::testutil::{assert_close, random};
    use crate::ops::Op;

    /// A layer norm over `axis..end` of `shape` (per sample) with random γ and β.
    fn random_ln(
        shape: &[usize],
        axis: usize,
        end: Option<usize>,
        bias: bool,
        seed: u64,
    ) -> LayerNorm {
        let n: usize = shape[axis..end.unwrap_or(shape.len())].iter().product();
        let v = |s| random(&[n], s).into_dimensionality().unwrap();
        let mut ln = LayerNorm::new(axis, 1e-5, v(seed), bias.then(|| v(seed + 1)));
        ln.end = end;
        ln
    }

    /// Every normalised row of sample `s` of `x` (per-sample `shape`): the flat indices of
    /// its `N` values, in order.
    fn rows(ln: &LayerNorm, shape: &[usize]) -> Vec<Vec<usize>> {
        let end = ln.end_axis(shape.len());
        let outer: usize = shape[..ln.axis].iter().product();
        let n: usize = shape[ln.axis..end].iter().product();
        let inner: usize = shape[end..].iter().product();
        let mut out = Vec::new();
        for o in 0..outer {
            for q in 0..inner {
                out.push((0..n).map(|j| (o * n + j) * inner + q).collect());
            }
        }
        out
    }

    /// Direct loops in f64: mean, biased variance, normalise.
    fn naive(ln: &LayerNorm, x: &Tensor) -> Tensor {
        let shape = &x.shape()[1..];
        let per: usize = shape.iter().product();
        let xs = x.as_slice().unwrap();
        let mut y = vec![0f32; xs.len()];
        for s in 0..x.shape()[0] {
            for row in rows(ln, shape) {
                let v: Vec<f64> = row.iter().map(|&i| xs[s * per + i] as f64).collect();
                let n = v.len() as f64;
                let mean = v.iter().sum::<f64>() / n;
                let var = v.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / n;
                let sigma = (var + ln.epsilon as f64).sqrt();
                for (j, &i) in row.iter().enumerate() {
                    let b = ln.bias.as_ref().map_or(0.0, |b| b[j] as f64);
                    y[s * per + i] = (ln.scale[j] as f64 * (v[j] - mean) / sigma + b) as f32;
                }
            }
        }
        Tensor::from_shape_vec(x.raw_dim(), y).unwrap()
    }

    #[test]
    fn forward_matches_naive_on_random_shapes_and_axes() {
        let mut rng = crate::zoo::rng::Rng::new(171);
        for t in 0..40 {
            let rank = 1 + rng.below(3);
            let shape: Vec<usize> = (0..rank).map(|_| 1 + rng.below(6)).collect();
            let axis = rng.below(rank);
            let end = if rng.below(2) == 0 {
                None
            } else {
                Some(axis + 1 + rng.below(rank - axis))
            };
            let ln = random_ln(&shape, axis, end, t % 3 != 0, t);
            let node = NodeRef::new("ln", "LayerNorm");
            assert_eq!(ln.output_shape(&node, &shape).unwrap(), shape);
            let mut full = vec![1 + rng.below(3)];
            full.extend(&shape);
            // Offset and scale the input so that the mean matters.
            let x = random(&full, t + 50).mapv(|v| 3.0 * v + 2.0);
            assert_close(&ln.forward(&x), &naive(&ln, &x), 1e-5);
        }
    }

    #[test]
    fn large_offsets_stay_accurate() {
        // A one-pass E[x²] − E[x]² in f32 loses everything at this offset; two passes in f64
        // do not.
        let ln = LayerNorm::new(0, 1e-5, Array1::ones(64), None);
        let x = random(&[2, 64], 5).mapv(|v| 1e4 + v);
        assert_close(&ln.forward(&x), &naive(&ln, &x), 1e-4);
    }

    /// The ε-rule on the explicit `N × N` matrix `W_ij = γ_i (δ_ij − 1/N) / σ` with σ fixed,
    /// in f64: `R_x_j = x_j Σ_i W_ij R_i / s(z_i)`, `z = W x + β`.
    fn dense_rule(ln: &LayerNorm, x: &Tensor, r: &[f32], k: usize, eps: f64) -> Vec<f32> {
        let shape = &x.shape()[1..];
        let per: usize = shape.iter().product();
        let xs = x.as_slice().unwrap();
        let mut out = vec![0f32; r.len()];
        for m in 0..r.len() / per {
            let img = m / k;
            for row in rows(ln, shape) {
                let v: Vec<f64> = row.iter().map(|&i| xs[img * per + i] as f64).collect();
                let n = v.len();
                let mean = v.iter().sum::<f64>() / n as f64;
                let var = v.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / n as f64;
                let sigma = (var + ln.epsilon as f64).sqrt();
                let w = |i: usize, j: usize| {
                    let delta = if i == j { 1.0 } else { 0.0 };
                    ln.scale[i] as f64 * (delta - 1.0 / n as f64) / sigma
                };
                let z: Vec<f64> = (0..n)
                    .map(|i| {
                        let b = ln.bias.as_ref().map_or(0.0, |b| b[i] as f64);
                        (0..n).map(|j| w(i, j) * v[j]).sum::<f64>() + b
                    })
                    .collect();
                for j in 0..n {
                    let mut acc = 0.0;
                    for i in 0..n {
                        let d = z[i] + if z[i] >= 0.0 { eps } else { -eps };
                        acc += w(i, j) * r[m * per + row[i]] as f64 / d;
                    }
                    out[m * per + row[j]] = (v[j] * acc) as f32;
                }
            }
        }
        out
    }

    #[test]
    fn attnlrp_matches_the_epsilon_rule_on_the_explicit_matrix() {
        let mut rng = crate::zoo::rng::Rng::new(172);
        for t in 0..30 {
            let rank = 1 + rng.below(3);
            let shape: Vec<usize> = (0..rank).map(|_| 2 + rng.below(5)).collect();
            let axis = rng.below(rank);
            let end = (t % 2 == 1).then(|| axis + 1 + rng.below(rank - axis));
            let ln = random_ln(&shape, axis, end, t % 3 != 0, t);
            let (n, k) = (1 + rng.below(2), 1 + rng.below(3));
            let mut full = vec![n];
            full.extend(&shape);
            let x = random(&full, t + 10).mapv(|v| 2.0 * v + 0.5);
            let mut rshape = vec![n * k];
            rshape.extend(&shape);
            let r = random(&rshape, t + 20);
            let eps = [1e-6f32, 0.1][t as usize % 2];
            let got = ln.attnlrp_relevance(&x, r.as_slice().unwrap(), k, eps);
            let want = dense_rule(&ln, &x, r.as_slice().unwrap(), k, eps as f64);
            let got = Tensor::from_shape_vec(rshape.clone(), got).unwrap();
            let want = Tensor::from_shape_vec(rshape, want).unwrap();
            assert_close(&got, &want, 1e-5);
        }
    }

    #[test]
    fn attnlrp_conserves_without_bias() {
        // β = 0: Σ_j R_x_j = Σ_i R_i y_i / s(y_i) (to 1e-5 relative) with ε = 1e-6, and
        // = Σ_i R_i with ε = 0. (With ε > 0, an output near 0 keeps a share ε/(|y| + ε) of
        // its relevance, which random inputs make larger than 1e-5 now and then.)
        let shape = [4, 3, 5];
        let per = 60;
        for (axis, end) in [(0, None), (1, None), (2, None), (0, Some(1)), (1, Some(2))] {
            let ln = random_ln(&shape, axis, end, false, axis as u64 + 7);
            let x = random(&[2, 4, 3, 5], 3).mapv(|v| 2.0 * v + 1.0);
            let k = 2;
            // Relevance of both signs, its sum away from 0.
            let r = random(&[4, 4, 3, 5], 4).mapv(|v| v + 0.5);
            let rs = r.as_slice().unwrap();
            let y = ln.forward(&x);
            let ys = y.as_slice().unwrap();
            for eps in [1e-6f32, 0.0] {
                let got = ln.attnlrp_relevance(&x, rs, k, eps);
                for m in 0..4 {
                    let sum = |v: &[f32]| {
                        v[m * per..(m + 1) * per]
                            .iter()
                            .map(|&v| v as f64)
                            .sum::<f64>()
                    };
                    let (sum_in, sum_out) = (sum(&got), sum(rs));
                    let kept: f64 = (0..per)
                        .map(|i| {
                            let yv = ys[(m / k) * per + i] as f64;
                            let e = eps as f64;
                            rs[m * per + i] as f64 * yv / (yv + if yv >= 0.0 { e } else { -e })
                        })
                        .sum();
                    let want = if eps == 0.0 { sum_out } else { kept };
                    assert!(
                        (sum_in - want).abs() <= 1e-5 * want.abs(),
                        "axes {axis}..{end:?}, ε {eps}: {sum_in} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn bias_absorbs_its_share() {
        // With β ≠ 0, Σ R_x = Σ R_i (y_i − β_i) / s(y_i).
        let ln = random_ln(&[6], 0, None, true, 9);
        let x = random(&[1, 6], 10);
        let r = random(&[1, 6], 11);
        let rs = r.as_slice().unwrap();
        let got: f64 = ln
            .attnlrp_relevance(&x, rs, 1, 1e-6)
            .iter()
            .map(|&v| v as f64)
            .sum();
        let y = ln.forward(&x);
        let want: f64 = (0..6)
            .map(|i| {
                let yv = y[[0, i]] as f64;
                let s = yv + if yv >= 0.0 { 1e-6 } else { -1e-6 };
                rs[i] as f64 * (yv - ln.bias.as_ref().unwrap()[i] as f64) / s
            })
            .sum();
        assert!(
            (got - want).abs() < 1e-5 * want.abs().max(1.0),
            "{got} vs {want}"
        );
    }

    #[test]
    fn routes_through_the_op() {
        let ln = random_ln(&[2, 3], 1, None, true, 12);
        let x = random(&[1, 2, 3], 13);
        let ctx = RouteCtx {
            inputs: &[&x],
            in_shapes: &[&[2, 3]],
            out_shape: &[2, 3],
            k: 2,
            stabilizer: 1e-6,
            gate: None,
        };
        let r: Vec<f32> = (0..12).map(|i| i as f32 - 5.0).collect();
        let want = ln.attnlrp_relevance(&x, &r, 2, 1e-6);
        let op = Op::LayerNorm(ln);
        assert_eq!(op.category(), Category::Normalization);
        assert_eq!(op.kind(), "LayerNorm");
        assert_eq!(op.num_params(), 6);
        assert_eq!(
            op.route(Route::LayerNormLinear, &ctx, r.clone()),
            Some(vec![want])
        );
        assert_eq!(
            op.route(Route::Pass, &ctx, r.clone()),
            Some(vec![r.clone()])
        );
        assert_eq!(op.route(Route::Proportional, &ctx, r), None);
    }

    #[test]
    fn invalid_parameters_name_the_node() {
        let node = NodeRef::new("ln7", "LayerNorm");
        let ln = LayerNorm::new(1, 1e-5, Array1::ones(4), None);
        let msg = ln.output_shape(&node, &[3, 5]).unwrap_err().to_string();
        assert!(
            msg.contains("ln7") && msg.contains("scale has 4 values"),
            "{msg}"
        );
        let ln = LayerNorm::new(0, 1e-5, Array1::ones(3), Some(Array1::zeros(2)));
        let msg = ln.output_shape(&node, &[3]).unwrap_err().to_string();
        assert!(msg.contains("ln7") && msg.contains("bias has 2"), "{msg}");
        let ln = LayerNorm::new(2, 1e-5, Array1::ones(1), None);
        let msg = ln.output_shape(&node, &[3, 5]).unwrap_err().to_string();
        assert!(msg.contains("ln7") && msg.contains("do not fit"), "{msg}");
        let ln = LayerNorm::new(1, 1e-5, Array1::ones(1), None).with_end(1);
        assert!(ln.output_shape(&node, &[3, 5]).is_err());
        let ln = LayerNorm::new(0, f32::NAN, Array1::ones(3), None);
        let msg = ln.output_shape(&node, &[3]).unwrap_err().to_string();
        assert!(msg.contains("ln7") && msg.contains("epsilon"), "{msg}");
    }
}
