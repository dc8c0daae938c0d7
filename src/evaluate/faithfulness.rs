//! Metrics that perturb the input and run the model: pixel flipping (MoRF and LeRF), the
//! Symmetric Relevance Gain between them, and Faithfulness Correlation.

use super::{check_attribution, descending, Prepare, MAX_RUNS};
use crate::error::{Error, Result};
use crate::graph::{softmax, Graph};
use crate::zoo::rng::Rng;
use ndarray::{Array4, ArrayView3};

/// What a removed feature is set to (Quantus's `perturb_baseline`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fill {
    /// A value in network input units (0: the training mean of a mean-subtracted input).
    Value(f32),
    /// The smallest value of the input, over all channels (Quantus's `"black"`, its default).
    Black,
    /// The largest value of the input (Quantus's `"white"`).
    White,
}

impl Fill {
    fn value(&self, x: &[f32]) -> f32 {
        match self {
            Fill::Value(v) => *v,
            Fill::Black => x.iter().fold(f32::INFINITY, |m, &v| m.min(v)),
            Fill::White => x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)),
        }
    }
}

/// The model output a perturbation metric records for the explained class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Score {
    /// The logit (the input of a final softmax).
    Logit,
    /// The softmax probability.
    Probability,
}

/// Order in which features are removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlipOrder {
    /// Most relevant first (MoRF, Quantus's `PixelFlipping`): the largest attribution first.
    MostRelevantFirst,
    /// Least relevant first (LeRF): the smallest (most negative) attribution first.
    LeastRelevantFirst,
}

/// Settings of [`pixel_flipping`].
#[derive(Debug, Clone, PartialEq)]
pub struct PixelFlipping {
    /// Features (input values, `C·H·W` in all) removed per step; the curve has
    /// `ceil(C·H·W / features_in_step)` points after the unperturbed one. `None`:
    /// `ceil(C·H·W / 32)`, 32 steps (Quantus's default is 1: a forward pass per feature).
    pub features_in_step: Option<usize>,
    /// The replacement value.
    pub fill: Fill,
    /// What is recorded (Quantus's default for pixel flipping: [`Score::Probability`]).
    pub score: Score,
    /// How the attribution is prepared (Quantus's default: [`Prepare::NORMALISE`]; the order
    /// does not depend on it unless `abs` is set).
    pub prepare: Prepare,
    /// Perturbed inputs per forward pass.
    pub batch: usize,
}

impl Default for PixelFlipping {
    /// Quantus 0.6's defaults but for the step: 32 steps, `"black"`,
    /// probabilities, normalised; batches of 32.
    fn default() -> Self {
        PixelFlipping {
            features_in_step: None,
            fill: Fill::Black,
            score: Score::Probability,
            prepare: Prepare::NORMALISE,
            batch: 32,
        }
    }
}

/// A perturbation curve.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// The score of the unperturbed input.
    pub unperturbed: f32,
    /// Fraction of the features removed at each point (after each step; the last is 1).
    pub fractions: Vec<f32>,
    /// The score after each step (Quantus's curve: the unperturbed score is not part of it).
    pub scores: Vec<f32>,
}

impl Curve {
    /// Quantus's area under the curve: the trapezoid rule over `scores` with unit spacing
    /// (`np.trapz(scores)`, what `return_auc_per_sample=True` returns).
    pub fn auc(&self) -> f32 {
        trapezoid(self.scores.windows(2).map(|w| (1.0, w[0], w[1])))
    }

    /// The area under the curve over the removed fraction `[0, 1]`, from the unperturbed
    /// score at 0: the trapezoid rule on `(0, unperturbed), (fractions[k], scores[k])…`.
    pub fn area(&self) -> f32 {
        let xs = std::iter::once(0.0).chain(self.fractions.iter().copied());
        let ys = std::iter::once(self.unperturbed).chain(self.scores.iter().copied());
        let pts: Vec<(f32, f32)> = xs.zip(ys).collect();
        trapezoid(pts.windows(2).map(|w| (w[1].0 - w[0].0, w[0].1, w[1].1)))
    }
}

