//! Flatten and Reshape: change the per-sample shape, keep the row-major element order.
//!
//! Flatten: `[N, d_0, …, d_{r−1}] -> [N, ∏ d_i]` (Caffe `Flatten`, ONNX `Flatten` with
//! `axis = 1`). Reshape: `[N, …] -> [N, s_0, …, s_{q−1}]` for a fixed per-sample target shape
//! with the same number of elements (`-1`/`0` placeholders of ONNX are resolved by the
//! importer).
//!
//! ```
//! use lrp::ops::{shape::flatten, Reshape};
//! use ndarray::{ArrayD, IxDyn};
//! let x = ArrayD::from_shape_vec(IxDyn(&[2, 2, 1, 3]), (0..12).map(|v| v as f32).collect()).unwrap();
//! let f = flatten(&x);
//! assert_eq!(f.shape(), &[2, 6]);
//! assert_eq!(f.as_slice().unwrap()[6..], [6.0, 7.0, 8.0, 9.0, 10.0, 11.0]);
//! let r = Reshape::new(vec![3, 2]).forward(&x);
//! assert_eq!(r.shape(), &[2, 3, 2]);
//! assert_eq!(r[[1, 2, 0]], 10.0);
//! ```

use super::{pass_on, Category, Operator, Route, RouteCtx, Tensor};
use crate::error::{Error, NodeRef, Result};
use ndarray::IxDyn;

/// Reshape to a fixed per-sample shape.
#[derive(Debug, Clone)]
pub struct Reshape {
    /// Per-sample target shape.
    pub shape: Vec<usize>,
}

/// `x` with its per-sample part reshaped to `per_sample` (row-major order kept).
fn reshape_batch(x: &Tensor, per_sample: &[usize]) -> Tensor {
    let mut shape = Vec::with_capacity(per_sample.len() + 1);
    shape.push(x.shape()[0]);
    shape.extend_from_slice(per_sample);
    x.as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(&shape))
        .expect("element count checked by output_shape")
}

impl Reshape {
    /// Reshape to the per-sample `shape`.
    pub fn new(shape: Vec<usize>) -> Self {
        Reshape { shape }
    }

    /// Validate against a per-sample input shape (same element count) and return the target.
    pub fn output_shape(&self, node: &NodeRef, input: &[usize]) -> Result<Vec<usize>> {
        // Checked: the target comes from a file, and a product that wraps could match.
        let count = |s: &[usize]| s.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        let (have, want) = (count(input), count(&self.shape));
        let show = |n: Option<usize>| n.map_or_else(|| "too many".to_string(), |n| n.to_string());
        if have.is_none() || have != want {
            let (have, want) = (show(have), show(want));
            return Err(Error::shape(
                node,
                format!(
                    "cannot reshape {input:?} ({have} elements) to {:?} ({want} elements)",
                    self.shape
                ),
            ));
        }
        Ok(self.shape.clone())
    }

    /// Forward pass on `[N, …]` (validated by [`Reshape::output_shape`]).
    pub fn forward(&self, x: &Tensor) -> Tensor {
        reshape_batch(x, &self.shape)
    }
}

/// Flatten everything but the batch dimension: `[N, …] -> [N, ∏ …]`.
pub fn flatten(x: &Tensor) -> Tensor {
    let k: usize = x.shape()[1..].iter().product();
    reshape_batch(x, &[k])
}

pass_through!(params Reshape, "Reshape", Reshape);

/// The Flatten operator (no parameters).
#[derive(Debug, Clone, Copy)]
pub struct Flatten;

impl Operator for Flatten {
    type Params = ();
    const KIND: &'static str = "Flatten";
    const CATEGORY: Category = Category::Reshape;
    const ROUTES: &'static [Route] = &[Route::Pass, Route::Gradient];

    fn output_shape(_: &(), _node: &NodeRef, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        Ok(vec![inputs[0].iter().product()])
    }

    fn forward(_: &(), inputs: &[&Tensor]) -> Tensor {
        flatten(inputs[0])
    }

    fn route(_: &(), _route: Route, _ctx: &RouteCtx<'_>, r: Vec<f32>) -> Vec<Vec<f32>> {
        pass_on(r)
    }
}

pass_through!(
    /// Dropout: the identity at inference (canonisation removes it).
    Dropout,
    "Dropout",
    Reshape,
    Tensor::clone
);

pass_through!(
    /// The identity (canonisation removes it).
    Identity,
    "Identity",
    Reshape,
    Tensor::clone
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::random;

    /// Copy element by element in row-major order into the target shape.
    fn naive(x: &Tensor, per_sample: &[usize]) -> Tensor {
        let mut shape = vec![x.shape()[0]];
        shape.extend_from_slice(per_sample);
        let flat: Vec<f32> = x.iter().copied().collect();
        let mut y = Tensor::zeros(IxDyn(&shape));
        for (out, v) in y.iter_mut().zip(flat) {
            *out = v;
        }
        y
    }

    #[test]
    fn flatten_and_reshape_match_naive() {
        let mut rng = crate::zoo::rng::Rng::new(71);
        for t in 0..20 {
            let shape = [1 + rng.below(3), 1 + rng.below(4), 2, 1 + rng.below(4)];
            let x = random(&shape, t);
            let k: usize = shape[1..].iter().product();
            assert_eq!(flatten(&x), naive(&x, &[k]));
            let target = vec![2, k / 2];
            let r = Reshape::new(target.clone());
            assert_eq!(
                r.output_shape(&NodeRef::new("r", "Reshape"), &shape[1..])
                    .unwrap(),
                target
            );
            assert_eq!(r.forward(&x), naive(&x, &target));
        }
        // Non-standard layout input keeps the logical row-major order.
        let x = random(&[3, 4, 5], 99);
        let xt = x.clone().reversed_axes();
        assert_eq!(flatten(&xt), naive(&xt, &[12]));
    }

    #[test]
    fn element_count_mismatch_names_the_node() {
        let msg = Reshape::new(vec![5, 5])
            .output_shape(&NodeRef::new("reshape3", "Reshape"), &[3, 8])
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("reshape3") && msg.contains("24 elements") && msg.contains("25 elements"),
            "{msg}"
        );
    }
}
