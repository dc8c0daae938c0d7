//! Compare what two models base their decisions on, with numbers: the gender and the age
//! model on the shipped portraits, each explained with ε-z⁺-flat; their heatmaps are brought
//! to a common 32×32 grid (area averaging) and compared by Pearson correlation, cosine
//! similarity and the overlap (IoU) of their 10% most relevant pixels.
//!
//! `cargo run --release --example compare_models`

use lrp::composite::Composite;
use lrp::explain::{Explainer, Target};
use lrp::heatmap::{self, Reduce};
use lrp::model::Model;
use lrp::preprocess;
use ndarray::Array2;

/// Area-average `m` onto an `n×n` grid (the maps here are 32×32 and 64×64).
fn to_grid(m: &Array2<f32>, n: usize) -> Array2<f32> {
    let (h, w) = m.dim();
    let mut out = Array2::<f32>::zeros((n, n));
    let mut count = Array2::<f32>::zeros((n, n));
    for ((y, x), &v) in m.indexed_iter() {
        let (gy, gx) = (y * n / h, x * n / w);
        out[[gy, gx]] += v;
        count[[gy, gx]] += 1.0;
    }
    out / count.mapv(|c| c.max(1.0))
}

fn pearson(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len() as f32;
    let (ma, mb) = (a.iter().sum::<f32>() / n, b.iter().sum::<f32>() / n);
    let cov: f32 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f32 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f32 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt().max(f32::MIN_POSITIVE)
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb).max(f32::MIN_POSITIVE)
}

/// Intersection over union of the `frac` most relevant (largest) pixels of each map.
fn top_iou(a: &[f32], b: &[f32], frac: f32) -> f32 {
    let k = ((a.len() as f32 * frac).ceil() as usize).max(1);
    let top = |v: &[f32]| {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&i, &j| v[j].total_cmp(&v[i]));
        idx.truncate(k);
        idx.into_iter().collect::<std::collections::BTreeSet<_>>()
    };
    let (ta, tb) = (top(a), top(b));
    ta.intersection(&tb).count() as f32 / ta.union(&tb).count() as f32
}

fn main() -> anyhow::Result<()> {
    let (names, faces): (Vec<&str>, Vec<_>) = lrp::assets::portrait_faces()?.into_iter().unzip();
    let composite = Composite::preset("epsilon-plus-flat")?;
    let mut maps = Vec::new();
    for model in [Model::gender()?, Model::age()?] {
        let x = preprocess::to_tensor(&faces, &model.preprocess)?;
        let e = Explainer::new(model.graph.clone(), &composite)?.explain(&x, &Target::Predicted)?;
        let per_image: Vec<Array2<f32>> = (0..faces.len())
            .map(|i| {
                let m = heatmap::reduce(
                    e.relevance.slice(ndarray::s![i, 0, .., .., ..]),
                    Reduce::Sum,
                )?;
                Ok(to_grid(&m, 32))
            })
            .collect::<lrp::Result<_>>()?;
        maps.push((model.name.clone(), per_image));
    }
    println!(
        "{:<14} {:>8} {:>8} {:>12}",
        "portrait", "pearson", "cosine", "top-10% IoU"
    );
    for (i, name) in names.iter().enumerate() {
        let a = maps[0].1[i].as_slice().expect("contiguous");
        let b = maps[1].1[i].as_slice().expect("contiguous");
        println!(
            "{name:<14} {:>8.3} {:>8.3} {:>12.3}",
            pearson(a, b),
            cosine(a, b),
            top_iou(a, b, 0.1)
        );
    }
    println!(
        "({} vs {}, ε-z⁺-flat heatmaps on a 32×32 grid)",
        maps[0].0, maps[1].0
    );
    Ok(())
}
