//! 2-D convolution (cross-correlation, as in Caffe, ONNX and PyTorch).
//!
//! `y[n, m, oy, ox] = b[m] + Σ_{c ∈ group(m)} Σ_{i,j} w[m, c, i, j] · x[n, c, oy·sh − pt + i·dh, ox·sw − pl + j·dw]`
//!
//! Shapes: input `[N, C, H, W]`, weight `[M, C/groups, kh, kw]`, optional bias `[M]`, output
//! `[N, M, OH, OW]` with `OH = (H + pt + pb − dh·(kh − 1) − 1) / sh + 1` (floor), likewise `OW`.
//! Positions that fall on padding read zero.
//!
//! Computed as im2col + GEMM per group, split across rayon tasks by (image, block of output
//! positions), so a single image uses every core too.
//!
//! ```
//! use lrp::ops::Conv2d;
//! use ndarray::{Array1, Array4, ArrayD, IxDyn};
//! // A 2×2 box filter with bias 1 over a 1×1×3×3 input.
//! let conv = Conv2d::new(Array4::ones((1, 1, 2, 2)), Some(Array1::from(vec![1.0])));
//! let x = ArrayD::from_shape_vec(IxDyn(&[1, 1, 3, 3]), (1..=9).map(|v| v as f32).collect()).unwrap();
//! let y = conv.forward(&x);
//! assert_eq!(y.shape(), &[1, 1, 2, 2]);
//! assert_eq!(y.as_slice().unwrap(), &[13.0, 17.0, 25.0, 29.0]);
//! ```

use super::{window_out, Tensor};
use crate::error::{Error, NodeRef, Result};
use crate::kernels::{self, im2col::Geometry, MatRef, SyncPtr};
use ndarray::{Array1, Array4, IxDyn};
use rayon::prelude::*;

/// Parameters of a 2-D convolution.
#[derive(Debug, Clone)]
pub struct Conv2d {
    pub(crate) weight: Array4<f32>,
    pub(crate) bias: Option<Array1<f32>>,
    /// Stride `[vertical, horizontal]`.
    pub stride: [usize; 2],
    /// Dilation `[vertical, horizontal]`.
    pub dilation: [usize; 2],
    /// Zero padding `[top, left, bottom, right]`.
    pub pads: [usize; 4],
    /// Number of groups; input and output channels are split into this many blocks.
    pub groups: usize,
}

impl Conv2d {
    /// A convolution with weight `[M, C/groups, kh, kw]` and optional bias `[M]`; stride 1,
    /// no padding, no dilation, one group.
    pub fn new(weight: Array4<f32>, bias: Option<Array1<f32>>) -> Self {
        Conv2d {
            weight: super::standard(weight),
            bias: bias.map(super::standard),
            stride: [1, 1],
            dilation: [1, 1],
            pads: [0; 4],
            groups: 1,
        }
    }

