//! Resize: nearest-neighbour or bilinear interpolation of the two spatial axes (ONNX `Resize`
//! and `Upsample`, PyTorch `F.interpolate` / `nn.Upsample`).
//!
//! Along each spatial axis of input size `L` and output size `L'`, output index `o` maps to
//! the input coordinate `x(o)` of the coordinate transformation (`s` the axis' scale):
//!
//! | mode | `x(o)` |
//! |---|---|
//! | `half_pixel` | `(o + ½)/s − ½` |
//! | `pytorch_half_pixel` | `(o + ½)/s − ½`, and 0 when `L' = 1` |
//! | `align_corners` | `o·(L − 1)/(L' − 1)`, and 0 when `L' = 1` |
//! | `asymmetric` | `o/s` |
//!
//! The scale is given (then `L' = ⌊L·s⌋`) or follows from a given output size (`s = L'/L`).
//! Interpolation along the axis gives each output index taps `(i, a)` (input index, weight):
//! **nearest**: one tap of weight 1 at `x(o)` rounded by the nearest mode (`round_prefer_floor`:
//! halves down; `round_prefer_ceil`: halves up; `floor`; `ceil`; an integral `x(o)` is itself);
//! **linear**: `(⌊x⌋, 1 − r)` and `(⌊x⌋ + 1, r)` with `r = x − ⌊x⌋`. Indices are clamped to
//! `[0, L − 1]` (taps landing on the same index add up; weight-0 taps are dropped). Two axes
//! combine as a product: with taps `A_y` along the height and `A_x` along the width,
//!
//! `y[n, c, oy, ox] = Σ_{(iy, a) ∈ A_y(oy)} Σ_{(ix, b) ∈ A_x(ox)} a·b · x[n, c, iy, ix]`.
//!
//! Shapes: input `[N, C, H, W]`, output `[N, C, H', W']`; batch and channels are not scaled.
//! (This is the ONNX reference implementation's arithmetic, in f64 from the stored f32
//! scale.)
//!
//! Relevance: the map is linear, `y = A x` per channel plane with the interpolation weights
//! `A` as its weights, and it is a [`LinearMap`] (no bias, no learned parameters):
//! [`Category::Linear`], kind `Resize`, so it goes through the linear rule the composite
//! gives it; the presets give it ε (Zennit passes the gradient through `F.interpolate`, which
//! is LRP-0), `R_i = x_i Σ_j A_ji R_j / s(z_j)`. As it has no learned weights it is not
//! counted among the "first linear layers" that get the flat or zᴮ rule.
//!
//! ```
//! use lrp::ops::resize::{Coordinates, Interpolation, Nearest, Resize, ResizeSize};
//! use lrp::NodeRef;
//! use ndarray::{ArrayD, IxDyn};
//! // Bilinear ×2 of a 1×2 row (half-pixel centres, as F.interpolate with align_corners=False).
//! let r = Resize::new(Interpolation::Linear, Coordinates::HalfPixel, ResizeSize::Scales([1.0, 2.0]));
//! assert_eq!(r.output_shape(&NodeRef::new("up", "Resize"), &[1, 1, 2]).unwrap(), vec![1, 1, 4]);
//! let x = ArrayD::from_shape_vec(IxDyn(&[1, 1, 1, 2]), vec![0.0, 4.0]).unwrap();
//! assert_eq!(r.forward(&x).as_slice().unwrap(), &[0.0, 1.0, 3.0, 4.0]);
//! // Nearest ×2 with floor rounding on asymmetric coordinates (torch's `nearest`).
//! let r = Resize::new(
//!     Interpolation::Nearest(Nearest::Floor),
//!     Coordinates::Asymmetric,
//!     ResizeSize::Scales([1.0, 2.0]),
//! );
//! assert_eq!(r.forward(&x).as_slice().unwrap(), &[0.0, 0.0, 4.0, 4.0]);
//! ```

