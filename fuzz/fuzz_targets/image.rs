//! Image bytes (PNG/JPEG) → `preprocess::decode_rgb` → `to_tensor` with
//! `Preprocess::onnx_face(32)`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lrp::preprocess::{decode_rgb, to_tensor, Preprocess};

fuzz_target!(|data: &[u8]| {
    let Ok(img) = decode_rgb(data, "fuzz.img") else {
        return;
    };
    let _ = to_tensor(&[img], &Preprocess::onnx_face(32));
});
