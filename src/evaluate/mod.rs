//! Quality metrics of explanations: how sparse, how faithful to the model, how well placed on
//! an object, how sensitive to the model's weights. Each metric scores one explanation of one
//! input (any method: LRP with any preset, the gradient baselines of [`attribution`](crate::attribution));
//! [`Evaluation`] makes the table of methods × metrics over images that `lrp evaluate` writes.
//!
//! Every metric follows the definition of Quantus 0.6 (Hedström et al., 2023, *Quantus: an
//! explainable AI toolkit for responsible evaluation of neural network explanations*, JMLR
//! 24(34)) and is checked against it in `tests/evaluate.rs` on the same attributions,
//! perturbations and random draws (`tests/evaluate/generate.py`); SRG, which Quantus 0.6 does
//! not have, follows its paper.
//!
//! | metric | function | higher is | reference |
//! |---|---|---|---|
//! | Sparseness (Gini index of `|a|`) | [`sparseness`] | better | Chalasani et al. 2020 |
//! | Complexity (entropy of `|a| / Σ|a|`) | [`complexity`] | worse | Bhatt et al. 2020 |
//! | Relevance Mass Accuracy (share of `Σa` inside a mask) | [`relevance_mass_accuracy`] | better | Arras et al. 2022 |
//! | Relevance Rank Accuracy (share of the top-`|mask|` features inside it) | [`relevance_rank_accuracy`] | better | Arras et al. 2022 |
//! | Pointing Game (the maximum inside the mask) | [`pointing_game`] | better | Zhang et al. 2018 |
//! | Pixel flipping, most/least relevant first | [`pixel_flipping`] | MoRF: lower area, LeRF: higher | Bach et al. 2015 |
//! | Symmetric Relevance Gain (area between LeRF and MoRF) | [`srg`] | better | Blücher et al. 2024 |
//! | Faithfulness Correlation | [`faithfulness_correlation`] | better | Bhatt et al. 2020 |
//! | Random Logit (SSIM of the explanations of the target and another class) | [`random_logit`] | worse | Sixt et al. 2020 |
//! | Model Parameter Randomisation (Spearman to the original, layers reset top down) | [`mprt`] | worse | Adebayo et al. 2018 |
//!
//! Region perturbation AOPC (Samek et al. 2017) is [`compare::flip`](crate::compare::flip);
//! with one patch per step and a constant baseline its curve is Quantus's
//! `RegionPerturbation` (see `tests/evaluate.rs`).
//!
//! **Preprocessing.** Quantus first divides an attribution by its largest absolute value
//! ("normalise") and then, for some metrics, takes absolute values ("abs"); [`Prepare`] does
//! the same, and each metric's documentation gives Quantus's default. Quantus normalises over
//! the whole batch it is given; lrp normalises each explanation alone (Quantus run on one
//! explanation at a time).
//!
//! **Shape.** Attribution-only metrics take the attribution flattened, in whatever shape the
//! caller scores it: lrp's convention (as in Quantus's examples) is the heatmap, relevance
//! summed over colour channels ([`heatmap::reduce`](crate::heatmap::reduce)), with a mask of
//! the same pixels. Model-based metrics take the input `[C, H, W]` and either a heatmap
//! `H × W` (used for every channel, as Quantus broadcasts it) or a full `[C, H, W]`
//! attribution; their features are the `C·H·W` input values.
//!
//! ```
//! use lrp::evaluate::{sparseness, pointing_game, Prepare};
//! // One feature holds everything: Gini index (n − 1)/n.
//! let a = [0.0_f32, 0.0, 0.0, 4.0];
//! let g = sparseness(&a, Prepare::ABS_NORMALISE).unwrap();
//! assert!((g - 0.75).abs() < 1e-5);
//! assert_eq!(pointing_game(&a, &[false, false, true, true], Prepare::NORMALISE, false).unwrap(), 1.0);
//! ```

mod attribution;
mod faithfulness;
mod randomisation;
mod table;

pub use attribution::{
    complexity, pointing_game, relevance_mass_accuracy, relevance_rank_accuracy, sparseness,
};
pub use faithfulness::{
    faithfulness_correlation, pixel_flipping, random_subsets, srg, Curve, FaithfulnessCorrelation,
    Fill, FlipOrder, PixelFlipping, Score,
};
pub use randomisation::{
    heatmap_of, mprt, off_class, parameter_layers, random_logit, random_logit_of,
    seeded_parameters, ssim, with_parameters, LayerScore,
};
pub use table::{
    score_image, Column, EvalImage, Evaluation, EvaluationConfig, ImageScores, Metric, SummaryRow,
};

use crate::error::{Error, Result};

/// Most features (attribution values) a metric takes: that of a 4096×4096 RGB input.
pub const MAX_FEATURES: usize = 3 << 24;

/// Most random runs of [`faithfulness_correlation`]; each is a forward pass.
pub const MAX_RUNS: usize = 100_000;

/// Quantus's preprocessing of an attribution before it is scored: first `normalise` (divide
/// by the largest absolute value; an all-zero attribution is left as it is), then `abs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prepare {
    /// Take absolute values (after normalising).
    pub abs: bool,
    /// Divide by `max |a|`.
    pub normalise: bool,
}

impl Prepare {
    /// Neither: the attribution as it is.
    pub const NONE: Prepare = Prepare {
        abs: false,
        normalise: false,
    };
    /// Normalise only (Quantus's default for the localisation and faithfulness metrics).
    pub const NORMALISE: Prepare = Prepare {
        abs: false,
        normalise: true,
    };
    /// Normalise, then absolute values (Quantus's default for Sparseness, Complexity and
    /// Model Parameter Randomisation).
    pub const ABS_NORMALISE: Prepare = Prepare {
        abs: true,
        normalise: true,
    };

    /// The prepared copy of `a`, in f64.
    ///
    /// ```
    /// use lrp::evaluate::Prepare;
    /// assert_eq!(Prepare::ABS_NORMALISE.apply(&[-2.0, 1.0]), vec![1.0, 0.5]);
    /// assert_eq!(Prepare::NORMALISE.apply(&[-2.0, 1.0]), vec![-1.0, 0.5]);
    /// ```
    pub fn apply(&self, a: &[f32]) -> Vec<f64> {
        let mut v: Vec<f64> = a.iter().map(|&x| x as f64).collect();
        if self.normalise {
            let m = v.iter().fold(0f64, |m, x| m.max(x.abs()));
            if m > 0.0 {
                v.iter_mut().for_each(|x| *x /= m);
            }
        }
        if self.abs {
            v.iter_mut().for_each(|x| *x = x.abs());
        }
        v
    }
}

/// Fails with [`Error::Evaluate`] unless `a` has 1..=[`MAX_FEATURES`] values, all finite.
pub(crate) fn check_attribution(a: &[f32], what: &str) -> Result<()> {
    if a.is_empty() || a.len() > MAX_FEATURES {
        return Err(Error::Evaluate(format!(
            "{what}: an attribution needs 1 to {MAX_FEATURES} values, got {}",
            a.len()
        )));
    }
    if let Some((index, &value)) = a.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(Error::NonFinite {
            what: format!("{what} attribution"),
            value,
            index,
        });
    }
    Ok(())
}

/// Feature indices in descending order of `a`, ties by index (a stable sort; Quantus's
/// `argsort(-a)` agrees wherever `a` has no ties).
pub(crate) fn descending(a: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..a.len()).collect();
    idx.sort_by(|&i, &j| {
        a[j].partial_cmp(&a[i])
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(i.cmp(&j))
    });
    idx
}
