//! 2-D convolution (cross-correlation, as in Caffe, ONNX and PyTorch).
//!
//! `y[n, m, oy, ox] = b[m] + Σ_{c ∈ group(m)} Σ_{i,j} w[m, c, i, j] · x[n, c, oy·sh − pt + i·dh, ox·sw − pl + j·dw]`
//!
//! Shapes: input `[N, C, H, W]`, weight `[M, C/groups, kh, kw]`, optional bias `[M]`, output
//! `[N, M, OH, OW]` with `OH = (H + pt + pb − dh·(kh − 1) − 1) / sh + 1` (floor), likewise `OW`.
//! Positions that fall on padding read zero.
//!
//! Computed as im2col + GEMM per group, split across rayon tasks by (image, block of output
//! positions), so a single image uses every core too. The LRP rules' other products of 3×3,
//! stride-1 layers (normalisers with modified weights, transposed products) may run as
//! Winograd F(4×4, 3×3) instead ([`WinogradMode`]); the activations never do.
//!
//! Why the activations stay on im2col + GEMM: max-pooling sends all of a window's relevance
//! to its largest input, a decision that is discontinuous in the activations. A forward
//! product with a different rounding reorders near-ties and moves a whole window's relevance
//! to a neighbour. Measured on VGG-16 (`benches/lrp.rs`'s model and batch-8 input, issue 23):
//! Winograd's forward products in conv3_2/conv3_3 changed conv5_3's outputs by up to 2.3e-5
//! (1.6e-6 of their largest), enough to swap 4.078506 and 4.078516 in one pool5 window; 18%
//! of the largest relevance at that layer changed place, 5.4e-3 of max|R| at the input
//! (up to 7.8e-4 on three more of the eight images). The normalisers and transposed products
//! are smooth in their inputs: through Winograd they stay within 1.5e-6 of max|R|.
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

use super::{window_out, Category, LinearMap, Operator, Tensor};
use crate::error::{Error, NodeRef, Result};
use crate::kernels::conv::{conv_gemm, conv_transpose};
use crate::kernels::winograd::{self, Shape3x3};
use crate::kernels::{self, im2col::Geometry};
use ndarray::{Array1, Array4, IxDyn};
use rayon::prelude::*;
use std::sync::atomic::{AtomicU8, Ordering};

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
                    h.saturating_add(pt).saturating_add(pb),
                    w.saturating_add(pl).saturating_add(pr),
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
        let bias = self.bias.as_ref().and_then(|b| b.as_slice());
        // Always im2col + GEMM, never Winograd: see `ConvMap::forward`.
        conv_gemm(xs, n, c, &g, self.weight_slice(), m, self.groups, bias, ys);
        y
    }
}

impl Operator for Conv2d {
    type Params = Conv2d;
    const KIND: &'static str = "Conv";
    const CATEGORY: Category = Category::Linear;

    single_input!(Conv2d);

    fn params(p: &Conv2d) -> Vec<&[f32]> {
        super::linear::weight_and_bias(&p.weight, p.bias.as_ref())
    }

    fn params_mut(p: &mut Conv2d) -> Vec<&mut [f32]> {
        super::linear::weight_and_bias_mut(&mut p.weight, p.bias.as_mut())
    }

    fn linear<'a>(p: &'a Conv2d, input: &[usize]) -> Option<Box<dyn LinearMap + 'a>> {
        Some(Box::new(p.map(input)))
    }
}

/// A convolution applied to inputs of one per-sample shape, as a [`LinearMap`].
#[derive(Debug, Clone, Copy)]
pub struct ConvMap<'a> {
    conv: &'a Conv2d,
    c: usize,
    g: Geometry,
}

impl Conv2d {
    /// This convolution on per-sample inputs `[c, h, w]`, as a [`LinearMap`].
    pub fn map(&self, input: &[usize]) -> ConvMap<'_> {
        ConvMap {
            conv: self,
            c: input[0],
            g: self.geometry(input[0], input[1], input[2]),
        }
    }
}

/// When the 3×3, stride-1, one-group convolutions run as Winograd F(4×4, 3×3)
/// ([`crate::kernels::winograd`]) instead of im2col + GEMM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WinogradMode {
    /// Never (A/B comparisons).
    Off,
    /// The default: for the rules' products where measurements say it is faster (see
    /// [`ConvMap`]); the activations stay on im2col + GEMM (module docs).
    Auto,
    /// For every product of the rules where it applies, also where it is slower (for
    /// accuracy tests); the activations stay on im2col + GEMM.
    Always,
}

