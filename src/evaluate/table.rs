//! A whole evaluation in one call: every model × method explained on every image, each
//! explanation scored by the chosen metrics, and the table of means with each method's rank
//! among the methods of its model. This is what `lrp evaluate` computes; the command only
//! parses options, shows progress and writes the files.
//!
//! Each image is explained and scored on its own (one input at a time, as Quantus scores
//! them; a few images at once, [`EvaluationConfig::images_at_once`]), so a folder of any size
//! runs in the memory of a few images; only the scores are kept.
//!
//! ```no_run
//! use lrp::attribution::Method;
//! use lrp::composite::Composite;
//! use lrp::evaluate::{EvalImage, Evaluation, EvaluationConfig};
//! use lrp::model::Model;
//! let models = [Model::gender()?];
//! let methods = vec![vec![
//!     Method::Lrp(Box::new(Composite::preset("epsilon-plus-flat")?)),
//!     Method::Gradient,
//! ]];
//! let images: Vec<EvalImage> = lrp::compare::faces::portrait_variants()?
//!     .into_iter()
//!     .map(|(name, image)| EvalImage { name, image, mask: None })
//!     .collect();
//! let table = Evaluation::run(&models, &methods, &images, &EvaluationConfig::default(), &mut |_, _| {})?;
//! print!("{}", table.summary_csv()?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::{
    complexity, faithfulness_correlation, heatmap_of, mprt, off_class, pixel_flipping,
    pointing_game, random_logit, random_subsets, relevance_mass_accuracy, relevance_rank_accuracy,
    seeded_parameters, sparseness, srg, FaithfulnessCorrelation, FlipOrder, LayerScore,
    PixelFlipping, Prepare, Score,
};
use crate::attribution::{Attributor, Method};
use crate::compare::frame::to_frame;
use crate::error::{Error, Result};
use crate::explain::Target;
use crate::heatmap::{self, Reduce};
use crate::model::Model;
use crate::preprocess::{self, RgbImage};
use ndarray::{s, Array2};
use rayon::prelude::*;
use serde::Serialize;

mod files;

/// A metric of an evaluation; pixel flipping fills three columns (MoRF, LeRF, SRG), every
/// other metric one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// [`sparseness`](super::sparseness) of the heatmap (abs, normalised).
    Sparseness,
    /// [`complexity`](super::complexity) of the heatmap (abs, normalised).
    Complexity,
    /// [`pixel_flipping`](super::pixel_flipping) most and least relevant first (areas over
    /// the removed fraction, [`Curve::area`](super::Curve::area)) and their
    /// [`srg`](super::srg).
    PixelFlipping,
    /// [`faithfulness_correlation`](super::faithfulness_correlation) over seeded random
    /// subsets, the same subsets for every method.
    FaithfulnessCorrelation,
    /// [`random_logit`](super::random_logit): SSIM of the heatmaps of the target and of a
    /// seeded other class (needs two classes or more).
    RandomLogit,
    /// [`mprt`](super::mprt), layers reset top down with seeded draws: the mean Spearman
    /// correlation over the layers (each layer's in [`ImageScores::mprt`]).
    Mprt,
    /// [`relevance_mass_accuracy`](super::relevance_mass_accuracy) against the image's mask.
    RelevanceMass,
    /// [`relevance_rank_accuracy`](super::relevance_rank_accuracy) against the image's mask.
    RelevanceRank,
    /// [`pointing_game`](super::pointing_game) against the image's mask.
    PointingGame,
}

/// A column of the table: its name and which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Column {
    /// The column's name, as in the CSV files (`pixel-flipping-morf`, `sparseness`, …).
    pub name: &'static str,
    /// Whether a higher value is better (the rank's direction).
    pub higher_is_better: bool,
}

const fn col(name: &'static str, higher_is_better: bool) -> Column {
    Column {
        name,
        higher_is_better,
    }
}

