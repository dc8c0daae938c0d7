//! The primitives every linear LRP rule is written over.
//!
//! A layer with weights — convolution ([`ConvMap`](super::ConvMap)), dense
//! ([`Dense`](super::Dense)) — is, for relevance purposes, a linear map `F(x, w) + b` of its
//! input. The rules of [`crate::rules`] need two things from it: the product with *modified*
//! weights (`w⁺`, `w²`, `w + γw⁺`, ...) and the transpose of that product. Both are
//! batch-first, on flat `f32` buffers of `in_len()`/`out_len()` values per sample.
//!
//! ```
//! use lrp::ops::{Dense, LinearMap};
//! use ndarray::array;
//! let d = Dense::new(array![[1.0, 2.0], [0.0, -1.0]], None);
//! let map: &dyn LinearMap = &d;
//! let mut y = [0f32; 2];
//! // F(x, w) with w⁺ = [[1, 2], [0, 0]] on x = [1, 1].
//! map.forward(&[1.0, 1.0], 1, &[1.0, 2.0, 0.0, 0.0], None, &mut y);
//! assert_eq!(y, [3.0, 0.0]);
//! // The transpose of the plain weight: Wᵀ s.
//! let mut t = [0f32; 2];
//! map.transpose(&[1.0, 1.0], 1, map.weight_values(), &mut t);
//! assert_eq!(t, [1.0, 1.0]);
//! ```

/// A layer with weights seen as a linear map (see the module documentation).
///
/// Weight buffers passed to [`LinearMap::forward`] and [`LinearMap::transpose`] have the
/// layout of [`LinearMap::weight_values`] (modified element by element).
pub trait LinearMap: Sync + std::fmt::Debug {
    /// Elements per sample of the input.
    fn in_len(&self) -> usize;
    /// Elements per sample of the output.
    fn out_len(&self) -> usize;
    /// The layer's weight, flattened.
    fn weight_values(&self) -> &[f32];
    /// The bias, if any: one value per output channel.
    fn bias_values(&self) -> Option<&[f32]>;
    /// Number of output channels (features) and positions per channel.
    fn out_channels(&self) -> (usize, usize);
    /// Number of input channels and elements per channel (for per-channel input bounds).
    fn in_channels(&self) -> (usize, usize);
    /// Number of groups (1 for dense layers).
    fn groups(&self) -> usize {
        1
    }
    /// The paper's flat weight: `1/(k_h k_w)` for a convolution, `1/K` for a dense layer.
    fn paper_flat(&self) -> f32;
    /// `out = F(x, w) + bias` for `n` samples (overwrites `out`).
    fn forward(&self, x: &[f32], n: usize, w: &[f32], bias: Option<&[f32]>, out: &mut [f32]);
    /// `out = Fᵀ(s, w)` for `n` samples (overwrites `out`).
    fn transpose(&self, s: &[f32], n: usize, w: &[f32], out: &mut [f32]);
    /// The transpose of the layer with twice the output channels whose weight is `stacked`
    /// (per group `[W_a; W_b]`): `out = F_aᵀ(s_a) + F_bᵀ(s_b)` for `n` samples of stacked
    /// `s`.
    fn transpose_stacked(&self, s: &[f32], n: usize, stacked: &[f32], out: &mut [f32]);
    /// `out = Fᵀ(s, w)` for `n` samples when every weight equals `value` (the flat rules),
    /// without a GEMM. Overwrites `out`.
    fn transpose_uniform(&self, s: &[f32], n: usize, value: f32, out: &mut [f32]);
}

impl<T: LinearMap + ?Sized> LinearMap for &T {
    fn in_len(&self) -> usize {
        (**self).in_len()
    }
    fn out_len(&self) -> usize {
        (**self).out_len()
    }
    fn weight_values(&self) -> &[f32] {
        (**self).weight_values()
    }
    fn bias_values(&self) -> Option<&[f32]> {
        (**self).bias_values()
    }
    fn out_channels(&self) -> (usize, usize) {
        (**self).out_channels()
    }
    fn in_channels(&self) -> (usize, usize) {
        (**self).in_channels()
    }
    fn groups(&self) -> usize {
        (**self).groups()
    }
    fn paper_flat(&self) -> f32 {
        (**self).paper_flat()
    }
    fn forward(&self, x: &[f32], n: usize, w: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
        (**self).forward(x, n, w, bias, out)
    }
    fn transpose(&self, s: &[f32], n: usize, w: &[f32], out: &mut [f32]) {
        (**self).transpose(s, n, w, out)
    }
    fn transpose_stacked(&self, s: &[f32], n: usize, stacked: &[f32], out: &mut [f32]) {
        (**self).transpose_stacked(s, n, stacked, out)
    }
    fn transpose_uniform(&self, s: &[f32], n: usize, value: f32, out: &mut [f32]) {
        (**self).transpose_uniform(s, n, value, out)
    }
}

/// A layer's weight and optional bias as parameter buffers (for
/// [`Operator::params`](super::Operator::params)).
pub(crate) fn weight_and_bias<'a, D: ndarray::Dimension>(
    weight: &'a ndarray::Array<f32, D>,
    bias: Option<&'a ndarray::Array1<f32>>,
) -> Vec<&'a [f32]> {
    let mut out: Vec<&[f32]> = weight.as_slice().into_iter().collect();
    out.extend(bias.and_then(|b| b.as_slice()));
    out
}

/// [`weight_and_bias`], mutable.
pub(crate) fn weight_and_bias_mut<'a, D: ndarray::Dimension>(
    weight: &'a mut ndarray::Array<f32, D>,
    bias: Option<&'a mut ndarray::Array1<f32>>,
) -> Vec<&'a mut [f32]> {
    let mut out: Vec<&mut [f32]> = weight.as_slice_mut().into_iter().collect();
    out.extend(bias.and_then(|b| b.as_slice_mut()));
    out
}
