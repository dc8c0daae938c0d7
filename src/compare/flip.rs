//! Faithfulness by region perturbation ("pixel flipping", Samek et al., 2017, *Evaluating the
//! visualization of what a deep neural network has learned*).
//!
//! The input is cut into `p`×`p` patches (at the network's resolution). In the order given by
//! the heatmap (most relevant first: largest relevance sum per patch) or at random, the
//! patches are replaced by a baseline, a few per step, and the target's logit is recorded
//! after every step. A faithful heatmap makes the score fall fast; the area over the
//! perturbation curve, `AOPC = 1/(S+1) Σ_{k=0}^{S} (f(x⁰) − f(xᵏ))`, sums up how fast. All
//! perturbed copies of an image are run forward as batches.
//!
//! ```
//! use lrp::compare::flip::{aopc, patch_order, Order};
//! // AOPC of a score falling 4 → 2 → 0: (0 + 2 + 4) / 3.
//! assert_eq!(aopc(&[4.0, 2.0, 0.0]), 2.0);
//! // A 4×4 map in 2×2 patches: the bottom-right patch holds the most relevance.
//! let mut map = ndarray::Array2::<f32>::zeros((4, 4));
//! map[[3, 3]] = 5.0;
//! map[[0, 1]] = 1.0;
//! assert_eq!(patch_order(&map, 2, &Order::MostRelevantFirst).unwrap(), vec![3, 0, 1, 2]);
//! ```

use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::zoo::rng::Rng;
use ndarray::{s, Array2, Array3, ArrayView3, Axis, IxDyn};

/// The order in which patches are removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Order {
    /// Largest relevance sum first (MoRF).
    MostRelevantFirst,
    /// Smallest relevance sum first (LeRF).
    LeastRelevantFirst,
    /// A seeded random permutation (Fisher–Yates with [`Rng`]).
    Random {
        /// The seed.
        seed: u64,
    },
}

/// What a removed patch is replaced with.
#[derive(Debug, Clone, PartialEq)]
pub enum Baseline {
    /// 0 in the network input: the training mean for mean-subtracted inputs.
    Mean,
    /// One value per channel, in network input units (e.g. a black pixel after
    /// preprocessing).
    Constant(Vec<f32>),
    /// The input blurred by a box filter of this radius (a `(2r+1)²` window, edges clamped).
    Blur {
        /// Radius in pixels (≥ 1).
        radius: usize,
    },
    /// An arbitrary replacement image `[C, H, W]` in network input units.
    Image(Array3<f32>),
}

impl Baseline {
    /// The replacement image for input `x` (`[C, H, W]`).
    ///
    /// ```
    /// use lrp::compare::Baseline;
    /// let x = ndarray::Array3::from_shape_vec((1, 1, 3), vec![0.0_f32, 3.0, 6.0]).unwrap();
    /// let b = Baseline::Blur { radius: 1 }.image(x.view()).unwrap();
    /// assert_eq!(b.as_slice().unwrap(), &[1.0, 3.0, 5.0]); // (0+0+3)/3, (0+3+6)/3, (3+6+6)/3
    /// ```
    pub fn image(&self, x: ArrayView3<f32>) -> Result<Array3<f32>> {
        let (c, h, w) = x.dim();
        match self {
            Baseline::Mean => Ok(Array3::zeros((c, h, w))),
            Baseline::Constant(v) => {
                if v.len() != c {
                    return Err(Error::Compare(format!(
                        "baseline has {} channel values for an input with {c} channels",
                        v.len()
                    )));
                }
                Ok(Array3::from_shape_fn((c, h, w), |(k, _, _)| v[k]))
            }
            Baseline::Blur { radius } => {
                super::check_range("blur radius", *radius, super::MAX_FLIP_PATCH)?;
                Ok(box_blur(x, *radius))
            }
            Baseline::Image(b) => {
                if b.dim() != (c, h, w) {
                    return Err(Error::Compare(format!(
                        "baseline image of shape {:?} for an input of shape {:?}",
                        b.shape(),
                        x.shape()
                    )));
                }
                Ok(b.clone())
            }
        }
    }
}

