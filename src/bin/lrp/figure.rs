//! `lrp figure`: the labelled figure of `lrp explain` alone, at a path of one's choice.

use crate::common::{InputArgs, ModelArgs, RuleArgs};
use crate::explain::{self, ExplainArgs};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct FigureArgs {
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

/// The folder of `path` (`.` for a bare file name).
fn folder(path: &Path) -> PathBuf {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

pub fn run(a: FigureArgs) -> Result<()> {
    if a.input.input_npy.is_some() {
        bail!("a figure needs images (--image), not --input-npy");
    }
    let ex = ExplainArgs {
        model: a.model,
        input: a.input,
        rules: a.rules,
        target: "predicted".into(),
        out: folder(&a.out),
        npy: false,
        json: false,
        colormap: a.colormap,
        overlay: a.overlay,
        bilinear: false,
    };
    explain::run(ex)?;
    let written = folder(&a.out).join("figure.png");
    if written != a.out {
        std::fs::rename(&written, &a.out)
            .with_context(|| format!("cannot write {}", a.out.display()))?;
        outln!("figure: {}", a.out.display());
    }
    Ok(())
}
