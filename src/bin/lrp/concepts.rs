//! `lrp concepts`: Concept Relevance Propagation ([`lrp::concepts`]). Per image, the most
//! relevant channels of a layer for the prediction, their shares of the layer's relevance,
//! their conditional heatmaps and their reference crops from relevance maximisation over a
//! folder, in one figure per image (the CRP paper's layout), plus CSV and JSON.
//!
//! The maximisation index (`index.json` in `--index`, default `OUT/index`) is built once by
//! streaming the reference images in batches (memory: one batch and the top lists) and
//! reused by later runs with the same model, preset, layer, reference images (by name) and
//! list length.

use crate::common::{self, ModelArgs};
use anyhow::{bail, Context, Result};
use clap::Args;
use lrp::composite::Composite;
use lrp::concepts::figure::{self, ConceptRow};
use lrp::concepts::maximise::{self, Index, Maximiser, PixelBox};
use lrp::concepts::{self as crp};
use lrp::explain::Explainer;
use lrp::model::Model;
use lrp::preprocess::{self, RgbImage};
use ndarray::Axis;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct ConceptsArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The layer whose channels are the concepts (a node name; `lrp info MODEL` lists them
    /// with their output shapes, channels first).
    #[arg(long, value_name = "NAME")]
    layer: String,
    /// Images to explain (files or folders, PNG or JPEG). Default: 22 variants of the shipped
    /// portraits (shifted, scaled, mirrored, darker and brighter face crops).
    #[arg(long = "image", value_name = "PATH", num_args = 1..)]
    images: Vec<PathBuf>,
    /// Images relevance maximisation searches for reference crops. Default: the --image set.
    #[arg(long = "reference-image", value_name = "PATH", num_args = 1..)]
    reference_images: Vec<PathBuf>,
    /// Concepts shown per image (1 to 64).
    #[arg(long, value_name = "N", default_value_t = 4)]
    top: usize,
    /// Reference crops per concept (0 to 16).
    #[arg(long, value_name = "R", default_value_t = 6)]
    references: usize,
    /// The LRP preset.
    #[arg(long, default_value = "epsilon-plus-flat")]
    preset: String,
    /// Folder of the maximisation index (reused when it matches). Default: OUT/index.
    #[arg(long, value_name = "DIR")]
    index: Option<PathBuf>,
    /// Images per batch while building the index (1 to 256).
    #[arg(long, value_name = "B", default_value_t = 16)]
    batch: usize,
    /// Output folder.
    #[arg(long, default_value = "lrp-out/concepts")]
    out: PathBuf,
}

/// Where samples come from: files, read again when a crop is needed, or images in memory.
enum Samples {
    Files(Vec<PathBuf>),
    Memory(Vec<(String, RgbImage)>),
}

impl Samples {
    fn of(paths: &[PathBuf]) -> Result<Samples> {
        if paths.is_empty() {
            return Ok(Samples::Memory(lrp::compare::faces::portrait_variants()?));
        }
        let files = preprocess::image_files(paths)?;
        if files.is_empty() {
            bail!("no PNG or JPEG images found in the given paths");
        }
        Ok(Samples::Files(files))
    }

    fn len(&self) -> usize {
        match self {
            Samples::Files(f) => f.len(),
            Samples::Memory(m) => m.len(),
        }
    }

    fn name(&self, i: usize) -> String {
        match self {
            Samples::Files(f) => f[i].display().to_string(),
            Samples::Memory(m) => m[i].0.clone(),
        }
    }

    fn stem(&self, i: usize) -> String {
        match self {
            Samples::Files(f) => f[i]
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("image")
                .to_string(),
            Samples::Memory(m) => m[i].0.clone(),
        }
    }

    fn load(&self, i: usize) -> Result<RgbImage> {
        Ok(match self {
            Samples::Files(f) => preprocess::load_face(&f[i], None)?,
            Samples::Memory(m) => m[i].1.clone(),
        })
    }
}