/// Separable box blur with clamped edges.
fn box_blur(x: ArrayView3<f32>, r: usize) -> Array3<f32> {
    let (c, h, w) = x.dim();
    let n = (2 * r + 1) as f32;
    let mut tmp = Array3::<f32>::zeros((c, h, w));
    for k in 0..c {
        for y in 0..h {
            for xx in 0..w {
                let mut s = 0.0;
                for d in 0..=2 * r {
                    let xi = (xx + d).saturating_sub(r).min(w - 1);
                    s += x[[k, y, xi]];
                }
                tmp[[k, y, xx]] = s / n;
            }
        }
    }
    let mut out = Array3::<f32>::zeros((c, h, w));
    for k in 0..c {
        for y in 0..h {
            for xx in 0..w {
                let mut s = 0.0;
                for d in 0..=2 * r {
                    let yi = (y + d).saturating_sub(r).min(h - 1);
                    s += tmp[[k, yi, xx]];
                }
                out[[k, y, xx]] = s / n;
            }
        }
    }
    out
}

/// Settings of a perturbation run.
#[derive(Debug, Clone, PartialEq)]
pub struct FlipConfig {
    /// Side of the square patches, in input pixels (patches at the right and bottom edges
    /// are cut to the image).
    pub patch: usize,
    /// Number of perturbation steps `S`; the curve has `S + 1` points (the first is the
    /// unperturbed input).
    pub steps: usize,
    /// Patches replaced per step; `None`: `ceil(P / S)` for `P` patches, so that the last
    /// step has replaced (nearly) the whole image.
    pub patches_per_step: Option<usize>,
    /// The replacement.
    pub baseline: Baseline,
    /// Perturbed inputs per forward pass.
    pub batch: usize,
}

impl Default for FlipConfig {
    /// 4×4 patches, 32 steps covering the whole image, mean baseline, batches of 64.
    fn default() -> Self {
        FlipConfig {
            patch: 4,
            steps: 32,
            patches_per_step: None,
            baseline: Baseline::Mean,
            batch: 64,
        }
    }
}

/// A perturbation curve.
#[derive(Debug, Clone, PartialEq)]
pub struct FlipCurve {
    /// Fraction of the image's pixels replaced at each point (`0` first).
    pub fractions: Vec<f32>,
    /// The target's logit at each point.
    pub scores: Vec<f32>,
}

impl FlipCurve {
    /// [`aopc`] of the scores.
    pub fn aopc(&self) -> f32 {
        aopc(&self.scores)
    }

    /// The point-by-point mean of curves with the same fractions (e.g. several random
    /// orders of one image), cut to the shortest; `None` for no curves.
    ///
    /// ```
    /// use lrp::compare::FlipCurve;
    /// let a = FlipCurve { fractions: vec![0.0, 1.0], scores: vec![4.0, 0.0] };
    /// let b = FlipCurve { fractions: vec![0.0, 1.0], scores: vec![2.0, 2.0] };
    /// assert_eq!(FlipCurve::mean(&[a, b]).unwrap().scores, vec![3.0, 1.0]);
    /// ```
    pub fn mean(curves: &[FlipCurve]) -> Option<FlipCurve> {
        let first = curves.first()?;
        let len = curves.iter().map(|c| c.scores.len()).min().unwrap_or(0);
        let scores = (0..len)
            .map(|k| curves.iter().map(|c| c.scores[k]).sum::<f32>() / curves.len() as f32)
            .collect();
        Some(FlipCurve {
            fractions: first.fractions[..len.min(first.fractions.len())].to_vec(),
            scores,
        })
    }
}

/// The mean drop of the curves' scores from their first (unperturbed) score, point by point:
/// `(fractions, drops)`, cut to the shortest curve (empty for no curves). This is what the
/// pixel-flipping plots of `lrp compare` draw.
///
/// ```
/// use lrp::compare::{flip::mean_drop, FlipCurve};
/// let a = FlipCurve { fractions: vec![0.0, 0.5, 1.0], scores: vec![4.0, 1.0, 0.0] };
/// let b = FlipCurve { fractions: vec![0.0, 0.5, 1.0], scores: vec![2.0, 1.0, 2.0] };
/// assert_eq!(mean_drop(&[a, b]), (vec![0.0, 0.5, 1.0], vec![0.0, 2.0, 2.0]));
/// ```
pub fn mean_drop(curves: &[FlipCurve]) -> (Vec<f32>, Vec<f32>) {
    let len = curves.iter().map(|c| c.scores.len()).min().unwrap_or(0);
    let fractions = curves
        .first()
        .map(|c| c.fractions[..len].to_vec())
        .unwrap_or_default();
    let drops = (0..len)
        .map(|k| {
            curves
                .iter()
                .map(|c| c.scores[0] - c.scores[k])
                .sum::<f32>()
                / curves.len().max(1) as f32
        })
        .collect();
    (fractions, drops)
}

