//! ELU (exponential linear unit), `y = x` for `x ≥ 0` and `y = α·(e^x − 1)` for `x < 0`,
//! element-wise; any shape.
//!
//! Parameter: `α` (default 1, as in ONNX and Caffe). The negative part is computed with
//! `exp_m1`, accurate for small `|x|`.
//!
//! Relevance passes through unchanged (`R_in = R_out`, the rule every preset gives
//! activations): for `α ≥ 0` it is a monotone element-wise function of one input, and LRP
//! attributes relevance at the linear layers around it.
//!
//! ```
//! use lrp::ops::elu::Elu;
//! use ndarray::{ArrayD, IxDyn};
//! let x = ArrayD::from_shape_vec(IxDyn(&[1, 3]), vec![-1.0, 0.0, 2.0]).unwrap();
//! let y = Elu::new(2.0).forward(&x);
//! assert!((y[[0, 0]] + 2.0 * (1.0 - (-1f32).exp())).abs() < 1e-6);
//! assert_eq!((y[[0, 1]], y[[0, 2]]), (0.0, 2.0));
//! ```

use super::Tensor;
use crate::error::{NodeRef, Result};

/// Parameters of the ELU: the scale `α` of the negative part.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Elu {
    /// Scale `α` of `e^x − 1` for `x < 0`.
    pub alpha: f32,
}

impl Default for Elu {
    /// `α = 1` (ONNX's and Caffe's default).
    fn default() -> Self {
        Elu { alpha: 1.0 }
    }
}

impl Elu {
    /// ELU with scale `alpha`.
    pub fn new(alpha: f32) -> Self {
        Elu { alpha }
    }

    /// Validate `α` (finite); the output has the input's shape.
    pub fn output_shape(&self, node: &NodeRef, input: &[usize]) -> Result<Vec<usize>> {
        super::finite_params_same_shape(node, &[("alpha", self.alpha)], input)
    }

    /// `x` for `x ≥ 0`, `α·(e^x − 1)` otherwise (NaN stays NaN).
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let a = self.alpha;
        crate::kernels::elementwise::map(x, |v| if v < 0.0 { a * v.exp_m1() } else { v })
    }
}

impl Elu {
    /// `f'(x)`: 1 for `x > 0`, `α·eˣ` otherwise (torch's `elu_backward`).
    pub fn derivative(&self, x: f32) -> f32 {
        if x > 0.0 {
            1.0
        } else {
            self.alpha * x.exp()
        }
    }
}

pass_through!(params Elu, "Elu", Activation, Elu::derivative);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::assert_activation;
    use crate::ops::Op;

    #[test]
    fn matches_the_closed_form_in_f64_and_passes_relevance() {
        let f: fn(f64) -> f64 = |v| if v < 0.0 { v.exp_m1() } else { v };
        assert_activation(Op::Elu(Elu::default()), f, 5.0, 3e-7);
        let f: fn(f64) -> f64 = |v| if v < 0.0 { 0.5 * v.exp_m1() } else { v };
        assert_activation(Op::Elu(Elu::new(0.5)), f, 20.0, 3e-7);
        let node = NodeRef::new("elu", "Elu");
        assert!(Elu::new(f32::INFINITY).output_shape(&node, &[1]).is_err());
    }
}
