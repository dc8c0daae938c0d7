//! Layer normalisation end to end: AttnLRP's rule through the explainer (against an f64
//! computation written out here), the spelled-out form of older PyTorch exports fused into one
//! node at import (against onnxruntime's outputs), and the export round trip.
//!
//! The ONNX files are made by `tests/layer_norm/generate.py` (torch 2.15.0, onnx 1.23.2,
//! onnxruntime 1.32.0); each `output_0.pb` is onnxruntime's output on `input_0.pb`, checked
//! there against PyTorch's own output.

mod common;

use common::{assert_allclose, data_dir, read_tensor};
use lrp::composite::{Composite, Selector};
use lrp::explain::{Explainer, Target};
use lrp::ops::{Dense, LayerNorm, Op};
use lrp::rules::RuleSpec;
use lrp::{Graph, GraphBuilder, Tensor};
use ndarray::{Array1, Array2, IxDyn};

/// Seeded values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = lrp::zoo::rng::Rng::new(seed);
    (0..n).map(|_| rng.uniform() * 2.0 - 1.0).collect()
}

/// Dense(6 → 5, bias) → LayerNorm over the 5 features → Dense(5 → 3, no bias).
struct Net {
    w1: Array2<f32>,
    b1: Array1<f32>,
    gamma: Array1<f32>,
    beta: Array1<f32>,
    w2: Array2<f32>,
    eps: f32,
}

impl Net {
    fn new(with_beta: bool) -> Net {
        let beta = if with_beta {
            values(5, 4)
        } else {
            vec![0.0; 5]
        };
        Net {
            w1: Array2::from_shape_vec((5, 6), values(30, 1)).unwrap(),
            b1: Array1::from(values(5, 2)),
            gamma: Array1::from(values(5, 3)).mapv(|g| g + 1.5),
            beta: Array1::from(beta),
            w2: Array2::from_shape_vec((3, 5), values(15, 5)).unwrap(),
            eps: 1e-5,
        }
    }

    fn graph(&self) -> Graph {
        let mut b = GraphBuilder::new();
        b.input("x", &[6]);
        let fc1 = Dense::new(self.w1.clone(), Some(self.b1.clone()));
        b.add("fc1", Op::Dense(fc1), &["x"]);
        let ln = LayerNorm::new(0, self.eps, self.gamma.clone(), Some(self.beta.clone()));
        b.add("ln", Op::LayerNorm(ln), &["fc1"]);
        b.add("fc2", Op::Dense(Dense::new(self.w2.clone(), None)), &["ln"]);
        b.build(&["fc2"]).unwrap()
    }

    /// Input relevance for class `c` in f64, with the ε-rule (ε = `eps`) on both dense
    /// layers and on the layer norm written as the matrix `W_ij = γ_i (δ_ij − 1/N) / σ`
    /// (σ held constant), or passed unchanged through it (`attnlrp = false`).
    fn reference(&self, x: &[f32], c: usize, eps: f64, attnlrp: bool) -> Vec<f64> {
        let s = |z: f64| z + if z >= 0.0 { eps } else { -eps };
        let x: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let z1: Vec<f64> = (0..5)
            .map(|j| self.b1[j] as f64 + (0..6).map(|i| self.w1[[j, i]] as f64 * x[i]).sum::<f64>())
            .collect();
        let mean = z1.iter().sum::<f64>() / 5.0;
        let var = z1.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / 5.0;
        let sigma = (var + self.eps as f64).sqrt();
        let w = |i: usize, j: usize| {
            let delta = if i == j { 1.0 } else { 0.0 };
            self.gamma[i] as f64 * (delta - 0.2) / sigma
        };
        let y: Vec<f64> = (0..5)
            .map(|i| (0..5).map(|j| w(i, j) * z1[j]).sum::<f64>() + self.beta[i] as f64)
            .collect();
        let z2: Vec<f64> = (0..3)
            .map(|k| (0..5).map(|j| self.w2[[k, j]] as f64 * y[j]).sum::<f64>())
            .collect();
        // Seed: the logit of class c.
        let r2: Vec<f64> = (0..3).map(|k| if k == c { z2[k] } else { 0.0 }).collect();
        let ry: Vec<f64> = (0..5)
            .map(|j| {
                y[j] * (0..3)
                    .map(|k| self.w2[[k, j]] as f64 * r2[k] / s(z2[k]))
                    .sum::<f64>()
            })
            .collect();
        let rz1: Vec<f64> = if attnlrp {
            (0..5)
                .map(|j| z1[j] * (0..5).map(|i| w(i, j) * ry[i] / s(y[i])).sum::<f64>())
                .collect()
        } else {
            ry
        };
        (0..6)
            .map(|i| {
                x[i] * (0..5)
                    .map(|j| self.w1[[j, i]] as f64 * rz1[j] / s(z1[j]))
                    .sum::<f64>()
            })
            .collect()
    }
}