    /// Same stride along both axes.
    pub fn with_stride(mut self, s: usize) -> Self {
        self.stride = [s, s];
        self
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

    /// Same dilation along both axes.
    pub fn with_dilation(mut self, d: usize) -> Self {
        self.dilation = [d, d];
        self
    }

    /// Number of groups.
    pub fn with_groups(mut self, g: usize) -> Self {
        self.groups = g;
        self
    }

    /// The weight, `[M, C/groups, kh, kw]`.
    pub fn weight(&self) -> &Array4<f32> {
        &self.weight
    }

    /// The bias, `[M]`, if any.
    pub fn bias(&self) -> Option<&Array1<f32>> {
        self.bias.as_ref()
    }

    /// Replace the weight and bias (same shapes as before or an error naming `node`).
    pub fn set_params(
        &mut self,
        node: &NodeRef,
        weight: Array4<f32>,
        bias: Option<Array1<f32>>,
    ) -> Result<()> {
        if weight.shape() != self.weight.shape() {
            return Err(Error::param(
                node,
                format!(
                    "new weight shape {:?} differs from {:?}",
                    weight.shape(),
                    self.weight.shape()
                ),
            ));
        }
        if let Some(b) = &bias {
            if b.len() != self.out_channels() {
                return Err(Error::param(
                    node,
                    format!(
                        "bias has {} values for {} outputs",
                        b.len(),
                        self.out_channels()
                    ),
                ));
            }
        }
        self.weight = super::standard(weight);
        self.bias = bias.map(super::standard);
        Ok(())
    }

    pub(crate) fn weight_slice(&self) -> &[f32] {
        self.weight
            .as_slice()
            .expect("conv weight is kept in standard layout")
    }

    /// Replace weight and bias with arrays of the same shapes (rewriting passes).
    pub(crate) fn replace_params(&mut self, weight: Array4<f32>, bias: Option<Array1<f32>>) {
        debug_assert_eq!(weight.shape(), self.weight.shape());
        self.weight = super::standard(weight);
        self.bias = bias.map(super::standard);
    }

    /// Output channels `M`.
    pub fn out_channels(&self) -> usize {
        self.weight.shape()[0]
    }

    /// Kernel size `[kh, kw]`.
    pub fn kernel(&self) -> [usize; 2] {
        [self.weight.shape()[2], self.weight.shape()[3]]
    }

    /// Validate parameters against a per-sample input `[C, H, W]` and return `[M, OH, OW]`.
    pub fn output_shape(&self, node: &NodeRef, input: &[usize]) -> Result<Vec<usize>> {
        let &[c, h, w] = input else {
            return Err(Error::shape(
                node,
                format!("expects a [C, H, W] input, got {input:?}"),
            ));
        };
        let [m, cg, kh, kw] = [
            self.weight.shape()[0],
            self.weight.shape()[1],
            self.weight.shape()[2],
            self.weight.shape()[3],
        ];
        let g = self.groups;
        if g == 0 || m == 0 || cg == 0 || kh == 0 || kw == 0 {
            return Err(Error::param(
                node,
                format!("empty weight {:?} or zero groups", self.weight.shape()),
            ));
        }
        if self.stride.contains(&0) || self.dilation.contains(&0) {
            return Err(Error::param(
                node,
                format!(
                    "stride {:?} and dilation {:?} must be positive",
                    self.stride, self.dilation
                ),
            ));
        }
        if m % g != 0 {
            return Err(Error::param(
                node,
                format!("{m} output channels are not divisible by {g} groups"),
            ));
        }
        if c != cg * g {
            return Err(Error::shape(
                node,
                format!(
                    "input has {c} channels but the weight {:?} with {g} group(s) expects {}",
                    self.weight.shape(),
                    cg * g
                ),
            ));
        }
        if let Some(b) = &self.bias {
            if b.len() != m {
                return Err(Error::param(
                    node,
                    format!("bias has {} values for {m} output channels", b.len()),
                ));
            }
        }
        let [pt, pl, pb, pr] = self.pads;
        let oh = window_out(h, pt, pb, kh, self.stride[0], self.dilation[0]);
        let ow = window_out(w, pl, pr, kw, self.stride[1], self.dilation[1]);
        match (oh, ow) {
            (Some(oh), Some(ow)) => Ok(vec![m, oh, ow]),
            _ => Err(Error::shape(
                node,
                format!(
                    "kernel {kh}×{kw} (dilation {:?}) exceeds the padded input {}×{} (input {h}×{w}, pads {:?})",
                    self.dilation,
                    h + pt + pb,
                    w + pl + pr,
                    self.pads
                ),
            )),
        }
    }

    /// Sliding-window geometry of one group for an input of spatial size `h×w`.
    pub(crate) fn geometry(&self, c: usize, h: usize, w: usize) -> Geometry {
        let [kh, kw] = self.kernel();
        let [pt, pl, pb, pr] = self.pads;
        let oh = window_out(h, pt, pb, kh, self.stride[0], self.dilation[0]).unwrap_or(0);
        let ow = window_out(w, pl, pr, kw, self.stride[1], self.dilation[1]).unwrap_or(0);
        Geometry {
            channels: c / self.groups,
            h,
            w,
            kh,
            kw,
            sh: self.stride[0],
            sw: self.stride[1],
            dh: self.dilation[0],
            dw: self.dilation[1],
            pt,
            pl,
            oh,
            ow,
        }
    }

    /// Forward pass on `[N, C, H, W]` (shape already validated by [`Conv2d::output_shape`]).
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let s = x.shape();
        let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
        let g = self.geometry(c, h, w);
        let m = self.out_channels();
        let mut y = Tensor::zeros(IxDyn(&[n, m, g.oh, g.ow]));
        let xs = x.as_slice().expect("standard layout input");
        let ys = y.as_slice_mut().expect("fresh tensor");
        conv_gemm(
            xs,
            n,
            c,
            &g,
            self.weight_slice(),
            m,
            self.groups,
            self.bias.as_ref().and_then(|b| b.as_slice()),
            ys,
        );
        y
    }
}

