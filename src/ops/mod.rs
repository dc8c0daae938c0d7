//! Forward operators, one file per layer kind.
//!
//! Every operator works on per-sample shapes for shape inference (the batch dimension is not
//! part of a graph's static shapes) and on batch-first `f32` tensors in standard (row-major,
//! contiguous) layout for `forward`. Image tensors are NCHW.
//!
//! Each file holds the layer's parameters (a small config struct), its shape arithmetic, its
//! forward computation, and unit tests against a deliberately naive loop implementation.

pub mod activation;
pub mod affine;
pub mod concat;
pub mod conv;
pub mod dense;
pub mod elementwise;
pub mod lrn;
pub mod pad;
pub mod pool;
pub mod shape;
pub mod softmax;

pub use affine::Affine;
pub use concat::Concat;
pub use conv::Conv2d;
pub use dense::Dense;
pub use lrn::Lrn;
pub use pad::Pad;
pub use pool::{Pool2d, PoolRounding};
pub use shape::Reshape;
pub use softmax::Softmax;

use crate::error::{Error, NodeRef, Result};
use ndarray::ArrayD;

/// `a` in standard (row-major, contiguous) layout: moved as it is when it already is, copied
/// only when not. (`as_standard_layout().into_owned()` copies every time, which doubled the
/// memory of importing a 411 MB dense weight.)
pub(crate) fn standard<D: ndarray::Dimension>(a: ndarray::Array<f32, D>) -> ndarray::Array<f32, D> {
    if a.is_standard_layout() {
        a
    } else {
        a.as_standard_layout().into_owned()
    }
}

/// The tensor type of the crate: a dynamically shaped `f32` array, batch first.
pub type Tensor = ArrayD<f32>;

/// One operator of a [`Graph`](crate::Graph) with its parameters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Op {
    /// 2-D convolution (groups, stride, dilation, asymmetric padding, optional bias).
    Conv(Conv2d),
    /// Fully connected layer (Caffe inner product / ONNX Gemm); the input is flattened.
    Dense(Dense),
    /// `max(x, 0)`.
    Relu,
    /// Max pooling.
    MaxPool(Pool2d),
    /// Average pooling.
    AvgPool(Pool2d),
    /// Mean over all spatial positions of each channel: `[C,H,W] -> [C,1,1]`.
    GlobalAvgPool,
    /// Local response normalisation across channels.
    Lrn(Lrn),
    /// Concatenation of several inputs along one axis.
    Concat(Concat),
    /// Element-wise sum of two or more inputs of the same shape (residual connections).
    Add,
    /// Element-wise product of two or more inputs of the same shape.
    Mul,
    /// Per-channel affine map `y = scale·x + shift` (BatchNorm in inference form, Caffe Scale).
    Affine(Affine),
    /// Constant padding (spatial or channel).
    Pad(Pad),
    /// Flatten everything but the batch dimension.
    Flatten,
    /// Reshape to a fixed per-sample shape.
    Reshape(Reshape),
    /// Dropout: identity at inference.
    Dropout,
    /// Softmax along one axis.
    Softmax(Softmax),
    /// Identity.
    Identity,
}

/// How many inputs an operator takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    /// Exactly this many.
    Exactly(usize),
    /// At least this many.
    AtLeast(usize),
}

