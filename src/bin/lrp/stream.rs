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
use anyhow::{anyhow, bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use lrp::compare::{positive_share, ExplanationSummary};
use lrp::composite::Composite;
use lrp::dataset::manifest::{self, Key, MapEntry, Prediction};
use lrp::dataset::{self, Entry, InputFile, ManifestWriter, OutputLayout, Shard, Status};
use lrp::explain::{Explainer, Explanation, Target};
use lrp::graph::{argmax, softmax};
use lrp::heatmap::{self, Cell, Colormap, Figure, Normalize, Reduce, Row, Upsample};
use lrp::model::Model;
use lrp::preprocess::{self, FaceBox, Preprocess, RgbImage};
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

/// One input: a file, or a shipped portrait.
enum Source {
    File(InputFile),
    Shipped {
        relative: &'static str,
        bytes: &'static [u8],
        face: [i64; 4],
    },
}

impl Source {
    fn relative(&self) -> &str {
        match self {
            Source::File(f) => &f.relative,
            Source::Shipped { relative, .. } => relative,
        }
    }

    fn input(&self) -> String {
        match self {
            Source::File(f) => f.path.display().to_string(),
            Source::Shipped { relative, .. } => format!("shipped:{relative}"),
        }
    }

    fn load(&self, face_box: Option<FaceBox>) -> lrp::Result<RgbImage> {
        match self {
            Source::File(f) => preprocess::load_face(&f.path, face_box),
            Source::Shipped {
                relative,
                bytes,
                face,
            } => {
                let b = face_box.unwrap_or(FaceBox::new(face[0], face[1], face[2], face[3]));
                preprocess::crop(&preprocess::decode_rgb(bytes, relative)?, b)
            }
        }
    }
}

/// Model and preset names must each name a folder of their own.
/// `files` are the `--model` files the models came from (none for the shipped ones).
pub fn check_names(models: &[Model], comps: &[Composite], files: &[PathBuf]) -> Result<()> {
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
    let presets: Vec<String> = comps.iter().map(|c| c.name().to_string()).collect();
    Ok(dataset::distinct_names("preset", &presets)?)
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
        .face_box
        .map(|b| format!("{},{},{},{}", b.left, b.top, b.right, b.bottom))
        .unwrap_or_else(|| "none".into());
    // Plain values, as a user would type them (`default` where the option was not given).
    fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
        v.map_or_else(|| "default".to_string(), |v| v.to_string())
    }
    let preprocess = clap::ValueEnum::to_possible_value(&m.preprocess)
        .map_or_else(|| "auto".to_string(), |v| v.get_name().to_string());
    format!(
        "colormap={} upsample={} overlay={} npy={} json={} face-box={} preprocess={} \
         flat={} epsilon={} stabilizer={} rules=[{}]",
        a.colormap,
        if a.bilinear { "bilinear" } else { "nearest" },
        a.overlay,
        a.npy,
        a.json,
        fb,
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
    loaded: std::result::Result<Loaded, String>,
}

struct Loaded {
    crop: Arc<RgbImage>,
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
}

/// What the writer reports at the end.
#[derive(Default)]
struct Tally {
    failed: HashSet<usize>,
    first_error: Option<String>,
    written: usize,
}

/// The figure rows kept so far: label, crop and one cell per model × preset.
type FigureRows = Vec<Option<(String, Arc<RgbImage>, Vec<Option<Cell>>)>>;

pub fn run(a: &ExplainArgs, dest: Destination) -> Result<()> {
    let models = common::load_models(&a.model)?;
    let comps = common::composites(&a.rules)?;
    check_names(&models, &comps, &a.model.models)?;
    let target = common::parse_target(&a.target)?;
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
    if let Some(b) = a.input.face_box {
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
    let mut sources = sources(a, out.as_deref(), &models, figure_path.as_deref())?;
    if let Some(s) = shard {
        sources.retain(|src| s.contains(src.relative()));
    }
    if out.is_none() {
        sources.truncate(figure_rows);
    }
    let (nm, nc) = (models.len(), comps.len());
    let settings = settings(a);
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
                        && e.settings == settings
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
                out.is_some() && {
                    let key = (
                        s.relative().to_string(),
                        models[mc / nc].name.clone(),
                        comps[mc % nc].name().to_string(),
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
    if sources.is_empty() {
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
    let writer_manifest = match (&manifest_path, total_work) {
        (Some(p), n) if n > 0 => Some(ManifestWriter::append(p)?),
        _ => None,
    };
    let explainers: Vec<Vec<Explainer>> = models
        .iter()
        .map(|m| {
            comps
                .iter()
                .map(|c| {
                    Explainer::new(m.graph.clone(), c).with_context(|| format!("model {}", m.name))
                })
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<_>>()?;
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
        let (sources, todo, face_box) = (&sources, &todo, a.input.face_box);
        let preprocs_ref = &preprocs;
        // The batch must also fit the memory budget of every model (--max-memory).
        let budget = a.model.memory_budget();
        let batch_size = models
            .iter()
            .map(|m| common::max_batch(m, budget.as_ref()))
            .fold(a.batch_size, usize::min);
        let shape = (nc, rows.len(), batch_size);
        scope.spawn(move || read_batches(sources, todo, face_box, preprocs_ref, shape, batch_tx));
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
            comps: &comps,
            explainers: &explainers,
            target: &target,
            target_text: &target_text,
            settings: &settings,
            json: a.json,
            npy: a.npy,
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
        let columns = models.iter().flat_map(|m| {
            comps
                .iter()
                .map(move |c| format!("{} · {}", m.name, c.name()))
        });
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
                let names: Vec<&str> = comps.iter().map(|c| c.name()).collect();
                outln!(
                    "Explained the shipped gender and age models on {} portraits with {}.",
                    sources.len(),
                    names.join(" and ")
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
fn read_batches(
    sources: &[Source],
    todo: &[(usize, Vec<bool>)],
    face_box: Option<FaceBox>,
    preprocs: &[Preprocess],
    (nc, figure_rows, batch_size): (usize, usize, usize),
    tx: SyncSender<Vec<Item>>,
) {
    for chunk in todo.chunks(batch_size) {
        let batch: Vec<Item> = chunk
            .iter()
            .map(|(i, needs)| {
                let s = &sources[*i];
                let loaded = s
                    .load(face_box)
                    .map_err(|e| e.to_string())
                    .and_then(|crop| {
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
                            inputs,
                        })
                    });
                Item {
                    index: *i,
                    needs: needs.clone(),
                    relative: s.relative().to_string(),
                    input: s.input(),
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
    comps: &'a [Composite],
    explainers: &'a [Vec<Explainer>],
    target: &'a Target,
    target_text: &'a str,
    settings: &'a str,
    json: bool,
    npy: bool,
}

impl Ctx<'_> {
    fn entry(&self, item: &Item, m: usize, c: usize) -> Entry {
        Entry {
            input: item.input.clone(),
            relative: item.relative.clone(),
            model: self.models[m].name.clone(),
            preset: self.comps[c].name().to_string(),
            target: self.target_text.to_string(),
            settings: self.settings.to_string(),
            status: Status::Ok,
            error: None,
            prediction: None,
            probabilities: Vec::new(),
            maps: Vec::new(),
            files: Vec::new(),
            details: None,
        }
    }

    fn failed(&self, item: &Item, mcs: &[usize], message: &str) -> Message {
        let nc = self.comps.len();
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
    let (nm, nc) = (ctx.models.len(), ctx.comps.len());
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
                let members: Vec<&Item> = ok
                    .iter()
                    .copied()
                    .filter(|it| it.needs[m * nc + c] || it.index < rows.len())
                    .collect();
                if members.is_empty() {
                    continue;
                }
                let x = stack(&members, m)?;
                match ctx.explainers[m][c].explain(&x, ctx.target) {
                    Ok(e) => {
                        for (row, item) in members.iter().enumerate() {
                            handle(ctx, item, m, c, &e, row, rows, &send)?;
                        }
                    }
                    // Find the image at fault: explain them one by one.
                    Err(_) => {
                        for item in &members {
                            let x1 = stack(&[item], m)?;
                            match ctx.explainers[m][c].explain(&x1, ctx.target) {
                                Ok(e) => handle(ctx, item, m, c, &e, 0, rows, &send)?,
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
    e: &Explanation,
    row: usize,
    rows: &mut FigureRows,
    send: &impl Fn(Message) -> Result<()>,
) -> Result<()> {
    let nc = ctx.comps.len();
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
    if let Some(slot) = rows.get_mut(item.index) {
        let (_, map) = &maps[0];
        let shown = maps[0].0.unwrap_or(pred);
        let cell = if model.is_regression() {
            Cell::new(map.clone()).label(model.describe(&logits))
        } else {
            Cell::new(map.clone()).prediction(&model.label(shown), probs[shown])
        };
        let r = slot.get_or_insert_with(|| {
            (
                item.relative.clone(),
                loaded.crop.clone(),
                vec![None; ctx.models.len() * nc],
            )
        });
        r.2[m * nc + c] = Some(cell);
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
            ctx.comps[c].name(),
            std::slice::from_ref(&item.relative),
            &one,
        )?;
        entry.details = s.images.first().map(|i| {
            serde_json::json!({ "logits": i.logits, "maps": i.maps, "conservation": i.conservation })
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
        let norm = heatmap::normalize(map, &Normalize::default())?;
        let img = heatmap::render_upsampled(&norm.map, &look.cmap, h, w, look.upsample)?;
        put(&format!("{tag}.png"), &heatmap::encode_png(&img)?)?;
        if look.overlay {
            let up = heatmap::upsample(&norm.map, h, w, look.upsample)?;
            let ov = heatmap::overlay(&display, &up, &look.cmap, 0.6, 0.85)?;
            put(&format!("{tag}.overlay.png"), &heatmap::encode_png(&ov)?)?;
        }
    }
    if let Some(r) = &job.npy {
        let name = layout.relative_output(&e.model, &e.preset, &e.relative, ".npy");
        let bytes = npy_bytes(r, &layout.path(&name))?;
        put(".npy", &bytes)?;
    }
    Ok(())
}
