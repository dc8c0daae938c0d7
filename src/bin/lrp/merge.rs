//! `lrp merge DIR…`: joins the manifests that the shards of a job array (`lrp explain
//! --shard K/N --out DIR`) wrote into one shared folder into `DIR/manifest.jsonl`.

use anyhow::{bail, Result};
use clap::Args;
use lrp::dataset::{manifest, OutputLayout, Status};
use std::path::PathBuf;

#[derive(Args)]
pub struct MergeArgs {
    /// Output folders of `lrp explain` (each merged on its own).
    #[arg(value_name = "DIR", required = true, num_args = 1..)]
    dirs: Vec<PathBuf>,
}

pub fn run(a: MergeArgs) -> Result<()> {
    let mut incomplete = 0;
    for dir in &a.dirs {
        if !dir.is_dir() {
            bail!(
                "{}: not a folder (give the --out folder of the shards)",
                dir.display()
            );
        }
        if manifest::files_in(dir)?.is_empty() {
            bail!(
                "{}: no manifest.jsonl or manifest.K-of-N.jsonl in this folder",
                dir.display()
            );
        }
        let (entries, damaged) = manifest::merge(dir)?;
        let layout = OutputLayout::new(dir);
        let ok = entries.iter().filter(|e| e.status == Status::Ok).count();
        let missing = entries
            .iter()
            .filter(|e| e.status == Status::Ok)
            .filter(|e| {
                e.files
                    .iter()
                    .any(|f| !OutputLayout::is_safe(f) || !layout.path(f).is_file())
            })
            .count();
        let failed = entries.len() - ok;
        outln!(
            "{}: {} entries ({ok} ok, {failed} failed{}{})",
            dir.join("manifest.jsonl").display(),
            entries.len(),
            if missing > 0 {
                format!(", {missing} with missing files")
            } else {
                String::new()
            },
            if damaged > 0 {
                format!(", {damaged} damaged lines skipped")
            } else {
                String::new()
            },
        );
        incomplete += failed + missing;
    }
    if incomplete > 0 {
        bail!("{incomplete} entries failed or lost files; rerun the shards to redo them");
    }
    Ok(())
}
