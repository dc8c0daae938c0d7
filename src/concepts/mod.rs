//! Concept Relevance Propagation (CRP): which channels ("concepts") of a layer a prediction
//! uses, and where in the input each of them looks.
//!
//! Achtibat et al., *From attribution maps to human-understandable explanations through
//! Concept Relevance Propagation*, Nature Machine Intelligence 2023, and their reference
//! implementation zennit-crp (0.6), whose `CondAttribution` this module computes:
//!
//! - **Seed**: the relevance starts at the logits as in every explanation here, the target's
//!   logit at the target class and 0 elsewhere (zennit-crp: `prediction × one-hot`).
//! - **Condition**: a [`Condition`] names a target and, per layer, a set of channels. On the
//!   way back, the relevance arriving at that layer's output (the sum over everything that
//!   reads it) is set to zero outside the chosen channels, *before* the layer's own rule
//!   distributes it to the layer's inputs (zennit-crp masks the gradient at the module's
//!   output). With `exclude_parallel` (zennit-crp's default), relevance that would reach the
//!   input by paths around a conditioned layer (a residual shortcut) is dropped too, so the
//!   heatmap shows only what flows through the chosen channels.
//! - **Batching**: `K` conditions of one image share one forward pass and run as `K` maps of
//!   one batched backward pass (zennit-crp repeats the input `K` times; the result is the
//!   same).
//! - **Channel relevance**: the relevance of channel `c` of a layer is the sum of the layer's
//!   output relevance over the channel's map; its **share** is that sum over the sum of the
//!   absolute values over all channels (zennit-crp's `ChannelConcept.attribute` with
//!   `abs_norm=True`).
//!
//! LRP's rules are linear in the relevance they distribute, so the conditional heatmaps of all
//! channels of a layer add up to the heatmap of everything that flows through the layer
//! (for a layer every path passes, the ordinary heatmap), and channel relevances add up to
//! the layer's total.
//!
//! [`maximise`] finds, over a stream of images, the samples where each channel is most
//! relevant (and most active), and the receptive-field box of each.
//!
//! ```
//! use lrp::{composite::Composite, concepts, explain::Explainer, model::Model, Tensor};
//! let model = Model::gender().unwrap();
//! let ex = Explainer::new(model.graph, &Composite::preset("epsilon-plus-flat").unwrap()).unwrap();
//! let x = Tensor::from_elem(ndarray::IxDyn(&[1, 3, 32, 32]), 0.1);
//! // The three most relevant channels of `layer_12_conv` for the predicted class...
//! let e = concepts::explain_concepts(&ex, &x, "layer_12_conv", None, 3).unwrap();
//! assert_eq!(e.concepts.len(), 3);
//! // ... and one conditional heatmap per concept.
//! assert_eq!(e.heatmaps.shape(), &[3, 3, 32, 32]);
//! ```

pub mod figure;
pub mod maximise;

use crate::error::{Error, Result};
use crate::explain::{ChannelMask, Explainer, LayerRelevance, Target};
use crate::graph::Graph;
use crate::kernels;
use crate::ops::Tensor;
use ndarray::{Array2, Array3, IxDyn};

/// One condition: a target class and, per layer, the channels relevance may pass through.
///
/// ```
/// use lrp::concepts::Condition;
/// let c = Condition::new(Some(1)).channels("layer_12_conv", &[3, 7]);
/// assert_eq!(c.layers[0].1, vec![3, 7]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The class whose logit seeds the relevance; `None`: the predicted class.
    pub target: Option<usize>,
    /// Per layer (node name), the channels kept there.
    pub layers: Vec<(String, Vec<usize>)>,
}

impl Condition {
    /// A condition on the output only (the ordinary explanation of `target`).
    pub fn new(target: Option<usize>) -> Self {
        Condition {
            target,
            layers: Vec::new(),
        }
    }

    /// The same condition, also keeping only `channels` at layer `layer`.
    pub fn channels(mut self, layer: &str, channels: &[usize]) -> Self {
        self.layers.push((layer.to_string(), channels.to_vec()));
        self
    }
}

