//! The two shipped ONNX models (read from ../shared/models) against onnxruntime's logits in
//! ../shared/reference (onnxruntime 1.32.0, see its README): imported, canonised, and run.

use lrp::canonize::canonize;
use lrp::import::onnx;
use lrp::{Graph, Tensor};
use ndarray::{ArrayD, IxDyn};
use ndarray_npy::read_npy;

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared");

fn npy(name: &str) -> ArrayD<f32> {
    read_npy(format!("{SHARED}/reference/{name}")).unwrap()
}

/// The pre-softmax logits of `g` on `x`: the input of its final Softmax.
fn logits(g: &Graph, x: &Tensor) -> Tensor {
    let acts = g.run(&[x], true).unwrap();
    let last = g.nodes().len() - 1;
    assert_eq!(g.nodes()[last].op.kind(), "Softmax");
    acts.get(g.node_inputs(last)[0]).unwrap().clone()
}

/// Normwise relative agreement: |a − b| ≤ rel · max|b|. (Elementwise relative error is
/// meaningless for logits near zero: float32 summation order alone moves them by ~1e-6 of
/// the largest logit.)
fn assert_rel(got: &Tensor, want: &ArrayD<f32>, rel: f32, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    for (i, (a, b)) in got.iter().zip(want.iter()).enumerate() {
        assert!(
            (a - b).abs() <= rel * scale,
            "{what}: logit {i}: {a} vs onnxruntime {b}"
        );
    }
}

fn check(model: &str, prefix: &str) {
    let raw = onnx::load_raw(format!("{SHARED}/models/{model}")).unwrap();
    let canon = canonize(&raw).unwrap();
    let x = npy(&format!("{prefix}_input.npy"));
    let want = npy(&format!("{prefix}_logits.npy"));
    // 1e-5 relative: the tolerance the reference README states for logits.
    assert_rel(
        &logits(&raw, &x),
        &want,
        1e-5,
        &format!("{model} as imported"),
    );
    assert_rel(
        &logits(&canon, &x),
        &want,
        1e-5,
        &format!("{model} canonised"),
    );
    // Canonisation folds every affine map here, and drops nothing else.
    assert!(
        canon.nodes().iter().all(|n| n.op.kind() != "Affine"),
        "{model}"
    );
    assert!(canon.nodes().len() < raw.nodes().len());
}

#[test]
fn gender_model_matches_onnxruntime() {
    check("gender-v1.onnx", "astronaut_gender");
}

#[test]
fn age_model_matches_onnxruntime() {
    check("age-v1.onnx", "astronaut_age");
}

#[test]
fn load_canonises_and_keeps_shapes() {
    // The age model's weights contain thousands of subnormals (see its NOTICE); importing
    // flushed them.
    let raw = onnx::load_raw(format!("{SHARED}/models/age-v1.onnx")).unwrap();
    assert!(
        raw.flushed_denormals() > 1000,
        "{}",
        raw.flushed_denormals()
    );
    let g = onnx::load(format!("{SHARED}/models/age-v1.onnx")).unwrap();
    assert_eq!(g.input_shape(), &[3, 64, 64]);
    assert_eq!(g.output_shape(), &[81]);
    let x = Tensor::zeros(IxDyn(&[2, 3, 64, 64]));
    let p = g.forward(&x).unwrap();
    for row in p.rows() {
        assert!((row.sum() - 1.0).abs() < 1e-5);
    }
}
