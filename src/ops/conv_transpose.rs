//! 2-D transposed convolution (ONNX `ConvTranspose`, PyTorch `nn.ConvTranspose2d`, Caffe
//! `Deconvolution`).
//!
//! Every input pixel scatters its weighted kernel into the output:
//!
//! `y[n, o, oy, ox] = b[o] + Σ_{c ∈ group(o)} Σ_{iy, ix, i, j : oy = iy·sh − pt + i·dh, ox = ix·sw − pl + j·dw} w[c, o mod (M/g), i, j] · x[n, c, iy, ix]`
//!
//! Shapes: input `[N, C, H, W]`, weight `[C, M/groups, kh, kw]` (input channels first),
//! optional bias `[M]`, output `[N, M, OH, OW]` with
//! `OH = sh·(H − 1) + op_h + dh·(kh − 1) + 1 − pt − pb` (likewise `OW`): `pads`
//! `[pt, pl, pb, pr]` crop the full output, `output_padding` `[op_h, op_w]` adds rows and
//! columns at the end. (An ONNX `output_shape` attribute is turned into pads by the importer.)
//!
//! The map is the transpose (adjoint) of the convolution with the same weight read as
//! `[C, M/groups, kh, kw]` (`C` outputs, `M` inputs), stride, dilation and padding `pt`, `pl`
//! from an `OH×OW` image to an `H×W` one, so it reuses the convolution's kernels
//! ([`crate::kernels::conv`]): its forward pass is that convolution's transposed product
//! (im2col's col2im), and its transpose, which relevance rules need, is that convolution's
//! forward (im2col + GEMM).
//!
//! Relevance: a linear layer ([`Category::Linear`], kind `ConvTranspose`) that every linear
//! rule runs on through its [`LinearMap`]; composites treat it like a convolution (z⁺ in
//! `epsilon-plus`, as Zennit's `Convolution` layer type includes `ConvTranspose2d`). With the
//! weights `w_ij` of input `i` to output `j` (0 where `i` does not reach `j`), the ε rule is
//! `R_i = x_i Σ_j w_ij R_j / s(z_j)`.
//!
//! ```
//! use lrp::ops::ConvTranspose2d;
//! use lrp::NodeRef;
//! use ndarray::{Array1, Array4, ArrayD, IxDyn};
//! // A 1×1×2×2 input, a 2×2 kernel of ones, stride 2: each pixel fills its own 2×2 block.
//! let t = ConvTranspose2d::new(Array4::ones((1, 1, 2, 2)), Some(Array1::from(vec![0.5])))
//!     .with_stride(2);
//! let node = NodeRef::new("up", "ConvTranspose");
//! assert_eq!(t.output_shape(&node, &[1, 2, 2]).unwrap(), vec![1, 4, 4]);
//! let x = ArrayD::from_shape_vec(IxDyn(&[1, 1, 2, 2]), vec![1.0, 2.0, 3.0, 4.0]).unwrap();
//! let y = t.forward(&x);
//! assert_eq!(y.as_slice().unwrap(), &[
//!     1.5, 1.5, 2.5, 2.5,
//!     1.5, 1.5, 2.5, 2.5,
//!     3.5, 3.5, 4.5, 4.5,
//!     3.5, 3.5, 4.5, 4.5,
//! ]);
//! ```

use super::{Category, LinearMap, Operator, Tensor};
use crate::error::{Error, NodeRef, Result};
use crate::kernels::conv::{conv_gemm, conv_transpose};
use crate::kernels::im2col::Geometry;
use ndarray::{Array1, Array4, IxDyn};
use rayon::prelude::*;

/// Parameters of a 2-D transposed convolution.
#[derive(Debug, Clone)]
pub struct ConvTranspose2d {
    pub(crate) weight: Array4<f32>,
    pub(crate) bias: Option<Array1<f32>>,
    /// Stride `[vertical, horizontal]`.
    pub stride: [usize; 2],
    /// Dilation `[vertical, horizontal]`.
    pub dilation: [usize; 2],
    /// Cropping of the full output `[top, left, bottom, right]` (ONNX `pads`).
    pub pads: [usize; 4],
    /// Rows and columns added at the end of the output `[bottom, right]`.
    pub output_padding: [usize; 2],
    /// Number of groups.
    pub groups: usize,
}

