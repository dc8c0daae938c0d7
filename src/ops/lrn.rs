//! Local response normalisation across channels (Caffe `LRN` with `ACROSS_CHANNELS`, ONNX
//! `LRN`).
//!
//! `y[n, c, …] = x[n, c, …] / (k + α/size · Σ_{c' ∈ N(c)} x[n, c', …]²)^β`
//!
//! with the channel window `N(c) = max(0, c − ⌊(size−1)/2⌋) ..= min(C−1, c + ⌈(size−1)/2⌉)`
//! (channels beyond the edges count as zero; the divisor is always `size`, as in Caffe and
//! ONNX). ONNX calls `k` the `bias`.
//!
//! Shapes: input `[N, C, …]` (any rank ≥ 2 including the batch), output the same.
//!
//! ```
//! use lrp::ops::Lrn;
//! use ndarray::{ArrayD, IxDyn};
//! // size 3, alpha 3 (alpha/size = 1), beta 1, k 1 over three channels of one pixel.
//! let lrn = Lrn::new(3, 3.0, 1.0, 1.0);
//! let x = ArrayD::from_shape_vec(IxDyn(&[1, 3, 1, 1]), vec![1.0, 2.0, 2.0]).unwrap();
//! let y = lrn.forward(&x);
//! // Windows: {0, 1} -> 1 + 1 + 4 = 6; {0, 1, 2} -> 10; {1, 2} -> 9.
//! for (got, want) in y.iter().zip([1.0 / 6.0, 2.0 / 10.0, 2.0 / 9.0]) {
//!     assert!((got - want).abs() < 1e-7, "{got} vs {want}");
//! }
//! ```

use super::{pass_on, Category, Operator, Route, RouteCtx, Tensor};
use crate::error::{Error, NodeRef, Result};
use rayon::prelude::*;

/// Local response normalisation across channels.
#[derive(Debug, Clone)]
pub struct Lrn {
    /// Window size in channels (`local_size` in Caffe), at least 1.
    pub size: usize,
    /// Scale `α` of the sum of squares (divided by `size`).
    pub alpha: f32,
    /// Exponent `β`.
    pub beta: f32,
    /// Additive constant `k` (ONNX `bias`), positive.
    pub k: f32,
}

impl Default for Lrn {
    /// Caffe's defaults: size 5, α = 1e-4, β = 0.75, k = 1.
    fn default() -> Self {
        Lrn::new(5, 1e-4, 0.75, 1.0)
    }
}

impl Lrn {
    /// LRN with window `size`, `alpha`, `beta` and `k`.
    pub fn new(size: usize, alpha: f32, beta: f32, k: f32) -> Self {
        Lrn {
            size,
            alpha,
            beta,
            k,
        }
    }

    /// Caffe's defaults (size 5, α = 1e-4, β = 0.75, k = 1) with window `size`.
    pub fn with_size(size: usize) -> Self {
        Lrn {
            size,
            ..Lrn::default()
        }
    }

    /// The channel window `N(c)` as a range `lo..hi` for `channels` channels.
    pub fn window(&self, c: usize, channels: usize) -> std::ops::Range<usize> {
        let before = self.size.saturating_sub(1) / 2;
        let after = self.size.saturating_sub(1) - before;
        c.saturating_sub(before)..c.saturating_add(after).saturating_add(1).min(channels)
    }

    /// Validate parameters against a per-sample input `[C, …]`; the output has the same shape.
    ///
    /// Requires `size ≥ 1`, finite `α ≥ 0`, finite `β` and finite `k > 0`, so that the base of
    /// the power is positive.
    pub fn output_shape(&self, node: &NodeRef, input: &[usize]) -> Result<Vec<usize>> {
        if self.size == 0 {
            return Err(Error::param(node, "size must be at least 1"));
        }
        if !(self.alpha.is_finite() && self.alpha >= 0.0) {
            return Err(Error::param(
                node,
                format!("alpha must be finite and non-negative, got {}", self.alpha),
            ));
        }
        if !self.beta.is_finite() {
            return Err(Error::param(
                node,
                format!("beta must be finite, got {}", self.beta),
            ));
        }
        if !(self.k.is_finite() && self.k > 0.0) {
            return Err(Error::param(
                node,
                format!("k (bias) must be finite and positive, got {}", self.k),
            ));
        }
        if input.is_empty() {
            return Err(Error::shape(
                node,
                "expects an input with a channel axis [C, …], got a scalar per sample",
            ));
        }
        Ok(input.to_vec())
    }

