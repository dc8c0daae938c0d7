//! The explainer end to end on code-built networks: conservation where the theory promises
//! it, several classes at once against single-class runs, targets, presets on the zoo.

use lrp::composite::{Composite, Selector, PRESETS};
use lrp::explain::{Explainer, Target};
use lrp::ops::{Conv2d, Dense, Op, Pool2d};
use lrp::rules::{Convention, Rule, RuleSpec};
use lrp::zoo::{self, rng::Rng, Architecture};
use lrp::{Graph, GraphBuilder, Tensor};
use ndarray::{Array1, Array2, Array4, IxDyn};

fn randn(rng: &mut Rng, shape: &[usize], scale: f32) -> Vec<f32> {
    (0..shape.iter().product::<usize>())
        .map(|_| rng.normal() * scale)
        .collect()
}

/// A small ReLU network with every kind of layer the rules meet: conv, max pool, a residual
/// sum, concat, average pool, dense. With `bias`, every linear layer has a bias.
fn small_net(seed: u64, bias: bool) -> Graph {
    let mut rng = Rng::new(seed);
    let mut b = GraphBuilder::new();
    let conv = |rng: &mut Rng, m: usize, c: usize, k: usize, pad: usize| {
        let w = Array4::from_shape_vec((m, c, k, k), randn(rng, &[m, c, k, k], 0.5)).unwrap();
        let bb = bias.then(|| Array1::from(randn(rng, &[m], 0.1)));
        Op::Conv(Conv2d::new(w, bb).with_pad(pad))
    };
    b.input("x", &[3, 12, 12]);
    b.add("c1", conv(&mut rng, 6, 3, 3, 1), &["x"]);
    b.add("r1", Op::Relu, &["c1"]);
    b.add("p1", Op::MaxPool(Pool2d::new([2, 2], [2, 2])), &["r1"]);
    b.add("c2", conv(&mut rng, 6, 6, 3, 1), &["p1"]);
    b.add("r2", Op::Relu, &["c2"]);
    b.add("sum", Op::Add, &["r2", "p1"]);
    b.add("c3", conv(&mut rng, 4, 6, 1, 0), &["sum"]);
    b.add("r3", Op::Relu, &["c3"]);
    b.add("cat", Op::Concat(lrp::ops::Concat::new(0)), &["r3", "sum"]);
    b.add("p2", Op::AvgPool(Pool2d::new([2, 2], [2, 2])), &["cat"]);
    b.add("flat", Op::Flatten, &["p2"]);
    let w = Array2::from_shape_vec((5, 90), randn(&mut rng, &[5, 90], 0.3)).unwrap();
    let bb = bias.then(|| Array1::from(randn(&mut rng, &[5], 0.1)));
    b.add("fc", Op::Dense(Dense::new(w, bb)), &["flat"]);
    b.add("prob", Op::Softmax(lrp::ops::Softmax::new(0)), &["fc"]);
    b.build(&["prob"]).unwrap()
}

fn input(rng: &mut Rng, n: usize) -> Tensor {
    Tensor::from_shape_vec(IxDyn(&[n, 3, 12, 12]), randn(rng, &[n, 3, 12, 12], 1.0)).unwrap()
}

fn modern(rule: Rule) -> RuleSpec {
    RuleSpec::new(rule, Convention::Modern).with_stabilizer(1e-9)
}

#[test]
fn lrp0_on_a_bias_free_relu_network_conserves_the_logit() {
    let net = small_net(1, false);
    let eps0 = modern(Rule::Epsilon { epsilon: 0.0 });
    let c = Composite::new()
        .with_conv(eps0.clone())
        .with_dense(eps0)
        .with_stabilizer(1e-9);
    let ex = Explainer::new(net, &c).unwrap();
    let x = input(&mut Rng::new(2), 3);
    let e = ex.explain(&x, &Target::Predicted).unwrap();
    for i in 0..3 {
        let c = e.targets[i][0];
        let logit = e.logits[[i, c]];
        let sum = e.input_sum(i);
        approx::assert_relative_eq!(sum, logit, max_relative = 1e-4, epsilon = 1e-7);
    }
}

