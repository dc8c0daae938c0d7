//! Parametric ReLU, `y = x` for `x ≥ 0` and `y = a_c · x` for `x < 0`, element-wise with one
//! learned slope per channel or one for all; any shape with channels first per sample.
//!
//! Parameters: the slopes `a`, a parameter buffer (see [`Operator::params`]): `C` values, one
//! per channel (per-sample axis 0: the `C` of `[N, C, H, W]` or of `[N, C]`), or a single
//! value shared by every channel. ONNX's `PRelu` broadcasts its slope tensor to the input
//! (unidirectional broadcasting: a slope `[C, 1, 1]` or `[1, C, 1, 1]` on `[N, C, H, W]` is
//! per channel, `[1]` or `[]` is shared); the ONNX importer checks that the slope's shape is
//! one of those two and rejects other broadcasts (a slope along the width only, …). Caffe's
//! `PReLU` layer has the same two forms (`channel_shared`).
//!
//! Relevance passes through unchanged (`R_in = R_out`, the rule every preset gives
//! activations): for slopes `a_c ≥ 0` each output is a monotone function of its own input
//! alone, and LRP attributes relevance at the linear layers around it.
//!
//! ```
//! use lrp::ops::prelu::PRelu;
//! use ndarray::{ArrayD, IxDyn};
//! // [1, 2, 2]: two channels of two values, slopes 0.5 and 0.25.
//! let x = ArrayD::from_shape_vec(IxDyn(&[1, 2, 2]), vec![-2.0, 1.0, -4.0, 3.0]).unwrap();
//! let y = PRelu::new(vec![0.5, 0.25]).forward(&x);
//! assert_eq!(y.as_slice().unwrap(), &[-1.0, 1.0, -1.0, 3.0]);
//! let y = PRelu::new(vec![0.1]).forward(&x);
//! assert_eq!(y[[0, 1, 0]], -0.4);
//! ```
//!
//! [`Operator::params`]: super::Operator::params

use super::{Category, Operator, Route, RouteCtx, Tensor};
use crate::error::{Error, NodeRef, Result};

/// Parameters of the parametric ReLU: the negative slopes.
#[derive(Debug, Clone, PartialEq)]
pub struct PRelu {
    /// One slope per channel, or a single one for all channels.
    pub slope: Vec<f32>,
}

impl PRelu {
    /// PReLU with `slope` (`C` values, or one shared by every channel).
    pub fn new(slope: Vec<f32>) -> Self {
        PRelu { slope }
    }

    /// Validate the slopes against the per-sample input shape (one, or one per channel); the
    /// output has the input's shape.
    pub fn output_shape(&self, node: &NodeRef, input: &[usize]) -> Result<Vec<usize>> {
        let n = self.slope.len();
        let channels = input.first().copied().unwrap_or(1);
        if n != 1 && n != channels {
            return Err(Error::param(
                node,
                format!(
                    "{n} slopes for an input of per-sample shape {input:?}: expected 1 or one \
                     per channel ({channels})"
                ),
            ));
        }
        Ok(input.to_vec())
    }

    /// `x` for `x ≥ 0`, `a_c·x` otherwise (NaN stays NaN); `x` is `[N, C, …]` in standard
    /// layout, validated by [`PRelu::output_shape`].
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let leak = |v: f32, a: f32| if v < 0.0 { a * v } else { v };
        if let [a] = self.slope[..] {
            return x.mapv(|v| leak(v, a));
        }
        let mut y = super::standard(x.clone());
        let inner: usize = x.shape().iter().skip(2).product();
        if y.is_empty() || inner == 0 {
            return y;
        }
        let c = self.slope.len();
        let values = y.as_slice_mut().expect("standard layout");
        for (i, block) in values.chunks_exact_mut(inner).enumerate() {
            let a = self.slope[i % c];
            block.iter_mut().for_each(|v| *v = leak(*v, a));
        }
        y
    }
}

