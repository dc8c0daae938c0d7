//! `lrp evaluate`: scores the explanations of models × methods (LRP presets and the baseline
//! methods) on images by the quality metrics of [`lrp::evaluate`], and writes the table of
//! means with each method's rank among its model's methods as CSV, JSON and a plot.

use crate::common::{self, ModelArgs, RuleArgs};
use crate::methods::{MethodArgs, Methods};
use anyhow::{bail, Context, Result};
use clap::Args;
use lrp::evaluate::{EvalImage, Evaluation, EvaluationConfig, Fill, Metric, PixelFlipping};
use lrp::explain::Target;
use lrp::heatmap::{self, Colormap};
use lrp::preprocess::{self, FaceBox};
use ndarray::Array2;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct EvaluateArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Image files or folders (PNG, JPEG). Default: 22 variants of the shipped portraits
    /// (shifted, scaled, mirrored, darker and brighter face crops), as `lrp compare`.
    #[arg(long = "image", value_name = "PATH", num_args = 1..)]
    images: Vec<PathBuf>,
    /// Face box in pixels, `left,top,right,bottom`, cut from every --image (and --mask).
    #[arg(long, value_name = "L,T,R,B", value_parser = common::parse_box)]
    face_box: Option<FaceBox>,
    /// Masks of the object, for relevance-mass, relevance-rank and pointing-game: PNG or
    /// JPEG files or folders, one per image, named like it (`photo.png`, `photo_mask.png` or
    /// `photo-mask.png` for `photo.jpg`), of the image's size; light pixels (grey > 127) are
    /// inside. Images without a mask get no value for those metrics.
    #[arg(long = "mask", value_name = "PATH", num_args = 1..)]
    masks: Vec<PathBuf>,
    #[command(flatten)]
    rules: RuleArgs,
    #[command(flatten)]
    methods: MethodArgs,
    /// Metrics, comma-separated: sparseness, complexity, pixel-flipping (three columns: the
    /// areas under the most- and least-relevant-first curves and SRG, the area between them),
    /// faithfulness-correlation, random-logit, mprt, and with --mask relevance-mass,
    /// relevance-rank, pointing-game; `all` for every one. Default: all but mprt (which
    /// explains every image once more per layer with parameters; name it to add it), the
    /// mask metrics only with --mask.
    #[arg(long = "metric", value_name = "NAME[,NAME…]")]
    metrics: Option<String>,
    /// What to explain and score: `predicted` or one class index.
    #[arg(long, default_value = "predicted")]
    target: String,
    /// Pixel-flipping steps; each sets ceil(C·H·W / S) input values to --fill (1 to 10000).
    #[arg(long, value_name = "S", default_value_t = 32)]
    flip_steps: usize,
    /// What removed input values become (pixel flipping and faithfulness correlation):
    /// `black` (the input's smallest value, Quantus's default), `white` (its largest) or a
    /// number in network-input units (`0`: the training mean for mean-subtracted inputs).
    #[arg(long, value_name = "black|white|V", default_value = "black")]
    fill: String,
    /// Faithfulness correlation: input values per random subset (Quantus's default).
    #[arg(long, value_name = "N", default_value_t = 224)]
    subset_size: usize,
    /// Faithfulness correlation: random subsets per image (2 to 100000).
    #[arg(long, value_name = "N", default_value_t = 100)]
    runs: usize,
    /// Seed of the random subsets, of random logit's other class and of MPRT's weights.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder.
    #[arg(long, default_value = "lrp-out/evaluate")]
    out: PathBuf,
    /// Colour map of the plot's cells (1: the best method of a model, −1: the worst).
    #[arg(long, default_value = "rd-yl-gn")]
    colormap: String,
}

