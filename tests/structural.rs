//! The structural and linear operators of modern CNNs in whole graphs: which rule the
//! composites give them, and conservation of relevance through them.
//!
//! Transpose, Slice (a split), Dense on the last axis, Resize and ConvTranspose pass relevance
//! on without losing any: the reshaping ones exactly, the linear ones under the ε rule with
//! the zero-bias switch up to ε. (The closed forms of ε and z⁺ on Resize and ConvTranspose
//! against an explicit matrix are unit tests in `src/ops/{resize,conv_transpose}_tests.rs`.)

use lrp::composite::{Composite, Selector};
use lrp::explain::{Explainer, Target};
use lrp::ops::resize::{Coordinates, Interpolation, Nearest, ResizeSize};
use lrp::ops::{Conv2d, ConvTranspose2d, Dense, Op, Resize, Slice, Transpose};
use lrp::rules::{Convention, Rule, RuleSpec};
use lrp::{Graph, GraphBuilder, Tensor};
use ndarray::{Array1, Array2, Array4, IxDyn};

/// Seeded values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = lrp::zoo::rng::Rng::new(seed);
    (0..n).map(|_| rng.uniform() * 2.0 - 1.0).collect()
}

fn conv(m: usize, c: usize, k: usize, seed: u64) -> Conv2d {
    let w = Array4::from_shape_vec((m, c, k, k), values(m * c * k * k, seed)).unwrap();
    Conv2d::new(w, Some(Array1::from(values(m, seed + 1)))).with_pad(k / 2)
}

fn dense(m: usize, k: usize, seed: u64) -> Dense {
    let w = Array2::from_shape_vec((m, k), values(m * k, seed)).unwrap();
    Dense::new(w, Some(Array1::from(values(m, seed + 1))))
}

/// conv → channels last → dense on the last axis → channels first → split in two → sum of
/// the halves → bilinear ×2 → transposed convolution (k3 s2 p1 op1) → global average → dense.
fn network() -> Graph {
    let mut b = GraphBuilder::new();
    b.input("x", &[4, 5, 5]);
    b.add("conv", Op::Conv(conv(6, 4, 3, 1)), &["x"]);
    b.add(
        "to_last",
        Op::Transpose(Transpose::new(vec![1, 2, 0])),
        &["conv"],
    );
    b.add(
        "fc_last",
        Op::Dense(dense(8, 6, 3).on_last_axis()),
        &["to_last"],
    );
    b.add(
        "to_first",
        Op::Transpose(Transpose::new(vec![2, 0, 1])),
        &["fc_last"],
    );
    let half = |start: i64| Op::Slice(Slice::new(vec![0], vec![start], vec![start + 4], vec![1]));
    b.add("half_a", half(0), &["to_first"]);
    b.add("half_b", half(4), &["to_first"]);
    b.add("sum", Op::Add, &["half_a", "half_b"]);
    let up = Resize::new(
        Interpolation::Linear,
        Coordinates::HalfPixel,
        ResizeSize::Scales([2.0, 2.0]),
    );
    b.add("up", Op::Resize(up), &["sum"]);
    let w = Array4::from_shape_vec((4, 3, 3, 3), values(108, 5)).unwrap();
    let mut t = ConvTranspose2d::new(w, Some(Array1::from(values(3, 6))))
        .with_stride(2)
        .with_pads([1; 4]);
    t.output_padding = [1, 1];
    b.add("deconv", Op::ConvTranspose(t), &["up"]);
    b.add("gap", Op::GlobalAvgPool, &["deconv"]);
    b.add("flat", Op::Flatten, &["gap"]);
    b.add("fc", Op::Dense(dense(5, 3, 7)), &["flat"]);
    b.build(&["fc"]).unwrap()
}

#[test]
fn shapes_through_the_network() {
    let g = network();
    let shape = |n: &str| g.shape(n).unwrap().to_vec();
    assert_eq!(shape("to_last"), [5, 5, 6]);
    assert_eq!(shape("fc_last"), [5, 5, 8]);
    assert_eq!(shape("half_b"), [4, 5, 5]);
    assert_eq!(shape("up"), [4, 10, 10]);
    assert_eq!(shape("deconv"), [3, 20, 20]);
}

