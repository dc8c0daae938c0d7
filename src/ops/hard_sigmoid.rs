//! Hard sigmoid, `y = max(0, min(1, α·x + β))`, element-wise; any shape.
//!
//! Parameters: slope `α` and offset `β` (ONNX's defaults are `α = 0.2`, `β = 0.5`; PyTorch's
//! `nn.Hardsigmoid` is `α = 1/6`, `β = 0.5`, the gate of [`HardSwish`](super::hard_swish)).
//!
//! Relevance passes through unchanged (`R_in = R_out`, the rule every preset gives
//! activations): like the sigmoid it approximates, it is a monotone element-wise function,
//! and LRP attributes relevance at the linear layers around it.
//!
//! ```
//! use lrp::ops::hard_sigmoid::HardSigmoid;
//! use ndarray::{ArrayD, IxDyn};
//! let x = ArrayD::from_shape_vec(IxDyn(&[1, 4]), vec![-5.0, 0.0, 1.0, 5.0]).unwrap();
//! let y = HardSigmoid::default().forward(&x);
//! assert_eq!(y.as_slice().unwrap(), &[0.0, 0.5, 0.7, 1.0]);
//! ```

use super::Tensor;
use crate::error::{NodeRef, Result};

/// Parameters of the hard sigmoid: `y = max(0, min(1, alpha·x + beta))`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HardSigmoid {
    /// Slope `α`.
    pub alpha: f32,
    /// Offset `β`.
    pub beta: f32,
}

impl Default for HardSigmoid {
    /// ONNX's defaults, `α = 0.2`, `β = 0.5`.
    fn default() -> Self {
        HardSigmoid {
            alpha: 0.2,
            beta: 0.5,
        }
    }
}

/// `max(0, min(1, alpha·v + beta))` (NaN stays NaN).
pub(crate) fn hard_sigmoid(v: f32, alpha: f32, beta: f32) -> f32 {
    let z = alpha * v + beta;
    let z = if z < 0.0 { 0.0 } else { z };
    if z > 1.0 {
        1.0
    } else {
        z
    }
}

impl HardSigmoid {
    /// The hard sigmoid with slope `alpha` and offset `beta`.
    pub fn new(alpha: f32, beta: f32) -> Self {
        HardSigmoid { alpha, beta }
    }

    /// Validate the parameters (finite); the output has the input's shape.
    pub fn output_shape(&self, node: &NodeRef, input: &[usize]) -> Result<Vec<usize>> {
        super::finite_params_same_shape(node, &[("alpha", self.alpha), ("beta", self.beta)], input)
    }

    /// `max(0, min(1, α·x + β))` element-wise.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let (a, b) = (self.alpha, self.beta);
        x.mapv(|v| hard_sigmoid(v, a, b))
    }
}

impl HardSigmoid {
    /// `f'(x)`: `α` where `0 < αx + β < 1`, 0 elsewhere (torch's `hardsigmoid_backward`).
    pub fn derivative(&self, x: f32) -> f32 {
        let z = self.alpha * x + self.beta;
        if z > 0.0 && z < 1.0 {
            self.alpha
        } else {
            0.0
        }
    }
}

pass_through!(params HardSigmoid, "HardSigmoid", Activation, HardSigmoid::derivative);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::assert_activation_near;
    use crate::ops::Op;

    #[test]
    fn matches_the_closed_form_in_f64_and_passes_relevance() {
        // f32 rounds α·x + β once or twice: absolute error below 2 ulp of 1.
        assert_activation_near(
            Op::HardSigmoid(HardSigmoid::default()),
            |v| (0.2 * v + 0.5).clamp(0.0, 1.0),
            4.0,
            0.0,
            2.5e-7,
        );
        assert_activation_near(
            Op::HardSigmoid(HardSigmoid::new(0.3, -0.1)),
            |v| (0.3 * v - 0.1).clamp(0.0, 1.0),
            5.0,
            0.0,
            2.5e-7,
        );
    }

    #[test]
    fn infinite_parameters_are_rejected() {
        let node = NodeRef::new("hs", "HardSigmoid");
        assert!(HardSigmoid::new(f32::INFINITY, 0.5)
            .output_shape(&node, &[2])
            .is_err());
        assert_eq!(
            HardSigmoid::default().output_shape(&node, &[2, 3]).unwrap(),
            [2, 3]
        );
    }
}
