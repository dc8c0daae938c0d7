//! Clip, `y = min(max(x, min), max)`, element-wise; any shape. ReLU6 is `Clip { min: 0, max: 6 }`.
//!
//! Parameters: the bounds `min` and `max` (either may be infinite: unbounded on that side).
//! When `min > max` every output is `max`, as ONNX specifies; NaN stays NaN.
//!
//! Relevance passes through unchanged (`R_in = R_out`, the rule every preset gives
//! activations): Clip is a monotone element-wise function of one input, and LRP attributes
//! relevance at the linear layers around it (whose rules see the clipped activations).
//!
//! ```
//! use lrp::ops::clip::Clip;
//! use ndarray::{ArrayD, IxDyn};
//! let x = ArrayD::from_shape_vec(IxDyn(&[1, 4]), vec![-1.0, 2.5, 6.0, 7.5]).unwrap();
//! let y = Clip::relu6().forward(&x);
//! assert_eq!(y.as_slice().unwrap(), &[0.0, 2.5, 6.0, 6.0]);
//! let y = Clip::new(f32::NEG_INFINITY, 1.0).forward(&x);
//! assert_eq!(y.as_slice().unwrap(), &[-1.0, 1.0, 1.0, 1.0]);
//! ```

use super::Tensor;
use crate::error::{Error, NodeRef, Result};

/// Parameters of [`Clip`]: the lower and upper bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clip {
    /// Lower bound (`-∞`: none).
    pub min: f32,
    /// Upper bound (`+∞`: none).
    pub max: f32,
}

impl Clip {
    /// Clip to `[min, max]`.
    pub fn new(min: f32, max: f32) -> Self {
        Clip { min, max }
    }

    /// ReLU6, `min(max(x, 0), 6)` (MobileNet's activation).
    pub fn relu6() -> Self {
        Clip::new(0.0, 6.0)
    }

    /// Validate the bounds (not NaN); the output has the input's shape.
    pub fn output_shape(&self, node: &NodeRef, input: &[usize]) -> Result<Vec<usize>> {
        if self.min.is_nan() || self.max.is_nan() {
            return Err(Error::param(
                node,
                format!(
                    "bounds must not be NaN (min {}, max {})",
                    self.min, self.max
                ),
            ));
        }
        Ok(input.to_vec())
    }

    /// `min(max(x, min), max)` element-wise (`max` everywhere when `min > max`).
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let (lo, hi) = (self.min, self.max);
        x.mapv(|v| {
            let v = if v < lo { lo } else { v };
            if v > hi {
                hi
            } else {
                v
            }
        })
    }
}

impl Clip {
    /// `f'(x)`: 1 strictly inside the bounds, 0 on and beyond them (torch's
    /// `hardtanh_backward`, which ReLU6 uses).
    pub fn derivative(&self, x: f32) -> f32 {
        if x > self.min && x < self.max {
            1.0
        } else {
            0.0
        }
    }
}

pass_through!(params Clip, "Clip", Activation, Clip::derivative);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::assert_activation;
    use crate::ops::Op;

    #[test]
    fn matches_the_closed_form_and_passes_relevance() {
        assert_activation(Op::Clip(Clip::relu6()), |v| v.clamp(0.0, 6.0), 10.0, 0.0);
        assert_activation(
            Op::Clip(Clip::new(-0.5, 0.25)),
            |v| v.clamp(-0.5, 0.25),
            1.0,
            0.0,
        );
        let lower = Clip::new(-0.5, f32::INFINITY);
        assert_activation(Op::Clip(lower), |v| v.max(-0.5), 3.0, 0.0);
    }

    #[test]
    fn min_above_max_gives_max_and_nan_bounds_are_rejected() {
        let x = Tensor::from_shape_vec(ndarray::IxDyn(&[1, 3]), vec![-5.0, 0.0, 5.0]).unwrap();
        let y = Clip::new(2.0, 1.0).forward(&x);
        assert_eq!(y.as_slice().unwrap(), &[1.0, 1.0, 1.0]);
        let node = NodeRef::new("clip", "Clip");
        let err = Clip::new(f32::NAN, 1.0)
            .output_shape(&node, &[3])
            .unwrap_err();
        assert!(err.to_string().contains("clip"), "{err}");
    }
}