impl Metric {
    /// Every metric, in the table's order.
    pub const ALL: [Metric; 9] = [
        Metric::Sparseness,
        Metric::Complexity,
        Metric::PixelFlipping,
        Metric::FaithfulnessCorrelation,
        Metric::RandomLogit,
        Metric::Mprt,
        Metric::RelevanceMass,
        Metric::RelevanceRank,
        Metric::PointingGame,
    ];

    /// The metric's name (`sparseness`, `pixel-flipping`, `faithfulness-correlation`, …).
    ///
    /// ```
    /// use lrp::evaluate::Metric;
    /// for m in Metric::ALL {
    ///     assert_eq!(Metric::from_name(m.name()).unwrap(), m);
    /// }
    /// assert!(Metric::from_name("gini").is_err());
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            Metric::Sparseness => "sparseness",
            Metric::Complexity => "complexity",
            Metric::PixelFlipping => "pixel-flipping",
            Metric::FaithfulnessCorrelation => "faithfulness-correlation",
            Metric::RandomLogit => "random-logit",
            Metric::Mprt => "mprt",
            Metric::RelevanceMass => "relevance-mass",
            Metric::RelevanceRank => "relevance-rank",
            Metric::PointingGame => "pointing-game",
        }
    }

    /// The metric named `name` (case and `_`/`-` do not matter).
    ///
    /// Errors: [`Error::UnknownName`] listing the names.
    pub fn from_name(name: &str) -> Result<Metric> {
        let key = name.trim().to_ascii_lowercase().replace('_', "-");
        Metric::ALL
            .into_iter()
            .find(|m| m.name() == key)
            .ok_or_else(|| Error::UnknownName {
                kind: "metric",
                name: name.to_string(),
                valid: Metric::ALL.map(|m| m.name()).join(", "),
            })
    }

    /// Whether the metric scores against a mask of the object ([`EvalImage::mask`]).
    pub fn needs_mask(&self) -> bool {
        matches!(
            self,
            Metric::RelevanceMass | Metric::RelevanceRank | Metric::PointingGame
        )
    }

    /// The columns the metric fills.
    pub fn columns(&self) -> &'static [Column] {
        let range = match self {
            Metric::Sparseness => 0..1,
            Metric::Complexity => 1..2,
            Metric::PixelFlipping => 2..5,
            Metric::FaithfulnessCorrelation => 5..6,
            Metric::RandomLogit => 6..7,
            Metric::Mprt => 7..8,
            Metric::RelevanceMass => 8..9,
            Metric::RelevanceRank => 9..10,
            Metric::PointingGame => 10..11,
        };
        &COLUMNS[range]
    }
}

/// Every column, in the order of [`Metric::ALL`].
const COLUMNS: [Column; 11] = [
    col("sparseness", true),
    col("complexity", false),
    col("pixel-flipping-morf", false),
    col("pixel-flipping-lerf", true),
    col("srg", true),
    col("faithfulness-correlation", true),
    col("random-logit", false),
    col("mprt", false),
    col("relevance-mass", true),
    col("relevance-rank", true),
    col("pointing-game", true),
];

/// Settings of an [`Evaluation`].
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluationConfig {
    /// The metrics, in the table's order.
    pub metrics: Vec<Metric>,
    /// What to explain: [`Target::Predicted`] or one [`Target::Class`].
    pub target: Target,
    /// Pixel flipping's settings ([`PixelFlipping::default`]: Quantus's) but for the step,
    /// which `flip_steps` sets for each model's input size. For a model with one output (a
    /// regression), the logit is recorded whatever `score` says: a softmax over one output
    /// is 1 whatever the input.
    pub flip: PixelFlipping,
    /// Pixel-flipping steps: each sets `ceil(C·H·W / flip_steps)` input values.
    pub flip_steps: usize,
    /// Faithfulness correlation's settings ([`FaithfulnessCorrelation::default`]).
    pub faithfulness: FaithfulnessCorrelation,
    /// Features per random subset of faithfulness correlation (Quantus: 224), at most the
    /// input's.
    pub subset_size: usize,
    /// Random subsets of faithfulness correlation (Quantus: 100).
    pub runs: usize,
    /// Seed of the subsets, the other class of random logit and the draws of MPRT.
    pub seed: u64,
    /// Images explained and scored at once, each by a thread of rayon's pool (`None`: two
    /// per thread). Each holds its own activations and perturbed batches: 1 bounds the
    /// memory to one image's.
    pub images_at_once: Option<usize>,
}

