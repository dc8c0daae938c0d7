//! `lrp compare`: runs [`lrp::compare::Study`] over models × presets (and methods, with
//! `--method`) and images, and writes its matrices, maps, curves and clusters to the output
//! folder.

use crate::common::{self, ModelArgs, RuleArgs};
use crate::methods::{MethodArgs, Methods};
use anyhow::{bail, Context, Result};
use clap::Args;
use lrp::compare::{self, FlipBaseline, Study, StudyConfig};
use lrp::explain::Target;
use lrp::heatmap::{self, Colormap};
use lrp::preprocess::{FaceBox, RgbImage};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct CompareArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Image files or folders (PNG, JPEG). Default: 22 variants of the shipped portraits
    /// (shifted, scaled, mirrored, darker and brighter face crops).
    #[arg(long = "image", value_name = "PATH", num_args = 1..)]
    images: Vec<PathBuf>,
    /// Face box in pixels, `left,top,right,bottom`, applied to every --image.
    #[arg(long, value_name = "L,T,R,B", value_parser = common::parse_box)]
    face_box: Option<FaceBox>,
    #[command(flatten)]
    rules: RuleArgs,
    #[command(flatten)]
    methods: MethodArgs,
    /// What to explain and flip: `predicted` or one class index.
    #[arg(long, default_value = "predicted")]
    target: String,
    /// Output folder.
    #[arg(long, default_value = "lrp-out/compare")]
    out: PathBuf,
    /// Side of the common grid heatmaps are area-averaged onto for similarities and
    /// clustering (1 to 512).
    #[arg(long, value_name = "N", default_value_t = 16)]
    grid: usize,
    /// Side of the square patches removed by pixel flipping, in network input pixels (1 to
    /// 4096).
    #[arg(long, value_name = "P", default_value_t = 4)]
    flip_patch: usize,
    /// Pixel-flipping steps; each removes ceil(patches / S) patches, so the last step has
    /// replaced the whole image (1 to 10000).
    #[arg(long, value_name = "S", default_value_t = 32)]
    flip_steps: usize,
    /// What removed patches become: `mean` (0 in the network input), `zero` (black pixels)
    /// or `blur` (box blur with the patch size as radius).
    #[arg(long, value_name = "B", default_value = "mean")]
    flip_baseline: String,
    /// Random orders per image (averaged) for the random-flipping baseline (at most 1000).
    #[arg(long, value_name = "R", default_value_t = 3)]
    random_runs: usize,
    /// Seed of the random orders and of the k-means initialisation.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Number of clusters of the spectral clustering (per model × preset; at most 1000).
    #[arg(long, value_name = "K", default_value_t = 2)]
    clusters: usize,
    /// Neighbours per heatmap in the clustering's affinity graph (at most 1000).
    #[arg(long, value_name = "N", default_value_t = 5)]
    neighbors: usize,
    /// Colour map of the average heatmaps.
    #[arg(long, default_value = "black-firered")]
    colormap: String,
}

/// The study's settings from the options, with the options named in errors.
fn config(a: &CompareArgs) -> Result<StudyConfig> {
    let target = match common::parse_target(&a.target)? {
        t @ (Target::Predicted | Target::Class(_)) => t,
        _ => bail!("--target: compare explains one class per image: `predicted` or one index"),
    };
    if a.grid == 0 || a.flip_patch == 0 || a.flip_steps == 0 {
        bail!("--grid, --flip-patch and --flip-steps must be at least 1");
    }
    // Every size is bounded before anything is explained (the library checks the same).
    let bounds = [
        ("--grid", a.grid, compare::MAX_GRID),
        ("--flip-patch", a.flip_patch, compare::MAX_FLIP_PATCH),
        ("--flip-steps", a.flip_steps, compare::MAX_FLIP_STEPS),
        ("--random-runs", a.random_runs, compare::MAX_RANDOM_RUNS),
        ("--clusters", a.clusters, compare::MAX_CLUSTERS),
        ("--neighbors", a.neighbors, compare::MAX_CLUSTERS),
    ];
    for (option, value, max) in bounds {
        if value > max {
            bail!("{option} {value}: at most {max}");
        }
    }
    let flip_baseline = match a.flip_baseline.as_str() {
        "mean" => FlipBaseline::Mean,
        "zero" | "black" => FlipBaseline::Zero,
        "blur" => FlipBaseline::Blur,
        other => bail!("--flip-baseline `{other}`: expected mean, zero or blur"),
    };
    Ok(StudyConfig {
        target,
        grid: a.grid,
        flip_patch: a.flip_patch,
        flip_steps: a.flip_steps,
        flip_baseline,
        random_runs: a.random_runs,
        seed: a.seed,
        clusters: a.clusters,
        neighbors: a.neighbors,
    })
}

