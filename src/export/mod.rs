//! Writing model files: a [`Graph`](crate::Graph) as an ONNX model.
//!
//! - [`onnx`]: every operator of [`Op`](crate::Op) as standard ONNX (opset 13), weights as
//!   initializers; the files read back with [`crate::import::onnx`] and run in onnxruntime.

pub mod onnx;
