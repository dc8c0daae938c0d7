//! Concatenation of data with constant blocks along one per-sample axis: the class token of a
//! vision transformer (`torch.cat([cls_token.expand(N, -1, -1), x], dim=1)`; ONNX `Concat` with
//! a constant input).
//!
//! `y = concat(p_0, …, p_{m−1})` along `axis`, where each part `p_i` is either the next data
//! input or a constant per-sample tensor repeated for every sample of the batch.
//!
//! Shapes: data inputs `[N, …]` and constants `[…]` (per sample) that agree on every axis
//! except `axis`; the output has the sum of their sizes along `axis`.
//!
//! ## Relevance
//! Like [`Concat`], the relevance is sliced back to the parts; the constants'
//! slices are dropped, as a bias absorbs its share (in LXT's gradient×input frame the class
//! token is a parameter, so its relevance is not part of the input relevance either).
//!
//! ```
//! use lrp::ops::const_concat::ConstConcat;
//! use ndarray::{ArrayD, IxDyn};
//! let token = ArrayD::from_shape_vec(IxDyn(&[1, 2]), vec![9.0, 8.0]).unwrap();
//! let cat = ConstConcat::new(0, vec![Some(token), None]);
//! // Two samples of two tokens each: the class token goes first in both.
//! let x = ArrayD::from_shape_vec(IxDyn(&[2, 2, 2]), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 0.0]).unwrap();
//! let y = cat.forward(&[&x]);
//! assert_eq!(y.shape(), &[2, 3, 2]);
//! assert_eq!(y.as_slice().unwrap(), &[9.0, 8.0, 1.0, 2.0, 3.0, 4.0, 9.0, 8.0, 5.0, 6.0, 7.0, 0.0]);
//! // Relevance: the data rows come back, the token's share is dropped.
//! let r: Vec<f32> = (0..12).map(|v| v as f32).collect();
//! let back = cat.split_relevance(&r, 2, &[3, 2], &[&[2, 2]]);
//! assert_eq!(back, vec![vec![2.0, 3.0, 4.0, 5.0, 8.0, 9.0, 10.0, 11.0]]);
//! ```

use super::{Arity, Category, Concat, Operator, Route, RouteCtx, Tensor};
use crate::error::{Error, NodeRef, Result};
use ndarray::IxDyn;

/// Concatenation of data inputs and constant per-sample blocks along a per-sample axis.
#[derive(Debug, Clone)]
pub struct ConstConcat {
    /// Per-sample axis.
    pub axis: usize,
    /// The parts in order: `Some(constant)` (per-sample shape) or `None` for the next data
    /// input.
    pub parts: Vec<Option<Tensor>>,
}

impl ConstConcat {
    /// Concatenation of `parts` (constants, or `None` for the data inputs in order) along
    /// per-sample `axis`.
    pub fn new(axis: usize, parts: Vec<Option<Tensor>>) -> Self {
        ConstConcat { axis, parts }
    }

