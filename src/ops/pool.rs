//! Pooling windows: the geometry shared by max pooling ([`max_pool`](super::max_pool)) and
//! average pooling ([`avg_pool`](super::avg_pool)), and global average pooling.
//!
//! For output position `(oy, ox)` the window covers input rows `oy·sh − pt .. oy·sh − pt + kh`
//! and columns `ox·sw − pl .. ox·sw − pl + kw`. Only the part of the window inside the input
//! (the *valid* elements `V(oy, ox)`) is read; padding and ceil-mode overhang read nothing:
//!
//! * max: `y[n, c, oy, ox] = max_{(i, j) ∈ V} x[n, c, i, j]` (0 if `V` is empty, which only
//!   [`PoolRounding::Ceil`] can produce);
//! * average: `y[n, c, oy, ox] = Σ_{(i, j) ∈ V} x[n, c, i, j] / d`, where `d = |V|` without
//!   `count_include_pad`, and with it the number of window elements inside the padded extent
//!   `[−pt, H + pb) × [−pl, W + pr)` (Caffe's `AVE` and PyTorch's `count_include_pad`: the
//!   ceil-mode overhang beyond the padding is never counted).
//! * global average: `y[n, c, 0, 0] = Σ_{i, j} x[n, c, i, j] / (H·W)`.
//!
//! Shapes: input `[N, C, H, W]`, output `[N, C, OH, OW]`. With `q = H + pt + pb − kh`:
//! [`PoolRounding::Floor`] (ONNX default) gives `OH = ⌊q / sh⌋ + 1`;
//! [`PoolRounding::Ceil`] (ONNX `ceil_mode`) gives `OH = ⌈q / sh⌉ + 1`;
//! [`PoolRounding::CeilClip`] (Caffe, PyTorch `ceil_mode`) takes the ceil and then drops the
//! last window if it would start in the bottom padding or beyond: `if (OH − 1)·sh ≥ H + pt
//! { OH −= 1 }`. Likewise `OW`. Padding must be smaller than the kernel on every side.
//!
//! ```
//! use lrp::ops::{Pool2d, PoolRounding};
//! use ndarray::{ArrayD, IxDyn};
//! let x = ArrayD::from_shape_vec(IxDyn(&[1, 1, 4, 4]), (1..=16).map(|v| v as f32).collect()).unwrap();
//! let p = Pool2d::new([2, 2], [2, 2]);
//! assert_eq!(p.forward_max(&x).as_slice().unwrap(), &[6.0, 8.0, 14.0, 16.0]);
//! assert_eq!(p.forward_avg(&x).as_slice().unwrap(), &[3.5, 5.5, 11.5, 13.5]);
//! // Flat index of each maximum in the 4×4 input plane.
//! assert_eq!(p.argmax(&x), vec![5, 7, 13, 15]);
//!
//! // Caffe-style 3×3 stride-2 pooling over a 4×4 input: ceil gives a 2×2 output whose
//! // last row and column overhang the input; the overhang is ignored.
//! let p = Pool2d::new([3, 3], [2, 2]).with_rounding(PoolRounding::CeilClip);
//! let y = p.forward_max(&x);
//! assert_eq!(y.shape(), &[1, 1, 2, 2]);
//! assert_eq!(y.as_slice().unwrap(), &[11.0, 12.0, 15.0, 16.0]);
//! // The bottom-right window holds x[2..4, 2..4] only: (11 + 12 + 15 + 16) / 4.
//! assert_eq!(p.forward_avg(&x).as_slice().unwrap(), &[6.0, 7.5, 12.0, 13.5]);
//! ```

use super::Tensor;
use crate::error::{Error, NodeRef, Result};
use ndarray::IxDyn;
use rayon::prelude::*;

/// How the output size of a pooling layer is rounded (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolRounding {
    /// `⌊(H + pt + pb − k) / s⌋ + 1`: every window starts inside the padded input and fits
    /// into it (ONNX default, PyTorch default).
    Floor,
    /// `⌈(H + pt + pb − k) / s⌉ + 1`, the plain ceil formula of ONNX `ceil_mode = 1`; the
    /// last window may overhang the padded input and may even contain no input element.
    Ceil,
    /// Ceil, then drop the last window if it would start in the bottom/right padding or
    /// beyond: `if (out − 1)·s ≥ H + pt { out −= 1 }`. Caffe's pooling (always) and PyTorch's
    /// `ceil_mode = True`.
    CeilClip,
}

