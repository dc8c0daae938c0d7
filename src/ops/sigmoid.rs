//! Logistic sigmoid, `y = 1 / (1 + e^{−x})`, element-wise; any shape.
//!
//! Relevance passes through unchanged (`R_in = R_out`, the rule every preset gives
//! activations): like ReLU, the sigmoid is a monotone element-wise function, and LRP
//! attributes to the linear layers around it.
//!
//! ```
//! use lrp::ops::sigmoid::sigmoid;
//! use ndarray::{ArrayD, IxDyn};
//! let x = ArrayD::from_shape_vec(IxDyn(&[1, 3]), vec![0.0, 2.0, -2.0]).unwrap();
//! let y = sigmoid(&x);
//! assert_eq!(y[[0, 0]], 0.5);
//! assert!((y[[0, 1]] - 0.880_797_1).abs() < 1e-6);
//! assert!((y[[0, 1]] + y[[0, 2]] - 1.0).abs() < 1e-6);
//! ```

use super::Tensor;

/// `1 / (1 + e^{−x})` element-wise (0 and 1 in the limits; NaN stays NaN).
pub fn sigmoid(x: &Tensor) -> Tensor {
    crate::kernels::elementwise::map(x, |v| 1.0 / (1.0 + (-v).exp()))
}

pass_through!(
    /// The sigmoid operator (no parameters).
    Sigmoid,
    "Sigmoid",
    Activation,
    sigmoid,
    |x: f32| {
        let s = 1.0 / (1.0 + (-x).exp());
        s * (1.0 - s)
    }
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::assert_activation;
    use crate::ops::Op;

    #[test]
    fn matches_the_closed_form_in_f64_and_passes_relevance() {
        assert_activation(Op::Sigmoid, |v| 1.0 / (1.0 + (-v).exp()), 20.0, 1e-6);
        let big = Tensor::from_shape_vec(ndarray::IxDyn(&[1, 2]), vec![-200.0, 200.0]).unwrap();
        assert_eq!(sigmoid(&big).as_slice().unwrap(), &[0.0, 1.0]);
    }
}
