//! Token relevance of vision transformers: the patch tokens' relevance on the patch grid, and
//! what the class token and the position embedding absorb.
//!
//! A vision transformer (torchvision's `VisionTransformer`, timm's ViT and DeiT) cuts the
//! image into `p`×`p` patches with one convolution of kernel and stride `p` (the **patch
//! embedding**, output `[D, H/p, W/p]`), flattens its output into `H/p · W/p` tokens of
//! dimension `D`, puts a learned **class token** in front (a `ConstConcat`) and adds a learned
//! **position embedding** (an `Affine`, a constant addition). This part of the network is
//! its **token stem**.
//!
//! Relevance arriving at the stem's output (the tokens entering the first block, `R_stem`)
//! is split there, exactly (the stem's rules conserve what they do not hand to a constant):
//!
//! ```text
//! R_stem = R_patches + R_class_token + R_position
//! ```
//!
//! - `R_patches`: relevance at the patch embedding's output, the sum of the **token map**:
//!   per patch, summed over the `D` channels, an `H/p`×`W/p` grid ([`TokenRelevance::map`]).
//!   Drawn like a CNN heatmap (upsampled onto the image), it is the transformer's own
//!   resolution of the explanation: the pixel heatmap below it only distributes each patch's
//!   relevance over its pixels by the patch embedding's ε-rule;
//! - `R_class_token`: the share of the constant blocks of the `ConstConcat` nodes (the class
//!   token, and a distillation token where there is one), `Σ R_out − Σ R_in` of those nodes;
//! - `R_position`: the share the position embedding keeps as a bias under the
//!   `proportional` rule, `Σ R_out − Σ R_in` of the stem's `Affine` nodes.
//!
//! None of the three reaches the pixels through a constant; `R_patches` does, less what the
//! patch embedding's bias absorbs. The explained logit `R_logit` is larger or smaller than
//! `R_stem` by what the blocks' biases, stabilisers and (under `attnlrp`) the softmax rule's
//! bias term absorb: [`TokenRelevance::logit`] keeps it for the report.
//!
//! [`TokenLayout::find`] recognises the stem from the graph alone: a convolution reading the
//! network input with stride equal to its kernel (larger than 1) and no padding, followed
//! only by reshapes, transposes, class-token concatenations and constant additions, in a
//! network that multiplies activations (`MatMul`: attention). A CNN, a ConvNeXt with its
//! patchify stem included, has no token layout.
//!
//! ```
//! use lrp::composite::Composite;
//! use lrp::explain::{Explainer, Target};
//! use lrp::tokens::TokenLayout;
//! let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/vit");
//! let graph = lrp::import::onnx::load(format!("{dir}/vit_b_16_legacy.onnx")).unwrap();
//! let layout = TokenLayout::find(&graph).expect("a vision transformer");
//! assert_eq!((layout.grid, layout.patch), ([6, 6], [8, 8]));
//! let ex = Explainer::new(graph, &Composite::preset("attnlrp").unwrap()).unwrap();
//! let x = lrp::Tensor::from_elem(ndarray::IxDyn(&[1, 3, 48, 48]), 0.1);
//! let (e, tokens) = layout.explain(&ex, &x, &Target::Predicted).unwrap();
//! let t = &tokens[0];
//! assert_eq!(t.map.dim(), (6, 6));
//! // The stem's split is exact (up to float32 rounding).
//! let parts = t.patches + t.class_token + t.position;
//! assert!((parts - t.stem).abs() <= 1e-4 * t.stem.abs().max(1.0));
//! assert_eq!(t.logit, e.seed_sum(0));
//! ```
//!
//! A zoo CNN has no token layout:
//!
//! ```
//! use lrp::zoo::{self, Architecture};
//! let net = zoo::build(Architecture::AdienceNet, 8, 1).unwrap();
//! assert!(lrp::tokens::TokenLayout::find(&net).is_none());
//! ```

use crate::error::{Error, Result};
use crate::explain::{Explainer, Explanation, Target};
use crate::graph::Graph;
use crate::ops::{Op, Tensor};
use ndarray::{Array2, Axis};
use serde::{Deserialize, Serialize};

/// Where a vision transformer's tokens come from: its patch embedding and token stem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenLayout {
    /// The patch embedding convolution (index in graph order).
    pub patch_embedding: usize,
    /// Its name.
    pub name: String,
    /// The patch grid `[rows, columns]` (the convolution's output size).
    pub grid: [usize; 2],
    /// The patch size `[height, width]` in input pixels (kernel = stride).
    pub patch: [usize; 2],
    /// The token dimension `D` (the convolution's output channels).
    pub dim: usize,
    /// The stem's `ConstConcat` nodes (class and distillation tokens).
    pub class_tokens: Vec<usize>,
    /// The stem's constant additions (`Affine`: the position embedding).
    pub position: Vec<usize>,
    /// The stem's last node: its output is the tokens entering the first block.
    pub stem_end: usize,
}

/// Relevance of one explained map (one image × one target) at the token stem; see the module
/// documentation for the split. Every sum is float32 relevance, as the conservation report
/// records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRelevance {
    /// Patch-token relevance summed over channels, on the patch grid `[rows, columns]`.
    #[serde(skip)]
    pub map: Array2<f32>,
    /// Σ of `map`: the relevance of the patch tokens.
    pub patches: f32,
    /// The share of the class token(s).
    pub class_token: f32,
    /// The share the position embedding absorbs.
    pub position: f32,
    /// Σ relevance at the stem's output (the tokens entering the first block).
    pub stem: f32,
    /// The explained logit (Σ of the seed relevance).
    pub logit: f32,
}