/// The evaluation's settings from the options, with the options named in errors.
fn config(a: &EvaluateArgs) -> Result<EvaluationConfig> {
    let target = match common::parse_target(&a.target)? {
        t @ (Target::Predicted | Target::Class(_)) => t,
        _ => bail!("--target: evaluate scores one class per image: `predicted` or one index"),
    };
    let with_mask = |m: &Metric| !m.needs_mask() || !a.masks.is_empty();
    let mut metrics: Vec<Metric> = Vec::new();
    match a.metrics.as_deref().map(str::trim) {
        None => metrics.extend(
            Metric::ALL
                .into_iter()
                .filter(|m| with_mask(m) && *m != Metric::Mprt),
        ),
        Some("all") => metrics.extend(Metric::ALL.into_iter().filter(with_mask)),
        Some(list) => {
            for n in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let m = Metric::from_name(n).context("--metric")?;
                if metrics.contains(&m) {
                    bail!("--metric `{list}`: {} is given twice", m.name());
                }
                metrics.push(m);
            }
        }
    }
    if metrics.is_empty() {
        bail!("--metric names no metric");
    }
    if let Some(m) = metrics.iter().find(|m| m.needs_mask()) {
        if a.masks.is_empty() {
            bail!(
                "--metric {}: scores against a mask of the object; give masks with --mask",
                m.name()
            );
        }
    }
    if !(1..=lrp::compare::MAX_FLIP_STEPS).contains(&a.flip_steps) {
        bail!(
            "--flip-steps {}: expected 1 to {}",
            a.flip_steps,
            lrp::compare::MAX_FLIP_STEPS
        );
    }
    if a.subset_size == 0 || !(2..=lrp::evaluate::MAX_RUNS).contains(&a.runs) {
        bail!(
            "--subset-size {} and --runs {}: expected at least 1 and 2 to {}",
            a.subset_size,
            a.runs,
            lrp::evaluate::MAX_RUNS
        );
    }
    let fill = match a.fill.trim() {
        "black" => Fill::Black,
        "white" => Fill::White,
        v => match v.parse::<f32>() {
            Ok(x) if x.is_finite() => Fill::Value(x),
            _ => bail!("--fill `{v}`: expected black, white or a finite number"),
        },
    };
    let mut cfg = EvaluationConfig {
        metrics,
        target,
        flip_steps: a.flip_steps,
        subset_size: a.subset_size,
        runs: a.runs,
        seed: a.seed,
        ..EvaluationConfig::default()
    };
    cfg.flip = PixelFlipping {
        fill,
        ..PixelFlipping::default()
    };
    cfg.faithfulness.fill = fill;
    Ok(cfg)
}

/// Mask files by the image stem they belong to (`photo`, from `photo.png`, `photo_mask.png`
/// or `photo-mask.png`).
fn mask_files(paths: &[PathBuf]) -> Result<HashMap<String, PathBuf>> {
    let mut out = HashMap::new();
    for f in preprocess::image_files(paths)? {
        let stem = f.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        let key = stem
            .strip_suffix("_mask")
            .or_else(|| stem.strip_suffix("-mask"))
            .unwrap_or(stem)
            .to_string();
        if let Some(other) = out.insert(key.clone(), f.clone()) {
            bail!(
                "--mask: {} and {} are both masks of `{key}`",
                other.display(),
                f.display()
            );
        }
    }
    if out.is_empty() {
        bail!("--mask: no PNG or JPEG files found in the given paths");
    }
    Ok(out)
}

/// The mask in `path`, cut by `face_box` like its image: light pixels are inside.
fn load_mask(path: &Path, face_box: Option<FaceBox>) -> Result<Array2<bool>> {
    let img = preprocess::load_face(path, face_box)?;
    let (w, h) = img.dimensions();
    Ok(Array2::from_shape_fn((h as usize, w as usize), |(y, x)| {
        let p = img.get_pixel(x as u32, y as u32).0;
        (u32::from(p[0]) * 299 + u32::from(p[1]) * 587 + u32::from(p[2]) * 114) / 1000 > 127
    }))
}

