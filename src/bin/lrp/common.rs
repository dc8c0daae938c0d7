//! Options and loaders shared by the subcommands: models, images, presets, targets.

use anyhow::{anyhow, bail, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use lrp::composite::{Composite, Selector};
use lrp::explain::Target;
use lrp::model::Model;
use lrp::preprocess::{self, FaceBox, RgbImage};
use lrp::rules::RuleSpec;
use lrp::Tensor;
use std::path::{Path, PathBuf};

#[derive(Args, Clone)]
pub struct ModelArgs {
    /// Model file (.onnx or a Caffe deploy .prototxt), or a shipped model's name: gender-v1,
    /// age-v1 (dlib's), face-api-gender, face-api-age (face-api's 112×112 network). Default:
    /// all four shipped models (`lrp compare`: gender-v1 and age-v1). Repeat for several
    /// models.
    #[arg(long = "model", value_name = "FILE|NAME")]
    pub models: Vec<PathBuf>,
    /// The output to explain, by name, for models with several outputs (e.g. `gender_logits`
    /// of face-api's age/gender network). Without it such an ONNX model is explained at its
    /// first output, with a warning naming the others.
    #[arg(long, value_name = "NAME")]
    pub output: Option<String>,
    /// Caffe weights (.caffemodel) for a .prototxt model.
    #[arg(long, value_name = "W.caffemodel")]
    pub weights: Option<PathBuf>,
    /// Caffe mean image (mean.binaryproto) for a .prototxt model.
    #[arg(long, value_name = "M.binaryproto")]
    pub mean: Option<PathBuf>,
    /// Class names, one per line.
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// How images become network inputs: `auto` (each model's own: the shipped models',
    /// the paper's for Caffe models, `imagenet` for vision transformers and 1000-class ONNX
    /// classifiers, `face` for other ONNX files), `face` (the face squashed to the input size, RGB,
    /// (pixel − mean) / 256) or `imagenet` (torchvision's: shorter side to size·256/224,
    /// centre crop, RGB/255, ImageNet mean and std: for torchvision and timm classifiers,
    /// vision transformers included). One value applies to every model; several
    /// (`--preprocess face,imagenet`, or the option repeated) give each `--model` its own,
    /// in order, e.g. a face CNN beside an ImageNet ViT.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "auto",
        value_name = "KIND[,KIND…]"
    )]
    pub preprocess: Vec<PreprocessArg>,
    /// Most memory an explanation may use, e.g. `4G`, `512M` (`0` or `none`: no check).
    /// Default: 3/4 of the smallest of the available RAM, the cgroup's memory limit (a Slurm
    /// or Kubernetes job's) and the address-space limit (`ulimit -v`). A model that needs
    /// more for one image is refused when it is loaded, with the estimate.
    #[arg(long, value_name = "SIZE", value_parser = parse_max_memory)]
    pub max_memory: Option<MaxMemory>,
}

/// The `--max-memory` setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaxMemory {
    /// `0` or `none`: no check.
    Off,
    /// A size in bytes.
    Bytes(u64),
}

fn parse_max_memory(s: &str) -> std::result::Result<MaxMemory, String> {
    match lrp::memory::parse_size(s) {
        Ok(Some(b)) => Ok(MaxMemory::Bytes(b)),
        Ok(None) => Ok(MaxMemory::Off),
        Err(e) => Err(e.to_string()),
    }
}

/// The memory budget of a run and where it comes from, for messages.
#[derive(Clone, Debug)]
pub struct MemoryBudget {
    /// Bytes.
    pub bytes: u64,
    /// `--max-memory 2.0 GiB`, or `3/4 of the cgroup memory limit of 8.0 GiB`.
    pub origin: String,
}

impl ModelArgs {
    /// The memory budget of `--max-memory`, or the default (3/4 of what the process may use);
    /// `None` when the check is off or no limit is known.
    pub fn memory_budget(&self) -> Option<MemoryBudget> {
        use lrp::memory::{format_bytes, Limits, DEFAULT_FRACTION};
        match self.max_memory {
            Some(MaxMemory::Off) => None,
            Some(MaxMemory::Bytes(bytes)) => Some(MemoryBudget {
                bytes,
                origin: format!("--max-memory {}", format_bytes(bytes)),
            }),
            None => {
                let limits = Limits::detect();
                let (bytes, source) = limits.default_budget()?;
                let (num, den) = DEFAULT_FRACTION;
                let whole = limits.smallest().map_or(0, |(v, _)| v);
                Some(MemoryBudget {
                    bytes,
                    origin: format!("{num}/{den} of the {source} of {}", format_bytes(whole)),
                })
            }
        }
    }
}