    /// Forward pass on `[N, C, …]` (validated by [`Lrn::output_shape`]); parallel over
    /// (image, channel) planes.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let s = x.shape();
        let c = s[1];
        let plane: usize = s[2..].iter().product();
        let mut y = Tensor::zeros(x.raw_dim());
        if y.is_empty() {
            return y;
        }
        let xs = x.as_slice().expect("standard layout input");
        let ys = y.as_slice_mut().expect("fresh tensor");
        let (k, a, beta) = (self.k, self.alpha / self.size as f32, self.beta);
        ys.par_chunks_mut(plane).enumerate().for_each(|(idx, yp)| {
            let (img, ch) = (idx / c, idx % c);
            let xi = &xs[img * c * plane..(img + 1) * c * plane];
            // The output plane accumulates the sum of squares, then becomes the result.
            for cc in self.window(ch, c) {
                for (acc, &v) in yp.iter_mut().zip(&xi[cc * plane..(cc + 1) * plane]) {
                    *acc += v * v;
                }
            }
            for (out, &v) in yp.iter_mut().zip(&xi[ch * plane..(ch + 1) * plane]) {
                *out = v * (k + a * *out).powf(-beta);
            }
        });
        y
    }
}

impl Lrn {
    /// The paper's first-order LRN rule, per spatial position, with
    /// `s_c = k + (α/n) Σ_{c'∈N(c)} x_{c'}²`:
    ///
    /// `R_in_c = R_out_c x_c (k + (α/n) x_c²)^{−β} − (2αβ/n) x_c² Σ_{c'≠c, c∈N(c')} x_{c'} R_out_{c'} s_{c'}^{−β−1}`
    ///
    /// (`c ∈ N(c')` and `c' ∈ N(c)` coincide for the odd window sizes every published network
    /// uses; for even sizes the sum runs over the outputs whose window contains `c`, as the
    /// derivative does). `x` is the input `[n, C, …]`, `r` holds `n·k` relevance maps.
    pub fn paper_relevance(&self, x: &Tensor, r: &[f32], k: usize) -> Vec<f32> {
        let s = x.shape();
        let c = s[1];
        let plane: usize = s[2..].iter().product();
        let xs = x.as_slice().expect("standard layout input");
        let (kk, a, beta) = (self.k, self.alpha / self.size as f32, self.beta);
        // Outputs c' whose window contains channel ch: ch − after ≤ c' ≤ ch + before.
        let before = self.size.saturating_sub(1) / 2;
        let after = self.size.saturating_sub(1) - before;
        let mut out = vec![0f32; r.len()];
        let mut t = vec![0f32; r.len()];
        // t_{c'} = x_{c'} R_{c'} s_{c'}^{−β−1}, per sample and channel plane (parallel).
        t.par_chunks_mut(plane)
            .zip(r.par_chunks(plane))
            .enumerate()
            .for_each(|(i, (tp, rp))| {
                let (sample, ch) = (i / c, i % c);
                let xi = &xs[(sample / k) * c * plane..(sample / k + 1) * c * plane];
                for (p, (tv, &rv)) in tp.iter_mut().zip(rp).enumerate() {
                    let mut sq = 0f32;
                    for cc in self.window(ch, c) {
                        let v = xi[cc * plane + p];
                        sq += v * v;
                    }
                    *tv = xi[ch * plane + p] * rv * (kk + a * sq).powf(-beta - 1.0);
                }
            });
        out.par_chunks_mut(plane)
            .zip(r.par_chunks(plane))
            .enumerate()
            .for_each(|(i, (op, rp))| {
                let (sample, ch) = (i / c, i % c);
                let xi = &xs[(sample / k) * c * plane..(sample / k + 1) * c * plane];
                let ts = &t[sample * c * plane..(sample + 1) * c * plane];
                let lo = ch.saturating_sub(after);
                let hi = ch.saturating_add(before).saturating_add(1).min(c);
                for (p, (o, &rv)) in op.iter_mut().zip(rp).enumerate() {
                    let xc = xi[ch * plane + p];
                    let mut cross = 0f32;
                    for cc in (lo..hi).filter(|&cc| cc != ch) {
                        cross += ts[cc * plane + p];
                    }
                    *o =
                        rv * xc * (kk + a * xc * xc).powf(-beta) - 2.0 * a * beta * xc * xc * cross;
                }
            });
        out
    }
}