/// `got` (several maps) against the f64 reference, to `rel` of the largest reference value.
fn assert_close(got: &[f32], want: &[f64], rel: f64) {
    let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g as f64 - w).abs() <= rel * scale,
            "element {i}: {g} vs reference {w}"
        );
    }
}

#[test]
fn explainer_applies_attnlrp_to_layer_norm() {
    let net = Net::new(true);
    let ex = Explainer::new(net.graph(), &Composite::preset("epsilon").unwrap()).unwrap();
    let rules: Vec<_> = ex.rule_names();
    assert!(
        rules
            .iter()
            .any(|(n, r)| n == "ln" && r.as_deref() == Some("layer-norm")),
        "{rules:?}"
    );
    let x = Tensor::from_shape_vec(IxDyn(&[2, 6]), values(12, 9)).unwrap();
    let e = ex.explain(&x, &Target::Classes(vec![0, 2])).unwrap();
    assert_eq!(e.relevance.shape(), &[2, 2, 6]);
    let got = e.relevance.as_slice().unwrap();
    for img in 0..2 {
        for (m, c) in [0, 2].into_iter().enumerate() {
            let want = net.reference(&x.as_slice().unwrap()[img * 6..img * 6 + 6], c, 1e-6, true);
            let at = (img * 2 + m) * 6;
            // f32 forward and backward against f64: 1e-4 of the largest value.
            assert_close(&got[at..at + 6], &want, 1e-4);
        }
    }
}

#[test]
fn layer_norm_conserves_without_bias_and_can_be_passed() {
    let net = Net::new(false);
    let x = Tensor::from_shape_vec(IxDyn(&[1, 6]), values(6, 11)).unwrap();
    let ex = Explainer::new(net.graph(), &Composite::preset("epsilon-plus").unwrap()).unwrap();
    let e = ex.explain(&x, &Target::Class(1)).unwrap();
    let ln = e.conservation.iter().find(|c| c.node == "ln").unwrap();
    let (rin, rout) = (ln.relevance_in[0], ln.relevance_out[0]);
    // β = 0: Σ R_x = Σ_i R_i y_i / s(y_i) = Σ R_i up to ε = 1e-6 (no output near 0 here).
    assert!((rin - rout).abs() <= 1e-5 * rout.abs(), "{rin} vs {rout}");

    // Overridden by kind with `pass`: the relevance at the layer norm's input is its output's.
    let pass: RuleSpec = "pass".parse().unwrap();
    let c = Composite::preset("epsilon")
        .unwrap()
        .with_override(Selector::Kind("LayerNorm".into()), pass);
    let ex = Explainer::new(net.graph(), &c).unwrap();
    let e = ex.explain(&x, &Target::Class(1)).unwrap();
    let want = net.reference(x.as_slice().unwrap(), 1, 1e-6, false);
    assert_close(e.relevance.as_slice().unwrap(), &want, 1e-4);
}