/// Area over the perturbation curve: `1/(S+1) Σ_{k=0}^{S} (s₀ − s_k)` (0 for no scores).
pub fn aopc(scores: &[f32]) -> f32 {
    match scores.first() {
        None => 0.0,
        Some(&s0) => {
            (scores.iter().map(|&s| (s0 - s) as f64).sum::<f64>() / scores.len() as f64) as f32
        }
    }
}

fn patch_grid(h: usize, w: usize, p: usize) -> (usize, usize) {
    (h.div_ceil(p), w.div_ceil(p))
}

/// Patch indices (row-major over the `ceil(H/p)`×`ceil(W/p)` patch grid) in the order they
/// are removed: by relevance sum per patch (ties by index), or a seeded permutation.
///
/// Errors: [`Error::Compare`] for an empty map or a patch outside
/// `1..=`[`MAX_FLIP_PATCH`](super::MAX_FLIP_PATCH); [`Error::NonFinite`] for NaN or infinity
/// in the map.
pub fn patch_order(map: &Array2<f32>, patch: usize, order: &Order) -> Result<Vec<usize>> {
    super::check_map(map, "heatmap")?;
    super::check_range("patch size", patch, super::MAX_FLIP_PATCH)?;
    let (h, w) = map.dim();
    let (gh, gw) = patch_grid(h, w, patch);
    let mut sums = vec![0.0f64; gh * gw];
    for ((y, x), &v) in map.indexed_iter() {
        sums[(y / patch) * gw + x / patch] += v as f64;
    }
    let mut idx: Vec<usize> = (0..sums.len()).collect();
    match order {
        Order::MostRelevantFirst => {
            idx.sort_by(|&a, &b| sums[b].total_cmp(&sums[a]).then(a.cmp(&b)))
        }
        Order::LeastRelevantFirst => {
            idx.sort_by(|&a, &b| sums[a].total_cmp(&sums[b]).then(a.cmp(&b)))
        }
        Order::Random { seed } => {
            let mut rng = Rng::new(*seed);
            for i in (1..idx.len()).rev() {
                let j = rng.below(i + 1);
                idx.swap(i, j);
            }
        }
    }
    Ok(idx)
}

