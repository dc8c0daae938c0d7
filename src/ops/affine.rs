//! Per-channel affine map (BatchNorm in inference form, Caffe Scale). TO BE WRITTEN.
use super::Tensor;
use crate::error::{NodeRef, Result};
use ndarray::Array1;

/// `y[n, c, …] = scale[c] · x[n, c, …] + shift[c]`.
#[derive(Debug, Clone)]
pub struct Affine {
    pub(crate) scale: Array1<f32>,
    pub(crate) shift: Array1<f32>,
}

impl Affine {
    /// Affine map with per-channel `scale` and `shift` (same length).
    pub fn new(scale: Array1<f32>, shift: Array1<f32>) -> Self {
        Affine { scale, shift }
    }
    /// Shape check.
    pub fn output_shape(&self, _node: &NodeRef, _input: &[usize]) -> Result<Vec<usize>> {
        todo!()
    }
    /// Forward.
    pub fn forward(&self, _x: &Tensor) -> Tensor {
        todo!()
    }
}
