//! SiLU (sigmoid-weighted linear unit, swish), `y = x · σ(x) = x / (1 + e^{−x})`,
//! element-wise; any shape.
//!
//! No parameters. EfficientNet's and RegNetY's activation; PyTorch exports `nn.SiLU` to ONNX as
//! `Mul(x, Sigmoid(x))`, which the ONNX importer fuses into this operator. `y → 0` for
//! `x → −∞` (the minimum is about −0.278 at x ≈ −1.278) and `y → x` for `x → +∞`.
//!
//! Relevance passes through unchanged (`R_in = R_out`, the rule every preset gives
//! activations): the sigmoid gate is computed from the same value it multiplies, so SiLU is
//! one element-wise function of one input, and LRP attributes relevance at the linear layers
//! around it.
//!
//! ```
//! use lrp::ops::silu::silu;
//! use ndarray::{ArrayD, IxDyn};
//! let x = ArrayD::from_shape_vec(IxDyn(&[1, 3]), vec![0.0, 2.0, -200.0]).unwrap();
//! let y = silu(&x);
//! assert_eq!(y[[0, 0]], 0.0);
//! assert!((y[[0, 1]] - 1.761_594_2).abs() < 1e-6); // 2·σ(2)
//! assert_eq!(y[[0, 2]], 0.0);
//! ```

use super::Tensor;

/// `x / (1 + e^{−x})` element-wise (−0 for very negative `x`; NaN stays NaN).
pub fn silu(x: &Tensor) -> Tensor {
    crate::kernels::elementwise::map(x, |v| v / (1.0 + (-v).exp()))
}

pass_through!(
    /// The SiLU operator (no parameters).
    Silu,
    "Silu",
    Activation,
    silu,
    |x: f32| {
        let s = 1.0 / (1.0 + (-x).exp());
        s * (1.0 + x * (1.0 - s))
    }
);

#[cfg(test)]
mod tests {
    use crate::ops::testutil::assert_activation;
    use crate::ops::Op;

    #[test]
    fn matches_the_closed_form_in_f64_and_passes_relevance() {
        assert_activation(Op::Silu, |v| v / (1.0 + (-v).exp()), 20.0, 1e-6);
    }
}
