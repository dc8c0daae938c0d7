//! The whole explanation pipeline on a small model.
//!
//! Input layout: byte 0 picks the composite preset, byte 1 the channel reduction and the
//! clipping percentile, bytes 2..10 seed the random input, the rest is an ONNX model (the
//! seed corpus holds the small models of `tests/data/onnx_node` with this 10-byte header).
//! An imported model whose input is small is explained for its predicted class, and the
//! relevance of the first map is reduced, normalised and rendered.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lrp::composite::{Composite, PRESETS};
use lrp::explain::{Explainer, Target};
use lrp::heatmap::{normalize, reduce, render, Colormap, Normalize, Reduce};
use ndarray::{s, IxDyn};

const MAX_INPUT: usize = 20_000;
const MAX_ACTIVATIONS: usize = 1_000_000;

fuzz_target!(|data: &[u8]| {
    if data.len() < 10 {
        return;
    }
    let preset = PRESETS[data[0] as usize % PRESETS.len()];
    let how = match data[1] % 3 {
        0 => Reduce::Sum,
        1 => Reduce::L2Norm,
        _ => Reduce::MaxAbs,
    };
    let opts = if data[1] & 0x80 != 0 {
        Normalize::percentile(f32::from(data[1] & 0x7f).max(1.0))
    } else {
        Normalize::default()
    };
    let mut seed = u64::from_le_bytes(data[2..10].try_into().unwrap());
    let Ok(graph) = lrp::import::onnx::from_bytes(&data[10..], "fuzz.onnx") else {
        return;
    };
    let small = |shape: &[usize]| shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let total = graph
        .tensors()
        .iter()
        .try_fold(0usize, |acc, t| acc.checked_add(small(&t.shape)?));
    match (small(graph.input_shape()), total) {
        (Some(n), Some(t)) if n <= MAX_INPUT && t <= MAX_ACTIVATIONS => {}
        _ => return,
    }
    let Ok(composite) = Composite::preset(preset) else {
        return;
    };
    let Ok(explainer) = Explainer::new(graph, &composite) else {
        return;
    };
    let mut shape = vec![1usize];
    shape.extend_from_slice(explainer.graph().input_shape());
    // SplitMix64 values in [-1, 1).
    let x = lrp::Tensor::from_shape_fn(IxDyn(&shape), |_| {
        seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    });
    let Ok(explanation) = explainer.explain(&x, &Target::Predicted) else {
        return;
    };
    let r = &explanation.relevance;
    if r.ndim() != 5 {
        return;
    }
    let first = r.slice(s![0, 0, .., .., ..]);
    let Ok(map) = reduce(first, how) else {
        return;
    };
    let Ok(normalized) = normalize(&map, &opts) else {
        return;
    };
    let _ = render(&normalized.map, &Colormap::black_firered());
});
