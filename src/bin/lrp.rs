//! The `lrp` command line: LRP heatmaps of convolutional networks.
//!
//! `lrp explain` with no arguments explains the two shipped face models on the two shipped
//! portraits and writes heatmaps and a labelled figure to `./lrp-out/`. Every error is one
//! line on stderr and a non-zero exit status.

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use lrp::compare;
use lrp::composite::{Composite, Selector};
use lrp::explain::{Explainer, Explanation, Target};
use lrp::heatmap::{self, Cell, Colormap, Figure, Normalize, Reduce, Row, Upsample};
use lrp::model::Model;
use lrp::preprocess::{self, FaceBox, RgbImage};
use lrp::rules::RuleSpec;
use lrp::Tensor;
use ndarray::{Axis, IxDyn};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "lrp",
    version,
    about = "Layer-wise Relevance Propagation heatmaps for convolutional networks",
    long_about = "Explain what convolutional networks look at with Layer-wise Relevance \
                  Propagation. Loads ONNX models and the Caffe models of the ICCV 2017 age and \
                  gender paper (deploy.prototxt, .caffemodel, mean.binaryproto). `lrp explain` \
                  without arguments runs the shipped face models on the shipped portraits."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Explain predictions: heatmap PNGs, optionally raw relevance (.npy) and a JSON summary.
    Explain(ExplainArgs),
    /// Pre-softmax logits of a model.
    Forward(ForwardArgs),
    /// A labelled figure: rows = images, columns = models × presets.
    Figure(FigureArgs),
    /// Layers, shapes, parameter counts and the rule each layer gets under a preset.
    Info(InfoArgs),
    /// Compare heatmaps of models × presets over many images: similarity matrices, average
    /// maps, pixel-flipping curves and AOPC, spectral clustering.
    Compare(CompareArgs),
}

#[derive(Args, Clone)]
struct ModelArgs {
    /// Model file: .onnx or a Caffe deploy .prototxt. Default: the shipped gender and age
    /// models. Repeat for several models.
    #[arg(long = "model", value_name = "FILE")]
    models: Vec<PathBuf>,
    /// Caffe weights (.caffemodel) for a .prototxt model.
    #[arg(long, value_name = "W.caffemodel")]
    weights: Option<PathBuf>,
    /// Caffe mean image (mean.binaryproto) for a .prototxt model.
    #[arg(long, value_name = "M.binaryproto")]
    mean: Option<PathBuf>,
    /// Class names, one per line.
    #[arg(long, value_name = "FILE")]
    labels: Option<PathBuf>,
}

#[derive(Args, Clone)]
struct InputArgs {
    /// Image files or folders (PNG, JPEG). Default: the shipped portraits.
    #[arg(long = "image", value_name = "PATH", num_args = 1.., conflicts_with = "input_npy")]
    images: Vec<PathBuf>,
    /// An already preprocessed N×C×H×W float32 tensor (.npy).
    #[arg(long, value_name = "X.npy")]
    input_npy: Option<PathBuf>,
    /// Face box in pixels, `left,top,right,bottom`, applied to every image (default: the
    /// whole image; the shipped portraits have their own boxes).
    #[arg(long, value_name = "L,T,R,B", value_parser = parse_box)]
    face_box: Option<FaceBox>,
}

#[derive(Args, Clone)]
struct RuleArgs {
    /// Preset(s), comma-separated: epsilon, alpha2-beta1, epsilon-plus, epsilon-plus-flat,
    /// epsilon-alpha2-beta1, epsilon-alpha2-beta1-flat, epsilon-gamma-box, paper.
    #[arg(
        long,
        value_name = "NAME[,NAME]",
        default_value = "epsilon-plus-flat,paper"
    )]
    preset: String,
    /// Number of lowest layers that get the first-layer rule (the paper's flat layers).
    #[arg(long, value_name = "N")]
    flat: Option<usize>,
    /// ε of every ε-rule.
    #[arg(long, value_name = "E")]
    epsilon: Option<f32>,
    /// Stabiliser of every rule's denominators.
    #[arg(long, value_name = "S")]
    stabilizer: Option<f32>,
    /// Per-layer override `LAYER=RULE`: LAYER is a name, `#N` (N-th linear layer) or
    /// `conv`/`dense`; RULE e.g. `epsilon:0.25`, `zplus`, `alphabeta:2,1@paper`, `flat`.
    #[arg(long = "rule", value_name = "LAYER=RULE")]
    rules: Vec<String>,
}

#[derive(Args)]
struct ExplainArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    rules: RuleArgs,
    /// What to explain: `predicted`, `all`, or class indices `I[,J…]`.
    #[arg(long, default_value = "predicted")]
    target: String,
    /// Output folder.
    #[arg(long, default_value = "lrp-out")]
    out: PathBuf,
    /// Also write the raw input relevance as .npy (N×C×H×W, or N×K×C×H×W for several targets).
    #[arg(long)]
    npy: bool,
    /// Also write a JSON summary (prediction, probabilities, relevance sums, conservation).
    #[arg(long)]
    json: bool,
    /// Colour map (black-firered is the paper's; see `lrp info --colormaps`).
    #[arg(long, default_value = "black-firered")]
    colormap: String,
    /// Also write the heatmap blended onto the face.
    #[arg(long)]
    overlay: bool,
    /// Upsample heatmaps bilinearly instead of the paper's blocky nearest-neighbour look.
    #[arg(long)]
    bilinear: bool,
}