use super::{Category, LinearMap, Operator, Tensor};
use crate::error::{Error, NodeRef, Result};
use ndarray::IxDyn;
use rayon::prelude::*;

/// Rounding of the nearest mode (ONNX `nearest_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nearest {
    /// Round, halves down.
    RoundPreferFloor,
    /// Round, halves up.
    RoundPreferCeil,
    /// Round down.
    Floor,
    /// Round up.
    Ceil,
}

/// Interpolation (ONNX `mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpolation {
    /// Nearest neighbour with this rounding.
    Nearest(Nearest),
    /// Linear along each axis (bilinear).
    Linear,
}

/// Coordinate transformation (ONNX `coordinate_transformation_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coordinates {
    /// `(o + ½)/s − ½`.
    HalfPixel,
    /// `(o + ½)/s − ½`, 0 for an output of length 1.
    PytorchHalfPixel,
    /// `o·(L − 1)/(L' − 1)`, 0 for an output of length 1.
    AlignCorners,
    /// `o/s`.
    Asymmetric,
}

/// How the output size and the scale of each spatial axis are given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ResizeSize {
    /// Scales `[height, width]`: output `⌊L·s⌋`.
    Scales([f32; 2]),
    /// Output sizes `[height, width]`: scale `L'/L`.
    Sizes([usize; 2]),
}

/// Parameters of a resize (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct Resize {
    /// Nearest or linear.
    pub interpolation: Interpolation,
    /// The coordinate transformation.
    pub coordinates: Coordinates,
    /// Scales or output sizes.
    pub size: ResizeSize,
}

/// Largest output size along an axis.
const MAX_LEN: f64 = (1u64 << 31) as f64;

impl Resize {
    /// A resize of the spatial axes.
    pub fn new(interpolation: Interpolation, coordinates: Coordinates, size: ResizeSize) -> Self {
        Resize {
            interpolation,
            coordinates,
            size,
        }
    }

    /// Output length and scale of spatial axis `a` (0 = height) of input length `len`.
    fn axis(&self, a: usize, len: usize) -> Option<(usize, f64)> {
        match self.size {
            ResizeSize::Scales(s) => {
                let s = s[a] as f64;
                let out = (len as f64 * s).floor();
                (s.is_finite() && s > 0.0 && (1.0..MAX_LEN).contains(&out))
                    .then_some((out as usize, s))
            }
            ResizeSize::Sizes(o) => {
                (o[a] >= 1 && (o[a] as f64) < MAX_LEN).then(|| (o[a], o[a] as f64 / len as f64))
            }
        }
    }

    /// Validate against a per-sample input `[C, H, W]` and return `[C, H', W']`.
    pub fn output_shape(&self, node: &NodeRef, input: &[usize]) -> Result<Vec<usize>> {
        let &[c, h, w] = input else {
            return Err(Error::shape(
                node,
                format!("expects a [C, H, W] input, got {input:?}"),
            ));
        };
        match (self.axis(0, h), self.axis(1, w)) {
            (Some((oh, _)), Some((ow, _))) => Ok(vec![c, oh, ow]),
            _ => Err(Error::param(
                node,
                format!(
                    "{} gives no output size between 1 and 2³¹ for input {h}×{w}",
                    match self.size {
                        ResizeSize::Scales([a, b]) => format!("scales {a}, {b}"),
                        ResizeSize::Sizes([a, b]) => format!("sizes {a}×{b}"),
                    }
                ),
            )),
        }
    }

    /// The input coordinate of output index `o` along an axis (input `len`, output `out`,
    /// scale `s`).
    fn coordinate(&self, o: usize, len: usize, out: usize, s: f64) -> f64 {
        let o = o as f64;
        match self.coordinates {
            Coordinates::HalfPixel => (o + 0.5) / s - 0.5,
            Coordinates::PytorchHalfPixel if out > 1 => (o + 0.5) / s - 0.5,
            Coordinates::AlignCorners if out > 1 => o * (len as f64 - 1.0) / (out as f64 - 1.0),
            Coordinates::PytorchHalfPixel | Coordinates::AlignCorners => 0.0,
            Coordinates::Asymmetric => o / s,
        }
    }