/// Refuses `model` when explaining one image with it would need more than `budget`: one line
/// with the estimate, the limit and what to do. The estimate assumes the costliest rules and
/// counts the weights twice (the model's copy and the explainer's).
pub fn check_memory(model: &Model, what: &str, budget: &MemoryBudget) -> Result<()> {
    let est = lrp::memory::Estimate::of_graph(&model.graph);
    if let Err(e) = est.check(what, est.weights, budget.bytes) {
        bail!(
            "{e} ({}); check the model's input size, run where more memory is available or \
             raise --max-memory (0 turns the check off)",
            budget.origin
        );
    }
    Ok(())
}

/// The most images of `model` one explanation batch may hold under `budget` (at least 1; no
/// bound without a budget): what a batch size must not exceed.
pub fn max_batch(model: &Model, budget: Option<&MemoryBudget>) -> usize {
    match budget {
        None => usize::MAX,
        Some(b) => {
            let est = lrp::memory::Estimate::of_graph(&model.graph);
            est.max_batch(b.bytes.saturating_sub(est.weights)).max(1)
        }
    }
}

/// The `--preprocess` choices.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreprocessArg {
    /// The model's own default: the shipped models' own, the paper's for Caffe models,
    /// ImageNet's for transformers and 1000-class ONNX classifiers, the face models' for
    /// other ONNX files.
    Auto,
    /// The shipped face models' preprocessing.
    Face,
    /// face-api's: the face zero-padded to a centred square, tfjs's bilinear resize, RGB,
    /// (pixel − mean) / 255 (the default of the face-api models).
    FaceApi,
    /// torchvision's ImageNet evaluation transform.
    Imagenet,
}

impl PreprocessArg {
    /// `model` with this preprocessing (at its input size).
    fn apply(self, mut model: Model) -> Model {
        let size = model.preprocess.size();
        match self {
            PreprocessArg::Auto => {}
            PreprocessArg::Face => model.preprocess = preprocess::Preprocess::onnx_face(size),
            PreprocessArg::FaceApi => model.preprocess = preprocess::Preprocess::face_api(size),
            PreprocessArg::Imagenet => model.preprocess = preprocess::Preprocess::imagenet(size),
        }
        model
    }
}

#[derive(Args, Clone)]
pub struct InputArgs {
    /// Image files or folders (PNG, JPEG). Default: the shipped portraits.
    #[arg(long = "image", value_name = "PATH", num_args = 1.., conflicts_with = "input_npy")]
    pub images: Vec<PathBuf>,
    /// An already preprocessed N×C×H×W float32 tensor (.npy).
    #[arg(long, value_name = "X.npy")]
    pub input_npy: Option<PathBuf>,
    /// Face box in pixels, `left,top,right,bottom`, applied to every image (the same as
    /// `--faces L,T,R,B`; the shipped portraits have their own boxes).
    #[arg(long, value_name = "L,T,R,B", value_parser = parse_box, conflicts_with = "faces")]
    pub face_box: Option<FaceBox>,
    /// Which faces to explain (explain and figure): `auto` (every face the shipped detector
    /// finds when no box is given and a model expects a face, else the whole image), `all`,
    /// `largest`, or a box `L,T,R,B`. Faces are numbered left to right: `photo_face2.jpg`.
    #[arg(long, value_name = "auto|all|largest|L,T,R,B", value_parser = crate::faces::parse_faces)]
    pub faces: Option<crate::faces::FacesArg>,
    /// Score a detected face must exceed (the detector's default: 0.5).
    #[arg(long, value_name = "T", default_value_t = lrp::faces::DEFAULT_SCORE_THRESHOLD)]
    pub face_threshold: f64,
}

impl InputArgs {
    /// The explicit box of `--face-box` or `--faces L,T,R,B`.
    pub fn explicit_box(&self) -> Option<FaceBox> {
        match self.faces {
            Some(crate::faces::FacesArg::Box(b)) => Some(b),
            _ => self.face_box,
        }
    }
}

