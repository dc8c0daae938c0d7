//! Hard swish, `y = x · max(0, min(1, x/6 + 1/2))`, element-wise; any shape.
//!
//! ONNX's definition (`HardSwish`, opset 14): `x · HardSigmoid(x)` with `α = 1/6`, `β = 0.5`;
//! PyTorch's `nn.Hardswish`, `x · ReLU6(x + 3) / 6`, is the same function. MobileNetV3's
//! activation. No parameters. `y = 0` for `x ≤ −3`, `y = x` for `x ≥ 3`.
//!
//! Relevance passes through unchanged (`R_in = R_out`, the rule every preset gives
//! activations): the gate is computed from the same value it multiplies, so the whole is one
//! element-wise function of one input, and LRP attributes relevance at the linear layers
//! around it (issue 17 treats every such activation so; a gate computed from *another* tensor,
//! as in squeeze-and-excitation, is a product of two inputs, not this operator).
//!
//! ```
//! use lrp::ops::hard_swish::hard_swish;
//! use ndarray::{ArrayD, IxDyn};
//! let x = ArrayD::from_shape_vec(IxDyn(&[1, 4]), vec![-4.0, 0.0, 1.5, 3.0]).unwrap();
//! let y = hard_swish(&x);
//! assert_eq!(y.as_slice().unwrap(), &[-0.0, 0.0, 1.5 * 0.75, 3.0]);
//! ```

use super::hard_sigmoid::hard_sigmoid;
use super::Tensor;

/// `x · max(0, min(1, x/6 + 1/2))` element-wise (NaN stays NaN).
pub fn hard_swish(x: &Tensor) -> Tensor {
    x.mapv(|v| v * hard_sigmoid(v, 1.0 / 6.0, 0.5))
}

pass_through!(
    /// The hard swish operator (no parameters).
    HardSwish,
    "HardSwish",
    Activation,
    hard_swish,
    // As torch's `hardswish_backward`: 0 below −3, x/3 + 1/2 up to 3, 1 above.
    |x: f32| if x < -3.0 {
        0.0
    } else if x <= 3.0 {
        x / 3.0 + 0.5
    } else {
        1.0
    }
);

#[cfg(test)]
mod tests {
    use crate::ops::testutil::assert_activation_near;
    use crate::ops::Op;

    #[test]
    fn matches_the_closed_form_in_f64_and_passes_relevance() {
        // The gate x/6 + 1/2 cancels near x = −3: its f32 error (≤ 2 ulp of 1) times |x|.
        assert_activation_near(
            Op::HardSwish,
            |v| v * (v / 6.0 + 0.5).clamp(0.0, 1.0),
            5.0,
            1e-6,
            1e-6,
        );
    }
}
