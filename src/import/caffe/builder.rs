//! The graph under construction: Caffe's test-phase filtering, inputs, blob names in SSA
//! form, and the graph's outputs. Each computing layer gets its operator from the layer
//! table [`LAYERS`](super::LAYERS).

use super::source::Source;
use super::upgrade::{net_inputs, normalize_net};
use super::{format_error, layer_label, logits_of, CaffeModel, LAYERS};
use crate::error::{Error, NodeRef, Result};
use crate::graph::{Graph, Node, MAX_ACTIVATION_VALUES};
use crate::import::checked_product;
use crate::import::proto::caffe::{LayerParameter, NetParameter, NetStateRule, Phase};
use std::collections::{HashMap, HashSet};

/// Whether a `NetStateRule` is met by the deploy state (phase TEST, level 0, no stages).
fn rule_met(rule: &NetStateRule) -> bool {
    if rule.phase.is_some_and(|p| p != Phase::Test as i32) {
        return false;
    }
    if rule.min_level.is_some_and(|m| m > 0) || rule.max_level.is_some_and(|m| m < 0) {
        return false;
    }
    // The state has no stages: a rule requiring one fails, `not_stage` always passes.
    rule.stage.is_empty()
}

/// Caffe's `StateMeetsRule` filtering: with `include` rules the layer runs iff one is met,
/// otherwise it runs unless an `exclude` rule is met.
fn runs_in_test_phase(layer: &LayerParameter) -> bool {
    if !layer.include.is_empty() {
        layer.include.iter().any(rule_met)
    } else {
        !layer.exclude.iter().any(rule_met)
    }
}

fn is_dropped_type(t: &str) -> bool {
    t.ends_with("Loss") || matches!(t, "Accuracy" | "Silence")
}

fn is_data_type(t: &str) -> bool {
    matches!(
        t,
        "Data" | "ImageData" | "MemoryData" | "HDF5Data" | "WindowData" | "DummyData"
    )
}

/// The graph under construction.
pub(super) struct Builder<'a> {
    file: &'a str,
    pub(super) source: Source<'a>,
    warnings: Vec<String>,
    inputs: Vec<(String, Vec<usize>)>,
    nodes: Vec<Node>,
    shapes: HashMap<String, Vec<usize>>,
    current: HashMap<String, String>,
    node_names: HashSet<String>,
}

pub(super) fn build<'a>(
    net: &NetParameter,
    source: Source<'a>,
    file: &'a str,
) -> Result<(CaffeModel, Source<'a>)> {
    let net = normalize_net(net.clone(), file)?;
    let mut b = Builder {
        file,
        source,
        warnings: Vec::new(),
        inputs: Vec::new(),
        nodes: Vec::new(),
        shapes: HashMap::new(),
        current: HashMap::new(),
        node_names: HashSet::new(),
    };
    b.declared_inputs(&net)?;
    for (index, layer) in net.layer.iter().enumerate() {
        if !runs_in_test_phase(layer) {
            continue;
        }
        b.layer(index, layer)?;
    }
    let model = b.finish(&net)?;
    Ok((model, b.source))
}

