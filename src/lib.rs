//! # lrp — Layer-wise Relevance Propagation for convolutional networks
//!
//! Load a network (the zoo of the ICCV 2017 age and gender paper, Caffe or ONNX files), run it
//! forward, and explain its decisions with LRP heatmaps.
//!
//! Every fallible function returns [`Result`] with the one error type [`Error`]; the
//! [error catalogue](error#error-catalogue) lists each variant, when it happens, an example
//! message and what to do about it.
//!
//! # Where everything lives
//!
//! Data flows one way, and no module imports one above it in this table:
//!
//! ```text
//! file (ONNX | Caffe prototxt + caffemodel + binaryproto) ──import──▶ Graph ──canonize──▶ Graph
//! image ──preprocess──▶ input tensor ──Graph::forward──▶ logits + kept activations
//! target + Composite ──Explainer::explain──▶ relevance ──heatmap / compare──▶ PNG, numbers
//! ```
//!
//! | layer | modules | owns |
//! |---|---|---|
//! | command line | `src/bin/lrp` | arguments, progress bars, output file layout |
//! | arrays → pictures, numbers | [`heatmap`], [`compare`], [`evaluate`] | colour maps, figures, similarity, pixel flipping, clustering; quality metrics of explanations (Quantus's definitions) |
//! | limits | [`memory`] | bytes an explanation needs (from shapes, before allocating), the memory the process may use |
//! | explaining | [`explain`], [`composite`], [`tokens`], [`concepts`] | the [`Explainer`](explain::Explainer) (forward, seed, walk back, conservation); which rule each layer gets; a vision transformer's patch-token relevance; relevance conditioned on channels (CRP) |
//! | rules | [`rules`] | each LRP rule once, as data over the operators' primitives |
//! | graph | [`graph`], [`ops`] | the graph, its forward pass; one file per operator: parameters, shape, forward, relevance primitives |
//! | hot loops | [`kernels`] | GEMM, im2col/col2im, convolution products, parallel splits |
//! | finding faces | [`faces`] | the shipped face detector: its input, box decoding, non-maximum suppression, face crops |
//! | files in | [`files`], [`import`], [`canonize`], [`preprocess`], [`model`], [`assets`], [`zoo`] | reading with a size bound, ONNX and Caffe decoding, canonisation, image preprocessing, shipped models, the paper's architectures |
//! | files out | [`export`], [`dataset`] | ONNX export; whole datasets: input discovery, shards, output layout, atomic writes, manifests |
//!
//! `ops` knows nothing of rules, composites or files; `rules` knows operators only through
//! [`ops::LinearMap`] and [`ops::Route`]; `composite` maps layers to rules without their
//! math; `explain` puts them together.
//!
//! # How to add …
//!
//! - **an operator**: a file `src/ops/<kind>.rs` with its parameter struct (or a unit marker)
//!   implementing [`ops::Operator`] (kind, category, shape rule, forward, and either a
//!   [`LinearMap`](ops::LinearMap) for layers with weights or the [`Route`](ops::Route)s it
//!   offers), one line in the registry in `src/ops/mod.rs`, and one line in each importer's op
//!   table. Composites give it a rule through its [`Category`](ops::Category).
//! - **a rule**: for layers with weights, a file in `src/rules/` whose `groups` function
//!   writes the rule as [terms](rules::terms), plus its [`Rule`](rules::Rule) variant with its
//!   name and parser lines; for other layers, a [`Route`](ops::Route) that operators offer.
//! - **a preset**: one row of [`composite::PRESET_TABLE`].
//! - **a subcommand**: one file in `src/bin/lrp/` and its line in the command enum.

#![warn(missing_docs)]

pub mod assets;
pub mod attribution;
pub mod canonize;
pub mod compare;
pub mod composite;
pub mod concepts;
pub mod dataset;
pub mod error;
pub mod evaluate;
pub mod explain;
pub mod export;
pub mod faces;
pub mod files;
pub mod graph;
pub mod heatmap;
pub mod import;
pub mod kernels;
pub mod memory;
pub mod model;
pub mod ops;
pub mod preprocess;
pub mod profile;
pub mod rules;
pub mod tokens;
pub mod zoo;

pub use error::{Error, NodeRef, Result};
pub use graph::{Activations, Graph, GraphBuilder, Node, TensorInfo, MAX_ACTIVATION_VALUES};
pub use ops::{Op, Tensor};