impl Default for EvaluationConfig {
    /// The metrics without a mask, Quantus 0.6's settings (pixel flipping in 32 steps), the
    /// predicted class, seed 0.
    fn default() -> Self {
        EvaluationConfig {
            metrics: Metric::ALL
                .into_iter()
                .filter(|m| !m.needs_mask())
                .collect(),
            target: Target::Predicted,
            flip: PixelFlipping::default(),
            flip_steps: 32,
            faithfulness: FaithfulnessCorrelation::default(),
            subset_size: 224,
            runs: 100,
            seed: 0,
            images_at_once: None,
        }
    }
}

impl EvaluationConfig {
    /// The columns of the table, in order.
    pub fn columns(&self) -> Vec<Column> {
        self.metrics
            .iter()
            .flat_map(|m| m.columns().iter().copied())
            .collect()
    }

    fn validate(&self) -> Result<()> {
        let invalid = |m: String| Err(Error::Invalid(format!("evaluation: {m}")));
        if self.metrics.is_empty() {
            return invalid("no metric".into());
        }
        if let Some(m) =
            (1..self.metrics.len()).find(|&i| self.metrics[..i].contains(&self.metrics[i]))
        {
            return invalid(format!("metric {} given twice", self.metrics[m].name()));
        }
        if !matches!(self.target, Target::Predicted | Target::Class(_)) {
            return invalid("a target is the predicted class or one class index".into());
        }
        if self.images_at_once == Some(0) {
            return invalid("at least one image at once".into());
        }
        if self.flip_steps == 0 {
            return invalid("pixel flipping needs 1 step or more".into());
        }
        if self.subset_size == 0 || !(2..=super::MAX_RUNS).contains(&self.runs) {
            return invalid(format!(
                "faithfulness correlation needs subsets of 1 feature or more and 2 to {} runs, got {} and {}",
                super::MAX_RUNS,
                self.subset_size,
                self.runs
            ));
        }
        Ok(())
    }
}

/// One image to evaluate on: its name, the image (a face crop for the face models), and
/// optionally a mask of the object in the image's pixels (`true` inside) for the metrics
/// that need one.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalImage {
    /// The image's name in the table.
    pub name: String,
    /// The image, preprocessed by each model as it is explained.
    pub image: RgbImage,
    /// The object's pixels, `height × width` of `image`.
    pub mask: Option<Array2<bool>>,
}

/// The scores of one model × method on one image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageScores {
    /// The model's name.
    pub model: String,
    /// The method's label ([`Method::label`]: a preset's name for LRP).
    pub method: String,
    /// The image's name.
    pub image: String,
    /// The class explained.
    pub class: usize,
    /// One value per column of [`EvaluationConfig::columns`]; NaN where the metric does not
    /// apply (no mask for the image, one class only for random logit).
    pub values: Vec<f32>,
    /// With [`Metric::Mprt`]: the Spearman correlation after each layer was reset, top down.
    #[serde(serialize_with = "layer_scores")]
    pub mprt: Vec<LayerScore>,
    /// Whether the explanation was zero everywhere (no metric can score it: every value is
    /// NaN). Guided and excitation backprop give such maps where no path is positive.
    pub all_zero: bool,
}

fn layer_scores<S: serde::Serializer>(
    v: &[LayerScore],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(v.len()))?;
    for l in v {
        seq.serialize_element(&(l.layer.as_str(), l.score))?;
    }
    seq.end()
}

