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

/// Test helper: a [`LinearMap`] checked against an explicit matrix of the same map.
#[cfg(test)]
pub(crate) mod reference {
    use super::LinearMap;
    use crate::error::NodeRef;
    use crate::rules::{Convention, LinearPlan, Rule, RuleSpec};

    /// `s(z) = z + ε·sign(z)`, `sign(0) = +1`, in f64.
    fn stabilize(z: f64, eps: f64) -> f64 {
        z + if z >= 0.0 { eps } else { -eps }
    }

    /// Assert that `map` computes `a · x + b` and that the ε (ε = 0.01) and z⁺ rules
    /// (stabiliser 1e-6) prepared for it give, for one sample `x` and output relevance `r`,
    /// the closed forms written over the explicit matrix `a` (`out_len` rows of `in_len`
    /// weights, `a[j][i]` the weight of input `i` in output `j`) and the per-output bias `b`,
    /// in f64:
    ///
    /// - ε: `R_i = x_i Σ_j a_ji R_j / s(z_j)`, `z_j = Σ_i a_ji x_i + b_j`;
    /// - z⁺: `R_i = Σ_j R_j (x_i a_ji)⁺ / s(Σ_i' (x_i' a_ji')⁺ + b_j⁺)`.
    ///
    /// Tolerance: `rel` of the largest magnitude of each reference (float32 sums).
    pub fn check_rules(
        map: &dyn LinearMap,
        a: &[Vec<f64>],
        b: &[f64],
        x: &[f32],
        r: &[f32],
        rel: f64,
    ) {
        let (il, ol) = (map.in_len(), map.out_len());
        assert_eq!((a.len(), x.len(), r.len(), b.len()), (ol, il, ol, ol));
        let close = |what: &str, got: &[f32], want: &[f64]| {
            let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
            for (i, (g, w)) in got.iter().zip(want).enumerate() {
                assert!(
                    (*g as f64 - w).abs() <= rel * scale + 1e-12,
                    "{what}, element {i}: {g} vs closed form {w}"
                );
            }
        };
        let z: Vec<f64> = (0..ol)
            .map(|j| b[j] + (0..il).map(|i| a[j][i] * x[i] as f64).sum::<f64>())
            .collect();
        let mut zf = vec![0f32; ol];
        map.forward(x, 1, map.weight_values(), map.bias_values(), &mut zf);
        close("forward", &zf, &z);
        let node = NodeRef::new("layer", "Linear");
        let run = |rule: Rule| {
            let spec = RuleSpec::new(rule, Convention::Modern);
            let plan = LinearPlan::new(&node, map, spec).unwrap();
            plan.relevance(map, x, &zf, r, 1, 1)
        };
        let eps = 0.01;
        let want: Vec<f64> = (0..il)
            .map(|i| {
                x[i] as f64
                    * (0..ol)
                        .map(|j| a[j][i] * r[j] as f64 / stabilize(z[j], eps))
                        .sum::<f64>()
            })
            .collect();
        close(
            "epsilon",
            &run(Rule::Epsilon {
                epsilon: eps as f32,
            }),
            &want,
        );
        let zp: Vec<f64> = (0..ol)
            .map(|j| {
                b[j].max(0.0)
                    + (0..il)
                        .map(|i| (a[j][i] * x[i] as f64).max(0.0))
                        .sum::<f64>()
            })
            .collect();
        let want: Vec<f64> = (0..il)
            .map(|i| {
                (0..ol)
                    .map(|j| {
                        r[j] as f64 * (a[j][i] * x[i] as f64).max(0.0) / stabilize(zp[j], 1e-6)
                    })
                    .sum::<f64>()
            })
            .collect();
        close("zplus", &run(Rule::ZPlus), &want);
    }
}
