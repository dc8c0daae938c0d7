//! Concatenation along one per-sample axis (Caffe `Concat`, ONNX `Concat`).
//!
//! `y[n, …, o_i + j, …] = x_i[n, …, j, …]` with `o_i = Σ_{i' < i} d_{i'}`, where `d_i` is the
//! size of input `i` along the axis.
//!
//! Shapes: inputs `[N, d_0, …, d_{r−1}]` that agree on every per-sample axis except `axis`
//! (0 = channels of NCHW); output has `Σ_i d_i` along `axis`.
//!
//! ```
//! use lrp::ops::Concat;
//! use ndarray::{ArrayD, IxDyn};
//! let a = ArrayD::from_shape_vec(IxDyn(&[1, 1, 1, 2]), vec![1.0, 2.0]).unwrap();
//! let b = ArrayD::from_shape_vec(IxDyn(&[1, 2, 1, 2]), vec![3.0, 4.0, 5.0, 6.0]).unwrap();
//! let y = Concat::new(0).forward(&[&a, &b]);
//! assert_eq!(y.shape(), &[1, 3, 1, 2]);
//! assert_eq!(y.as_slice().unwrap(), &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
//! ```

use super::{Arity, Category, Operator, Route, RouteCtx, Tensor};
use crate::error::{Error, NodeRef, Result};
use ndarray::IxDyn;

/// Concatenation along a per-sample axis (0 = channels).
#[derive(Debug, Clone)]
pub struct Concat {
    /// Per-sample axis (0 = channels of an NCHW tensor).
    pub axis: usize,
}

/// Name of per-sample axis `d` of a rank-`rank` tensor, for messages.
fn axis_name(d: usize, rank: usize) -> String {
    match (rank, d) {
        (3, 0) | (1, 0) => "channels".into(),
        (3, 1) => "height".into(),
        (3, 2) => "width".into(),
        _ => format!("size {d}"),
    }
}

impl Concat {
    /// Concatenation along per-sample `axis`.
    pub fn new(axis: usize) -> Self {
        Concat { axis }
    }

    /// Validate the per-sample input shapes and return the output shape.
    pub fn output_shape(&self, node: &NodeRef, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        let Some(first) = inputs.first() else {
            return Err(Error::shape(node, "takes at least 1 input, got 0"));
        };
        let rank = first.len();
        if self.axis >= rank {
            return Err(Error::param(
                node,
                format!(
                    "axis {} is out of range for per-sample input 0 of shape {first:?}",
                    self.axis
                ),
            ));
        }
        let mut out = first.to_vec();
        for (i, s) in inputs.iter().enumerate().skip(1) {
            if s.len() != rank {
                return Err(Error::shape(
                    node,
                    format!("input {i} has shape {s:?}, input 0 has {first:?}: ranks differ"),
                ));
            }
            for d in (0..rank).filter(|&d| d != self.axis) {
                if s[d] != first[d] {
                    let name = axis_name(d, rank);
                    return Err(Error::shape(
                        node,
                        format!(
                            "input {i} has {name} {}, input 0 has {} (shapes {s:?} and {first:?}; concatenating along axis {})",
                            s[d], first[d], self.axis
                        ),
                    ));
                }
            }
            out[self.axis] += s[self.axis];
        }
        Ok(out)
    }

    /// Forward pass on batch-first inputs (validated by [`Concat::output_shape`]).
    pub fn forward(&self, inputs: &[&Tensor]) -> Tensor {
        let s0 = inputs[0].shape();
        // Batch axis 0 plus the per-sample axis.
        let ax = self.axis + 1;
        let outer: usize = s0[..ax].iter().product();
        let inner: usize = s0[ax + 1..].iter().product();
        let mut shape = s0.to_vec();
        shape[ax] = inputs.iter().map(|t| t.shape()[ax]).sum();
        let out_block = shape[ax] * inner;
        let mut y = Tensor::zeros(IxDyn(&shape));
        if y.is_empty() {
            return y;
        }
        let ys = y.as_slice_mut().expect("fresh tensor");
        let mut offset = 0;
        for t in inputs {
            let block = t.shape()[ax] * inner;
            let xs = t.as_slice().expect("standard layout input");
            for o in 0..outer {
                ys[o * out_block + offset..o * out_block + offset + block]
                    .copy_from_slice(&xs[o * block..(o + 1) * block]);
            }
            offset += block;
        }
        y
    }
}

impl Concat {
    /// LRP through concatenation: slice the relevance back to the inputs.
    ///
    /// `r` holds `samples` relevance tensors of the output's per-sample shape `out`;
    /// `inputs` are the inputs' per-sample shapes. Returns one flat buffer per input.
    pub fn split_relevance(
        &self,
        r: &[f32],
        samples: usize,
        out: &[usize],
        inputs: &[&[usize]],
    ) -> Vec<Vec<f32>> {
        // Blocks: for every sample and index before the axis, each input owns `d · inner`
        // contiguous values of the output.
        let outer = samples * out[..self.axis].iter().product::<usize>();
        let inner: usize = out[self.axis + 1..].iter().product();
        let width = out[self.axis] * inner;
        let mut offset = 0;
        inputs
            .iter()
            .map(|s| {
                let block = s[self.axis] * inner;
                let mut part = Vec::with_capacity(outer * block);
                for o in 0..outer {
                    let start = o * width + offset;
                    part.extend_from_slice(&r[start..start + block]);
                }
                offset += block;
                part
            })
            .collect()
    }
}