#[test]
fn flat_alpha_beta_and_zplus_conserve_per_layer_without_bias() {
    let net = small_net(3, false);
    let x = input(&mut Rng::new(4), 2);
    for (name, rule) in [
        ("flat", Rule::Flat),
        (
            "alpha2-beta1",
            Rule::AlphaBeta {
                alpha: 2.0,
                beta: 1.0,
            },
        ),
        ("zplus", Rule::ZPlus),
        ("wsquare", Rule::WSquare),
    ] {
        let c = Composite::new()
            .with_conv(modern(rule.clone()))
            .with_dense(modern(Rule::Epsilon { epsilon: 0.0 }))
            .with_stabilizer(1e-9);
        let ex = Explainer::new(net.clone(), &c).unwrap();
        let e = ex.explain(&x, &Target::Class(1)).unwrap();
        // The layers under test; a proportional split further down may lose relevance that
        // a flat layer sent to zero-valued inputs, which is expected. α-β conserves only
        // where an output has contributions of both signs (else its β or α share has a zero
        // denominator), so it is checked on c1 and c2, whose 27 and 54 inputs make a
        // single-signed output practically impossible, not on the 1×1 layer c3.
        let checked = |n: &str| name != "alpha2-beta1" || n != "c3";
        for layer in e
            .conservation
            .iter()
            .filter(|l| l.kind == "Conv" && checked(&l.node))
        {
            for (a, b) in layer.relevance_in.iter().zip(&layer.relevance_out) {
                assert!(
                    (a - b).abs() <= 1e-4 * b.abs().max(1e-3),
                    "{name}: layer {} ({}) gets {b} and sends {a}",
                    layer.node,
                    layer.kind
                );
            }
        }
    }
}

#[test]
fn many_classes_at_once_equal_single_class_runs() {
    let net = small_net(5, true);
    let x = input(&mut Rng::new(6), 2);
    for preset in PRESETS {
        let ex = Explainer::new(net.clone(), &Composite::preset(preset).unwrap()).unwrap();
        let all = ex.explain(&x, &Target::All).unwrap();
        assert_eq!(all.relevance.shape(), &[2, 5, 3, 12, 12]);
        for c in 0..5 {
            let one = ex.explain(&x, &Target::Class(c)).unwrap();
            for i in 0..2 {
                let a = all.relevance.slice(ndarray::s![i, c, .., .., ..]);
                let b = one.relevance.slice(ndarray::s![i, 0, .., .., ..]);
                let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
                for (p, q) in a.iter().zip(b.iter()) {
                    assert!(
                        (p - q).abs() <= 1e-6 * scale,
                        "{preset}, image {i}, class {c}: {p} vs {q}"
                    );
                }
            }
        }
    }
}

#[test]
fn explicit_relevance_is_linear_in_the_seed_for_epsilon() {
    // For the ε rule the backward pass is linear in the seed: seeding e_c·z_c equals the
    // Target::Class(c) run, and seeding a sum of two such vectors gives the sum of the maps.
    let net = small_net(7, true);
    let x = input(&mut Rng::new(8), 1);
    let ex = Explainer::new(net, &Composite::preset("epsilon").unwrap()).unwrap();
    let a = ex.explain(&x, &Target::Class(0)).unwrap();
    let b = ex.explain(&x, &Target::Class(3)).unwrap();
    let mut seed = Array2::zeros((1, 5));
    seed[[0, 0]] = a.logits[[0, 0]];
    seed[[0, 3]] = a.logits[[0, 3]];
    let both = ex.explain(&x, &Target::Relevance(seed)).unwrap();
    let scale = both.relevance.iter().fold(0f32, |m, v| m.max(v.abs()));
    for ((p, q), r) in a
        .relevance
        .iter()
        .zip(b.relevance.iter())
        .zip(both.relevance.iter())
    {
        assert!((p + q - r).abs() <= 1e-5 * scale, "{p} + {q} vs {r}");
    }
}

#[test]
fn bad_targets_and_uncovered_layers_are_errors() {
    let net = small_net(9, true);
    let ex = Explainer::new(net.clone(), &Composite::preset("epsilon").unwrap()).unwrap();
    let x = input(&mut Rng::new(1), 1);
    let err = ex.explain(&x, &Target::Class(5)).unwrap_err();
    assert!(err.to_string().contains("5 classes"), "{err}");
    let err = ex
        .explain(&x, &Target::Relevance(Array2::zeros((1, 4))))
        .unwrap_err();
    assert!(err.to_string().contains("[1, 5]"), "{err}");
    // A composite with no dense rule names the uncovered layer.
    let c = Composite::new().with_conv(modern(Rule::ZPlus));
    let err = Explainer::new(net.clone(), &c).unwrap_err();
    assert!(err.to_string().contains("fc (Dense)"), "{err}");
    // Overrides that match nothing are errors too.
    let c = Composite::preset("epsilon")
        .unwrap()
        .with_override(Selector::Name("nope".into()), modern(Rule::Flat));
    assert!(Explainer::new(net, &c).is_err());
}

