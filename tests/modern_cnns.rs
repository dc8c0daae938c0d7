//! Today's CNNs from ONNX: the nine torchvision architectures of `tests/data/modern/`
//! (MobileNetV2, MobileNetV3-Small, EfficientNet-B0, RegNetY-400MF, ConvNeXt-Tiny,
//! Inception-v3, SqueezeNet 1.1, ShuffleNetV2, ResNet-18; reduced width, seeded random weights,
//! every constant torchvision initialises randomised), each exported by torch 2.15's default
//! (dynamo, opset 20, weights in an external `.onnx.data` file) and legacy (TorchScript,
//! opset 13) exporters. Made by `tests/modern/generate.py` (torch 2.15.0, torchvision 0.29.2,
//! onnxruntime 1.32.0, Zennit 1.0.0); see `tests/data/modern/README.md`.
//!
//! - Logits against onnxruntime on the same file: max |diff| ≤ 1e-4 · max |logit|.
//! - Input relevance under `epsilon-plus-flat` and `epsilon-alpha2-beta1-flat` against Zennit
//!   with its canonizers, plus the script's documented canonisations where Zennit has none
//!   (residual sums as `zennit.layer.Sum`, squeeze-and-excitation products with the gate held
//!   constant, functional pooling as modules, ConvNeXt's layer scale folded, LayerNorm by
//!   AttnLRP's rule); computed in float64 on the float32 weights: elementwise within 1e-4 of
//!   max |R| (three ill-conditioned cases wider, see [`tolerance`]).

use lrp::composite::Composite;
use lrp::explain::{Explainer, Target};
use lrp::import::onnx;
use ndarray::{ArrayD, Axis};
use ndarray_npy::read_npy;
use serde_json::Value;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/modern");

fn manifest() -> Value {
    let text = std::fs::read_to_string(format!("{DATA}/manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Elementwise relevance tolerance relative to max |R|. 1e-4 everywhere except where the
/// reference script measured Zennit's own float32 result to differ from its float64 result by
/// that much or more (α2β1 multiplies rounding through nearly cancelling residual sums; the
/// manifest's `float32_vs_float64_rel_err`): there two float32 implementations cannot agree
/// more closely than their own rounding noise, and we allow three times it.
fn tolerance(arch: &str, composite: &str) -> f32 {
    match (arch, composite) {
        ("mobilenet_v2", "epsilon_alpha2_beta1_flat") => 3e-4,
        ("regnet_y_400mf", "epsilon_alpha2_beta1_flat") => 1.5e-4,
        _ => 1e-4,
    }
}

/// Max |a − b| / max |b|.
fn rel_err(a: &[f32], b: &[f32]) -> f32 {
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    worst / scale.max(f32::MIN_POSITIVE)
}

#[test]
fn nine_architectures_from_both_exporters_match_onnxruntime_and_zennit() {
    let m = manifest();
    let models = m["models"].as_object().unwrap();
    assert_eq!(models.len(), 9);
    let mut failures = Vec::new();
    for (arch, model) in models {
        let x: ArrayD<f32> =
            read_npy(format!("{DATA}/{}", model["input"].as_str().unwrap())).unwrap();
        for (exporter, export) in model["exports"].as_object().unwrap() {
            let file = format!("{DATA}/{}", export["file"].as_str().unwrap());
            let g = onnx::load(&file).unwrap_or_else(|e| panic!("{arch} {exporter}: {e}"));
            let want: ArrayD<f32> = read_npy(format!(
                "{DATA}/{}",
                export["logits_file"].as_str().unwrap()
            ))
            .unwrap();
            let got = g.logits(&x).unwrap();
            let forward = rel_err(got.as_slice().unwrap(), want.as_slice().unwrap());
            let mut line = format!("{arch:<20} {exporter:<7} forward {forward:.1e}");
            if forward > 1e-4 {
                failures.push(format!("{arch} {exporter}: logits off by {forward:e}"));
            }
            for (composite, preset) in [
                ("epsilon_plus_flat", "epsilon-plus-flat"),
                ("epsilon_alpha2_beta1_flat", "epsilon-alpha2-beta1-flat"),
            ] {
                let reference = &model["zennit"][composite];
                let want: ArrayD<f32> =
                    read_npy(format!("{DATA}/{}", reference["file"].as_str().unwrap())).unwrap();
                let target = reference["target"].as_u64().unwrap() as usize;
                let ex = Explainer::new(g.clone(), &Composite::preset(preset).unwrap())
                    .unwrap_or_else(|e| panic!("{arch} {exporter} {preset}: {e}"));
                let e = ex.explain(&x, &Target::Class(target)).unwrap();
                // [1, 1, 3, H, W]; the reference stores one channel (the flat first layer gives
                // the three colour channels of a pixel the same relevance).
                let r = e
                    .relevance
                    .index_axis(Axis(0), 0)
                    .index_axis(Axis(0), 0)
                    .to_owned();
                let want = want
                    .index_axis(Axis(0), 0)
                    .index_axis(Axis(0), 0)
                    .to_owned();
                let mut worst = 0f32;
                for c in 0..3 {
                    let ours = r.index_axis(Axis(0), c).to_owned();
                    worst = worst.max(rel_err(
                        ours.as_standard_layout().as_slice().unwrap(),
                        want.as_standard_layout().as_slice().unwrap(),
                    ));
                }
                line.push_str(&format!("  {preset} {worst:.1e}"));
                if worst > tolerance(arch, composite) {
                    failures.push(format!(
                        "{arch} {exporter} {preset}: relevance off by {worst:e} of max|R|"
                    ));
                }
            }
            eprintln!("{line}");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