/// `y = conv(x, w) + b` for a batch, by im2col + GEMM, parallel over images and blocks of
/// output positions. `w` is `[m, c/groups, kh, kw]` row-major; `y` is `[n, m, oh, ow]`.
///
/// Also used by the relevance rules, which run the same convolution with modified weights.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_gemm(
    x: &[f32],
    n: usize,
    c: usize,
    g: &Geometry,
    w: &[f32],
    m: usize,
    groups: usize,
    bias: Option<&[f32]>,
    y: &mut [f32],
) {
    let positions = g.positions();
    let (mg, kg) = (m / groups, g.rows());
    let in_img = c * g.h * g.w;
    let out_img = m * positions;
    // Work units: (image, block of output positions, block of each group's output
    // channels). Position blocks keep every thread busy even at batch 1; 256 columns is
    // enough for the GEMM micro-kernels to run at full speed. Late layers have too few
    // positions for that, so their output channels are split as well.
    let tasks = kernels::tasks_for(n * m * kg * positions);
    let per_image = tasks.div_ceil(n);
    let blocks = kernels::split_range(positions, per_image, 256);
    let chans = kernels::split_range(mg, per_image.div_ceil(blocks.len()), 32);
    let units: Vec<(usize, usize, usize, usize, usize)> = (0..n)
        .flat_map(|img| {
            let chans = &chans;
            blocks
                .iter()
                .flat_map(move |&(p0, p1)| chans.iter().map(move |&(o0, o1)| (img, p0, p1, o0, o1)))
        })
        .collect();
    let yp = SyncPtr::new(y);
    units.par_iter().for_each(|&(img, p0, p1, o0, o1)| {
        // SAFETY: unit (img, p0..p1, o0..o1) writes only positions p0..p1 of channels
        // o0..o1 of every group of image `img`; units are disjoint, and `y` outlives the
        // parallel loop.
        let y = unsafe { yp.slice() };
        let yi = &mut y[img * out_img..(img + 1) * out_img];
        for grp in 0..groups {
            for ch in grp * mg + o0..grp * mg + o1 {
                let row = &mut yi[ch * positions + p0..ch * positions + p1];
                row.fill(bias.map_or(0.0, |b| b[ch]));
            }
        }
        let xi = &x[img * in_img..(img + 1) * in_img];
        let cols = p1 - p0;
        for grp in 0..groups {
            let xg = &xi[grp * g.channels * g.h * g.w..(grp + 1) * g.channels * g.h * g.w];
            let mo = o1 - o0;
            let wg = MatRef::row_major(&w[(grp * mg + o0) * kg..(grp * mg + o1) * kg], kg);
            let yg = &mut yi[(grp * mg + o0) * positions + p0..];
            if g.is_pointwise() {
                let b = MatRef {
                    data: &xg[p0..],
                    rs: positions,
                    cs: 1,
                };
                kernels::sgemm(mo, cols, kg, wg, b, yg, positions, true);
            } else {
                // Sub-blocks of positions whose unrolled columns (about 1 MB) stay in the
                // cache between im2col and the GEMM that reads them.
                let sb = ((1usize << 18) / kg.max(1)).max(128).min(cols);
                kernels::with_scratch(kg * sb, |col| {
                    let mut q0 = p0;
                    while q0 < p1 {
                        let q1 = (q0 + sb).min(p1);
                        let w = q1 - q0;
                        crate::kernels::im2col::im2col(xg, g, q0, q1, col);
                        kernels::sgemm(
                            mo,
                            w,
                            kg,
                            wg,
                            MatRef::row_major(&col[..kg * w], w),
                            &mut yg[q0 - p0..],
                            positions,
                            true,
                        );
                        q0 = q1;
                    }
                });
            }
        }
    });
}