#[test]
fn overrides_by_name_index_and_kind() {
    let net = small_net(11, true);
    let c = Composite::preset("epsilon")
        .unwrap()
        .with_override(Selector::Kind("conv".into()), modern(Rule::ZPlus))
        .with_override(Selector::Index(0), modern(Rule::Flat))
        .with_override(Selector::Name("fc".into()), modern(Rule::WSquare));
    let rules = c.resolve(&net).unwrap();
    assert_eq!(rules["c1"].rule, Rule::Flat);
    assert_eq!(rules["c2"].rule, Rule::ZPlus);
    assert_eq!(rules["c3"].rule, Rule::ZPlus);
    assert_eq!(rules["fc"].rule, Rule::WSquare);
}

#[test]
fn every_preset_runs_on_every_zoo_architecture_without_nan() {
    for arch in Architecture::ALL {
        let net = zoo::build(arch, 8, 1).unwrap();
        let mut shape = vec![1];
        shape.extend(arch.input_shape());
        let mut rng = Rng::new(3);
        let x = Tensor::from_shape_vec(IxDyn(&shape), randn(&mut rng, &shape, 1.0)).unwrap();
        for preset in ["paper", "epsilon-alpha2-beta1-flat", "epsilon-gamma-box"] {
            let ex = Explainer::new(net.clone(), &Composite::preset(preset).unwrap()).unwrap();
            let e = ex.explain(&x, &Target::Predicted).unwrap();
            assert!(
                e.relevance.iter().all(|v| v.is_finite()),
                "{arch} {preset}: non-finite relevance"
            );
            assert!(
                e.relevance.iter().any(|&v| v != 0.0),
                "{arch} {preset}: all-zero relevance"
            );
        }
    }
}

#[test]
fn paper_preset_flattens_the_papers_lowest_convolutions() {
    for arch in Architecture::ALL {
        let net = zoo::build(arch, 2, 1).unwrap();
        let rules = Composite::preset("paper").unwrap().resolve(&net).unwrap();
        let flat: Vec<&str> = net
            .nodes()
            .iter()
            .filter(|n| rules.get(&n.name).is_some_and(|r| r.rule == Rule::Flat))
            .map(|n| n.name.as_str())
            .collect();
        assert_eq!(flat, arch.paper_flat_layers(), "{arch}");
    }
}

/// A squeeze-and-excitation network: conv → ReLU, then its output times a gate computed from
/// it (global pool → 1×1 conv → ReLU → 1×1 conv → sigmoid), pooled into a dense layer.
fn se_net(seed: u64) -> Graph {
    let mut rng = Rng::new(seed);
    let mut b = GraphBuilder::new();
    let conv = |rng: &mut Rng, m: usize, c: usize, k: usize, pad: usize| {
        let w = Array4::from_shape_vec((m, c, k, k), randn(rng, &[m, c, k, k], 0.5)).unwrap();
        Op::Conv(Conv2d::new(w, None).with_pad(pad))
    };
    b.input("x", &[3, 12, 12]);
    b.add("c1", conv(&mut rng, 6, 3, 3, 1), &["x"]);
    b.add("r1", Op::Relu, &["c1"]);
    b.add("squeeze", Op::GlobalAvgPool, &["r1"]);
    b.add("se1", conv(&mut rng, 3, 6, 1, 0), &["squeeze"]);
    b.add("se_relu", Op::Relu, &["se1"]);
    b.add("se2", conv(&mut rng, 6, 3, 1, 0), &["se_relu"]);
    b.add("gate", Op::Sigmoid, &["se2"]);
    b.add("scale", Op::Mul, &["r1", "gate"]);
    b.add("pool", Op::GlobalAvgPool, &["scale"]);
    b.add("flat", Op::Flatten, &["pool"]);
    let w = Array2::from_shape_vec((4, 6), randn(&mut rng, &[4, 6], 0.5)).unwrap();
    b.add("fc", Op::Dense(Dense::new(w, None)), &["flat"]);
    b.build(&["fc"]).unwrap()
}

