//! A whole comparison in one call: every model × preset explained over a set of images, then
//! the similarity matrices of their heatmaps, average maps, pixel-flipping curves with AOPC
//! against random order, and spectral clustering. This is what `lrp compare` computes; the
//! command only parses options, shows progress and writes the files. Models may differ in
//! input size and preprocessing (a face CNN beside an ImageNet vision transformer): each
//! model's heatmaps are brought onto the image's frame first ([`super::frame`]), then onto
//! the common grid by area averaging.
//!
//! ```no_run
//! use lrp::compare::{Study, StudyConfig};
//! use lrp::composite::Composite;
//! use lrp::model::Model;
//! let models = [Model::gender()?];
//! let presets = [Composite::preset("epsilon-plus-flat")?];
//! let images = lrp::compare::faces::portrait_variants()?;
//! let study = Study::run(&models, &presets, &images, &StudyConfig::default(), &mut |_, _| {})?;
//! for row in study.aopc_rows() {
//!     println!("{} · {}: AOPC {} (random {})", row.model, row.preset, row.aopc_morf, row.aopc_random);
//! }
//! std::fs::write("aopc.csv", study.aopc_csv()?)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::plot;
use super::{
    average_normalized, average_raw, flip_curve, map_stats, patch_order, spectral_clustering,
    Baseline, FlipConfig, FlipCurve, Metric, Order, Similarity, Spectral, SpectralConfig,
};
use crate::attribution::{Attributor, Method};
use crate::composite::Composite;
use crate::error::{Error, Result};
use crate::explain::Target;
use crate::heatmap::{self, Colormap, Reduce};
use crate::model::Model;
use crate::ops::Tensor;
use crate::preprocess::{self, RgbImage};
use ndarray::{s, Array2};
use serde::Serialize;

mod files;

/// What removed patches become in the flipping runs of a [`Study`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlipBaseline {
    /// 0 in the network input (the training mean for mean-subtracted inputs).
    Mean,
    /// A black image, preprocessed like the faces.
    Zero,
    /// A box blur with the patch size as radius.
    Blur,
}

impl FlipBaseline {
    /// `mean`, `zero` or `blur`.
    pub fn name(&self) -> &'static str {
        match self {
            FlipBaseline::Mean => "mean",
            FlipBaseline::Zero => "zero",
            FlipBaseline::Blur => "blur",
        }
    }
}

/// Settings of a [`Study`].
#[derive(Debug, Clone, PartialEq)]
pub struct StudyConfig {
    /// What to explain and flip: [`Target::Predicted`] or one [`Target::Class`].
    pub target: Target,
    /// Side of the grid heatmaps are area-averaged onto for similarities and clustering.
    pub grid: usize,
    /// Side of the square patches removed by pixel flipping, in network input pixels.
    pub flip_patch: usize,
    /// Pixel-flipping steps.
    pub flip_steps: usize,
    /// What removed patches become.
    pub flip_baseline: FlipBaseline,
    /// Random orders per image (averaged) for the random-order baseline.
    pub random_runs: usize,
    /// Seed of the random orders and of the k-means initialisation.
    pub seed: u64,
    /// Clusters of the spectral clustering per model × preset.
    pub clusters: usize,
    /// Neighbours per heatmap in the clustering's affinity graph.
    pub neighbors: usize,
}

impl Default for StudyConfig {
    /// The defaults of `lrp compare`: predicted class, 16×16 grid, 4×4 patches, 32 steps,
    /// mean baseline, 3 random runs, seed 0, 2 clusters, 5 neighbours.
    fn default() -> Self {
        StudyConfig {
            target: Target::Predicted,
            grid: 16,
            flip_patch: 4,
            flip_steps: 32,
            flip_baseline: FlipBaseline::Mean,
            random_runs: 3,
            seed: 0,
            clusters: 2,
            neighbors: 5,
        }
    }
}

/// Heatmaps and flipping results of one model × preset.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyItem {
    /// The model's name.
    pub model: String,
    /// The preset's name ([`Method::label`]: the method's name for methods besides LRP).
    pub preset: String,
    /// One heatmap (relevance summed over channels) per image, at the network's resolution,
    /// in the image's frame: where the model's preprocessing covers another part of the image
    /// than the whole of it (torchvision's centre crop, the paper's padded square), the map is
    /// resampled onto the image ([`to_frame`](super::frame::to_frame)) so that models with
    /// different preprocessing compare the same pixels.
    pub maps: Vec<Array2<f32>>,
    /// Most-relevant-first flipping curves, one per image.
    pub morf: Vec<FlipCurve>,
    /// Conservation (input sum / seed) per image.
    pub conservation: Vec<f32>,
    /// [`positive_share`](super::positive_share) of each image's heatmap.
    pub positive_share: Vec<f32>,
}