#[derive(Args)]
struct ForwardArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    input: InputArgs,
    /// Write the logits to this .npy file (N×K float32).
    #[arg(long, value_name = "OUT.npy")]
    npy: Option<PathBuf>,
}

#[derive(Args)]
struct FigureArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    rules: RuleArgs,
    /// Output PNG.
    #[arg(long, default_value = "lrp-out/figure.png")]
    out: PathBuf,
    /// Colour map.
    #[arg(long, default_value = "black-firered")]
    colormap: String,
    /// Blend heatmaps onto the faces.
    #[arg(long)]
    overlay: bool,
}

#[derive(Args)]
struct CompareArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Image files or folders (PNG, JPEG). Default: 22 variants of the shipped portraits
    /// (shifted, scaled, mirrored, darker and brighter face crops).
    #[arg(long = "image", value_name = "PATH", num_args = 1..)]
    images: Vec<PathBuf>,
    /// Face box in pixels, `left,top,right,bottom`, applied to every --image.
    #[arg(long, value_name = "L,T,R,B", value_parser = parse_box)]
    face_box: Option<FaceBox>,
    #[command(flatten)]
    rules: RuleArgs,
    /// What to explain and flip: `predicted` or one class index.
    #[arg(long, default_value = "predicted")]
    target: String,
    /// Output folder.
    #[arg(long, default_value = "lrp-out/compare")]
    out: PathBuf,
    /// Side of the common grid heatmaps are area-averaged onto for similarities and
    /// clustering.
    #[arg(long, value_name = "N", default_value_t = 16)]
    grid: usize,
    /// Side of the square patches removed by pixel flipping, in network input pixels.
    #[arg(long, value_name = "P", default_value_t = 4)]
    flip_patch: usize,
    /// Pixel-flipping steps; each removes ceil(patches / S) patches, so the last step has
    /// replaced the whole image.
    #[arg(long, value_name = "S", default_value_t = 32)]
    flip_steps: usize,
    /// What removed patches become: `mean` (0 in the network input), `zero` (black pixels)
    /// or `blur` (box blur with the patch size as radius).
    #[arg(long, value_name = "B", default_value = "mean")]
    flip_baseline: String,
    /// Random orders per image (averaged) for the random-flipping baseline.
    #[arg(long, value_name = "R", default_value_t = 3)]
    random_runs: usize,
    /// Seed of the random orders and of the k-means initialisation.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Number of clusters of the spectral clustering (per model × preset).
    #[arg(long, value_name = "K", default_value_t = 2)]
    clusters: usize,
    /// Neighbours per heatmap in the clustering's affinity graph.
    #[arg(long, value_name = "N", default_value_t = 5)]
    neighbors: usize,
    /// Colour map of the average heatmaps.
    #[arg(long, default_value = "black-firered")]
    colormap: String,
}

#[derive(Args)]
struct InfoArgs {
    /// Model file (.onnx or .prototxt); default: the shipped models.
    file: Option<PathBuf>,
    /// Caffe weights.
    #[arg(long, value_name = "W")]
    weights: Option<PathBuf>,
    /// Show the rule each layer gets under this preset.
    #[arg(long, default_value = "epsilon-plus-flat")]
    preset: String,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
    /// List the colour maps and presets and exit.
    #[arg(long)]
    colormaps: bool,
}

fn parse_box(s: &str) -> std::result::Result<FaceBox, String> {
    let v: Vec<i64> = s
        .split(',')
        .map(|p| {
            p.trim()
                .parse::<i64>()
                .map_err(|_| format!("`{p}` is not an integer"))
        })
        .collect::<std::result::Result<_, _>>()?;
    match v.as_slice() {
        [l, t, r, b] => Ok(FaceBox::new(*l, *t, *r, *b)),
        _ => Err(format!("expected left,top,right,bottom, got `{s}`")),
    }
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Explain(a) => explain(a),
        Command::Forward(a) => forward(a),
        Command::Figure(a) => figure(a),
        Command::Info(a) => info(a),
        Command::Compare(a) => compare(a),
    };
    if let Err(e) = result {
        // One line: the error and its causes, each only if it adds something (lrp's own
        // errors already include the I/O error they wrap).
        let mut msg = e.to_string();
        for cause in e.chain().skip(1) {
            let c = cause.to_string();
            if !msg.contains(&c) {
                msg.push_str(": ");
                msg.push_str(&c);
            }
        }
        // Whatever a dependency's message holds, the answer stays one line.
        eprintln!("lrp: error: {}", lrp::error::one_line(&msg));
        std::process::exit(1);
    }
}

/// `err` with `file` in front, unless its message already names one of `files` (the files
/// the failed step read). Errors about a node, an attribute or a weight name the node but not
/// the model file it came from; on the command line the file is what the user knows.
fn naming_file(err: lrp::Error, file: &Path, files: &[Option<&Path>]) -> anyhow::Error {
    let msg = err.to_string();
    let named = files
        .iter()
        .flatten()
        .any(|f| msg.contains(&f.display().to_string()));
    if named {
        err.into()
    } else {
        anyhow::Error::new(err).context(file.display().to_string())
    }
}

/// A face to explain: its name (for file names and labels) and the crop.
struct Face {
    name: String,
    crop: RgbImage,
}