#[derive(Args, Clone)]
pub struct RuleArgs {
    /// Preset(s), comma-separated (the list is `lrp info --presets`). Default: each model's
    /// own, `epsilon-plus-flat,paper`, and `epsilon-gamma-box` for face-api's models.
    #[arg(long, value_name = "NAME[,NAME]", long_help = preset_help())]
    pub preset: Option<String>,
    /// Number of lowest layers that get the first-layer rule (the paper's flat layers).
    #[arg(long, value_name = "N")]
    pub flat: Option<usize>,
    /// ε of every ε-rule.
    #[arg(long, value_name = "E")]
    pub epsilon: Option<f32>,
    /// Stabiliser of every rule's denominators.
    #[arg(long, value_name = "S")]
    pub stabilizer: Option<f32>,
    /// Per-layer override `LAYER=RULE`: LAYER is a name, `#N` (N-th linear layer),
    /// `conv`/`dense`, `kind:K` or `category:C`; RULE e.g. `epsilon:0.25`, `zplus`,
    /// `alphabeta:2,1@paper`, `flat`, and for transformers `layer-norm`, `softmax`,
    /// `uniform`, `gate`. (`attnlrp` as a RULE is an old alias of `layer-norm`, AttnLRP's
    /// LayerNorm rule alone; the whole AttnLRP method is `--preset attnlrp`.)
    #[arg(long = "rule", value_name = "LAYER=RULE")]
    pub rules: Vec<String>,
    /// Arithmetic of the large matrix products (convolutions, the rules' normalisers and
    /// transposed products, dense layers): `f32`, the default, or `bf16` (bfloat16 operands,
    /// float32 sums: up to twice as fast, relevance within about 1% of float32's; see the
    /// README's "Reduced precision"). `bf16` needs a CPU with AVX512-BF16 and is refused
    /// elsewhere.
    #[arg(long, value_enum, default_value = "f32", value_name = "f32|bf16")]
    pub precision: PrecisionArg,
}

/// The `--precision` choices.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrecisionArg {
    /// Float32 throughout.
    F32,
    /// bfloat16 products with float32 sums.
    Bf16,
}

impl RuleArgs {
    /// Sets the process-wide precision of `--precision`; `bf16` on a CPU without AVX512-BF16
    /// is an error naming the option, never a silent fallback to float32.
    pub fn apply_precision(&self) -> Result<()> {
        use lrp::kernels::Precision;
        let p = match self.precision {
            PrecisionArg::F32 => Precision::F32,
            PrecisionArg::Bf16 => Precision::Bf16,
        };
        p.check(&format!("--precision {}", p.name()))?;
        lrp::kernels::set_precision(p)?;
        Ok(())
    }
}

/// The long help of `--preset`: every preset with its one-line description, from the
/// library's table (so a new preset shows up here by itself).
fn preset_help() -> String {
    let mut s = String::from(
        "Preset(s), comma-separated; each model is explained under each. `attnlrp` and \
         `cp-lrp` are for transformers (vision transformers from torchvision or timm); the \
         others for CNNs. Default: each model's own presets (`lrp info MODEL` names them): \
         epsilon-plus-flat and paper, and epsilon-gamma-box for face-api's depthwise-separable \
         network (face-api-gender, face-api-age), where pixel flipping found epsilon-plus-flat \
         unfaithful.\n",
    );
    for p in lrp::composite::PRESET_TABLE {
        s.push_str(&format!("\n  {:<27} {}", p.name, p.description));
    }
    s
}

