//! The comparison module on a synthetic model whose relevant pixels are known by
//! construction.

use lrp::compare::{self, FlipConfig, Order};
use lrp::composite::Composite;
use lrp::explain::{Explainer, Target};
use lrp::heatmap::{self, Reduce};
use lrp::ops::{Dense, Op};
use lrp::zoo::rng::Rng;
use lrp::{GraphBuilder, Tensor};
use ndarray::{s, Array2, IxDyn};

/// A dense layer on 3×16×16 inputs whose class-0 weights are non-zero (positive) only on the
/// 8×8 patch at rows 4..12, columns 4..12; class 1 looks at everything, weakly.
fn patch_model() -> lrp::Graph {
    let mut rng = Rng::new(5);
    let (c, h, w) = (3, 16, 16);
    let mut wt = Array2::<f32>::zeros((2, c * h * w));
    for k in 0..c {
        for y in 0..h {
            for x in 0..w {
                let i = (k * h + y) * w + x;
                if (4..12).contains(&y) && (4..12).contains(&x) {
                    wt[[0, i]] = 0.5 + rng.uniform();
                }
                wt[[1, i]] = 0.01 * rng.normal();
            }
        }
    }
    let mut b = GraphBuilder::new();
    let x = b.input("x", &[c, h, w]);
    let y = b.add("fc", Op::Dense(Dense::new(wt, None)), &[&x]);
    b.build(&[&y]).unwrap()
}

#[test]
fn most_relevant_first_destroys_the_score_faster_than_random() {
    let g = patch_model();
    let mut rng = Rng::new(9);
    let x = Tensor::from_shape_fn(IxDyn(&[4, 3, 16, 16]), |_| 0.2 + rng.uniform());
    let ex = Explainer::new(g.clone(), &Composite::preset("epsilon").unwrap()).unwrap();
    let e = ex.explain(&x, &Target::Class(0)).unwrap();
    let cfg = FlipConfig {
        patch: 4,
        steps: 16,
        batch: 8,
        ..FlipConfig::default()
    };
    let (mut morf, mut random) = (0.0, 0.0);
    for i in 0..4 {
        let map = heatmap::reduce(e.relevance.slice(s![i, 0, .., .., ..]), Reduce::Sum).unwrap();
        // The map is zero outside the known patch.
        assert_eq!(
            map.slice(s![0..4, ..]).iter().map(|v| v.abs()).sum::<f32>(),
            0.0
        );
        let xi = x.slice(s![i, .., .., ..]);
        let order = compare::patch_order(&map, 4, &Order::MostRelevantFirst).unwrap();
        let c = compare::flip_curve(&g, xi, &order, 0, &cfg).unwrap();
        // The 4 patches of the known region go first: after 4 steps the score is 0.
        assert!(c.scores[4].abs() < 1e-4, "{:?}", c.scores);
        morf += c.aopc() / c.scores[0];
        for seed in 0..5 {
            let order = compare::patch_order(&map, 4, &Order::Random { seed }).unwrap();
            let c = compare::flip_curve(&g, xi, &order, 0, &cfg).unwrap();
            random += c.aopc() / c.scores[0] / 5.0;
        }
    }
    let (morf, random) = (morf / 4.0, random / 4.0);
    // Relative AOPC: most-relevant-first ≈ (16 − 2.5)/17 ≈ 0.79, random ≈ 0.47.
    assert!(morf > random + 0.2, "morf {morf}, random {random}");
}

#[test]
fn region_mass_of_the_synthetic_explanation_lies_in_the_patch() {
    let g = patch_model();
    let x = Tensor::from_elem(IxDyn(&[1, 3, 16, 16]), 1.0);
    let ex = Explainer::new(g, &Composite::preset("epsilon").unwrap()).unwrap();
    let e = ex.explain(&x, &Target::Class(0)).unwrap();
    let map = heatmap::reduce(e.relevance.slice(s![0, 0, .., .., ..]), Reduce::Sum).unwrap();
    let r = compare::region_mass(
        &map,
        &compare::Region::Box {
            left: 4,
            top: 4,
            right: 12,
            bottom: 12,
        },
    )
    .unwrap();
    assert!((r.positive_share - 1.0).abs() < 1e-6);
    let st = compare::map_stats(&map, Some(e.seed_sum(0))).unwrap();
    // Epsilon on one layer without bias: conservative up to the ε absorption.
    let c = st.conservation.unwrap();
    assert!((c - 1.0).abs() < 1e-3, "{c}");
}
