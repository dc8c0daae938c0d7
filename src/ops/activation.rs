//! Rectified linear unit, `y = max(x, 0)`, element-wise; any shape.
//!
//! ```
//! use lrp::ops::activation::relu;
//! use ndarray::{ArrayD, IxDyn};
//! let x = ArrayD::from_shape_vec(IxDyn(&[1, 3]), vec![-1.0, 0.0, 2.5]).unwrap();
//! assert_eq!(relu(&x).as_slice().unwrap(), &[0.0, 0.0, 2.5]);
//! ```

use super::{Category, Operator, Route, RouteCtx, Tensor};
use crate::error::{NodeRef, Result};

/// `max(x, 0)` element-wise. NaN stays NaN.
pub fn relu(x: &Tensor) -> Tensor {
    x.mapv(|v| if v < 0.0 { 0.0 } else { v })
}

/// The ReLU operator (no parameters); relevance passes through it unchanged.
///
/// Its gradient ([`Route::Gradient`]) is `g · 1[x > 0]` (torch's `threshold_backward`);
/// guided backpropagation's ([`Route::Guided`]) also drops negative incoming gradients,
/// `max(g, 0) · 1[x > 0]`.
#[derive(Debug, Clone, Copy)]
pub struct Relu;

impl Operator for Relu {
    type Params = ();
    const KIND: &'static str = "Relu";
    const CATEGORY: Category = Category::Activation;
    const ROUTES: &'static [Route] = &[Route::Pass, Route::Gradient, Route::Guided];

    fn output_shape(_: &(), _node: &NodeRef, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        Ok(inputs[0].to_vec())
    }

    fn forward(_: &(), inputs: &[&Tensor]) -> Tensor {
        relu(inputs[0])
    }

    fn route(_: &(), route: Route, ctx: &RouteCtx<'_>, r: Vec<f32>) -> Vec<Vec<f32>> {
        match route {
            Route::Gradient => super::elementwise_gradient(ctx, r, |x| f32::from(x > 0.0)),
            Route::Guided => guided(ctx, r),
            _ => vec![r],
        }
    }
}

/// Guided backpropagation through a ReLU: `max(g, 0) · 1[x > 0]`.
fn guided(ctx: &RouteCtx<'_>, mut g: Vec<f32>) -> Vec<Vec<f32>> {
    g.iter_mut().for_each(|v| *v = v.max(0.0));
    super::elementwise_gradient(ctx, g, |x| f32::from(x > 0.0))
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

    #[test]
    fn is_an_activation_that_passes_relevance() {
        crate::ops::testutil::assert_activation(super::super::Op::Relu, |v| v.max(0.0), 1.0, 0.0);
    }
}