/// The images (and masks) to score.
fn images(a: &EvaluateArgs) -> Result<Vec<EvalImage>> {
    if a.images.is_empty() && (a.face_box.is_some() || !a.masks.is_empty()) {
        bail!("--face-box and --mask go with --image");
    }
    let faces = common::study_images(&a.images, a.face_box)?;
    let mut masks = if a.masks.is_empty() {
        HashMap::new()
    } else {
        mask_files(&a.masks)?
    };
    let out: Vec<EvalImage> = faces
        .into_iter()
        .map(|(name, image)| {
            let mask = match masks.remove(&name) {
                Some(path) => {
                    let m = load_mask(&path, a.face_box)?;
                    let (w, h) = image.dimensions();
                    if m.dim() != (h as usize, w as usize) {
                        bail!(
                            "--mask {}: {}×{} pixels, its image {name} {w}×{h}",
                            path.display(),
                            m.ncols(),
                            m.nrows()
                        );
                    }
                    Some(m)
                }
                None => None,
            };
            Ok(EvalImage { name, image, mask })
        })
        .collect::<Result<_>>()?;
    if !a.masks.is_empty() {
        let with = out.iter().filter(|i| i.mask.is_some()).count();
        if with == 0 {
            bail!("--mask: no mask is named like an image (`photo.png` or `photo_mask.png` for photo.jpg)");
        }
        if with < out.len() {
            errln!(
                "lrp: warning: {} of {} images have no mask: no relevance-mass, relevance-rank or pointing-game for them",
                out.len() - with,
                out.len()
            );
        }
        let mut unused: Vec<&String> = masks.keys().collect();
        unused.sort();
        if let Some(first) = unused.first() {
            errln!(
                "lrp: warning: {} mask(s) match no image, e.g. `{first}`",
                unused.len()
            );
        }
    }
    Ok(out)
}

/// `evaluate.json`: the settings, the columns, the summary and every score.
#[derive(serde::Serialize)]
struct Report<'a> {
    settings: Settings<'a>,
    columns: &'a [lrp::evaluate::Column],
    mean_rank: Vec<MeanRank>,
    summary: Vec<lrp::evaluate::SummaryRow>,
    scores: &'a [lrp::evaluate::ImageScores],
}

#[derive(serde::Serialize)]
struct Settings<'a> {
    target: &'a str,
    flip_steps: usize,
    fill: &'a str,
    subset_size: usize,
    runs: usize,
    seed: u64,
    images: usize,
}

#[derive(serde::Serialize)]
struct MeanRank {
    model: String,
    method: String,
    mean_rank: f32,
}

