//! The ONNX package's "light" model zoo, run through our importer and forward pass.
//!
//! Data: `tests/data/onnx_light/` (Apache-2.0, copied from the onnx 1.23.2 wheel, see the
//! NOTICE and README there); `tests/onnx_light_data.py` copies the files and regenerates the
//! input and the logits.
//!
//! Each model is checked twice:
//! 1. its output against the shipped `light_<model>_output_0.pb`, with the tolerances the
//!    ONNX backend test runner declares for it (`onnx/backend/test/case/model/__init__.py`,
//!    also `onnx/backend/test/data/real/test_<model>/data.json`): rtol 1e-3, atol 1e-7, except
//!    densenet121 with rtol 2e-3;
//! 2. for the models that end with Softmax, the Softmax input (logits) against
//!    `light_<model>_logits.pb`, computed by onnxruntime from the same input, with the same
//!    tolerances. The light models' weights are all 0.02 (ConstantOfShape), so the 1000 logits
//!    are equal and the shipped Softmax output is exactly 1/1000 whatever the network
//!    computes: only the logits test the network's numerics.

mod common;

use common::{assert_allclose, data_dir, read_tensor};
use lrp::import::onnx_model::read_model;
use lrp::Tensor;
use prost::Message;
use std::path::PathBuf;

fn light_dir() -> PathBuf {
    data_dir("onnx_light")
}

/// The input of every light model, `input_0.pb`. The runner does not ship it: it generates it
/// (`Runner.generate_dummy_data(x, seed=0, random=False)` in
/// `onnx/backend/test/runner/__init__.py`) as `(np.arange(n).reshape(shape) / n)` cast to
/// float32, n being the element count. Checked against that formula here.
fn light_input() -> Tensor {
    let x = read_tensor(&light_dir().join("input_0.pb"));
    assert_eq!(x.shape(), &[1, 3, 224, 224]);
    let n = x.len();
    for (i, &v) in x.iter().enumerate() {
        assert_eq!(v, (i as f64 / n as f64) as f32, "input_0.pb at {i}");
    }
    x
}

fn check_light(name: &str, rtol: f64, atol: f64) {
    let dir = light_dir();
    let x = light_input();
    let model_path = dir.join(format!("light_{name}.onnx"));

    let graph = lrp::import::onnx::load(&model_path)
        .unwrap_or_else(|e| panic!("{name}: import failed: {e}"));
    let y = graph
        .forward(&x)
        .unwrap_or_else(|e| panic!("{name}: forward failed: {e}"));
    let want = read_tensor(&dir.join(format!("light_{name}_output_0.pb")));
    assert_allclose(&format!("{name} output"), &y, &want, rtol, atol);

    let logits_path = dir.join(format!("light_{name}_logits.pb"));
    if !logits_path.exists() {
        return;
    }
    // The same model without its final Softmax: its output becomes the Softmax input.
    let mut model = read_model(&model_path).unwrap_or_else(|e| panic!("{e}"));
    let g = model.graph.as_mut().expect("graph");
    let softmax = g.node.pop().expect("nodes");
    assert_eq!(softmax.op_type(), "Softmax", "{name}: last node");
    g.output[0].name = Some(softmax.input[0].clone());
    let bytes = model.encode_to_vec();
    let file = format!("{name} without Softmax");
    let graph = lrp::import::onnx::from_bytes(&bytes, &file)
        .unwrap_or_else(|e| panic!("{file}: import failed: {e}"));
    let logits = graph
        .forward(&x)
        .unwrap_or_else(|e| panic!("{file}: forward failed: {e}"));
    let want = read_tensor(&logits_path);
    assert_allclose(&format!("{name} logits"), &logits, &want, rtol, atol);
}

// Tolerances: onnx/backend/test/case/model/__init__.py (`collect_testcases`, model_tests).

#[test]
fn light_bvlc_alexnet() {
    check_light("bvlc_alexnet", 1e-3, 1e-7);
}

#[test]
fn light_inception_v1() {
    check_light("inception_v1", 1e-3, 1e-7);
}

#[test]
fn light_vgg19() {
    check_light("vgg19", 1e-3, 1e-7);
}

#[test]
fn light_zfnet512() {
    check_light("zfnet512", 1e-3, 1e-7);
}

#[test]
fn light_resnet50() {
    check_light("resnet50", 1e-3, 1e-7);
}

#[test]
fn light_squeezenet() {
    check_light("squeezenet", 1e-3, 1e-7);
}

#[test]
fn light_densenet121() {
    check_light("densenet121", 2e-3, 1e-7);
}