impl StudyItem {
    /// `model · preset`.
    pub fn label(&self) -> String {
        format!("{} · {}", self.model, self.preset)
    }
}

/// Random-order flipping curves of one model, one per image (each the mean of the runs).
#[derive(Debug, Clone, PartialEq)]
pub struct RandomCurves {
    /// The model's name.
    pub model: String,
    /// One curve per image.
    pub curves: Vec<FlipCurve>,
}

/// The result of [`Study::run`].
#[derive(Debug, Clone, PartialEq)]
pub struct Study {
    /// The settings it ran with.
    pub config: StudyConfig,
    /// Image names, in order.
    pub images: Vec<String>,
    /// One item per model × preset, model-major.
    pub items: Vec<StudyItem>,
    /// The random-order baseline per model.
    pub random: Vec<RandomCurves>,
    /// One matrix per metric of [`Metric::DEFAULT`] over the items.
    pub similarities: Vec<Similarity>,
    /// Spectral clustering per item, or `None` when there are too few images for the
    /// clusters.
    pub clustering: Option<Vec<Spectral>>,
}

/// A row of the AOPC table: one model × preset, means over the images.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AopcRow {
    /// The model's name.
    pub model: String,
    /// The preset's name (the method's for methods besides LRP).
    pub preset: String,
    /// Mean AOPC, most relevant patches first.
    pub aopc_morf: f32,
    /// Mean AOPC of the random orders.
    pub aopc_random: f32,
    /// `aopc_morf − aopc_random`.
    pub aopc_difference: f32,
    /// Mean conservation.
    pub conservation: f32,
    /// Mean positive share of the heatmaps.
    pub positive_share: f32,
    /// Number of images.
    pub images: usize,
    /// AOPC (most relevant first) per image.
    pub per_image: Vec<ImageAopc>,
}

/// AOPC of one image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageAopc {
    /// The image's name.
    pub image: String,
    /// Its AOPC, most relevant patches first.
    pub aopc_morf: f32,
}

/// `similarity.json`: the grid, the number of images and every matrix.
#[derive(Debug, Serialize)]
pub struct SimilarityReport<'a> {
    /// Side of the common grid.
    pub grid: usize,
    /// Number of images averaged over.
    pub images: usize,
    /// One matrix per metric.
    pub matrices: &'a [Similarity],
}

/// Mean of `v`, NaN for none.
fn mean(v: &[f32]) -> f32 {
    if v.is_empty() {
        return f32::NAN;
    }
    v.iter().sum::<f32>() / v.len() as f32
}

impl Study {
    /// Explains every model × preset on `images` (name, face crop) and computes everything
    /// the comparison reports. `progress(label, done)` is called with `done = 0` when work on
    /// a model × preset (or a model's random orders) starts and with `done = 1` after each
    /// image: `models × (presets + 1) × images` steps in all.
    ///
    /// Errors: [`Error::Invalid`] for a target other than predicted or one class, a grid,
    /// patch or step count of 0, a setting beyond its bound ([`MAX_GRID`](super::MAX_GRID),
    /// [`MAX_FLIP_PATCH`](super::MAX_FLIP_PATCH), [`MAX_FLIP_STEPS`](super::MAX_FLIP_STEPS),
    /// [`MAX_RANDOM_RUNS`](super::MAX_RANDOM_RUNS), [`MAX_CLUSTERS`](super::MAX_CLUSTERS) for
    /// clusters and neighbours), no model, preset or image; then those of preprocessing,
    /// explaining and the metrics.
    pub fn run(
        models: &[Model],
        presets: &[Composite],
        images: &[(String, RgbImage)],
        config: &StudyConfig,
        progress: &mut dyn FnMut(&str, u64),
    ) -> Result<Study> {
        let lrp: Vec<Method> = presets
            .iter()
            .map(|c| Method::Lrp(Box::new(c.clone())))
            .collect();
        let methods = vec![lrp; models.len()];
        Study::run_methods(models, &methods, images, config, progress)
    }