pub fn run(a: CompareArgs) -> Result<()> {
    a.rules.apply_precision()?;
    // The study's default pair: dlib's two models (all four would double its time).
    let models = common::load_models_or(&a.model, &["gender-v1", "age-v1"])?;
    // Every model under every method (a study is a full grid), without --preset under every
    // preset one of the models has as its own.
    let methods = Methods::parse(&a.rules, &a.methods, &models, "lrp")?;
    let cfg = config(&a)?;
    let cmap = Colormap::from_name(&a.colormap)?;
    let images = common::study_images(&a.images, a.face_box)?;
    // The study explains all images of a model at once: they must fit the memory budget.
    if let Some(budget) = a.model.memory_budget() {
        for m in &models {
            let most = common::max_batch(m, Some(&budget));
            if images.len() > most {
                let est = lrp::memory::Estimate::of_graph(&m.graph);
                let needed = est.for_batch(images.len(), 1).saturating_add(est.weights);
                bail!(
                    "{}: comparing {} images at once needs about {}, more than the memory limit \
                     of {} ({}); at most {most} images fit: compare fewer images or raise \
                     --max-memory",
                    m.name,
                    images.len(),
                    lrp::memory::format_bytes(needed),
                    lrp::memory::format_bytes(budget.bytes),
                    budget.origin
                );
            }
        }
    }
    let budget = a.model.memory_budget();
    let per_model = methods.checked_per_model(&models, budget.as_ref(), false)?;
    let labels = methods.labels();
    lrp::dataset::distinct_names(methods.word(), &labels)?;
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;

    // One progress step per image and (model × method or random order).
    let steps = models.len() * (labels.len() + 1) * images.len();
    let bar = common::styled_bar(steps as u64, "comparing", " {msg}");
    let study = Study::run_methods(&models, &per_model, &images, &cfg, &mut |label, done| {
        if done == 0 {
            bar.set_message(label.to_string());
        }
        bar.inc(done);
    })?;
    bar.finish_and_clear();
    let written = write_files(&study, &a.out, &cmap)?;
    print_summary(&study, models.len(), labels.len(), methods.word());
    outln!("wrote {} files to {}", written.len(), a.out.display());
    Ok(())
}

/// The output folder and the files written to it.
struct Out<'a> {
    dir: &'a Path,
    written: Vec<PathBuf>,
}

impl Out<'_> {
    fn text(&mut self, file: &str, text: &str) -> Result<()> {
        let path = self.dir.join(file);
        compare::write_text(&path, text)?;
        self.written.push(path);
        Ok(())
    }

    fn json<T: serde::Serialize + ?Sized>(&mut self, file: &str, value: &T) -> Result<()> {
        let path = self.dir.join(file);
        compare::write_json(&path, value)?;
        self.written.push(path);
        Ok(())
    }

    fn png(&mut self, file: &str, image: &RgbImage) -> Result<()> {
        let path = self.dir.join(file);
        heatmap::save_png(image, &path)?;
        self.written.push(path);
        Ok(())
    }
}

/// Writes every file of the comparison to `dir` and returns their paths.
fn write_files(study: &Study, dir: &Path, cmap: &Colormap) -> Result<Vec<PathBuf>> {
    let mut out = Out {
        dir,
        written: Vec::new(),
    };
    let bwr = Colormap::from_name("bwr")?;
    for sim in &study.similarities {
        let name = sim.metric.name();
        out.text(&format!("similarity_{name}.csv"), &sim.to_csv())?;
        out.png(&format!("similarity_{name}.png"), &sim.render(&bwr)?)?;
    }
    out.json("similarity.json", &study.similarity_report())?;
    out.png("average_maps.png", &study.average_maps(cmap)?)?;
    for rnd in &study.random {
        let plot = study.flipping_plot(&rnd.model)?;
        out.png(&format!("flipping_{}.png", rnd.model), &plot)?;
    }
    out.text("aopc.csv", &study.aopc_csv()?)?;
    out.json("aopc.json", &study.aopc_rows())?;
    out.text("flipping_curves.csv", &study.flipping_curves_csv()?)?;
    match (study.clusters_csv(), study.eigengap_plot()) {
        (Some(csv), Some(plot)) => {
            out.text("clusters.csv", &csv?)?;
            out.png("eigengap.png", &plot?)?;
        }
        _ => errln!(
            "lrp: warning: clustering skipped: {} images for {} clusters",
            study.images.len(),
            study.config.clusters
        ),
    }
    Ok(out.written)
}

fn print_summary(study: &Study, models: usize, presets: usize, word: &str) {
    let c = &study.config;
    outln!(
        "Compared {models} model(s) × {presets} {word}(s) on {} images (grid {}×{}, {}×{} flipping patches, {} steps, {} baseline).",
        study.images.len(),
        c.grid,
        c.grid,
        c.flip_patch,
        c.flip_patch,
        c.flip_steps,
        c.flip_baseline.name()
    );
    let rows = study.aopc_rows();
    let labels: Vec<String> = rows
        .iter()
        .map(|r| format!("{} · {}", r.model, r.preset))
        .collect();
    let w = labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(10)
        .max(10);
    outln!(
        "{:<w$}  {:>10}  {:>11}  {:>12}",
        format!("model · {word}"),
        "AOPC MoRF",
        "AOPC random",
        "conservation"
    );
    for (l, r) in labels.iter().zip(&rows) {
        // Methods besides LRP conserve nothing: a dash.
        let conservation = if r.conservation.is_nan() {
            "–".to_string()
        } else {
            format!("{:.3}", r.conservation)
        };
        outln!(
            "{l:<w$}  {:>10.3}  {:>11.3}  {conservation:>12}",
            r.aopc_morf,
            r.aopc_random,
        );
    }
    outln!("mean similarity (averaged over images; off-diagonal pairs):");
    let fmt = |v: Option<f32>| v.map_or("     –".to_string(), |m| format!("{m:>6.3}"));
    for sim in &study.similarities {
        let (same_model, cross_model) = study.mean_similarity(sim);
        outln!(
            "  {:<10} {word}s within a model {}   models with the same {word} {}",
            sim.metric.name(),
            fmt(same_model),
            fmt(cross_model)
        );
    }
    for (l, sizes, gap) in study.cluster_sizes() {
        outln!(
            "  clusters of {l}: sizes {sizes:?}, eigengap after {} eigenvalue(s) {}",
            c.clusters,
            gap.map_or("–".into(), |g| format!("{g:.3}"))
        );
    }
}