/// Pooling window parameters, shared by max and average pooling.
#[derive(Debug, Clone)]
pub struct Pool2d {
    /// Window size `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Stride `[vertical, horizontal]`.
    pub stride: [usize; 2],
    /// Padding `[top, left, bottom, right]`; each must be smaller than the kernel.
    pub pads: [usize; 4],
    /// Output size rounding.
    pub rounding: PoolRounding,
    /// Average pooling only: whether padding elements count in the divisor.
    pub count_include_pad: bool,
}

/// Per-axis window table: for each output position, the valid input range `lo..hi` and the
/// number of window elements inside the padded extent.
pub(super) struct AxisWindows {
    pub(super) ranges: Vec<(usize, usize)>,
    pub(super) padded_count: Vec<usize>,
}

impl AxisWindows {
    pub(super) fn new(
        n_in: usize,
        pad_begin: usize,
        pad_end: usize,
        k: usize,
        s: usize,
        out: usize,
    ) -> Self {
        let mut ranges = Vec::with_capacity(out);
        let mut padded_count = Vec::with_capacity(out);
        for p in 0..out {
            // Window covers padded coordinates start..start + k, i.e. input coordinates
            // start − pad_begin .. start − pad_begin + k.
            let start = p * s;
            let end = start + k;
            let lo = start.saturating_sub(pad_begin).min(n_in);
            let hi = end.saturating_sub(pad_begin).min(n_in).max(lo);
            ranges.push((lo, hi));
            padded_count.push(end.min(n_in + pad_begin + pad_end).saturating_sub(start));
        }
        AxisWindows {
            ranges,
            padded_count,
        }
    }
}

impl Pool2d {
    /// A `kernel` window moved by `stride`, no padding, [`PoolRounding::Floor`], padding not
    /// counted in averages.
    pub fn new(kernel: [usize; 2], stride: [usize; 2]) -> Self {
        Pool2d {
            kernel,
            stride,
            pads: [0; 4],
            rounding: PoolRounding::Floor,
            count_include_pad: false,
        }
    }

    /// Same padding on all four sides.
    pub fn with_pad(mut self, p: usize) -> Self {
        self.pads = [p; 4];
        self
    }

    /// Padding `[top, left, bottom, right]`.
    pub fn with_pads(mut self, pads: [usize; 4]) -> Self {
        self.pads = pads;
        self
    }

    /// Output size rounding.
    pub fn with_rounding(mut self, rounding: PoolRounding) -> Self {
        self.rounding = rounding;
        self
    }

    /// Whether average pooling divides by the window size including padding.
    pub fn with_count_include_pad(mut self, include: bool) -> Self {
        self.count_include_pad = include;
        self
    }

    /// Output length along one axis, or `None` if the kernel exceeds the padded input.
    fn out_len(
        &self,
        n_in: usize,
        pad_begin: usize,
        pad_end: usize,
        k: usize,
        s: usize,
    ) -> Option<usize> {
        // Kernel and pads come from a file: checked, `None` (an error naming the node)
        // rather than wrapping.
        let padded = n_in.checked_add(pad_begin)?.checked_add(pad_end)?;
        if k > padded || s == 0 {
            return None;
        }
        let q = padded - k;
        Some(match self.rounding {
            PoolRounding::Floor => q / s + 1,
            PoolRounding::Ceil => q.div_ceil(s) + 1,
            PoolRounding::CeilClip => {
                let out = q.div_ceil(s) + 1;
                // (out − 1)·s ≤ q + s − 1 < padded + s: no overflow for s < 2⁶³.
                if out > 1 && (out - 1).saturating_mul(s) >= n_in + pad_begin {
                    out - 1
                } else {
                    out
                }
            }
        })
    }

    /// Output spatial size `[OH, OW]` for an `h×w` input (0 if invalid; validated inputs only).
    pub(super) fn out_hw(&self, h: usize, w: usize) -> [usize; 2] {
        let [pt, pl, pb, pr] = self.pads;
        [
            self.out_len(h, pt, pb, self.kernel[0], self.stride[0])
                .unwrap_or(0),
            self.out_len(w, pl, pr, self.kernel[1], self.stride[1])
                .unwrap_or(0),
        ]
    }

