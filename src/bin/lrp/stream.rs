//! The streaming pipeline of `lrp explain` and `lrp figure` over image files and folders.
//!
//! A reader thread reads, decodes and preprocesses `--batch-size` images at a time and hands
//! the batches over a bounded channel; the main thread explains each batch (rayon inside); a
//! writer thread renders and writes the PNGs (each under a temporary name, renamed when
//! complete), removes the files an earlier run wrote for a redone entry, and appends one
//! manifest line per image × model × preset. Memory holds a few batches and the figure's
//! first rows, whatever the number of images. A bad image costs one line on stderr and a
//! `failed` manifest line; the run goes on and fails at the end with the count.

use crate::common::{self, ModelArgs};
use crate::explain::ExplainArgs;
use crate::faces::{self as face_opts, Detect};
use crate::methods::Methods;
use crate::tokens::{self as token_view, Views};
use anyhow::{anyhow, bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use lrp::attribution::{Attributor, Method};
use lrp::compare::{positive_share, ExplanationSummary};
use lrp::dataset::manifest::{self, Key, MapEntry, Prediction};
use lrp::dataset::{
    self, Entry, FaceRecord, InputFile, ManifestWriter, OutputLayout, Shard, Status,
};
use lrp::explain::{Explanation, Target};
use lrp::graph::{argmax, softmax};
use lrp::heatmap::{self, Cell, Colormap, Figure, Normalize, Reduce, Row, Upsample};
use lrp::model::Model;
use lrp::preprocess::{self, FaceBox, Preprocess, RgbImage};
use lrp::tokens::{TokenLayout, TokenRelevance};
use lrp::Tensor;
use ndarray::{Array2, Array3, ArrayD, Axis};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

/// Default `--batch-size` (measured: see the README's dataset section).
pub const DEFAULT_BATCH: usize = 16;
/// Largest `--batch-size`.
pub const MAX_BATCH: usize = 1024;
/// Default `--figure-rows`.
pub const DEFAULT_FIGURE_ROWS: usize = 24;
/// Largest `--figure-rows`: what the library's figure draws.
pub const MAX_FIGURE_ROWS: usize = lrp::heatmap::MAX_FIGURE_ROWS;

/// Where the results go.
pub enum Destination {
    /// `lrp explain`: heatmaps, manifest and figure under `out`, or one shard's part.
    Dataset { out: PathBuf, shard: Option<Shard> },
    /// `lrp figure`: this one PNG and nothing else.
    FigureOnly(PathBuf),
}

/// One input: a file, a shipped portrait, or one detected face of either.
enum Source {
    File(InputFile),
    Shipped {
        relative: &'static str,
        bytes: &'static [u8],
        face: [i64; 4],
    },
    /// Face `record.number` of the photo `photo` (a `File` or `Shipped` source).
    Face {
        photo: Arc<Source>,
        /// `<stem>_face<N>.<ext>`.
        relative: String,
        crop: FaceBox,
        record: FaceRecord,
        /// Every face box of the photo (the figure outlines them), this one at
        /// `record.number − 1`.
        boxes: Arc<Vec<FaceBox>>,
    },
}

impl Source {
    fn relative(&self) -> &str {
        match self {
            Source::File(f) => &f.relative,
            Source::Shipped { relative, .. } => relative,
            Source::Face { relative, .. } => relative,
        }
    }

    fn input(&self) -> String {
        match self {
            Source::File(f) => f.path.display().to_string(),
            Source::Shipped { relative, .. } => format!("shipped:{relative}"),
            Source::Face { photo, .. } => photo.input(),
        }
    }

    fn face(&self) -> Option<FaceRecord> {
        match self {
            Source::Face { record, .. } => Some(record.clone()),
            _ => None,
        }
    }

    /// The whole photo.
    fn load_photo(&self) -> lrp::Result<RgbImage> {
        match self {
            Source::File(f) => preprocess::load_rgb(&f.path),
            Source::Shipped {
                relative, bytes, ..
            } => preprocess::decode_rgb(bytes, relative),
            Source::Face { photo, .. } => photo.load_photo(),
        }
    }

    /// The crop to explain and, for a detected face when `figure` is set, the photo with the
    /// face boxes outlined (the figure's picture of the row).
    fn load(
        &self,
        face_box: Option<FaceBox>,
        figure: bool,
    ) -> lrp::Result<(RgbImage, Option<RgbImage>)> {
        match self {
            Source::File(f) => Ok((preprocess::load_face(&f.path, face_box)?, None)),
            Source::Shipped {
                relative,
                bytes,
                face,
            } => {
                let b = face_box.unwrap_or(FaceBox::new(face[0], face[1], face[2], face[3]));
                let crop = preprocess::crop(&preprocess::decode_rgb(bytes, relative)?, b)?;
                Ok((crop, None))
            }
            Source::Face {
                photo,
                crop,
                record,
                boxes,
                ..
            } => {
                let whole = photo.load_photo()?;
                let face = preprocess::crop(&whole, *crop)?;
                let drawn = figure
                    .then(|| face_opts::draw_boxes(&whole, boxes, record.number.saturating_sub(1)));
                Ok((face, drawn))
            }
        }
    }
}

/// What detection found: the sources with every photo replaced by its faces, the photos
/// without a face (input, relative name), and the seconds spent detecting.
struct Detected {
    sources: Vec<Source>,
    no_face: Vec<(String, String)>,
    photos: usize,
    /// Photos without a face (explained whole under `auto`, skipped otherwise).
    without: usize,
    seconds: f64,
}

/// Runs the detector on every photo of `sources` and replaces each by its faces (`mode`).
/// A photo that cannot be read stays as it is, to fail with its error when it is explained.
fn detect_faces(sources: Vec<Source>, a: &ExplainArgs, mode: Detect) -> Result<Detected> {
    let detector = face_opts::detector(&a.input)?;
    let bar = common::progress(sources.len() as u64, "detecting");
    let start = std::time::Instant::now();
    let photos = sources.len();
    let mut out = Vec::new();
    let mut no_face = Vec::new();
    let mut without = 0;
    for src in sources {
        bar.inc(1);
        let Ok(photo) = src.load_photo() else {
            out.push(src);
            continue;
        };
        let detections = detector
            .detect(&photo)
            .with_context(|| format!("{}: face detection", src.input()))?;
        let found = face_opts::select(&photo, &detections, mode);
        if found.is_empty() {
            without += 1;
            if mode == Detect::Auto {
                out.push(src);
            } else {
                no_face.push((src.input(), src.relative().to_string()));
            }
            continue;
        }
        let all = face_opts::select(&photo, &detections, Detect::All);
        let boxes = Arc::new(all.iter().map(|f| f.crop).collect::<Vec<_>>());
        let photo = Arc::new(src);
        for f in found {
            out.push(Source::Face {
                relative: face_opts::face_relative(photo.relative(), f.record.number),
                photo: photo.clone(),
                crop: f.crop,
                record: f.record,
                boxes: boxes.clone(),
            });
        }
    }
    bar.finish_and_clear();
    Ok(Detected {
        sources: out,
        no_face,
        photos,
        without,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Model and preset (or method) names must each name a folder of their own.
/// `labels` are the methods' output names ([`crate::methods::Methods::labels`]), `what` the
/// word for them in the message (`preset`, or `method` when there are methods besides LRP);
/// `files` are the `--model` files the models came from (none for the shipped ones).
pub fn check_names(
    models: &[Model],
    labels: &[String],
    what: &str,
    files: &[PathBuf],
) -> Result<()> {
    let names: Vec<String> = models.iter().map(|m| m.name.clone()).collect();
    dataset::distinct_names("model", &names).map_err(|e| {
        let name = names
            .iter()
            .enumerate()
            .find(|(i, n)| names[..*i].contains(n))
            .map(|(_, n)| n.clone())
            .unwrap_or_default();
        let clash: Vec<String> = names
            .iter()
            .zip(files)
            .filter(|(n, _)| **n == name)
            .map(|(_, f)| f.display().to_string())
            .collect();
        if clash.is_empty() {
            anyhow!("{e}")
        } else {
            anyhow!(
                "{e}: {} (run them one at a time, or rename a file)",
                clash.join(" and ")
            )
        }
    })?;
    Ok(dataset::distinct_names(what, labels)?)
}

/// Per model, an attributor per method of `methods`, `None` where the model is not explained
/// by it (a preset that is not one of its own, without `--preset`; see
/// [`Methods::applies`]). The memory budget bounds the copies per pass of SmoothGrad,
/// integrated gradients and occlusion; `images` as in [`Methods::for_model`].
pub fn attributors(
    models: &[Model],
    methods: &Methods,
    budget: Option<&common::MemoryBudget>,
    images: bool,
) -> Result<Vec<Vec<Option<Attributor>>>> {
    models
        .iter()
        .enumerate()
        .map(|(mi, m)| {
            methods
                .for_model(m, budget, images)?
                .into_iter()
                .enumerate()
                .map(|(c, method)| {
                    methods
                        .applies(mi, c)
                        .then(|| Attributor::new(m.graph.clone(), method))
                        .transpose()
                        .with_context(|| format!("model {}", m.name))
                })
                .collect::<Result<Vec<_>>>()
        })
        .collect()
}

/// `.npy` bytes of `a`.
pub fn npy_bytes(a: &ArrayD<f32>, path: &Path) -> Result<Vec<u8>> {
    use ndarray_npy::WriteNpyExt;
    let mut buf = Vec::new();
    a.write_npy(&mut buf)
        .map_err(|e| anyhow!("{}: cannot write: {e}", path.display()))?;
    Ok(buf)
}

/// The options that shape an entry's outputs besides the target (recorded in the manifest;
/// an entry made with other settings is redone).
fn settings(a: &ExplainArgs) -> String {
    let m: &ModelArgs = &a.model;
    let fb = a
        .input
        .explicit_box()
        .map(|b| format!("{},{},{},{}", b.left, b.top, b.right, b.bottom))
        .unwrap_or_else(|| "none".into());
    // Plain values, as a user would type them (`default` where the option was not given).
    fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
        v.map_or_else(|| "default".to_string(), |v| v.to_string())
    }
    let preprocess = common::preprocess_text(&m.preprocess);
    // Recorded only when not the default, so that manifests of earlier runs stay current.
    let heatmap = match a.heatmap {
        token_view::HeatmapArg::Auto => String::new(),
        h => format!(" heatmap={}", h.name()),
    };
    format!(
        "colormap={} upsample={} overlay={} npy={} json={} face-box={} faces={} \
         face-threshold={} preprocess={} flat={} epsilon={} stabilizer={} rules=[{}]{heatmap}",
        a.colormap,
        if a.bilinear { "bilinear" } else { "nearest" },
        a.overlay,
        a.npy,
        a.json,
        fb,
        a.input
            .faces
            .map_or_else(|| "auto".to_string(), |f| f.text()),
        a.input.face_threshold,
        preprocess,
        opt(a.rules.flat),
        opt(a.rules.epsilon),
        opt(a.rules.stabilizer),
        a.rules.rules.join(" ")
    )
}

/// How the heatmap PNGs look.
struct Look {
    cmap: Colormap,
    upsample: Upsample,
    overlay: bool,
}

/// One image of a batch, read and preprocessed (or why it could not be).
struct Item {
    /// Position in this run's list of images.
    index: usize,
    /// Which (model, preset) entries need writing, `m * presets + c`.
    needs: Vec<bool>,
    relative: String,
    input: String,
    /// The detected face this item is (`--faces`).
    face: Option<FaceRecord>,
    loaded: std::result::Result<Loaded, String>,
}

struct Loaded {
    crop: Arc<RgbImage>,
    /// The figure's picture of a detected face: its photo with the boxes outlined.
    photo: Option<Arc<RgbImage>>,
    /// Network input per model (`None` where no entry of the model is wanted).
    inputs: Vec<Option<Array3<f32>>>,
}

/// What the writer thread gets.
enum Message {
    Write(Box<WriteJob>),
    /// An image failed (to load, or under one model × preset): its manifest lines.
    Failed {
        index: usize,
        input: String,
        message: String,
        entries: Vec<Entry>,
    },
}

struct WriteJob {
    index: usize,
    model: usize,
    entry: Entry,
    maps: Vec<(Option<usize>, Array2<f32>)>,
    npy: Option<ArrayD<f32>>,
    crop: Arc<RgbImage>,
    /// Which heatmaps to write: the pixel maps (`maps`), the token maps (`token_maps`).
    views: Views,
    /// Patch-token relevance on the patch grid, one per map (vision transformers).
    token_maps: Vec<Array2<f32>>,
}

/// What the writer reports at the end.
#[derive(Default)]
struct Tally {
    failed: HashSet<usize>,
    first_error: Option<String>,
    written: usize,
}

/// The figure rows kept so far: label, crop and one cell per column (model × preset × view).
type FigureRows = Vec<Option<(String, Arc<RgbImage>, Vec<Option<Cell>>)>>;

pub fn run(a: &ExplainArgs, dest: Destination) -> Result<()> {
    let models = common::load_models(&a.model)?;
    let methods = Methods::parse(&a.rules, &a.methods, &models, "lrp")?;
    let labels = methods.labels();
    check_names(&models, &labels, methods.word(), &a.model.models)?;
    let target = common::parse_target(&a.target)?;
    let budget = a.model.memory_budget();
    let attributors = attributors(&models, &methods, budget.as_ref(), true)?;
    let (layouts, model_views) = token_view::plan(&models, a.heatmap);
    // The token view is LRP's: the other methods get pixel heatmaps only.
    let views: Vec<Views> = attributors
        .iter()
        .zip(&model_views)
        .flat_map(|(ats, v)| {
            ats.iter()
                .map(move |at| match at.as_ref().map(Attributor::method) {
                    Some(Method::Lrp(_)) => *v,
                    Some(_) => Views {
                        input: true,
                        tokens: false,
                    },
                    // Not explained by this method: no column.
                    None => Views {
                        input: false,
                        tokens: false,
                    },
                })
        })
        .collect();
    // Figure columns: per model × method, the pixel and the token view it gets.
    let mut columns: Vec<String> = Vec::new();
    let mut column_of: Vec<[Option<usize>; 2]> = Vec::new();
    for (m, model) in models.iter().enumerate() {
        for (c, label) in labels.iter().enumerate() {
            let v = views[m * labels.len() + c];
            let mut col = [None, None];
            if v.input {
                col[0] = Some(columns.len());
                columns.push(format!("{} · {label}", model.name));
            }
            if v.tokens {
                col[1] = Some(columns.len());
                columns.push(format!("{} · {label} · tokens", model.name));
            }
            column_of.push(col);
        }
    }
    // Faults that would fail every image are refused before the first one.
    for m in &models {
        let n = m.classes();
        let bad = match &target {
            Target::Class(c) => (*c >= n).then_some(*c),
            Target::Classes(cs) => cs.iter().copied().find(|&c| c >= n),
            _ => None,
        };
        if let Some(c) = bad {
            bail!(
                "model {}: target class {c} does not exist: the model has {n} classes (0..{})",
                m.name,
                n.saturating_sub(1)
            );
        }
    }
    if let Some(b) = a.input.explicit_box() {
        if b.right <= b.left || b.bottom <= b.top {
            bail!(
                "--face-box {},{},{},{}: selects no pixel (right must exceed left, bottom top)",
                b.left,
                b.top,
                b.right,
                b.bottom
            );
        }
    }
    if !(1..=MAX_BATCH).contains(&a.batch_size) {
        bail!("--batch-size {}: expected 1 to {MAX_BATCH}", a.batch_size);
    }
    if a.figure_rows > MAX_FIGURE_ROWS {
        bail!("--figure-rows {}: at most {MAX_FIGURE_ROWS}", a.figure_rows);
    }
    let look = Look {
        cmap: Colormap::from_name(&a.colormap)?,
        upsample: if a.bilinear {
            Upsample::Bilinear
        } else {
            Upsample::Nearest
        },
        overlay: a.overlay,
    };
    let (out, shard, figure_path) = match &dest {
        Destination::Dataset { out, shard } => {
            std::fs::create_dir_all(out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            let fig = (shard.is_none() && a.figure_rows > 0).then(|| out.join("figure.png"));
            (Some(out.clone()), *shard, fig)
        }
        Destination::FigureOnly(path) => (None, None, Some(path.clone())),
    };
    let figure_rows = if figure_path.is_some() {
        a.figure_rows.max(usize::from(out.is_none()))
    } else {
        0
    };
    let any_tokens = views.iter().any(|v| v.tokens);
    let mut sources = sources(
        a,
        out.as_deref(),
        &models,
        figure_path.as_deref(),
        any_tokens,
    )?;
    if let Some(s) = shard {
        sources.retain(|src| s.contains(src.relative()));
    }
    // --faces: each photo becomes its faces (a shard keeps all faces of its photos).
    let detect = face_opts::resolve(&a.input, &models, a.input.images.is_empty());
    let mut detected = None;
    if detect != Detect::Off {
        let d = detect_faces(std::mem::take(&mut sources), a, detect)?;
        let names: HashSet<&str> = d.sources.iter().map(Source::relative).collect();
        for (input, relative) in &d.no_face {
            if names.contains(relative.as_str()) {
                bail!("{input}: its name is that of a detected face of another photo; rename it");
            }
        }
        if names.len() < d.sources.len() {
            bail!(
                "two inputs would write outputs of the same name (a photo named like a face \
                 of another, `x_face1.jpg`); rename one"
            );
        }
        sources = d.sources;
        detected = Some((d.no_face, d.photos, d.without, d.seconds));
    }
    if out.is_none() {
        sources.truncate(figure_rows);
    }
    let (nm, nc) = (models.len(), labels.len());
    let common_settings = settings(a);
    // Per method: the common settings and its own parameters.
    let settings: Vec<String> = (0..nc)
        .map(|c| format!("{common_settings}{}", methods.settings(c)))
        .collect();
    let settings_of: HashMap<&str, &str> = labels
        .iter()
        .map(String::as_str)
        .zip(settings.iter().map(String::as_str))
        .collect();
    let target_text = a.target.trim().to_string();
    // Resume: what the manifests already list as done.
    let (previous, done) = match &out {
        Some(out) => {
            let (latest, damaged) = manifest::latest_in(out)?;
            if damaged > 0 {
                errln!(
                    "lrp: warning: {damaged} damaged manifest line(s) in {} skipped (a killed run?)",
                    out.display()
                );
            }
            let layout = OutputLayout::new(out);
            let done: HashSet<Key> = latest
                .values()
                .filter(|e| {
                    !a.force
                        && e.status == Status::Ok
                        && e.target == target_text
                        && settings_of.get(e.preset.as_str()) == Some(&e.settings.as_str())
                        && e.files
                            .iter()
                            .all(|f| OutputLayout::is_safe(f) && layout.path(f).is_file())
                })
                .map(Entry::key)
                .collect();
            let previous: HashMap<Key, Vec<String>> =
                latest.into_iter().map(|(k, e)| (k, e.files)).collect();
            (previous, done)
        }
        None => (HashMap::new(), HashSet::new()),
    };
    // The plan: each image with the entries it needs (none for a figure row already done).
    let mut todo: Vec<(usize, Vec<bool>)> = Vec::new();
    let mut skipped = 0usize;
    for (i, s) in sources.iter().enumerate() {
        let needs: Vec<bool> = (0..nm * nc)
            .map(|mc| {
                out.is_some() && methods.applies(mc / nc, mc % nc) && {
                    let key = (
                        s.relative().to_string(),
                        models[mc / nc].name.clone(),
                        labels[mc % nc].clone(),
                    );
                    !done.contains(&key)
                }
            })
            .collect();
        let any = needs.iter().any(|&n| n);
        if !any && out.is_some() {
            skipped += 1;
        }
        if any || i < figure_rows {
            todo.push((i, needs));
        }
    }
    let no_face: Vec<(String, String)> = detected.as_ref().map(|d| d.0.clone()).unwrap_or_default();
    if sources.is_empty() && no_face.is_empty() {
        match shard {
            Some(s) => outln!("shard {s} holds no images"),
            None => bail!("no PNG or JPEG images found in the given paths"),
        }
    }
    let total_work = todo.iter().filter(|(_, n)| n.iter().any(|&x| x)).count();
    let manifest_path = out.as_ref().map(|o| match shard {
        Some(s) => o.join(format!("manifest.{}.jsonl", s.tag())),
        None => o.join("manifest.jsonl"),
    });
    for (input, _) in &no_face {
        errln!("lrp: {input}: no face found");
    }
    if let (Some(p), false) = (&manifest_path, no_face.is_empty()) {
        let mut w = ManifestWriter::append(p)?;
        for (input, relative) in &no_face {
            for (mi, m) in models.iter().enumerate() {
                let theirs = (labels.iter().zip(&settings).enumerate())
                    .filter(|&(c, _)| methods.applies(mi, c))
                    .map(|(_, ls)| ls);
                for (label, settings) in theirs {
                    w.write(&Entry {
                        input: input.clone(),
                        relative: relative.clone(),
                        model: m.name.clone(),
                        preset: label.clone(),
                        target: target_text.clone(),
                        settings: settings.clone(),
                        status: Status::Ok,
                        error: Some("no face found".into()),
                        prediction: None,
                        probabilities: Vec::new(),
                        maps: Vec::new(),
                        files: Vec::new(),
                        details: None,
                        face: None,
                    })?;
                }
            }
        }
    }
    let writer_manifest = match (&manifest_path, total_work) {
        (Some(p), n) if n > 0 => Some(ManifestWriter::append(p)?),
        _ => None,
    };
    let bar = if todo.len() >= 8 {
        let bar = ProgressBar::new(todo.len() as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>10} [{bar:40}] {pos}/{len} {per_sec} ETA {eta} ({elapsed})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix("explaining");
        bar
    } else {
        ProgressBar::hidden()
    };
    let layout = out.as_ref().map(OutputLayout::new);
    let preprocs: Vec<Preprocess> = models.iter().map(|m| m.preprocess.clone()).collect();
    let total_images = todo.len();
    let mut rows: FigureRows = (0..figure_rows.min(sources.len())).map(|_| None).collect();

    let (tally, loop_result) = std::thread::scope(|scope| {
        let (batch_tx, batch_rx) = sync_channel::<Vec<Item>>(2);
        let (job_tx, job_rx) = sync_channel::<Message>(2 * a.batch_size * nm * nc + 8);
        let (sources, todo, face_box) = (&sources, &todo, a.input.explicit_box());
        let preprocs_ref = &preprocs;
        // The batch must also fit the memory budget of every model (--max-memory).
        let batch_size = models
            .iter()
            .map(|m| common::max_batch(m, budget.as_ref()))
            .fold(a.batch_size, usize::min);
        let shape = (nc, rows.len(), batch_size);
        let overlay = a.overlay;
        scope.spawn(move || {
            read_batches(
                sources,
                todo,
                face_box,
                overlay,
                preprocs_ref,
                shape,
                batch_tx,
            )
        });
        let writer = {
            let bar = bar.clone();
            let (layout, look, preprocs, previous) = (&layout, &look, &preprocs, &previous);
            scope.spawn(move || {
                write_results(
                    job_rx,
                    layout.as_ref(),
                    look,
                    preprocs,
                    previous,
                    writer_manifest,
                    &bar,
                    total_images,
                )
            })
        };
        let ctx = Ctx {
            models: &models,
            labels: &labels,
            attributors: &attributors,
            target: &target,
            target_text: &target_text,
            settings: &settings,
            json: a.json,
            npy: a.npy,
            layouts: &layouts,
            views: &views,
            column_of: &column_of,
            columns: columns.len(),
        };
        let result = explain_batches(&ctx, batch_rx, &job_tx, &mut rows, &bar);
        drop(job_tx);
        let tally = writer
            .join()
            .unwrap_or_else(|_| Err(anyhow!("the writer thread failed")));
        (tally, result)
    });
    bar.finish_and_clear();
    // A writer that stopped (a manifest that cannot be written) explains why the loop did.
    let tally = tally?;
    loop_result?;

    // The figure: the first rows, each with a cell per model × preset.
    if let Some(path) = &figure_path {
        let mut figure = Figure::new(columns)
            .colormap(look.cmap.clone())
            .upsample(look.upsample);
        if a.overlay {
            figure = figure.overlay(0.6, 0.85);
        }
        let mut any = false;
        for (label, crop, cells) in rows.into_iter().flatten() {
            let mut row = Row::new((*crop).clone()).label(label);
            for cell in cells {
                row = match cell {
                    Some(c) => row.cell(c),
                    None => row.blank(),
                };
            }
            figure.push_row(row);
            any = true;
        }
        if any {
            let png = heatmap::encode_png(&figure.render()?)?;
            dataset::write_atomic(path, &png)?;
            let default_run = a.model.models.is_empty() && a.input.images.is_empty();
            if default_run && out.is_some() {
                let names: Vec<String> = models
                    .iter()
                    .enumerate()
                    .map(|(mi, m)| {
                        let theirs: Vec<&str> = (labels.iter().enumerate())
                            .filter(|&(c, _)| methods.applies(mi, c))
                            .map(|(_, l)| l.as_str())
                            .collect();
                        format!("{} ({})", m.name, theirs.join(", "))
                    })
                    .collect();
                outln!(
                    "Explained the shipped models {} on {} portraits.",
                    names.join(", "),
                    sources.len()
                );
            }
            outln!("figure: {}", path.display());
        }
    }
    if let Some(p) = &manifest_path {
        if total_work > 0 || skipped > 0 {
            outln!(
                "manifest: {} ({} entries written, {} of {} images already done)",
                p.display(),
                tally.written,
                skipped,
                sources.len()
            );
        }
    }
    if let Some((_, photos, without, seconds)) = &detected {
        let faces = sources.iter().filter(|s| s.face().is_some()).count();
        outln!(
            "faces: {faces} found in {photos} photo(s), {without} without a face{}; detection {:.1} ms per photo",
            if detect == Detect::Auto && *without > 0 {
                " (explained whole)"
            } else {
                ""
            },
            1000.0 * seconds / (*photos).max(1) as f64
        );
    }
    let failed = tally.failed.len();
    if failed > 0 {
        if total_images == 1 {
            bail!("{}", tally.first_error.unwrap_or_default());
        }
        let where_ = manifest_path
            .map(|p| format!("; see {}", p.display()))
            .unwrap_or_default();
        bail!("{failed} of {total_images} images failed{where_}");
    }
    Ok(())
}

/// The images of `--image` (or the shipped portraits), with the output folder left out of
/// folder scans, refusing inputs that outputs of this run would overwrite.
fn sources(
    a: &ExplainArgs,
    out: Option<&Path>,
    models: &[Model],
    figure: Option<&Path>,
    tokens: bool,
) -> Result<Vec<Source>> {
    if a.input.images.is_empty() {
        return Ok(vec![
            Source::Shipped {
                relative: "astronaut.png",
                bytes: lrp::assets::ASTRONAUT_PNG,
                face: lrp::assets::ASTRONAUT_FACE,
            },
            Source::Shipped {
                relative: "grace_hopper.jpg",
                bytes: lrp::assets::GRACE_HOPPER_JPG,
                face: lrp::assets::GRACE_HOPPER_FACE,
            },
        ]);
    }
    let canon_out = out.and_then(|o| std::fs::canonicalize(o).ok());
    if let Some(co) = &canon_out {
        for p in &a.input.images {
            if p.is_dir() && std::fs::canonicalize(p).ok().as_ref() == Some(co) {
                bail!(
                    "--out {} is the input folder {}: a rerun would explain its own heatmaps; \
                     choose another folder (one inside it is fine: it is left out of the scan)",
                    out.map(|o| o.display().to_string()).unwrap_or_default(),
                    p.display()
                );
            }
        }
    }
    let exclude: Vec<PathBuf> = out.map(Path::to_path_buf).into_iter().collect();
    let files = dataset::discover(&a.input.images, &exclude)?;
    // Inputs that outputs of this run would overwrite.
    let figure = figure.and_then(|f| {
        let parent = f
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::canonicalize(parent)
            .ok()
            .map(|p| p.join(f.file_name().unwrap_or_default()))
    });
    for f in &files {
        if figure.as_ref() == Some(&f.resolved) {
            bail!(
                "{}: the figure would overwrite this input; choose another --out",
                f.path.display()
            );
        }
        if let Some(rest) = canon_out
            .as_ref()
            .and_then(|co| f.resolved.strip_prefix(co).ok())
        {
            let first = rest
                .components()
                .next()
                .map(|c| c.as_os_str().to_string_lossy().into_owned());
            if models.iter().any(|m| Some(&m.name) == first.as_ref()) {
                bail!(
                    "{}: this input lies in an output folder of this run ({}); lrp would \
                     overwrite or explain its own outputs",
                    f.path.display(),
                    out.map(|o| o.join(first.unwrap_or_default()).display().to_string())
                        .unwrap_or_default()
                );
            }
        }
    }
    // Two inputs whose output names would meet: `x.jpg` and `x.jpg.overlay` with --overlay,
    // `x.jpg` and `x.jpg.class3` with several targets.
    if out.is_some() {
        let names: HashSet<&str> = files.iter().map(|f| f.relative.as_str()).collect();
        let multi = !matches!(
            common::parse_target(&a.target)?,
            Target::Predicted | Target::Class(_)
        );
        for f in &files {
            let mut r = f.relative.as_str();
            if a.overlay {
                r = r.strip_suffix(".overlay").unwrap_or(r);
            }
            if tokens {
                r = r.strip_suffix(".tokens").unwrap_or(r);
            }
            let base = if multi {
                match r.rsplit_once(".class") {
                    Some((b, k)) if !k.is_empty() && k.bytes().all(|c| c.is_ascii_digit()) => b,
                    _ => r,
                }
            } else {
                r
            };
            if base != f.relative && names.contains(base) {
                bail!(
                    "inputs `{base}` and `{}` would write outputs of the same name; rename one",
                    f.relative
                );
            }
        }
    }
    Ok(files.into_iter().map(Source::File).collect())
}

/// The reader thread: loads `batch_size` images at a time.
#[allow(clippy::too_many_arguments)]
fn read_batches(
    sources: &[Source],
    todo: &[(usize, Vec<bool>)],
    face_box: Option<FaceBox>,
    overlay: bool,
    preprocs: &[Preprocess],
    (nc, figure_rows, batch_size): (usize, usize, usize),
    tx: SyncSender<Vec<Item>>,
) {
    for chunk in todo.chunks(batch_size) {
        let batch: Vec<Item> = chunk
            .iter()
            .map(|(i, needs)| {
                let s = &sources[*i];
                // Overlays blend onto the crop; otherwise a face row shows its photo.
                let figure = *i < figure_rows && !overlay;
                let loaded = s
                    .load(face_box, figure)
                    .map_err(|e| e.to_string())
                    .and_then(|(crop, photo)| {
                        let inputs = preprocs
                            .iter()
                            .enumerate()
                            .map(|(m, p)| {
                                // Every model runs on a figure row; otherwise only where needed.
                                let wanted = *i < figure_rows
                                    || needs[m * nc..(m + 1) * nc].iter().any(|&n| n);
                                wanted.then(|| p.apply(&crop)).transpose()
                            })
                            .collect::<lrp::Result<Vec<_>>>()
                            .map_err(|e| format!("{}: {e}", s.input()))?;
                        Ok(Loaded {
                            crop: Arc::new(crop),
                            photo: photo.map(Arc::new),
                            inputs,
                        })
                    });
                Item {
                    index: *i,
                    needs: needs.clone(),
                    relative: s.relative().to_string(),
                    input: s.input(),
                    face: s.face(),
                    loaded,
                }
            })
            .collect();
        if tx.send(batch).is_err() {
            return;
        }
    }
}

/// What the main thread's explaining needs.
struct Ctx<'a> {
    models: &'a [Model],
    /// Per method: its output name (the preset's for LRP).
    labels: &'a [String],
    /// Per model × method; `None` where the model is not explained by the method.
    attributors: &'a [Vec<Option<Attributor>>],
    target: &'a Target,
    target_text: &'a str,
    /// Per method: the settings its manifest entries record.
    settings: &'a [String],
    json: bool,
    npy: bool,
    /// Per model: its token layout (vision transformers).
    layouts: &'a [Option<TokenLayout>],
    /// Per model × method: the heatmaps it gets.
    views: &'a [Views],
    /// Per model × method: its figure columns (pixel view, token view).
    column_of: &'a [[Option<usize>; 2]],
    /// Number of figure columns.
    columns: usize,
}

impl Ctx<'_> {
    /// Explains `x` with model `m` by `at` (one of its methods), with the token relevance of a
    /// vision transformer explained by LRP (empty otherwise).
    fn explain(
        &self,
        m: usize,
        at: &Attributor,
        x: &Tensor,
    ) -> lrp::Result<(Explanation, Vec<TokenRelevance>)> {
        match (&self.layouts[m], at.method()) {
            (Some(layout), Method::Lrp(_)) => layout.explain(at.explainer(), x, self.target),
            _ => Ok((at.attribute(x, self.target)?, Vec::new())),
        }
    }

    fn entry(&self, item: &Item, m: usize, c: usize) -> Entry {
        Entry {
            input: item.input.clone(),
            relative: item.relative.clone(),
            model: self.models[m].name.clone(),
            preset: self.labels[c].clone(),
            target: self.target_text.to_string(),
            settings: self.settings[c].clone(),
            status: Status::Ok,
            error: None,
            prediction: None,
            probabilities: Vec::new(),
            maps: Vec::new(),
            files: Vec::new(),
            details: None,
            face: item.face.clone(),
        }
    }

    fn failed(&self, item: &Item, mcs: &[usize], message: &str) -> Message {
        let nc = self.labels.len();
        let entries = mcs
            .iter()
            .map(|&mc| {
                let mut e = self.entry(item, mc / nc, mc % nc);
                e.status = Status::Failed;
                e.error = Some(lrp::error::one_line(message));
                e
            })
            .collect();
        Message::Failed {
            index: item.index,
            input: item.input.clone(),
            message: message.to_string(),
            entries,
        }
    }
}

/// The main thread: explains each batch for every model × preset an image needs.
fn explain_batches(
    ctx: &Ctx,
    rx: Receiver<Vec<Item>>,
    tx: &SyncSender<Message>,
    rows: &mut FigureRows,
    bar: &ProgressBar,
) -> Result<()> {
    let (nm, nc) = (ctx.models.len(), ctx.labels.len());
    let send = |m: Message| tx.send(m).map_err(|_| anyhow!("the writer thread stopped"));
    for batch in rx {
        for item in &batch {
            if let Err(msg) = &item.loaded {
                let mcs: Vec<usize> = (0..nm * nc).filter(|&mc| item.needs[mc]).collect();
                send(ctx.failed(item, &mcs, msg))?;
            }
        }
        for m in 0..nm {
            let ok: Vec<&Item> = batch
                .iter()
                .filter(|it| matches!(&it.loaded, Ok(l) if l.inputs[m].is_some()))
                .collect();
            for c in 0..nc {
                let Some(at) = ctx.attributors[m][c].as_ref() else {
                    continue;
                };
                let members: Vec<&Item> = ok
                    .iter()
                    .copied()
                    .filter(|it| it.needs[m * nc + c] || it.index < rows.len())
                    .collect();
                if members.is_empty() {
                    continue;
                }
                let x = stack(&members, m)?;
                match ctx.explain(m, at, &x) {
                    Ok((e, tokens)) => {
                        for (row, item) in members.iter().enumerate() {
                            handle(ctx, item, m, c, (&e, &tokens), row, rows, &send)?;
                        }
                    }
                    // Find the image at fault: explain them one by one.
                    Err(_) => {
                        for item in &members {
                            let x1 = stack(&[item], m)?;
                            match ctx.explain(m, at, &x1) {
                                Ok((e, tokens)) => {
                                    handle(ctx, item, m, c, (&e, &tokens), 0, rows, &send)?
                                }
                                Err(err) => {
                                    let msg = format!(
                                        "{}: model {}: {err}",
                                        item.input, ctx.models[m].name
                                    );
                                    let mcs = if item.needs[m * nc + c] {
                                        vec![m * nc + c]
                                    } else {
                                        vec![]
                                    };
                                    send(ctx.failed(item, &mcs, &msg))?;
                                }
                            }
                        }
                    }
                }
            }
        }
        bar.inc(batch.len() as u64);
    }
    Ok(())
}

/// The input tensor of model `m` for `items`.
fn stack(items: &[&Item], m: usize) -> Result<Tensor> {
    let views: Vec<_> = items
        .iter()
        .filter_map(|it| it.loaded.as_ref().ok())
        .filter_map(|l| l.inputs[m].as_ref().map(|a| a.view()))
        .collect();
    Ok(ndarray::stack(Axis(0), &views)?.into_dyn())
}

/// The manifest's prediction: the class, its label and softmax probability; for a regression
/// output the value with the model's words for it (`age 47.3 years`) as the label.
fn regression_or_class(model: &Model, logits: &[f32], pred: usize, probs: &[f32]) -> Prediction {
    if model.is_regression() {
        Prediction {
            class: 0,
            label: model.describe(logits),
            probability: 1.0,
            value: logits.first().copied(),
        }
    } else {
        Prediction {
            class: pred,
            label: model.label(pred),
            probability: probs[pred],
            value: None,
        }
    }
}

/// Image `row` of explanation `e`: its figure cell, and its entry for the writer.
#[allow(clippy::too_many_arguments)]
fn handle(
    ctx: &Ctx,
    item: &Item,
    m: usize,
    c: usize,
    (e, tokens): (&Explanation, &[TokenRelevance]),
    row: usize,
    rows: &mut FigureRows,
    send: &impl Fn(Message) -> Result<()>,
) -> Result<()> {
    let nc = ctx.labels.len();
    let model = &ctx.models[m];
    let loaded = item.loaded.as_ref().map_err(|e| anyhow!("{e}"))?;
    let k = e.relevance.shape()[1];
    let logits = e.logits.row(row).to_vec();
    let (probs, pred) = (softmax(&logits), argmax(&logits));
    let mut maps = Vec::with_capacity(k);
    for j in 0..k {
        let map = heatmap::reduce(
            e.relevance.slice(ndarray::s![row, j, .., .., ..]),
            Reduce::Sum,
        )?;
        let class = e.targets.get(row).and_then(|t| t.get(j)).copied();
        maps.push((class, map));
    }
    // This image's token maps and numbers (vision transformers), one per map.
    let mine = tokens.get(row * k..(row + 1) * k).unwrap_or(&[]);
    let views = ctx.views[m * nc + c];
    if let Some(slot) = rows.get_mut(item.index) {
        let shown = maps[0].0.unwrap_or(pred);
        let r = slot.get_or_insert_with(|| {
            let label = match &item.face {
                Some(f) => format!("{} ({:.2})", item.relative, f.score),
                None => item.relative.clone(),
            };
            (
                label,
                loaded.photo.clone().unwrap_or_else(|| loaded.crop.clone()),
                vec![None; ctx.columns],
            )
        });
        let [input_col, token_col] = ctx.column_of[m * nc + c];
        let cells = [
            (input_col, Some(&maps[0].1)),
            (token_col, mine.first().map(|t| &t.map)),
        ];
        for (col, map) in cells {
            if let (Some(col), Some(map)) = (col, map) {
                let cell = if model.is_regression() {
                    Cell::new(map.clone()).label(model.describe(&logits))
                } else {
                    Cell::new(map.clone()).prediction(&model.label(shown), probs[shown])
                };
                r.2[col] = Some(cell);
            }
        }
    }
    if !item.needs[m * nc + c] {
        return Ok(());
    }
    let mut entry = ctx.entry(item, m, c);
    entry.prediction = Some(regression_or_class(model, &logits, pred, &probs));
    entry.maps = maps
        .iter()
        .enumerate()
        .map(|(j, (class, map))| MapEntry {
            class: *class,
            label: class.map(|c| model.label(c)),
            relevance_sum: e.input_sum(row * k + j),
            positive_share: positive_share(map),
            tokens: match (&ctx.layouts[m], mine.get(j)) {
                (Some(layout), Some(t)) => Some(token_view::entry(layout, t)),
                _ => None,
            },
        })
        .collect();
    if !model.is_regression() {
        entry.probabilities = probs;
    }
    if ctx.json {
        let one = Explanation {
            relevance: e.relevance.select(Axis(0), &[row]),
            logits: e.logits.select(Axis(0), &[row]),
            targets: e.targets.get(row).cloned().into_iter().collect(),
            layers: None,
            conservation: e
                .conservation
                .iter()
                .map(|l| lrp::explain::LayerConservation {
                    node: l.node.clone(),
                    kind: l.kind,
                    relevance_out: l.relevance_out[row * k..(row + 1) * k].to_vec(),
                    relevance_in: l.relevance_in[row * k..(row + 1) * k].to_vec(),
                })
                .collect(),
        };
        let s = ExplanationSummary::new(
            model,
            &ctx.labels[c],
            std::slice::from_ref(&item.relative),
            &one,
        )?;
        entry.details = s.images.first().map(|i| {
            let mut d = serde_json::json!({ "logits": i.logits, "maps": i.maps, "conservation": i.conservation });
            if !mine.is_empty() {
                // The token numbers, and the patch-token maps themselves (row-major grids).
                d["tokens"] = serde_json::json!(mine
                    .iter()
                    .map(|t| serde_json::json!({
                        "patches": t.patches,
                        "class_token": t.class_token,
                        "position": t.position,
                        "stem": t.stem,
                        "logit": t.logit,
                        "map": t.map.rows().into_iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
                    }))
                    .collect::<Vec<_>>());
            }
            d
        });
    }
    let npy = ctx.npy.then(|| {
        let r = e.relevance.index_axis(Axis(0), row);
        if k == 1 {
            r.index_axis(Axis(0), 0).to_owned()
        } else {
            r.to_owned()
        }
    });
    send(Message::Write(Box::new(WriteJob {
        index: item.index,
        model: m,
        entry,
        maps,
        npy,
        crop: loaded.crop.clone(),
        views,
        token_maps: if views.tokens {
            mine.iter().map(|t| t.map.clone()).collect()
        } else {
            Vec::new()
        },
    })))
}

/// The writer thread: PNGs, npy files, stale files, manifest lines, failure lines.
#[allow(clippy::too_many_arguments)]
fn write_results(
    rx: Receiver<Message>,
    layout: Option<&OutputLayout>,
    look: &Look,
    preprocs: &[Preprocess],
    previous: &HashMap<Key, Vec<String>>,
    mut manifest: Option<ManifestWriter>,
    bar: &ProgressBar,
    total: usize,
) -> Result<Tally> {
    let mut tally = Tally::default();
    let report = |tally: &mut Tally, index: usize, input: &str, message: &str| {
        if !tally.failed.insert(index) {
            return;
        }
        let line = if message.contains(input) {
            lrp::error::one_line(message)
        } else {
            lrp::error::one_line(&format!("{input}: {message}"))
        };
        if total > 1 {
            bar.suspend(|| errln!("lrp: error: {line}"));
        }
        tally.first_error.get_or_insert(line);
    };
    for msg in rx {
        let entries = match msg {
            Message::Failed {
                index,
                input,
                message,
                entries,
            } => {
                report(&mut tally, index, &input, &message);
                entries
            }
            Message::Write(job) => {
                let Some(layout) = layout else { continue };
                let mut entry = job.entry.clone();
                match write_entry(&job, layout, look, &preprocs[job.model]) {
                    Ok(files) => entry.files = files,
                    Err(e) => {
                        let message = e.to_string();
                        report(&mut tally, job.index, &entry.input, &message);
                        entry = Entry {
                            status: Status::Failed,
                            error: Some(lrp::error::one_line(&message)),
                            prediction: None,
                            probabilities: Vec::new(),
                            maps: Vec::new(),
                            files: Vec::new(),
                            details: None,
                            ..entry
                        };
                    }
                }
                vec![entry]
            }
        };
        for entry in entries {
            if let Some(w) = manifest.as_mut() {
                w.write(&entry)?;
                tally.written += 1;
            }
            // Files an earlier run wrote for this entry and this run did not: stale.
            if let (Some(layout), Some(old)) = (layout, previous.get(&entry.key())) {
                for f in old {
                    if OutputLayout::is_safe(f) && !entry.files.contains(f) {
                        let _ = std::fs::remove_file(layout.path(f));
                    }
                }
            }
        }
    }
    Ok(tally)
}

/// Writes one entry's files; on failure removes those it wrote.
fn write_entry(
    job: &WriteJob,
    layout: &OutputLayout,
    look: &Look,
    preprocess: &Preprocess,
) -> Result<Vec<String>> {
    let mut files = Vec::new();
    let result = write_entry_files(job, layout, look, preprocess, &mut files);
    if result.is_err() {
        for f in &files {
            let _ = std::fs::remove_file(layout.path(f));
        }
    }
    result.map(|()| files)
}

fn write_entry_files(
    job: &WriteJob,
    layout: &OutputLayout,
    look: &Look,
    preprocess: &Preprocess,
    files: &mut Vec<String>,
) -> Result<()> {
    let e = &job.entry;
    let display = preprocess.display_image(&job.crop);
    let (h, w) = (display.height() as usize, display.width() as usize);
    let k = job.maps.len();
    let mut put = |suffix: &str, bytes: &[u8]| -> Result<()> {
        let name = layout.relative_output(&e.model, &e.preset, &e.relative, suffix);
        dataset::write_atomic(&layout.path(&name), bytes)?;
        files.push(name);
        Ok(())
    };
    for (j, (class, map)) in job.maps.iter().enumerate() {
        let tag = if k > 1 {
            format!(".class{}", class.unwrap_or(j))
        } else {
            String::new()
        };
        // The pixel heatmap, then the token heatmap (the patch grid, upsampled the same way).
        let token = job.token_maps.get(j).map(|t| (t, ".tokens"));
        let pixel = job.views.input.then_some((map, ""));
        for (map, view) in pixel.into_iter().chain(token) {
            let norm = heatmap::normalize(map, &Normalize::default())?;
            let img = heatmap::render_upsampled(&norm.map, &look.cmap, h, w, look.upsample)?;
            put(&format!("{tag}{view}.png"), &heatmap::encode_png(&img)?)?;
            if look.overlay {
                let up = heatmap::upsample(&norm.map, h, w, look.upsample)?;
                let ov = heatmap::overlay(&display, &up, &look.cmap, 0.6, 0.85)?;
                put(
                    &format!("{tag}{view}.overlay.png"),
                    &heatmap::encode_png(&ov)?,
                )?;
            }
        }
    }
    if let Some(r) = &job.npy {
        let name = layout.relative_output(&e.model, &e.preset, &e.relative, ".npy");
        let bytes = npy_bytes(r, &layout.path(&name))?;
        put(".npy", &bytes)?;
        // The token maps: gh×gw, or K×gh×gw for several targets.
        if let Some(first) = job.token_maps.first() {
            let views: Vec<_> = job.token_maps.iter().map(|t| t.view()).collect();
            let stacked = ndarray::stack(Axis(0), &views)?.into_dyn();
            let t = if k == 1 {
                first.clone().into_dyn()
            } else {
                stacked
            };
            let name = layout.relative_output(&e.model, &e.preset, &e.relative, ".tokens.npy");
            let bytes = npy_bytes(&t, &layout.path(&name))?;
            put(".tokens.npy", &bytes)?;
        }
    }
    Ok(())
}
