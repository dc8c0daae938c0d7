//! Agreement with OpenCV's Caffe importer (`cv2.dnn.readNetFromCaffe`), an implementation we
//! did not write, on one prototxt of each of the paper's architectures.
//!
//! `tests/opencv/make_reference.py` wrote caffemodels with seeded random weights using our
//! writer, ran them in OpenCV on the input `x[i] = f32(sin(0.001·i)·100)` and stored the main
//! classifier's logits in `tests/data/opencv/*.json` (see the README there for versions).
//! This test regenerates the same weights from the seed, builds the graph and compares.
//!
//! NOTE: this test reads the paper's prototxts from `../shared/caffe/paper/`, outside the
//! repository (see `../shared/caffe/README.md`).

use lrp::import::caffe::from_net_random;
use lrp::import::prototxt::read_net;
use lrp::Tensor;
use ndarray::IxDyn;
use std::path::PathBuf;

/// The value of `"key": ...` in our small reference JSON files (a number, or a string).
fn json_field<'a>(text: &'a str, key: &str) -> &'a str {
    let start = text
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("no `{key}` in reference file"))
        + key.len()
        + 3;
    let rest = text[start..].trim_start();
    let end = rest.find([',', '\n']).unwrap_or(rest.len());
    rest[..end].trim().trim_matches('"')
}

fn json_list(text: &str, key: &str) -> Vec<f32> {
    let start = text.find(&format!("\"{key}\":")).expect("list key") + key.len() + 3;
    let open = start + text[start..].find('[').expect("[");
    let close = open + text[open..].find(']').expect("]");
    text[open + 1..close]
        .split(',')
        .map(|v| v.trim().parse::<f32>().expect("number"))
        .collect()
}

fn check(stem: &str) -> f32 {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let reference =
        std::fs::read_to_string(root.join(format!("tests/data/opencv/{stem}.json"))).unwrap();
    let seed: u64 = json_field(&reference, "seed").parse().unwrap();
    let layer = json_field(&reference, "layer").to_string();
    let want = json_list(&reference, "logits");

    let net = read_net(root.join(format!("../shared/caffe/paper/{stem}.prototxt")))
        .unwrap()
        .message;
    let model = from_net_random(&net, seed, stem).unwrap();
    assert_eq!(model.logits.as_deref(), Some(layer.as_str()), "{stem}");
    let g = &model.graph;
    let mut shape = vec![1];
    shape.extend(g.input_shape());
    let n: usize = shape.iter().product();
    let x = Tensor::from_shape_vec(
        IxDyn(&shape),
        (0..n)
            .map(|i| ((0.001 * i as f64).sin() * 100.0) as f32)
            .collect(),
    )
    .unwrap();
    let acts = g.run(&[&x], true).unwrap();
    let got = acts.get(g.tensor_id(&layer).unwrap()).unwrap();
    assert_eq!(got.len(), want.len(), "{stem}");

    // Tolerance 1e-4 relative to the largest reference logit: OpenCV (the source of the
    // numbers) sums in a different order (its own GEMM, fused layers, Winograd where it
    // applies), so float32 round-off differs; a real disagreement (rounding of a pooling
    // size, LRN constants, group or flatten order) is orders of magnitude larger.
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = got
        .iter()
        .zip(&want)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()))
        / scale;
    let ours: Vec<f32> = got.iter().copied().collect();
    eprintln!("{stem}: ours {ours:?}, OpenCV {want:?}, max relative error {err:.2e}");
    assert!(err <= 1e-4, "{stem}: relative error {err} > 1e-4");
    err
}

#[test]
fn adiencenet_v1_agrees_with_opencv() {
    check("gender_net_definitions");
}

#[test]
fn caffenet_agrees_with_opencv() {
    check("gender_finetuning_caffereference");
}

#[test]
fn googlenet_agrees_with_opencv() {
    check("gender_finetuning_googlenet");
}

#[test]
fn vgg16_agrees_with_opencv() {
    check("gender_finetuning_vgg16");
}