/// One row of the summary: a model × method × column over the images.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryRow {
    /// The model's name.
    pub model: String,
    /// The method's label.
    pub method: String,
    /// The column's name.
    pub metric: &'static str,
    /// Whether higher is better.
    pub higher_is_better: bool,
    /// Mean over the images where the value is finite (NaN for none).
    pub mean: f32,
    /// Standard deviation over them (population, 0 for one).
    pub std: f32,
    /// How many images have a finite value.
    pub n: usize,
    /// Rank of the method's mean among the methods of its model, 1 the best, equal means
    /// sharing a rank; `None` for a NaN mean.
    pub rank: Option<usize>,
}

/// The result of [`Evaluation::run`].
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The settings it ran with.
    pub config: EvaluationConfig,
    /// The columns of every row's values.
    pub columns: Vec<Column>,
    /// One entry per model × method × image, model-major, then method, then image.
    pub scores: Vec<ImageScores>,
}

impl Evaluation {
    /// Explains every image with every model × method (`methods[i]` are `models[i]`'s;
    /// models may have different methods) and scores each explanation. `progress(label,
    /// done)` is called with `done = 0` when a model × method starts and `done = 1` after each
    /// image.
    ///
    /// Errors: [`Error::Invalid`] for a bad configuration, no model, image or method, or a
    /// method list per model missing; [`Error::Evaluate`] for a mask of another size than
    /// its image or one that covers no pixel at the network's resolution; then those of
    /// preprocessing, attribution and the metrics.
    pub fn run(
        models: &[Model],
        methods: &[Vec<Method>],
        images: &[EvalImage],
        config: &EvaluationConfig,
        progress: &mut dyn FnMut(&str, u64),
    ) -> Result<Evaluation> {
        config.validate()?;
        if models.is_empty() || images.is_empty() || methods.len() != models.len() {
            return Err(Error::Invalid(format!(
                "an evaluation needs models, images and one list of methods per model; got {} models, {} images, {} lists",
                models.len(),
                images.len(),
                methods.len()
            )));
        }
        for im in images {
            if let Some(m) = &im.mask {
                let (w, h) = im.image.dimensions();
                if m.dim() != (h as usize, w as usize) {
                    return Err(Error::Evaluate(format!(
                        "the mask of {} is {}×{} pixels, its image {w}×{h}",
                        im.name,
                        m.ncols(),
                        m.nrows()
                    )));
                }
            }
        }
        let mut scores = Vec::new();
        for (model, ms) in models.iter().zip(methods) {
            for method in ms {
                let label = format!("{} · {}", model.name, method.label());
                progress(&label, 0);
                let att = Attributor::new(model.graph.clone(), method.clone())?;
                // Images in parallel, a few per thread at a time: the small models' layers
                // are too small to keep every core busy on one image.
                let group = config
                    .images_at_once
                    .unwrap_or(2 * rayon::current_num_threads())
                    .max(1);
                for chunk in images.chunks(group) {
                    let rows: Vec<Result<ImageScores>> = chunk
                        .par_iter()
                        .map(|im| score_image(model, &att, im, config))
                        .collect();
                    for row in rows {
                        scores.push(row?);
                        progress(&label, 1);
                    }
                }
            }
        }
        Ok(Evaluation {
            config: config.clone(),
            columns: config.columns(),
            scores,
        })
    }