fn trapezoid(segments: impl Iterator<Item = (f32, f32, f32)>) -> f32 {
    segments
        .map(|(dx, a, b)| dx as f64 * (a as f64 + b as f64) / 2.0)
        .sum::<f64>() as f32
}

/// Symmetric Relevance Gain (Blücher, Vielhaben & Strodthoff, 2024, *Decoupling pixel
/// flipping and occlusion strategy for consistent XAI benchmarks*, TMLR): the area between
/// the least- and the most-relevant-first curves of the same attribution, both over the
/// removed fraction `[0, 1]` ([`Curve::area`]):
///
/// `SRG = AUC(LeRF) − AUC(MoRF)`
///
/// A faithful attribution keeps the score up when the least relevant features go and drops
/// it when the most relevant go; what the replacement does to the model on its own cancels
/// in the difference. Quantus 0.6 has no SRG; the definition is the paper's (with its
/// "most/least influential first", MIF/LIF, as MoRF/LeRF here).
///
/// ```
/// use lrp::evaluate::{srg, Curve};
/// let morf = Curve { unperturbed: 1.0, fractions: vec![0.5, 1.0], scores: vec![0.0, 0.0] };
/// let lerf = Curve { unperturbed: 1.0, fractions: vec![0.5, 1.0], scores: vec![1.0, 0.0] };
/// assert_eq!(srg(&morf, &lerf), 0.75 - 0.25);
/// ```
pub fn srg(morf: &Curve, lerf: &Curve) -> f32 {
    lerf.area() - morf.area()
}

/// The attribution of every input feature: `a` itself for `C·H·W` values, a heatmap of
/// `H·W` values repeated for every channel (Quantus's broadcast).
fn per_feature(what: &str, a: &[f32], (c, h, w): (usize, usize, usize)) -> Result<Vec<f32>> {
    check_attribution(a, what)?;
    if a.len() == c * h * w {
        Ok(a.to_vec())
    } else if a.len() == h * w {
        Ok((0..c).flat_map(|_| a.iter().copied()).collect())
    } else {
        Err(Error::Evaluate(format!(
            "{what}: an attribution of {} values for an input of shape [{c}, {h}, {w}] (give {} or {} values)",
            a.len(),
            c * h * w,
            h * w
        )))
    }
}

/// Scores of `class` for the flat inputs in `xs`, `batch` at a time.
fn scores(
    graph: &Graph,
    xs: &[Vec<f32>],
    dim: (usize, usize, usize),
    class: usize,
    score: Score,
    batch: usize,
) -> Result<Vec<f32>> {
    let (c, h, w) = dim;
    let mut out = Vec::with_capacity(xs.len());
    for chunk in xs.chunks(batch.max(1)) {
        let flat: Vec<f32> = chunk.iter().flatten().copied().collect();
        let t = Array4::from_shape_vec((chunk.len(), c, h, w), flat)
            .map_err(|e| Error::Evaluate(format!("perturbed batch: {e}")))?
            .into_dyn();
        let logits = graph.logits(&t)?;
        if class >= logits.ncols() {
            return Err(Error::Evaluate(format!(
                "class {class} beyond the model's {} logits",
                logits.ncols()
            )));
        }
        for row in logits.rows() {
            let row = row.to_vec();
            out.push(match score {
                Score::Logit => row[class],
                Score::Probability => softmax(&row)[class],
            });
        }
    }
    Ok(out)
}

fn check_batch(what: &str, batch: usize) -> Result<()> {
    if batch == 0 || batch > 4096 {
        return Err(Error::Evaluate(format!(
            "{what}: batch must be between 1 and 4096, got {batch}"
        )));
    }
    Ok(())
}

