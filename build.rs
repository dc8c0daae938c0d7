//! Generates the Rust types of the ONNX and Caffe protobuf schemas in `proto/`.
//!
//! The schemas are compiled with `protox` (pure Rust), so no `protoc` is needed; `prost-build`
//! turns the resulting descriptors into Rust code. The encoded descriptor set is written to
//! `OUT_DIR/lrp_descriptors.bin` as well: the prototxt parser maps field names to fields
//! through it (`prost-reflect`).

use prost::Message;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/caffe.proto");
    println!("cargo:rerun-if-changed=proto/onnx.proto");
    println!("cargo:rerun-if-changed=build.rs");

    let fds = protox::compile(["caffe.proto", "onnx.proto"], ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("lrp_descriptors.bin"), fds.encode_to_vec())?;
    prost_build::Config::new()
        // `prost::Name` impls: the prototxt parser finds a message's descriptor by its full name.
        .enable_type_names()
        // Tensor data as `bytes::Bytes`: decoding a file read into `Bytes` then slices it
        // instead of copying every weight (VGG-16's 537 MB would be in memory twice).
        .bytes([".onnx.TensorProto.raw_data"])
        .compile_fds(fds)?;
    Ok(())
}
