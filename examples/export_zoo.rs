//! Exports a seeded zoo network to ONNX, with its logits as a second output.
//!
//! ```text
//! cargo run --release --example export_zoo -- OUT_DIR ARCH CLASSES SEED
//! ```
//!
//! Writes `OUT_DIR/ARCH.onnx`: [`lrp::zoo::build`]`(ARCH, CLASSES, SEED)` exported with
//! [`lrp::export::onnx::save`], its outputs being `prob` (the final softmax) and the logits
//! (the softmax's input, whose name is printed on stdout). `tests/onnxruntime/make_reference.py`
//! runs these files in onnxruntime; `tests/onnx_export.rs` regenerates the same networks from
//! the seeds and compares its forward pass with onnxruntime's logits.

use anyhow::{bail, Context, Result};
use lrp::zoo::{self, Architecture};
use lrp::{Graph, Op};
use std::path::Path;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, arch, classes, seed] = args.as_slice() else {
        bail!("usage: export_zoo OUT_DIR ARCH CLASSES SEED");
    };
    let arch =
        Architecture::from_name(arch).with_context(|| format!("unknown architecture {arch}"))?;
    let classes: usize = classes
        .parse()
        .context("CLASSES must be a positive integer")?;
    let seed: u64 = seed.parse().context("SEED must be an unsigned integer")?;
    let net = zoo::build(arch, classes, seed)?;
    let (net, logits) = with_logits_output(&net)?;
    let path = Path::new(dir).join(format!("{}.onnx", arch.name()));
    lrp::export::onnx::save(&net, &path)?;
    eprintln!("{}: {} parameters", path.display(), net.num_params());
    println!("{logits}");
    Ok(())
}

/// The graph with the input of its last node, a Softmax, as an extra output.
fn with_logits_output(g: &Graph) -> Result<(Graph, String)> {
    let last = g.nodes().last().context("empty graph")?;
    if !matches!(last.op, Op::Softmax(_)) {
        bail!("the last node `{}` is not a Softmax", last.name);
    }
    let logits = last.inputs[0].clone();
    let inputs = g
        .input_ids()
        .iter()
        .map(|&t| (g.tensors()[t].name.clone(), g.tensors()[t].shape.clone()))
        .collect();
    let mut outputs: Vec<&str> = g
        .output_ids()
        .iter()
        .map(|&t| g.tensors()[t].name.as_str())
        .collect();
    outputs.push(&logits);
    let mut out = Graph::new(inputs, g.nodes().to_vec(), &outputs)?;
    out.set_name(g.name());
    Ok((out, logits))
}