/// Pixel flipping (Bach et al., 2015, *On pixel-wise explanations for non-linear classifier
/// decisions by layer-wise relevance propagation*, PLOS ONE; Quantus `PixelFlipping`): the
/// input's features (all `C·H·W` values, ordered by their attribution, ties by index) are set
/// to `cfg.fill`, `features_in_step` per step, most relevant first (Quantus's curve) or least
/// relevant first, and the score of `class` is recorded after each step. A heatmap (`H·W`
/// values) gives every channel of a pixel its value.
///
/// A faithful attribution makes the MoRF curve fall fast (small [`Curve::auc`]) and the LeRF
/// curve stay high; [`srg`] takes both.
///
/// Errors: [`Error::Evaluate`] for an attribution of another size, a step of 0 or beyond the
/// features, a batch outside `1..=4096`, a class beyond the logits; [`Error::NonFinite`] for
/// NaN or infinity in the attribution; the graph's errors for an input it cannot take.
pub fn pixel_flipping(
    graph: &Graph,
    x: ArrayView3<f32>,
    a: &[f32],
    class: usize,
    order: FlipOrder,
    cfg: &PixelFlipping,
) -> Result<Curve> {
    let dim = x.dim();
    let a = per_feature("pixel flipping", a, dim)?;
    let n = a.len();
    let step = cfg.features_in_step.unwrap_or(n.div_ceil(32));
    if step == 0 || step > n {
        return Err(Error::Evaluate(format!(
            "pixel flipping: features per step must be between 1 and the input's {n} values, got {step}"
        )));
    }
    check_batch("pixel flipping", cfg.batch)?;
    let mut v = cfg.prepare.apply(&a);
    if order == FlipOrder::LeastRelevantFirst {
        v.iter_mut().for_each(|x| *x = -*x);
    }
    let idx = descending(&v);
    let x0: Vec<f32> = x.iter().copied().collect();
    let fill = cfg.fill.value(&x0);
    let unperturbed = scores(graph, std::slice::from_ref(&x0), dim, class, cfg.score, 1)?[0];
    let mut current = x0;
    let mut fractions = Vec::new();
    let mut curve = Vec::new();
    let mut pending = Vec::new();
    for (k, chunk) in idx.chunks(step).enumerate() {
        for &i in chunk {
            current[i] = fill;
        }
        fractions.push(((k * step + chunk.len()) as f64 / n as f64) as f32);
        pending.push(current.clone());
        if pending.len() == cfg.batch {
            curve.extend(scores(graph, &pending, dim, class, cfg.score, cfg.batch)?);
            pending.clear();
        }
    }
    curve.extend(scores(graph, &pending, dim, class, cfg.score, cfg.batch)?);
    Ok(Curve {
        unperturbed,
        fractions,
        scores: curve,
    })
}

/// `runs` random subsets of `size` distinct features out of `features`, from lrp's seeded
/// generator (a partial Fisher–Yates shuffle per run): the draws of
/// [`faithfulness_correlation`], exposed so that another implementation can be fed the same.
///
/// Errors: [`Error::Evaluate`] for a size of 0 or beyond the features, or runs outside
/// `2..=`[`MAX_RUNS`].
///
/// ```
/// let s = lrp::evaluate::random_subsets(10, 3, 4, 7).unwrap();
/// assert_eq!((s.len(), s[0].len()), (4, 3));
/// assert_eq!(s, lrp::evaluate::random_subsets(10, 3, 4, 7).unwrap());
/// ```
pub fn random_subsets(
    features: usize,
    size: usize,
    runs: usize,
    seed: u64,
) -> Result<Vec<Vec<usize>>> {
    if size == 0 || size > features || !(2..=MAX_RUNS).contains(&runs) {
        return Err(Error::Evaluate(format!(
            "faithfulness correlation: subsets of 1 to {features} features and 2 to {MAX_RUNS} runs, got size {size} and {runs} runs"
        )));
    }
    let mut rng = Rng::new(seed);
    let mut perm: Vec<usize> = (0..features).collect();
    Ok((0..runs)
        .map(|_| {
            for i in 0..size {
                let j = i + rng.below(features - i);
                perm.swap(i, j);
            }
            perm[..size].to_vec()
        })
        .collect())
}