/// Largest stride, dilation, padding or output padding accepted (as for convolutions' pads).
const MAX_GEOMETRY: usize = 1 << 20;

impl ConvTranspose2d {
    /// A transposed convolution with weight `[C, M/groups, kh, kw]` and optional bias `[M]`;
    /// stride 1, no cropping, no dilation, one group.
    pub fn new(weight: Array4<f32>, bias: Option<Array1<f32>>) -> Self {
        ConvTranspose2d {
            weight: super::standard(weight),
            bias: bias.map(super::standard),
            stride: [1, 1],
            dilation: [1, 1],
            pads: [0; 4],
            output_padding: [0, 0],
            groups: 1,
        }
    }

    /// Same stride along both axes.
    pub fn with_stride(mut self, s: usize) -> Self {
        self.stride = [s, s];
        self
    }

    /// Cropping `[top, left, bottom, right]`.
    pub fn with_pads(mut self, pads: [usize; 4]) -> Self {
        self.pads = pads;
        self
    }

    /// Number of groups.
    pub fn with_groups(mut self, g: usize) -> Self {
        self.groups = g;
        self
    }

    /// The weight, `[C, M/groups, kh, kw]`.
    pub fn weight(&self) -> &Array4<f32> {
        &self.weight
    }

    /// The bias, `[M]`, if any.
    pub fn bias(&self) -> Option<&Array1<f32>> {
        self.bias.as_ref()
    }

    pub(crate) fn weight_slice(&self) -> &[f32] {
        self.weight
            .as_slice()
            .expect("weight is kept in standard layout")
    }

    /// Input channels `C`.
    pub fn in_channels(&self) -> usize {
        self.weight.shape()[0]
    }

    /// Output channels `M`.
    pub fn out_channels(&self) -> usize {
        self.weight.shape()[1] * self.groups
    }

    /// Kernel size `[kh, kw]`.
    pub fn kernel(&self) -> [usize; 2] {
        [self.weight.shape()[2], self.weight.shape()[3]]
    }

    /// Output size along one axis, or `None` when the cropping leaves nothing.
    fn out_len(&self, a: usize, input: usize) -> Option<usize> {
        // Checked: an empty input or kernel, or sizes from a file, give `None` (an error
        // naming the node) rather than wrapping.
        let full = self.stride[a]
            .checked_mul(input.checked_sub(1)?)?
            .checked_add(self.output_padding[a])?
            .checked_add(self.dilation[a].checked_mul(self.kernel()[a].checked_sub(1)?)?)?
            .checked_add(1)?;
        full.checked_sub(self.pads[a].checked_add(self.pads[a + 2])?)
            .filter(|&o| o > 0)
    }

    /// Validate parameters against a per-sample input `[C, H, W]` and return `[M, OH, OW]`.
    pub fn output_shape(&self, node: &NodeRef, input: &[usize]) -> Result<Vec<usize>> {
        let &[c, h, w] = input else {
            return Err(Error::shape(
                node,
                format!("expects a [C, H, W] input, got {input:?}"),
            ));
        };
        let s = self.weight.shape();
        let g = self.groups;
        if g == 0 || s.contains(&0) {
            return Err(Error::param(
                node,
                format!("empty weight {s:?} or zero groups"),
            ));
        }
        let geometry = self.stride.iter().chain(&self.dilation);
        if geometry.clone().any(|&v| v == 0 || v > MAX_GEOMETRY)
            || self
                .pads
                .iter()
                .chain(&self.output_padding)
                .any(|&v| v > MAX_GEOMETRY)
        {
            return Err(Error::param(
                node,
                format!(
                    "stride {:?} and dilation {:?} must be positive; pads {:?}, output padding {:?} at most {MAX_GEOMETRY}",
                    self.stride, self.dilation, self.pads, self.output_padding
                ),
            ));
        }
        if c != s[0] || c % g != 0 {
            return Err(Error::shape(
                node,
                format!(
                    "input has {c} channels but the weight {s:?} with {g} group(s) expects {} (divisible by the groups)",
                    s[0]
                ),
            ));
        }
        let m = self.out_channels();
        if let Some(b) = &self.bias {
            if b.len() != m {
                return Err(Error::param(
                    node,
                    format!("bias has {} values for {m} output channels", b.len()),
                ));
            }
        }
        match (self.out_len(0, h), self.out_len(1, w)) {
            (Some(oh), Some(ow)) => Ok(vec![m, oh, ow]),
            _ => Err(Error::shape(
                node,
                format!(
                    "pads {:?} crop the whole output of input {h}×{w} (kernel {:?}, stride {:?}, dilation {:?}, output padding {:?})",
                    self.pads,
                    self.kernel(),
                    self.stride,
                    self.dilation,
                    self.output_padding
                ),
            )),
        }
    }