/// Resize has no learned weights: it gets ε in every preset and is never the "first linear
/// layer" nor counted by `#i`; ConvTranspose gets the convolutions' rule.
#[test]
fn composites_map_the_new_layers() {
    let mut b = GraphBuilder::new();
    b.input("x", &[3, 4, 4]);
    let up = Resize::new(
        Interpolation::Nearest(Nearest::Floor),
        Coordinates::Asymmetric,
        ResizeSize::Scales([2.0, 2.0]),
    );
    b.add("up", Op::Resize(up), &["x"]);
    b.add("conv", Op::Conv(conv(4, 3, 3, 11)), &["up"]);
    b.add("relu", Op::Relu, &["conv"]);
    let w = Array4::from_shape_vec((4, 2, 2, 2), values(32, 12)).unwrap();
    b.add(
        "deconv",
        Op::ConvTranspose(ConvTranspose2d::new(w, None)),
        &["relu"],
    );
    b.add("gap", Op::GlobalAvgPool, &["deconv"]);
    b.add("flat", Op::Flatten, &["gap"]);
    b.add("fc", Op::Dense(dense(2, 2, 13)), &["flat"]);
    let g = b.build(&["fc"]).unwrap();
    let eps = Rule::Epsilon { epsilon: 1e-6 };
    for preset in [
        "epsilon-plus-flat",
        "epsilon-gamma-box",
        "alpha2-beta1",
        "paper",
    ] {
        let rules = Composite::preset(preset).unwrap().resolve(&g).unwrap();
        assert_eq!(rules["up"].rule, eps, "{preset}");
        assert_eq!(
            rules["fc"].rule.name().starts_with("epsilon"),
            preset != "alpha2-beta1"
        );
        let first = &rules["conv"].rule;
        let deconv = &rules["deconv"].rule;
        match preset {
            "epsilon-plus-flat" => {
                assert_eq!((first, deconv), (&Rule::Flat, &Rule::ZPlus));
            }
            "epsilon-gamma-box" => {
                assert!(matches!(first, Rule::ZBox { .. }), "{first:?}");
                assert_eq!(deconv, &Rule::Gamma { gamma: 0.25 });
            }
            "alpha2-beta1" => {
                let ab = Rule::AlphaBeta {
                    alpha: 2.0,
                    beta: 1.0,
                };
                assert_eq!((first, deconv), (&ab, &ab));
            }
            _ => assert_eq!(first, &Rule::Flat),
        }
    }
    // `#0` is the convolution, `#1` the transposed one: the resize is not counted.
    let c = Composite::preset("epsilon").unwrap().with_override(
        Selector::Index(1),
        RuleSpec::new(Rule::WSquare, Convention::Modern),
    );
    let rules = c.resolve(&g).unwrap();
    assert_eq!(rules["deconv"].rule, Rule::WSquare);
    assert_eq!(rules["conv"].rule, eps);
}

/// ε with the zero-bias switch on every linear layer (and the proportional rule of the sum
/// and the average pooling, stabiliser 1e-9): every layer sends on what it receives, to
/// 1e-5 relative (measured: at most 1.6e-6 for the new layers, 0 for the reshaping ones).
#[test]
fn relevance_is_conserved_layer_by_layer() {
    let g = network();
    let eps = RuleSpec::new(Rule::Epsilon { epsilon: 1e-9 }, Convention::Modern)
        .with_zero_bias(true)
        .with_stabilizer(1e-9);
    let c = Composite::new()
        .with_stabilizer(1e-9)
        .with_rule(Selector::Category(lrp::ops::Category::Linear), eps);
    let ex = Explainer::new(g, &c).unwrap();
    let n: usize = 2 * 4 * 5 * 5;
    let x = Tensor::from_shape_vec(IxDyn(&[2, 4, 5, 5]), values(n, 99)).unwrap();
    let e = ex.explain(&x, &Target::Classes(vec![0, 3])).unwrap();
    let kinds: Vec<&str> = e.conservation.iter().map(|c| c.kind).collect();
    for kind in [
        "Transpose",
        "Slice",
        "Dense",
        "Resize",
        "ConvTranspose",
        "Add",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    for layer in &e.conservation {
        for (m, (out, inp)) in layer
            .relevance_out
            .iter()
            .zip(&layer.relevance_in)
            .enumerate()
        {
            // 1e-5 relative; the first convolution's float32 sums over mixed-sign inputs (36
            // terms per output) reach 1.2e-5, so it gets 5e-5.
            let tol = if layer.kind == "Conv" { 5e-5 } else { 1e-5 };
            assert!(
                (out - inp).abs() <= tol * out.abs(),
                "{} ({}), map {m}: {out} in, {inp} out",
                layer.node,
                layer.kind
            );
        }
    }
    for m in 0..4 {
        let (seed, input) = (e.seed_sum(m), e.input_sum(m));
        assert!(
            (seed - input).abs() <= 1e-4 * seed.abs(),
            "map {m}: seed {seed}, input {input}"
        );
    }
}