impl PRelu {
    /// The gradient: `g` where `x > 0`, `a_c · g` elsewhere (torch's `prelu` backward), for
    /// `k` gradient maps per sample of `x` (image-major).
    pub fn gradient(&self, x: &Tensor, mut g: Vec<f32>, k: usize) -> Vec<f32> {
        let xs = x.as_slice().expect("standard layout input");
        let per: usize = x.shape()[1..].iter().product();
        let inner: usize = x.shape().iter().skip(2).product();
        let c = self.slope.len();
        if per == 0 || inner == 0 {
            return g;
        }
        for (m, gm) in g.chunks_exact_mut(per).enumerate() {
            let xm = &xs[(m / k.max(1)) * per..(m / k.max(1) + 1) * per];
            for (i, (gv, &xv)) in gm.iter_mut().zip(xm).enumerate() {
                if xv <= 0.0 {
                    *gv *= self.slope[if c == 1 { 0 } else { (i / inner) % c }];
                }
            }
        }
        g
    }
}

impl Operator for PRelu {
    type Params = PRelu;
    const KIND: &'static str = "PRelu";
    const CATEGORY: Category = Category::Activation;
    const ROUTES: &'static [Route] = &[Route::Pass, Route::Gradient];

    single_input!(PRelu);

    fn params(p: &PRelu) -> Vec<&[f32]> {
        vec![&p.slope]
    }

    fn params_mut(p: &mut PRelu) -> Vec<&mut [f32]> {
        vec![&mut p.slope]
    }

    fn route(p: &PRelu, route: Route, ctx: &RouteCtx<'_>, r: Vec<f32>) -> Vec<Vec<f32>> {
        match route {
            Route::Gradient => vec![p.gradient(ctx.inputs[0], r, ctx.k)],
            _ => super::pass_on(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::{assert_passes_relevance, random};
    use crate::ops::Op;

    #[test]
    fn per_channel_and_shared_slopes_match_a_naive_loop() {
        let x = random(&[2, 3, 4, 5], 7);
        let slope = vec![0.1, -0.2, 0.3];
        let y = PRelu::new(slope.clone()).forward(&x);
        for ((n, c, h, w), v) in x
            .indexed_iter()
            .map(|(i, v)| ((i[0], i[1], i[2], i[3]), *v))
        {
            let want = if v < 0.0 { slope[c] * v } else { v };
            assert_eq!(y[[n, c, h, w]], want);
        }
        let y = PRelu::new(vec![0.25]).forward(&x);
        for (a, b) in x.iter().zip(y.iter()) {
            assert_eq!(*b, if *a < 0.0 { 0.25 * a } else { *a });
        }
        // 2-D input [N, C]: one slope per column.
        let x2 = random(&[4, 3], 8);
        let y2 = PRelu::new(slope.clone()).forward(&x2);
        for ((n, c), v) in x2.indexed_iter().map(|(i, v)| ((i[0], i[1]), *v)) {
            assert_eq!(y2[[n, c]], if v < 0.0 { slope[c] * v } else { v });
        }
    }

    #[test]
    fn slopes_are_parameters_checked_against_the_channels() {
        let mut op = Op::PRelu(PRelu::new(vec![0.1, 0.2, 0.3]));
        assert_eq!(op.num_params(), 3);
        op.params_mut()[0][1] = 0.5;
        assert_eq!(op.params()[0], &[0.1, 0.5, 0.3]);
        let node = NodeRef::new("prelu", "PRelu");
        assert_eq!(op.output_shape(&node, &[&[3, 4, 4]]).unwrap(), [3, 4, 4]);
        let err = op.output_shape(&node, &[&[4, 4, 4]]).unwrap_err();
        assert!(
            err.to_string()
                .contains("expected 1 or one per channel (4)"),
            "{err}"
        );
        assert_passes_relevance(&Op::PRelu(PRelu::new(vec![0.1, 0.2, 0.3, 0.4])));
    }
}
