//! Reading model files: ONNX models and Caffe networks (prototxt, caffemodel, binaryproto).
//!
//! This layer decodes files into typed protobuf messages and checks that what they declare is
//! consistent with what they contain; [`caffe`] then builds [`Graph`](crate::Graph)s from
//! Caffe networks.
//!
//! - [`proto`]: the Rust types generated (in `build.rs`, with `prost-build` and `protox`, no
//!   `protoc`) from our abridged schemas `proto/caffe.proto` and `proto/onnx.proto`.
//! - [`prototxt`]: a parser of the protobuf text format as Caffe files use it, filling
//!   [`proto::caffe::NetParameter`]; unknown fields are skipped with a warning.
//! - [`caffe`]: a Caffe network (prototxt + caffemodel + mean image) as a
//!   [`Graph`](crate::Graph) through a layer table (layer type → builder), seeded random Caffe
//!   weights; binary `.caffemodel` and `.binaryproto` decoding and writing ([`caffe::blob`]),
//!   the V1 → V2 layer upgrade and the network inputs ([`caffe::upgrade`]).
//! - [`onnx`]: an ONNX model as a [`Graph`](crate::Graph): `ModelProto` decoding and tensors
//!   ([`onnx::decode`]), typed attribute getters ([`onnx::attrs`]), the constant folder
//!   ([`onnx::fold`]) and the op table ([`onnx::OPS`]) with one builder per operator.
//!
//! Every function that reads user data takes a `file` label (the path, or any name for
//! in-memory data) that ends up in its errors.

pub mod caffe;
pub mod onnx;
pub mod prototxt;

/// Caffe binary files, blobs and the V1 upgrade under their former path: re-exports of
/// [`caffe::blob`] and [`caffe::upgrade`].
pub mod caffe_model {
    pub use super::caffe::blob::*;
    pub use super::caffe::upgrade::*;
}

/// ONNX decoding, tensors and attribute getters under their former path: re-exports of
/// [`onnx::decode`] and [`onnx::attrs`].
pub mod onnx_model {
    pub use super::onnx::attrs::*;
    pub use super::onnx::decode::*;
}

/// Types generated from `proto/*.proto` by `prost-build`.
pub mod proto {
    /// Caffe messages (package `caffe`): `NetParameter`, `LayerParameter`, `BlobProto`, ...
    #[allow(missing_docs, clippy::all, clippy::pedantic, rustdoc::all)]
    pub mod caffe {
        include!(concat!(env!("OUT_DIR"), "/caffe.rs"));
    }

    /// ONNX messages (package `onnx`): `ModelProto`, `GraphProto`, `NodeProto`, ...
    #[allow(missing_docs, clippy::all, clippy::pedantic, rustdoc::all)]
    pub mod onnx {
        include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
    }

    /// The encoded `FileDescriptorSet` of both schemas, as compiled by `build.rs`.
    pub(crate) const DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/lrp_descriptors.bin"));
}

use crate::error::Result;
use std::path::Path;

/// Reads a whole file of at most `limit` bytes (see [`crate::files`]), naming it and `kind`
/// in the error.
pub(crate) fn read_file(path: &Path, limit: u64, kind: &'static str) -> Result<Vec<u8>> {
    crate::files::read_bounded(path, limit, kind)
}

/// Product of `dims` with overflow checking; `None` on overflow.
pub(crate) fn checked_product(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}