pub fn run(a: EvaluateArgs) -> Result<()> {
    a.rules.apply_precision()?;
    // The default pair, as compare's: dlib's two models (face-api's networks are 10× slower
    // to score with every baseline and MPRT).
    let models = common::load_models_or(&a.model, &["gender-v1", "age-v1"])?;
    let methods = Methods::parse(&a.rules, &a.methods, &models, "all")?;
    let mut cfg = config(&a)?;
    let budget = a.model.memory_budget();
    if let Some(b) = &budget {
        // Under a memory limit one image at a time, its perturbed copies in batches that fit.
        let most = models.iter().map(|m| common::max_batch(m, Some(b))).min();
        let batch = most.unwrap_or(1).clamp(1, 32);
        cfg.images_at_once = Some(1);
        cfg.flip.batch = batch;
        cfg.faithfulness.batch = batch;
    }
    let cmap = Colormap::from_name(&a.colormap)?;
    let images = images(&a)?;
    let per_model = methods.checked_per_model(&models, budget.as_ref(), true)?;
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let steps: usize = per_model.iter().map(Vec::len).sum::<usize>() * images.len();
    let bar = common::styled_bar(steps as u64, "evaluating", " {msg}");
    let table = Evaluation::run(&models, &per_model, &images, &cfg, &mut |label, done| {
        if done == 0 {
            bar.set_message(label.to_string());
        }
        bar.inc(done);
    })?;
    bar.finish_and_clear();
    for (model, method) in table.pairs() {
        let zero = table
            .scores
            .iter()
            .filter(|s| s.all_zero && s.model == model && s.method == method)
            .count();
        if zero > 0 {
            errln!(
                "lrp: warning: {model} · {method}: {zero} of {} explanations are zero everywhere; they are not scored",
                images.len()
            );
        }
    }

    let mut written = Vec::new();
    let mut text = |file: &str, body: &str| -> Result<()> {
        let path = a.out.join(file);
        lrp::compare::write_text(&path, body)?;
        written.push(path);
        Ok(())
    };
    text("scores.csv", &table.scores_csv()?)?;
    text("summary.csv", &table.summary_csv()?)?;
    let report = Report {
        settings: Settings {
            target: &a.target,
            flip_steps: a.flip_steps,
            fill: a.fill.trim(),
            subset_size: a.subset_size,
            runs: a.runs,
            seed: a.seed,
            images: images.len(),
        },
        columns: &table.columns,
        mean_rank: table
            .mean_ranks()
            .into_iter()
            .map(|(model, method, mean_rank)| MeanRank {
                model,
                method,
                mean_rank,
            })
            .collect(),
        summary: table.summary(),
        scores: &table.scores,
    };
    let path = a.out.join("evaluate.json");
    lrp::compare::write_json(&path, &report)?;
    written.push(path);
    let path = a.out.join("evaluate.png");
    heatmap::save_png(&table.plot(&cmap)?, &path)?;
    written.push(path);
    print_table(&table, images.len());
    outln!("wrote {} files to {}", written.len(), a.out.display());
    Ok(())
}

/// A short name for a column of the printed table.
fn short(name: &str) -> &str {
    match name {
        "sparseness" => "sparse",
        "complexity" => "complex",
        "pixel-flipping-morf" => "MoRF",
        "pixel-flipping-lerf" => "LeRF",
        "srg" => "SRG",
        "faithfulness-correlation" => "faithful",
        "random-logit" => "rnd-logit",
        "mprt" => "MPRT",
        "relevance-mass" => "mass",
        "relevance-rank" => "rank-acc",
        "pointing-game" => "pointing",
        other => other,
    }
}

fn print_table(table: &Evaluation, images: usize) {
    let pairs = table.pairs();
    let summary = table.summary();
    let ranks = table.mean_ranks();
    let labels: Vec<String> = pairs.iter().map(|(m, x)| format!("{m} · {x}")).collect();
    let w = labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(10)
        .max(14);
    outln!(
        "Mean over {images} image(s) per model · method; ↑ higher is better, ↓ lower; (k) the rank among the model's methods."
    );
    let mut head = format!("{:<w$}", "model · method");
    for c in &table.columns {
        let arrow = if c.higher_is_better { "↑" } else { "↓" };
        head.push_str(&format!("  {:>13}", format!("{}{arrow}", short(c.name))));
    }
    head.push_str(&format!("  {:>9}", "mean rank"));
    outln!("{head}");
    for (i, ((model, method), label)) in pairs.iter().zip(&labels).enumerate() {
        let mut line = format!("{label:<w$}");
        for c in &table.columns {
            let cell = summary
                .iter()
                .find(|s| &s.model == model && &s.method == method && s.metric == c.name)
                .filter(|s| !s.mean.is_nan())
                .map_or("–".to_string(), |s| {
                    format!("{:.3} ({})", s.mean, s.rank.unwrap_or(0))
                });
            line.push_str(&format!("  {cell:>13}"));
        }
        let mr = ranks[i].2;
        line.push_str(&format!(
            "  {:>9}",
            if mr.is_nan() {
                "–".to_string()
            } else {
                format!("{mr:.2}")
            }
        ));
        outln!("{line}");
    }
}