/// Settings of [`faithfulness_correlation`].
#[derive(Debug, Clone, PartialEq)]
pub struct FaithfulnessCorrelation {
    /// The replacement value (Quantus's default `"black"`).
    pub fill: Fill,
    /// What is recorded (Quantus's default: [`Score::Logit`]).
    pub score: Score,
    /// How the attribution is prepared (Quantus's default: [`Prepare::NORMALISE`]).
    pub prepare: Prepare,
    /// Perturbed inputs per forward pass.
    pub batch: usize,
}

impl Default for FaithfulnessCorrelation {
    /// Quantus 0.6's defaults; batches of 32.
    fn default() -> Self {
        FaithfulnessCorrelation {
            fill: Fill::Black,
            score: Score::Logit,
            prepare: Prepare::NORMALISE,
            batch: 32,
        }
    }
}

/// Faithfulness Correlation (Bhatt et al., 2020, *Evaluating and aggregating feature-based
/// model explanations*, IJCAI; Quantus `FaithfulnessCorrelation`): for each random subset
/// `S` of the input's features (from [`random_subsets`], or any given draws; Quantus's
/// default is 100 subsets of 224 features), the features in `S` are set to `cfg.fill`; the
/// Pearson correlation, over the subsets, between the attribution's sum over `S` and the
/// score's drop `f(x) − f(x with S removed)`:
///
/// `FC = corr_S( Σ_{i∈S} aᵢ , f(x) − f(x_S) )`
///
/// 1 when the attribution predicts the drop linearly; 0 for a constant sum or drop.
///
/// Errors: [`Error::Evaluate`] for an attribution of another size, fewer than 2 subsets, a
/// subset with an index beyond the features, a batch outside `1..=4096`, a class beyond the
/// logits; [`Error::NonFinite`] for NaN or infinity in the attribution.
pub fn faithfulness_correlation(
    graph: &Graph,
    x: ArrayView3<f32>,
    a: &[f32],
    class: usize,
    subsets: &[Vec<usize>],
    cfg: &FaithfulnessCorrelation,
) -> Result<f32> {
    let dim = x.dim();
    let a = per_feature("faithfulness correlation", a, dim)?;
    let n = a.len();
    if !(2..=MAX_RUNS).contains(&subsets.len()) {
        return Err(Error::Evaluate(format!(
            "faithfulness correlation: 2 to {MAX_RUNS} subsets, got {}",
            subsets.len()
        )));
    }
    if let Some(&i) = subsets.iter().flatten().find(|&&i| i >= n) {
        return Err(Error::Evaluate(format!(
            "faithfulness correlation: feature {i} in a subset of an input of {n} features"
        )));
    }
    check_batch("faithfulness correlation", cfg.batch)?;
    let v = cfg.prepare.apply(&a);
    let x0: Vec<f32> = x.iter().copied().collect();
    let fill = cfg.fill.value(&x0);
    let f0 = scores(graph, std::slice::from_ref(&x0), dim, class, cfg.score, 1)?[0];
    let mut sums = Vec::with_capacity(subsets.len());
    let mut drops = Vec::with_capacity(subsets.len());
    for chunk in subsets.chunks(cfg.batch) {
        let xs: Vec<Vec<f32>> = chunk
            .iter()
            .map(|s| {
                let mut p = x0.clone();
                s.iter().for_each(|&i| p[i] = fill);
                p
            })
            .collect();
        drops.extend(
            scores(graph, &xs, dim, class, cfg.score, cfg.batch)?
                .into_iter()
                .map(|f| f0 as f64 - f as f64),
        );
        sums.extend(chunk.iter().map(|s| s.iter().map(|&i| v[i]).sum::<f64>()));
    }
    Ok(pearson64(&sums, &drops) as f32)
}