    /// The taps `(input index, weight)` of every output index along an axis.
    fn taps(&self, len: usize, out: usize, s: f64) -> Vec<Vec<(usize, f64)>> {
        let clamp = |i: f64| i.clamp(0.0, len as f64 - 1.0) as usize;
        (0..out)
            .map(|o| {
                let x = self.coordinate(o, len, out, s);
                let fl = x.floor();
                let r = x - fl;
                let mut taps: Vec<(usize, f64)> = match self.interpolation {
                    Interpolation::Nearest(mode) => {
                        let up = r > 0.0
                            && match mode {
                                Nearest::RoundPreferFloor => r > 0.5,
                                Nearest::RoundPreferCeil => r >= 0.5,
                                Nearest::Floor => false,
                                Nearest::Ceil => true,
                            };
                        vec![(clamp(if up { fl + 1.0 } else { fl }), 1.0)]
                    }
                    Interpolation::Linear => vec![(clamp(fl), 1.0 - r), (clamp(fl + 1.0), r)],
                };
                if taps.len() == 2 && taps[0].0 == taps[1].0 {
                    taps = vec![(taps[0].0, taps[0].1 + taps[1].1)];
                }
                taps.retain(|t| t.1 != 0.0);
                taps
            })
            .collect()
    }

    /// This resize on per-sample inputs `[c, h, w]` (validated), as a [`LinearMap`].
    pub fn map(&self, input: &[usize]) -> ResizeMap {
        let (c, h, w) = (input[0], input[1], input[2]);
        let (oh, sh) = self.axis(0, h).unwrap_or((0, 1.0));
        let (ow, sw) = self.axis(1, w).unwrap_or((0, 1.0));
        let ty = self.taps(h, oh, sh);
        let tx = self.taps(w, ow, sw);
        let mut offsets = Vec::with_capacity(oh * ow + 1);
        let mut index = Vec::new();
        let mut weight = Vec::new();
        offsets.push(0u32);
        for ay in &ty {
            for ax in &tx {
                for &(iy, a) in ay {
                    for &(ix, b) in ax {
                        index.push((iy * w + ix) as u32);
                        weight.push((a * b) as f32);
                    }
                }
                offsets.push(index.len() as u32);
            }
        }
        let taps = match self.interpolation {
            Interpolation::Nearest(_) => 1,
            Interpolation::Linear => 4,
        };
        ResizeMap {
            c,
            plane_in: h * w,
            plane_out: oh * ow,
            offsets,
            index,
            weight,
            taps,
        }
    }

    /// Forward pass on `[N, C, H, W]` (validated by [`Resize::output_shape`]).
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let s = x.shape();
        let map = self.map(&s[1..]);
        let out = self
            .output_shape(&NodeRef::new("", "Resize"), &s[1..])
            .unwrap_or_default();
        let mut shape = vec![s[0]];
        shape.extend_from_slice(&out);
        let mut y = Tensor::zeros(IxDyn(&shape));
        map.forward(
            x.as_slice().expect("standard layout input"),
            s[0],
            &map.weight,
            None,
            y.as_slice_mut().expect("fresh tensor"),
        );
        y
    }
}

impl Operator for Resize {
    type Params = Resize;
    const KIND: &'static str = "Resize";
    const CATEGORY: Category = Category::Linear;

    single_input!(Resize);

    fn linear<'a>(p: &'a Resize, input: &[usize]) -> Option<Box<dyn LinearMap + 'a>> {
        Some(Box::new(p.map(input)))
    }
}

/// A resize on inputs of one per-sample shape as a sparse linear map, the same on every
/// channel plane: output pixel `p` of a plane is `Σ_{t ∈ offsets[p]..offsets[p+1]}
/// weight[t] · x[index[t]]`. Its weights are the interpolation weights (one per tap).
#[derive(Debug, Clone)]
pub struct ResizeMap {
    c: usize,
    plane_in: usize,
    plane_out: usize,
    offsets: Vec<u32>,
    index: Vec<u32>,
    weight: Vec<f32>,
    taps: usize,
}