#[test]
fn gate_and_uniform_rules_on_a_squeeze_excitation_block_conserve() {
    let net = se_net(21);
    assert_eq!(net.gate_input(7), Some(1));
    let eps0 = modern(Rule::Epsilon { epsilon: 0.0 });
    let base = Composite::new()
        .with_conv(eps0.clone())
        .with_dense(eps0)
        .with_stabilizer(1e-9);
    let x = input(&mut Rng::new(4), 2);
    let mut inputs = Vec::new();
    for rule in [Rule::Gate, Rule::Uniform] {
        let c = base
            .clone()
            .with_override(Selector::Name("scale".into()), modern(rule.clone()));
        let ex = Explainer::new(net.clone(), &c).unwrap();
        let e = ex.explain_with(&x, &Target::Predicted, true).unwrap();
        for i in 0..2 {
            let logit = e.logits[[i, e.targets[i][0]]];
            // LRP-0 on bias-free layers, pass on the activations, proportional pooling: the
            // input relevance sums to the logit under either product rule.
            approx::assert_relative_eq!(e.input_sum(i), logit, max_relative = 1e-4);
        }
        // Under the gate rule the gate's branch receives nothing; under uniform it receives
        // half of the relevance at the product.
        let layers = e.layers.as_ref().unwrap();
        let gate = layers.iter().find(|l| l.node == "gate").unwrap();
        let at_gate: f32 = gate.relevance.iter().map(|v| v.abs()).sum();
        if rule == Rule::Gate {
            assert_eq!(at_gate, 0.0);
        } else {
            assert!(at_gate > 0.0);
        }
        inputs.push(e.relevance);
    }
    let diff = (&inputs[0] - &inputs[1]).mapv(f32::abs).sum();
    assert!(diff > 1e-3, "gate and uniform gave the same relevance");
    // The presets give products the gate rule.
    let rules = Composite::preset("epsilon-plus-flat")
        .unwrap()
        .resolve(&net)
        .unwrap();
    assert_eq!(rules["scale"].rule, Rule::Gate);
}

#[test]
fn a_product_of_unrelated_tensors_has_no_gate_but_takes_the_uniform_rule() {
    let mut rng = Rng::new(3);
    let mut b = GraphBuilder::new();
    b.input("x", &[4]);
    let w = |rng: &mut Rng| Array2::from_shape_vec((4, 4), randn(rng, &[4, 4], 0.5)).unwrap();
    b.add("a", Op::Dense(Dense::new(w(&mut rng), None)), &["x"]);
    b.add("b", Op::Dense(Dense::new(w(&mut rng), None)), &["x"]);
    b.add("ab", Op::Mul, &["a", "b"]);
    let net = b.build(&["ab"]).unwrap();
    assert_eq!(net.gate_input(2), None);
    let err = Explainer::new(net.clone(), &Composite::preset("epsilon").unwrap()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("ab") && msg.contains("uniform"), "{msg}");
    let c = Composite::preset("epsilon")
        .unwrap()
        .with_override(Selector::Name("ab".into()), modern(Rule::Uniform));
    let ex = Explainer::new(net, &c).unwrap();
    let x = Tensor::from_shape_vec(IxDyn(&[1, 4]), vec![0.5, -1.0, 2.0, 1.5]).unwrap();
    let e = ex.explain(&x, &Target::Predicted).unwrap();
    assert!(e.relevance.iter().all(|v| v.is_finite()));
}

/// Whether two explanations agree bit for bit: relevance, logits, every kept layer's
/// relevance and every conservation sum.
fn identical(a: &lrp::explain::Explanation, b: &lrp::explain::Explanation) -> bool {
    let bits = |t: &Tensor| t.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let sums = |e: &lrp::explain::Explanation| {
        e.conservation
            .iter()
            .flat_map(|c| c.relevance_out.iter().chain(&c.relevance_in))
            .map(|v| v.to_bits())
            .collect::<Vec<_>>()
    };
    let layers = |e: &lrp::explain::Explanation| {
        e.layers
            .iter()
            .flatten()
            .map(|l| (l.node.clone(), bits(&l.relevance)))
            .collect::<Vec<_>>()
    };
    bits(&a.relevance) == bits(&b.relevance)
        && a.logits
            .iter()
            .map(|v| v.to_bits())
            .eq(b.logits.iter().map(|v| v.to_bits()))
        && sums(a) == sums(b)
        && layers(a) == layers(b)
}