impl Builder<'_> {
    /// An error naming the file and `layer`.
    pub(super) fn err(&self, layer: &LayerParameter, detail: impl Into<String>) -> Error {
        format_error(self.file, &layer_label(layer), detail)
    }

    /// The per-sample shape of the one bottom of `layer`, or an error if it has another
    /// number of bottoms.
    pub(super) fn one_input(
        &self,
        layer: &LayerParameter,
        inputs: &[Vec<usize>],
    ) -> Result<Vec<usize>> {
        match inputs {
            [x] => Ok(x.clone()),
            _ => Err(self.err(layer, format!("needs 1 bottom, has {}", inputs.len()))),
        }
    }

    /// Registers a graph input from a declared batch-first shape.
    fn add_input(&mut self, name: &str, declared: &[usize], what: &str) -> Result<()> {
        if declared.len() < 2 || declared.contains(&0) {
            return Err(format_error(
                self.file,
                what,
                format!(
                    "input `{name}` has shape {declared:?}; expected a batch axis \
                     and at least one more, none empty"
                ),
            ));
        }
        if self.current.contains_key(name) {
            return Err(format_error(
                self.file,
                what,
                format!("input `{name}` is declared twice"),
            ));
        }
        let shape = declared[1..].to_vec();
        // Bounded before any layer's shape rule multiplies the dimensions.
        if checked_product(&shape).is_none_or(|n| n > MAX_ACTIVATION_VALUES) {
            return Err(format_error(
                self.file,
                what,
                format!(
                    "input `{name}` of shape {declared:?} exceeds {MAX_ACTIVATION_VALUES} values per sample"
                ),
            ));
        }
        self.inputs.push((name.to_string(), shape.clone()));
        self.shapes.insert(name.to_string(), shape);
        self.current.insert(name.to_string(), name.to_string());
        Ok(())
    }

    /// The `input:` declarations of the network (not the `Input` layers).
    fn declared_inputs(&mut self, net: &NetParameter) -> Result<()> {
        let without_layers = NetParameter {
            input: net.input.clone(),
            input_dim: net.input_dim.clone(),
            input_shape: net.input_shape.clone(),
            ..NetParameter::default()
        };
        for input in net_inputs(&without_layers, self.file)? {
            self.add_input(&input.name, &input.shape, "network inputs")?;
        }
        Ok(())
    }

    /// A fresh tensor name for the output of layer `name`.
    fn tensor_name(&self, name: &str) -> String {
        let taken = |t: &str| self.shapes.contains_key(t);
        if !taken(name) {
            return name.to_string();
        }
        (2..)
            .map(|i| format!("{name}#{i}"))
            .find(|t| !taken(t))
            .unwrap_or_else(|| name.to_string())
    }

    /// The `Input` layer: one graph input per top.
    fn input_layer(&mut self, layer: &LayerParameter) -> Result<()> {
        let shapes = layer
            .input_param
            .as_ref()
            .map(|p| p.shape.clone())
            .unwrap_or_default();
        if shapes.len() != layer.top.len() && shapes.len() != 1 {
            return Err(self.err(
                layer,
                format!(
                    "{} tops but {} shapes (need one per top, or one)",
                    layer.top.len(),
                    shapes.len()
                ),
            ));
        }
        for (i, top) in layer.top.iter().enumerate() {
            let dims = &shapes[if shapes.len() == 1 { 0 } else { i }].dim;
            let dims: Vec<usize> = dims
                .iter()
                .map(|&d| usize::try_from(d))
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| self.err(layer, format!("negative dimension in {dims:?}")))?;
            self.add_input(top, &dims, &layer_label(layer))?;
        }
        Ok(())
    }

    /// A training data layer, taken as an input of its crop size.
    fn data_layer(&mut self, layer: &LayerParameter) -> Result<()> {
        let crop = layer
            .transform_param
            .as_ref()
            .and_then(|t| t.crop_size)
            .unwrap_or(0) as usize;
        let top = layer
            .top
            .first()
            .ok_or_else(|| self.err(layer, "has no top"))?;
        if crop == 0 {
            return Err(self.err(
                layer,
                "a data layer without `transform_param { crop_size }` does not say the input \
                 shape; use the deploy prototxt (with `input`/`Input`)",
            ));
        }
        self.warnings.push(format!(
            "{}: {}: taken as input `{top}` of shape [3, {crop}, {crop}] (3 channels assumed)",
            self.file,
            layer_label(layer)
        ));
        self.add_input(top, &[1, 3, crop, crop], &layer_label(layer))
    }

    /// Layer `index` of the network, in the test phase.
    fn layer(&mut self, index: usize, layer: &LayerParameter) -> Result<()> {
        let ty = layer.r#type();
        if ty == "Input" {
            return self.input_layer(layer);
        }
        if is_data_type(ty) {
            return self.data_layer(layer);
        }
        if is_dropped_type(ty) {
            self.warnings.push(format!(
                "{}: {}: dropped (not needed for inference)",
                self.file,
                layer_label(layer)
            ));
            return Ok(());
        }
        let mut bottoms = Vec::with_capacity(layer.bottom.len());
        for blob in &layer.bottom {
            let t = self.current.get(blob).cloned().ok_or_else(|| {
                self.err(
                    layer,
                    format!("reads blob `{blob}`, which no earlier layer or input produces"),
                )
            })?;
            bottoms.push(t);
        }
        if ty == "Split" {
            let [bottom] = bottoms.as_slice() else {
                return Err(self.err(layer, format!("needs 1 bottom, has {}", bottoms.len())));
            };
            let bottom = bottom.clone();
            for top in &layer.top {
                self.current.insert(top.clone(), bottom.clone());
            }
            return Ok(());
        }
        self.computing_layer(index, layer, bottoms)
    }

    /// A layer that becomes a node: its operator from the layer table [`LAYERS`].
    fn computing_layer(
        &mut self,
        index: usize,
        layer: &LayerParameter,
        bottoms: Vec<String>,
    ) -> Result<()> {
        let ty = layer.r#type();
        let name = if layer.name().is_empty() {
            let generated = format!("{ty}#{index}");
            self.warnings.push(format!(
                "{}: layer {index} ({ty}) has no name; called `{generated}`",
                self.file
            ));
            generated
        } else {
            layer.name().to_string()
        };
        if self.node_names.contains(&name) {
            return Err(self.err(layer, "a layer of this name already exists"));
        }
        if layer.top.len() != 1 {
            return Err(self.err(layer, format!("needs 1 top, has {}", layer.top.len())));
        }
        let in_shapes: Vec<Vec<usize>> = bottoms.iter().map(|t| self.shapes[t].clone()).collect();
        let Some(&(_, build)) = LAYERS.iter().find(|(t, _)| *t == ty) else {
            return Err(self.err(layer, format!("unsupported layer type `{ty}`")));
        };
        let op = build(self, layer, &in_shapes)?;
        let node = NodeRef::new(name.clone(), op.kind());
        let refs: Vec<&[usize]> = in_shapes.iter().map(Vec::as_slice).collect();
        let shape = op
            .output_shape(&node, &refs)
            .map_err(|e| self.err(layer, e.to_string()))?;
        if shape.contains(&0) {
            return Err(self.err(
                layer,
                format!("produces an empty tensor of shape {shape:?}"),
            ));
        }
        if checked_product(&shape).is_none_or(|n| n > MAX_ACTIVATION_VALUES) {
            return Err(self.err(
                layer,
                format!("output shape {shape:?} exceeds {MAX_ACTIVATION_VALUES} values per sample"),
            ));
        }
        let out = self.tensor_name(&name);
        self.shapes.insert(out.clone(), shape);
        self.current.insert(layer.top[0].clone(), out.clone());
        self.node_names.insert(name.clone());
        self.nodes.push(Node {
            name,
            op,
            inputs: bottoms,
            output: out,
        });
        Ok(())
    }

    /// The graph: outputs (main head first), inputs that a layer reads, the warnings.
    fn finish(&mut self, net: &NetParameter) -> Result<CaffeModel> {
        let mut consumers: HashMap<&str, usize> = HashMap::new();
        for n in &self.nodes {
            for t in &n.inputs {
                *consumers.entry(t.as_str()).or_default() += 1;
            }
        }
        let mut outputs: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| !consumers.contains_key(n.output.as_str()))
            .map(|n| n.output.clone())
            .collect();
        if let Some(main) = outputs.pop() {
            outputs.insert(0, main);
        } else {
            return Err(format_error(self.file, "network", "has no computing layer"));
        }
        let unused: Vec<String> = self
            .inputs
            .iter()
            .filter(|(n, _)| !consumers.contains_key(n.as_str()))
            .map(|(n, _)| n.clone())
            .collect();
        for name in &unused {
            self.warnings.push(format!(
                "{}: input `{name}` is read by no layer; left out of the graph",
                self.file
            ));
        }
        let inputs: Vec<(String, Vec<usize>)> = self
            .inputs
            .iter()
            .filter(|(n, _)| !unused.contains(n))
            .cloned()
            .collect();
        if inputs.is_empty() {
            return Err(format_error(
                self.file,
                "network",
                "has no input that a layer reads",
            ));
        }
        if let Source::Stored { layers, used, file } = &self.source {
            let mut extra: Vec<&str> = layers
                .keys()
                .filter(|k| !used.contains(**k))
                .copied()
                .collect();
            if !extra.is_empty() {
                extra.sort_unstable();
                let shown: Vec<&str> = extra.iter().take(5).copied().collect();
                self.warnings.push(format!(
                    "{file}: blobs of {} layer(s) not used by the network: {}{}",
                    extra.len(),
                    shown.join(", "),
                    if extra.len() > 5 { ", ..." } else { "" }
                ));
            }
        }
        let nodes = std::mem::take(&mut self.nodes);
        let out_refs: Vec<&str> = outputs.iter().map(String::as_str).collect();
        let mut graph = Graph::new(inputs, nodes, &out_refs)
            .map_err(|e| format_error(self.file, "network", e.to_string()))?;
        graph.set_name(net.name());
        let logits = logits_of(&graph);
        Ok(CaffeModel {
            graph,
            warnings: std::mem::take(&mut self.warnings),
            mean: None,
            blobs: std::mem::take(&mut self.current),
            logits,
        })
    }
}