    /// Validate parameters against a per-sample input `[C, H, W]` and return `[C, OH, OW]`.
    pub fn output_shape(&self, node: &NodeRef, input: &[usize]) -> Result<Vec<usize>> {
        let &[c, h, w] = input else {
            return Err(Error::shape(
                node,
                format!("expects a [C, H, W] input, got {input:?}"),
            ));
        };
        let [kh, kw] = self.kernel;
        if kh == 0 || kw == 0 || self.stride.contains(&0) {
            return Err(Error::param(
                node,
                format!(
                    "kernel {:?} and stride {:?} must be positive",
                    self.kernel, self.stride
                ),
            ));
        }
        let [pt, pl, pb, pr] = self.pads;
        if pt >= kh || pb >= kh || pl >= kw || pr >= kw {
            return Err(Error::param(
                node,
                format!(
                    "padding {:?} (top, left, bottom, right) must be smaller than the kernel {kh}×{kw}",
                    self.pads
                ),
            ));
        }
        if h == 0 || w == 0 {
            return Err(Error::shape(
                node,
                format!("input {input:?} has an empty spatial extent"),
            ));
        }
        let oh = self.out_len(h, pt, pb, kh, self.stride[0]);
        let ow = self.out_len(w, pl, pr, kw, self.stride[1]);
        match (oh, ow) {
            (Some(oh), Some(ow)) => Ok(vec![c, oh, ow]),
            _ => Err(Error::shape(
                node,
                format!(
                    "kernel {kh}×{kw} exceeds the padded input {}×{} (input {h}×{w}, pads {:?})",
                    h.saturating_add(pt).saturating_add(pb),
                    w.saturating_add(pl).saturating_add(pr),
                    self.pads
                ),
            )),
        }
    }

    /// Window tables for both axes of an `h×w` input.
    pub(super) fn windows(&self, h: usize, w: usize) -> (AxisWindows, AxisWindows) {
        let [pt, pl, pb, pr] = self.pads;
        let [oh, ow] = self.out_hw(h, w);
        (
            AxisWindows::new(h, pt, pb, self.kernel[0], self.stride[0], oh),
            AxisWindows::new(w, pl, pr, self.kernel[1], self.stride[1], ow),
        )
    }

