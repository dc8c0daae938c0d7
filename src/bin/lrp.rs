//! The `lrp` command line: LRP heatmaps of convolutional networks.
//!
//! `lrp explain` with no arguments explains the two shipped face models on the two shipped
//! portraits and writes heatmaps and a labelled figure to `./lrp-out/`. Every error is one
//! line on stderr and a non-zero exit status.

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use lrp::composite::{Composite, Selector};
use lrp::explain::{Explainer, Explanation, Target};
use lrp::heatmap::{self, Cell, Colormap, Figure, Normalize, Reduce, Row, Upsample};
use lrp::model::Model;
use lrp::preprocess::{self, FaceBox, RgbImage};
use lrp::rules::LayerRule;
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
        eprintln!("lrp: error: {msg}");
        std::process::exit(1);
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
            let model = Model::load(
                m,
                a.weights.as_deref(),
                a.mean.as_deref(),
                a.labels.as_deref(),
            )?;
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
            let rule: LayerRule = rule.parse()?;
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
        Some(f) => vec![Model::load(f, a.weights.as_deref(), None, None)?],
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