/// 0: not set yet (read `LRP_WINOGRAD`), else 1 + the mode's index.
static WINOGRAD_MODE: AtomicU8 = AtomicU8::new(0);

/// Choose when Winograd convolution is used, for the whole process (A/B comparisons and
/// tests). Without a call, the environment variable `LRP_WINOGRAD` decides: `off` (or `0`)
/// is [`WinogradMode::Off`], `always` is [`WinogradMode::Always`], anything else (or unset)
/// [`WinogradMode::Auto`], the default.
///
/// ```
/// use lrp::ops::conv::{set_winograd, winograd_mode, WinogradMode};
/// set_winograd(WinogradMode::Off);
/// assert_eq!(winograd_mode(), WinogradMode::Off);
/// set_winograd(WinogradMode::Auto);
/// ```
pub fn set_winograd(mode: WinogradMode) {
    let v = match mode {
        WinogradMode::Off => 1,
        WinogradMode::Auto => 2,
        WinogradMode::Always => 3,
    };
    WINOGRAD_MODE.store(v, Ordering::Relaxed);
}

/// The current [`WinogradMode`] (see [`set_winograd`]).
pub fn winograd_mode() -> WinogradMode {
    match WINOGRAD_MODE.load(Ordering::Relaxed) {
        1 => WinogradMode::Off,
        2 => WinogradMode::Auto,
        3 => WinogradMode::Always,
        _ => {
            let mode = match std::env::var("LRP_WINOGRAD").as_deref().map(str::trim) {
                Ok("off" | "0") => WinogradMode::Off,
                Ok("always") => WinogradMode::Always,
                _ => WinogradMode::Auto,
            };
            // Remembered unless set_winograd was called meanwhile (that call wins).
            let v = match mode {
                WinogradMode::Off => 1,
                WinogradMode::Auto => 2,
                WinogradMode::Always => 3,
            };
            let _ = WINOGRAD_MODE.compare_exchange(0, v, Ordering::Relaxed, Ordering::Relaxed);
            mode
        }
    }
}

impl ConvMap<'_> {
    /// The Winograd shape of this layer at batch `n`, where F(4×4, 3×3) applies (3×3 kernel,
    /// stride 1, dilation 1, one group), is enabled, and is faster than im2col + GEMM.
    ///
    /// The rule, from VGG-16's and GoogLeNet's 3×3 layers at batch 1 (`cargo bench --bench
    /// winograd`): Winograd wins where a call has enough 4×4 output tiles for its 36 GEMMs to
    /// run wide and to pay for transforming the filters (36 values per channel pair): at
    /// 128 tiles and more per image (outputs of 45×45 and larger) it was 1.3–1.9×
    /// faster forward and transposed; at 49 tiles (28×28) only the forward product with 96 or
    /// more input channels won (1.2–1.9×); at 16 tiles (14×14) and with 3 input channels it
    /// lost, up to 3×.
    ///
    /// The forward rule serves the rules' normalisers only (products with modified weights:
    /// the activations are always im2col + GEMM, see the module docs). It used to be
    /// narrowed to 128 input channels for accuracy: GoogLeNet's conv2/3x3 (64 channels) had
    /// put α2β1's input relevance 1.06e-4 of max|R| from the direct path, with its
    /// activations through Winograd; with them direct, every 3×3 layer's products through
    /// Winograd stay within 1.5e-6 of max|R| on the four zoo models (`tests/zoo.rs`).
    fn winograd(&self, n: usize, transposed: bool) -> Option<Shape3x3> {
        let conv = self.conv;
        let g = &self.g;
        if conv.kernel() != [3, 3]
            || conv.stride != [1, 1]
            || conv.dilation != [1, 1]
            || conv.groups != 1
        {
            return None;
        }
        let mode = winograd_mode();
        if mode == WinogradMode::Off {
            return None;
        }
        let s = Shape3x3 {
            n,
            c: self.c,
            h: g.h,
            w: g.w,
            k: conv.out_channels(),
            pads: conv.pads,
        };
        if transposed && !winograd::transpose_supported(&s) {
            return None;
        }
        if mode == WinogradMode::Always {
            return Some(s);
        }
        // Tiles per image, not per call: the choice must not depend on how many images share
        // a batch, or an image's relevance would change with it (in its last bits), and a
        // sharded run would no longer equal a full one to the byte.
        let tiles = g.oh.div_ceil(4) * g.ow.div_ceil(4);
        let wins = tiles >= 128 || (!transposed && tiles >= 48 && s.c >= 96);
        (wins && s.c.min(s.k) >= 16).then_some(s)
    }
}

