//! # lrp — Layer-wise Relevance Propagation for convolutional networks
//!
//! Load a network (the zoo of the ICCV 2017 age and gender paper, Caffe or ONNX files), run it
//! forward, and explain its decisions with LRP heatmaps.
//!
//! Every fallible function returns [`Result`] with the one error type [`Error`]; the
//! [error catalogue](error#error-catalogue) lists each variant, when it happens, an example
//! message and what to do about it.

#![warn(missing_docs)]

pub mod assets;
pub mod canonize;
pub mod compare;
pub mod composite;
pub mod error;
pub mod explain;
pub mod export;
pub mod graph;
pub mod heatmap;
pub mod import;
pub mod kernels;
pub mod model;
pub mod ops;
pub mod preprocess;
pub mod rules;
pub mod zoo;

pub use error::{Error, NodeRef, Result};
pub use graph::{Activations, Graph, GraphBuilder, Node, TensorInfo, MAX_ACTIVATION_VALUES};
pub use ops::{Op, Tensor};
