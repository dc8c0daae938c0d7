//! The CSV files and plots of a [`Study`]: `aopc.csv`, `flipping_curves.csv`, the
//! pixel-flipping plot per model, `clusters.csv` and the eigenvalue plot.

use super::Study;
use crate::compare::output::{csv_string, decimals4, decimals5};
use crate::compare::plot::{self, Series};
use crate::compare::{mean_drop, FlipCurve};
use crate::error::{Error, Result};
use crate::preprocess::RgbImage;
use serde::Serialize;

/// `aopc.csv`: an [`AopcRow`] without the per-image values, numbers with 4 decimals.
#[derive(Serialize)]
struct AopcCsvRow<'a> {
    model: &'a str,
    preset: &'a str,
    #[serde(serialize_with = "decimals4")]
    aopc_morf: f32,
    #[serde(serialize_with = "decimals4")]
    aopc_random: f32,
    #[serde(serialize_with = "decimals4")]
    aopc_difference: f32,
    #[serde(serialize_with = "decimals4")]
    conservation: f32,
    #[serde(serialize_with = "decimals4")]
    positive_share: f32,
    images: usize,
}

/// A point of `flipping_curves.csv`.
#[derive(Serialize)]
struct CurvePoint<'a> {
    model: &'a str,
    preset: &'a str,
    order: &'a str,
    step: usize,
    #[serde(serialize_with = "decimals4")]
    fraction: f32,
    #[serde(serialize_with = "decimals5")]
    mean_score_drop: f32,
}

/// A line of `clusters.csv`.
#[derive(Serialize)]
struct ClusterRow<'a> {
    model: &'a str,
    preset: &'a str,
    image: &'a str,
    cluster: usize,
}

impl Study {
    /// `aopc.csv`: the [`AopcRow`](super::AopcRow)s without the per-image values, with 4 decimals.
    pub fn aopc_csv(&self) -> Result<String> {
        let rows = self.aopc_rows();
        csv_string(rows.iter().map(|r| AopcCsvRow {
            model: &r.model,
            preset: &r.preset,
            aopc_morf: r.aopc_morf,
            aopc_random: r.aopc_random,
            aopc_difference: r.aopc_difference,
            conservation: r.conservation,
            positive_share: r.positive_share,
            images: r.images,
        }))
    }

    /// `flipping_curves.csv`: the mean score drop at every step, per item (most relevant
    /// first) and per model (random order, empty preset).
    pub fn flipping_curves_csv(&self) -> Result<String> {
        let mut points = Vec::new();
        let mut push = |model: &'_ str, preset: &'_ str, order: &'static str, c: &[FlipCurve]| {
            let (fr, drops) = mean_drop(c);
            for (step, (f, d)) in fr.into_iter().zip(drops).enumerate() {
                points.push((model.to_string(), preset.to_string(), order, step, f, d));
            }
        };
        for rnd in &self.random {
            for it in self.items.iter().filter(|it| it.model == rnd.model) {
                push(&it.model, &it.preset, "most-relevant-first", &it.morf);
            }
            push(&rnd.model, "", "random", &rnd.curves);
        }
        csv_string(points.iter().map(|p| CurvePoint {
            model: &p.0,
            preset: &p.1,
            order: p.2,
            step: p.3,
            fraction: p.4,
            mean_score_drop: p.5,
        }))
    }

    /// The pixel-flipping plot of one model (as named in [`RandomCurves::model`](super::RandomCurves::model)): the mean
    /// score drop of each preset and of random order against the replaced fraction.
    pub fn flipping_plot(&self, model: &str) -> Result<RgbImage> {
        let rnd = (self.random.iter().find(|r| r.model == model))
            .ok_or_else(|| Error::Compare(format!("no model `{model}` in the study")))?;
        let mut series = Vec::new();
        for (idx, it) in self.items.iter().filter(|it| it.model == model).enumerate() {
            let (fr, drops) = mean_drop(&it.morf);
            series.push(Series::new(
                it.preset.clone(),
                fr,
                drops,
                plot::palette(idx),
            ));
        }
        let (fr, drops) = mean_drop(&rnd.curves);
        series.push(Series::new("random order", fr, drops, [90, 90, 90]).dashed());
        let c = &self.config;
        plot::line_plot(
            &format!(
                "{model}: pixel flipping ({}×{} patches, {} baseline)",
                c.flip_patch,
                c.flip_patch,
                c.flip_baseline.name()
            ),
            "fraction of the image replaced",
            "mean drop of the target logit",
            &series,
            720,
            440,
        )
    }

    /// `clusters.csv` (model, preset, image, cluster), `None` when clustering was skipped.
    pub fn clusters_csv(&self) -> Option<Result<String>> {
        let clustering = self.clustering.as_ref()?;
        let rows = self.items.iter().zip(clustering).flat_map(|(it, s)| {
            (self.images.iter().zip(&s.labels)).map(|(image, &cluster)| ClusterRow {
                model: &it.model,
                preset: &it.preset,
                image,
                cluster,
            })
        });
        Some(csv_string(rows))
    }

    /// The ten smallest Laplacian eigenvalues of every item's clustering as a plot, `None`
    /// when clustering was skipped.
    pub fn eigengap_plot(&self) -> Option<Result<RgbImage>> {
        let clustering = self.clustering.as_ref()?;
        let series: Vec<Series> = (self.items.iter().zip(clustering).enumerate())
            .map(|(idx, (it, s))| {
                let shown = s.eigenvalues.len().min(10);
                let xs = (1..=shown).map(|i| i as f32).collect();
                Series::new(
                    it.label(),
                    xs,
                    s.eigenvalues[..shown].to_vec(),
                    plot::palette(idx),
                )
                .markers()
            })
            .collect();
        Some(plot::line_plot(
            "spectral clustering: smallest Laplacian eigenvalues",
            "index",
            "eigenvalue",
            &series,
            720,
            440,
        ))
    }
}