    /// [`Study::run`] with attribution methods ([`crate::attribution`]) in place of presets:
    /// `methods[i]` are those of `models[i]` (one list per model, as a baseline tensor or a
    /// batch may depend on the model), the same methods in the same order for every model.
    /// Items are labelled by [`Method::label`] (a preset's name for [`Method::Lrp`]); the
    /// conservation of the other methods is NaN (they propagate no relevance).
    ///
    /// ```no_run
    /// use lrp::attribution::Method;
    /// use lrp::compare::{Study, StudyConfig};
    /// use lrp::composite::Composite;
    /// use lrp::model::Model;
    /// let models = [Model::gender()?];
    /// let methods = vec![vec![
    ///     Method::Lrp(Box::new(Composite::preset("epsilon-plus-flat")?)),
    ///     Method::Gradient,
    /// ]];
    /// let images = lrp::compare::faces::portrait_variants()?;
    /// let study = Study::run_methods(&models, &methods, &images, &StudyConfig::default(), &mut |_, _| {})?;
    /// assert_eq!(study.items[1].preset, "gradient");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// Errors: those of [`Study::run`], and [`Error::Invalid`] when the lists differ in
    /// length or labels from model to model.
    pub fn run_methods(
        models: &[Model],
        methods: &[Vec<Method>],
        images: &[(String, RgbImage)],
        config: &StudyConfig,
        progress: &mut dyn FnMut(&str, u64),
    ) -> Result<Study> {
        let first = methods.first().map_or(0, Vec::len);
        validate(models, first, images, config)?;
        let labels = |ms: &Vec<Method>| ms.iter().map(Method::label).collect::<Vec<_>>();
        if methods.len() != models.len() || methods.iter().any(|m| labels(m) != labels(&methods[0]))
        {
            return Err(Error::Invalid(format!(
                "a comparison needs one list of methods per model ({} models, {} lists), the same methods in every list",
                models.len(),
                methods.len()
            )));
        }
        let crops: Vec<RgbImage> = images.iter().map(|(_, c)| c.clone()).collect();
        let mut items = Vec::new();
        let mut random = Vec::new();
        for (model, ms) in models.iter().zip(methods) {
            let x = preprocess::to_tensor(&crops, &model.preprocess)?;
            let flip = flip_config(model, config)?;
            let mut classes = Vec::new();
            for method in ms {
                let (mut item, cls) = explain_item(model, method, &x, &flip, config, progress)?;
                classes = cls;
                in_image_frame(&mut item, model, &crops)?;
                items.push(item);
            }
            random.push(random_curves(model, &x, &classes, &flip, config, progress)?);
        }
        let labels: Vec<String> = items.iter().map(StudyItem::label).collect();
        let maps: Vec<Vec<Array2<f32>>> = items.iter().map(|i| i.maps.clone()).collect();
        let similarities = Metric::DEFAULT
            .into_iter()
            .map(|m| Similarity::compute(labels.clone(), &maps, m, config.grid))
            .collect::<Result<_>>()?;
        let n = images.len();
        let clustering = if n >= 2 && config.clusters >= 1 && config.clusters <= n {
            let cfg = SpectralConfig {
                clusters: config.clusters,
                neighbors: config.neighbors.max(1),
                grid: config.grid,
                seed: config.seed,
                restarts: 10,
            };
            let all = items.iter().map(|it| spectral_clustering(&it.maps, &cfg));
            Some(all.collect::<Result<_>>()?)
        } else {
            None
        };
        Ok(Study {
            config: config.clone(),
            images: images.iter().map(|(n, _)| n.clone()).collect(),
            items,
            random,
            similarities,
            clustering,
        })
    }

    /// `model · preset` of every item.
    pub fn labels(&self) -> Vec<String> {
        self.items.iter().map(StudyItem::label).collect()
    }

