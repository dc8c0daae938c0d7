//! Hyperbolic tangent, `y = tanh(x)`, element-wise; any shape.
//!
//! Relevance passes through unchanged (`R_in = R_out`, the rule every preset gives
//! activations): like ReLU, tanh is a monotone element-wise function, and LRP attributes to
//! the linear layers around it.
//!
//! ```
//! use lrp::ops::tanh::tanh;
//! use ndarray::{ArrayD, IxDyn};
//! let x = ArrayD::from_shape_vec(IxDyn(&[1, 3]), vec![0.0, 1.0, -1.0]).unwrap();
//! let y = tanh(&x);
//! assert_eq!(y[[0, 0]], 0.0);
//! assert!((y[[0, 1]] - 0.761_594_2).abs() < 1e-6);
//! assert_eq!(y[[0, 2]], -y[[0, 1]]);
//! ```

use super::Tensor;

/// `tanh(x)` element-wise (±1 in the limits; NaN stays NaN).
pub fn tanh(x: &Tensor) -> Tensor {
    crate::kernels::elementwise::map(x, f32::tanh)
}

pass_through!(
    /// The tanh operator (no parameters).
    Tanh,
    "Tanh",
    Activation,
    tanh,
    |x: f32| {
        let t = x.tanh();
        1.0 - t * t
    }
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::assert_activation;
    use crate::ops::Op;

    #[test]
    fn matches_the_closed_form_in_f64_and_passes_relevance() {
        assert_activation(Op::Tanh, f64::tanh, 5.0, 1e-6);
        let big = Tensor::from_shape_vec(ndarray::IxDyn(&[1, 2]), vec![-50.0, 50.0]).unwrap();
        assert_eq!(tanh(&big).as_slice().unwrap(), &[-1.0, 1.0]);
    }
}