#[test]
fn every_preset_maps_layer_norm_to_attnlrp() {
    let g = Net::new(true).graph();
    for name in lrp::composite::PRESETS {
        let rules = Composite::preset(name).unwrap().resolve(&g).unwrap();
        assert_eq!(rules["ln"].rule, lrp::rules::Rule::LayerNorm, "{name}");
        // The transformer presets use 1e-20 everywhere (LXT's LRP-0; see composite.rs).
        let want = if matches!(name, "attnlrp" | "cp-lrp") {
            1e-20
        } else {
            1e-6
        };
        assert_eq!(rules["ln"].stabilizer, want, "{name}");
    }
    let r: RuleSpec = "attnlrp".parse().unwrap();
    assert_eq!(r.rule, lrp::rules::Rule::LayerNorm);
    // The rule fits no other layer.
    let c = Composite::preset("epsilon")
        .unwrap()
        .with_override(Selector::Name("fc1".into()), r);
    let msg = Explainer::new(g, &c).unwrap_err().to_string();
    assert!(msg.contains("fc1") && msg.contains("layer-norm"), "{msg}");
}

/// The layer-norm nodes of `g`.
fn layer_norms(g: &Graph) -> Vec<&LayerNorm> {
    g.nodes()
        .iter()
        .filter_map(|n| match &n.op {
            Op::LayerNorm(l) => Some(l),
            _ => None,
        })
        .collect()
}

/// Import case `name` of tests/data/layer_norm, check it holds exactly one LayerNorm and
/// `others` nodes besides, and that it computes onnxruntime's output (rtol 1e-5, atol 1e-6).
fn fused_case(name: &str, others: &[&str]) -> Graph {
    let dir = data_dir("layer_norm").join(name);
    let g =
        lrp::import::onnx::load(dir.join("model.onnx")).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(layer_norms(&g).len(), 1, "{name}");
    let kinds: Vec<&str> = g
        .nodes()
        .iter()
        .map(|n| n.op.kind())
        .filter(|k| *k != "LayerNorm")
        .collect();
    assert_eq!(kinds, others, "{name}");
    let x = read_tensor(&dir.join("input_0.pb"));
    let want = read_tensor(&dir.join("output_0.pb"));
    assert_allclose(name, &g.forward(&x).unwrap(), &want, 1e-5, 1e-6);
    g
}

#[test]
fn legacy_layer_norm_last_axis_is_fused() {
    for name in [
        "ln_nhwc_legacy",
        "ln_ntc_legacy",
        "ln_nobias_legacy",
        "ln_noaffine_legacy",
    ] {
        let g = fused_case(name, &[]);
        let ln = layer_norms(&g)[0];
        let rank = g.input_shape().len();
        assert_eq!((ln.axis, ln.end), (rank - 1, None), "{name}");
        assert_eq!(ln.epsilon, 1e-5, "{name}");
        assert_eq!(
            ln.bias().is_some(),
            name != "ln_nobias_legacy" && name != "ln_noaffine_legacy"
        );
    }
    // The fused node is named after the exporter's scope of the pattern.
    let g = fused_case("ln_ntc_legacy", &[]);
    assert_eq!(g.nodes()[0].name, "/ln");
}

#[test]
fn legacy_layer_norm_over_two_axes_is_fused() {
    let g = fused_case("ln_2d_legacy", &[]);
    let ln = layer_norms(&g)[0];
    assert_eq!((ln.axis, ln.end, ln.scale().len()), (1, None, 30));
}

#[test]
fn dynamo_layer_normalization_imports() {
    for name in ["ln_nhwc_dynamo", "ln_ntc_dynamo"] {
        fused_case(name, &[]);
    }
}