    /// The similarity matrices with the grid and the number of images, for JSON.
    pub fn similarity_report(&self) -> SimilarityReport<'_> {
        SimilarityReport {
            grid: self.config.grid,
            images: self.images.len(),
            matrices: &self.similarities,
        }
    }

    /// Mean similarity of the off-diagonal pairs of matrix `sim`: `(presets within a model,
    /// models with the same preset)`, `None` where there is no such pair.
    pub fn mean_similarity(&self, sim: &Similarity) -> (Option<f32>, Option<f32>) {
        let (mut same_model, mut cross_model) = (Vec::new(), Vec::new());
        let k = sim.labels.len().min(self.items.len());
        for i in 0..k {
            for j in i + 1..k {
                let (a, b) = (&self.items[i], &self.items[j]);
                if a.model == b.model {
                    same_model.push(sim.values[[i, j]]);
                } else if a.preset == b.preset {
                    cross_model.push(sim.values[[i, j]]);
                }
            }
        }
        let m = |v: &[f32]| (!v.is_empty()).then(|| mean(v));
        (m(&same_model), m(&cross_model))
    }

    /// The average heatmaps of every item: the paper's (sum, then normalise) and
    /// normalise-then-average, as one labelled image.
    pub fn average_maps(&self, cmap: &Colormap) -> Result<RgbImage> {
        let raw = self.items.iter().map(|it| average_raw(&it.maps));
        let normed = self.items.iter().map(|it| average_normalized(&it.maps));
        plot::map_grid(
            &self.labels(),
            &[
                (
                    "Σ, then normalised (paper)".to_string(),
                    raw.collect::<Result<_>>()?,
                ),
                (
                    "normalised, then mean".to_string(),
                    normed.collect::<Result<_>>()?,
                ),
            ],
            cmap,
            128,
        )
    }

    /// The AOPC table, one row per item.
    pub fn aopc_rows(&self) -> Vec<AopcRow> {
        let mut rows = Vec::new();
        for rnd in &self.random {
            let aopc_random = mean(&rnd.curves.iter().map(|c| c.aopc()).collect::<Vec<_>>());
            for it in self.items.iter().filter(|it| it.model == rnd.model) {
                let aopc_morf = mean(&it.morf.iter().map(|c| c.aopc()).collect::<Vec<_>>());
                rows.push(AopcRow {
                    model: it.model.clone(),
                    preset: it.preset.clone(),
                    aopc_morf,
                    aopc_random,
                    aopc_difference: aopc_morf - aopc_random,
                    conservation: mean(&it.conservation),
                    positive_share: mean(&it.positive_share),
                    images: self.images.len(),
                    per_image: (it.morf.iter().zip(&self.images))
                        .map(|(c, image)| ImageAopc {
                            image: image.clone(),
                            aopc_morf: c.aopc(),
                        })
                        .collect(),
                });
            }
        }
        rows
    }

    /// Per item: its label, the size of each cluster and the eigengap after the chosen
    /// number of clusters; empty when clustering was skipped.
    pub fn cluster_sizes(&self) -> Vec<(String, Vec<usize>, Option<f32>)> {
        let Some(clustering) = &self.clustering else {
            return Vec::new();
        };
        let k = self.config.clusters;
        (self.items.iter().zip(clustering))
            .map(|(it, s)| {
                let mut sizes = vec![0usize; k];
                for &l in &s.labels {
                    if let Some(n) = sizes.get_mut(l) {
                        *n += 1;
                    }
                }
                (
                    it.label(),
                    sizes,
                    s.eigengaps.get(k.wrapping_sub(1)).copied(),
                )
            })
            .collect()
    }
}

fn validate(
    models: &[Model],
    presets: usize,
    images: &[(String, RgbImage)],
    c: &StudyConfig,
) -> Result<()> {
    if !matches!(c.target, Target::Predicted | Target::Class(_)) {
        return Err(Error::Invalid(
            "a comparison explains one class per image: the predicted one or one class index"
                .into(),
        ));
    }
    if c.grid == 0 || c.flip_patch == 0 || c.flip_steps == 0 {
        return Err(Error::Invalid(format!(
            "grid ({}), flip patch ({}) and flip steps ({}) must be at least 1",
            c.grid, c.flip_patch, c.flip_steps
        )));
    }
    // Bounded before anything is explained, so that a bad setting fails at once rather than
    // after the explanations (or with an allocation the size of the setting).
    let bounds = [
        ("grid", c.grid, super::MAX_GRID),
        ("flip patch", c.flip_patch, super::MAX_FLIP_PATCH),
        ("flip steps", c.flip_steps, super::MAX_FLIP_STEPS),
        ("random runs", c.random_runs.max(1), super::MAX_RANDOM_RUNS),
        ("clusters", c.clusters.max(1), super::MAX_CLUSTERS),
        ("neighbours", c.neighbors.max(1), super::MAX_CLUSTERS),
    ];
    for (what, value, max) in bounds {
        if value > max {
            return Err(Error::Invalid(format!(
                "{what} ({value}) must be at most {max}"
            )));
        }
    }
    if models.is_empty() || presets == 0 || images.is_empty() {
        return Err(Error::Invalid(format!(
            "a comparison needs models, presets and images, got {} models, {} presets and {} images",
            models.len(),
            presets,
            images.len()
        )));
    }
    Ok(())
}