fn load_models(a: &ModelArgs) -> Result<Vec<Model>> {
    if a.models.is_empty() {
        if a.weights.is_some() || a.mean.is_some() {
            bail!("--weights and --mean need a --model");
        }
        return Ok(vec![Model::gender()?, Model::age()?]);
    }
    if a.models.len() > 1 && (a.weights.is_some() || a.mean.is_some() || a.labels.is_some()) {
        bail!("--weights, --mean and --labels apply to a single --model");
    }
    a.models
        .iter()
        .map(|m| {
            let files = [
                Some(m.as_path()),
                a.weights.as_deref(),
                a.mean.as_deref(),
                a.labels.as_deref(),
            ];
            let model = Model::load(
                m,
                a.weights.as_deref(),
                a.mean.as_deref(),
                a.labels.as_deref(),
            )
            .map_err(|e| naming_file(e, m, &files))?;
            for w in &model.warnings {
                eprintln!("lrp: warning: {}: {w}", m.display());
            }
            Ok(model)
        })
        .collect()
}

fn load_faces(a: &InputArgs) -> Result<Vec<Face>> {
    if a.images.is_empty() {
        let (ast, gh) = (lrp::assets::ASTRONAUT_PNG, lrp::assets::GRACE_HOPPER_JPG);
        return match a.face_box {
            // A face box given for the shipped portraits replaces their own.
            Some(fb) => [("astronaut", ast), ("grace_hopper", gh)]
                .into_iter()
                .map(|(name, bytes)| {
                    Ok(Face {
                        name: name.to_string(),
                        crop: preprocess::crop(&preprocess::decode_rgb(bytes, name)?, fb)?,
                    })
                })
                .collect(),
            None => Ok(lrp::assets::portrait_faces()?
                .into_iter()
                .map(|(name, crop)| Face {
                    name: name.to_string(),
                    crop,
                })
                .collect()),
        };
    }
    let files = preprocess::image_files(&a.images)?;
    if files.is_empty() {
        bail!("no PNG or JPEG images found in the given paths");
    }
    let bar = progress(files.len() as u64, "loading");
    let faces = files
        .iter()
        .map(|f| {
            bar.inc(1);
            Ok(Face {
                name: f
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("image")
                    .to_string(),
                crop: preprocess::load_face(f, a.face_box)?,
            })
        })
        .collect::<Result<Vec<_>>>();
    bar.finish_and_clear();
    faces
}

fn progress(n: u64, what: &str) -> ProgressBar {
    if n < 8 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(n);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>10} [{bar:40}] {pos}/{len} {elapsed_precise}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(what.to_string());
    bar
}

fn read_npy(path: &Path) -> Result<Tensor> {
    let x: ndarray::ArrayD<f32> = ndarray_npy::read_npy(path)
        .map_err(|e| anyhow!("{}: cannot read a float32 .npy array: {e}", path.display()))?;
    Ok(x)
}

fn composites(r: &RuleArgs) -> Result<Vec<Composite>> {
    let mut out = Vec::new();
    for name in r.preset.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let mut c = Composite::preset(name)?;
        if let Some(n) = r.flat {
            c = c.with_flat_layers(n);
        }
        if let Some(e) = r.epsilon {
            c = c.with_epsilon(e);
        }
        if let Some(s) = r.stabilizer {
            c = c.with_stabilizer(s);
        }
        for spec in &r.rules {
            let (layer, rule) = spec
                .split_once('=')
                .ok_or_else(|| anyhow!("--rule `{spec}`: expected LAYER=RULE"))?;
            let sel: Selector = layer.parse()?;
            let rule: RuleSpec = rule.parse()?;
            c = c.with_override(sel, rule);
        }
        out.push(c);
    }
    if out.is_empty() {
        bail!("--preset names no preset");
    }
    Ok(out)
}

fn parse_target(s: &str) -> Result<Target> {
    Ok(match s.trim() {
        "predicted" | "pred" => Target::Predicted,
        "all" => Target::All,
        list => {
            let cs: Vec<usize> = list
                .split(',')
                .map(|c| {
                    c.trim().parse::<usize>().map_err(|_| {
                        anyhow!("--target `{s}`: expected predicted, all or class indices")
                    })
                })
                .collect::<Result<_>>()?;
            match cs.as_slice() {
                [c] => Target::Class(*c),
                _ => Target::Classes(cs),
            }
        }
    })
}