/// The transpose of [`conv_gemm`] without bias: `x_grad = Wᵀ ⋆ s`, i.e. for every input
/// position the sum over the outputs that read it of `w · s`. `s` is `[n, m, oh, ow]`, `out`
/// is `[n, c, h, w]` and is overwritten. Padding positions are dropped.
///
/// Parallel over (image, group, block of input channels): each unit writes its own channels,
/// so the col2im scatter of different units never overlaps.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_transpose(
    s: &[f32],
    n: usize,
    c: usize,
    g: &Geometry,
    w: &[f32],
    m: usize,
    groups: usize,
    out: &mut [f32],
) {
    let tasks = kernels::tasks_for(n * m * g.rows() * g.positions());
    // Samples side by side in one GEMM pay off for small images; large ones go one at a time
    // through cache-sized position blocks below.
    let fits_two = 2 * g.positions() * (m / groups + g.rows()) <= 1 << 20;
    if n >= tasks && n > 1 && fits_two {
        return conv_transpose_batched(s, n, c, g, w, m, groups, out, tasks);
    }
    let positions = g.positions();
    let (mg, kg, cg) = (m / groups, g.rows(), g.channels);
    let khw = g.kh * g.kw;
    let plane = g.h * g.w;
    let (in_img, out_img) = (c * plane, m * positions);
    let per = tasks.div_ceil(n * groups);
    let blocks = kernels::split_range(cg, per, 4);
    let units: Vec<(usize, usize, usize, usize)> = (0..n)
        .flat_map(|img| {
            let blocks = &blocks;
            (0..groups).flat_map(move |grp| blocks.iter().map(move |&(c0, c1)| (img, grp, c0, c1)))
        })
        .collect();
    let op = SyncPtr::new(out);
    units.par_iter().for_each(|&(img, grp, c0, c1)| {
        // SAFETY: unit (img, grp, c0..c1) writes only input channels grp·cg + c0..c1 of image
        // img; units are disjoint and `out` outlives the loop.
        let out = unsafe { op.slice() };
        let ch0 = grp * cg + c0;
        let dst = &mut out[img * in_img + ch0 * plane..img * in_img + (grp * cg + c1) * plane];
        let wg = &w[grp * mg * kg..(grp + 1) * mg * kg];
        // Rows r0..r1 of Wᵀ (kg × mg): element (r, j) = wg[j·kg + r].
        let (r0, r1) = (c0 * khw, c1 * khw);
        let wt = MatRef {
            data: &wg[r0..],
            rs: 1,
            cs: kg,
        };
        let sg = MatRef::row_major(
            &s[img * out_img + grp * mg * positions..img * out_img + (grp + 1) * mg * positions],
            positions,
        );
        if g.is_pointwise() {
            kernels::sgemm(r1 - r0, positions, mg, wt, sg, dst, positions, false);
        } else {
            // Blocks of output positions whose unrolled columns stay in the cache (about
            // 1 MB) between the GEMM that writes them and the col2im that scatters them.
            let rows = r1 - r0;
            let pb = ((1usize << 18) / rows.max(1)).max(256).min(positions);
            dst.fill(0.0);
            let sub = Geometry {
                channels: c1 - c0,
                ..*g
            };
            kernels::with_scratch(rows * pb, |col| {
                let mut p0 = 0;
                while p0 < positions {
                    let p1 = (p0 + pb).min(positions);
                    let sb = MatRef {
                        data: &sg.data[p0..],
                        rs: positions,
                        cs: 1,
                    };
                    kernels::sgemm(rows, p1 - p0, mg, wt, sb, col, p1 - p0, false);
                    crate::kernels::im2col::col2im(col, &sub, p0, p1, dst);
                    p0 = p1;
                }
            });
        }
    });
}

