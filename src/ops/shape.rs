//! Flatten / Reshape. TO BE WRITTEN.
use super::Tensor;
use crate::error::{NodeRef, Result};

/// Reshape.
#[derive(Debug, Clone)]
pub struct Reshape {
    /// Per-sample target shape.
    pub shape: Vec<usize>,
}

impl Reshape {
    /// Shape check.
    pub fn output_shape(&self, _node: &NodeRef, _input: &[usize]) -> Result<Vec<usize>> {
        todo!()
    }
    /// Forward.
    pub fn forward(&self, _x: &Tensor) -> Tensor {
        todo!()
    }
}

/// Flatten.
pub fn flatten(_x: &Tensor) -> Tensor {
    todo!()
}