    /// Forward pass on `[N, C, H, W]` (validated by [`ConvTranspose2d::output_shape`]).
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let s = x.shape();
        let map = self.map(&s[1..]);
        let mut y = Tensor::zeros(IxDyn(&[s[0], self.out_channels(), map.g.h, map.g.w]));
        LinearMap::forward(
            &map,
            x.as_slice().expect("standard layout input"),
            s[0],
            self.weight_slice(),
            self.bias.as_ref().and_then(|b| b.as_slice()),
            y.as_slice_mut().expect("fresh tensor"),
        );
        y
    }

    /// This layer on per-sample inputs `[c, h, w]` (validated), as a [`LinearMap`].
    pub fn map(&self, input: &[usize]) -> ConvTransposeMap<'_> {
        let [kh, kw] = self.kernel();
        let (h, w) = (input[1], input[2]);
        ConvTransposeMap {
            layer: self,
            g: Geometry {
                channels: self.weight.shape()[1],
                h: self.out_len(0, h).unwrap_or(0),
                w: self.out_len(1, w).unwrap_or(0),
                kh,
                kw,
                sh: self.stride[0],
                sw: self.stride[1],
                dh: self.dilation[0],
                dw: self.dilation[1],
                pt: self.pads[0],
                pl: self.pads[1],
                oh: h,
                ow: w,
            },
        }
    }
}

impl Operator for ConvTranspose2d {
    type Params = ConvTranspose2d;
    const KIND: &'static str = "ConvTranspose";
    const CATEGORY: Category = Category::Linear;

    single_input!(ConvTranspose2d);

    fn params(p: &ConvTranspose2d) -> Vec<&[f32]> {
        super::linear::weight_and_bias(&p.weight, p.bias.as_ref())
    }

    fn params_mut(p: &mut ConvTranspose2d) -> Vec<&mut [f32]> {
        super::linear::weight_and_bias_mut(&mut p.weight, p.bias.as_mut())
    }

    fn linear<'a>(p: &'a ConvTranspose2d, input: &[usize]) -> Option<Box<dyn LinearMap + 'a>> {
        Some(Box::new(p.map(input)))
    }
}

/// A transposed convolution on inputs of one per-sample shape, as a [`LinearMap`].
///
/// `g` is the geometry of the convolution it is the transpose of: that convolution reads the
/// `OH×OW` output (`g.h × g.w`, `M` channels, `M/groups` per group in `g.channels`) and writes
/// the `H×W` input (`g.oh × g.ow`, `C` channels).
#[derive(Debug, Clone, Copy)]
pub struct ConvTransposeMap<'a> {
    layer: &'a ConvTranspose2d,
    g: Geometry,
}

impl ConvTransposeMap<'_> {
    fn c(&self) -> usize {
        self.layer.in_channels()
    }

    fn m(&self) -> usize {
        self.layer.out_channels()
    }
}