impl Op {
    /// The operator's kind, as used in error messages and rule overrides.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Conv(_) => "Conv",
            Op::Dense(_) => "Dense",
            Op::Relu => "Relu",
            Op::MaxPool(_) => "MaxPool",
            Op::AvgPool(_) => "AvgPool",
            Op::GlobalAvgPool => "GlobalAvgPool",
            Op::Lrn(_) => "Lrn",
            Op::Concat(_) => "Concat",
            Op::Add => "Add",
            Op::Mul => "Mul",
            Op::Affine(_) => "Affine",
            Op::Pad(_) => "Pad",
            Op::Flatten => "Flatten",
            Op::Reshape(_) => "Reshape",
            Op::Dropout => "Dropout",
            Op::Softmax(_) => "Softmax",
            Op::Identity => "Identity",
        }
    }

    /// Number of inputs the operator accepts.
    pub fn arity(&self) -> Arity {
        match self {
            Op::Concat(_) => Arity::AtLeast(1),
            Op::Add | Op::Mul => Arity::AtLeast(2),
            _ => Arity::Exactly(1),
        }
    }

    /// Whether the operator carries learned weights (a linear layer that LRP rules act on).
    pub fn is_linear(&self) -> bool {
        matches!(self, Op::Conv(_) | Op::Dense(_))
    }

    /// Per-sample output shape for the given per-sample input shapes, or an error naming
    /// `node`. Also validates the operator's parameters against its inputs.
    pub fn output_shape(&self, node: &NodeRef, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        match self.arity() {
            Arity::Exactly(n) if inputs.len() != n => {
                return Err(Error::shape(
                    node,
                    format!("takes {n} input(s), got {}", inputs.len()),
                ))
            }
            Arity::AtLeast(n) if inputs.len() < n => {
                return Err(Error::shape(
                    node,
                    format!("takes at least {n} inputs, got {}", inputs.len()),
                ))
            }
            _ => {}
        }
        match self {
            Op::Conv(c) => c.output_shape(node, inputs[0]),
            Op::Dense(d) => d.output_shape(node, inputs[0]),
            Op::MaxPool(p) | Op::AvgPool(p) => p.output_shape(node, inputs[0]),
            Op::GlobalAvgPool => pool::global_output_shape(node, inputs[0]),
            Op::Lrn(l) => l.output_shape(node, inputs[0]),
            Op::Concat(c) => c.output_shape(node, inputs),
            Op::Add | Op::Mul => elementwise::output_shape(node, inputs),
            Op::Affine(a) => a.output_shape(node, inputs[0]),
            Op::Pad(p) => p.output_shape(node, inputs[0]),
            Op::Flatten => Ok(vec![inputs[0].iter().product()]),
            Op::Reshape(r) => r.output_shape(node, inputs[0]),
            Op::Softmax(s) => s.output_shape(node, inputs[0]),
            Op::Relu | Op::Dropout | Op::Identity => Ok(inputs[0].to_vec()),
        }
    }

    /// Forward computation on batch-first tensors in standard layout whose shapes passed
    /// [`Op::output_shape`].
    pub fn forward(&self, inputs: &[&Tensor]) -> Tensor {
        match self {
            Op::Conv(c) => c.forward(inputs[0]),
            Op::Dense(d) => d.forward(inputs[0]),
            Op::Relu => activation::relu(inputs[0]),
            Op::MaxPool(p) => p.forward_max(inputs[0]),
            Op::AvgPool(p) => p.forward_avg(inputs[0]),
            Op::GlobalAvgPool => pool::global_avg(inputs[0]),
            Op::Lrn(l) => l.forward(inputs[0]),
            Op::Concat(c) => c.forward(inputs),
            Op::Add => elementwise::add(inputs),
            Op::Mul => elementwise::mul(inputs),
            Op::Affine(a) => a.forward(inputs[0]),
            Op::Pad(p) => p.forward(inputs[0]),
            Op::Flatten => shape::flatten(inputs[0]),
            Op::Reshape(r) => r.forward(inputs[0]),
            Op::Softmax(s) => s.forward(inputs[0]),
            Op::Dropout | Op::Identity => inputs[0].clone(),
        }
    }

    /// Number of learned parameters (weights and biases, or affine scales and shifts).
    pub fn num_params(&self) -> usize {
        self.params().iter().map(|p| p.len()).sum()
    }

    /// The operator's parameter buffers, for counting and validation.
    pub fn params(&self) -> Vec<&[f32]> {
        let mut out: Vec<&[f32]> = Vec::new();
        match self {
            Op::Conv(c) => {
                out.push(c.weight_slice());
                if let Some(b) = &c.bias {
                    out.push(b.as_slice().unwrap_or(&[]));
                }
            }
            Op::Dense(d) => {
                out.push(d.weight_slice());
                if let Some(b) = &d.bias {
                    out.push(b.as_slice().unwrap_or(&[]));
                }
            }
            Op::Affine(a) => {
                out.push(a.scale.as_slice().unwrap_or(&[]));
                out.push(a.shift.as_slice().unwrap_or(&[]));
            }
            _ => {}
        }
        out
    }

    /// Mutable access to the operator's parameter buffers.
    pub(crate) fn params_mut(&mut self) -> Vec<&mut [f32]> {
        let mut out: Vec<&mut [f32]> = Vec::new();
        match self {
            Op::Conv(c) => {
                out.extend(c.weight.as_slice_mut());
                if let Some(b) = &mut c.bias {
                    out.extend(b.as_slice_mut());
                }
            }
            Op::Dense(d) => {
                out.extend(d.weight.as_slice_mut());
                if let Some(b) = &mut d.bias {
                    out.extend(b.as_slice_mut());
                }
            }
            Op::Affine(a) => {
                out.extend(a.scale.as_slice_mut());
                out.extend(a.shift.as_slice_mut());
            }
            _ => {}
        }
        out
    }
}

/// Flush subnormal values to zero; returns how many were flushed.
///
/// Subnormal floats make x86 arithmetic several times slower; trained models (the shipped age
/// model among them) contain thousands. Flushing them changes no output measurably.
pub fn flush_denormals(values: &mut [f32]) -> usize {
    let mut n = 0;
    for v in values {
        if v.is_subnormal() {
            *v = 0.0;
            n += 1;
        }
    }
    n
}

/// Error if any value is NaN or infinite; `what` names the holder in the message.
pub fn check_finite(what: impl FnOnce() -> String, values: &[f32]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(index) => Err(Error::NonFinite {
            what: what(),
            value: values[index],
            index,
        }),
    }
}

/// Output size of a sliding window along one axis (floor rounding), or `None` when the
/// (dilated) window does not fit into the padded input.
pub(crate) fn window_out(
    input: usize,
    pad_begin: usize,
    pad_end: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
) -> Option<usize> {
    let padded = input + pad_begin + pad_end;
    let span = dilation * (kernel - 1) + 1;
    if span > padded || stride == 0 {
        None
    } else {
        Some((padded - span) / stride + 1)
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
pub(crate) mod testutil {
    //! Helpers for the naive-reference tests of the operators.

    use super::Tensor;
    use ndarray::IxDyn;

    /// Deterministic pseudo-random tensor with values in [-1, 1).
    pub fn random(shape: &[usize], seed: u64) -> Tensor {
        let mut rng = crate::zoo::rng::Rng::new(seed);
        Tensor::from_shape_fn(IxDyn(shape), |_| rng.uniform() * 2.0 - 1.0)
    }

    /// Assert that `a` agrees with the reference `b` to `rel` relative to the largest
    /// magnitude of `b` (normwise relative error: float32 sums with cancellation cannot be
    /// held to an elementwise relative bound), plus a 1e-12 absolute slack for all-zero
    /// references.
    pub fn assert_close(a: &Tensor, b: &Tensor, rel: f32) {
        assert_eq!(a.shape(), b.shape(), "shapes differ");
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
            let tol = rel * scale + 1e-12;
            assert!(
                (x - y).abs() <= tol,
                "element {i}: {x} vs reference {y} (|diff| {} > tol {tol})",
                (x - y).abs()
            );
        }
    }
}
