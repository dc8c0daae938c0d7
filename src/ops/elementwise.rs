//! Element-wise sum of two or more inputs of identical shape (Caffe `Eltwise` `SUM` with unit
//! coefficients, ONNX `Add`/`Sum` of data tensors without broadcasting). Products are in
//! [`super::mul`].
//!
//! `y = x_0 + x_1 + … + x_{m−1}`, element by element.
//!
//! Shapes: every input has the same per-sample shape, which is also the output's.
//!
//! ```
//! use lrp::ops::elementwise;
//! use ndarray::{ArrayD, IxDyn};
//! let a = ArrayD::from_shape_vec(IxDyn(&[1, 3]), vec![1.0, 2.0, 3.0]).unwrap();
//! let b = ArrayD::from_shape_vec(IxDyn(&[1, 3]), vec![4.0, 5.0, -6.0]).unwrap();
//! assert_eq!(elementwise::add(&[&a, &b, &a]).as_slice().unwrap(), &[6.0, 9.0, 0.0]);
//! ```

use super::{Arity, Category, Operator, Route, RouteCtx, Tensor};
use crate::error::{Error, NodeRef, Result};

/// Validate that all (at least two) per-sample input shapes are identical and return it.
pub fn output_shape(node: &NodeRef, inputs: &[&[usize]]) -> Result<Vec<usize>> {
    if inputs.len() < 2 {
        return Err(Error::shape(
            node,
            format!("takes at least 2 inputs, got {}", inputs.len()),
        ));
    }
    let first = inputs[0];
    for (i, s) in inputs.iter().enumerate().skip(1) {
        if *s != first {
            return Err(Error::shape(
                node,
                format!("input {i} has shape {s:?} but input 0 has {first:?}; shapes must be identical (no broadcasting)"),
            ));
        }
    }
    Ok(first.to_vec())
}

/// Element-wise sum of inputs validated by [`output_shape`].
pub fn add(inputs: &[&Tensor]) -> Tensor {
    let mut y = inputs[0].as_standard_layout().into_owned();
    for t in &inputs[1..] {
        y += *t;
    }
    y
}

/// LRP through an element-wise sum `y = Σ_k a_k`: proportional split
/// `R_{a_k} = a_k / s(Σ_k' a_k') · R_y` (Zennit's Norm rule), with `s(z) = z + ε·sign(z)`.
///
/// `inputs` are the summands for `n` images, each `n·per` values (`per` = elements per
/// sample); `r` holds `n·k` relevance tensors of `per` values (`k` maps per image). Returns
/// one buffer of `n·k·per` values per input. Conserves relevance up to ε.
pub fn add_relevance(
    inputs: &[&[f32]],
    per: usize,
    r: &[f32],
    k: usize,
    stabilizer: f32,
) -> Vec<Vec<f32>> {
    let ratio = crate::kernels::Stabilized(stabilizer);
    let per = per.max(1);
    let mut factor = vec![0f32; r.len()];
    for (m, (fm, rm)) in factor.chunks_mut(per).zip(r.chunks(per)).enumerate() {
        let at = (m / k.max(1)) * per;
        for (j, (f, &rv)) in fm.iter_mut().zip(rm).enumerate() {
            let sum: f32 = inputs.iter().map(|a| a[at + j]).sum();
            *f = ratio.apply(rv, sum);
        }
    }
    inputs
        .iter()
        .map(|a| {
            let mut out = factor.clone();
            for (m, om) in out.chunks_mut(per).enumerate() {
                let at = (m / k.max(1)) * per;
                om.iter_mut()
                    .zip(&a[at..at + per])
                    .for_each(|(o, &x)| *o *= x);
            }
            out
        })
        .collect()
}

/// The element-wise sum of two or more inputs (no parameters).
#[derive(Debug, Clone, Copy)]
pub struct Add;

impl Operator for Add {
    type Params = ();
    const KIND: &'static str = "Add";
    const CATEGORY: Category = Category::Sum;
    const ARITY: Arity = Arity::AtLeast(2);
    const ROUTES: &'static [Route] = &[Route::Proportional, Route::Gradient];

    fn output_shape(_: &(), node: &NodeRef, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        output_shape(node, inputs)
    }

    fn forward(_: &(), inputs: &[&Tensor]) -> Tensor {
        add(inputs)
    }

    fn route(_: &(), route: Route, ctx: &RouteCtx<'_>, r: Vec<f32>) -> Vec<Vec<f32>> {
        if route == Route::Gradient {
            // ∂y/∂x_a = 1 for every summand.
            return vec![r; ctx.inputs.len()];
        }
        let xs: Vec<&[f32]> = (0..ctx.inputs.len()).map(|i| ctx.input(i)).collect();
        let per: usize = ctx.out_shape.iter().product();
        add_relevance(&xs, per, &r, ctx.k, ctx.stabilizer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::{assert_close, random};
    use ndarray::IxDyn;

    fn naive(inputs: &[&Tensor], f: fn(f64, f64) -> f64) -> Tensor {
        let mut y = Tensor::zeros(IxDyn(inputs[0].shape()));
        for (idx, out) in y.indexed_iter_mut() {
            let mut acc = inputs[0][&idx] as f64;
            for t in &inputs[1..] {
                acc = f(acc, t[&idx] as f64);
            }
            *out = acc as f32;
        }
        y
    }

    #[test]
    fn matches_naive_on_random_shapes() {
        let mut rng = crate::zoo::rng::Rng::new(41);
        for t in 0..20 {
            let rank = 1 + rng.below(4);
            let shape: Vec<usize> = (0..rank).map(|_| 1 + rng.below(6)).collect();
            let m = 2 + rng.below(3);
            let xs: Vec<Tensor> = (0..m).map(|i| random(&shape, t * 10 + i as u64)).collect();
            let refs: Vec<&Tensor> = xs.iter().collect();
            let per_sample: Vec<&[usize]> = xs.iter().map(|x| &x.shape()[1..]).collect();
            let node = NodeRef::new("sum", "Add");
            assert_eq!(
                output_shape(&node, &per_sample).unwrap(),
                shape[1..].to_vec()
            );
            assert_close(&add(&refs), &naive(&refs, |a, b| a + b), 1e-5);
        }
    }

    #[test]
    fn shape_mismatch_names_the_node_and_both_shapes() {
        let node = NodeRef::new("res2a", "Add");
        let msg = output_shape(&node, &[&[64, 8, 8], &[64, 8, 8], &[32, 8, 8]])
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("res2a") && msg.contains("[32, 8, 8]") && msg.contains("[64, 8, 8]"),
            "{msg}"
        );
        let msg = output_shape(&node, &[&[4]]).unwrap_err().to_string();
        assert!(msg.contains("res2a") && msg.contains("at least 2"), "{msg}");
    }
}