/// The flipping settings for `model`: its own black image for the zero baseline.
fn flip_config(model: &Model, c: &StudyConfig) -> Result<FlipConfig> {
    let size = model.preprocess.size();
    let baseline = match c.flip_baseline {
        FlipBaseline::Mean => Baseline::Mean,
        FlipBaseline::Zero => Baseline::Image(model.preprocess.apply(&RgbImage::new(size, size))?),
        FlipBaseline::Blur => Baseline::Blur {
            radius: c.flip_patch,
        },
    };
    Ok(FlipConfig {
        patch: c.flip_patch,
        steps: c.flip_steps,
        patches_per_step: None,
        baseline,
        batch: 64,
    })
}

/// Brings the maps of `item` (in `model`'s input frame) onto the frames of the images
/// ([`to_frame`](super::frame::to_frame), at the map's own resolution), where the model's
/// preprocessing does not cover exactly the whole image (a centre crop, a padded square), so
/// that models with different preprocessing are compared over the same part of each image.
/// Flipping curves and statistics stay in the input frame, where they were computed.
fn in_image_frame(item: &mut StudyItem, model: &Model, crops: &[RgbImage]) -> Result<()> {
    for (map, crop) in item.maps.iter_mut().zip(crops) {
        let (w, h) = crop.dimensions();
        let region = model.preprocess.input_region(w, h);
        if region != [0.0, 0.0, f64::from(w), f64::from(h)] {
            let (mh, mw) = map.dim();
            *map = super::frame::to_frame(map, region, f64::from(w), f64::from(h), mh, mw)?;
        }
    }
    Ok(())
}

/// Explains `x` with one model × method: maps, statistics and most-relevant-first curves, and
/// the class explained per image.
fn explain_item(
    model: &Model,
    method: &Method,
    x: &Tensor,
    flip: &FlipConfig,
    c: &StudyConfig,
    progress: &mut dyn FnMut(&str, u64),
) -> Result<(StudyItem, Vec<usize>)> {
    let name = method.label();
    let label = format!("{} · {name}", model.name);
    progress(&label, 0);
    let e = Attributor::new(model.graph.clone(), method.clone())?.attribute(x, &c.target)?;
    let lrp = matches!(method, Method::Lrp(_));
    let classes: Vec<usize> = e.targets.iter().map(|t| t[0]).collect();
    let mut item = StudyItem {
        model: model.name.clone(),
        preset: name,
        maps: Vec::new(),
        morf: Vec::new(),
        conservation: Vec::new(),
        positive_share: Vec::new(),
    };
    for (i, &class) in classes.iter().enumerate() {
        let map = heatmap::reduce(e.relevance.slice(s![i, 0, .., .., ..]), Reduce::Sum)?;
        let st = map_stats(&map, lrp.then(|| e.seed_sum(i)))?;
        item.conservation.push(st.conservation.unwrap_or(f32::NAN));
        item.positive_share.push(st.positive_share);
        let order = patch_order(&map, c.flip_patch, &Order::MostRelevantFirst)?;
        let xi = x.slice(s![i, .., .., ..]);
        item.morf
            .push(flip_curve(&model.graph, xi, &order, class, flip)?);
        item.maps.push(map);
        progress(&label, 1);
    }
    Ok((item, classes))
}

/// Random-order curves of `model` on `x` for the given classes, averaged over the runs.
fn random_curves(
    model: &Model,
    x: &Tensor,
    classes: &[usize],
    flip: &FlipConfig,
    c: &StudyConfig,
    progress: &mut dyn FnMut(&str, u64),
) -> Result<RandomCurves> {
    let label = format!("{} · random order", model.name);
    progress(&label, 0);
    let (h, w) = (x.shape()[2], x.shape()[3]);
    let mut curves = Vec::new();
    for (i, &class) in classes.iter().enumerate() {
        let xi = x.slice(s![i, .., .., ..]);
        let mut runs = Vec::new();
        for r in 0..c.random_runs.max(1) {
            let seed = c.seed.wrapping_add((i * 1000 + r) as u64);
            let order = patch_order(
                &Array2::zeros((h, w)),
                c.flip_patch,
                &Order::Random { seed },
            )?;
            runs.push(flip_curve(&model.graph, xi, &order, class, flip)?);
        }
        curves.extend(FlipCurve::mean(&runs));
        progress(&label, 1);
    }
    Ok(RandomCurves {
        model: model.name.clone(),
        curves,
    })
}
