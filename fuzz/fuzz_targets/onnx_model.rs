//! ONNX bytes → `lrp::import::onnx::from_bytes`; when the model imports and is small, a
//! forward pass on a zero input of the graph's input shape.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Largest input (elements per sample) and largest total of all intermediate tensors that
/// the harness runs forward; bigger models are legitimate but only slow the fuzzer down.
const MAX_INPUT: usize = 100_000;
const MAX_ACTIVATIONS: usize = 4_000_000;

fuzz_target!(|data: &[u8]| {
    let Ok(graph) = lrp::import::onnx::from_bytes(data, "fuzz.onnx") else {
        return;
    };
    let per_sample: Option<usize> = graph
        .input_shape()
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d));
    let total: Option<usize> = graph.tensors().iter().try_fold(0usize, |acc, t| {
        let n = t.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))?;
        acc.checked_add(n)
    });
    match (per_sample, total) {
        (Some(n), Some(t)) if n <= MAX_INPUT && t <= MAX_ACTIVATIONS => {}
        _ => return,
    }
    let mut shape = vec![1usize];
    shape.extend_from_slice(graph.input_shape());
    let x = lrp::Tensor::zeros(ndarray::IxDyn(&shape));
    let _ = graph.forward(&x);
});
