//! The error of `--precision bf16` against float32, per model: the numbers of the README's
//! "Reduced precision" table.
//!
//! For the shipped gender and age models on the two shipped portraits, and the paper's four
//! zoo architectures (seeded random weights, 8 classes, a seeded random-normal input, as
//! `benches/lrp.rs` builds them) at batch 1: each explained under `epsilon-plus-flat` and
//! `epsilon-alpha2-beta1-flat` once in float32 and once in bfloat16, for the class float32
//! predicts. Printed per model and preset: max|ΔR| / max|R| of the input relevance, the
//! Pearson correlation of the heatmaps (relevance summed over the colour channels), and
//! whether the predicted class stayed the same.
//!
//! ```text
//! cargo run --release --example bf16_error            # all six models
//! cargo run --release --example bf16_error -- gender age
//! ```
//! Needs a CPU with AVX512-BF16 (refused elsewhere, with the library's message).
//! `LRP_WINOGRAD=always` measures bf16 with Winograd's products routed too.

use lrp::composite::Composite;
use lrp::explain::{Explainer, Target};
use lrp::kernels::{set_precision, Precision};
use lrp::model::Model;
use lrp::zoo::{self, rng::Rng, Architecture};
use lrp::{Graph, Tensor};
use ndarray::IxDyn;

/// max|a − b| / max|a|.
fn rel_max(a: &[f32], b: &[f32]) -> f64 {
    let d = a
        .iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).abs())
        .fold(0.0, f64::max);
    let m = a.iter().map(|x| f64::from(x.abs())).fold(0.0, f64::max);
    d / m
}

/// Pearson correlation of the heatmaps (relevance summed over the `c` channels, with the
/// library's own reduction and correlation) of two `[C, H, W]` relevance maps.
fn heatmap_correlation(a: &[f32], b: &[f32], c: usize) -> lrp::Result<f32> {
    let heat = |r: &[f32]| {
        let view = ndarray::ArrayView3::from_shape((c, r.len() / c, 1), r)
            .map_err(|e| lrp::Error::Invalid(format!("relevance map: {e}")))?;
        lrp::heatmap::reduce(view, lrp::heatmap::Reduce::Sum)
    };
    let (ha, hb) = (heat(a)?, heat(b)?);
    lrp::compare::metrics::pearson(
        ha.as_slice().expect("standard layout"),
        hb.as_slice().expect("standard layout"),
    )
}

fn main() -> lrp::Result<()> {
    let wanted: Vec<String> = std::env::args().skip(1).collect();
    let keep = |n: &str| wanted.is_empty() || wanted.iter().any(|w| w == n);
    Precision::Bf16.check("--precision bf16")?;
    let mut models: Vec<(String, Graph, Vec<Tensor>)> = Vec::new();
    for (name, model) in [("gender", Model::gender()?), ("age", Model::age()?)] {
        if keep(name) {
            let faces = lrp::assets::portrait_faces()?;
            let xs = faces
                .iter()
                .map(|(_, f)| {
                    lrp::preprocess::to_tensor(std::slice::from_ref(f), &model.preprocess)
                })
                .collect::<lrp::Result<Vec<_>>>()?;
            models.push((name.to_string(), model.graph, xs));
        }
    }
    for arch in Architecture::ALL {
        if keep(arch.name()) {
            let g = zoo::build(arch, 8, 1)?;
            let mut shape = vec![1];
            shape.extend_from_slice(g.input_shape());
            let mut rng = Rng::new(7);
            let x = Tensor::from_shape_fn(IxDyn(&shape), |_| rng.normal());
            models.push((arch.name().to_string(), g, vec![x]));
        }
    }
    println!("model\tpreset\tmax|dR|/max|R|\theatmap pearson\tsame class");
    for (name, g, xs) in &models {
        for preset in ["epsilon-plus-flat", "epsilon-alpha2-beta1-flat"] {
            let ex = Explainer::new(g.clone(), &Composite::preset(preset)?)?;
            let (mut worst, mut corr, mut same) = (0f64, 1f64, true);
            for x in xs {
                set_precision(Precision::F32)?;
                let r32 = ex.explain(x, &Target::Predicted)?;
                let class = r32.targets[0][0];
                set_precision(Precision::Bf16)?;
                let r16 = ex.explain(x, &Target::Class(class))?;
                let pred16 = r16
                    .logits
                    .row(0)
                    .iter()
                    .enumerate()
                    .fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b })
                    .0;
                set_precision(Precision::F32)?;
                same &= pred16 == class;
                let (a, b) = (
                    r32.relevance.as_slice().expect("standard layout"),
                    r16.relevance.as_slice().expect("standard layout"),
                );
                let c = g.input_shape()[0];
                worst = worst.max(rel_max(a, b));
                corr = corr.min(f64::from(heatmap_correlation(a, b, c)?));
            }
            println!("{name}\t{preset}\t{worst:.2e}\t{corr:.6}\t{same}");
        }
    }
    Ok(())
}