#[test]
fn channels_first_layer_norm_is_fused_in_both_exports() {
    // ConvNeXt's reference channels-first layer norm: over axis 1 of NCHW only.
    for name in ["cf_legacy", "cf_dynamo"] {
        let g = fused_case(name, &["Conv", "Conv"]);
        let ln = layer_norms(&g)[0];
        assert_eq!((ln.axis, ln.end, ln.epsilon), (0, Some(1), 1e-6), "{name}");
        // It explains: AttnLRP at the layer norm, finite relevance throughout.
        let ex = Explainer::new(g, &Composite::preset("epsilon-plus-flat").unwrap()).unwrap();
        let x = read_tensor(&data_dir("layer_norm").join(name).join("input_0.pb"));
        let e = ex
            .explain(&x, &Target::Relevance(Array2::ones((1, 4 * 5 * 5))))
            .unwrap();
        assert!(e.relevance.iter().all(|v| v.is_finite()), "{name}");
    }
}

#[test]
fn hand_written_variant_is_fused() {
    // Mul(d, d) as the square, constants as first operands, axes [2, 3].
    let g = fused_case("handmade_mul_square", &[]);
    let ln = layer_norms(&g)[0];
    assert_eq!((ln.axis, ln.end, ln.epsilon), (1, None, 1e-3));
}

#[test]
fn patterns_that_do_not_qualify_stay_unfused() {
    // The first node of the pattern then fails as an operator we do not have, naming it.
    for name in ["neg_mean_is_output", "neg_axes_differ", "neg_eps_from_data"] {
        let path = data_dir("layer_norm").join(name).join("model.onnx");
        let msg = lrp::import::onnx::load(path).unwrap_err().to_string();
        assert!(
            msg.contains("node `m` (ReduceMean") && msg.contains("not supported"),
            "{name}: {msg}"
        );
        assert_eq!(msg.lines().count(), 1, "{msg}");
    }
}

#[test]
fn layer_normalization_statistics_outputs_are_refused() {
    let path = data_dir("layer_norm")
        .join("neg_layernorm_mean_output")
        .join("model.onnx");
    let msg = lrp::import::onnx::load(path).unwrap_err().to_string();
    assert!(
        msg.contains("output `mean`") && msg.contains("only output 0"),
        "{msg}"
    );
}

#[test]
fn export_spells_layer_norm_out_and_import_fuses_it_back() {
    // A trailing-axes layer norm with bias and a channels-first one without.
    let mut b = GraphBuilder::new();
    b.input("x", &[3, 4, 5]);
    let ln = LayerNorm::new(
        1,
        1e-5,
        Array1::from(values(20, 1)),
        Some(Array1::from(values(20, 2))),
    );
    b.add("ln_hw", Op::LayerNorm(ln), &["x"]);
    let ln = LayerNorm::new(0, 1e-3, Array1::from(values(3, 3)), None).with_end(1);
    b.add("ln_c", Op::LayerNorm(ln), &["ln_hw"]);
    let g = b.build(&["ln_c"]).unwrap();
    let model = lrp::export::onnx::to_model(&g).unwrap();
    let ops: Vec<&str> = model
        .graph
        .as_ref()
        .unwrap()
        .node
        .iter()
        .map(|n| n.op_type())
        .collect();
    assert_eq!(
        ops.iter().filter(|o| **o == "ReduceMean").count(),
        4,
        "{ops:?}"
    );
    let back = lrp::import::onnx::from_model(&model, "ln.onnx").unwrap();
    let names: Vec<&str> = back.nodes().iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["ln_hw", "ln_c"]);
    let lns = layer_norms(&back);
    assert_eq!((lns[0].axis, lns[0].end), (1, None));
    assert_eq!((lns[1].axis, lns[1].end), (0, Some(1)));
    let x = Tensor::from_shape_vec(IxDyn(&[2, 3, 4, 5]), values(120, 7)).unwrap();
    // Same parameters, same f64 computation: equal to the last bit.
    assert_eq!(back.forward(&x).unwrap(), g.forward(&x).unwrap());
}
