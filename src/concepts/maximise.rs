//! Relevance and activation maximisation: over a stream of samples, for every channel of a
//! layer, the samples where the channel is most relevant (and most active), kept in a small
//! index that a later query reads instead of rerunning the dataset.
//!
//! The scoring is zennit-crp 0.6's `FeatureVisualization` with its defaults
//! (`max_target="sum"`, `abs_norm=True`; its `ChannelConcept.reference_sampling` and
//! `Maximization.analyze_layer`):
//!
//! - **relevance**: each sample is explained for its predicted class (zennit-crp explains the
//!   dataset's label); `v[c]` is the sum of the layer's output relevance over channel `c`'s
//!   map; the sample's score for `c` is `v[c] / (Σ_c' |v[c']| + 1e-10)`;
//! - **activation**: the same with the layer's output (before any following ReLU: the value
//!   the layer writes) in place of its relevance;
//! - **position**: the flat index (row-major over the map) of the largest value of the
//!   channel's map in that sample (relevance or activation), the first on ties;
//! - **top lists**: per channel, the `top` highest scores over everything seen, kept as
//!   batches arrive (memory: `2 · top · channels` entries, whatever the dataset's size);
//!   equal scores keep the lower sample id first (zennit-crp's order among exact ties is
//!   torch's unstable sort).
//!
//! [`receptive_field`] finds the input box of one position of a channel: the bounding box of
//! the input relevance that flows through that single neuron (its conditional heatmap, summed
//! over colour channels), where its magnitude exceeds 10 % of its maximum. zennit-crp crops
//! its reference images the same way (`crop_th=0.1`), from a heatmap started at the neuron's
//! activation and smoothed by a Gaussian; here the heatmap is the one the prediction sends
//! through the neuron, unsmoothed.

use super::{layer, ConceptLayer};
use crate::error::{Error, Result};
use crate::explain::{ChannelMask, Explainer, Target};
use crate::ops::Tensor;
use serde::{Deserialize, Serialize};

/// One entry of a channel's top list.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// The sample's id (its position in the stream).
    pub sample: usize,
    /// Its score for the channel (see the module docs).
    pub score: f32,
    /// Flat index of the channel's largest value in that sample's map.
    pub position: usize,
}

/// Per channel, the best samples by relevance and by activation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopLists {
    /// The layer.
    pub layer: String,
    /// Its output shape, channels first.
    pub shape: Vec<usize>,
    /// How many samples each list keeps.
    pub top: usize,
    /// Samples seen.
    pub samples: usize,
    /// Per channel, best relevance first.
    pub relevance: Vec<Vec<Reference>>,
    /// Per channel, best activation first.
    pub activation: Vec<Vec<Reference>>,
}

/// Relevance and activation maximisation over batches of samples.
///
/// ```
/// use lrp::{composite::Composite, concepts::maximise::Maximiser, explain::Explainer, model::Model, Tensor};
/// let ex = Explainer::new(Model::gender().unwrap().graph, &Composite::preset("epsilon-plus-flat").unwrap()).unwrap();
/// let mut m = Maximiser::new(&ex, "layer_12_conv", 2).unwrap();
/// let x = Tensor::from_shape_fn(ndarray::IxDyn(&[3, 3, 32, 32]), |i| (i[1] + i[2] * i[3]) as f32 * 0.01);
/// m.add(&ex, &[0, 1, 2], &x).unwrap();
/// let lists = m.finish();
/// assert_eq!(lists.relevance.len(), 64);
/// assert_eq!(lists.relevance[0].len(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct Maximiser {
    layer: ConceptLayer,
    lists: TopLists,
}

impl Maximiser {
    /// Maximisation of the channels of layer `name` of `ex`, keeping `top` samples per
    /// channel (1 to 10 000).
    pub fn new(ex: &Explainer, name: &str, top: usize) -> Result<Self> {
        let l = layer(ex, name)?;
        if !(1..=10_000).contains(&top) {
            return Err(Error::Concept(format!(
                "top must be between 1 and 10000, got {top}"
            )));
        }
        let c = l.channels();
        Ok(Maximiser {
            lists: TopLists {
                layer: name.to_string(),
                shape: l.shape.clone(),
                top,
                samples: 0,
                relevance: vec![Vec::new(); c],
                activation: vec![Vec::new(); c],
            },
            layer: l,
        })
    }