pub fn parse_box(s: &str) -> std::result::Result<FaceBox, String> {
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

/// `err` with `file` in front, unless its message already names one of `files` (the files
/// the failed step read). Errors about a node, an attribute or a weight name the node but not
/// the model file it came from; on the command line the file is what the user knows.
pub fn naming_file(err: lrp::Error, file: &Path, files: &[Option<&Path>]) -> anyhow::Error {
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
pub struct Face {
    pub name: String,
    pub crop: RgbImage,
}

/// The models of `--model` (or all shipped ones), each checked against the memory budget
/// ([`check_memory`]).
pub fn load_models(a: &ModelArgs) -> Result<Vec<Model>> {
    load_models_or(a, &lrp::model::SHIPPED_MODELS)
}

/// [`load_models`], with the shipped models named by `defaults` when no `--model` is given.
pub fn load_models_or(a: &ModelArgs, defaults: &[&str]) -> Result<Vec<Model>> {
    let models = load_unchecked(a, defaults)?;
    // Loading freed the file's bytes and the decoding buffers, which the explanations will
    // not reuse: do not keep them in the pool (a VGG-16 file would stay resident).
    crate::ALLOC.release();
    if let Some(budget) = a.memory_budget() {
        for (i, m) in models.iter().enumerate() {
            // Named by the file the user gave, or the shipped model's name.
            let what = a
                .models
                .get(i)
                .map_or_else(|| m.name.clone(), |p| p.display().to_string());
            check_memory(m, &what, &budget)?;
        }
    }
    Ok(models)
}

fn load_unchecked(a: &ModelArgs, defaults: &[&str]) -> Result<Vec<Model>> {
    if a.models.is_empty() {
        if a.weights.is_some() || a.mean.is_some() {
            bail!("--weights and --mean need a --model");
        }
        if a.output.is_some() {
            bail!(
                "--output picks an output of a --model with several (e.g. --model face-api-gender)"
            );
        }
        let pre = preprocess_per_model(&a.preprocess, defaults.len(), "the shipped models")?;
        return defaults
            .iter()
            .zip(pre)
            .map(|(name, pre)| Ok(pre.apply(Model::shipped(name)?)))
            .collect();
    }
    let pre = preprocess_per_model(&a.preprocess, a.models.len(), "--model")?;
    if a.models.len() > 1 && (a.weights.is_some() || a.mean.is_some() || a.labels.is_some()) {
        bail!("--weights, --mean and --labels apply to a single --model");
    }
    a.models
        .iter()
        .zip(pre)
        .map(|(m, pre)| {
            let (w, mean, labels) = (a.weights.as_deref(), a.mean.as_deref(), a.labels.as_deref());
            if let Some(model) = shipped_model(m, a.output.as_deref())? {
                return Ok(pre.apply(model));
            }
            let model = Model::load_output(m, w, mean, labels, a.output.as_deref())
                .map_err(|e| naming_file(e, m, &[Some(m.as_path()), w, mean, labels]))?;
            for w in &model.warnings {
                errln!("lrp: warning: {}: {w}", m.display());
            }
            Ok(pre.apply(model))
        })
        .collect()
}

/// One `--preprocess` value per model: a single value for all `n`, or exactly one each.
fn preprocess_per_model(v: &[PreprocessArg], n: usize, what: &str) -> Result<Vec<PreprocessArg>> {
    match v.len() {
        0 => Ok(vec![PreprocessArg::Auto; n]),
        1 => Ok(vec![v[0]; n]),
        k if k == n => Ok(v.to_vec()),
        k => bail!(
            "--preprocess has {k} values for {n} models ({what}): give one for all, or one per \
             model in the order of --model"
        ),
    }
}

/// `--preprocess` as the manifest records it (`imagenet`, `face,imagenet`).
pub fn preprocess_text(v: &[PreprocessArg]) -> String {
    if v.is_empty() {
        return "auto".into();
    }
    v.iter()
        .map(|p| {
            clap::ValueEnum::to_possible_value(p)
                .map_or_else(|| "auto".to_string(), |v| v.get_name().to_string())
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The shipped model a `--model` names when no such file exists (`face-api-gender`, …);
/// `None` for a file. A name that is neither a file nor a shipped model, and has no
/// extension, is an error listing the shipped models. `output`, when given, must be the
/// model's own output.
pub fn shipped_model(m: &Path, output: Option<&str>) -> Result<Option<Model>> {
    if m.exists() || m.extension().is_some() {
        return Ok(None);
    }
    let name = m.to_str().unwrap_or_default();
    let mut model = Model::shipped(name).map_err(|e| anyhow!("--model: {e} (or a model file)"))?;
    if let Some(o) = output {
        model.graph = model
            .graph
            .select_output(o)
            .map_err(|e| anyhow!("--model {name}: {e}"))?;
    }
    Ok(Some(model))
}

/// The faces of `--image` (or the shipped portraits), each cut to `--face-box` if given.
/// The network input the options name: a preprocessed `.npy` tensor (and no faces), or the
/// faces of the images.
pub fn load_inputs(a: &InputArgs) -> Result<(Option<Tensor>, Vec<Face>)> {
    match a.input_npy.as_deref() {
        Some(path) => Ok((Some(read_npy(path)?), Vec::new())),
        None => Ok((None, load_faces(a)?)),
    }
}

pub fn load_faces(a: &InputArgs) -> Result<Vec<Face>> {
    use crate::faces::FacesArg;
    if matches!(a.faces, Some(FacesArg::All | FacesArg::Largest)) {
        bail!("--faces all and largest are for `lrp explain` and `lrp figure`; give a box L,T,R,B here");
    }
    let face_box = a.explicit_box();
    if a.images.is_empty() {
        let (ast, gh) = (lrp::assets::ASTRONAUT_PNG, lrp::assets::GRACE_HOPPER_JPG);
        return match face_box {
            // A face box given for the shipped portraits replaces their own.
            Some(fb) => [("astronaut", ast), ("grace_hopper", gh)]
                .into_iter()
                .map(|(name, bytes)| {
                    let crop = preprocess::crop(&preprocess::decode_rgb(bytes, name)?, fb)?;
                    Ok(Face::new(name, crop))
                })
                .collect(),
            None => Ok(lrp::assets::portrait_faces()?
                .into_iter()
                .map(|(name, crop)| Face::new(name, crop))
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
            let name = f.file_stem().and_then(|s| s.to_str()).unwrap_or("image");
            Ok(Face::new(name, preprocess::load_face(f, face_box)?))
        })
        .collect::<Result<Vec<_>>>();
    bar.finish_and_clear();
    faces
}

/// The images of `compare` and `evaluate`: without `images` the 22 variants of the shipped
/// portraits ([`lrp::compare::faces::portrait_variants`]), else every image found under
/// `images`, cut by `face_box`, named by its file stem.
pub fn study_images(
    images: &[PathBuf],
    face_box: Option<FaceBox>,
) -> Result<Vec<(String, RgbImage)>> {
    if images.is_empty() {
        return Ok(lrp::compare::faces::portrait_variants()?);
    }
    let input = InputArgs {
        images: images.to_vec(),
        input_npy: None,
        face_box,
        faces: None,
        face_threshold: lrp::faces::DEFAULT_SCORE_THRESHOLD,
    };
    Ok(load_faces(&input)?
        .into_iter()
        .map(|Face { name, crop }| (name, crop))
        .collect())
}

impl Face {
    fn new(name: impl Into<String>, crop: RgbImage) -> Face {
        Face {
            name: name.into(),
            crop,
        }
    }
}

/// A progress bar for `n` steps, hidden for fewer than 8.
pub fn progress(n: u64, what: &str) -> ProgressBar {
    if n < 8 {
        return ProgressBar::hidden();
    }
    styled_bar(n, what, "")
}

/// A progress bar for `n` steps labelled `what`, with a `{msg}` after the counts if
/// `message` is set.
pub fn styled_bar(n: u64, what: &str, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(n);
    let template =
        format!("{{prefix:>10}} [{{bar:40}}] {{pos}}/{{len}} {{elapsed_precise}}{message}");
    bar.set_style(
        ProgressStyle::with_template(&template)
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(what.to_string());
    bar
}

/// A float32 `.npy` tensor, its declared size checked against the file before anything is
/// allocated ([`lrp::files::read_npy_f32`]).
pub fn read_npy(path: &Path) -> Result<Tensor> {
    Ok(lrp::files::read_npy_f32(path)?)
}

/// The composites of `--preset` (without it, of every preset one of `models` is explained
/// under by default, [`Model::presets`]), each with the overrides of the other rule options,
/// and per model which of them it is explained under: all of them with `--preset`, otherwise
/// its own default presets.
pub fn model_composites(
    r: &RuleArgs,
    models: &[Model],
) -> Result<(Vec<Composite>, Vec<Vec<bool>>)> {
    let names: Vec<String> = match &r.preset {
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        None => {
            let mut names: Vec<String> = Vec::new();
            for p in models.iter().flat_map(|m| &m.presets) {
                if !names.contains(p) {
                    names.push(p.clone());
                }
            }
            names
        }
    };
    let comps = preset_composites(r, &names)?;
    let applies = models
        .iter()
        .map(|m| {
            names
                .iter()
                .map(|n| r.preset.is_some() || m.presets.contains(n))
                .collect()
        })
        .collect();
    Ok((comps, applies))
}

/// The composites named `names`, each with the overrides of the other rule options.
fn preset_composites(r: &RuleArgs, names: &[String]) -> Result<Vec<Composite>> {
    let mut out = Vec::new();
    for name in names {
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

pub fn parse_target(s: &str) -> Result<Target> {
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

/// The network input for `faces` (or the given tensor) and model.
pub fn model_input(model: &Model, faces: &[Face], npy: Option<&Tensor>) -> Result<Tensor> {
    match npy {
        Some(x) => Ok(x.clone()),
        None => {
            let crops: Vec<RgbImage> = faces.iter().map(|f| f.crop.clone()).collect();
            Ok(preprocess::to_tensor(&crops, &model.preprocess)?)
        }
    }
}

/// The image's name, or `input I` for rows of an `--input-npy` tensor.
pub fn image_name(faces: &[Face], i: usize) -> String {
    faces
        .get(i)
        .map(|f| f.name.clone())
        .unwrap_or_else(|| format!("input {i}"))
}
