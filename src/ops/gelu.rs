//! GELU (Gaussian error linear unit), `y = x · Φ(x)`, element-wise; any shape.
//!
//! Parameter: the form, [`GeluApprox`]:
//!
//! - `Erf` (exact): `y = ½ · x · (1 + erf(x/√2))`;
//! - `Tanh`: `y = ½ · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³)))`.
//!
//! ONNX's `Gelu` (opset 20, attribute `approximate` = `"none"` | `"tanh"`) and PyTorch's
//! `nn.GELU(approximate=…)`; ConvNeXt's activation. Both forms are evaluated in f64 and
//! rounded once, in a form without cancellation for negative `x`: `1 + erf(z) = erfc(−z)`
//! (with `erfc` from the `libm` crate, musl's implementation) and `½(1 + tanh(u)) =
//! 1 / (1 + e^{−2u})`; so every output is accurate to float32 precision, also far in the
//! negative tail where `y` is tiny.
//!
//! Relevance passes through unchanged (`R_in = R_out`, the rule every preset gives
//! activations): GELU is one element-wise function of one input, and LRP attributes relevance
//! at the linear layers around it.
//!
//! ```
//! use lrp::ops::gelu::{Gelu, GeluApprox};
//! use ndarray::{ArrayD, IxDyn};
//! let x = ArrayD::from_shape_vec(IxDyn(&[1, 3]), vec![0.0, 1.0, -2.0]).unwrap();
//! let y = Gelu::new(GeluApprox::Erf).forward(&x);
//! // ½·x·(1 + erf(x/√2)) with erf(1/√2) = 0.682689492…, erf(√2) = 0.954499736…
//! assert_eq!(y[[0, 0]], 0.0);
//! assert!((y[[0, 1]] - 0.841_344_75).abs() < 1e-7);
//! assert!((y[[0, 2]] + 0.045_500_26).abs() < 1e-8);
//! let t = Gelu::new(GeluApprox::Tanh).forward(&x);
//! assert!((t[[0, 1]] - 0.841_191_95).abs() < 1e-7);
//! ```

use super::Tensor;
use crate::error::{NodeRef, Result};

/// Which form of GELU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GeluApprox {
    /// The exact form with the error function (ONNX `approximate = "none"`).
    #[default]
    Erf,
    /// The tanh approximation (ONNX `approximate = "tanh"`).
    Tanh,
}

/// Parameters of GELU: its form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Gelu {
    /// Exact (erf) or tanh approximation.
    pub approximate: GeluApprox,
}

/// `√(2/π)`.
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;

/// Exact GELU of one value, in f64: `½·x·erfc(−x/√2)`.
pub(crate) fn gelu_erf(x: f64) -> f64 {
    0.5 * x * libm::erfc(-x * std::f64::consts::FRAC_1_SQRT_2)
}

/// Tanh-form GELU of one value, in f64: `x / (1 + e^{−2u})`, `u = √(2/π)(x + 0.044715x³)`.
pub(crate) fn gelu_tanh(x: f64) -> f64 {
    let u = SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x);
    x / (1.0 + (-2.0 * u).exp())
}

impl Gelu {
    /// GELU in the given form.
    pub fn new(approximate: GeluApprox) -> Self {
        Gelu { approximate }
    }

    /// The output has the input's shape.
    pub fn output_shape(&self, _node: &NodeRef, input: &[usize]) -> Result<Vec<usize>> {
        Ok(input.to_vec())
    }

    /// GELU element-wise (NaN stays NaN; `±∞` give `0` and `+∞`).
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let f = match self.approximate {
            GeluApprox::Erf => gelu_erf,
            GeluApprox::Tanh => gelu_tanh,
        };
        crate::kernels::elementwise::map(x, |v| {
            if v == f32::NEG_INFINITY {
                // x·Φ(x) → 0; the product −∞·0 would be NaN.
                -0.0
            } else {
                f(v as f64) as f32
            }
        })
    }
}

/// `d/dx x·Φ(x) = Φ(x) + x·φ(x)`, in f64.
pub(crate) fn gelu_erf_derivative(x: f64) -> f64 {
    let phi = (-0.5 * x * x).exp() * 0.398_942_280_401_432_7; // 1/√(2π)
    0.5 * libm::erfc(-x * std::f64::consts::FRAC_1_SQRT_2) + x * phi
}

