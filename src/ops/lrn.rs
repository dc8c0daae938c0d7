//! LRN. TO BE WRITTEN.
use super::Tensor;
use crate::error::{NodeRef, Result};

/// Local response normalisation across channels.
#[derive(Debug, Clone)]
pub struct Lrn {
    /// Window size (channels).
    pub size: usize,
    /// alpha.
    pub alpha: f32,
    /// beta.
    pub beta: f32,
    /// k (ONNX bias).
    pub k: f32,
}

impl Lrn {
    /// Shape check.
    pub fn output_shape(&self, _node: &NodeRef, _input: &[usize]) -> Result<Vec<usize>> {
        todo!()
    }
    /// Forward.
    pub fn forward(&self, _x: &Tensor) -> Tensor {
        todo!()
    }
}