impl Operator for Concat {
    type Params = Concat;
    const KIND: &'static str = "Concat";
    const CATEGORY: Category = Category::Concat;
    const ARITY: Arity = Arity::AtLeast(1);
    const ROUTES: &'static [Route] = &[Route::Pass, Route::Gradient];

    fn output_shape(p: &Concat, node: &NodeRef, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        p.output_shape(node, inputs)
    }

    fn forward(p: &Concat, inputs: &[&Tensor]) -> Tensor {
        p.forward(inputs)
    }

    /// Pass: the relevance is sliced back to the inputs.
    fn route(p: &Concat, _route: Route, ctx: &RouteCtx<'_>, r: Vec<f32>) -> Vec<Vec<f32>> {
        p.split_relevance(&r, ctx.maps(), ctx.out_shape, ctx.in_shapes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::random;

    /// Element-by-element copy through multi-indices.
    fn naive(axis: usize, inputs: &[&Tensor]) -> Tensor {
        let ax = axis + 1;
        let mut shape = inputs[0].shape().to_vec();
        shape[ax] = inputs.iter().map(|t| t.shape()[ax]).sum();
        let mut y = Tensor::zeros(IxDyn(&shape));
        let mut offset = 0;
        for t in inputs {
            for (idx, &v) in t.indexed_iter() {
                let mut o = idx.clone();
                o[ax] += offset;
                y[o] = v;
            }
            offset += t.shape()[ax];
        }
        y
    }

    #[test]
    fn three_inputs_along_every_axis() {
        let mut rng = crate::zoo::rng::Rng::new(31);
        for t in 0..30 {
            let rank = 1 + rng.below(3);
            let axis = rng.below(rank);
            let n = 1 + rng.below(3);
            let base: Vec<usize> = (0..rank).map(|_| 1 + rng.below(4)).collect();
            let xs: Vec<Tensor> = (0..3)
                .map(|i| {
                    let mut s = base.clone();
                    s[axis] = rng.below(4); // including empty inputs
                    let mut full = vec![n];
                    full.extend(&s);
                    random(&full, t * 10 + i)
                })
                .collect();
            let refs: Vec<&Tensor> = xs.iter().collect();
            let shapes: Vec<&[usize]> = xs.iter().map(|x| &x.shape()[1..]).collect();
            let c = Concat::new(axis);
            let out = c
                .output_shape(&NodeRef::new("cat", "Concat"), &shapes)
                .unwrap();
            let y = c.forward(&refs);
            assert_eq!(&y.shape()[1..], out.as_slice());
            assert_eq!(y, naive(axis, &refs));
        }
    }

    #[test]
    fn mismatch_names_the_node_and_the_input() {
        let node = NodeRef::new("inception_3a/output", "Concat");
        let c = Concat::new(0);
        let msg = c
            .output_shape(&node, &[&[64, 14, 14], &[128, 14, 14], &[32, 13, 14]])
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("inception_3a/output")
                && msg.contains("input 2 has height 13, input 0 has 14"),
            "{msg}"
        );
        let msg = c
            .output_shape(&node, &[&[64, 14, 14], &[128, 14]])
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("input 1") && msg.contains("ranks differ"),
            "{msg}"
        );
        let msg = Concat::new(3)
            .output_shape(&node, &[&[64, 14, 14]])
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("inception_3a/output") && msg.contains("axis 3"),
            "{msg}"
        );
    }

    /// Relevance splits into the parts the inputs contributed: the inverse of the forward
    /// concatenation, on several samples and every axis.
    #[test]
    fn split_relevance_inverts_the_forward() {
        for axis in 0..3 {
            let mut shapes = [vec![5usize, 3, 4], vec![5, 3, 4], vec![5, 3, 4]];
            shapes[1][axis] = 2;
            shapes[2][axis] = 6;
            let xs: Vec<Tensor> = shapes
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let mut full = vec![3];
                    full.extend_from_slice(s);
                    random(&full, 10 + i as u64 + 3 * axis as u64)
                })
                .collect();
            let refs: Vec<&Tensor> = xs.iter().collect();
            let c = Concat::new(axis);
            let y = c.forward(&refs);
            let out = &y.shape()[1..];
            let shape_refs: Vec<&[usize]> = shapes.iter().map(|s| s.as_slice()).collect();
            let parts = c.split_relevance(y.as_slice().unwrap(), 3, out, &shape_refs);
            for (p, x) in parts.iter().zip(&xs) {
                assert_eq!(p.as_slice(), x.as_slice().unwrap(), "axis {axis}");
            }
        }
    }
}
