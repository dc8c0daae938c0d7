//! Caffemodel bytes → `decode_caffemodel` (with its locating of the broken layer) and
//! `caffe_model::decode_net`, then the V1 → V2 normalisation and the network inputs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lrp::import::{caffe, caffe_model};

fuzz_target!(|data: &[u8]| {
    let _ = caffe::decode_caffemodel(data, "fuzz.caffemodel");
    if let Ok(net) = caffe_model::decode_net(data, "fuzz.caffemodel") {
        if let Ok(net) = caffe_model::normalize_net(net, "fuzz.caffemodel") {
            let _ = caffe_model::net_inputs(&net, "fuzz.caffemodel");
        }
    }
});
