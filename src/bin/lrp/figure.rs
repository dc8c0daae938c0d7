//! `lrp figure`: the labelled figure of `lrp explain` alone, written to exactly the path of
//! `--out` and nowhere else (no heatmap files, no manifest). Columns are models × presets, or
//! × methods with `--method`.

use crate::common::{InputArgs, ModelArgs, RuleArgs};
use crate::explain::ExplainArgs;
use crate::methods::MethodArgs;
use crate::stream::{self, Destination};
use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct FigureArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    rules: RuleArgs,
    #[command(flatten)]
    methods: MethodArgs,
    /// Output PNG (its folder is created if missing).
    #[arg(long, default_value = "lrp-out/figure.png")]
    out: PathBuf,
    /// Colour map.
    #[arg(long, default_value = "black-firered")]
    colormap: String,
    /// Blend heatmaps onto the faces.
    #[arg(long)]
    overlay: bool,
    /// Rows: the first N images (at most 256).
    #[arg(long, default_value_t = stream::DEFAULT_FIGURE_ROWS, value_name = "N")]
    figure_rows: usize,
    /// Which heatmaps: `auto` (a vision transformer gets a pixel and a token column),
    /// `input` or `tokens` (see `lrp explain --help`).
    #[arg(long, value_enum, default_value = "auto")]
    heatmap: crate::tokens::HeatmapArg,
    /// Images explained per batch.
    #[arg(long, default_value_t = stream::DEFAULT_BATCH, value_name = "N")]
    batch_size: usize,
}

pub fn run(a: FigureArgs) -> Result<()> {
    a.rules.apply_precision()?;
    if a.input.input_npy.is_some() {
        bail!("a figure needs images (--image), not --input-npy");
    }
    if a.figure_rows == 0 {
        bail!("--figure-rows 0: a figure needs at least one row");
    }
    let path = a.out.clone();
    let ex = ExplainArgs {
        model: a.model,
        input: a.input,
        rules: a.rules,
        methods: a.methods,
        target: "predicted".into(),
        out: path.clone(),
        npy: false,
        json: false,
        colormap: a.colormap,
        overlay: a.overlay,
        bilinear: false,
        batch_size: a.batch_size,
        shard: None,
        force: false,
        figure_rows: a.figure_rows,
        heatmap: a.heatmap,
    };
    stream::run(&ex, Destination::FigureOnly(path))
}
