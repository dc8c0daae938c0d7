//! Constant padding of per-sample axes (ONNX `Pad` with `mode = constant`; the channel
//! padding of option-A residual shortcuts).
//!
//! `y[n, i_0 + b_0, …, i_{r−1} + b_{r−1}] = x[n, i_0, …, i_{r−1}]`, every other element of `y`
//! is `value`, or, with per-channel values ([`Pad::with_channel_values`]), `values[c]` in
//! channel `c` (per-sample axis 0, which is then not padded itself). Canonisation makes such a
//! padding when it folds a per-channel affine map into the padded convolution after it
//! ([`crate::canonize`]): the padding of `s ⊙ x + t` with zeros is the padding of `x` with
//! `−t_c / s_c`.
//!
//! Shapes: per-sample input `[d_0, …, d_{r−1}]`, `begin` and `end` of length `r`, output
//! `[d_0 + b_0 + e_0, …]`. Channel padding of an NCHW tensor is `begin = [a, 0, 0]`,
//! `end = [b, 0, 0]`: `[C, H, W] -> [C + a + b, H, W]`.
//!
//! ```
//! use lrp::ops::Pad;
//! use ndarray::{ArrayD, IxDyn};
//! let x = ArrayD::from_shape_vec(IxDyn(&[1, 1, 2, 2]), vec![1.0, 2.0, 3.0, 4.0]).unwrap();
//! // One zero channel before, none after; one column of -1 on the right.
//! let p = Pad::new(vec![1, 0, 0], vec![0, 0, 1], -1.0);
//! let y = p.forward(&x);
//! assert_eq!(y.shape(), &[1, 2, 2, 3]);
//! assert_eq!(
//!     y.as_slice().unwrap(),
//!     &[-1.0, -1.0, -1.0, -1.0, -1.0, -1.0, 1.0, 2.0, -1.0, 3.0, 4.0, -1.0]
//! );
//! ```

use super::{Category, Operator, Route, RouteCtx, Tensor};
use crate::error::{Error, NodeRef, Result};
use ndarray::IxDyn;

/// Constant padding of per-sample axes.
#[derive(Debug, Clone)]
pub struct Pad {
    /// Padding before each per-sample axis.
    pub begin: Vec<usize>,
    /// Padding after each per-sample axis.
    pub end: Vec<usize>,
    /// Fill value.
    pub value: f32,
    /// Fill value per channel (per-sample axis 0), replacing `value` when set.
    pub channel_values: Option<Vec<f32>>,
}

impl Pad {
    /// Padding with `begin[d]` elements before and `end[d]` after per-sample axis `d`, filled
    /// with `value`.
    pub fn new(begin: Vec<usize>, end: Vec<usize>, value: f32) -> Self {
        Pad {
            begin,
            end,
            value,
            channel_values: None,
        }
    }

    /// Padding of the axes after the channel axis (`begin[0] = end[0] = 0`), filled in
    /// channel `c` with `values[c]`.
    ///
    /// ```
    /// use lrp::ops::Pad;
    /// use ndarray::{ArrayD, IxDyn};
    /// let x = ArrayD::from_shape_vec(IxDyn(&[1, 2, 1, 1]), vec![5.0, 6.0]).unwrap();
    /// let p = Pad::with_channel_values(vec![0, 0, 1], vec![0, 0, 0], vec![-1.0, 2.0]);
    /// assert_eq!(p.forward(&x).as_slice().unwrap(), &[-1.0, 5.0, 2.0, 6.0]);
    /// ```
    pub fn with_channel_values(begin: Vec<usize>, end: Vec<usize>, values: Vec<f32>) -> Self {
        Pad {
            channel_values: Some(values),
            ..Pad::new(begin, end, 0.0)
        }
    }

    /// Zero channel padding of a `[C, H, W]` sample: `before` channels in front, `after`
    /// behind (the option-A shortcut of residual networks).
    pub fn channels(before: usize, after: usize) -> Self {
        Pad::new(vec![before, 0, 0], vec![after, 0, 0], 0.0)
    }