    /// Score a batch `x` (`[n, C, H, W]`) of samples with ids `ids` (one per image; ids
    /// should be unique over the stream) and merge them into the top lists.
    pub fn add(&mut self, ex: &Explainer, ids: &[usize], x: &Tensor) -> Result<()> {
        let n = x.shape().first().copied().unwrap_or(0);
        if ids.len() != n {
            return Err(Error::Concept(format!(
                "{} sample ids for a batch of {n} images",
                ids.len()
            )));
        }
        if n == 0 {
            return Ok(());
        }
        let e = ex.explain_keeping(x, &Target::Predicted, &[self.layer.node])?;
        let per: usize = self.layer.shape.iter().product();
        let rel = match e.layers.as_ref().and_then(|l| l.first()) {
            Some(l) => l.relevance.as_standard_layout().iter().copied().collect(),
            None => vec![0.0; n * per],
        };
        let acts = ex.graph().run(&[x], true)?;
        let out = ex.graph().node_output(self.layer.node);
        let act: Vec<f32> = acts
            .get(out)
            .ok_or_else(|| {
                Error::Graph(format!("activation of `{}` was not kept", self.layer.name))
            })?
            .as_standard_layout()
            .iter()
            .copied()
            .collect();
        let c = self.layer.channels();
        for (values, lists) in [
            (&rel, &mut self.lists.relevance),
            (&act, &mut self.lists.activation),
        ] {
            for (i, &id) in ids.iter().enumerate() {
                for (ch, r) in score(&values[i * per..(i + 1) * per], c)
                    .into_iter()
                    .enumerate()
                {
                    let list = &mut lists[ch];
                    list.push(Reference {
                        sample: id,
                        score: r.0,
                        position: r.1,
                    });
                }
            }
            for list in lists.iter_mut() {
                list.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.sample.cmp(&b.sample)));
                list.truncate(self.lists.top);
            }
        }
        self.lists.samples += n;
        Ok(())
    }

    /// The top lists so far.
    pub fn lists(&self) -> &TopLists {
        &self.lists
    }

    /// The top lists.
    pub fn finish(self) -> TopLists {
        self.lists
    }
}

/// One sample's map `[C, …]`: per channel, (score, position of the largest value).
fn score(map: &[f32], channels: usize) -> Vec<(f32, usize)> {
    let plane = map.len() / channels.max(1);
    let sums: Vec<(f64, usize)> = map
        .chunks(plane.max(1))
        .map(|m| {
            let s: f64 = m.iter().map(|&v| f64::from(v)).sum();
            let mut best = 0;
            for (j, &v) in m.iter().enumerate() {
                if v > m[best] {
                    best = j;
                }
            }
            (s, best)
        })
        .collect();
    let abs: f64 = sums.iter().map(|(s, _)| s.abs()).sum();
    sums.into_iter()
        .map(|(s, p)| ((s / (abs + 1e-10)) as f32, p))
        .collect()
}

/// A box in input pixels: rows `top..bottom`, columns `left..right` (end exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PixelBox {
    /// First row.
    pub top: usize,
    /// First column.
    pub left: usize,
    /// One past the last row.
    pub bottom: usize,
    /// One past the last column.
    pub right: usize,
}

/// The receptive-field box of position `position` (flat index in the channel's map) of
/// channel `channel` of layer `name`, in image `x` (`[1, C, H, W]`), explained for its
/// predicted class: see the module docs. A neuron no relevance flows through gives the whole
/// image.
pub fn receptive_field(
    ex: &Explainer,
    x: &Tensor,
    name: &str,
    channel: usize,
    position: usize,
) -> Result<PixelBox> {
    Ok(receptive_fields(ex, x, name, &[(channel, position)])?[0])
}

/// [`receptive_field`] for several `(channel, position)` neurons of one image, in one batched
/// backward pass.
pub fn receptive_fields(
    ex: &Explainer,
    x: &Tensor,
    name: &str,
    neurons: &[(usize, usize)],
) -> Result<Vec<PixelBox>> {
    let l = layer(ex, name)?;
    let per: usize = l.shape.iter().product();
    let plane = per / l.channels();
    let s = x.shape();
    if s.len() != 4 || s[0] != 1 {
        return Err(Error::Concept(format!(
            "receptive_field takes one image ([1, C, H, W]), got shape {s:?}"
        )));
    }
    if neurons.is_empty() {
        return Ok(Vec::new());
    }
    let mut keeps = Vec::with_capacity(neurons.len());
    for &(channel, position) in neurons {
        if channel >= l.channels() || position >= plane {
            return Err(Error::Concept(format!(
                "layer `{name}` has {} channels of {plane} positions; no channel {channel} position {position}",
                l.channels()
            )));
        }
        let mut keep = vec![false; per];
        keep[channel * plane + position] = true;
        keeps.push(Some(keep));
    }
    let k = neurons.len();
    let mask = ChannelMask {
        node: l.node,
        keep: keeps,
        exclude_parallel: true,
    };
    let pred = crate::graph::argmax(&ex.graph().finite_logits(x)?.row(0).to_vec());
    let e = ex.explain_masked(x, &Target::PerImage(vec![vec![pred; k]]), &[], &[mask])?;
    let (h, w) = (s[2], s[3]);
    let r = e.relevance.as_standard_layout();
    let r = r.as_slice().unwrap_or(&[]);
    Ok(r.chunks(s[1] * h * w)
        .map(|m| bounding_box(m, h, w))
        .collect())
}