/// A layer whose channels can be conditioned on: a node on the path to the logits whose
/// output is `[C, H, W]` (or `[C]`, a dense layer's units).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConceptLayer {
    /// Node name.
    pub name: String,
    /// Index in graph order.
    pub node: usize,
    /// Output shape without the batch dimension, channels first.
    pub shape: Vec<usize>,
}

impl ConceptLayer {
    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.shape[0]
    }
}

/// Names of the layers of `ex` that [`layer`] accepts, in graph order.
pub fn channel_layers(ex: &Explainer) -> Vec<String> {
    let g = ex.graph();
    (0..g.nodes().len())
        .filter(|&i| carries_channels(ex, g, i))
        .map(|i| g.nodes()[i].name.clone())
        .collect()
}

fn carries_channels(ex: &Explainer, g: &Graph, i: usize) -> bool {
    let shape = &g.tensors()[g.node_output(i)].shape;
    ex.prepared(i).is_some() && matches!(shape.len(), 1 | 3) && shape[0] > 0
}

/// Look up layer `name` of `ex`: an error names the model and lists the layers with channels
/// when there is no such node, when relevance never reaches it (off the path to the logits)
/// or when its output is not channels-first (`[C, H, W]` or `[C]`).
pub fn layer(ex: &Explainer, name: &str) -> Result<ConceptLayer> {
    let g = ex.graph();
    let Some(node) = g.nodes().iter().position(|n| n.name == name) else {
        let mut valid = channel_layers(ex);
        if valid.len() > 40 {
            valid.truncate(40);
            valid.push("…".into());
        }
        return Err(Error::Concept(format!(
            "model `{}` has no layer `{name}`; layers with channels: {} (`lrp info MODEL` lists every layer)",
            g.name(),
            valid.join(", ")
        )));
    };
    let shape = g.tensors()[g.node_output(node)].shape.clone();
    if ex.prepared(node).is_none() {
        return Err(Error::Concept(format!(
            "layer `{name}` of `{}` does not lead to the logits: no relevance reaches it",
            g.name()
        )));
    }
    if !matches!(shape.len(), 1 | 3) || shape[0] == 0 {
        return Err(Error::Concept(format!(
            "layer `{name}` of `{}` has output {shape:?}, which has no channels: concepts are \
             channels of a [C, H, W] (convolution) or [C] (dense) output",
            g.name()
        )));
    }
    Ok(ConceptLayer {
        name: name.to_string(),
        node,
        shape,
    })
}

/// Conditional explanations of a batch: `K` conditions for each of `n` images.
#[derive(Debug, Clone)]
pub struct Conditional {
    /// Input relevance `[n, K, C, H, W]`: map `(i, j)` is image `i` under condition `j`.
    pub heatmaps: Tensor,
    /// Pre-softmax logits `[n, classes]`.
    pub logits: Array2<f32>,
    /// The class explained, per image and condition.
    pub targets: Vec<Vec<usize>>,
    /// Relevance at the output of each recorded layer, `[n, K, …]`, in the order asked for
    /// (a conditioned layer's after its mask).
    pub layers: Vec<LayerRelevance>,
}

