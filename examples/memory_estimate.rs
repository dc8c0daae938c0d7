//! Prints what explaining one image with a model needs, and what this process may use.
//!
//! ```text
//! cargo run --release --example memory_estimate -- [MODEL [PRESET...]]
//! ```
//!
//! `MODEL` is an `.onnx` file or a Caffe `.prototxt` (random weights), default the shipped
//! gender model; each `PRESET` (default `epsilon-plus-flat`) gets the estimate of its
//! prepared explainer ([`Estimate::of_explainer`]) beside the graph's worst case
//! ([`Estimate::of_graph`]). The command line's `--max-memory` check uses the worst case plus
//! the model's own copy of the weights; compare its numbers with the peak RSS of
//! `lrp explain` (`/usr/bin/time -v`).

use anyhow::Result;
use lrp::composite::Composite;
use lrp::explain::Explainer;
use lrp::memory::{format_bytes, Estimate, Limits};
use lrp::model::Model;
use std::path::Path;

fn show(label: &str, e: &Estimate) {
    println!(
        "{label:<28} one image {:>10}  (activations {}, relevance {}, weights {}, prepared {})",
        format_bytes(e.for_batch(1, 1)),
        format_bytes(e.activations),
        format_bytes(e.backward),
        format_bytes(e.weights),
        format_bytes(e.prepared)
    );
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let model = match args.first() {
        Some(path) => Model::load(Path::new(path), None, None, None)?,
        None => Model::gender()?,
    };
    let presets: Vec<&str> = match args.get(1..) {
        Some(p) if !p.is_empty() => p.iter().map(String::as_str).collect(),
        _ => vec!["epsilon-plus-flat"],
    };
    println!("{}: input {:?}", model.name, model.graph.input_shape());
    let worst = Estimate::of_graph(&model.graph);
    show("worst case (of_graph)", &worst);
    println!(
        "{:<28} one image {:>10}  (worst case + the model's copy of the weights)",
        "command-line check",
        format_bytes(worst.for_batch(1, 1) + worst.weights)
    );
    for p in presets {
        let ex = Explainer::new(model.graph.clone(), &Composite::preset(p)?)?;
        show(p, &Estimate::of_explainer(&ex));
    }
    let limits = Limits::detect();
    println!("limits: {limits:?}");
    if let Some((bytes, source)) = limits.default_budget() {
        println!(
            "default budget: {} (3/4 of the {source})",
            format_bytes(bytes)
        );
    }
    Ok(())
}
