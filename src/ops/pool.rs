//! Pooling. TO BE WRITTEN.
use super::Tensor;
use crate::error::{NodeRef, Result};

/// How the output size of a pooling window is rounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolRounding {
    /// floor.
    Floor,
    /// ceil.
    Ceil,
    /// ceil with clip.
    CeilClip,
}

/// Pooling window parameters.
#[derive(Debug, Clone)]
pub struct Pool2d {
    /// Kernel.
    pub kernel: [usize; 2],
    /// Stride.
    pub stride: [usize; 2],
    /// Pads top, left, bottom, right.
    pub pads: [usize; 4],
    /// Rounding.
    pub rounding: PoolRounding,
    /// Whether padding counts in the average's divisor.
    pub count_include_pad: bool,
}

impl Pool2d {
    /// Shape check.
    pub fn output_shape(&self, _node: &NodeRef, _input: &[usize]) -> Result<Vec<usize>> {
        todo!()
    }
    /// Max.
    pub fn forward_max(&self, _x: &Tensor) -> Tensor {
        todo!()
    }
    /// Avg.
    pub fn forward_avg(&self, _x: &Tensor) -> Tensor {
        todo!()
    }
}

/// Global shape.
pub fn global_output_shape(_node: &NodeRef, _input: &[usize]) -> Result<Vec<usize>> {
    todo!()
}
/// Global avg.
pub fn global_avg(_x: &Tensor) -> Tensor {
    todo!()
}
