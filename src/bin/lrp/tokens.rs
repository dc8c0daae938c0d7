//! The token view of vision transformers on the command line (`--heatmap`): which heatmaps
//! each model gets, and the token numbers in the manifest and `--json` output. What the token
//! relevance is, is the library's `lrp::tokens`.

use anyhow::Result;
use lrp::dataset::manifest::TokenEntry;
use lrp::explain::Explanation;
use lrp::model::Model;
use lrp::tokens::{TokenLayout, TokenRelevance};
use ndarray::{ArrayD, IxDyn};
use serde::Serialize;

/// The `--heatmap` choices.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HeatmapArg {
    /// Every view a model has: pixel heatmaps for CNNs; for vision transformers pixel
    /// heatmaps and token heatmaps.
    #[default]
    Auto,
    /// Pixel heatmaps only (input relevance summed over colour channels).
    Input,
    /// Token heatmaps for vision transformers (patch-token relevance on the patch grid,
    /// upsampled onto the image); pixel heatmaps for models without tokens.
    Tokens,
}

impl HeatmapArg {
    /// The name as typed.
    pub fn name(self) -> &'static str {
        match self {
            HeatmapArg::Auto => "auto",
            HeatmapArg::Input => "input",
            HeatmapArg::Tokens => "tokens",
        }
    }
}

/// Which heatmaps one model gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Views {
    /// The pixel heatmap (`<name>.png`).
    pub input: bool,
    /// The token heatmap (`<name>.tokens.png`).
    pub tokens: bool,
}

/// Per model: its token layout (`None` for a CNN) and the heatmaps `arg` gives it.
pub fn plan(models: &[Model], arg: HeatmapArg) -> (Vec<Option<TokenLayout>>, Vec<Views>) {
    let layouts: Vec<Option<TokenLayout>> =
        models.iter().map(|m| TokenLayout::find(&m.graph)).collect();
    let views = layouts
        .iter()
        .map(|l| match (arg, l.is_some()) {
            (HeatmapArg::Input, _) | (_, false) => Views {
                input: true,
                tokens: false,
            },
            (HeatmapArg::Auto, true) => Views {
                input: true,
                tokens: true,
            },
            (HeatmapArg::Tokens, true) => Views {
                input: false,
                tokens: true,
            },
        })
        .collect();
    (layouts, views)
}

/// The manifest's record of `t`.
pub fn entry(layout: &TokenLayout, t: &TokenRelevance) -> TokenEntry {
    TokenEntry {
        grid: layout.grid,
        patches: t.patches,
        class_token: t.class_token,
        position: t.position,
        stem: t.stem,
        logit: t.logit,
    }
}

/// The token maps of an `--input-npy` run as one array: `N×rows×columns`, or
/// `N×K×rows×columns` for `k` > 1 targets (as the input relevance file).
pub fn stack_maps(
    tokens: &[TokenRelevance],
    k: usize,
    layout: &TokenLayout,
) -> Result<ArrayD<f32>> {
    let [gh, gw] = layout.grid;
    let n = tokens.len() / k.max(1);
    let shape: Vec<usize> = if k == 1 {
        vec![n, gh, gw]
    } else {
        vec![n, k, gh, gw]
    };
    let data: Vec<f32> = tokens.iter().flat_map(|t| t.map.iter().copied()).collect();
    Ok(ArrayD::from_shape_vec(IxDyn(&shape), data)?)
}

/// One map's token relevance in `tokens.json` (`lrp explain --input-npy … --json`).
#[derive(Serialize)]
pub struct TokenSummary {
    model: String,
    preset: String,
    /// Row of the input tensor.
    image: usize,
    /// The explained class (absent for an explicit output relevance).
    class: Option<usize>,
    #[serde(flatten)]
    entry: TokenEntry,
    /// The patch-token relevance, row-major on the grid.
    map: Vec<Vec<f32>>,
}

/// The `tokens.json` records of one model × preset.
pub fn summary(
    model: &Model,
    preset: &str,
    e: &Explanation,
    tokens: &[TokenRelevance],
    layout: &TokenLayout,
) -> Vec<TokenSummary> {
    let k = e.relevance.shape()[1].max(1);
    tokens
        .iter()
        .enumerate()
        .map(|(m, t)| TokenSummary {
            model: model.name.clone(),
            preset: preset.to_string(),
            image: m / k,
            class: e.targets.get(m / k).and_then(|c| c.get(m % k)).copied(),
            entry: entry(layout, t),
            map: t.map.rows().into_iter().map(|r| r.to_vec()).collect(),
        })
        .collect()
}
