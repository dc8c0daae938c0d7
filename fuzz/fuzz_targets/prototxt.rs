//! Prototxt text → `prototxt::parse_net`; when it parses and is small, the network is built
//! with seeded random weights (`caffe::from_net_random`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lrp::import::{caffe, prototxt};

/// Nets with more layers than this are not built (building is linear in the layers; the
/// limit keeps the fuzzer fast).
const MAX_LAYERS: usize = 64;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = prototxt::parse_net(text, "fuzz.prototxt") else {
        return;
    };
    let net = parsed.message;
    if net.layer.len() + net.layers.len() > MAX_LAYERS {
        return;
    }
    let _ = caffe::from_net_random(&net, 7, "fuzz.prototxt");
});
