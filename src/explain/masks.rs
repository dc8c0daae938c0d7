//! Channel masks on the relevance at a node's output: how [`crate::concepts`] conditions
//! relevance (zennit-crp's `CondAttribution`), and the `exclude_parallel` switch that drops
//! the relevance reaching the input around the masked node.

use crate::graph::Graph;

/// A channel mask on the relevance at one node's output, per relevance map: how
/// [`crate::concepts`] conditions relevance on channels (zennit-crp's `CondAttribution`
/// masks the gradient at a module's output the same way, before the module's rule).
#[derive(Debug, Clone)]
pub(crate) struct ChannelMask {
    /// The node (graph order) whose output relevance is masked.
    pub node: usize,
    /// Per map (`n·k`, image-major): the channels that pass (one flag per channel), or the
    /// elements that pass (one flag per element of the output); `None` for maps this node
    /// does not condition.
    pub keep: Vec<Option<Vec<bool>>>,
    /// In the maps this node conditions, drop the relevance that reaches the input by paths
    /// around the node (zennit-crp's `exclude_parallel`).
    pub exclude_parallel: bool,
}

impl ChannelMask {
    /// Zero, in `r` (maps of `out_shape`, channels first), the channels (or elements) each
    /// map drops.
    pub(super) fn apply(&self, r: &mut [f32], out_shape: &[usize]) {
        let per: usize = out_shape.iter().product();
        let channels = out_shape.first().copied().unwrap_or(1).max(1);
        for (map, keep) in r.chunks_mut(per.max(1)).zip(&self.keep) {
            let Some(keep) = keep else { continue };
            let plane = if keep.len() == per { 1 } else { per / channels };
            for (c, ch) in map.chunks_mut(plane.max(1)).enumerate() {
                if !keep.get(c).copied().unwrap_or(false) {
                    ch.fill(0.0);
                }
            }
        }
    }
}

/// Before node `out_id`'s producer sends relevance on: in the maps its masks condition (with
/// `exclude_parallel`), zero the relevance pending at every other tensor. Nodes are walked in
/// reverse topological order, so what is pending elsewhere at this moment came by paths that
/// do not pass through the node; whatever passes through it is still at its output.
pub(super) fn exclude_parallel<'a>(
    g: &Graph,
    rel: &mut [Option<Vec<f32>>],
    out_id: usize,
    masks: impl Iterator<Item = &'a ChannelMask>,
) {
    let mut drop: Vec<bool> = Vec::new();
    for m in masks.filter(|m| m.exclude_parallel) {
        if drop.len() < m.keep.len() {
            drop.resize(m.keep.len(), false);
        }
        for (d, k) in drop.iter_mut().zip(&m.keep) {
            *d |= k.is_some();
        }
    }
    for (t, slot) in rel.iter_mut().enumerate() {
        let Some(r) = slot.as_mut().filter(|_| t != out_id) else {
            continue;
        };
        let per: usize = g.tensors()[t].shape.iter().product();
        for (map, &d) in r.chunks_mut(per.max(1)).zip(&drop) {
            if d {
                map.fill(0.0);
            }
        }
    }
}