/// Explain every image of `x` (`[n, C, H, W]`) under each of `conditions`, in one forward
/// and one batched backward pass, recording the relevance at the outputs of `record`.
///
/// `exclude_parallel` drops, in each condition, the relevance that bypasses its conditioned
/// layers (zennit-crp's default, `True`); without it only the masks apply. For a layer
/// every path passes through, both give the same result.
///
/// Errors ([`Error::Concept`]): no conditions, a condition with an empty channel set, an
/// unknown layer or one without channels, a channel out of range; a target class the model
/// does not have ([`Error::Invalid`]).
pub fn conditional(
    ex: &Explainer,
    x: &Tensor,
    conditions: &[Condition],
    record: &[&str],
    exclude_parallel: bool,
) -> Result<Conditional> {
    if conditions.is_empty() {
        return Err(Error::Concept("no conditions given".into()));
    }
    let k = conditions.len();
    let n = x.shape().first().copied().unwrap_or(0);
    // Resolve the masks: per conditioned node, per map, the channels kept.
    let mut masks: Vec<ChannelMask> = Vec::new();
    for (j, cond) in conditions.iter().enumerate() {
        for (name, channels) in &cond.layers {
            let l = layer(ex, name)?;
            if channels.is_empty() {
                return Err(Error::Concept(format!(
                    "condition {j} selects no channel of layer `{name}`"
                )));
            }
            let mut keep = vec![false; l.channels()];
            for &c in channels {
                *keep.get_mut(c).ok_or_else(|| {
                    Error::Concept(format!(
                        "condition {j}: layer `{name}` has {} channels (0..{}); channel {c} does not exist",
                        l.channels(),
                        l.channels() - 1
                    ))
                })? = true;
            }
            let idx = match masks.iter().position(|m| m.node == l.node) {
                Some(p) => p,
                None => {
                    masks.push(ChannelMask {
                        node: l.node,
                        keep: vec![None; n * k],
                        exclude_parallel,
                    });
                    masks.len() - 1
                }
            };
            for i in 0..n {
                let slot = &mut masks[idx].keep[i * k + j];
                match slot {
                    // The same layer named twice in one condition: both sets apply.
                    Some(prev) => prev.iter_mut().zip(&keep).for_each(|(a, b)| *a &= b),
                    None => *slot = Some(keep.clone()),
                }
            }
        }
    }
    let mut nodes = Vec::with_capacity(record.len());
    for name in record {
        nodes.push(layer(ex, name)?.node);
    }
    // Targets: per image, one class per condition.
    let predicted: Option<Vec<usize>> = if conditions.iter().any(|c| c.target.is_none()) {
        let logits = ex.graph().finite_logits(x)?;
        Some(
            logits
                .rows()
                .into_iter()
                .map(|r| crate::graph::argmax(&r.to_vec()))
                .collect(),
        )
    } else {
        None
    };
    let rows: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            conditions
                .iter()
                .map(|c| {
                    c.target
                        .unwrap_or_else(|| predicted.as_ref().map_or(0, |p| p[i]))
                })
                .collect()
        })
        .collect();
    let e = ex.explain_masked(x, &Target::PerImage(rows), &nodes, &masks)?;
    let mut kept = e.layers.unwrap_or_default();
    let layers = nodes
        .iter()
        .map(|&node| {
            let name = &ex.graph().nodes()[node].name;
            let at = kept.iter().position(|l| &l.node == name);
            match at {
                Some(p) => Ok(kept.swap_remove(p)),
                // No relevance reached it: all zero.
                None => {
                    let mut shape = vec![n, k];
                    shape.extend_from_slice(
                        &ex.graph().tensors()[ex.graph().node_output(node)].shape,
                    );
                    Ok(LayerRelevance {
                        node: name.clone(),
                        relevance: Tensor::zeros(IxDyn(&shape)),
                    })
                }
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Conditional {
        heatmaps: e.relevance,
        logits: e.logits,
        targets: e.targets,
        layers,
    })
}

/// Per map and channel, the sum of a layer's relevance over the channel's map: `relevance`
/// is `[n, k, C, …]` (as [`Conditional::layers`] or [`crate::explain::Explanation::layers`]
/// hold it), the result `[n, k, C]` (summed in `f64`).
///
/// ```
/// use lrp::{concepts::channel_relevance, Tensor};
/// let r = Tensor::from_shape_vec(ndarray::IxDyn(&[1, 1, 2, 2]), vec![1.0, 2.0, -3.0, 0.5]).unwrap();
/// let c = channel_relevance(&r).unwrap();
/// assert_eq!(c.iter().copied().collect::<Vec<f32>>(), vec![3.0, -2.5]);
/// ```
pub fn channel_relevance(relevance: &Tensor) -> Result<Array3<f32>> {
    let s = relevance.shape();
    if s.len() < 3 {
        return Err(Error::Concept(format!(
            "layer relevance has shape {s:?}; expected [n, k, C, …]"
        )));
    }
    let (n, k, c) = (s[0], s[1], s[2]);
    let plane: usize = s[3..].iter().product();
    let std = relevance.as_standard_layout();
    let v = std.as_slice().unwrap_or(&[]);
    let sums: Vec<f32> = v
        .chunks(plane.max(1))
        .map(|ch| kernels::sum(ch) as f32)
        .collect();
    Array3::from_shape_vec((n, k, c), sums)
        .map_err(|e| Error::Concept(format!("layer relevance of shape {s:?}: {e}")))
}

/// A concept (channel) of a layer and its part in a prediction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Concept {
    /// Channel index.
    pub channel: usize,
    /// The channel's relevance (sum over its map).
    pub relevance: f32,
    /// Its share: relevance over the sum of |relevance| of all the layer's channels
    /// (zennit-crp's `abs_norm`); the shares' absolute values add up to 1.
    pub share: f32,
}

