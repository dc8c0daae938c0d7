//! `lrp forward`: the pre-softmax logits of each model, printed or written as .npy.

use crate::common::{self, InputArgs, ModelArgs};
use anyhow::{anyhow, bail, Result};
use clap::Args;
use lrp::graph::{argmax, softmax};
use std::path::PathBuf;

#[derive(Args)]
pub struct ForwardArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    input: InputArgs,
    /// Write the logits to this .npy file (N×K float32).
    #[arg(long, value_name = "OUT.npy")]
    npy: Option<PathBuf>,
}

pub fn run(a: ForwardArgs) -> Result<()> {
    let models = common::load_models(&a.model)?;
    if models.len() > 1 && a.npy.is_some() {
        bail!("--npy writes one model's logits: give a single --model");
    }
    let (npy, faces) = common::load_inputs(&a.input)?;
    for model in &models {
        let x = common::model_input(model, &faces, npy.as_ref())?;
        // NaN or infinite logits are no result: an error naming the model and the output.
        let logits = model.graph.logits(&x)?;
        lrp::graph::check_finite_logits(&model.name, &logits)?;
        if let Some(path) = &a.npy {
            ndarray_npy::write_npy(path, &logits)
                .map_err(|e| anyhow!("{}: {e}", path.display()))?;
            outln!("{}", path.display());
            continue;
        }
        for (i, row) in logits.outer_iter().enumerate() {
            let row = row.to_vec();
            if model.is_regression() {
                outln!(
                    "{}\t{}\t{}\toutput {:?}",
                    model.name,
                    common::image_name(&faces, i),
                    model.describe(&row),
                    row
                );
                continue;
            }
            let (probs, pred) = (softmax(&row), argmax(&row));
            outln!(
                "{}\t{}\t{} ({:.1}%)\tlogits {:?}",
                model.name,
                common::image_name(&faces, i),
                model.label(pred),
                100.0 * probs[pred],
                row
            );
        }
    }
    Ok(())
}
