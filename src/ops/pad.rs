//! Pad. TO BE WRITTEN.
use super::Tensor;
use crate::error::{NodeRef, Result};

/// Constant padding of per-sample axes.
#[derive(Debug, Clone)]
pub struct Pad {
    /// Padding before each per-sample axis.
    pub begin: Vec<usize>,
    /// Padding after each per-sample axis.
    pub end: Vec<usize>,
    /// Fill value.
    pub value: f32,
}

impl Pad {
    /// Shape check.
    pub fn output_shape(&self, _node: &NodeRef, _input: &[usize]) -> Result<Vec<usize>> {
        todo!()
    }
    /// Forward.
    pub fn forward(&self, _x: &Tensor) -> Tensor {
        todo!()
    }
}
