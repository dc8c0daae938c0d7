//! Relevance is never NaN or infinite, for any preset, on random small networks — including
//! layers whose denominators are all zero (zero weights, zero inputs) and all-zero inputs.

use lrp::composite::{Composite, PRESETS};
use lrp::explain::{Explainer, Target};
use lrp::ops::{Conv2d, Dense, Lrn, Op, Pool2d, PoolRounding};
use lrp::zoo::rng::Rng;
use lrp::{GraphBuilder, Tensor};
use ndarray::{Array1, Array2, Array4, IxDyn};

/// A random network: conv (+LRN) → relu → pool → conv → relu → dense → relu → dense. With
/// `dead`, one convolution has all-zero weights and bias, so every denominator behind it is 0.
fn random_net(rng: &mut Rng, dead: bool) -> (lrp::Graph, Vec<usize>) {
    let c = 1 + rng.below(3);
    let hw = 6 + rng.below(6);
    let m1 = 1 + rng.below(4);
    let m2 = 1 + rng.below(4);
    let classes = 2 + rng.below(4);
    let val = |rng: &mut Rng, zero: bool| if zero { 0.0 } else { rng.normal() };
    let mut b = GraphBuilder::new();
    b.input("x", &[c, hw, hw]);
    let w1 = Array4::from_shape_fn((m1, c, 3, 3), |_| val(rng, false));
    let b1 = Array1::from_shape_fn(m1, |_| {
        if rng.below(3) == 0 {
            0.0
        } else {
            val(rng, false)
        }
    });
    b.add(
        "c1",
        Op::Conv(Conv2d::new(w1, Some(b1)).with_pad(1)),
        &["x"],
    );
    let mut last = "c1".to_string();
    if rng.below(2) == 0 {
        b.add("lrn", Op::Lrn(Lrn::with_size(3)), &[&last]);
        last = "lrn".into();
    }
    b.add("r1", Op::Relu, &[&last]);
    let pool = Pool2d::new([2, 2], [2, 2]).with_rounding(PoolRounding::CeilClip);
    let op = if rng.below(2) == 0 {
        Op::MaxPool(pool)
    } else {
        Op::AvgPool(pool)
    };
    b.add("p1", op, &["r1"]);
    let w2 = Array4::from_shape_fn((m2, m1, 3, 3), |_| val(rng, dead));
    let b2 = Array1::from_shape_fn(m2, |_| val(rng, dead));
    b.add(
        "c2",
        Op::Conv(Conv2d::new(w2, Some(b2)).with_pad(1)),
        &["p1"],
    );
    b.add("r2", Op::Relu, &["c2"]);
    let side = hw.div_ceil(2);
    let k = m2 * side * side;
    let w3 = Array2::from_shape_fn((8, k), |_| val(rng, false));
    b.add(
        "fc1",
        Op::Dense(Dense::new(w3, Some(Array1::zeros(8)))),
        &["r2"],
    );
    b.add("r3", Op::Relu, &["fc1"]);
    let w4 = Array2::from_shape_fn((classes, 8), |_| val(rng, false));
    b.add("fc2", Op::Dense(Dense::new(w4, None)), &["r3"]);
    (b.build(&["fc2"]).unwrap(), vec![c, hw, hw])
}

fn check(g: &lrp::Graph, shape: &[usize], x: &Tensor, what: &str) {
    for preset in PRESETS {
        let ex = Explainer::new(g.clone(), &Composite::preset(preset).unwrap()).unwrap();
        for target in [Target::Predicted, Target::All] {
            let e = ex.explain(x, &target).unwrap();
            assert_eq!(&e.relevance.shape()[2..], shape);
            if let Some(v) = e.relevance.iter().find(|v| !v.is_finite()) {
                panic!("{what}, {preset}, {target:?}: relevance {v}");
            }
            for c in &e.conservation {
                assert!(
                    c.relevance_in
                        .iter()
                        .chain(&c.relevance_out)
                        .all(|v| v.is_finite()),
                    "{what}, {preset}: layer {} sums are not finite",
                    c.node
                );
            }
        }
    }
}

#[test]
fn random_networks_random_and_zero_inputs() {
    let mut rng = Rng::new(2026);
    for case in 0..24 {
        let dead = case % 4 == 3;
        let (g, shape) = random_net(&mut rng, dead);
        let mut full = vec![2];
        full.extend(&shape);
        let x = Tensor::from_shape_fn(IxDyn(&full), |_| rng.normal());
        check(
            &g,
            &shape,
            &x,
            &format!("case {case} (dead {dead}), random input"),
        );
        let zeros = Tensor::zeros(IxDyn(&full));
        check(
            &g,
            &shape,
            &zeros,
            &format!("case {case} (dead {dead}), zero input"),
        );
    }
}