/// Softmax of one row of logits.
fn softmax(row: ndarray::ArrayView1<f32>) -> Vec<f32> {
    let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let e: Vec<f32> = row.iter().map(|v| (v - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// The network input for `faces` (or the given tensor) and model.
fn model_input(model: &Model, faces: &[Face], npy: Option<&Tensor>) -> Result<Tensor> {
    match npy {
        Some(x) => Ok(x.clone()),
        None => {
            let crops: Vec<RgbImage> = faces.iter().map(|f| f.crop.clone()).collect();
            Ok(preprocess::to_tensor(&crops, &model.preprocess)?)
        }
    }
}

fn explain(a: ExplainArgs) -> Result<()> {
    let models = load_models(&a.model)?;
    let npy = a.input.input_npy.as_deref().map(read_npy).transpose()?;
    let faces = if npy.is_some() {
        Vec::new()
    } else {
        load_faces(&a.input)?
    };
    let comps = composites(&a.rules)?;
    let target = parse_target(&a.target)?;
    let cmap = Colormap::from_name(&a.colormap)?;
    let upsample = if a.bilinear {
        Upsample::Bilinear
    } else {
        Upsample::Nearest
    };
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let default_run = a.model.models.is_empty() && a.input.images.is_empty() && npy.is_none();

    let mut summary = Vec::<Value>::new();
    let mut figure = Figure::new(models.iter().flat_map(|m| {
        comps
            .iter()
            .map(move |c| format!("{} · {}", m.name, c.name()))
    }))
    .colormap(cmap.clone())
    .upsample(upsample);
    if a.overlay {
        figure = figure.overlay(0.6, 0.85);
    }
    let mut rows: Vec<Row> = faces
        .iter()
        .map(|f| Row::new(f.crop.clone()).label(f.name.clone()))
        .collect();
    let total = (models.len() * comps.len()) as u64;
    let bar = progress(total * (faces.len().max(1) as u64), "explaining");
    for model in &models {
        let x = model_input(model, &faces, npy.as_ref())?;
        for comp in &comps {
            let ex = Explainer::new(model.graph.clone(), comp)
                .with_context(|| format!("model {}", model.name))?;
            let e = ex
                .explain(&x, &target)
                .with_context(|| format!("model {}", model.name))?;
            bar.inc(faces.len().max(1) as u64);
            let tag = format!("{}_{}", model.name, comp.name());
            if a.npy {
                let path = a.out.join(format!("{tag}_relevance.npy"));
                let r = if e.relevance.shape()[1] == 1 {
                    e.relevance.index_axis(Axis(1), 0).to_owned()
                } else {
                    e.relevance.clone()
                };
                ndarray_npy::write_npy(&path, &r)
                    .map_err(|err| anyhow!("{}: {err}", path.display()))?;
                println!("{}", path.display());
            }
            write_maps(&a, model, &faces, &e, &tag, &cmap, upsample, &mut rows)?;
            summary.push(summarise(model, comp, &faces, &e));
        }
    }
    bar.finish_and_clear();
    if a.json {
        let path = a.out.join("summary.json");
        std::fs::write(&path, serde_json::to_string_pretty(&Value::Array(summary))?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("{}", path.display());
    }
    if !faces.is_empty() {
        for r in rows {
            figure.push_row(r);
        }
        let path = a.out.join("figure.png");
        figure.save(&path)?;
        if default_run {
            println!(
                "Explained the shipped gender and age models on {} portraits with {}.",
                faces.len(),
                comps
                    .iter()
                    .map(|c| c.name().to_string())
                    .collect::<Vec<_>>()
                    .join(" and ")
            );
        }
        println!("figure: {}", path.display());
    }
    Ok(())
}

/// Write one heatmap PNG per image and map, and add the maps to the figure rows.
#[allow(clippy::too_many_arguments)]
fn write_maps(
    a: &ExplainArgs,
    model: &Model,
    faces: &[Face],
    e: &Explanation,
    tag: &str,
    cmap: &Colormap,
    upsample: Upsample,
    rows: &mut [Row],
) -> Result<()> {
    let probs: Vec<Vec<f32>> = e.logits.rows().into_iter().map(softmax).collect();
    for (i, face) in faces.iter().enumerate() {
        let pred = argmax(&probs[i]);
        for k in 0..e.relevance.shape()[1] {
            let r = e.relevance.slice(ndarray::s![i, k, .., .., ..]);
            let map = heatmap::reduce(r, Reduce::Sum)?;
            let norm = heatmap::normalize(&map, &Normalize::default())?;
            let class = e.targets.get(i).and_then(|t| t.get(k)).copied();
            let suffix = match (class, e.relevance.shape()[1]) {
                (Some(c), n) if n > 1 => format!("_class{c}"),
                _ => String::new(),
            };
            let display = model.preprocess.display_image(&face.crop);
            let (h, w) = (display.height() as usize, display.width() as usize);
            let img = heatmap::render_upsampled(&norm.map, cmap, h, w, upsample)?;
            let path = a.out.join(format!("{}_{tag}{suffix}.png", face.name));
            heatmap::save_png(&img, &path)?;
            if a.overlay {
                let up = heatmap::upsample(&norm.map, h, w, upsample)?;
                let ov = heatmap::overlay(&display, &up, cmap, 0.6, 0.85)?;
                heatmap::save_png(
                    &ov,
                    a.out
                        .join(format!("{}_{tag}{suffix}_overlay.png", face.name)),
                )?;
            }
            if k == 0 {
                let shown = class.unwrap_or(pred);
                let cell = Cell::new(map).prediction(&model.label(shown), probs[i][shown]);
                let row = std::mem::replace(&mut rows[i], Row::new(RgbImage::new(1, 1)));
                rows[i] = row.cell(cell);
            }
        }
    }
    Ok(())
}

fn summarise(model: &Model, comp: &Composite, faces: &[Face], e: &Explanation) -> Value {
    let n = e.logits.nrows();
    let k = e.relevance.shape()[1];
    let images: Vec<Value> = (0..n)
        .map(|i| {
            let probs = softmax(e.logits.row(i));
            let pred = argmax(&probs);
            let maps: Vec<Value> = (0..k)
                .map(|j| {
                    let m = i * k + j;
                    let class = e.targets.get(i).and_then(|t| t.get(j)).copied();
                    json!({
                        "class": class,
                        "label": class.map(|c| model.label(c)),
                        "relevance_seed": e.seed_sum(m),
                        "relevance_input": e.input_sum(m),
                        "relevance_positive_share": positive_share(e, m),
                    })
                })
                .collect();
            let conservation: Vec<Value> = e
                .conservation
                .iter()
                .map(|c| {
                    json!({
                        "layer": c.node, "kind": c.kind,
                        "relevance_out": c.relevance_out[i * k..(i + 1) * k],
                        "relevance_in": c.relevance_in[i * k..(i + 1) * k],
                    })
                })
                .collect();
            json!({
                "image": faces.get(i).map(|f| f.name.clone()).unwrap_or_else(|| format!("input {i}")),
                "prediction": { "class": pred, "label": model.label(pred), "probability": probs[pred] },
                "logits": e.logits.row(i).to_vec(),
                "probabilities": probs,
                "maps": maps,
                "conservation": conservation,
            })
        })
        .collect();
    json!({ "model": model.name, "preset": comp.name(), "images": images })
}

fn positive_share(e: &Explanation, m: usize) -> f32 {
    let per: usize = e.relevance.shape()[2..].iter().product();
    let Some(s) = e.relevance.as_slice() else {
        return 0.0;
    };
    let r = &s[m * per..(m + 1) * per];
    let pos: f32 = r.iter().filter(|v| **v > 0.0).sum();
    let abs: f32 = r.iter().map(|v| v.abs()).sum();
    if abs > 0.0 {
        pos / abs
    } else {
        0.0
    }
}

fn forward(a: ForwardArgs) -> Result<()> {
    let models = load_models(&a.model)?;
    if models.len() > 1 && a.npy.is_some() {
        bail!("--npy writes one model's logits: give a single --model");
    }
    let npy = a.input.input_npy.as_deref().map(read_npy).transpose()?;
    let faces = if npy.is_some() {
        Vec::new()
    } else {
        load_faces(&a.input)?
    };
    for model in &models {
        let x = model_input(model, &faces, npy.as_ref())?;
        let acts = model.graph.run(&[&x], true)?;
        // Pre-softmax logits: the input of a final Softmax, else the output itself.
        let out = model.graph.output_ids()[0];
        let id = match model.graph.tensors()[out].producer {
            Some(p) if model.graph.nodes()[p].op.kind() == "Softmax" => {
                model.graph.node_inputs(p)[0]
            }
            _ => out,
        };
        let logits = acts.get(id).expect("kept").clone();
        let (n, len) = (logits.shape()[0], logits.len());
        let logits = logits
            .into_shape_with_order(IxDyn(&[n, len / n.max(1)]))
            .map_err(|e| anyhow!("{e}"))?;
        if let Some(path) = &a.npy {
            ndarray_npy::write_npy(path, &logits)
                .map_err(|e| anyhow!("{}: {e}", path.display()))?;
            println!("{}", path.display());
        } else {
            for (i, row) in logits.outer_iter().enumerate() {
                let probs = softmax(row.view().into_dimensionality().expect("1-D"));
                let pred = argmax(&probs);
                let name = faces
                    .get(i)
                    .map(|f| f.name.clone())
                    .unwrap_or_else(|| format!("input {i}"));
                println!(
                    "{}\t{name}\t{} ({:.1}%)\tlogits {:?}",
                    model.name,
                    model.label(pred),
                    100.0 * probs[pred],
                    row.iter().copied().collect::<Vec<f32>>()
                );
            }
        }
    }
    Ok(())
}

fn figure(a: FigureArgs) -> Result<()> {
    let ex = ExplainArgs {
        model: a.model,
        input: a.input,
        rules: a.rules,
        target: "predicted".into(),
        out: a
            .out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
        npy: false,
        json: false,
        colormap: a.colormap,
        overlay: a.overlay,
        bilinear: false,
    };
    if ex.input.input_npy.is_some() {
        bail!("a figure needs images (--image), not --input-npy");
    }
    let target_name = a.out.clone();
    explain(ex)?;
    let written = target_name
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
        .join("figure.png");
    if written != target_name {
        std::fs::rename(&written, &target_name)
            .with_context(|| format!("cannot write {}", target_name.display()))?;
        println!("figure: {}", target_name.display());
    }
    Ok(())
}

fn info(a: InfoArgs) -> Result<()> {
    if a.colormaps {
        println!(
            "colour maps: {}",
            Colormap::names().collect::<Vec<_>>().join(", ")
        );
        println!("presets: {}", lrp::composite::PRESETS.join(", "));
        return Ok(());
    }
    let models = match &a.file {
        Some(f) => vec![Model::load(f, a.weights.as_deref(), None, None)
            .map_err(|e| naming_file(e, f, &[Some(f.as_path()), a.weights.as_deref()]))?],
        None => vec![Model::gender()?, Model::age()?],
    };
    let comp = Composite::preset(&a.preset)?;
    let mut all = Vec::new();
    for m in &models {
        let ex = Explainer::new(m.graph.clone(), &comp)?;
        let rules = ex.rule_names();
        let g = &m.graph;
        let mut layers = Vec::new();
        for (i, node) in g.nodes().iter().enumerate() {
            let shape = &g.tensors()[g.node_output(i)].shape;
            layers.push(json!({
                "name": node.name, "kind": node.op.kind(),
                "inputs": node.inputs, "output_shape": shape,
                "params": node.op.num_params(), "rule": rules[i].1,
            }));
        }
        let arch = lrp::zoo::Architecture::detect(g).map(|a| a.name());
        if a.json {
            all.push(json!({
                "model": m.name, "architecture": arch, "input_shape": g.input_shape(),
                "output_shape": g.output_shape(), "params": g.num_params(),
                "preset": comp.name(), "layers": layers,
            }));
        } else {
            println!(
                "{}: input {:?}, output {:?}, {} parameters{}; rules: {}",
                m.name,
                g.input_shape(),
                g.output_shape(),
                g.num_params(),
                arch.map(|a| format!(", architecture {a}"))
                    .unwrap_or_default(),
                comp.name()
            );
            println!(
                "  {:<32} {:<14} {:<18} {:>10}  rule",
                "layer", "kind", "output", "params"
            );
            for (i, node) in g.nodes().iter().enumerate() {
                let shape = format!("{:?}", g.tensors()[g.node_output(i)].shape);
                println!(
                    "  {:<32} {:<14} {:<18} {:>10}  {}",
                    node.name,
                    node.op.kind(),
                    shape,
                    node.op.num_params(),
                    rules[i].1.as_deref().unwrap_or("-")
                );
            }
        }
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    }
    Ok(())
}

/// Heatmaps and flipping results of one model × preset.
struct CompareItem {
    model: String,
    preset: String,
    /// One map per image at the network's resolution.
    maps: Vec<ndarray::Array2<f32>>,
    /// Most-relevant-first curves, one per image.
    morf: Vec<compare::FlipCurve>,
    /// Conservation (input sum / seed) per image.
    conservation: Vec<f32>,
    /// Share of positive relevance per image.
    positive_share: Vec<f32>,
}

impl CompareItem {
    fn label(&self) -> String {
        format!("{} · {}", self.model, self.preset)
    }
}

/// Mean of the curves' scores, point by point, as drops from the unperturbed score.
fn mean_drop(curves: &[compare::FlipCurve]) -> (Vec<f32>, Vec<f32>) {
    let len = curves.iter().map(|c| c.scores.len()).min().unwrap_or(0);
    let fractions = curves
        .first()
        .map(|c| c.fractions[..len].to_vec())
        .unwrap_or_default();
    let drops = (0..len)
        .map(|k| {
            curves
                .iter()
                .map(|c| c.scores[0] - c.scores[k])
                .sum::<f32>()
                / curves.len().max(1) as f32
        })
        .collect();
    (fractions, drops)
}

fn mean(v: &[f32]) -> f32 {
    if v.is_empty() {
        return f32::NAN;
    }
    v.iter().sum::<f32>() / v.len() as f32
}

fn compare(a: CompareArgs) -> Result<()> {
    let models = load_models(&a.model)?;
    let comps = composites(&a.rules)?;
    let target = match parse_target(&a.target)? {
        t @ (Target::Predicted | Target::Class(_)) => t,
        _ => bail!("--target: compare explains one class per image: `predicted` or one index"),
    };
    let cmap = Colormap::from_name(&a.colormap)?;
    if a.grid == 0 || a.flip_patch == 0 || a.flip_steps == 0 {
        bail!("--grid, --flip-patch and --flip-steps must be at least 1");
    }
    let faces: Vec<Face> = if a.images.is_empty() {
        compare::faces::portrait_variants()?
            .into_iter()
            .map(|(name, crop)| Face { name, crop })
            .collect()
    } else {
        load_faces(&InputArgs {
            images: a.images.clone(),
            input_npy: None,
            face_box: a.face_box,
        })?
    };
    let n = faces.len();
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;

    // Explain and flip: one progress step per image and (model × preset or random order).
    let bar = ProgressBar::new((models.len() * (comps.len() + 1) * n) as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>10} [{bar:40}] {pos}/{len} {elapsed_precise} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix("comparing");
    let mut items: Vec<CompareItem> = Vec::new();
    let mut random: Vec<(String, Vec<compare::FlipCurve>)> = Vec::new();
    for model in &models {
        let x = model_input(model, &faces, None)?;
        let size = model.preprocess.size();
        let baseline = match a.flip_baseline.as_str() {
            "mean" => compare::Baseline::Mean,
            "zero" | "black" => compare::Baseline::Image(
                model
                    .preprocess
                    .apply(&RgbImage::new(size, size))
                    .context("preprocessing a black image")?,
            ),
            "blur" => compare::Baseline::Blur {
                radius: a.flip_patch,
            },
            other => bail!("--flip-baseline `{other}`: expected mean, zero or blur"),
        };
        let cfg = compare::FlipConfig {
            patch: a.flip_patch,
            steps: a.flip_steps,
            patches_per_step: None,
            baseline,
            batch: 64,
        };
        let mut classes: Vec<usize> = Vec::new();
        for comp in &comps {
            bar.set_message(format!("{} · {}", model.name, comp.name()));
            let ex = Explainer::new(model.graph.clone(), comp)
                .with_context(|| format!("model {}", model.name))?;
            let e = ex
                .explain(&x, &target)
                .with_context(|| format!("model {}", model.name))?;
            classes = e.targets.iter().map(|t| t[0]).collect();
            let mut item = CompareItem {
                model: model.name.clone(),
                preset: comp.name().to_string(),
                maps: Vec::new(),
                morf: Vec::new(),
                conservation: Vec::new(),
                positive_share: Vec::new(),
            };
            for (i, &class) in classes.iter().enumerate() {
                let map = heatmap::reduce(
                    e.relevance.slice(ndarray::s![i, 0, .., .., ..]),
                    Reduce::Sum,
                )?;
                let st = compare::map_stats(&map, Some(e.seed_sum(i)))?;
                item.conservation.push(st.conservation.unwrap_or(f32::NAN));
                item.positive_share.push(st.positive_share);
                let order =
                    compare::patch_order(&map, a.flip_patch, &compare::Order::MostRelevantFirst)?;
                let xi = x.slice(ndarray::s![i, .., .., ..]);
                item.morf
                    .push(compare::flip_curve(&model.graph, xi, &order, class, &cfg)?);
                item.maps.push(map);
                bar.inc(1);
            }
            items.push(item);
        }
        // Random orders do not depend on the heatmap: once per model.
        bar.set_message(format!("{} · random order", model.name));
        let (h, w) = (x.shape()[2], x.shape()[3]);
        let mut curves = Vec::new();
        for (i, &class) in classes.iter().enumerate() {
            let xi = x.slice(ndarray::s![i, .., .., ..]);
            let mut runs = Vec::new();
            for r in 0..a.random_runs.max(1) {
                let seed = a.seed.wrapping_add((i * 1000 + r) as u64);
                let order = compare::patch_order(
                    &ndarray::Array2::zeros((h, w)),
                    a.flip_patch,
                    &compare::Order::Random { seed },
                )?;
                runs.push(compare::flip_curve(&model.graph, xi, &order, class, &cfg)?);
            }
            let len = runs[0].scores.len();
            let scores = (0..len)
                .map(|k| runs.iter().map(|c| c.scores[k]).sum::<f32>() / runs.len() as f32)
                .collect();
            curves.push(compare::FlipCurve {
                fractions: runs[0].fractions.clone(),
                scores,
            });
            bar.inc(1);
        }
        random.push((model.name.clone(), curves));
    }
    bar.finish_and_clear();
    let mut written = Vec::<PathBuf>::new();

    // Similarity matrices.
    let labels: Vec<String> = items.iter().map(CompareItem::label).collect();
    let all_maps: Vec<Vec<ndarray::Array2<f32>>> = items.iter().map(|i| i.maps.clone()).collect();
    let bwr = Colormap::from_name("bwr")?;
    let mut sims = Vec::new();
    for metric in compare::Metric::DEFAULT {
        let sim = compare::Similarity::compute(labels.clone(), &all_maps, metric, a.grid)?;
        let name = metric.name();
        let csv = a.out.join(format!("similarity_{name}.csv"));
        compare::write_text(&csv, &sim.to_csv())?;
        let png = a.out.join(format!("similarity_{name}.png"));
        heatmap::save_png(&sim.render(&bwr)?, &png)?;
        written.extend([csv, png]);
        sims.push(sim);
    }
    let json_path = a.out.join("similarity.json");
    compare::write_text(
        &json_path,
        &format!(
            "{{\"grid\": {}, \"images\": {n}, \"matrices\": [{}]}}\n",
            a.grid,
            sims.iter()
                .map(|s| s.to_json())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )?;
    written.push(json_path);

    // Average maps: the paper's (sum, then normalise) and normalise-then-average.
    let mut raw = Vec::new();
    let mut normed = Vec::new();
    for it in &items {
        raw.push(compare::average_raw(&it.maps)?);
        normed.push(compare::average_normalized(&it.maps)?);
    }
    let grid = compare::plot::map_grid(
        &labels,
        &[
            ("Σ, then normalised (paper)".to_string(), raw),
            ("normalised, then mean".to_string(), normed),
        ],
        &cmap,
        128,
    )?;
    let avg_path = a.out.join("average_maps.png");
    heatmap::save_png(&grid, &avg_path)?;
    written.push(avg_path);

    // AOPC table and curves.
    let mut aopc_csv = String::from(
        "model,preset,aopc_morf,aopc_random,aopc_difference,conservation,positive_share,images\n",
    );
    let mut aopc_json = Vec::<Value>::new();
    let mut curves_csv = String::from("model,preset,order,step,fraction,mean_score_drop\n");
    let mut table = Vec::new();
    for (model, rnd) in &random {
        let aopc_random = mean(&rnd.iter().map(|c| c.aopc()).collect::<Vec<_>>());
        let mut series = Vec::new();
        for (idx, it) in items.iter().filter(|it| &it.model == model).enumerate() {
            let aopc_morf = mean(&it.morf.iter().map(|c| c.aopc()).collect::<Vec<_>>());
            let cons = mean(&it.conservation);
            let pos = mean(&it.positive_share);
            aopc_csv.push_str(&format!(
                "{},{},{aopc_morf:.4},{aopc_random:.4},{:.4},{cons:.4},{pos:.4},{n}\n",
                it.model,
                it.preset,
                aopc_morf - aopc_random
            ));
            aopc_json.push(json!({
                "model": it.model, "preset": it.preset, "aopc_morf": aopc_morf,
                "aopc_random": aopc_random, "aopc_difference": aopc_morf - aopc_random,
                "conservation": cons, "positive_share": pos, "images": n,
                "per_image": it.morf.iter().zip(&faces).map(|(c, f)| json!({"image": f.name, "aopc_morf": c.aopc()})).collect::<Vec<_>>(),
            }));
            table.push((it.label(), aopc_morf, aopc_random, cons));
            let (fr, drops) = mean_drop(&it.morf);
            for (k, (f, d)) in fr.iter().zip(&drops).enumerate() {
                curves_csv.push_str(&format!(
                    "{},{},most-relevant-first,{k},{f:.4},{d:.5}\n",
                    it.model, it.preset
                ));
            }
            series.push(compare::plot::Series::new(
                it.preset.clone(),
                fr,
                drops,
                compare::plot::palette(idx),
            ));
        }
        let (fr, drops) = mean_drop(rnd);
        for (k, (f, d)) in fr.iter().zip(&drops).enumerate() {
            curves_csv.push_str(&format!("{model},,random,{k},{f:.4},{d:.5}\n"));
        }
        series.push(compare::plot::Series::new("random order", fr, drops, [90, 90, 90]).dashed());
        let img = compare::plot::line_plot(
            &format!(
                "{model}: pixel flipping ({}×{} patches, {} baseline)",
                a.flip_patch, a.flip_patch, a.flip_baseline
            ),
            "fraction of the image replaced",
            "mean drop of the target logit",
            &series,
            720,
            440,
        )?;
        let p = a.out.join(format!("flipping_{model}.png"));
        heatmap::save_png(&img, &p)?;
        written.push(p);
    }
    let p = a.out.join("aopc.csv");
    compare::write_text(&p, &aopc_csv)?;
    written.push(p);
    let p = a.out.join("aopc.json");
    std::fs::write(&p, serde_json::to_string_pretty(&Value::Array(aopc_json))?)
        .with_context(|| format!("cannot write {}", p.display()))?;
    written.push(p);
    let p = a.out.join("flipping_curves.csv");
    compare::write_text(&p, &curves_csv)?;
    written.push(p);

    // Spectral clustering per model × preset.
    let mut clusters_csv = String::from("model,preset,image,cluster\n");
    let mut eig_series = Vec::new();
    let mut cluster_sizes = Vec::new();
    if n >= 2 && a.clusters >= 1 && a.clusters <= n {
        let cfg = compare::SpectralConfig {
            clusters: a.clusters,
            neighbors: a.neighbors.max(1),
            grid: a.grid,
            seed: a.seed,
            restarts: 10,
        };
        for (idx, it) in items.iter().enumerate() {
            let s = compare::spectral_clustering(&it.maps, &cfg)?;
            for (f, l) in faces.iter().zip(&s.labels) {
                clusters_csv.push_str(&format!(
                    "{},{},{},{l}\n",
                    compare::csv_field(&it.model),
                    compare::csv_field(&it.preset),
                    compare::csv_field(&f.name)
                ));
            }
            let shown = s.eigenvalues.len().min(10);
            eig_series.push(
                compare::plot::Series::new(
                    it.label(),
                    (1..=shown).map(|i| i as f32).collect(),
                    s.eigenvalues[..shown].to_vec(),
                    compare::plot::palette(idx),
                )
                .markers(),
            );
            let mut sizes = vec![0usize; a.clusters];
            for &l in &s.labels {
                sizes[l] += 1;
            }
            cluster_sizes.push((it.label(), sizes, s.eigengaps.get(a.clusters - 1).copied()));
        }
        let p = a.out.join("clusters.csv");
        compare::write_text(&p, &clusters_csv)?;
        written.push(p);
        let img = compare::plot::line_plot(
            "spectral clustering: smallest Laplacian eigenvalues",
            "index",
            "eigenvalue",
            &eig_series,
            720,
            440,
        )?;
        let p = a.out.join("eigengap.png");
        heatmap::save_png(&img, &p)?;
        written.push(p);
    } else {
        eprintln!(
            "lrp: warning: clustering skipped: {n} images for {} clusters",
            a.clusters
        );
    }

    // Summary.
    println!(
        "Compared {} model(s) × {} preset(s) on {n} images (grid {}×{}, {}×{} flipping patches, {} steps, {} baseline).",
        models.len(),
        comps.len(),
        a.grid,
        a.grid,
        a.flip_patch,
        a.flip_patch,
        a.flip_steps,
        a.flip_baseline
    );
    let w = table
        .iter()
        .map(|t| t.0.chars().count())
        .max()
        .unwrap_or(10)
        .max(10);
    println!(
        "{:<w$}  {:>10}  {:>11}  {:>12}",
        "model · preset", "AOPC MoRF", "AOPC random", "conservation"
    );
    for (l, m, r, c) in &table {
        println!("{l:<w$}  {m:>10.3}  {r:>11.3}  {c:>12.3}");
    }
    println!("mean similarity (averaged over images; off-diagonal pairs):");
    for sim in &sims {
        let k = sim.labels.len();
        let (mut same_model, mut cross_model) = (Vec::new(), Vec::new());
        for i in 0..k {
            for j in i + 1..k {
                if items[i].model == items[j].model {
                    same_model.push(sim.values[[i, j]]);
                } else if items[i].preset == items[j].preset {
                    cross_model.push(sim.values[[i, j]]);
                }
            }
        }
        let fmt = |v: &[f32]| {
            if v.is_empty() {
                "     –".to_string()
            } else {
                format!("{:>6.3}", mean(v))
            }
        };
        println!(
            "  {:<10} presets within a model {}   models with the same preset {}",
            sim.metric.name(),
            fmt(&same_model),
            fmt(&cross_model)
        );
    }
    for (l, sizes, gap) in &cluster_sizes {
        println!(
            "  clusters of {l}: sizes {sizes:?}, eigengap after {} eigenvalue(s) {}",
            a.clusters,
            gap.map_or("–".into(), |g| format!("{g:.3}"))
        );
    }
    println!("wrote {} files to {}", written.len(), a.out.display());
    Ok(())
}