    /// The per-sample shapes of all parts, data inputs taken from `inputs`.
    fn part_shapes<'a>(&'a self, inputs: &[&'a [usize]]) -> Option<Vec<&'a [usize]>> {
        let mut data = inputs.iter();
        self.parts
            .iter()
            .map(|p| match p {
                Some(c) => Some(c.shape()),
                None => data.next().copied(),
            })
            .collect()
    }

    /// Validate the per-sample input shapes and return the output shape.
    pub fn output_shape(&self, node: &NodeRef, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        let data = self.parts.iter().filter(|p| p.is_none()).count();
        if data != inputs.len() {
            return Err(Error::shape(
                node,
                format!("has {data} data part(s) but {} input(s)", inputs.len()),
            ));
        }
        let shapes = self
            .part_shapes(inputs)
            .ok_or_else(|| Error::shape(node, "fewer inputs than data parts"))?;
        Concat::new(self.axis).output_shape(node, &shapes)
    }

    /// Forward pass on batch-first data inputs (validated by [`ConstConcat::output_shape`]).
    pub fn forward(&self, inputs: &[&Tensor]) -> Tensor {
        let n = inputs.first().map_or(1, |t| t.shape()[0]);
        let owned: Vec<Option<Tensor>> = self
            .parts
            .iter()
            .map(|p| {
                p.as_ref().map(|c| {
                    let mut shape = vec![n];
                    shape.extend_from_slice(c.shape());
                    let b = c
                        .broadcast(IxDyn(&shape))
                        .expect("a leading axis broadcasts");
                    super::standard(b.to_owned())
                })
            })
            .collect();
        let mut data = inputs.iter();
        let all: Vec<&Tensor> = owned
            .iter()
            .map(|p| match p {
                Some(c) => c,
                None => *data.next().expect("validated input count"),
            })
            .collect();
        Concat::new(self.axis).forward(&all)
    }

    /// Relevance `r` (`samples` maps of the output's per-sample shape `out`) sliced back to the
    /// data inputs (per-sample shapes `inputs`); the constants' slices are dropped.
    pub fn split_relevance(
        &self,
        r: &[f32],
        samples: usize,
        out: &[usize],
        inputs: &[&[usize]],
    ) -> Vec<Vec<f32>> {
        let shapes = self.part_shapes(inputs).expect("validated input count");
        let parts = Concat::new(self.axis).split_relevance(r, samples, out, &shapes);
        parts
            .into_iter()
            .zip(&self.parts)
            .filter(|(_, p)| p.is_none())
            .map(|(r, _)| r)
            .collect()
    }
}

impl Operator for ConstConcat {
    type Params = ConstConcat;
    const KIND: &'static str = "ConstConcat";
    const CATEGORY: Category = Category::Concat;
    const ARITY: Arity = Arity::AtLeast(1);
    const ROUTES: &'static [Route] = &[Route::Pass, Route::Gradient];

    fn output_shape(p: &ConstConcat, node: &NodeRef, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        p.output_shape(node, inputs)
    }

    fn forward(p: &ConstConcat, inputs: &[&Tensor]) -> Tensor {
        p.forward(inputs)
    }

    fn params(p: &ConstConcat) -> Vec<&[f32]> {
        p.parts
            .iter()
            .flatten()
            .map(|c| c.as_slice().expect("standard layout"))
            .collect()
    }

    /// Pass: the relevance is sliced back to the data inputs.
    fn route(p: &ConstConcat, _route: Route, ctx: &RouteCtx<'_>, r: Vec<f32>) -> Vec<Vec<f32>> {
        p.split_relevance(&r, ctx.maps(), ctx.out_shape, ctx.in_shapes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::random;

    /// Token prepended and appended around data, against an explicit per-sample loop.
    #[test]
    fn constants_around_data_match_a_loop_and_relevance_slices_back() {
        let a = random(&[1, 3], 1);
        let b = random(&[2, 3], 2);
        let x = random(&[4, 5, 3], 3);
        let cat = ConstConcat::new(0, vec![Some(a.clone()), None, Some(b.clone())]);
        let node = NodeRef::new("cat", "Concat");
        assert_eq!(cat.output_shape(&node, &[&[5, 3]]).unwrap(), vec![8, 3]);
        let y = cat.forward(&[&x]);
        for n in 0..4 {
            for t in 0..8 {
                for c in 0..3 {
                    let want = match t {
                        0 => a[[0, c]],
                        1..=5 => x[[n, t - 1, c]],
                        _ => b[[t - 6, c]],
                    };
                    assert_eq!(y[[n, t, c]], want);
                }
            }
        }
        let r: Vec<f32> = (0..4 * 24).map(|v| v as f32).collect();
        let back = cat.split_relevance(&r, 4, &[8, 3], &[&[5, 3]]);
        assert_eq!(back.len(), 1);
        for n in 0..4 {
            for i in 0..15 {
                assert_eq!(back[0][n * 15 + i], r[n * 24 + 3 + i]);
            }
        }
        let msg = cat.output_shape(&node, &[&[5, 4]]).unwrap_err().to_string();
        assert!(msg.contains("cat"), "{msg}");
    }
}
