//! Rectified linear unit, `y = max(x, 0)`, element-wise; any shape.
//!
//! ```
//! use lrp::ops::activation::relu;
//! use ndarray::{ArrayD, IxDyn};
//! let x = ArrayD::from_shape_vec(IxDyn(&[1, 3]), vec![-1.0, 0.0, 2.5]).unwrap();
//! assert_eq!(relu(&x).as_slice().unwrap(), &[0.0, 0.0, 2.5]);
//! ```

use super::{pass_on, Category, Operator, Route, RouteCtx, Tensor};
use crate::error::{NodeRef, Result};

/// `max(x, 0)` element-wise. NaN stays NaN.
pub fn relu(x: &Tensor) -> Tensor {
    x.mapv(|v| if v < 0.0 { 0.0 } else { v })
}

/// The ReLU operator (no parameters); relevance passes through it unchanged.
#[derive(Debug, Clone, Copy)]
pub struct Relu;

impl Operator for Relu {
    type Params = ();
    const KIND: &'static str = "Relu";
    const CATEGORY: Category = Category::Activation;
    const ROUTES: &'static [Route] = &[Route::Pass];

    fn output_shape(_: &(), _node: &NodeRef, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        Ok(inputs[0].to_vec())
    }

    fn forward(_: &(), inputs: &[&Tensor]) -> Tensor {
        relu(inputs[0])
    }

    fn route(_: &(), _route: Route, _ctx: &RouteCtx<'_>, r: Vec<f32>) -> Vec<Vec<f32>> {
        pass_on(r)
    }
}

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
}