pub fn run(a: ConceptsArgs) -> Result<()> {
    if !(1..=64).contains(&a.top) || a.references > 16 || !(1..=256).contains(&a.batch) {
        bail!("--top must be 1 to 64, --references 0 to 16, --batch 1 to 256");
    }
    let mut models = common::load_models_or(&a.model, &["age-v1"])?;
    if models.len() != 1 {
        bail!("lrp concepts explains one model at a time; give one --model");
    }
    let model = models.remove(0);
    let composite = Composite::preset(&a.preset)?;
    let ex = Explainer::new(model.graph.clone(), &composite)?;
    let layer = crp::layer(&ex, &a.layer)?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("{}", a.out.display()))?;
    let index_dir = a.index.clone().unwrap_or_else(|| a.out.join("index"));
    std::fs::create_dir_all(&index_dir).with_context(|| format!("{}", index_dir.display()))?;
    let refs = if a.reference_images.is_empty() {
        &a.images
    } else {
        &a.reference_images
    };
    let references = Samples::of(refs)?;
    let index = load_or_build(&a, &model, &ex, &references, &index_dir.join("index.json"))?;
    let images = Samples::of(&a.images)?;

    let mut csv = csv::Writer::from_path(a.out.join("concepts.csv"))?;
    csv.write_record([
        "image",
        "target",
        "label",
        "rank",
        "channel",
        "relevance",
        "share",
    ])?;
    let mut json = Vec::new();
    let (c, h, w) = {
        let s = model.graph.input_shape();
        (s[0], s[1], s[2])
    };
    for i in 0..images.len() {
        let face = images.load(i)?;
        let x = preprocess::to_tensor(std::slice::from_ref(&face), &model.preprocess)?;
        let e = crp::explain_concepts(&ex, &x, &a.layer, None, a.top.min(layer.channels()))?;
        let label = model.label(e.target);
        let mut rows = Vec::new();
        let mut concepts = Vec::new();
        for (k, con) in e.concepts.iter().enumerate() {
            let heat = e.heatmaps.index_axis(Axis(0), k).sum_axis(Axis(0));
            let heat = heat.into_shape_with_order((h, w))?;
            let mut crops = Vec::new();
            for (r, b) in index.lists.relevance[con.channel]
                .iter()
                .zip(&index.boxes[con.channel])
                .take(a.references)
            {
                let img = sample_image(&references, &index, r.sample)?;
                crops.push(crop(&img, b, h, w));
            }
            rows.push(ConceptRow {
                lines: vec![
                    format!("#{} channel {}", k + 1, con.channel),
                    format!("share {:.1} %", 100.0 * con.share),
                ],
                heatmap: heat,
                references: crops,
            });
            csv.write_record([
                images.stem(i),
                e.target.to_string(),
                label.clone(),
                (k + 1).to_string(),
                con.channel.to_string(),
                format!("{:e}", con.relevance),
                format!("{:.6}", con.share),
            ])?;
            concepts.push(serde_json::json!({
                "rank": k + 1, "channel": con.channel, "relevance": con.relevance,
                "share": con.share,
                "references": index.lists.relevance[con.channel].iter().take(a.references)
                    .map(|r| index.names[r.sample].clone()).collect::<Vec<_>>(),
            }));
        }
        let title = format!(
            "{}: {} ({}), {} layer {} ({} channels)",
            images.stem(i),
            label,
            model.name,
            a.preset,
            a.layer,
            layer.channels()
        );
        let fig = figure::render(&title, &rows, 96, a.references)?;
        let path = a.out.join(format!("{}_concepts.png", images.stem(i)));
        lrp::heatmap::save_png(&fig, &path)?;
        json.push(serde_json::json!({
            "image": images.name(i), "target": e.target, "label": label,
            "logit": e.logits[e.target], "figure": path.display().to_string(),
            "concepts": concepts,
        }));
        outln!(
            "{}: {} - top concepts {}",
            images.stem(i),
            model.label(e.target),
            e.concepts
                .iter()
                .map(|c| format!("{} ({:.1} %)", c.channel, 100.0 * c.share))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    csv.flush()?;
    let doc = serde_json::json!({
        "model": model.name, "preset": a.preset, "layer": a.layer, "input": [c, h, w],
        "index": index_dir.join("index.json").display().to_string(), "images": json,
    });
    std::fs::write(
        a.out.join("concepts.json"),
        serde_json::to_string_pretty(&doc)?,
    )?;
    outln!("wrote {}", a.out.display());
    Ok(())
}

/// A sample of the index: read again from its file, or from the in-memory set.
fn sample_image(samples: &Samples, index: &Index, id: usize) -> Result<RgbImage> {
    match samples {
        Samples::Memory(m) if id < m.len() && m[id].0 == index.names[id] => Ok(m[id].1.clone()),
        Samples::Memory(_) => bail!(
            "the concept index refers to `{}`, which is not among the reference images",
            index.names[id]
        ),
        Samples::Files(_) => Ok(preprocess::load_face(&index.names[id], None)?),
    }
}

/// The box `b` (network input pixels, `h`×`w`) cut from `img`, scaled to its size.
fn crop(img: &RgbImage, b: &PixelBox, h: usize, w: usize) -> RgbImage {
    let sx = img.width() as f64 / w as f64;
    let sy = img.height() as f64 / h as f64;
    let x0 = (b.left as f64 * sx).floor() as u32;
    let y0 = (b.top as f64 * sy).floor() as u32;
    let x1 = ((b.right as f64 * sx).ceil() as u32).clamp(x0 + 1, img.width().max(1));
    let y1 = ((b.bottom as f64 * sy).ceil() as u32).clamp(y0 + 1, img.height().max(1));
    image::imageops::crop_imm(img, x0, y0, x1 - x0, y1 - y0).to_image()
}

/// The index at `path` if it matches this run, else a new one over `samples`, saved there.
fn load_or_build(
    a: &ConceptsArgs,
    model: &Model,
    ex: &Explainer,
    samples: &Samples,
    path: &Path,
) -> Result<Index> {
    let want = a.references.max(1);
    if path.exists() {
        let idx = Index::load(path)?;
        if idx.model == model.name
            && idx.preset == a.preset
            && idx.lists.layer == a.layer
            && idx.lists.top >= want
            && idx.names.len() == samples.len()
            && (0..samples.len()).all(|i| idx.names[i] == samples.name(i))
        {
            outln!("reusing {}", path.display());
            return Ok(idx);
        }
    }
    let n = samples.len();
    let mut max = Maximiser::new(ex, &a.layer, want)?;
    let bar = common::progress(n as u64, "maximising");
    let mut start = 0;
    while start < n {
        let end = (start + a.batch).min(n);
        let faces = (start..end)
            .map(|i| samples.load(i))
            .collect::<Result<Vec<_>>>()?;
        let x = preprocess::to_tensor(&faces, &model.preprocess)?;
        let ids: Vec<usize> = (start..end).collect();
        max.add(ex, &ids, &x)?;
        bar.inc((end - start) as u64);
        start = end;
    }
    bar.finish_and_clear();
    let lists = max.finish();
    // Receptive-field boxes, one batched pass per referenced sample.
    let channels = lists.relevance.len();
    let mut boxes: Vec<Vec<PixelBox>> = lists
        .relevance
        .iter()
        .map(|l| {
            vec![
                PixelBox {
                    top: 0,
                    left: 0,
                    bottom: 0,
                    right: 0
                };
                l.len()
            ]
        })
        .collect();
    let mut by_sample: std::collections::BTreeMap<usize, Vec<(usize, usize, usize)>> =
        Default::default();
    for (c, list) in lists.relevance.iter().enumerate() {
        for (r, entry) in list.iter().enumerate() {
            by_sample
                .entry(entry.sample)
                .or_default()
                .push((c, r, entry.position));
        }
    }
    for (sample, wanted) in by_sample {
        let face = samples.load(sample)?;
        let x = preprocess::to_tensor(std::slice::from_ref(&face), &model.preprocess)?;
        for chunk in wanted.chunks(64) {
            let neurons: Vec<(usize, usize)> = chunk.iter().map(|&(c, _, p)| (c, p)).collect();
            let found = maximise::receptive_fields(ex, &x, &a.layer, &neurons)?;
            for (&(c, r, _), b) in chunk.iter().zip(found) {
                boxes[c][r] = b;
            }
        }
    }
    debug_assert_eq!(boxes.len(), channels);
    let idx = Index {
        model: model.name.clone(),
        preset: a.preset.clone(),
        lists,
        names: (0..n).map(|i| samples.name(i)).collect(),
        boxes,
    };
    idx.save(path)?;
    Ok(idx)
}