    /// Validate against a per-sample input shape and return the padded shape.
    pub fn output_shape(&self, node: &NodeRef, input: &[usize]) -> Result<Vec<usize>> {
        if self.begin.len() != input.len() || self.end.len() != input.len() {
            return Err(Error::shape(
                node,
                format!(
                    "pads begin {:?} and end {:?} must have one entry per axis of the per-sample input {input:?}",
                    self.begin, self.end
                ),
            ));
        }
        if !self.value.is_finite() {
            return Err(Error::param(
                node,
                format!("fill value {} is not finite", self.value),
            ));
        }
        if let Some(values) = &self.channel_values {
            if input.is_empty() || self.begin[0] != 0 || self.end[0] != 0 {
                return Err(Error::shape(
                    node,
                    "per-channel fill values need a channel axis that is not padded itself",
                ));
            }
            if values.len() != input[0] {
                return Err(Error::shape(
                    node,
                    format!(
                        "{} per-channel fill values for {} channels",
                        values.len(),
                        input[0]
                    ),
                ));
            }
            if let Some(v) = values.iter().find(|v| !v.is_finite()) {
                return Err(Error::param(node, format!("fill value {v} is not finite")));
            }
        }
        // Pads come from a file: a sum that overflows is an error naming the node, not a
        // wrapped size.
        input
            .iter()
            .zip(self.begin.iter().zip(&self.end))
            .map(|(d, (b, e))| {
                d.checked_add(*b).and_then(|v| v.checked_add(*e)).ok_or_else(|| {
                    Error::param(
                        node,
                        format!(
                            "pads begin {:?} and end {:?} on input {input:?} overflow the size of a tensor",
                            self.begin, self.end
                        ),
                    )
                })
            })
            .collect()
    }

    /// Forward pass on `[N, …]` (validated by [`Pad::output_shape`]): fill, then copy each
    /// contiguous innermost row of the input into place.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let xs_shape = x.shape();
        let rank = xs_shape.len();
        // Full (batch-first) shapes and offsets; the batch axis is not padded.
        let mut out_shape = Vec::with_capacity(rank);
        let mut begin = Vec::with_capacity(rank);
        out_shape.push(xs_shape[0]);
        begin.push(0);
        for ((&d, &b), &e) in xs_shape[1..].iter().zip(&self.begin).zip(&self.end) {
            out_shape.push(d + b + e);
            begin.push(b);
        }
        let mut y = Tensor::from_elem(IxDyn(&out_shape), self.value);
        if x.is_empty() {
            return y;
        }
        let xs = x.as_slice().expect("standard layout input");
        let ys = y.as_slice_mut().expect("fresh tensor");
        if let Some(values) = &self.channel_values {
            // The channel axis is not padded: channel c of every sample is one block.
            let plane: usize = out_shape[2..].iter().product();
            for (i, block) in ys.chunks_mut(plane).enumerate() {
                block.fill(values[i % values.len()]);
            }
        }
        // Row-major strides of the output.
        let mut ostride = vec![1usize; rank];
        for d in (0..rank.saturating_sub(1)).rev() {
            ostride[d] = ostride[d + 1] * out_shape[d + 1];
        }
        let row = xs_shape[rank - 1];
        // Multi-index over all axes but the last; the offset of the output row is updated
        // incrementally.
        let mut idx = vec![0usize; rank - 1];
        let mut off: usize = (0..rank).map(|d| begin[d] * ostride[d]).sum();
        for src in xs.chunks_exact(row) {
            ys[off..off + row].copy_from_slice(src);
            // Advance the multi-index (last axis first).
            let mut d = rank - 1;
            while d > 0 {
                d -= 1;
                idx[d] += 1;
                off += ostride[d];
                if idx[d] < xs_shape[d] {
                    break;
                }
                off -= idx[d] * ostride[d];
                idx[d] = 0;
            }
        }
        y
    }
}

impl Pad {
    /// LRP through padding: crop the relevance back to the unpadded per-sample shape
    /// `input` (relevance on the padding is dropped). `r` holds `samples` padded tensors.
    pub fn crop_relevance(&self, r: &[f32], samples: usize, input: &[usize]) -> Vec<f32> {
        let mut shape = vec![samples];
        shape.extend(
            input
                .iter()
                .zip(&self.begin)
                .zip(&self.end)
                .map(|((d, b), e)| d + b + e),
        );
        let view = ndarray::ArrayViewD::from_shape(IxDyn(&shape), r)
            .expect("relevance matches the padded shape");
        let cropped = view.slice_each_axis(|ax| {
            let i = ax.axis.index();
            if i == 0 {
                ndarray::Slice::from(..)
            } else {
                let b = self.begin[i - 1];
                ndarray::Slice::from(b..b + input[i - 1])
            }
        });
        cropped.iter().copied().collect()
    }
}

impl Operator for Pad {
    type Params = Pad;
    const KIND: &'static str = "Pad";
    const CATEGORY: Category = Category::Padding;
    const ROUTES: &'static [Route] = &[Route::Pass, Route::Gradient];

    single_input!(Pad);