impl TokenLayout {
    /// The token layout of `graph`, if it is a vision transformer as the module documentation
    /// describes; `None` for anything else.
    pub fn find(graph: &Graph) -> Option<TokenLayout> {
        let nodes = graph.nodes();
        if !nodes.iter().any(|n| matches!(n.op, Op::MatMul)) {
            return None;
        }
        let input = *graph.input_ids().first()?;
        // Readers of each tensor.
        let mut readers: Vec<Vec<usize>> = vec![Vec::new(); graph.tensors().len()];
        for i in 0..nodes.len() {
            for &t in graph.node_inputs(i) {
                readers[t].push(i);
            }
        }
        let (conv, patch) = readers[input].iter().find_map(|&i| match &nodes[i].op {
            Op::Conv(c) => {
                let (kh, kw) = (c.weight.shape()[2], c.weight.shape()[3]);
                let patchify = c.stride == [kh, kw]
                    && kh * kw > 1
                    && c.pads == [0; 4]
                    && c.dilation == [1, 1]
                    && c.groups == 1;
                patchify.then_some((i, [kh, kw]))
            }
            _ => None,
        })?;
        let out = &graph.tensors()[graph.node_output(conv)].shape;
        let &[dim, gh, gw] = out.as_slice() else {
            return None;
        };
        // Walk the stem: single readers of shape, class-token and constant-addition nodes.
        let (mut class_tokens, mut position) = (Vec::new(), Vec::new());
        let mut end = conv;
        while let &[next] = readers[graph.node_output(end)].as_slice() {
            match &nodes[next].op {
                Op::ConstConcat(_) => class_tokens.push(next),
                Op::Affine(_) => position.push(next),
                Op::Reshape(_) | Op::Flatten | Op::Transpose(_) | Op::Identity | Op::Dropout => {}
                _ => break,
            }
            end = next;
        }
        if class_tokens.is_empty() && position.is_empty() {
            return None;
        }
        Some(TokenLayout {
            patch_embedding: conv,
            name: nodes[conv].name.clone(),
            grid: [gh, gw],
            patch,
            dim,
            class_tokens,
            position,
            stem_end: end,
        })
    }

    /// Explains `x` with `explainer` (whose graph this layout was found in) and returns the
    /// explanation together with the token relevance of every map, image-major (`n·k`
    /// entries, as [`Explanation::relevance`] orders its maps).
    ///
    /// Errors: those of [`Explainer::explain`]; [`Error::Graph`] if the layout does not fit
    /// the explainer's graph.
    pub fn explain(
        &self,
        explainer: &Explainer,
        x: &Tensor,
        target: &Target,
    ) -> Result<(Explanation, Vec<TokenRelevance>)> {
        let g = explainer.graph();
        let fits = g.nodes().get(self.patch_embedding).map(|n| &n.name) == Some(&self.name)
            && self.stem_end < g.nodes().len();
        if !fits {
            return Err(Error::Graph(format!(
                "token layout of `{}` does not fit the graph `{}`",
                self.name,
                g.name()
            )));
        }
        let mut e = explainer.explain_keeping(x, target, &[self.patch_embedding])?;
        let tokens = self.relevance(g, &e)?;
        e.layers = None;
        Ok((e, tokens))
    }

    /// The token relevance of every map of `e`, an explanation of the layout's graph that
    /// kept the patch embedding's output relevance ([`Explainer::explain_keeping`]).
    fn relevance(&self, g: &Graph, e: &Explanation) -> Result<Vec<TokenRelevance>> {
        let name = &g.nodes()[self.patch_embedding].name;
        let kept = e
            .layers
            .as_ref()
            .and_then(|l| l.iter().find(|l| &l.node == name))
            .ok_or_else(|| {
                Error::Graph(format!(
                    "the relevance of the patch embedding `{name}` was not kept"
                ))
            })?;
        let r = &kept.relevance; // [n, k, D, gh, gw]
        let (n, k) = (r.shape()[0], r.shape()[1]);
        let [gh, gw] = self.grid;
        // Conservation entries by node name: (Σ out, Σ in) per map.
        let sums = |node: usize, m: usize| -> (f32, f32) {
            let nm = &g.nodes()[node].name;
            e.conservation
                .iter()
                .find(|c| &c.node == nm)
                .map_or((0.0, 0.0), |c| {
                    (
                        c.relevance_out.get(m).copied().unwrap_or(0.0),
                        c.relevance_in.get(m).copied().unwrap_or(0.0),
                    )
                })
        };
        let mut out = Vec::with_capacity(n * k);
        for i in 0..n {
            for j in 0..k {
                let m = i * k + j;
                let maps = r.index_axis(Axis(0), i);
                let one = maps.index_axis(Axis(0), j);
                let map = one
                    .sum_axis(Axis(0))
                    .into_shape_with_order((gh, gw))
                    .map_err(|err| Error::Graph(format!("patch grid of `{name}`: {err}")))?;
                let patches = map.iter().map(|&v| f64::from(v)).sum::<f64>() as f32;
                let absorbed = |nodes: &[usize]| -> f32 {
                    nodes
                        .iter()
                        .map(|&c| {
                            let (o, i) = sums(c, m);
                            o - i
                        })
                        .sum()
                };
                out.push(TokenRelevance {
                    patches,
                    class_token: absorbed(&self.class_tokens),
                    position: absorbed(&self.position),
                    stem: sums(self.stem_end, m).0,
                    logit: e.seed_sum(m),
                    map,
                });
            }
        }
        Ok(out)
    }
}
