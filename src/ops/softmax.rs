//! Softmax. TO BE WRITTEN.
use super::Tensor;
use crate::error::{NodeRef, Result};

/// Softmax along a per-sample axis.
#[derive(Debug, Clone)]
pub struct Softmax {
    /// Per-sample axis.
    pub axis: usize,
}

impl Softmax {
    /// Shape check.
    pub fn output_shape(&self, _node: &NodeRef, _input: &[usize]) -> Result<Vec<usize>> {
        todo!()
    }
    /// Forward.
    pub fn forward(&self, _x: &Tensor) -> Tensor {
        todo!()
    }
}
