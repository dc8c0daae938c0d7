//! Concatenation. TO BE WRITTEN.
use super::Tensor;
use crate::error::{NodeRef, Result};

/// Concatenation along a per-sample axis (0 = channels).
#[derive(Debug, Clone)]
pub struct Concat {
    /// Per-sample axis (0 = channels of an NCHW tensor).
    pub axis: usize,
}

impl Concat {
    /// Shape check.
    pub fn output_shape(&self, _node: &NodeRef, _inputs: &[&[usize]]) -> Result<Vec<usize>> {
        todo!()
    }
    /// Forward.
    pub fn forward(&self, _inputs: &[&Tensor]) -> Tensor {
        todo!()
    }
}