impl ResizeMap {
    /// The taps of output pixel `p` of a plane: input pixels and tap numbers.
    #[inline]
    fn taps_of(&self, p: usize) -> std::ops::Range<usize> {
        self.offsets[p] as usize..self.offsets[p + 1] as usize
    }

    /// `out += Fᵀ(s, w)` for one plane.
    fn scatter(&self, s: &[f32], w: &[f32], out: &mut [f32]) {
        for (p, &sv) in s.iter().enumerate() {
            for t in self.taps_of(p) {
                out[self.index[t] as usize] += w[t] * sv;
            }
        }
    }
}

impl LinearMap for ResizeMap {
    fn in_len(&self) -> usize {
        self.c * self.plane_in
    }

    fn out_len(&self) -> usize {
        self.c * self.plane_out
    }

    fn weight_values(&self) -> &[f32] {
        &self.weight
    }

    fn bias_values(&self) -> Option<&[f32]> {
        None
    }

    fn out_channels(&self) -> (usize, usize) {
        (self.c, self.plane_out)
    }

    fn in_channels(&self) -> (usize, usize) {
        (self.c, self.plane_in)
    }

    /// `1/T` for the `T` taps of the interpolation kernel (1 nearest, 4 bilinear), as a
    /// convolution's `1/(k_h k_w)`.
    fn paper_flat(&self) -> f32 {
        1.0 / self.taps as f32
    }

    fn forward(&self, x: &[f32], n: usize, w: &[f32], _bias: Option<&[f32]>, out: &mut [f32]) {
        out.par_chunks_mut(self.plane_out)
            .zip(x.par_chunks(self.plane_in))
            .take(n * self.c)
            .for_each(|(o, xp)| {
                for (p, v) in o.iter_mut().enumerate() {
                    *v = self
                        .taps_of(p)
                        .map(|t| w[t] * xp[self.index[t] as usize])
                        .sum();
                }
            });
    }

    fn transpose(&self, s: &[f32], n: usize, w: &[f32], out: &mut [f32]) {
        out.par_chunks_mut(self.plane_in)
            .zip(s.par_chunks(self.plane_out))
            .take(n * self.c)
            .for_each(|(o, sp)| {
                o.fill(0.0);
                self.scatter(sp, w, o);
            });
    }

    /// `stacked` is `[W_a; W_b]` (one group); `s` holds per sample `[s_a; s_b]`.
    fn transpose_stacked(&self, s: &[f32], n: usize, stacked: &[f32], out: &mut [f32]) {
        let (wa, wb) = stacked.split_at(self.weight.len());
        let (il, ol) = (self.in_len(), self.out_len());
        out.par_chunks_mut(il)
            .zip(s.par_chunks(2 * ol))
            .take(n)
            .for_each(|(o, ss)| {
                let (sa, sb) = ss.split_at(ol);
                for ((op, pa), pb) in o
                    .chunks_mut(self.plane_in)
                    .zip(sa.chunks(self.plane_out))
                    .zip(sb.chunks(self.plane_out))
                {
                    op.fill(0.0);
                    self.scatter(pa, wa, op);
                    self.scatter(pb, wb, op);
                }
            });
    }

    fn transpose_uniform(&self, s: &[f32], n: usize, value: f32, out: &mut [f32]) {
        out.par_chunks_mut(self.plane_in)
            .zip(s.par_chunks(self.plane_out))
            .take(n * self.c)
            .for_each(|(o, sp)| {
                o.fill(0.0);
                for (p, &sv) in sp.iter().enumerate() {
                    for t in self.taps_of(p) {
                        o[self.index[t] as usize] += value * sv;
                    }
                }
            });
    }
}

#[cfg(test)]
#[path = "resize_tests.rs"]
mod tests;