    /// Pass: the relevance is cropped back to the unpadded input.
    fn route(p: &Pad, _route: Route, ctx: &RouteCtx<'_>, r: Vec<f32>) -> Vec<Vec<f32>> {
        vec![p.crop_relevance(&r, ctx.maps(), ctx.in_shapes[0])]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::random;

    fn naive(p: &Pad, x: &Tensor) -> Tensor {
        let mut shape = vec![x.shape()[0]];
        for d in 1..x.ndim() {
            shape.push(x.shape()[d] + p.begin[d - 1] + p.end[d - 1]);
        }
        let mut y = Tensor::from_elem(IxDyn(&shape), p.value);
        if let Some(values) = &p.channel_values {
            for (idx, v) in y.indexed_iter_mut() {
                *v = values[idx[1]];
            }
        }
        for (idx, &v) in x.indexed_iter() {
            let mut o = idx.clone();
            for d in 1..x.ndim() {
                o[d] += p.begin[d - 1];
            }
            y[o] = v;
        }
        y
    }

    #[test]
    fn matches_naive_on_random_shapes() {
        let mut rng = crate::zoo::rng::Rng::new(61);
        for t in 0..40 {
            let rank = 1 + rng.below(4);
            let mut shape = vec![1 + rng.below(3)];
            shape.extend((0..rank).map(|_| 1 + rng.below(5)));
            let p = Pad::new(
                (0..rank).map(|_| rng.below(3)).collect(),
                (0..rank).map(|_| rng.below(3)).collect(),
                rng.uniform() - 0.5,
            );
            let out = p
                .output_shape(&NodeRef::new("pad", "Pad"), &shape[1..])
                .unwrap();
            let x = random(&shape, t);
            let y = p.forward(&x);
            assert_eq!(&y.shape()[1..], out.as_slice());
            assert_eq!(y, naive(&p, &x));
        }
    }

    #[test]
    fn per_channel_values_match_naive() {
        let mut rng = crate::zoo::rng::Rng::new(62);
        for t in 0..20 {
            let rank = 1 + rng.below(3);
            let mut shape = vec![1 + rng.below(3)];
            shape.extend((0..rank).map(|_| 1 + rng.below(5)));
            let mut begin: Vec<usize> = (0..rank).map(|_| rng.below(3)).collect();
            let mut end: Vec<usize> = (0..rank).map(|_| rng.below(3)).collect();
            (begin[0], end[0]) = (0, 0);
            let values = (0..shape[1]).map(|_| rng.uniform() - 0.5).collect();
            let p = Pad::with_channel_values(begin, end, values);
            let out = p
                .output_shape(&NodeRef::new("pad", "Pad"), &shape[1..])
                .unwrap();
            let x = random(&shape, t);
            let y = p.forward(&x);
            assert_eq!(&y.shape()[1..], out.as_slice());
            assert_eq!(y, naive(&p, &x));
        }
    }

    #[test]
    fn per_channel_values_are_validated() {
        let node = NodeRef::new("pad9", "Pad");
        for (p, what) in [
            (
                Pad::with_channel_values(vec![0, 1], vec![0, 1], vec![1.0; 2]),
                "2 per-channel fill values for 3",
            ),
            (
                Pad::with_channel_values(vec![1, 1], vec![0, 1], vec![1.0; 3]),
                "not padded itself",
            ),
            (
                Pad::with_channel_values(vec![0, 1], vec![0, 1], vec![1.0, f32::INFINITY, 0.0]),
                "not finite",
            ),
        ] {
            let msg = p.output_shape(&node, &[3, 4]).unwrap_err().to_string();
            assert!(msg.contains("pad9") && msg.contains(what), "{msg}");
        }
    }

    #[test]
    fn channel_padding_of_a_shortcut() {
        let x = random(&[2, 16, 8, 8], 3);
        let p = Pad::channels(8, 8);
        assert_eq!(
            p.output_shape(&NodeRef::new("short", "Pad"), &[16, 8, 8])
                .unwrap(),
            vec![32, 8, 8]
        );
        let y = p.forward(&x);
        assert_eq!(y, naive(&p, &x));
        assert!(y
            .slice(ndarray::s![.., ..8, .., ..])
            .iter()
            .all(|&v| v == 0.0));
        assert_eq!(y.slice(ndarray::s![.., 8..24, .., ..]).into_dyn(), x.view());
    }

    #[test]
    fn wrong_pad_length_names_the_node() {
        let p = Pad::new(vec![1, 0], vec![0, 0], 0.0);
        let msg = p
            .output_shape(&NodeRef::new("pad7", "Pad"), &[3, 4, 4])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("pad7") && msg.contains("[3, 4, 4]"), "{msg}");
        let p = Pad::new(vec![0], vec![0], f32::NAN);
        let msg = p
            .output_shape(&NodeRef::new("pad8", "Pad"), &[3])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("pad8") && msg.contains("not finite"), "{msg}");
    }
}