/// The derivative of the tanh approximation, `½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715x²)`
/// with `t = tanh(√(2/π)(x + 0.044715x³))` (torch's `gelu_backward`, approximate="tanh").
pub(crate) fn gelu_tanh_derivative(x: f64) -> f64 {
    let u = SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x);
    let t = u.tanh();
    0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044_715 * x * x)
}

impl Gelu {
    /// `f'(x)` of the exact or the tanh form, computed in f64.
    pub fn derivative(&self, x: f32) -> f32 {
        if !x.is_finite() {
            return if x > 0.0 { 1.0 } else { 0.0 };
        }
        match self.approximate {
            GeluApprox::Erf => gelu_erf_derivative(x as f64) as f32,
            GeluApprox::Tanh => gelu_tanh_derivative(x as f64) as f32,
        }
    }
}

pass_through!(params Gelu, "Gelu", Activation, Gelu::derivative);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::assert_activation;
    use crate::ops::Op;

    /// erf in f64 written independently of `libm`: its Maclaurin series for |z| ≤ 2.5 and
    /// the continued fraction of erfc beyond (each accurate to about 1e-13 there).
    fn erf_reference(z: f64) -> f64 {
        let a = z.abs();
        let r = if a <= 2.5 {
            let (mut term, mut sum, mut n) = (a, a, 0.0);
            while term.abs() > 1e-17 * sum.abs() {
                n += 1.0;
                term *= -a * a / n;
                sum += term / (2.0 * n + 1.0);
            }
            2.0 / std::f64::consts::PI.sqrt() * sum
        } else {
            // erfc(a) = e^{−a²}/√π · 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + 2/(a + …))))).
            let mut f = a;
            for k in (1..200).rev() {
                f = a + (k as f64 / 2.0) / f;
            }
            1.0 - (-a * a).exp() / std::f64::consts::PI.sqrt() / f
        };
        r.copysign(z)
    }

    #[test]
    fn the_reference_erf_agrees_with_tabulated_values() {
        // Abramowitz & Stegun, table 7.1.
        for (z, want) in [
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (2.0, 0.995_322_265_018_952_7),
            (3.0, 0.999_977_909_503_001_4),
        ] {
            assert!((erf_reference(z) - want).abs() < 1e-13, "erf({z})");
        }
    }

    #[test]
    fn erf_form_matches_the_closed_form_in_f64_and_passes_relevance() {
        // Relative error of the f32 output against the f64 closed form (with the series erf)
        // stays at float32 rounding, down to x = −8 where y ≈ −5e-15.
        let f: fn(f64) -> f64 = |v| 0.5 * v * (1.0 + erf_reference(v / 2f64.sqrt()));
        assert_activation(Op::Gelu(Gelu::new(GeluApprox::Erf)), f, 4.0, 2e-7);
        let x = Tensor::from_shape_vec(ndarray::IxDyn(&[1, 3]), vec![-8.0, -6.0, -4.0]).unwrap();
        let y = Gelu::new(GeluApprox::Erf).forward(&x);
        for (v, y) in x.iter().zip(y.iter()) {
            // erfc in the far tail: ½·x·erfc(|x|/√2), from erfc's continued fraction.
            let v = *v as f64;
            let mut c = v.abs() / 2f64.sqrt();
            let a = c;
            for k in (1..200).rev() {
                c = a + (k as f64 / 2.0) / c;
            }
            let want = 0.5 * v * (-a * a).exp() / std::f64::consts::PI.sqrt() / c;
            assert!(
                ((*y as f64) - want).abs() <= 2e-7 * want.abs(),
                "{v}: {y} vs {want}"
            );
        }
    }

    #[test]
    fn tanh_form_matches_the_closed_form_in_f64_and_passes_relevance() {
        let f: fn(f64) -> f64 = |v| {
            0.5 * v
                * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (v + 0.044715 * v.powi(3))).tanh())
        };
        // Near zero the two f64 forms differ by rounding only; far left, 1 + tanh cancels in
        // the reference itself, so the comparison stops at |x| ≤ 4.
        assert_activation(Op::Gelu(Gelu::new(GeluApprox::Tanh)), f, 4.0, 1e-6);
    }

    #[test]
    fn infinities() {
        let x = Tensor::from_shape_vec(
            ndarray::IxDyn(&[1, 2]),
            vec![f32::NEG_INFINITY, f32::INFINITY],
        )
        .unwrap();
        for form in [GeluApprox::Erf, GeluApprox::Tanh] {
            let y = Gelu::new(form).forward(&x);
            assert_eq!(y.as_slice().unwrap(), &[0.0, f32::INFINITY]);
        }
    }
}