    /// Run `f(x_plane, y_plane)` over all `(image, channel)` planes in parallel, on a fresh
    /// `[N, C, OH, OW]` output.
    pub(super) fn per_plane(&self, x: &Tensor, f: impl Fn(&[f32], &mut [f32]) + Sync) -> Tensor {
        let s = x.shape();
        let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
        let [oh, ow] = self.out_hw(h, w);
        let mut y = Tensor::zeros(IxDyn(&[n, c, oh, ow]));
        if y.is_empty() {
            return y;
        }
        let xs = x.as_slice().expect("standard layout input");
        let ys = y.as_slice_mut().expect("fresh tensor");
        ys.par_chunks_mut(oh * ow)
            .zip(xs.par_chunks(h * w))
            .for_each(|(yp, xp)| f(xp, yp));
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::avg_pool::{global_avg, global_output_shape};
    use crate::ops::testutil::{assert_close, random};

    /// Direct loops over every window position, reading only in-bounds elements, in f64.
    /// Returns (max, avg, argmax).
    fn naive(p: &Pool2d, x: &Tensor) -> (Tensor, Tensor, Vec<u32>) {
        let s = x.shape();
        let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
        let out = p
            .output_shape(&NodeRef::new("p", "MaxPool"), &[c, h, w])
            .unwrap();
        let (oh, ow) = (out[1], out[2]);
        let [pt, pl, pb, pr] = p.pads.map(|v| v as isize);
        let (hi, wi) = (h as isize, w as isize);
        let mut ymax = Tensor::zeros(IxDyn(&[n, c, oh, ow]));
        let mut yavg = ymax.clone();
        let mut arg = Vec::new();
        for b in 0..n {
            for ch in 0..c {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut best: Option<(f32, u32)> = None;
                        let mut sum = 0f64;
                        let mut valid = 0usize;
                        let mut in_pad = 0usize;
                        for i in 0..p.kernel[0] as isize {
                            for j in 0..p.kernel[1] as isize {
                                let iy = (oy * p.stride[0]) as isize - pt + i;
                                let ix = (ox * p.stride[1]) as isize - pl + j;
                                if iy >= -pt && iy < hi + pb && ix >= -pl && ix < wi + pr {
                                    in_pad += 1;
                                }
                                if iy < 0 || ix < 0 || iy >= hi || ix >= wi {
                                    continue;
                                }
                                let v = x[[b, ch, iy as usize, ix as usize]];
                                valid += 1;
                                sum += v as f64;
                                let flat = (iy * wi + ix) as u32;
                                match best {
                                    Some((bv, _)) if v <= bv => {}
                                    _ => best = Some((v, flat)),
                                }
                            }
                        }
                        ymax[[b, ch, oy, ox]] = best.map_or(0.0, |(v, _)| v);
                        arg.push(best.map_or(u32::MAX, |(_, i)| i));
                        let d = if p.count_include_pad { in_pad } else { valid };
                        yavg[[b, ch, oy, ox]] = if d == 0 { 0.0 } else { (sum / d as f64) as f32 };
                    }
                }
            }
        }
        (ymax, yavg, arg)
    }

    fn check(p: &Pool2d, x: &Tensor) {
        let (m, a, i) = naive(p, x);
        assert_close(&p.forward_max(x), &m, 1e-5);
        assert_close(&p.forward_avg(x), &a, 1e-5);
        assert_eq!(p.argmax(x), i, "{p:?}");
    }

    fn shape_of(p: &Pool2d, input: &[usize]) -> Vec<usize> {
        p.output_shape(&NodeRef::new("p", "MaxPool"), input)
            .unwrap()
    }

    /// A pooling of random kernel (up to 4), stride (up to 3) and padding, rounded by the
    /// `t`-th of the three roundings.
    fn random_pool(rng: &mut crate::zoo::rng::Rng, t: usize) -> Pool2d {
        let roundings = [
            PoolRounding::Floor,
            PoolRounding::Ceil,
            PoolRounding::CeilClip,
        ];
        let kernel = [1 + rng.below(4), 1 + rng.below(4)];
        let stride = [1 + rng.below(3), 1 + rng.below(3)];
        let pads = [
            rng.below(kernel[0]),
            rng.below(kernel[1]),
            rng.below(kernel[0]),
            rng.below(kernel[1]),
        ];
        Pool2d::new(kernel, stride)
            .with_pads(pads)
            .with_rounding(roundings[t % 3])
    }

    #[test]
    fn matches_naive_on_random_shapes() {
        let mut rng = crate::zoo::rng::Rng::new(11);
        let mut tested = 0;
        for t in 0..300 {
            let p = random_pool(&mut rng, t).with_count_include_pad(rng.below(2) == 0);
            let (c, h, w) = (1 + rng.below(3), 1 + rng.below(9), 1 + rng.below(9));
            if p.output_shape(&NodeRef::new("p", "MaxPool"), &[c, h, w])
                .is_err()
            {
                continue;
            }
            let x = random(&[1 + rng.below(3), c, h, w], t as u64);
            check(&p, &x);
            tested += 1;
        }
        assert!(tested > 200, "only {tested} valid cases");
    }

    /// Planes wide enough for the branch-free row sweep of max pooling (the random shapes
    /// above are mostly border windows), with values drawn from four levels so that ties
    /// are frequent and the first-maximum rule is exercised.
    #[test]
    fn wide_planes_with_ties_match_naive() {
        let mut rng = crate::zoo::rng::Rng::new(23);
        let mut tested = 0;
        for t in 0..120 {
            let p = random_pool(&mut rng, t);
            let (c, h, w) = (1 + rng.below(3), 4 + rng.below(30), 8 + rng.below(40));
            if p.output_shape(&NodeRef::new("p", "MaxPool"), &[c, h, w])
                .is_err()
            {
                continue;
            }
            let x = random(&[1 + rng.below(2), c, h, w], 100 + t as u64)
                .mapv(|v| (v * 2.0).round() - if t % 2 == 0 { 0.0 } else { 9.0 });
            check(&p, &x);
            tested += 1;
        }
        assert!(tested > 100, "only {tested} valid cases");
    }

    #[test]
    fn caffe_and_googlenet_shapes() {
        let p = Pool2d::new([3, 3], [2, 2]).with_rounding(PoolRounding::CeilClip);
        // CaffeNet pool1: 55 -> 27; GoogLeNet pool1/3x3_s2: 112 -> 56; pool5 of 13 -> 6.
        assert_eq!(shape_of(&p, &[96, 55, 55]), vec![96, 27, 27]);
        assert_eq!(shape_of(&p, &[64, 112, 112]), vec![64, 56, 56]);
        assert_eq!(shape_of(&p, &[256, 13, 13]), vec![256, 6, 6]);
        // Floor would give 55 for 112.
        let f = Pool2d::new([3, 3], [2, 2]);
        assert_eq!(shape_of(&f, &[1, 112, 112]), vec![1, 55, 55]);
    }

    #[test]
    fn ceil_versus_ceil_clip() {
        // H = 4, k = 3, s = 2, pads 2: q = 5, ceil -> 4 windows starting at input rows
        // -2, 0, 2, 4. The last starts at row 4 = H, in the bottom padding: clipped by CeilClip,
        // kept (and empty) by Ceil.
        let base = Pool2d::new([3, 3], [2, 2]).with_pad(2);
        assert_eq!(shape_of(&base, &[1, 4, 4]), vec![1, 3, 3]);
        let ceil = base.clone().with_rounding(PoolRounding::Ceil);
        assert_eq!(shape_of(&ceil, &[1, 4, 4]), vec![1, 4, 4]);
        let clip = base.clone().with_rounding(PoolRounding::CeilClip);
        assert_eq!(shape_of(&clip, &[1, 4, 4]), vec![1, 3, 3]);
        // The Ceil-only window is empty: max and avg read 0, argmax is u32::MAX.
        let x = random(&[1, 1, 4, 4], 3).mapv(|v| v + 5.0);
        let y = ceil.forward_max(&x);
        assert_eq!(y[[0, 0, 3, 3]], 0.0);
        assert_eq!(ceil.argmax(&x)[15], u32::MAX);
        check(&ceil, &x);
        check(&clip, &x);
    }

    #[test]
    fn count_include_pad_excludes_ceil_overhang() {
        // 1×5 row, kernel 1×3, stride 2, right pad 1, ceil: windows at columns 0, 2, 4.
        // Padded extent is [0, 6): the last window [4, 7) counts 2 elements (x[4] and the
        // pad), not 3.
        let x =
            Tensor::from_shape_vec(IxDyn(&[1, 1, 1, 5]), vec![1.0, 2.0, 3.0, 3.0, 6.0]).unwrap();
        let p = Pool2d::new([1, 3], [1, 2])
            .with_pads([0, 0, 0, 1])
            .with_rounding(PoolRounding::CeilClip)
            .with_count_include_pad(true);
        assert_eq!(p.forward_avg(&x).as_slice().unwrap(), &[2.0, 4.0, 3.0]);
        let p = p.with_count_include_pad(false);
        assert_eq!(p.forward_avg(&x).as_slice().unwrap(), &[2.0, 4.0, 6.0]);
    }

    #[test]
    fn argmax_takes_first_maximum_on_ties() {
        let x = Tensor::from_elem(IxDyn(&[1, 1, 4, 4]), 1.0);
        let p = Pool2d::new([2, 2], [2, 2]);
        assert_eq!(p.argmax(&x), vec![0, 2, 8, 10]);
        // With padding the first valid element wins, never a padding position.
        let p = Pool2d::new([3, 3], [2, 2]).with_pad(1);
        assert_eq!(p.argmax(&x), vec![0, 1, 4, 5]);
        // Negative inputs with padding: padding is not a zero.
        let x = Tensor::from_elem(IxDyn(&[1, 1, 2, 2]), -3.0);
        assert_eq!(p.forward_max(&x).as_slice().unwrap(), &[-3.0]);
    }

    #[test]
    fn global_average_matches_naive() {
        let x = random(&[3, 5, 7, 6], 9);
        let node = NodeRef::new("gap", "GlobalAvgPool");
        assert_eq!(
            global_output_shape(&node, &[5, 7, 6]).unwrap(),
            vec![5, 1, 1]
        );
        let mut expect = Tensor::zeros(IxDyn(&[3, 5, 1, 1]));
        for b in 0..3 {
            for c in 0..5 {
                let mut s = 0f64;
                for i in 0..7 {
                    for j in 0..6 {
                        s += x[[b, c, i, j]] as f64;
                    }
                }
                expect[[b, c, 0, 0]] = (s / 42.0) as f32;
            }
        }
        assert_close(&global_avg(&x), &expect, 1e-5);
    }

    fn err(p: &Pool2d, input: &[usize]) -> String {
        p.output_shape(&NodeRef::new("pool9", "MaxPool"), input)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn errors_name_the_node() {
        let p = Pool2d::new([3, 3], [2, 2]);
        let msg = err(&p, &[3, 8]);
        assert!(msg.contains("pool9") && msg.contains("[C, H, W]"), "{msg}");
        let msg = err(&p, &[3, 2, 8]);
        assert!(msg.contains("pool9") && msg.contains("exceeds"), "{msg}");
        let msg = err(&Pool2d::new([3, 3], [0, 2]), &[3, 8, 8]);
        assert!(msg.contains("pool9") && msg.contains("positive"), "{msg}");
        let msg = err(&Pool2d::new([0, 3], [1, 1]), &[3, 8, 8]);
        assert!(msg.contains("pool9") && msg.contains("positive"), "{msg}");
        let msg = err(&p.clone().with_pads([0, 0, 3, 0]), &[3, 8, 8]);
        assert!(
            msg.contains("pool9") && msg.contains("smaller than the kernel"),
            "{msg}"
        );
        let msg = err(&p, &[3, 0, 8]);
        assert!(msg.contains("pool9") && msg.contains("empty"), "{msg}");
        let msg = global_output_shape(&NodeRef::new("gap1", "GlobalAvgPool"), &[4])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("gap1"), "{msg}");
    }
}