impl Lrn {
    /// The gradient, with `s_c = k + (α/n) Σ_{c'∈N(c)} x_{c'}²` per spatial position:
    ///
    /// `g_in_c = g_c s_c^{−β} − (2αβ/n) x_c Σ_{c': c∈N(c')} x_{c'} g_{c'} s_{c'}^{−β−1}`.
    ///
    /// `x` is the input `[n, C, …]`, `g` holds `n·k` gradient maps (image-major).
    pub fn gradient(&self, x: &Tensor, g: &[f32], k: usize) -> Vec<f32> {
        let s = x.shape();
        let c = s[1];
        let plane: usize = s[2..].iter().product();
        let xs = x.as_slice().expect("standard layout input");
        let (kk, a, beta) = (
            self.k as f64,
            self.alpha as f64 / self.size as f64,
            self.beta as f64,
        );
        let before = self.size.saturating_sub(1) / 2;
        let after = self.size.saturating_sub(1) - before;
        // Per map and channel plane: g s^{−β} (first) and t = x g s^{−β−1}.
        let mut first = vec![0f64; g.len()];
        let mut t = vec![0f64; g.len()];
        first
            .par_chunks_mut(plane.max(1))
            .zip(t.par_chunks_mut(plane.max(1)))
            .zip(g.par_chunks(plane.max(1)))
            .enumerate()
            .for_each(|(i, ((fp, tp), gp))| {
                let (sample, ch) = (i / c, i % c);
                let xi = &xs[(sample / k) * c * plane..(sample / k + 1) * c * plane];
                for (p, ((f, tv), &gv)) in fp.iter_mut().zip(tp.iter_mut()).zip(gp).enumerate() {
                    let sq: f64 = self
                        .window(ch, c)
                        .map(|cc| {
                            let v = xi[cc * plane + p] as f64;
                            v * v
                        })
                        .sum();
                    let base = kk + a * sq;
                    *f = gv as f64 * base.powf(-beta);
                    *tv = xi[ch * plane + p] as f64 * gv as f64 * base.powf(-beta - 1.0);
                }
            });
        let mut out = vec![0f32; g.len()];
        out.par_chunks_mut(plane.max(1))
            .enumerate()
            .for_each(|(i, op)| {
                let (sample, ch) = (i / c, i % c);
                let xi = &xs[(sample / k) * c * plane..(sample / k + 1) * c * plane];
                let ts = &t[sample * c * plane..(sample + 1) * c * plane];
                let fs = &first[i * plane..(i + 1) * plane];
                // Outputs c' whose window contains ch: ch − after ≤ c' ≤ ch + before.
                let lo = ch.saturating_sub(after);
                let hi = ch.saturating_add(before).saturating_add(1).min(c);
                for (p, o) in op.iter_mut().enumerate() {
                    let cross: f64 = (lo..hi).map(|cc| ts[cc * plane + p]).sum();
                    let xc = xi[ch * plane + p] as f64;
                    *o = (fs[p] - 2.0 * a * beta * xc * cross) as f32;
                }
            });
        out
    }
}