impl LinearMap for ConvTransposeMap<'_> {
    fn in_len(&self) -> usize {
        self.c() * self.g.oh * self.g.ow
    }

    fn out_len(&self) -> usize {
        self.m() * self.g.h * self.g.w
    }

    fn weight_values(&self) -> &[f32] {
        self.layer.weight_slice()
    }

    fn bias_values(&self) -> Option<&[f32]> {
        self.layer.bias().and_then(|b| b.as_slice())
    }

    fn out_channels(&self) -> (usize, usize) {
        (self.m(), self.g.h * self.g.w)
    }

    fn in_channels(&self) -> (usize, usize) {
        (self.c(), self.g.oh * self.g.ow)
    }

    fn groups(&self) -> usize {
        self.layer.groups
    }

    /// `1/(k_h k_w)`, as for a convolution.
    fn paper_flat(&self) -> f32 {
        1.0 / (self.g.kh * self.g.kw) as f32
    }

    /// The convolution's transposed product (col2im), then the bias.
    fn forward(&self, x: &[f32], n: usize, w: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
        let (c, m) = (self.c(), self.m());
        conv_transpose(x, n, m, &self.g, w, c, self.layer.groups, out);
        if let Some(b) = bias {
            let plane = self.g.h * self.g.w;
            out.par_chunks_mut(plane)
                .take(n * m)
                .enumerate()
                .for_each(|(i, p)| p.iter_mut().for_each(|v| *v += b[i % m]));
        }
    }

    /// The convolution's forward product (im2col + GEMM).
    fn transpose(&self, s: &[f32], n: usize, w: &[f32], out: &mut [f32]) {
        let (c, m) = (self.c(), self.m());
        conv_gemm(s, n, m, &self.g, w, c, self.layer.groups, None, out);
    }

    /// `stacked` holds per group `[W⁺_g; W⁻_g]` (input channels of the group twice); `s`
    /// per group the two halves `[s_a; s_b]` of the doubled output channels. The stacked
    /// layer is a convolution from `2M` channels whose weight row of input channel `c` is
    /// `[W_a[c]; W_b[c]]`: regrouped so, one convolution gives `F_aᵀ(s_a) + F_bᵀ(s_b)`.
    fn transpose_stacked(&self, s: &[f32], n: usize, stacked: &[f32], out: &mut [f32]) {
        let (c, m, groups) = (self.c(), self.m(), self.layer.groups);
        let cg = c / groups;
        let row = self.g.channels * self.g.kh * self.g.kw;
        let mut w2 = vec![0f32; stacked.len()];
        for (ci, dst) in w2.chunks_exact_mut(2 * row).enumerate() {
            let (grp, local) = (ci / cg, ci % cg);
            let base = grp * 2 * cg * row;
            dst[..row].copy_from_slice(&stacked[base + local * row..base + (local + 1) * row]);
            dst[row..].copy_from_slice(
                &stacked[base + (cg + local) * row..base + (cg + local + 1) * row],
            );
        }
        let g2 = Geometry {
            channels: 2 * self.g.channels,
            ..self.g
        };
        conv_gemm(s, n, 2 * m, &g2, &w2, c, groups, None, out);
    }

    /// Every input channel of a group receives `value` times the window sums of the group's
    /// output channels summed: one single-channel convolution per group.
    fn transpose_uniform(&self, s: &[f32], n: usize, value: f32, out: &mut [f32]) {
        let (c, m, groups) = (self.c(), self.m(), self.layer.groups);
        let (cg, mg) = (c / groups, m / groups);
        let (plane_out, plane_in) = (self.g.h * self.g.w, self.g.oh * self.g.ow);
        let one = Geometry {
            channels: 1,
            ..self.g
        };
        let ones = vec![value; self.g.kh * self.g.kw];
        out.par_chunks_mut(c * plane_in)
            .zip(s.par_chunks(m * plane_out))
            .take(n)
            .for_each(|(o, sr)| {
                let mut sum = vec![0f32; plane_out];
                let mut win = vec![0f32; plane_in];
                for grp in 0..groups {
                    sum.fill(0.0);
                    for ch in
                        sr[grp * mg * plane_out..(grp + 1) * mg * plane_out].chunks_exact(plane_out)
                    {
                        sum.iter_mut().zip(ch).for_each(|(a, b)| *a += b);
                    }
                    conv_gemm(&sum, 1, 1, &one, &ones, 1, 1, None, &mut win);
                    for oc in
                        o[grp * cg * plane_in..(grp + 1) * cg * plane_in].chunks_exact_mut(plane_in)
                    {
                        oc.copy_from_slice(&win);
                    }
                }
            });
    }
}

#[cfg(test)]
#[path = "conv_transpose_tests.rs"]
mod tests;
