//! Binaryproto bytes → `caffe_model::decode_blob`, then `mean_image` and `blob_to_array`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lrp::import::caffe_model;

fuzz_target!(|data: &[u8]| {
    let Ok(blob) = caffe_model::decode_blob(data, "fuzz.binaryproto") else {
        return;
    };
    let _ = caffe_model::blob_shape(&blob, "fuzz.binaryproto", "blob");
    let _ = caffe_model::blob_to_array(&blob, "fuzz.binaryproto", "blob");
    let _ = caffe_model::mean_image(&blob, "fuzz.binaryproto");
});
