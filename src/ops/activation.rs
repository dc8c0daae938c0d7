//! Rectified linear unit, `y = max(x, 0)`, element-wise; any shape.
//!
//! ```
//! use lrp::ops::activation::relu;
//! use ndarray::{ArrayD, IxDyn};
//! let x = ArrayD::from_shape_vec(IxDyn(&[1, 3]), vec![-1.0, 0.0, 2.5]).unwrap();
//! assert_eq!(relu(&x).as_slice().unwrap(), &[0.0, 0.0, 2.5]);
//! ```

use super::Tensor;

/// `max(x, 0)` element-wise. NaN stays NaN.
pub fn relu(x: &Tensor) -> Tensor {
    x.mapv(|v| if v < 0.0 { 0.0 } else { v })
}

pass_through!(
    /// The ReLU operator (no parameters); relevance passes through it unchanged.
    Relu,
    "Relu",
    Activation,
    relu
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::random;

    #[test]
    fn matches_naive() {
        let x = random(&[2, 3, 4, 5], 3);
        let y = relu(&x);
        for (a, b) in x.iter().zip(y.iter()) {
            assert_eq!(*b, if *a > 0.0 { *a } else { 0.0 });
        }
    }

    #[test]
    fn is_an_activation_that_passes_relevance() {
        crate::ops::testutil::assert_activation(super::super::Op::Relu, |v| v.max(0.0), 1.0, 0.0);
    }
}