/// The `top` channels of `relevance` (one value per channel), most relevant first (ties:
/// the lower channel first), with their shares.
///
/// ```
/// let c = lrp::concepts::top_concepts(&[1.0, -3.0, 4.0], 2);
/// assert_eq!((c[0].channel, c[0].share), (2, 0.5));
/// assert_eq!((c[1].channel, c[1].share), (0, 0.125));
/// ```
pub fn top_concepts(relevance: &[f32], top: usize) -> Vec<Concept> {
    let abs: f64 = relevance.iter().map(|&r| f64::from(r).abs()).sum();
    let mut order: Vec<usize> = (0..relevance.len()).collect();
    order.sort_by(|&a, &b| relevance[b].total_cmp(&relevance[a]).then(a.cmp(&b)));
    order
        .into_iter()
        .take(top)
        .map(|c| Concept {
            channel: c,
            relevance: relevance[c],
            share: if abs > 0.0 {
                (f64::from(relevance[c]) / abs) as f32
            } else {
                0.0
            },
        })
        .collect()
}

/// One image's concepts at one layer: the most relevant channels and a heatmap for each.
#[derive(Debug, Clone)]
pub struct ConceptExplanation {
    /// The class explained.
    pub target: usize,
    /// Pre-softmax logits `[classes]`.
    pub logits: Vec<f32>,
    /// The layer.
    pub layer: ConceptLayer,
    /// Relevance of every channel of the layer (sum over its map).
    pub channel_relevance: Vec<f32>,
    /// The most relevant channels, most relevant first.
    pub concepts: Vec<Concept>,
    /// Their conditional input heatmaps, `[top, C, H, W]` (conditioned on the layer with
    /// `exclude_parallel`).
    pub heatmaps: Tensor,
}

/// Explain image `x` (`[1, C, H, W]`) for `target` (`None`: the predicted class) through
/// layer `layer`: the relevance of each of its channels, the `top` most relevant ones and a
/// conditional heatmap for each (two backward passes: one for the channel relevances, one
/// batched pass for the `top` conditions).
pub fn explain_concepts(
    ex: &Explainer,
    x: &Tensor,
    layer_name: &str,
    target: Option<usize>,
    top: usize,
) -> Result<ConceptExplanation> {
    let l = layer(ex, layer_name)?;
    if x.shape().first() != Some(&1) {
        return Err(Error::Concept(format!(
            "explain_concepts takes one image ([1, C, H, W]), got shape {:?}",
            x.shape()
        )));
    }
    if top == 0 {
        return Err(Error::Concept("top must be at least 1".into()));
    }
    let plain = conditional(ex, x, &[Condition::new(target)], &[layer_name], true)?;
    let rel = channel_relevance(&plain.layers[0].relevance)?
        .iter()
        .copied()
        .collect::<Vec<f32>>();
    let concepts = top_concepts(&rel, top.min(l.channels()));
    let t = plain.targets[0][0];
    let conds: Vec<Condition> = concepts
        .iter()
        .map(|c| Condition::new(Some(t)).channels(layer_name, &[c.channel]))
        .collect();
    let cond = conditional(ex, x, &conds, &[], true)?;
    let mut shape = cond.heatmaps.shape()[1..].to_vec();
    shape[0] = conds.len();
    let heatmaps = cond
        .heatmaps
        .into_shape_with_order(IxDyn(&shape))
        .map_err(|e| Error::Concept(format!("heatmaps: {e}")))?;
    Ok(ConceptExplanation {
        target: t,
        logits: plain.logits.row(0).to_vec(),
        layer: l,
        channel_relevance: rel,
        concepts,
        heatmaps,
    })
}
