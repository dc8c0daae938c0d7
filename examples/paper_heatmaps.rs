//! The paper's kind of figure from the shipped models and portraits: for each portrait the
//! face crop and black-firered heatmaps of the gender and the age model under two presets
//! (ε-z⁺-flat and the paper's own), labelled with the predictions.
//!
//! `cargo run --release --example paper_heatmaps [OUT.png]` (default
//! `lrp-out/paper_heatmaps.png`).

use lrp::composite::Composite;
use lrp::explain::{Explainer, Target};
use lrp::heatmap::{self, Cell, Colormap, Figure, Reduce, Row};
use lrp::model::Model;
use lrp::preprocess;

fn main() -> anyhow::Result<()> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "lrp-out/paper_heatmaps.png".into());
    let faces = lrp::assets::portrait_faces()?;
    let models = [Model::gender()?, Model::age()?];
    let presets = ["epsilon-plus-flat", "paper"];
    let mut columns = Vec::new();
    for m in &models {
        for p in presets {
            columns.push(format!("{} · {p}", m.name));
        }
    }
    let mut figure = Figure::new(columns)
        .colormap(Colormap::black_firered())
        .title("LRP heatmaps of the shipped gender and age models")
        .input_header("face");
    let mut rows: Vec<Row> = faces
        .iter()
        .map(|(n, f)| Row::new(f.clone()).label(*n))
        .collect();
    for m in &models {
        let crops: Vec<_> = faces.iter().map(|(_, f)| f.clone()).collect();
        let x = preprocess::to_tensor(&crops, &m.preprocess)?;
        for p in presets {
            let ex = Explainer::new(m.graph.clone(), &Composite::preset(p)?)?;
            let e = ex.explain(&x, &Target::Predicted)?;
            for (i, row) in rows.iter_mut().enumerate() {
                let logits = e.logits.row(i);
                let mx = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                let z: f32 = logits.iter().map(|v| (v - mx).exp()).sum();
                let c = e.targets[i][0];
                let prob = (logits[c] - mx).exp() / z;
                let map = heatmap::reduce(
                    e.relevance.slice(ndarray::s![i, 0, .., .., ..]),
                    Reduce::Sum,
                )?;
                *row = std::mem::replace(row, Row::new(Default::default()))
                    .cell(Cell::new(map).prediction(&m.label(c), prob));
                println!(
                    "{} / {} / {p}: {} ({:.1}%)",
                    faces[i].0,
                    m.name,
                    m.label(c),
                    100.0 * prob
                );
            }
        }
    }
    for r in rows {
        figure.push_row(r);
    }
    if let Some(dir) = std::path::Path::new(&out).parent() {
        std::fs::create_dir_all(dir)?;
    }
    figure.save(&out)?;
    println!("figure: {out}");
    Ok(())
}