/// The perturbation curve of one image `x` (`[C, H, W]`, network input units) for logit
/// `class`, removing patches in `order` (from [`patch_order`] on a map of the input's
/// `H`×`W`).
///
/// Errors: [`Error::Compare`] for a patch order that does not fit the patch grid, zero
/// batch, steps outside `1..=`[`MAX_FLIP_STEPS`](super::MAX_FLIP_STEPS), a patch outside
/// `1..=`[`MAX_FLIP_PATCH`](super::MAX_FLIP_PATCH), a class beyond the logits; the graph's
/// errors for a wrong input.
pub fn flip_curve(
    graph: &Graph,
    x: ArrayView3<f32>,
    order: &[usize],
    class: usize,
    cfg: &FlipConfig,
) -> Result<FlipCurve> {
    let (c, h, w) = x.dim();
    if cfg.patch == 0 || cfg.steps == 0 || cfg.batch == 0 {
        return Err(Error::Compare(format!(
            "patch ({}), steps ({}) and batch ({}) must be at least 1",
            cfg.patch, cfg.steps, cfg.batch
        )));
    }
    super::check_range("flip steps", cfg.steps, super::MAX_FLIP_STEPS)?;
    super::check_range("patch size", cfg.patch, super::MAX_FLIP_PATCH)?;
    let (gh, gw) = patch_grid(h, w, cfg.patch);
    let total = gh * gw;
    let mut seen = vec![false; total];
    if order.len() != total
        || order
            .iter()
            .any(|&i| i >= total || std::mem::replace(&mut seen[i], true))
    {
        return Err(Error::Compare(format!(
            "the patch order must be a permutation of the {total} patches of a {h}×{w} input in {p}×{p} patches",
            p = cfg.patch
        )));
    }
    let per_step = cfg
        .patches_per_step
        .unwrap_or_else(|| total.div_ceil(cfg.steps))
        .max(1);
    let base = cfg.baseline.image(x)?;
    let mut scores = Vec::with_capacity(cfg.steps + 1);
    let mut fractions = Vec::with_capacity(cfg.steps + 1);
    let mut current = x.to_owned();
    let mut removed = 0usize;
    let mut replaced_pixels = 0usize;
    let mut pending: Vec<Array3<f32>> = Vec::new();
    let flush = |pending: &mut Vec<Array3<f32>>, scores: &mut Vec<f32>| -> Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        let views: Vec<ArrayView3<f32>> = pending.iter().map(|a| a.view()).collect();
        let batch = ndarray::stack(Axis(0), &views)
            .map_err(|e| Error::Compare(format!("stacking perturbed inputs: {e}")))?
            .into_dyn();
        let batch = batch
            .into_shape_with_order(IxDyn(&[pending.len(), c, h, w]))
            .map_err(|e| Error::Compare(format!("perturbed batch: {e}")))?;
        let l = graph.logits(&batch)?;
        if class >= l.ncols() {
            return Err(Error::Compare(format!(
                "class {class} beyond the model's {} logits",
                l.ncols()
            )));
        }
        scores.extend(l.column(class).iter().copied());
        pending.clear();
        Ok(())
    };
    for step in 0..=cfg.steps {
        if step > 0 {
            for &pi in order.iter().skip(removed).take(per_step) {
                let (py, px) = (pi / gw, pi % gw);
                let (y0, x0) = (py * cfg.patch, px * cfg.patch);
                let (y1, x1) = ((y0 + cfg.patch).min(h), (x0 + cfg.patch).min(w));
                current
                    .slice_mut(s![.., y0..y1, x0..x1])
                    .assign(&base.slice(s![.., y0..y1, x0..x1]));
                replaced_pixels += (y1 - y0) * (x1 - x0);
            }
            removed = (removed + per_step).min(total);
        }
        fractions.push(replaced_pixels as f32 / (h * w) as f32);
        pending.push(current.clone());
        if pending.len() == cfg.batch {
            flush(&mut pending, &mut scores)?;
        }
    }
    flush(&mut pending, &mut scores)?;
    Ok(FlipCurve { fractions, scores })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{Dense, Op};
    use crate::GraphBuilder;

    /// A one-layer net on 1×8×8 inputs whose logit 0 is the sum of the top-left 4×4 patch
    /// (weights 1 there, 0 elsewhere); logit 1 is constant.
    fn patch_net() -> Graph {
        let mut w = Array2::<f32>::zeros((2, 64));
        for y in 0..4 {
            for x in 0..4 {
                w[[0, y * 8 + x]] = 1.0;
            }
        }
        let mut b = GraphBuilder::new();
        let x = b.input("x", &[1, 8, 8]);
        let y = b.add("fc", Op::Dense(Dense::new(w, None)), &[&x]);
        b.build(&[&y]).unwrap()
    }

    #[test]
    fn curve_of_the_known_patch() {
        let g = patch_net();
        let x = Array3::from_elem((1, 8, 8), 1.0f32);
        // Relevance is where the weights are: patch 0 of the 2×2 grid of 4×4 patches.
        let mut map = Array2::<f32>::zeros((8, 8));
        map.slice_mut(s![0..4, 0..4]).fill(1.0);
        let order = patch_order(&map, 4, &Order::MostRelevantFirst).unwrap();
        assert_eq!(order, vec![0, 1, 2, 3]);
        let cfg = FlipConfig {
            patch: 4,
            steps: 4,
            batch: 2,
            ..FlipConfig::default()
        };
        let c = flip_curve(&g, x.view(), &order, 0, &cfg).unwrap();
        assert_eq!(c.scores, vec![16.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(c.fractions, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(c.aopc(), 64.0 / 5.0);
        // Least relevant first: the patch goes last.
        let lerf = patch_order(&map, 4, &Order::LeastRelevantFirst).unwrap();
        let c = flip_curve(&g, x.view(), &lerf, 0, &cfg).unwrap();
        assert_eq!(c.scores, vec![16.0, 16.0, 16.0, 16.0, 0.0]);
        // Errors: a wrong order, a class beyond the logits, a bad baseline.
        assert!(flip_curve(&g, x.view(), &[0, 0, 1, 2], 0, &cfg).is_err());
        assert!(flip_curve(&g, x.view(), &order, 5, &cfg).is_err());
        let bad = FlipConfig {
            baseline: Baseline::Constant(vec![0.0, 0.0]),
            ..cfg.clone()
        };
        assert!(flip_curve(&g, x.view(), &order, 0, &bad).is_err());
    }

    #[test]
    fn random_order_is_a_seeded_permutation() {
        let map = Array2::<f32>::zeros((16, 16));
        let a = patch_order(&map, 4, &Order::Random { seed: 3 }).unwrap();
        let b = patch_order(&map, 4, &Order::Random { seed: 3 }).unwrap();
        let c = patch_order(&map, 4, &Order::Random { seed: 4 }).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..16).collect::<Vec<_>>());
        assert!(patch_order(&map, 0, &Order::MostRelevantFirst).is_err());
    }
}