impl LinearMap for ConvMap<'_> {
    fn in_len(&self) -> usize {
        self.c * self.g.h * self.g.w
    }

    fn out_len(&self) -> usize {
        self.conv.out_channels() * self.g.positions()
    }

    fn weight_values(&self) -> &[f32] {
        self.conv.weight_slice()
    }

    fn bias_values(&self) -> Option<&[f32]> {
        self.conv.bias().and_then(|b| b.as_slice())
    }

    fn out_channels(&self) -> (usize, usize) {
        (self.conv.out_channels(), self.g.positions())
    }

    fn in_channels(&self) -> (usize, usize) {
        (self.c, self.g.h * self.g.w)
    }

    fn groups(&self) -> usize {
        self.conv.groups
    }

    fn paper_flat(&self) -> f32 {
        let [kh, kw] = self.conv.kernel();
        1.0 / (kh * kw) as f32
    }

    /// With the layer's own weights this is the activation the network passes on, and it is
    /// always im2col + GEMM: max-pooling routes all of a window's relevance to its largest
    /// input, so a near-tie that Winograd's rounding reorders moves relevance discontinuously
    /// (module docs). With modified weights (`W⁺`, `W⁻`, …: the rules' normalisers, smooth
    /// in the product) Winograd may run.
    fn forward(&self, x: &[f32], n: usize, w: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
        let conv = self.conv;
        let own = conv.weight_slice();
        let activation = std::ptr::eq(w.as_ptr(), own.as_ptr()) && w.len() == own.len();
        if let Some(s) = self.winograd(n, false).filter(|_| !activation) {
            return winograd::conv3x3(x, &s, w, bias, out);
        }
        conv_gemm(
            x,
            n,
            self.c,
            &self.g,
            w,
            conv.out_channels(),
            conv.groups,
            bias,
            out,
        )
    }

    fn transpose(&self, s: &[f32], n: usize, w: &[f32], out: &mut [f32]) {
        let conv = self.conv;
        if let Some(shape) = self.winograd(n, true) {
            return winograd::conv3x3_transpose(s, &shape, w, out);
        }
        conv_transpose(
            s,
            n,
            self.c,
            &self.g,
            w,
            conv.out_channels(),
            conv.groups,
            out,
        )
    }

    fn transpose_stacked(&self, s: &[f32], n: usize, stacked: &[f32], out: &mut [f32]) {
        let conv = self.conv;
        let m2 = 2 * conv.out_channels();
        if let Some(shape) = self.winograd(n, true) {
            let shape = Shape3x3 { k: m2, ..shape };
            return winograd::conv3x3_transpose(s, &shape, stacked, out);
        }
        conv_transpose(s, n, self.c, &self.g, stacked, m2, conv.groups, out)
    }

    /// Each input channel receives `value` times the sum of `s` over its group's output
    /// channels, scattered back through the window once: one pass over `s` instead of a GEMM
    /// and a col2im per input channel.
    fn transpose_uniform(&self, s: &[f32], n: usize, value: f32, out: &mut [f32]) {
        let (il, ol) = (self.in_len(), self.out_len());
        let g = &self.g;
        let groups = self.conv.groups;
        let (mg, positions, plane) = (self.conv.out_channels() / groups, g.positions(), g.h * g.w);
        let one = Geometry { channels: 1, ..*g };
        out.par_chunks_mut(il)
            .zip(s.par_chunks(ol))
            .take(n)
            .for_each(|(o, sr)| {
                let mut sum = vec![0f32; positions];
                let mut q = kernels::zeroed(plane);
                for grp in 0..groups {
                    let sg = &sr[grp * mg * positions..(grp + 1) * mg * positions];
                    sum.copy_from_slice(&sg[..positions]);
                    for row in sg.chunks_exact(positions).skip(1) {
                        sum.iter_mut().zip(row).for_each(|(a, b)| *a += b);
                    }
                    q.fill(0.0);
                    // Row stride 0: every tap of the window reads the same sums.
                    kernels::im2col::col2im_strided(&sum, 0, &one, 0, positions, &mut q);
                    let og = &mut o[grp * g.channels * plane..(grp + 1) * g.channels * plane];
                    for oc in og.chunks_exact_mut(plane) {
                        oc.iter_mut().zip(&q).for_each(|(a, b)| *a = value * b);
                    }
                }
            });
    }
}

#[cfg(test)]
#[path = "conv_tests.rs"]
mod tests;
