//! Activations that PyTorch exports spelled out in several nodes are fused back into one node
//! at import: nn.SiLU, nn.Hardswish, nn.GELU() and nn.GELU(approximate='tanh'), each in a
//! small model Conv → activation → Conv exported by `torch.onnx.export` with the legacy
//! exporter at opset 13 and the dynamo exporter at opsets 18 and 20.
//!
//! The cases are in `tests/data/onnx_fusion/<case>/` (`model.onnx` as torch wrote it,
//! `input_0.pb`, `output_0.pb`), made by `tests/onnx_node/torch_fusions.py` (torch 2.15,
//! onnx 1.23.2, onnxruntime 1.32.0). The expected output is onnxruntime's on the exported
//! file, which the script checked against torch's own output (rtol 1e-5, atol 1e-6).
//!
//! Each test checks that the imported graph is exactly Conv, the fused activation, Conv; that
//! its output agrees with onnxruntime's to rtol 1e-5, atol 1e-6; and that every preset maps
//! the activation to the pass rule.

mod common;

use common::{assert_allclose, data_dir, read_tensor};
use lrp::composite::Composite;
use lrp::explain::Explainer;

fn run_case(name: &str, kind: &str) {
    let dir = data_dir("onnx_fusion").join(name);
    let graph = lrp::import::onnx::load(dir.join("model.onnx"))
        .unwrap_or_else(|e| panic!("{name}: import failed: {e}"));
    let kinds: Vec<&str> = graph.nodes().iter().map(|n| n.op.kind()).collect();
    assert_eq!(kinds, ["Conv", kind, "Conv"], "{name}");
    let x = read_tensor(&dir.join("input_0.pb"));
    let want = read_tensor(&dir.join("output_0.pb"));
    let got = graph.forward(&x).unwrap();
    // Reference: onnxruntime 1.32.0 on the exported file.
    assert_allclose(name, &got, &want, 1e-5, 1e-6);
    for preset in ["epsilon-plus-flat", "epsilon-alpha2-beta1-flat"] {
        let rules = Explainer::new(graph.clone(), &Composite::preset(preset).unwrap())
            .unwrap()
            .rule_names();
        assert_eq!(
            rules[1].1.as_deref(),
            Some("pass"),
            "{name} under {preset}: {rules:?}"
        );
    }
}

/// One `#[test]` per case, named after it, with the kind its activation fuses into.
macro_rules! fusion_cases {
    ($($name:ident => $kind:literal,)*) => {
        $(
            #[test]
            fn $name() {
                run_case(stringify!($name), $kind);
            }
        )*

        const CASES: &[&str] = &[$(stringify!($name)),*];
    };
}

fusion_cases! {
    silu_legacy13 => "Silu",
    silu_dynamo18 => "Silu",
    silu_dynamo => "Silu",
    hardswish_legacy13 => "HardSwish",
    hardswish_dynamo18 => "HardSwish",
    hardswish_dynamo => "HardSwish",
    gelu_legacy13 => "Gelu",
    gelu_dynamo18 => "Gelu",
    gelu_dynamo => "Gelu",
    gelu_tanh_legacy13 => "Gelu",
    gelu_tanh_dynamo18 => "Gelu",
    gelu_tanh_dynamo => "Gelu",
}

/// The manifest written by the script lists the same cases, and says which were spelled out.
#[test]
fn manifest_lists_the_cases() {
    let path = data_dir("onnx_fusion").join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split("\"name\": \"").nth(1))
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert_eq!(names, CASES);
    // The legacy exports spell every one of these activations out.
    for line in text
        .lines()
        .filter(|l| l.contains("\"exporter\": \"legacy13\""))
    {
        assert!(
            line.contains("\"activation_nodes\": [\"") && line.contains("\"Mul\""),
            "{line}"
        );
    }
}
