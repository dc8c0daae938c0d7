//! Fully connected layer (Caffe `InnerProduct`, ONNX `Gemm` with a constant weight).
//!
//! `y[n, j] = b[j] + Σ_i w[j, i] · x[n, i]`, where `x[n, ·]` is the sample flattened in
//! row-major (Caffe's C×H×W) order.
//!
//! Shapes: input `[N, …]` with `K = ∏ …` features, weight `[M, K]`, optional bias `[M]`,
//! output `[N, M]`.
//!
//! ```
//! use lrp::ops::Dense;
//! use ndarray::{array, ArrayD, IxDyn};
//! let d = Dense::new(array![[1.0, 2.0, 3.0], [0.0, -1.0, 1.0]], Some(array![0.5, 0.0]));
//! let x = ArrayD::from_shape_vec(IxDyn(&[1, 3, 1, 1]), vec![1.0, 1.0, 2.0]).unwrap();
//! let y = d.forward(&x);
//! assert_eq!(y.shape(), &[1, 2]);
//! assert_eq!(y.as_slice().unwrap(), &[9.5, 1.0]);
//! ```

use super::{Category, LinearMap, Operator, Tensor};
use crate::error::{Error, NodeRef, Result};
use crate::kernels::{self, MatRef, SyncPtr};
use ndarray::{Array1, Array2, IxDyn};
use rayon::prelude::*;

/// Parameters of a fully connected layer.
#[derive(Debug, Clone)]
pub struct Dense {
    pub(crate) weight: Array2<f32>,
    pub(crate) bias: Option<Array1<f32>>,
}

impl Dense {
    /// A dense layer with weight `[M, K]` (outputs × inputs) and optional bias `[M]`.
    pub fn new(weight: Array2<f32>, bias: Option<Array1<f32>>) -> Self {
        Dense {
            weight: super::standard(weight),
            bias: bias.map(super::standard),
        }
    }

    /// The weight, `[M, K]`.
    pub fn weight(&self) -> &Array2<f32> {
        &self.weight
    }

    /// The bias, `[M]`, if any.
    pub fn bias(&self) -> Option<&Array1<f32>> {
        self.bias.as_ref()
    }

    /// Replace weight and bias with arrays of the same shapes (rewriting passes).
    pub(crate) fn replace_params(&mut self, weight: Array2<f32>, bias: Option<Array1<f32>>) {
        debug_assert_eq!(weight.shape(), self.weight.shape());
        self.weight = super::standard(weight);
        self.bias = bias.map(super::standard);
    }

    pub(crate) fn weight_slice(&self) -> &[f32] {
        self.weight
            .as_slice()
            .expect("dense weight is kept in standard layout")
    }

    /// Number of outputs `M`.
    pub fn out_features(&self) -> usize {
        self.weight.nrows()
    }

    /// Number of inputs `K`.
    pub fn in_features(&self) -> usize {
        self.weight.ncols()
    }

    /// Validate against a per-sample input shape and return `[M]`.
    pub fn output_shape(&self, node: &NodeRef, input: &[usize]) -> Result<Vec<usize>> {
        let k: usize = input.iter().product();
        if let Some(b) = &self.bias {
            if b.len() != self.out_features() {
                return Err(Error::param(
                    node,
                    format!(
                        "bias has {} values for {} outputs",
                        b.len(),
                        self.out_features()
                    ),
                ));
            }
        }
        if k != self.in_features() {
            return Err(Error::shape(
                node,
                format!(
                    "input {input:?} has {k} features but the weight [{}, {}] expects {}",
                    self.out_features(),
                    self.in_features(),
                    self.in_features()
                ),
            ));
        }
        Ok(vec![self.out_features()])
    }

    /// Forward pass on `[N, …]` (shape validated by [`Dense::output_shape`]).
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let n = x.shape()[0];
        let (m, k) = (self.out_features(), self.in_features());
        let mut y = Tensor::zeros(IxDyn(&[n, m]));
        kernels::dense_forward(
            x.as_slice().expect("standard layout input"),
            n,
            k,
            self.weight_slice(),
            m,
            self.bias.as_ref().and_then(|b| b.as_slice()),
            y.as_slice_mut().expect("fresh tensor"),
        );
        y
    }
}

impl Operator for Dense {
    type Params = Dense;
    const KIND: &'static str = "Dense";
    const CATEGORY: Category = Category::Linear;

    single_input!(Dense);

    fn params(p: &Dense) -> Vec<&[f32]> {
        super::linear::weight_and_bias(&p.weight, p.bias.as_ref())
    }

