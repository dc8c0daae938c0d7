//! Compare what two models base their decisions on, with numbers: the gender and the age
//! model on 22 variants of the shipped portraits (shifted, scaled, mirrored and re-lit face
//! crops), each explained with ε-z⁺-flat. The heatmaps are area-averaged onto a common 16×16
//! grid and compared with `lrp::compare` (Pearson, Spearman, cosine, overlap of the 10% most
//! relevant pixels); pixel flipping says how faithful each model's heatmaps are (AOPC,
//! most relevant first against random order).
//!
//! `cargo run --release --example compare_models`

use lrp::compare::{self, FlipConfig, Metric, Order};
use lrp::composite::Composite;
use lrp::explain::{Explainer, Target};
use lrp::heatmap::{self, Reduce};
use lrp::model::Model;
use lrp::preprocess;
use ndarray::{s, Array2};

fn main() -> anyhow::Result<()> {
    let faces = compare::faces::portrait_variants()?;
    let crops: Vec<_> = faces.iter().map(|(_, c)| c.clone()).collect();
    let composite = Composite::preset("epsilon-plus-flat")?;
    let cfg = FlipConfig::default();
    let mut names = Vec::new();
    let mut maps: Vec<Vec<Array2<f32>>> = Vec::new();
    for model in [Model::gender()?, Model::age()?] {
        let x = preprocess::to_tensor(&crops, &model.preprocess)?;
        let e = Explainer::new(model.graph.clone(), &composite)?.explain(&x, &Target::Predicted)?;
        let (mut morf, mut random) = (0.0, 0.0);
        let mut per_image = Vec::new();
        for i in 0..faces.len() {
            let map = heatmap::reduce(e.relevance.slice(s![i, 0, .., .., ..]), Reduce::Sum)?;
            let class = e.targets[i][0];
            let xi = x.slice(s![i, .., .., ..]);
            let order = compare::patch_order(&map, cfg.patch, &Order::MostRelevantFirst)?;
            morf += compare::flip_curve(&model.graph, xi, &order, class, &cfg)?.aopc();
            let order = compare::patch_order(&map, cfg.patch, &Order::Random { seed: i as u64 })?;
            random += compare::flip_curve(&model.graph, xi, &order, class, &cfg)?.aopc();
            per_image.push(map);
        }
        let n = faces.len() as f32;
        println!(
            "{:<10} AOPC most relevant first {:.3}, random order {:.3}",
            model.name,
            morf / n,
            random / n
        );
        names.push(model.name.clone());
        maps.push(per_image);
    }
    println!(
        "\n{} vs {} over {} faces (16×16 grid):",
        names[0],
        names[1],
        faces.len()
    );
    for metric in Metric::DEFAULT {
        let m = compare::similarity_matrix(&maps, metric, 16)?;
        println!("  {:<10} {:>7.3}", metric.name(), m[[0, 1]]);
    }
    Ok(())
}
