//! Leaky ReLU, `y = x` for `x ≥ 0` and `y = α·x` for `x < 0`, element-wise; any shape.
//!
//! Parameter: the slope `α` of the negative part (ONNX's default 0.01; Caffe's `ReLU` with
//! `negative_slope`). With `α = 0` it is ReLU.
//!
//! Relevance passes through unchanged (`R_in = R_out`, the rule every preset gives
//! activations): for `α ≥ 0` it is a monotone element-wise function of one input, and LRP
//! attributes relevance at the linear layers around it.
//!
//! ```
//! use lrp::ops::leaky_relu::LeakyRelu;
//! use ndarray::{ArrayD, IxDyn};
//! let x = ArrayD::from_shape_vec(IxDyn(&[1, 3]), vec![-2.0, 0.0, 3.0]).unwrap();
//! let y = LeakyRelu::new(0.25).forward(&x);
//! assert_eq!(y.as_slice().unwrap(), &[-0.5, 0.0, 3.0]);
//! ```

use super::Tensor;
use crate::error::{NodeRef, Result};

/// Parameters of the leaky ReLU: the negative slope.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeakyRelu {
    /// Slope `α` for `x < 0`.
    pub alpha: f32,
}

impl Default for LeakyRelu {
    /// ONNX's default, `α = 0.01`.
    fn default() -> Self {
        LeakyRelu { alpha: 0.01 }
    }
}

impl LeakyRelu {
    /// Leaky ReLU with negative slope `alpha`.
    pub fn new(alpha: f32) -> Self {
        LeakyRelu { alpha }
    }

    /// Validate the slope (finite); the output has the input's shape.
    pub fn output_shape(&self, node: &NodeRef, input: &[usize]) -> Result<Vec<usize>> {
        super::finite_params_same_shape(node, &[("alpha", self.alpha)], input)
    }

    /// `x` for `x ≥ 0`, `α·x` otherwise (NaN stays NaN).
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let a = self.alpha;
        x.mapv(|v| if v < 0.0 { a * v } else { v })
    }
}

impl LeakyRelu {
    /// `f'(x)`: 1 for `x > 0`, `α` otherwise (torch's `leaky_relu_backward`).
    pub fn derivative(&self, x: f32) -> f32 {
        if x > 0.0 {
            1.0
        } else {
            self.alpha
        }
    }
}

pass_through!(params LeakyRelu, "LeakyRelu", Activation, LeakyRelu::derivative);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::assert_activation;
    use crate::ops::Op;

    #[test]
    fn matches_the_closed_form_in_f64_and_passes_relevance() {
        let f: fn(f64) -> f64 = |v| if v < 0.0 { 0.01 * v } else { v };
        assert_activation(Op::LeakyRelu(LeakyRelu::default()), f, 3.0, 1e-7);
        let f: fn(f64) -> f64 = |v| if v < 0.0 { -0.5 * v } else { v };
        assert_activation(Op::LeakyRelu(LeakyRelu::new(-0.5)), f, 3.0, 0.0);
        let node = NodeRef::new("leaky", "LeakyRelu");
        assert!(LeakyRelu::new(f32::NAN).output_shape(&node, &[1]).is_err());
    }
}
