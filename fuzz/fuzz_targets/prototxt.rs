//! Prototxt text → `prototxt::parse_net`; when it parses and is small, the network is built
//! with seeded random weights (`caffe::from_net_random`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lrp::import::{caffe, caffe_model, prototxt};

/// Nets with more layers, larger inputs or wider layers than this are not built: drawing
/// tens of millions of random weights (CaffeNet) is legitimate but takes longer than the
/// fuzzer's timeout under the address sanitizer. The library bounds the total itself
/// (`caffe::MAX_RANDOM_PARAMS`).
const MAX_LAYERS: usize = 64;
const MAX_INPUT: usize = 3 * 64 * 64;
const MAX_OUTPUTS: u32 = 512;

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
    let small_inputs = caffe_model::net_inputs(&net, "fuzz.prototxt").is_ok_and(|inputs| {
        inputs.iter().all(|i| {
            i.shape
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))
                .is_some_and(|n| n <= MAX_INPUT)
        })
    });
    let narrow = |conv: Option<u32>, fc: Option<u32>| {
        conv.unwrap_or(0) <= MAX_OUTPUTS && fc.unwrap_or(0) <= MAX_OUTPUTS
    };
    let narrow_layers = net.layer.iter().all(|l| {
        narrow(
            l.convolution_param.as_ref().and_then(|p| p.num_output),
            l.inner_product_param.as_ref().and_then(|p| p.num_output),
        )
    }) && net.layers.iter().all(|l| {
        narrow(
            l.convolution_param.as_ref().and_then(|p| p.num_output),
            l.inner_product_param.as_ref().and_then(|p| p.num_output),
        )
    });
    if small_inputs && narrow_layers {
        let _ = caffe::from_net_random(&net, 7, "fuzz.prototxt");
    }
});