/// Caffe's `CanonicalAxisIndex` for a blob of `rank` axes (batch included).
pub(super) fn canonical_axis(axis: i32, rank: usize) -> Option<usize> {
    let r = i64::try_from(rank).ok()?;
    let a = i64::from(axis);
    let a = if a < 0 { a + r } else { a };
    if (0..r).contains(&a) {
        usize::try_from(a).ok()
    } else {
        None
    }
}

/// `[h, w]` from a field (repeated for convolutions, at most one value for pooling) or its
/// `_h`/`_w` variants, by Caffe's 2-D rules.
pub(super) fn hw_pair(
    rep: &[u32],
    h: Option<u32>,
    w: Option<u32>,
    default: Option<usize>,
    what: &str,
) -> std::result::Result<[usize; 2], String> {
    if h.is_some() || w.is_some() {
        if !rep.is_empty() {
            return Err(format!(
                "`{what}` is given both as {what}_h/{what}_w and as {what}"
            ));
        }
        return match (h, w) {
            (Some(h), Some(w)) => Ok([h as usize, w as usize]),
            _ => Err(format!("{what}_h and {what}_w must be given together")),
        };
    }
    match (rep, default) {
        ([], Some(d)) => Ok([d, d]),
        ([], None) => Err(format!("`{what}` is required")),
        ([a], _) => Ok([*a as usize; 2]),
        ([a, b], _) => Ok([*a as usize, *b as usize]),
        _ => Err(format!(
            "{} values of `{what}`; a 2-D convolution takes 1 or 2",
            rep.len()
        )),
    }
}