/// The box where |Σ over colour channels| of map `m` (`[C, h, w]`) exceeds 10 % of its
/// maximum; the whole image for an all-zero map.
fn bounding_box(m: &[f32], h: usize, w: usize) -> PixelBox {
    let mut heat = vec![0f32; h * w];
    for colour in m.chunks(h * w) {
        heat.iter_mut().zip(colour).for_each(|(a, b)| *a += b);
    }
    let max = heat.iter().fold(0f32, |m, v| m.max(v.abs()));
    let whole = PixelBox {
        top: 0,
        left: 0,
        bottom: h,
        right: w,
    };
    if max <= 0.0 || !max.is_finite() {
        return whole;
    }
    let (mut t, mut lft, mut b, mut rt) = (h, w, 0, 0);
    for (i, v) in heat.iter().enumerate() {
        if v.abs() > 0.1 * max {
            let (y, xx) = (i / w, i % w);
            t = t.min(y);
            b = b.max(y + 1);
            lft = lft.min(xx);
            rt = rt.max(xx + 1);
        }
    }
    PixelBox {
        top: t,
        left: lft,
        bottom: b,
        right: rt,
    }
}

/// A relevance-maximisation index on disk: the top lists of one layer of one model under one
/// preset, the samples' names, and per relevance reference its receptive-field box; written
/// once as `index.json`, read by later queries instead of rerunning the dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Index {
    /// The model's name.
    pub model: String,
    /// The preset (composite) name.
    pub preset: String,
    /// The top lists.
    pub lists: TopLists,
    /// Per sample id, its name (e.g. the file path).
    pub names: Vec<String>,
    /// Per channel, per relevance reference (as in `lists.relevance`), its box in network
    /// input pixels.
    pub boxes: Vec<Vec<PixelBox>>,
}

/// Largest `index.json` [`Index::load`] reads.
pub const MAX_INDEX_BYTES: u64 = 256 << 20;

impl Index {
    /// Write the index as JSON to `path` (through a temporary file, renamed into place).
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        let text =
            serde_json::to_string(self).map_err(|e| Error::Concept(format!("index: {e}")))?;
        let tmp = path.with_extension("json.part");
        let write = |p: &std::path::Path, bytes: &[u8]| {
            std::fs::write(p, bytes).map_err(|e| Error::Write {
                file: p.display().to_string(),
                source: e,
            })
        };
        write(&tmp, text.as_bytes())?;
        std::fs::rename(&tmp, path).map_err(|e| Error::Write {
            file: path.display().to_string(),
            source: e,
        })
    }

    /// Read an index written by [`Index::save`] (at most [`MAX_INDEX_BYTES`]); its lists must
    /// be consistent (one list and one box list per channel, boxes for every reference).
    pub fn load(path: &std::path::Path) -> Result<Index> {
        let text = crate::files::read_text_bounded(path, MAX_INDEX_BYTES, "a concept index")?;
        let idx: Index = serde_json::from_str(&text)
            .map_err(|e| Error::Concept(format!("{}: not a concept index: {e}", path.display())))?;
        let c = idx.lists.shape.first().copied().unwrap_or(0);
        let ok = idx.lists.relevance.len() == c
            && idx.lists.activation.len() == c
            && idx.boxes.len() == c
            && idx
                .boxes
                .iter()
                .zip(&idx.lists.relevance)
                .all(|(b, r)| b.len() == r.len())
            && idx
                .lists
                .relevance
                .iter()
                .chain(&idx.lists.activation)
                .flatten()
                .all(|r| r.sample < idx.names.len());
        if !ok {
            return Err(Error::Concept(format!(
                "{}: inconsistent concept index (lists, boxes and names do not match)",
                path.display()
            )));
        }
        Ok(idx)
    }
}
