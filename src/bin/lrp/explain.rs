//! `lrp explain`: heatmap PNGs per image × model × preset × target, a labelled figure, and on
//! request the raw relevance (.npy) and a JSON summary.

use crate::common::{self, Face, InputArgs, ModelArgs, RuleArgs};
use anyhow::{anyhow, Context, Result};
use clap::Args;
use lrp::compare::ExplanationSummary;
use lrp::explain::{Explainer, Explanation};
use lrp::graph::{argmax, softmax};
use lrp::heatmap::{self, Cell, Colormap, Figure, Normalize, Reduce, Row, Upsample};
use lrp::model::Model;
use lrp::preprocess::RgbImage;
use ndarray::Axis;
use std::path::PathBuf;

#[derive(Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub rules: RuleArgs,
    /// What to explain: `predicted`, `all`, or class indices `I[,J…]`.
    #[arg(long, default_value = "predicted")]
    pub target: String,
    /// Output folder.
    #[arg(long, default_value = "lrp-out")]
    pub out: PathBuf,
    /// Also write the raw input relevance as .npy (N×C×H×W, or N×K×C×H×W for several targets).
    #[arg(long)]
    pub npy: bool,
    /// Also write a JSON summary (prediction, probabilities, relevance sums, conservation).
    #[arg(long)]
    pub json: bool,
    /// Colour map (black-firered is the paper's; see `lrp info --colormaps`).
    #[arg(long, default_value = "black-firered")]
    pub colormap: String,
    /// Also write the heatmap blended onto the face.
    #[arg(long)]
    pub overlay: bool,
    /// Upsample heatmaps bilinearly instead of the paper's blocky nearest-neighbour look.
    #[arg(long)]
    pub bilinear: bool,
}

/// How the heatmap PNGs of one run look.
struct Look {
    cmap: Colormap,
    upsample: Upsample,
    overlay: bool,
}

pub fn run(a: ExplainArgs) -> Result<()> {
    let models = common::load_models(&a.model)?;
    let (npy, faces) = common::load_inputs(&a.input)?;
    let comps = common::composites(&a.rules)?;
    let target = common::parse_target(&a.target)?;
    let look = Look {
        cmap: Colormap::from_name(&a.colormap)?,
        upsample: if a.bilinear {
            Upsample::Bilinear
        } else {
            Upsample::Nearest
        },
        overlay: a.overlay,
    };
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let default_run = a.model.models.is_empty() && a.input.images.is_empty() && npy.is_none();
    let names: Vec<String> = faces.iter().map(|f| f.name.clone()).collect();

    let mut summary = Vec::new();
    let mut rows: Vec<Row> = faces
        .iter()
        .map(|f| Row::new(f.crop.clone()).label(f.name.clone()))
        .collect();
    let total = (models.len() * comps.len()) as u64;
    let bar = common::progress(total * (faces.len().max(1) as u64), "explaining");
    for model in &models {
        let x = common::model_input(model, &faces, npy.as_ref())?;
        for comp in &comps {
            let e = Explainer::new(model.graph.clone(), comp)
                .and_then(|ex| ex.explain(&x, &target))
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
                outln!("{}", path.display());
            }
            write_maps(&a.out, &look, model, &faces, &e, &tag, &mut rows)?;
            summary.push(ExplanationSummary::new(model, comp.name(), &names, &e)?);
        }
    }
    bar.finish_and_clear();
    if a.json {
        let path = a.out.join("summary.json");
        lrp::compare::write_json(&path, &summary)?;
        outln!("{}", path.display());
    }
    if !faces.is_empty() {
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
        for r in rows {
            figure.push_row(r);
        }
        let path = a.out.join("figure.png");
        figure.save(&path)?;
        if default_run {
            let names: Vec<&str> = comps.iter().map(|c| c.name()).collect();
            outln!(
                "Explained the shipped gender and age models on {} portraits with {}.",
                faces.len(),
                names.join(" and ")
            );
        }
        outln!("figure: {}", path.display());
    }
    Ok(())
}

/// Write one heatmap PNG per image and map, and add the maps to the figure rows.
fn write_maps(
    out: &std::path::Path,
    look: &Look,
    model: &Model,
    faces: &[Face],
    e: &Explanation,
    tag: &str,
    rows: &mut [Row],
) -> Result<()> {
    let k = e.relevance.shape()[1];
    for (i, face) in faces.iter().enumerate() {
        let logits = e.logits.row(i).to_vec();
        let (probs, pred) = (softmax(&logits), argmax(&logits));
        for j in 0..k {
            let r = e.relevance.slice(ndarray::s![i, j, .., .., ..]);
            let map = heatmap::reduce(r, Reduce::Sum)?;
            let norm = heatmap::normalize(&map, &Normalize::default())?;
            let class = e.targets.get(i).and_then(|t| t.get(j)).copied();
            let suffix = match class {
                Some(c) if k > 1 => format!("_class{c}"),
                _ => String::new(),
            };
            let display = model.preprocess.display_image(&face.crop);
            let (h, w) = (display.height() as usize, display.width() as usize);
            let img = heatmap::render_upsampled(&norm.map, &look.cmap, h, w, look.upsample)?;
            heatmap::save_png(&img, out.join(format!("{}_{tag}{suffix}.png", face.name)))?;
            if look.overlay {
                let up = heatmap::upsample(&norm.map, h, w, look.upsample)?;
                let ov = heatmap::overlay(&display, &up, &look.cmap, 0.6, 0.85)?;
                let path = out.join(format!("{}_{tag}{suffix}_overlay.png", face.name));
                heatmap::save_png(&ov, path)?;
            }
            if j == 0 {
                let shown = class.unwrap_or(pred);
                let cell = Cell::new(map).prediction(&model.label(shown), probs[shown]);
                let row = std::mem::replace(&mut rows[i], Row::new(RgbImage::new(1, 1)));
                rows[i] = row.cell(cell);
            }
        }
    }
    Ok(())
}
