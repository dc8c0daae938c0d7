//! `lrp info`: layers, shapes, parameter counts and the rule of each layer under a preset, as
//! a table or JSON; or the names of the colour maps, shipped models and presets.

use crate::common::naming_file;
use anyhow::Result;
use clap::Args;
use lrp::composite::Composite;
use lrp::explain::Explainer;
use lrp::heatmap::Colormap;
use lrp::model::Model;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Args)]
pub struct InfoArgs {
    /// Model file (.onnx or .prototxt) or a shipped model's name; default: every shipped
    /// model (gender-v1, age-v1, face-api-gender, face-api-age).
    file: Option<PathBuf>,
    /// Caffe weights.
    #[arg(long, value_name = "W")]
    weights: Option<PathBuf>,
    /// Show the rule each layer gets under this preset. Default: the model's own first
    /// preset (`epsilon-plus-flat`; `epsilon-gamma-box` for face-api's models), the one
    /// `lrp explain` uses without `--preset` (the list of them is printed too).
    #[arg(long)]
    preset: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
    /// List the colour maps, and the presets with what each does, and exit.
    #[arg(long)]
    colormaps: bool,
    /// List the presets with what each does (`attnlrp` and `cp-lrp` for transformers), and
    /// exit.
    #[arg(long)]
    presets: bool,
}

/// A vision transformer's token layout in `--json` output (see `lrp::tokens`).
#[derive(Serialize)]
struct TokensInfo<'a> {
    patch_embedding: &'a str,
    grid: [usize; 2],
    patch: [usize; 2],
    dim: usize,
    class_tokens: Vec<&'a str>,
    position: Vec<&'a str>,
}

/// One model in `--json` output.
#[derive(Serialize)]
struct ModelInfo<'a> {
    model: &'a str,
    architecture: Option<&'static str>,
    input_shape: &'a [usize],
    output_shape: &'a [usize],
    params: usize,
    preset: &'a str,
    /// The presets `lrp explain` uses for this model without `--preset`.
    default_presets: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    tokens: Option<TokensInfo<'a>>,
    layers: Vec<LayerInfo<'a>>,
}

/// One layer in `--json` output.
#[derive(Serialize)]
struct LayerInfo<'a> {
    name: &'a str,
    kind: &'static str,
    inputs: &'a [String],
    output_shape: &'a [usize],
    params: usize,
    rule: Option<String>,
}

pub fn run(a: InfoArgs) -> Result<()> {
    if a.colormaps || a.presets {
        if a.colormaps {
            outln!(
                "colour maps: {}",
                Colormap::names().collect::<Vec<_>>().join(", ")
            );
            outln!(
                "shipped models (--model NAME): {}",
                lrp::model::SHIPPED_MODELS.join(", ")
            );
        }
        outln!("presets:");
        for p in lrp::composite::PRESET_TABLE {
            outln!("  {:<27} {}", p.name, p.description);
        }
        return Ok(());
    }
    let models = match &a.file {
        Some(f) => match crate::common::shipped_model(f, None)? {
            Some(m) => vec![m],
            None => vec![Model::load(f, a.weights.as_deref(), None, None)
                .map_err(|e| naming_file(e, f, &[Some(f.as_path()), a.weights.as_deref()]))?],
        },
        None => lrp::model::SHIPPED_MODELS
            .iter()
            .map(|name| Model::shipped(name))
            .collect::<lrp::Result<Vec<_>>>()?,
    };
    let mut all = Vec::new();
    for m in &models {
        let preset = match (&a.preset, m.presets.first()) {
            (Some(p), _) | (None, Some(p)) => p.as_str(),
            (None, None) => lrp::model::DEFAULT_PRESETS[0],
        };
        let comp = Composite::preset(preset)?;
        let rules = Explainer::new(m.graph.clone(), &comp)?.rule_names();
        let g = &m.graph;
        let layout = lrp::tokens::TokenLayout::find(g);
        let name = |i: &usize| g.nodes()[*i].name.as_str();
        let tokens = layout.as_ref().map(|l| TokensInfo {
            patch_embedding: name(&l.patch_embedding),
            grid: l.grid,
            patch: l.patch,
            dim: l.dim,
            class_tokens: l.class_tokens.iter().map(name).collect(),
            position: l.position.iter().map(name).collect(),
        });
        let layers: Vec<LayerInfo> = (g.nodes().iter().enumerate())
            .map(|(i, node)| LayerInfo {
                name: &node.name,
                kind: node.op.kind(),
                inputs: &node.inputs,
                output_shape: &g.tensors()[g.node_output(i)].shape,
                params: node.op.num_params(),
                rule: rules[i].1.clone(),
            })
            .collect();
        let info = ModelInfo {
            model: &m.name,
            architecture: lrp::zoo::Architecture::detect(g).map(|a| a.name()),
            input_shape: g.input_shape(),
            output_shape: g.output_shape(),
            params: g.num_params(),
            preset,
            default_presets: &m.presets,
            tokens,
            layers,
        };
        if a.json {
            all.push(info);
        } else {
            print_table(&info);
        }
    }
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&all)?);
    }
    Ok(())
}

fn print_table(m: &ModelInfo) {
    outln!(
        "{}: input {:?}, output {:?}, {} parameters{}; rules: {}; default presets: {}",
        m.model,
        m.input_shape,
        m.output_shape,
        m.params,
        m.architecture
            .map(|a| format!(", architecture {a}"))
            .unwrap_or_default(),
        m.preset,
        m.default_presets.join(", ")
    );
    if let Some(t) = &m.tokens {
        outln!(
            "  vision transformer: patch embedding {} ({}×{} patches of {}×{} pixels, {} channels), \
             class token {}, position embedding {}; `lrp explain` also draws token heatmaps",
            t.patch_embedding,
            t.grid[0],
            t.grid[1],
            t.patch[0],
            t.patch[1],
            t.dim,
            if t.class_tokens.is_empty() { "-".to_string() } else { t.class_tokens.join(", ") },
            if t.position.is_empty() { "-".to_string() } else { t.position.join(", ") }
        );
    }
    outln!(
        "  {:<32} {:<14} {:<18} {:>10}  rule",
        "layer",
        "kind",
        "output",
        "params"
    );
    for l in &m.layers {
        outln!(
            "  {:<32} {:<14} {:<18} {:>10}  {}",
            l.name,
            l.kind,
            format!("{:?}", l.output_shape),
            l.params,
            l.rule.as_deref().unwrap_or("-")
        );
    }
}