/// Pearson correlation in f64; 0 when either side is constant.
pub(crate) fn pearson64(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    if saa == 0.0 || sbb == 0.0 {
        0.0
    } else {
        sab / (saa * sbb).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{Dense, Op};
    use crate::GraphBuilder;
    use ndarray::{Array2, Array3};

    /// Logit 0 = Σ wᵢ xᵢ over a 1×2×2 input with weights 1, 2, 3, 4; logit 1 = 0.
    fn linear() -> Graph {
        let mut w = Array2::<f32>::zeros((2, 4));
        w.row_mut(0).assign(&ndarray::arr1(&[1.0, 2.0, 3.0, 4.0]));
        let mut b = GraphBuilder::new();
        let x = b.input("x", &[1, 2, 2]);
        let y = b.add("fc", Op::Dense(Dense::new(w, None)), &[&x]);
        b.build(&[&y]).unwrap()
    }

    #[test]
    fn flipping_a_linear_model() {
        let g = linear();
        let x = Array3::from_elem((1, 2, 2), 1.0f32);
        // The attribution w ⊙ x: MoRF removes 4, 3, 2, 1 (fill 0).
        let a = [1.0, 2.0, 3.0, 4.0];
        let cfg = PixelFlipping {
            features_in_step: Some(1),
            fill: Fill::Value(0.0),
            score: Score::Logit,
            ..PixelFlipping::default()
        };
        let m = pixel_flipping(&g, x.view(), &a, 0, FlipOrder::MostRelevantFirst, &cfg).unwrap();
        assert_eq!(
            (m.unperturbed, m.scores.clone()),
            (10.0, vec![6.0, 3.0, 1.0, 0.0])
        );
        assert_eq!(m.fractions, vec![0.25, 0.5, 0.75, 1.0]);
        assert_eq!(
            m.auc(),
            (6.0 + 3.0) / 2.0 + (3.0 + 1.0) / 2.0 + (1.0 + 0.0) / 2.0
        );
        let l = pixel_flipping(&g, x.view(), &a, 0, FlipOrder::LeastRelevantFirst, &cfg).unwrap();
        assert_eq!(l.scores, vec![9.0, 7.0, 4.0, 0.0]);
        // Areas over [0, 1] in quarters: (10+6)/2+(6+3)/2+(3+1)/2+(1+0)/2 = 15 → 3.75;
        // (10+9)/2+(9+7)/2+(7+4)/2+(4+0)/2 = 25 → 6.25.
        assert!((srg(&m, &l) - 2.5).abs() < 1e-6);
        // The drop of a subset is Σ wᵢ over it, the attribution's sum too: correlation 1.
        let subsets = random_subsets(4, 2, 6, 1).unwrap();
        let fc = faithfulness_correlation(
            &g,
            x.view(),
            &a,
            0,
            &subsets,
            &FaithfulnessCorrelation {
                fill: Fill::Value(0.0),
                ..Default::default()
            },
        )
        .unwrap();
        assert!((fc - 1.0).abs() < 1e-6, "{fc}");
        // Errors.
        assert!(
            pixel_flipping(&g, x.view(), &a[..3], 0, FlipOrder::MostRelevantFirst, &cfg).is_err()
        );
        let zero = PixelFlipping {
            features_in_step: Some(0),
            ..cfg.clone()
        };
        assert!(pixel_flipping(&g, x.view(), &a, 0, FlipOrder::MostRelevantFirst, &zero).is_err());
        assert!(pixel_flipping(&g, x.view(), &a, 7, FlipOrder::MostRelevantFirst, &cfg).is_err());
        assert!(random_subsets(4, 5, 3, 0).is_err());
        let bad = vec![vec![0, 9], vec![1, 2]];
        let fc = FaithfulnessCorrelation::default();
        assert!(faithfulness_correlation(&g, x.view(), &a, 0, &bad, &fc).is_err());
    }
}