/// Explain `x` with every preset that applies to `g`, freeing activations after their last
/// use (the plan) and keeping all (as before the plan); returns the runs that differ.
fn plan_against_keep_all(
    label: &str,
    g: &Graph,
    x: &Tensor,
    composites: &[Composite],
) -> Vec<String> {
    let mut bad = Vec::new();
    let mut ran = 0;
    for c in composites {
        let preset = c.name();
        let Ok(ex) = Explainer::new(g.clone(), c) else {
            continue; // a preset for another kind of network
        };
        let all = ex.clone().keeping_all_activations(true);
        // Two classes per image (one for a single output): a batched backward pass.
        let classes: usize = g.tensors()[g.logits_id()].shape.iter().product();
        let target = Target::Classes(vec![0, classes - 1]);
        let planned = ex.explain_with(x, &target, true).unwrap();
        let kept = all.explain_with(x, &target, true).unwrap();
        if !identical(&planned, &kept) {
            bad.push(format!("{label} {preset}"));
        }
        ran += 1;
    }
    assert!(ran > 0, "{label}: no preset applies");
    bad
}

fn random_input(g: &Graph, n: usize, seed: u64) -> Tensor {
    let mut shape = vec![n];
    shape.extend(g.input_shape());
    let mut rng = Rng::new(seed);
    Tensor::from_shape_vec(IxDyn(&shape), randn(&mut rng, &shape, 1.0)).unwrap()
}

/// Freeing every activation after its last use ([`lrp::explain::ExplainPlan`]) changes no
/// bit of any explanation: a code-built net with every layer kind the rules meet, AdienceNet
/// (local response normalisation), the shipped models, ONNX CNNs with residual sums,
/// concatenations, squeeze-and-excitation gates and layer norms, and a vision transformer
/// (MatMul, Softmax, Gather), under presets covering every rule (ε, z⁺ and α-β in sign-split
/// form and on inputs of both signs, flat, w², γ, zᴮ, the paper's conventions, AttnLRP,
/// CP-LRP, the gradient and guided backpropagation), with two classes per image. The full-size zoo networks are left out for time;
/// their layers are the same kinds as AdienceNet's and the ONNX CNNs'.
#[test]
fn freeing_activations_after_their_last_use_changes_no_bit() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut composites: Vec<Composite> = [
        "paper",
        "epsilon-plus-flat",
        "epsilon-alpha2-beta1-flat",
        "epsilon-gamma-box",
        "attnlrp",
        "cp-lrp",
    ]
    .map(|p| Composite::preset(p).unwrap())
    .to_vec();
    // w² on the first layer; the gradient and guided backpropagation (Seed::One aside, the
    // same backward pass).
    composites.push(
        Composite::preset("epsilon-plus")
            .unwrap()
            .with_override(Selector::Index(0), modern(Rule::WSquare)),
    );
    composites.push(Composite::gradient());
    composites.push(Composite::guided_backprop());
    let mut bad = Vec::new();
    let mut nets: Vec<(String, Graph, usize)> = vec![
        ("small".into(), small_net(5, true), 2),
        (
            "adiencenet".into(),
            zoo::build(Architecture::AdienceNet, 8, 1).unwrap(),
            1,
        ),
    ];
    let onnx = ["assets/gender-v1.onnx", "assets/age-v1.onnx"]
        .into_iter()
        .map(String::from)
        .chain(
            [
                "resnet18",
                "mobilenet_v2",
                "squeezenet1_1",
                "efficientnet_b0",
                "convnext_tiny",
            ]
            .map(|m| format!("tests/data/modern/{m}_legacy.onnx")),
        );
    for file in onnx {
        let g = lrp::import::onnx::load(format!("{root}/{file}")).unwrap();
        nets.push((file, g, 1));
    }
    let vit = lrp::import::onnx::load(format!("{root}/tests/data/vit/deit_tiny_legacy.onnx"));
    nets.push(("deit_tiny".into(), vit.unwrap(), 2));
    for (label, g, n) in &nets {
        let x = random_input(g, *n, 7);
        bad.extend(plan_against_keep_all(label, g, &x, &composites));
    }
    assert!(bad.is_empty(), "planned ≠ keep-all: {bad:?}");
}
