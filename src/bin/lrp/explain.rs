//! `lrp explain`: heatmap PNGs per image × model × preset (or method) × target, a
//! `manifest.jsonl`, a
//! labelled figure of the first images, and on request the raw relevance (.npy). Folders
//! stream through in batches (see `stream.rs`); a preprocessed `--input-npy` tensor is
//! explained in one piece.

use crate::common::{self, InputArgs, ModelArgs, RuleArgs};
use crate::methods::{MethodArgs, Methods};
use crate::stream::{self, Destination};
use anyhow::{anyhow, Context, Result};
use clap::Args;
use lrp::attribution::Method;
use lrp::compare::ExplanationSummary;
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
    #[command(flatten)]
    pub methods: MethodArgs,
    /// What to explain: `predicted`, `all`, or class indices `I[,J…]`.
    #[arg(long, default_value = "predicted")]
    pub target: String,
    /// Output folder: `<model>/<preset>/` (`<model>/<method>/` for the methods besides LRP)
    /// mirrors the input tree, plus `manifest.jsonl` and `figure.png`.
    #[arg(long, default_value = "lrp-out")]
    pub out: PathBuf,
    /// Also write the raw input relevance as .npy: per image `<name>.npy` (C×H×W, or K×C×H×W
    /// for several targets); for `--input-npy` one N×C×H×W (N×K×C×H×W) file per model × preset
    /// (or method), `<model>_<preset>_relevance.npy`.
    #[arg(long)]
    pub npy: bool,
    /// Also record logits and the per-layer conservation report: in each manifest line
    /// (`details`), or for `--input-npy` in `summary.json`.
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
    /// Images read, explained and written per batch (1–1024; memory grows with it, not with
    /// the number of images).
    #[arg(long, default_value_t = stream::DEFAULT_BATCH, value_name = "N")]
    pub batch_size: usize,
    /// Explain only shard K of N (1 ≤ K ≤ N): a fixed 1/N of the images, chosen by a hash of
    /// each image's relative path, for the N jobs of a Slurm array or a Kubernetes indexed
    /// Job writing into one folder. Writes `manifest.K-of-N.jsonl` and no figure; `lrp merge
    /// DIR` joins the shards' manifests.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Redo images the manifest already lists as done (by default a rerun skips them).
    #[arg(long)]
    pub force: bool,
    /// Which heatmaps: `auto` (pixel heatmaps; for vision transformers also token heatmaps,
    /// `<name>.tokens.png`: the patch tokens' relevance summed over channels on the patch
    /// grid, upsampled onto the image), `input` (pixel heatmaps only) or `tokens` (token
    /// heatmaps for vision transformers, pixel heatmaps for the others). A transformer's
    /// manifest maps also record the class token's relevance and what the position embedding
    /// absorbs (`tokens`), whatever this says; with --npy, `<name>.tokens.npy` holds the grid.
    #[arg(long, value_enum, default_value = "auto")]
    pub heatmap: crate::tokens::HeatmapArg,
    /// Rows of figure.png: the first N images (at most 100; 0 for no figure).
    #[arg(long, default_value_t = stream::DEFAULT_FIGURE_ROWS, value_name = "N")]
    pub figure_rows: usize,
}

pub fn run(a: ExplainArgs) -> Result<()> {
    a.rules.apply_precision()?;
    if a.input.input_npy.is_some() {
        return run_tensor(a);
    }
    let shard = a
        .shard
        .as_deref()
        .map(|s| {
            s.parse::<lrp::dataset::Shard>()
                .map_err(|e| anyhow!("--shard: {e}"))
        })
        .transpose()?;
    let out = a.out.clone();
    stream::run(&a, Destination::Dataset { out, shard })
}

/// `--input-npy`: the tensor is in memory already; explain it in one piece per model ×
/// preset (or method) and write `<model>_<preset>_relevance.npy` and `summary.json`.
fn run_tensor(a: ExplainArgs) -> Result<()> {
    let models = common::load_models(&a.model)?;
    let path = a.input.input_npy.as_deref().expect("checked by the caller");
    let x = common::read_npy(path)?;
    let methods = Methods::parse(&a.rules, &a.methods, &models, "lrp")?;
    let labels = methods.labels();
    stream::check_names(&models, &labels, methods.word(), &a.model.models)?;
    let attributors =
        stream::attributors(&models, &methods, a.model.memory_budget().as_ref(), false)?;
    let target = common::parse_target(&a.target)?;
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let mut summary = Vec::new();
    let mut token_summary = Vec::new();
    for (model, ats) in models.iter().zip(&attributors) {
        let layout = match a.heatmap {
            crate::tokens::HeatmapArg::Input => None,
            _ => lrp::tokens::TokenLayout::find(&model.graph),
        };
        // Without --preset, a model's own presets only.
        for (at, label) in (ats.iter().zip(&labels)).filter_map(|(at, l)| Some((at.as_ref()?, l))) {
            // The token view is LRP's.
            let (e, tokens) = match (&layout, at.method()) {
                (Some(l), Method::Lrp(_)) => l.explain(at.explainer(), &x, &target),
                _ => at.attribute(&x, &target).map(|e| (e, Vec::new())),
            }
            .with_context(|| format!("model {}", model.name))?;
            let tag = format!("{}_{label}", model.name);
            if let (Some(l), false) = (&layout, tokens.is_empty()) {
                if a.npy {
                    let path = a.out.join(format!("{tag}_tokens.npy"));
                    let r = crate::tokens::stack_maps(&tokens, e.relevance.shape()[1], l)?;
                    lrp::dataset::write_atomic(&path, &stream::npy_bytes(&r, &path)?)?;
                    outln!("{}", path.display());
                }
                token_summary.extend(crate::tokens::summary(model, label, &e, &tokens, l));
            }
            if a.npy {
                let path = a.out.join(format!("{tag}_relevance.npy"));
                let r = if e.relevance.shape()[1] == 1 {
                    e.relevance.index_axis(Axis(1), 0).to_owned()
                } else {
                    e.relevance.clone()
                };
                lrp::dataset::write_atomic(&path, &stream::npy_bytes(&r, &path)?)?;
                outln!("{}", path.display());
            }
            summary.push(ExplanationSummary::new(model, label, &[], &e)?);
        }
    }
    if a.json {
        let path = a.out.join("summary.json");
        lrp::compare::write_json(&path, &summary)?;
        outln!("{}", path.display());
        if !token_summary.is_empty() {
            let path = a.out.join("tokens.json");
            lrp::compare::write_json(&path, &token_summary)?;
            outln!("{}", path.display());
        }
    }
    Ok(())
}