    /// The model × method pairs, in order.
    pub fn pairs(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for s in &self.scores {
            let p = (s.model.clone(), s.method.clone());
            if !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }

    /// Means, standard deviations and ranks per model × method × column, in the order of
    /// [`Evaluation::pairs`] and then the columns.
    pub fn summary(&self) -> Vec<SummaryRow> {
        let mut rows = Vec::new();
        for (model, method) in self.pairs() {
            for (c, col) in self.columns.iter().enumerate() {
                let v: Vec<f64> = self
                    .scores
                    .iter()
                    .filter(|s| s.model == model && s.method == method)
                    .map(|s| s.values[c] as f64)
                    .filter(|v| v.is_finite())
                    .collect();
                let n = v.len();
                let (mean, std) = if n == 0 {
                    (f32::NAN, f32::NAN)
                } else {
                    let m = v.iter().sum::<f64>() / n as f64;
                    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n as f64;
                    (m as f32, var.sqrt() as f32)
                };
                rows.push(SummaryRow {
                    model: model.clone(),
                    method: method.clone(),
                    metric: col.name,
                    higher_is_better: col.higher_is_better,
                    mean,
                    std,
                    n,
                    rank: None,
                });
            }
        }
        // Ranks among the methods of the same model, per column.
        for i in 0..rows.len() {
            if rows[i].mean.is_nan() {
                continue;
            }
            let better = rows
                .iter()
                .filter(|r| {
                    r.model == rows[i].model && r.metric == rows[i].metric && !r.mean.is_nan()
                })
                .filter(|r| {
                    if rows[i].higher_is_better {
                        r.mean > rows[i].mean
                    } else {
                        r.mean < rows[i].mean
                    }
                })
                .count();
            rows[i].rank = Some(better + 1);
        }
        rows
    }

    /// Each model × method's mean rank over the columns where it has one (NaN for none), in
    /// the order of [`Evaluation::pairs`]: the overall order of the methods of a model.
    pub fn mean_ranks(&self) -> Vec<(String, String, f32)> {
        let summary = self.summary();
        self.pairs()
            .into_iter()
            .map(|(model, method)| {
                let r: Vec<f32> = summary
                    .iter()
                    .filter(|s| s.model == model && s.method == method)
                    .filter_map(|s| s.rank.map(|r| r as f32))
                    .collect();
                let m = if r.is_empty() {
                    f32::NAN
                } else {
                    r.iter().sum::<f32>() / r.len() as f32
                };
                (model, method, m)
            })
            .collect()
    }
}

/// The model's heatmap `h` (`mh × mw`, network resolution) and the image's mask brought onto
/// the same grid over the image's frame: the map resampled where the preprocessing covers
/// another part of the image, the mask sampled at the grid's pixel centres.
fn in_frame(
    model: &Model,
    h: &Array2<f32>,
    image: &EvalImage,
    mask: &Array2<bool>,
) -> Result<(Vec<f32>, Vec<bool>)> {
    let (w, hgt) = image.image.dimensions();
    let (fw, fh) = (f64::from(w), f64::from(hgt));
    let (mh, mw) = h.dim();
    let region = model.preprocess.input_region(w, hgt);
    let map = if region != [0.0, 0.0, fw, fh] {
        to_frame(h, region, fw, fh, mh, mw)?
    } else {
        h.clone()
    };
    let m: Vec<bool> = (0..mh)
        .flat_map(|y| (0..mw).map(move |x| (y, x)))
        .map(|(y, x)| {
            let sy = (((y as f64 + 0.5) * fh / mh as f64) as usize).min(hgt as usize - 1);
            let sx = (((x as f64 + 0.5) * fw / mw as f64) as usize).min(w as usize - 1);
            mask[[sy, sx]]
        })
        .collect();
    if !m.iter().any(|&b| b) {
        return Err(Error::Evaluate(format!(
            "the mask of {} covers no pixel of the {mh}×{mw} heatmap of {}",
            image.name, model.name
        )));
    }
    Ok((map.iter().copied().collect(), m))
}

/// Explains `image` with `att` (a method on `model`'s graph) and scores the explanation by
/// every metric of `config`: one row of an [`Evaluation`]. The heatmap (relevance summed
/// over colour channels) is what every metric scores; the model-based metrics broadcast it
/// over the channels of the input, as Quantus does with a one-channel attribution.
///
/// Errors: those of preprocessing, attribution and the metrics.
pub fn score_image(
    model: &Model,
    att: &Attributor,
    image: &EvalImage,
    config: &EvaluationConfig,
) -> Result<ImageScores> {
    let x = preprocess::to_tensor(std::slice::from_ref(&image.image), &model.preprocess)?;
    let e = att.attribute(&x, &config.target)?;
    let class = e
        .targets
        .first()
        .and_then(|t| t.first())
        .copied()
        .ok_or_else(|| Error::Evaluate(format!("{}: the explanation has no target", image.name)))?;
    let classes = e.logits.ncols();
    let h = heatmap::reduce(e.relevance.slice(s![0, 0, .., .., ..]), Reduce::Sum)?;
    let a: Vec<f32> = h.iter().copied().collect();
    let x0 = x.slice(s![0, .., .., ..]);
    let graph = att.graph();
    let mut values = Vec::new();
    let mut layers = Vec::new();
    let all_zero = a.iter().all(|&v| v == 0.0);
    let columns = config.metrics.iter().map(|m| m.columns().len()).sum();
    for metric in config.metrics.iter().filter(|_| !all_zero) {
        match metric {
            Metric::Sparseness => values.push(sparseness(&a, Prepare::ABS_NORMALISE)?),
            Metric::Complexity => values.push(complexity(&a, Prepare::ABS_NORMALISE)?),
            Metric::PixelFlipping => {
                let mut cfg = config.flip.clone();
                cfg.features_in_step = Some(x0.len().div_ceil(config.flip_steps).max(1));
                if classes == 1 {
                    cfg.score = Score::Logit;
                }
                let morf =
                    pixel_flipping(graph, x0, &a, class, FlipOrder::MostRelevantFirst, &cfg)?;
                let lerf =
                    pixel_flipping(graph, x0, &a, class, FlipOrder::LeastRelevantFirst, &cfg)?;
                values.extend([morf.area(), lerf.area(), srg(&morf, &lerf)]);
            }
            Metric::FaithfulnessCorrelation => {
                let n = x0.len();
                let subsets =
                    random_subsets(n, config.subset_size.min(n), config.runs, config.seed)?;
                values.push(faithfulness_correlation(
                    graph,
                    x0,
                    &a,
                    class,
                    &subsets,
                    &config.faithfulness,
                )?);
            }
            Metric::RandomLogit => {
                if classes < 2 {
                    values.push(f32::NAN);
                } else {
                    // The target's heatmap is the one scored above; only the other class's
                    // is explained again.
                    let off = off_class(class, classes, config.seed)?;
                    let b: Vec<f32> = heatmap_of(att, &x, off)?.iter().copied().collect();
                    values.push(random_logit(&a, &b, Prepare::NORMALISE)?);
                }
            }
            Metric::Mprt => {
                let seed = config.seed;
                layers = mprt(att, &x, class, Prepare::ABS_NORMALISE, |g, node| {
                    seeded_parameters(g, node, seed.wrapping_add(node as u64))
                })?;
                let finite: Vec<f32> = layers
                    .iter()
                    .map(|l| l.score)
                    .filter(|v| v.is_finite())
                    .collect();
                values.push(if finite.is_empty() {
                    f32::NAN
                } else {
                    finite.iter().sum::<f32>() / finite.len() as f32
                });
            }
            Metric::RelevanceMass | Metric::RelevanceRank | Metric::PointingGame => {
                let Some(mask) = &image.mask else {
                    values.push(f32::NAN);
                    continue;
                };
                let (map, m) = in_frame(model, &h, image, mask)?;
                values.push(match metric {
                    Metric::RelevanceMass => relevance_mass_accuracy(&map, &m, Prepare::NORMALISE)?,
                    Metric::RelevanceRank => relevance_rank_accuracy(&map, &m, Prepare::NORMALISE)?,
                    _ => pointing_game(&map, &m, Prepare::NORMALISE, false)?,
                });
            }
        }
    }
    values.resize(columns, f32::NAN);
    Ok(ImageScores {
        model: model.name.clone(),
        method: att.method().label(),
        image: image.name.clone(),
        class,
        values,
        mprt: layers,
        all_zero,
    })
}

#[cfg(test)]
mod tests;