impl Operator for Lrn {
    type Params = Lrn;
    const KIND: &'static str = "Lrn";
    const CATEGORY: Category = Category::Normalization;
    const ROUTES: &'static [Route] = &[Route::Pass, Route::LrnTaylor, Route::Gradient];

    single_input!(Lrn);

    fn route(p: &Lrn, route: Route, ctx: &RouteCtx<'_>, r: Vec<f32>) -> Vec<Vec<f32>> {
        match route {
            Route::LrnTaylor => vec![p.paper_relevance(ctx.inputs[0], &r, ctx.k)],
            Route::Gradient => vec![p.gradient(ctx.inputs[0], &r, ctx.k)],
            _ => pass_on(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::{assert_close, random};
    use ndarray::IxDyn;

    /// Direct loops with the window written as in the ONNX specification, in f64.
    fn naive(l: &Lrn, x: &Tensor) -> Tensor {
        let s = x.shape();
        let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
        let lo_off = (l.size as isize - 1) / 2; // floor((size-1)/2)
        let hi_off = (l.size as isize - 1 + 1) / 2; // ceil((size-1)/2)
        let mut y = Tensor::zeros(IxDyn(s));
        for b in 0..n {
            for ch in 0..c {
                for i in 0..h {
                    for j in 0..w {
                        let mut sq = 0f64;
                        for cc in (ch as isize - lo_off)..=(ch as isize + hi_off) {
                            if cc >= 0 && cc < c as isize {
                                let v = x[[b, cc as usize, i, j]] as f64;
                                sq += v * v;
                            }
                        }
                        let base = l.k as f64 + l.alpha as f64 / l.size as f64 * sq;
                        y[[b, ch, i, j]] =
                            (x[[b, ch, i, j]] as f64 / base.powf(l.beta as f64)) as f32;
                    }
                }
            }
        }
        y
    }

    #[test]
    fn matches_naive_on_random_shapes() {
        let mut rng = crate::zoo::rng::Rng::new(21);
        for t in 0..40 {
            // Sizes include even ones and ones larger than C.
            let size = 1 + rng.below(8);
            let lrn = Lrn::new(
                size,
                0.1 + rng.uniform() * 3.0,
                0.5 + rng.uniform(),
                0.5 + rng.uniform() * 2.0,
            );
            let c = 1 + rng.below(9);
            let shape = [1 + rng.below(3), c, 1 + rng.below(6), 1 + rng.below(6)];
            let node = NodeRef::new("norm", "Lrn");
            assert_eq!(
                lrn.output_shape(&node, &shape[1..]).unwrap(),
                shape[1..].to_vec()
            );
            let x = random(&shape, t).mapv(|v| v * 3.0);
            assert_close(&lrn.forward(&x), &naive(&lrn, &x), 1e-5);
        }
    }

    #[test]
    fn even_size_and_size_above_channels() {
        let x = random(&[2, 4, 3, 5], 7);
        for size in [2, 4, 6, 9] {
            let lrn = Lrn::new(size, 2.0, 0.75, 1.0);
            assert_close(&lrn.forward(&x), &naive(&lrn, &x), 1e-5);
        }
        // size 4: one channel before, two after.
        assert_eq!(Lrn::new(4, 1.0, 1.0, 1.0).window(2, 8), 1..5);
        assert_eq!(Lrn::new(4, 1.0, 1.0, 1.0).window(0, 8), 0..3);
        assert_eq!(Lrn::new(5, 1.0, 1.0, 1.0).window(7, 8), 5..8);
    }

    #[test]
    fn caffe_defaults() {
        let l = Lrn::default();
        assert_eq!((l.size, l.alpha, l.beta, l.k), (5, 1e-4, 0.75, 1.0));
        let l = Lrn::with_size(3);
        assert_eq!((l.size, l.alpha, l.beta, l.k), (3, 1e-4, 0.75, 1.0));
    }

    #[test]
    fn invalid_parameters_name_the_node() {
        let node = NodeRef::new("norm1", "Lrn");
        for (l, what) in [
            (Lrn::new(0, 1e-4, 0.75, 1.0), "size"),
            (Lrn::new(5, -1.0, 0.75, 1.0), "alpha"),
            (Lrn::new(5, 1e-4, f32::NAN, 1.0), "beta"),
            (Lrn::new(5, 1e-4, 0.75, 0.0), "k (bias)"),
            (Lrn::new(5, 1e-4, 0.75, f32::INFINITY), "k (bias)"),
        ] {
            let msg = l.output_shape(&node, &[3, 4, 4]).unwrap_err().to_string();
            assert!(msg.contains("norm1") && msg.contains(what), "{msg}");
        }
        let msg = Lrn::default()
            .output_shape(&node, &[])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("norm1"), "{msg}");
    }

    #[test]
    fn paper_rule_hand_computed() {
        // Two channels at one position, size 3 (both channels in each window), α = 0.3
        // (α/n = 0.1), β = 0.5, k = 1, x = [1, 2], R_out = [1, 1]: s_0 = s_1 = 1.5 and
        // R_0 = 1·(1.1)^−½ − 2·0.1·0.5·1²·(2·1·1.5^−1.5) = 0.8445963
        // R_1 = 2·(1.4)^−½ − 2·0.1·0.5·2²·(1·1·1.5^−1.5) = 1.4725761
        let l = Lrn::new(3, 0.3, 0.5, 1.0);
        let x = Tensor::from_shape_vec(IxDyn(&[1, 2, 1, 1]), vec![1.0, 2.0]).unwrap();
        let r = l.paper_relevance(&x, &[1.0, 1.0], 1);
        assert!((r[0] - 0.844_596_4).abs() < 1e-6, "{r:?}");
        assert!((r[1] - 1.472_576_1).abs() < 1e-6, "{r:?}");
        // Two maps per image (k = 2) give the same per map.
        let r2 = l.paper_relevance(&x, &[1.0, 1.0, 2.0, 2.0], 2);
        assert!((r2[2] - 2.0 * r[0]).abs() < 1e-6 && (r2[3] - 2.0 * r[1]).abs() < 1e-6);
    }

    #[test]
    fn paper_rule_matches_the_formula_for_odd_and_even_windows() {
        // Brute force over the spec's formula: the cross term sums over every output c' ≠ c
        // whose window contains c.
        for (size, seed) in [(5usize, 1u64), (4, 2), (1, 3), (7, 4)] {
            let l = Lrn::new(size, 0.5, 0.75, 2.0);
            let (n, c, h, w, k) = (2, 6, 3, 2, 2);
            let x = random(&[n, c, h, w], seed);
            let r = random(&[n * k, c, h, w], seed + 10);
            let rs = r.as_slice().unwrap();
            let got = l.paper_relevance(&x, rs, k);
            let plane = h * w;
            let a = (l.alpha / size as f32) as f64;
            let (kk, beta) = (l.k as f64, l.beta as f64);
            for smp in 0..n * k {
                let img = smp / k;
                let xv =
                    |ch: usize, p: usize| x.as_slice().unwrap()[(img * c + ch) * plane + p] as f64;
                let rv = |ch: usize, p: usize| rs[(smp * c + ch) * plane + p] as f64;
                for ch in 0..c {
                    for p in 0..plane {
                        let s_of = |cc: usize| {
                            kk + a * l.window(cc, c).map(|q| xv(q, p) * xv(q, p)).sum::<f64>()
                        };
                        let mut cross = 0.0;
                        for cc in 0..c {
                            if cc != ch && l.window(cc, c).contains(&ch) {
                                cross += xv(cc, p) * rv(cc, p) * s_of(cc).powf(-beta - 1.0);
                            }
                        }
                        let xc = xv(ch, p);
                        let want = rv(ch, p) * xc * (kk + a * xc * xc).powf(-beta)
                            - 2.0 * a * beta * xc * xc * cross;
                        let g = got[(smp * c + ch) * plane + p] as f64;
                        assert!((g - want).abs() < 1e-5, "size {size}: {g} vs {want}");
                    }
                }
            }
        }
    }
}