/// [`conv_transpose`] for many samples: blocks of samples become the columns of one GEMM
/// per group (`Wᵀ · [S_1 … S_b]`), so that explaining `k` classes at once runs wide GEMMs
/// instead of `k` narrow ones. Parallel over sample blocks.
#[allow(clippy::too_many_arguments)]
fn conv_transpose_batched(
    s: &[f32],
    n: usize,
    c: usize,
    g: &Geometry,
    w: &[f32],
    m: usize,
    groups: usize,
    out: &mut [f32],
    tasks: usize,
) {
    let positions = g.positions();
    let (mg, kg, cg) = (m / groups, g.rows(), g.channels);
    let plane = g.h * g.w;
    let (in_img, out_img) = (c * plane, m * positions);
    // Samples per block: enough columns for an efficient GEMM, scratch of about 4 MB, and
    // at least two blocks per thread when there are samples enough.
    let cap = (1usize << 20) / (positions * (mg + kg)).max(1);
    let per = n.div_ceil(tasks).min(cap).max(1);
    let blocks: Vec<(usize, usize)> = (0..n.div_ceil(per))
        .map(|b| (b * per, ((b + 1) * per).min(n)))
        .collect();
    let op = SyncPtr::new(out);
    blocks.par_iter().for_each(|&(s0, s1)| {
        // SAFETY: block s0..s1 writes only samples s0..s1 of `out`; blocks are disjoint and
        // `out` outlives the loop.
        let out = unsafe { op.slice() };
        let bs = s1 - s0;
        let cols = bs * positions;
        kernels::with_scratch(mg * cols + kg * cols, |buf| {
            let (sb, col) = buf.split_at_mut(mg * cols);
            for grp in 0..groups {
                // Gather S of this group: [mg × (bs·P)], sample-major columns.
                for (i, smp) in (s0..s1).enumerate() {
                    let src = &s[smp * out_img + grp * mg * positions..];
                    for j in 0..mg {
                        sb[j * cols + i * positions..j * cols + (i + 1) * positions]
                            .copy_from_slice(&src[j * positions..(j + 1) * positions]);
                    }
                }
                let wt = MatRef {
                    data: &w[grp * mg * kg..(grp + 1) * mg * kg],
                    rs: 1,
                    cs: kg,
                };
                kernels::sgemm(
                    kg,
                    cols,
                    mg,
                    wt,
                    MatRef::row_major(sb, cols),
                    col,
                    cols,
                    false,
                );
                for (i, smp) in (s0..s1).enumerate() {
                    let dst = &mut out
                        [smp * in_img + grp * cg * plane..smp * in_img + (grp + 1) * cg * plane];
                    dst.fill(0.0);
                    crate::kernels::im2col::col2im_strided(
                        &col[i * positions..],
                        cols,
                        g,
                        0,
                        positions,
                        dst,
                    );
                }
            }
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::{assert_close, random};

    /// Direct seven-fold loop, written for clarity, in f64.
    fn naive(conv: &Conv2d, x: &Tensor) -> Tensor {
        let s = x.shape();
        let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
        let node = NodeRef::new("t", "Conv");
        let out = conv.output_shape(&node, &[c, h, w]).unwrap();
        let (m, oh, ow) = (out[0], out[1], out[2]);
        let [kh, kw] = conv.kernel();
        let cg = c / conv.groups;
        let mg = m / conv.groups;
        let mut y = Tensor::zeros(IxDyn(&[n, m, oh, ow]));
        for b in 0..n {
            for o in 0..m {
                let grp = o / mg;
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = conv.bias.as_ref().map_or(0.0, |bb| bb[o] as f64);
                        for ci in 0..cg {
                            for i in 0..kh {
                                for j in 0..kw {
                                    let iy = (oy * conv.stride[0] + i * conv.dilation[0]) as isize
                                        - conv.pads[0] as isize;
                                    let ix = (ox * conv.stride[1] + j * conv.dilation[1]) as isize
                                        - conv.pads[1] as isize;
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                        continue;
                                    }
                                    acc += conv.weight[[o, ci, i, j]] as f64
                                        * x[[b, grp * cg + ci, iy as usize, ix as usize]] as f64;
                                }
                            }
                        }
                        y[[b, o, oy, ox]] = acc as f32;
                    }
                }
            }
        }
        y
    }

    #[allow(clippy::type_complexity, clippy::too_many_arguments)]
    fn case(
        seed: u64,
        (n, c, h, w): (usize, usize, usize, usize),
        (m, kh, kw): (usize, usize, usize),
        stride: [usize; 2],
        dilation: [usize; 2],
        pads: [usize; 4],
        groups: usize,
        bias: bool,
    ) {
        let weight = random(&[m, c / groups, kh, kw], seed)
            .into_dimensionality()
            .unwrap();
        let b = bias.then(|| random(&[m], seed + 1).into_dimensionality().unwrap());
        let mut conv = Conv2d::new(weight, b).with_groups(groups);
        conv.stride = stride;
        conv.dilation = dilation;
        conv.pads = pads;
        let x = random(&[n, c, h, w], seed + 2);
        assert_close(&conv.forward(&x), &naive(&conv, &x), 1e-5);
    }

    #[test]
    fn plain() {
        case(1, (2, 3, 9, 11), (4, 3, 3), [1, 1], [1, 1], [0; 4], 1, true);
    }

    #[test]
    fn padded_strided() {
        case(
            2,
            (1, 3, 23, 23),
            (8, 5, 5),
            [2, 2],
            [1, 1],
            [2; 4],
            1,
            true,
        );
        case(
            3,
            (3, 2, 15, 12),
            (5, 7, 3),
            [4, 3],
            [1, 1],
            [3, 1, 3, 1],
            1,
            false,
        );
    }

    #[test]
    fn asymmetric_padding() {
        case(
            4,
            (2, 4, 10, 9),
            (6, 3, 3),
            [2, 2],
            [1, 1],
            [0, 1, 1, 0],
            1,
            true,
        );
        case(
            5,
            (1, 1, 8, 8),
            (2, 4, 2),
            [1, 2],
            [1, 1],
            [3, 0, 1, 2],
            1,
            true,
        );
    }

    #[test]
    fn dilated() {
        case(
            6,
            (2, 3, 17, 13),
            (4, 3, 3),
            [1, 1],
            [2, 3],
            [2, 3, 2, 3],
            1,
            true,
        );
        case(
            7,
            (1, 2, 20, 20),
            (3, 3, 3),
            [2, 1],
            [3, 2],
            [0; 4],
            1,
            false,
        );
    }

    #[test]
    fn grouped() {
        case(
            8,
            (2, 6, 11, 11),
            (4, 3, 3),
            [1, 1],
            [1, 1],
            [1; 4],
            2,
            true,
        );
        // Depthwise.
        case(9, (1, 5, 9, 7), (10, 3, 3), [2, 2], [1, 1], [1; 4], 5, true);
        // CaffeNet-style: 96 -> 256 channels in 2 groups, 5×5 pad 2.
        case(
            10,
            (1, 16, 13, 13),
            (32, 5, 5),
            [1, 1],
            [1, 1],
            [2; 4],
            2,
            true,
        );
    }

    #[test]
    fn pointwise_and_large_batch() {
        case(
            11,
            (5, 8, 6, 7),
            (12, 1, 1),
            [1, 1],
            [1, 1],
            [0; 4],
            1,
            true,
        );
        case(
            12,
            (5, 8, 6, 7),
            (12, 1, 1),
            [2, 2],
            [1, 1],
            [0; 4],
            4,
            true,
        );
        // Enough positions for several column blocks per image.
        case(
            13,
            (1, 3, 40, 40),
            (8, 3, 3),
            [1, 1],
            [1, 1],
            [1; 4],
            1,
            true,
        );
    }

    #[test]
    fn random_shapes() {
        let mut rng = crate::zoo::rng::Rng::new(99);
        for t in 0..40 {
            let groups = 1 + rng.below(3);
            let c = groups * (1 + rng.below(3));
            let m = groups * (1 + rng.below(3));
            let kh = 1 + rng.below(4);
            let kw = 1 + rng.below(4);
            let stride = [1 + rng.below(3), 1 + rng.below(3)];
            let dilation = [1 + rng.below(2), 1 + rng.below(2)];
            let pads = [rng.below(3), rng.below(3), rng.below(3), rng.below(3)];
            let h = dilation[0] * (kh - 1) + 1 + rng.below(12);
            let w = dilation[1] * (kw - 1) + 1 + rng.below(12);
            let n = 1 + rng.below(3);
            case(
                1000 + t,
                (n, c, h, w),
                (m, kh, kw),
                stride,
                dilation,
                pads,
                groups,
                rng.below(2) == 0,
            );
        }
    }

    #[test]
    fn transpose_is_the_adjoint_of_forward() {
        // <conv(x), s> == <x, convᵀ(s)> for bias-free convolutions of every kind.
        let mut rng = crate::zoo::rng::Rng::new(3);
        for t in 0..30 {
            let groups = 1 + rng.below(3);
            let c = groups * (1 + rng.below(4));
            let m = groups * (1 + rng.below(3));
            let k = [1 + rng.below(4), 1 + rng.below(4)];
            let stride = [1 + rng.below(3), 1 + rng.below(2)];
            let dilation = [1 + rng.below(2), 1 + rng.below(2)];
            let pads = [rng.below(3), rng.below(3), rng.below(3), rng.below(3)];
            let h = dilation[0] * (k[0] - 1) + 1 + rng.below(9);
            let w = dilation[1] * (k[1] - 1) + 1 + rng.below(9);
            // Up to 7 samples: both the per-sample and the batched path (n ≥ 2·threads).
            let n = 1 + rng.below(7);
            let weight = random(&[m, c / groups, k[0], k[1]], 500 + t)
                .into_dimensionality()
                .unwrap();
            let mut conv = Conv2d::new(weight, None).with_groups(groups);
            conv.stride = stride;
            conv.dilation = dilation;
            conv.pads = pads;
            let x = random(&[n, c, h, w], 600 + t);
            let y = conv.forward(&x);
            let s = random(y.shape(), 700 + t);
            let g = conv.geometry(c, h, w);
            let mut back = vec![f32::NAN; x.len()];
            conv_transpose(
                s.as_slice().unwrap(),
                n,
                c,
                &g,
                conv.weight_slice(),
                m,
                groups,
                &mut back,
            );
            let lhs: f64 = y
                .iter()
                .zip(s.iter())
                .map(|(a, b)| *a as f64 * *b as f64)
                .sum();
            let rhs: f64 = x
                .iter()
                .zip(&back)
                .map(|(a, b)| *a as f64 * *b as f64)
                .sum();
            let scale: f64 = y
                .iter()
                .zip(s.iter())
                .map(|(a, b)| (*a as f64 * *b as f64).abs())
                .sum();
            assert!(
                (lhs - rhs).abs() <= 1e-5 * scale.max(1e-12),
                "case {t}: {lhs} vs {rhs}"
            );
        }
    }

    #[test]
    fn kernel_larger_than_padded_input_is_an_error() {
        let conv = Conv2d::new(Array4::zeros((2, 3, 7, 7)), None).with_pad(1);
        let err = conv
            .output_shape(&NodeRef::new("conv1", "Conv"), &[3, 4, 4])
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("conv1") && msg.contains("exceeds"), "{msg}");
    }

    #[test]
    fn channel_mismatch_is_an_error() {
        let conv = Conv2d::new(Array4::zeros((4, 3, 3, 3)), None).with_groups(3);
        let err = conv
            .output_shape(&NodeRef::new("c", "Conv"), &[9, 8, 8])
            .unwrap_err();
        assert!(err.to_string().contains("not divisible"), "{err}");
        let conv = Conv2d::new(Array4::zeros((4, 3, 3, 3)), None);
        let err = conv
            .output_shape(&NodeRef::new("c", "Conv"), &[5, 8, 8])
            .unwrap_err();
        assert!(err.to_string().contains("5 channels"), "{err}");
    }
}