    fn params_mut(p: &mut Dense) -> Vec<&mut [f32]> {
        super::linear::weight_and_bias_mut(&mut p.weight, p.bias.as_mut())
    }

    fn linear<'a>(p: &'a Dense, _input: &[usize]) -> Option<Box<dyn LinearMap + 'a>> {
        Some(Box::new(p))
    }
}

impl LinearMap for Dense {
    fn in_len(&self) -> usize {
        self.in_features()
    }

    fn out_len(&self) -> usize {
        self.out_features()
    }

    fn weight_values(&self) -> &[f32] {
        self.weight_slice()
    }

    fn bias_values(&self) -> Option<&[f32]> {
        self.bias().and_then(|b| b.as_slice())
    }

    fn out_channels(&self) -> (usize, usize) {
        (self.out_features(), 1)
    }

    fn in_channels(&self) -> (usize, usize) {
        (self.in_features(), 1)
    }

    fn paper_flat(&self) -> f32 {
        1.0 / self.in_features() as f32
    }

    fn forward(&self, x: &[f32], n: usize, w: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
        kernels::dense_forward(x, n, self.in_features(), w, self.out_features(), bias, out)
    }

    fn transpose(&self, s: &[f32], n: usize, w: &[f32], out: &mut [f32]) {
        dense_transpose(s, n, self.out_features(), self.in_features(), w, out)
    }

    fn transpose_stacked(&self, s: &[f32], n: usize, stacked: &[f32], out: &mut [f32]) {
        dense_transpose(
            s,
            n,
            2 * self.out_features(),
            self.in_features(),
            stacked,
            out,
        )
    }

    fn transpose_uniform(&self, s: &[f32], n: usize, value: f32, out: &mut [f32]) {
        let (il, ol) = (self.in_len(), self.out_len());
        out.par_chunks_mut(il)
            .zip(s.par_chunks(ol))
            .take(n)
            .for_each(|(o, sr)| o.fill(value * kernels::sum(sr) as f32));
    }
}

/// `out[n×k] = s[n×m] · W[m×k]`, parallel over blocks of input features.
fn dense_transpose(s: &[f32], n: usize, m: usize, k: usize, w: &[f32], out: &mut [f32]) {
    let blocks = kernels::split_range(k, kernels::tasks_for(n * m * k), 64);
    let op = SyncPtr::new(out);
    blocks.par_iter().for_each(|&(j0, j1)| {
        // SAFETY: each block writes only columns j0..j1 of every row; blocks are disjoint.
        let out = unsafe { op.slice() };
        kernels::sgemm(
            n,
            j1 - j0,
            m,
            MatRef::row_major(s, m),
            MatRef {
                data: &w[j0..],
                rs: k,
                cs: 1,
            },
            &mut out[j0..],
            k,
            false,
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::{assert_close, random};

    fn naive(d: &Dense, x: &Tensor) -> Tensor {
        let n = x.shape()[0];
        let flat: Vec<f32> = x.iter().copied().collect();
        let (m, k) = (d.out_features(), d.in_features());
        let mut y = Tensor::zeros(IxDyn(&[n, m]));
        for b in 0..n {
            for j in 0..m {
                let mut acc = d.bias.as_ref().map_or(0.0, |bb| bb[j] as f64);
                for i in 0..k {
                    acc += d.weight[[j, i]] as f64 * flat[b * k + i] as f64;
                }
                y[[b, j]] = acc as f32;
            }
        }
        y
    }

    #[test]
    fn matches_naive_on_random_shapes() {
        let mut rng = crate::zoo::rng::Rng::new(5);
        for t in 0..20 {
            let n = 1 + rng.below(9);
            let shape = [1 + rng.below(6), 1 + rng.below(5), 1 + rng.below(5)];
            let k: usize = shape.iter().product();
            let m = 1 + rng.below(70);
            let w = random(&[m, k], t).into_dimensionality().unwrap();
            let b = (t % 2 == 0).then(|| random(&[m], t + 100).into_dimensionality().unwrap());
            let d = Dense::new(w, b);
            let x = random(&[n, shape[0], shape[1], shape[2]], t + 200);
            assert_eq!(
                d.output_shape(&NodeRef::new("fc", "Dense"), &shape)
                    .unwrap(),
                vec![m]
            );
            assert_close(&d.forward(&x), &naive(&d, &x), 1e-5);
        }
    }

    #[test]
    fn wrong_input_size_is_an_error_naming_the_node() {
        let d = Dense::new(Array2::zeros((4, 10)), None);
        let err = d
            .output_shape(&NodeRef::new("fc6", "Dense"), &[3, 2, 2])
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("fc6") && msg.contains("12 features"), "{msg}");
    }
}
