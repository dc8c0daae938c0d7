//! LRP rules for linear layers (convolution and dense), written once for both.
//!
//! Notation (as in `LRP_SPEC.md`): a linear layer has inputs `x_i`, weights `w_ij`, bias `b_j`,
//! contributions `z_ij = x_i w_ij` and outputs `z_j = Σ_i z_ij + b_j`. `R_j` is the relevance
//! arriving at output `j`, `R_i` the relevance sent to input `i`; `t⁺ = max(t, 0)`,
//! `t⁻ = min(t, 0)`; the modern stabiliser is `s(z) = z + ε·sign(z)` with `sign(0) = +1`.
//!
//! | rule | formula | conserves (bias-free layer) |
//! |---|---|---|
//! | [`Rule::Epsilon`] ε | `R_i = x_i Σ_j w_ij R_j / s(z_j)` | up to ε (LRP-0 exactly) |
//! | [`Rule::AlphaBeta`] α, β | `R_i = Σ_j R_j (α z⁺_ij / Z⁺_j − β z⁻_ij / Z⁻_j)`, `Z^± = Σ_i z^±_ij + b^±_j` | yes (α − β = 1) |
//! | [`Rule::ZPlus`] | α = 1, β = 0 | yes |
//! | [`Rule::Gamma`] γ | weights `w + γw⁺` (`w + γw⁻`) on positive (negative) inputs for `z_j > 0`, swapped for `z_j < 0` | yes |
//! | [`Rule::Flat`] | `R_i = Σ_{j: i∈RF(j)} R_j / |RF(j)|` | yes |
//! | [`Rule::WSquare`] | `R_i = Σ_j w_ij² R_j / Σ_i' w_i'j²` | yes |
//! | [`Rule::ZBox`] l, h | `z_ij = x_i w_ij − l_i w⁺_ij − h_i w⁻_ij`, `R_i = Σ_j z_ij R_j / s(Σ_i z_ij)` | yes |
//! | [`Rule::Pass`] | `R_in = R_out` | yes |
//!
//! Two conventions exist ([`Convention`]): **modern** (Montavon et al. 2019, Zennit) and
//! **paper** (the LRP Toolbox for Caffe as used in the ICCV 2017 paper): paper ε sends `R_j`
//! itself where `z_j = 0`; paper α-β has no stabiliser (a zero denominator contributes 0);
//! paper flat replaces convolution weights by `1/(k_h k_w)` and dense weights by `1/K` without
//! renormalising, so shares falling on padding are lost.
//!
//! Every rule is data: a list of [`Group`]s, each a denominator, a selection of outputs, a
//! coefficient and numerator terms `(input modifier, weight variant, sign)`. One evaluator
//! ([`LinearRule::relevance`]) runs any rule on any [`Linear`] layer through two primitives:
//! a forward pass with modified weights/inputs and its transpose.
//!
//! ```
//! use lrp::rules::{Convention, LayerRule, Rule};
//! // ε-rule on a 2-input, 1-output dense layer: z = 1·2 + 3·(−1) = −1 (no bias).
//! use lrp::ops::Dense;
//! use ndarray::array;
//! let d = Dense::new(array![[2.0, -1.0]], None);
//! let rule = LayerRule::new(Rule::Epsilon { epsilon: 0.0 }, Convention::Modern).with_stabilizer(0.0);
//! let r = lrp::rules::dense_relevance(&d, &rule, &[1.0, 3.0], &[-1.0]).unwrap();
//! // R_i = x_i w_i R / z = [1·2·(−1)/(−1), 3·(−1)·(−1)/(−1)] = [2, −3]
//! assert_eq!(r, vec![2.0, -3.0]);
//! ```

use crate::error::{Error, NodeRef, Result};
use crate::kernels::{self, im2col::Geometry, MatRef, SyncPtr};
use crate::ops::conv::{conv_gemm, conv_transpose};
use crate::ops::{Conv2d, Dense};
use rayon::prelude::*;
use std::collections::HashMap;

/// Which family of conventions a rule follows (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Convention {
    /// Montavon et al. (2019) and Zennit: conserving, stabiliser `z + ε·sign(z)`.
    #[default]
    Modern,
    /// The LRP Toolbox for Caffe, as the ICCV 2017 paper ran it.
    Paper,
}

/// An LRP rule for a linear layer.
///
/// Each variant's documentation gives its formula, parameters and conservation property (for
/// a bias-free layer; biases absorb their share). On one output `z = 1·1 + 2·(−1) = −1` of
/// a two-input layer with `R = 1`, the rules give (hand-computed):
///
/// ```
/// use lrp::ops::Dense;
/// use lrp::rules::{dense_relevance, Convention, LayerRule, Rule};
/// use ndarray::array;
/// let d = Dense::new(array![[1.0, -1.0]], None);
/// let run = |rule| dense_relevance(&d, &LayerRule::new(rule, Convention::Modern), &[1.0, 2.0], &[1.0]).unwrap();
/// let close = |a: Vec<f32>, b: [f32; 2]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5);
/// // ε → 0: x_i w_i R / z = [1/(−1), −2/(−1)]
/// assert!(close(run(Rule::Epsilon { epsilon: 0.0 }), [-1.0, 2.0]));
/// // z⁺: only the positive contribution 1·1 counts.
/// assert!(close(run(Rule::ZPlus), [1.0, 0.0]));
/// // α2β1: 2·[1, 0]/1 − 1·[0, −2]/(−2)
/// assert!(close(run(Rule::AlphaBeta { alpha: 2.0, beta: 1.0 }), [2.0, -1.0]));
/// // flat and w² (|w| = 1 here): equal shares.
/// assert!(close(run(Rule::Flat), [0.5, 0.5]));
/// assert!(close(run(Rule::WSquare), [0.5, 0.5]));
/// // γ = 0.25, z < 0: positive inputs use w + γw⁻ = [1, −1.25], Z = −1.5.
/// assert!(close(run(Rule::Gamma { gamma: 0.25 }), [-1.0 / 1.5, 2.5 / 1.5]));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// LRP-ε: `R_i = x_i Σ_j w_ij R_j / s(z_j)` with `s(z) = z + ε·sign(z)`. ε = 0 gives
    /// LRP-0. Conserves as ε → 0 on bias-free layers; larger ε absorbs relevance of weak
    /// outputs. Paper convention: where `z_j = 0` the ratio is `R_j` itself.
    Epsilon {
        /// ε, added with the sign of `z_j`.
        epsilon: f32,
    },
    /// LRP-αβ: `R_i = Σ_j R_j (α z⁺_ij / Z⁺_j − β z⁻_ij / Z⁻_j)` with
    /// `z^±_ij = (x_i w_ij)^±` and `Z^±_j = Σ_i z^±_ij + b^±_j`; requires `α − β = 1`,
    /// `α, β ≥ 0`. Conserves where both `Z⁺_j` and `Z⁻_j` are non-zero; a zero denominator
    /// contributes nothing. Modern convention stabilises the denominators, paper does not.
    AlphaBeta {
        /// Weight of the positive contributions.
        alpha: f32,
        /// Weight of the negative contributions.
        beta: f32,
    },
    /// LRP-z⁺: `R_i = Σ_j R_j z⁺_ij / Z⁺_j` (α = 1, β = 0). Conserves where `Z⁺_j > 0`.
    ZPlus,
    /// Generalised LRP-γ: for `z_j > 0`, weights `w + γw⁺` on positive and `w + γw⁻` on
    /// negative inputs (bias `b + γb⁺`); for `z_j < 0` the roles swap (bias `b + γb⁻`);
    /// `z_j = 0` sends nothing. γ = 0 is LRP-0. Conserves on bias-free layers.
    Gamma {
        /// γ, the weight of the added positive (or negative) parts.
        gamma: f32,
    },
    /// Flat: `R_i = Σ_{j: i∈RF(j)} R_j / |RF(j)|`, every weight 1 over the real inputs of
    /// the receptive field, bias ignored; conserves. Paper convention: weights `1/(k_h k_w)`
    /// for convolutions (`1/K` for dense) without renormalisation, so shares on padding are
    /// lost.
    Flat,
    /// w²: `R_i = Σ_j w_ij² R_j / Σ_i' w_i'j²`, bias ignored; conserves (a zero normaliser
    /// sends nothing).
    WSquare,
    /// zᴮ for inputs bounded by `l ≤ x ≤ h` (first layer):
    /// `z_ij = x_i w_ij − l_i w⁺_ij − h_i w⁻_ij`, `R_i = Σ_j z_ij R_j / s(Σ_i z_ij)`;
    /// conserves. `low` and `high` per input channel (one value broadcasts; both empty: the
    /// per-channel minimum and maximum of the explained batch).
    ZBox {
        /// Lowest possible input value per channel.
        low: Vec<f32>,
        /// Highest possible input value per channel.
        high: Vec<f32>,
    },
    /// Pass: `R_in = R_out` (only for layers whose input and output sizes are equal);
    /// conserves.
    Pass,
}

impl Rule {
    /// Short name, as used in presets and the CLI (`epsilon`, `alpha2-beta1`, `zplus`, ...).
    pub fn name(&self) -> String {
        match self {
            Rule::Epsilon { epsilon } => format!("epsilon({epsilon})"),
            Rule::AlphaBeta { alpha, beta } => format!("alpha{alpha}-beta{beta}"),
            Rule::ZPlus => "zplus".into(),
            Rule::Gamma { gamma } => format!("gamma({gamma})"),
            Rule::Flat => "flat".into(),
            Rule::WSquare => "wsquare".into(),
            Rule::ZBox { .. } => "zbox".into(),
            Rule::Pass => "pass".into(),
        }
    }
}

/// A rule with its options, as assigned to one layer.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerRule {
    /// The rule.
    pub rule: Rule,
    /// Modern or paper convention.
    pub convention: Convention,
    /// Remove the bias from the rule's computation.
    pub zero_bias: bool,
    /// Stabiliser added to denominators (modern convention), default 1e-6.
    pub stabilizer: f32,
}

impl LayerRule {
    /// `rule` in `convention`, bias kept, stabiliser 1e-6.
    pub fn new(rule: Rule, convention: Convention) -> Self {
        LayerRule {
            rule,
            convention,
            zero_bias: false,
            stabilizer: 1e-6,
        }
    }

    /// Set the zero-bias switch.
    pub fn with_zero_bias(mut self, zero_bias: bool) -> Self {
        self.zero_bias = zero_bias;
        self
    }

    /// Set the stabiliser.
    pub fn with_stabilizer(mut self, stabilizer: f32) -> Self {
        self.stabilizer = stabilizer;
        self
    }

    /// Check the parameters (α − β = 1, finite values, ...).
    pub fn validate(&self, node: &NodeRef) -> Result<()> {
        let bad = |d: String| Err(Error::param(node, d));
        if !self.stabilizer.is_finite() || self.stabilizer < 0.0 {
            return bad(format!(
                "stabilizer {} must be finite and ≥ 0",
                self.stabilizer
            ));
        }
        match &self.rule {
            Rule::Epsilon { epsilon } if !epsilon.is_finite() || *epsilon < 0.0 => {
                bad(format!("epsilon {epsilon} must be finite and ≥ 0"))
            }
            Rule::AlphaBeta { alpha, beta }
                if !(alpha.is_finite() && beta.is_finite())
                    || *alpha < 0.0
                    || *beta < 0.0
                    || (alpha - beta - 1.0).abs() > 1e-6 =>
            {
                bad(format!(
                    "alpha-beta needs alpha - beta = 1 and both ≥ 0, got alpha {alpha}, beta {beta}"
                ))
            }
            Rule::Gamma { gamma } if !gamma.is_finite() || *gamma < 0.0 => {
                bad(format!("gamma {gamma} must be finite and ≥ 0"))
            }
            Rule::ZBox { low, high } => {
                if low.is_empty() != high.is_empty() {
                    return bad(
                        "zbox needs both bounds, or neither (then they come from the input)".into(),
                    );
                }
                if low.iter().chain(high).any(|v| !v.is_finite()) {
                    return bad("zbox bounds must be finite".into());
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Input modifier of a term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InMod {
    /// `x`.
    Id,
    /// `x⁺`.
    Pos,
    /// `x⁻`.
    Neg,
    /// 1 at every real input (padding stays 0).
    Ones,
    /// The zᴮ lower bound.
    Low,
    /// The zᴮ upper bound.
    High,
}

/// Weight variant of a term; variants are computed once per layer and cached.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WVar {
    /// `w`.
    W,
    /// `w⁺`.
    Pos,
    /// `w⁻`.
    Neg,
    /// 1.
    Ones,
    /// `w²`.
    Square,
    /// `w + γ w⁺`.
    GammaPos(f32),
    /// `w + γ w⁻`.
    GammaNeg(f32),
    /// The paper's flat weights: `1/(k_h k_w)` (convolution) or `1/K` (dense).
    PaperFlat,
}

impl WVar {
    fn key(self) -> (u8, u32) {
        match self {
            WVar::W => (0, 0),
            WVar::Pos => (1, 0),
            WVar::Neg => (2, 0),
            WVar::Ones => (3, 0),
            WVar::Square => (4, 0),
            WVar::GammaPos(g) => (5, g.to_bits()),
            WVar::GammaNeg(g) => (6, g.to_bits()),
            WVar::PaperFlat => (7, 0),
        }
    }

    fn apply(self, w: f32, paper_flat: f32) -> f32 {
        match self {
            WVar::W => w,
            WVar::Pos => w.max(0.0),
            WVar::Neg => w.min(0.0),
            WVar::Ones => 1.0,
            WVar::Square => w * w,
            WVar::GammaPos(g) => w + g * w.max(0.0),
            WVar::GammaNeg(g) => w + g * w.min(0.0),
            WVar::PaperFlat => paper_flat,
        }
    }
}

/// Bias used in a computed denominator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BiasMod {
    /// No bias.
    Zero,
    /// `b`.
    B,
    /// `b⁺`.
    Pos,
    /// `b⁻`.
    Neg,
    /// `b + γ b⁺`.
    GammaPos(f32),
    /// `b + γ b⁻`.
    GammaNeg(f32),
}

impl BiasMod {
    fn apply(self, b: f32) -> f32 {
        match self {
            BiasMod::Zero => 0.0,
            BiasMod::B => b,
            BiasMod::Pos => b.max(0.0),
            BiasMod::Neg => b.min(0.0),
            BiasMod::GammaPos(g) => b + g * b.max(0.0),
            BiasMod::GammaNeg(g) => b + g * b.min(0.0),
        }
    }
}

/// One term `sign · F(in(x), w')` of a denominator or numerator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Term {
    /// Input modifier.
    pub input: InMod,
    /// Weight variant.
    pub weight: WVar,
    /// +1 or −1.
    pub sign: f32,
}

const fn term(input: InMod, weight: WVar) -> Term {
    Term {
        input,
        weight,
        sign: 1.0,
    }
}

/// How a group's denominator is formed.
#[derive(Debug, Clone, PartialEq)]
pub enum Denominator {
    /// The layer's own output `z_j` (bias included unless zero-bias, then `z_j − b_j`).
    Output,
    /// `Σ_terms sign · F(in(x), w') + bias'`.
    Computed(Vec<Term>, BiasMod),
    /// No division: the ratio is `R_j` itself.
    None,
}

/// Which outputs a group draws relevance from, by the sign of the layer's output `z_j`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    /// Every output.
    All,
    /// Outputs with `z_j > 0`.
    Positive,
    /// Outputs with `z_j < 0`.
    Negative,
}

/// How `R_j / Z_j` is formed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ratio {
    /// `R / (Z + ε·sign(Z))`, `sign(0) = +1`; 0 where that denominator is 0 (only possible
    /// with ε = 0), so that LRP-0 never produces NaN.
    Stabilized(f32),
    /// Paper ε: `R / (Z + ε·sign(Z))`, and `R` itself where `Z = 0`.
    PaperEpsilon(f32),
    /// `R / Z`, and 0 where `Z = 0`.
    ZeroSafe,
}

impl Ratio {
    /// `R / Z` formed by this ratio.
    #[inline]
    pub fn apply(self, r: f32, z: f32) -> f32 {
        match self {
            Ratio::Stabilized(e) => {
                let d = z + if z >= 0.0 { e } else { -e };
                if d == 0.0 {
                    0.0
                } else {
                    r / d
                }
            }
            Ratio::PaperEpsilon(e) => {
                if z == 0.0 {
                    r
                } else {
                    r / (z + if z > 0.0 { e } else { -e })
                }
            }
            Ratio::ZeroSafe => {
                if z == 0.0 {
                    0.0
                } else {
                    r / z
                }
            }
        }
    }
}

/// One group of a rule: `coeff · Σ_numer sign · in(x) ⊙ Tᵀ(select · R / Z, w')`.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Denominator.
    pub denominator: Denominator,
    /// Output selection.
    pub select: Select,
    /// Ratio.
    pub ratio: Ratio,
    /// Coefficient (α, −β, 1).
    pub coeff: f32,
    /// Numerator terms.
    pub numerator: Vec<Term>,
}

impl LayerRule {
    /// The rule as data: the groups the evaluator runs. `None` for [`Rule::Pass`].
    pub fn groups(&self) -> Option<Vec<Group>> {
        let modern = self.convention == Convention::Modern;
        let stab = Ratio::Stabilized(self.stabilizer);
        let bias = |b: BiasMod| if self.zero_bias { BiasMod::Zero } else { b };
        let same = |denominator: Denominator, select, ratio, coeff, numerator: Vec<Term>| Group {
            denominator,
            select,
            ratio,
            coeff,
            numerator,
        };
        let alpha_beta = |alpha: f32, beta: f32| {
            let ratio = if modern { stab } else { Ratio::ZeroSafe };
            let pos = vec![term(InMod::Pos, WVar::Pos), term(InMod::Neg, WVar::Neg)];
            let neg = vec![term(InMod::Pos, WVar::Neg), term(InMod::Neg, WVar::Pos)];
            let mut g = vec![same(
                Denominator::Computed(pos.clone(), bias(BiasMod::Pos)),
                Select::All,
                ratio,
                alpha,
                pos,
            )];
            if beta != 0.0 {
                g.push(same(
                    Denominator::Computed(neg.clone(), bias(BiasMod::Neg)),
                    Select::All,
                    ratio,
                    -beta,
                    neg,
                ));
            }
            g
        };
        Some(match &self.rule {
            Rule::Pass => return None,
            Rule::Epsilon { epsilon } => {
                let ratio = if modern {
                    Ratio::Stabilized(*epsilon)
                } else {
                    Ratio::PaperEpsilon(*epsilon)
                };
                vec![same(
                    Denominator::Output,
                    Select::All,
                    ratio,
                    1.0,
                    vec![term(InMod::Id, WVar::W)],
                )]
            }
            Rule::AlphaBeta { alpha, beta } => alpha_beta(*alpha, *beta),
            Rule::ZPlus => alpha_beta(1.0, 0.0),
            Rule::Gamma { gamma } => {
                let g = *gamma;
                let pos = vec![
                    term(InMod::Pos, WVar::GammaPos(g)),
                    term(InMod::Neg, WVar::GammaNeg(g)),
                ];
                let neg = vec![
                    term(InMod::Pos, WVar::GammaNeg(g)),
                    term(InMod::Neg, WVar::GammaPos(g)),
                ];
                vec![
                    same(
                        Denominator::Computed(pos.clone(), bias(BiasMod::GammaPos(g))),
                        Select::Positive,
                        stab,
                        1.0,
                        pos,
                    ),
                    same(
                        Denominator::Computed(neg.clone(), bias(BiasMod::GammaNeg(g))),
                        Select::Negative,
                        stab,
                        1.0,
                        neg,
                    ),
                ]
            }
            Rule::Flat if modern => {
                let t = vec![term(InMod::Ones, WVar::Ones)];
                vec![same(
                    Denominator::Computed(t.clone(), BiasMod::Zero),
                    Select::All,
                    stab,
                    1.0,
                    t,
                )]
            }
            Rule::Flat => vec![same(
                Denominator::None,
                Select::All,
                stab,
                1.0,
                vec![term(InMod::Ones, WVar::PaperFlat)],
            )],
            Rule::WSquare => {
                let t = vec![term(InMod::Ones, WVar::Square)];
                vec![same(
                    Denominator::Computed(t.clone(), BiasMod::Zero),
                    Select::All,
                    stab,
                    1.0,
                    t,
                )]
            }
            Rule::ZBox { .. } => {
                // The bias terms b, −b⁺, −b⁻ cancel (as in Zennit), so the denominator is
                // Σ_i z_ij without bias.
                let t = vec![
                    term(InMod::Id, WVar::W),
                    Term {
                        input: InMod::Low,
                        weight: WVar::Pos,
                        sign: -1.0,
                    },
                    Term {
                        input: InMod::High,
                        weight: WVar::Neg,
                        sign: -1.0,
                    },
                ];
                vec![same(
                    Denominator::Computed(t.clone(), BiasMod::Zero),
                    Select::All,
                    stab,
                    1.0,
                    t,
                )]
            }
        })
    }
}

/// A linear layer seen through the two primitives the rules need.
#[derive(Debug, Clone, Copy)]
pub enum Linear<'a> {
    /// A convolution on inputs of `c` channels with sliding-window geometry `g` (of one group).
    Conv {
        /// The layer.
        conv: &'a Conv2d,
        /// Input channels.
        c: usize,
        /// Geometry.
        g: Geometry,
    },
    /// A dense layer.
    Dense(&'a Dense),
}

impl<'a> Linear<'a> {
    /// A convolution layer applied to per-sample input shape `[c, h, w]`.
    pub fn conv(conv: &'a Conv2d, input: &[usize]) -> Self {
        Linear::Conv {
            conv,
            c: input[0],
            g: conv.geometry(input[0], input[1], input[2]),
        }
    }

    /// Elements per sample of the input.
    pub fn in_len(&self) -> usize {
        match self {
            Linear::Conv { c, g, .. } => c * g.h * g.w,
            Linear::Dense(d) => d.in_features(),
        }
    }

    /// Elements per sample of the output.
    pub fn out_len(&self) -> usize {
        match self {
            Linear::Conv { conv, g, .. } => conv.out_channels() * g.positions(),
            Linear::Dense(d) => d.out_features(),
        }
    }

    /// The layer's weight, flattened.
    pub fn weight(&self) -> &'a [f32] {
        match self {
            Linear::Conv { conv, .. } => conv.weight_slice(),
            Linear::Dense(d) => d.weight_slice(),
        }
    }

    /// The bias, if any.
    pub fn bias(&self) -> Option<&'a [f32]> {
        match self {
            Linear::Conv { conv, .. } => conv.bias().and_then(|b| b.as_slice()),
            Linear::Dense(d) => d.bias().and_then(|b| b.as_slice()),
        }
    }

    /// Number of output channels (features) and positions per channel.
    fn out_channels(&self) -> (usize, usize) {
        match self {
            Linear::Conv { conv, g, .. } => (conv.out_channels(), g.positions()),
            Linear::Dense(d) => (d.out_features(), 1),
        }
    }

    /// Number of groups (1 for dense layers).
    fn groups(&self) -> usize {
        match self {
            Linear::Conv { conv, .. } => conv.groups,
            Linear::Dense(_) => 1,
        }
    }

    /// Channel count of the input and elements per channel (for per-channel zᴮ bounds).
    fn in_channels(&self) -> (usize, usize) {
        match self {
            Linear::Conv { c, g, .. } => (*c, g.h * g.w),
            Linear::Dense(d) => (d.in_features(), 1),
        }
    }

    /// The paper's flat weight: `1/(k_h k_w)` or `1/K`.
    fn paper_flat(&self) -> f32 {
        match self {
            Linear::Conv { conv, .. } => {
                let [kh, kw] = conv.kernel();
                1.0 / (kh * kw) as f32
            }
            Linear::Dense(d) => 1.0 / d.in_features() as f32,
        }
    }

    /// `out = F(x, w) + bias` for `n` samples.
    pub fn forward(&self, x: &[f32], n: usize, w: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
        match self {
            Linear::Conv { conv, c, g } => {
                conv_gemm(x, n, *c, g, w, conv.out_channels(), conv.groups, bias, out)
            }
            Linear::Dense(d) => {
                kernels::dense_forward(x, n, d.in_features(), w, d.out_features(), bias, out)
            }
        }
    }

    /// The transpose of the layer with twice the output channels whose weight is `stacked`
    /// (per group `[W_a; W_b]`, see [`Split`]): `out = F_aᵀ(s_a) + F_bᵀ(s_b)` for `n` samples of
    /// stacked `s`.
    fn transpose_stacked(&self, s: &[f32], n: usize, stacked: &[f32], out: &mut [f32]) {
        match self {
            Linear::Conv { conv, c, g } => conv_transpose(
                s,
                n,
                *c,
                g,
                stacked,
                2 * conv.out_channels(),
                conv.groups,
                out,
            ),
            Linear::Dense(d) => {
                dense_transpose(s, n, 2 * d.out_features(), d.in_features(), stacked, out)
            }
        }
    }

    /// `out = Fᵀ(s, w)` for `n` samples (overwrites `out`).
    pub fn transpose(&self, s: &[f32], n: usize, w: &[f32], out: &mut [f32]) {
        match self {
            Linear::Conv { conv, c, g } => {
                conv_transpose(s, n, *c, g, w, conv.out_channels(), conv.groups, out)
            }
            Linear::Dense(d) => dense_transpose(s, n, d.out_features(), d.in_features(), w, out),
        }
    }
}

impl Linear<'_> {
    /// `out = Fᵀ(s, w)` for `n` samples when every weight equals `value` (the flat rules):
    /// each input channel then receives `value` times the sum of `s` over its group's output
    /// channels, scattered back through the window once, so the cost is one pass over `s`
    /// instead of a GEMM and a col2im per input channel. Overwrites `out`.
    pub fn transpose_uniform(&self, s: &[f32], n: usize, value: f32, out: &mut [f32]) {
        let (il, ol) = (self.in_len(), self.out_len());
        match self {
            Linear::Dense(_) => {
                out.par_chunks_mut(il)
                    .zip(s.par_chunks(ol))
                    .take(n)
                    .for_each(|(o, sr)| o.fill(value * kernels::sum(sr) as f32));
            }
            Linear::Conv { conv, g, .. } => {
                let groups = conv.groups;
                let (mg, positions, plane) =
                    (conv.out_channels() / groups, g.positions(), g.h * g.w);
                let one = Geometry { channels: 1, ..*g };
                out.par_chunks_mut(il)
                    .zip(s.par_chunks(ol))
                    .take(n)
                    .for_each(|(o, sr)| {
                        let mut sum = vec![0f32; positions];
                        let mut q = kernels::zeroed(plane);
                        for grp in 0..groups {
                            let sg = &sr[grp * mg * positions..(grp + 1) * mg * positions];
                            sum.copy_from_slice(&sg[..positions]);
                            for row in sg.chunks_exact(positions).skip(1) {
                                sum.iter_mut().zip(row).for_each(|(a, b)| *a += b);
                            }
                            q.fill(0.0);
                            // Row stride 0: every tap of the window reads the same sums.
                            crate::kernels::im2col::col2im_strided(
                                &sum, 0, &one, 0, positions, &mut q,
                            );
                            let og =
                                &mut o[grp * g.channels * plane..(grp + 1) * g.channels * plane];
                            for oc in og.chunks_exact_mut(plane) {
                                oc.iter_mut().zip(&q).for_each(|(a, b)| *a = value * b);
                            }
                        }
                    });
            }
        }
    }
}

/// `out[n×k] = s[n×m] · W[m×k]`, parallel over blocks of input features.
fn dense_transpose(s: &[f32], n: usize, m: usize, k: usize, w: &[f32], out: &mut [f32]) {
    let blocks = kernels::split_range(k, kernels::tasks_for(n * m * k), 64);
    let op = SyncPtr::new(out);
    blocks.par_iter().for_each(|&(j0, j1)| {
        // SAFETY: each block writes only columns j0..j1 of every row; blocks are disjoint.
        let out = unsafe { op.slice() };
        kernels::sgemm(
            n,
            j1 - j0,
            m,
            MatRef::row_major(s, m),
            MatRef {
                data: &w[j0..],
                rs: k,
                cs: 1,
            },
            &mut out[j0..],
            k,
            false,
        );
    });
}

/// A rule prepared for one layer: its groups and the weight variants it needs, computed once.
#[derive(Debug, Clone)]
pub struct LinearRule {
    rule: LayerRule,
    groups: Vec<Group>,
    variants: HashMap<(u8, u32), Vec<f32>>,
    /// Per group: the denominator of one sample when it does not depend on the input (flat
    /// and w² normalisers: a forward pass of ones), computed once.
    fixed: Vec<Option<Vec<f32>>>,
    /// The sign-split form of α-β and z⁺, when the rule is one of them.
    split: Option<Split>,
}

/// α-β (and z⁺, α = 1, β = 0) on non-negative inputs, in sign-split form: with `x ≥ 0`,
/// `Z⁺ = W⁺x + b⁺` and `Z⁻ = W⁻x + b⁻ = (z − b) − W⁺x + b⁻`, so the forward pass and one GEMM
/// with `W⁺` give both denominators (see [`LinearRule::split_forward`]); one GEMM with the
/// stacked weight `[W⁺; W⁻]` maps `[α R/Z⁺; −β R/Z⁻]` back to the inputs.
#[derive(Debug, Clone)]
struct Split {
    alpha: f32,
    beta: f32,
    ratio: Ratio,
    /// Use `b⁺`, `b⁻` in the denominators (false with the zero-bias switch).
    bias: bool,
    /// Per group of the layer: `[W⁺_g; W⁻_g]`, so that the stack is the weight of a layer
    /// with twice the output channels and the same groups. For one group its halves are `W⁺`
    /// and `W⁻` themselves.
    stacked: Vec<f32>,
}

/// Input-side data shared by all terms of one relevance step.
struct Inputs<'x> {
    x: &'x [f32],
    has_neg: bool,
    has_pos: bool,
    low: Option<Vec<f32>>,
    high: Option<Vec<f32>>,
}

impl LinearRule {
    /// Prepare `rule` for `layer`: validate it and compute every weight variant it uses.
    pub fn new(node: &NodeRef, layer: &Linear<'_>, rule: LayerRule) -> Result<Self> {
        rule.validate(node)?;
        let groups = rule.groups().unwrap_or_default();
        if rule.rule == Rule::Pass && layer.in_len() != layer.out_len() {
            return Err(Error::param(
                node,
                format!(
                    "the pass rule needs equal input and output sizes, got {} and {}",
                    layer.in_len(),
                    layer.out_len()
                ),
            ));
        }
        if let Rule::ZBox { low, high } = &rule.rule {
            let (c, _) = layer.in_channels();
            for (what, v) in [("low", low), ("high", high)] {
                if !v.is_empty() && v.len() != 1 && v.len() != c {
                    return Err(Error::param(
                        node,
                        format!(
                            "zbox {what} has {} values; give 1 or one per input channel ({c})",
                            v.len()
                        ),
                    ));
                }
            }
        }
        let w = layer.weight();
        let flat = layer.paper_flat();
        let split = Self::make_split(layer, &rule);
        // With one group the halves of the stack are W⁺ and W⁻: no separate copies.
        let halves = split.is_some() && layer.groups() == 1;
        let mut variants = HashMap::new();
        for g in &groups {
            let dterms = match &g.denominator {
                Denominator::Computed(t, _) => t.as_slice(),
                _ => &[],
            };
            for t in g.numerator.iter().chain(dterms) {
                if t.weight != WVar::W && !(halves && matches!(t.weight, WVar::Pos | WVar::Neg)) {
                    variants
                        .entry(t.weight.key())
                        .or_insert_with(|| w.iter().map(|&v| t.weight.apply(v, flat)).collect());
                }
            }
        }
        let mut prepared = LinearRule {
            rule,
            groups,
            variants,
            fixed: Vec::new(),
            split,
        };
        prepared.fixed = prepared
            .groups
            .iter()
            .map(|g| match &g.denominator {
                Denominator::Computed(terms, BiasMod::Zero)
                    if terms.iter().all(|t| t.input == InMod::Ones) =>
                {
                    let ones = vec![1f32; layer.in_len()];
                    let mut d = vec![0f32; layer.out_len()];
                    let mut tmp = vec![0f32; layer.out_len()];
                    for t in terms {
                        layer.forward(&ones, 1, prepared.weights(layer, t.weight), None, &mut tmp);
                        d.iter_mut().zip(&tmp).for_each(|(a, b)| *a += t.sign * b);
                    }
                    Some(d)
                }
                _ => None,
            })
            .collect();
        Ok(prepared)
    }

    /// The rule this was prepared from.
    pub fn rule(&self) -> &LayerRule {
        &self.rule
    }

    fn weights<'s>(&'s self, layer: &Linear<'s>, v: WVar) -> &'s [f32] {
        match (v, &self.split) {
            (WVar::W, _) => layer.weight(),
            (WVar::Pos | WVar::Neg, Some(sp)) if layer.groups() == 1 => {
                let half = sp.stacked.len() / 2;
                if v == WVar::Pos {
                    &sp.stacked[..half]
                } else {
                    &sp.stacked[half..]
                }
            }
            _ => &self.variants[&v.key()],
        }
    }

    /// The sign-split form of `rule` on `layer`, for α-β and z⁺.
    fn make_split(layer: &Linear<'_>, rule: &LayerRule) -> Option<Split> {
        let (alpha, beta) = match rule.rule {
            Rule::AlphaBeta { alpha, beta } => (alpha, beta),
            Rule::ZPlus => (1.0, 0.0),
            _ => return None,
        };
        let ratio = match rule.convention {
            Convention::Modern => Ratio::Stabilized(rule.stabilizer),
            Convention::Paper => Ratio::ZeroSafe,
        };
        let w = layer.weight();
        let groups = layer.groups();
        let per_group = w.len() / groups;
        let mut stacked = Vec::with_capacity(2 * w.len());
        for wg in w.chunks(per_group.max(1)) {
            stacked.extend(wg.iter().map(|v| v.max(0.0)));
            stacked.extend(wg.iter().map(|v| v.min(0.0)));
        }
        Some(Split {
            alpha,
            beta,
            ratio,
            bias: !rule.zero_bias,
            stacked,
        })
    }

    /// Whether [`LinearRule::split_forward`] applies to this rule.
    pub fn has_split(&self) -> bool {
        self.split.is_some()
    }

    /// The layer's forward pass for `n` samples of non-negative input `x` together with its
    /// sign-split parts: writes `z = Wx + b` to `z` (the plain forward, bit for bit) and
    /// returns the parts `W⁺x` (a second GEMM) and `W⁻x = (z − b) − W⁺x`, per sample and
    /// group laid out as `[W⁺_g x; W⁻_g x]`. Pass the parts to
    /// [`LinearRule::relevance_split`]: α-β then needs no GEMM for its `Z⁻` normaliser.
    ///
    /// (Computing `z` itself as `W⁺x + W⁻x`, one stacked GEMM, costs the same but is 3–5×
    /// less accurate: same-sign partial sums, then cancellation. Measured on VGG-16 against
    /// float64, that was enough to tip max-pool near-ties. The subtraction moves that error
    /// into the `Z⁻` normaliser, where it changes relevance smoothly.)
    ///
    /// Returns `None` (and leaves `z` alone) when the rule has no split form.
    pub fn split_forward(
        &self,
        layer: &Linear<'_>,
        x: &[f32],
        n: usize,
        z: &mut [f32],
    ) -> Option<Vec<f32>> {
        self.split.as_ref()?;
        let ol = layer.out_len();
        let (m, positions) = layer.out_channels();
        let groups = layer.groups();
        let mg = m / groups;
        let bias = layer.bias();
        layer.forward(x, n, layer.weight(), bias, z);
        let mut pos = vec![0f32; n * ol];
        layer.forward(x, n, self.weights(layer, WVar::Pos), None, &mut pos);
        let mut parts = vec![0f32; 2 * n * ol];
        parts
            .par_chunks_mut(2 * ol)
            .zip(z.par_chunks(ol).zip(pos.par_chunks(ol)))
            .for_each(|(ps, (zs, pz))| {
                for ch in 0..m {
                    let (grp, c) = (ch / mg, ch % mg);
                    let b = bias.map_or(0.0, |b| b[ch]);
                    let range = ch * positions..(ch + 1) * positions;
                    let (dp, dn) = (
                        (grp * 2 * mg + c) * positions,
                        (grp * 2 * mg + mg + c) * positions,
                    );
                    for (j, (&zv, &pv)) in zs[range.clone()].iter().zip(&pz[range]).enumerate() {
                        ps[dp + j] = pv;
                        ps[dn + j] = (zv - b) - pv;
                    }
                }
            });
        Some(parts)
    }

    /// Relevance step of α-β / z⁺ from the parts of [`LinearRule::split_forward`]: one
    /// transposed GEMM with the stacked weight (or with `W⁺` alone when β = 0). Arguments as
    /// in [`LinearRule::relevance`]; `x` must be the non-negative input the parts came from.
    #[allow(clippy::too_many_arguments)]
    pub fn relevance_split(
        &self,
        layer: &Linear<'_>,
        x: &[f32],
        parts: &[f32],
        r: &[f32],
        n: usize,
        k: usize,
    ) -> Vec<f32> {
        let sp = self
            .split
            .as_ref()
            .expect("relevance_split needs a split rule");
        let (il, ol) = (layer.in_len(), layer.out_len());
        let (m, positions) = layer.out_channels();
        let groups = layer.groups();
        let mg = m / groups;
        let two = sp.beta != 0.0;
        let bias = layer.bias().filter(|_| sp.bias);
        // s: per relevance sample, the stacked ratios [α R/Z⁺; −β R/Z⁻] (layout of the parts),
        // or α R/Z⁺ alone (layout of the output) when β = 0.
        let per = if two { 2 * ol } else { ol };
        let mut s = vec![0f32; n * k * per];
        s.par_chunks_mut(per).enumerate().for_each(|(ri, sr)| {
            let img = ri / k;
            let ps = &parts[img * 2 * ol..(img + 1) * 2 * ol];
            let rr = &r[ri * ol..(ri + 1) * ol];
            for ch in 0..m {
                let (grp, c) = (ch / mg, ch % mg);
                let pos = (grp * 2 * mg + c) * positions;
                let neg = (grp * 2 * mg + mg + c) * positions;
                let (bp, bn) = bias.map_or((0.0, 0.0), |b| (b[ch].max(0.0), b[ch].min(0.0)));
                let rc = &rr[ch * positions..(ch + 1) * positions];
                let dst = if two { pos } else { ch * positions };
                for (j, (&rv, &zp)) in rc.iter().zip(&ps[pos..pos + positions]).enumerate() {
                    sr[dst + j] = sp.alpha * sp.ratio.apply(rv, zp + bp);
                }
                if two {
                    for (j, (&rv, &zn)) in rc.iter().zip(&ps[neg..neg + positions]).enumerate() {
                        sr[neg + j] = -sp.beta * sp.ratio.apply(rv, zn + bn);
                    }
                }
            }
        });
        let mut out = vec![0f32; n * k * il];
        if two {
            layer.transpose_stacked(&s, n * k, &sp.stacked, &mut out);
        } else {
            let wpos = self.weights(layer, WVar::Pos);
            layer.transpose(&s, n * k, wpos, &mut out);
        }
        out.par_chunks_mut(il).enumerate().for_each(|(ri, o)| {
            let xi = &x[(ri / k) * il..(ri / k + 1) * il];
            o.iter_mut().zip(xi).for_each(|(a, b)| *a *= b);
        });
        out
    }

    /// Whether term `t` vanishes for these inputs (e.g. `x⁻` after a ReLU).
    fn vanishes(t: &Term, inp: &Inputs<'_>) -> bool {
        (t.input == InMod::Neg && !inp.has_neg) || (t.input == InMod::Pos && !inp.has_pos)
    }

    /// The modified input of term `t` for the `n` images, or `None` when it is `x` itself.
    fn modified_input(t: InMod, inp: &Inputs<'_>, n: usize) -> Option<Vec<f32>> {
        match t {
            InMod::Id => None,
            InMod::Pos if !inp.has_neg => None,
            InMod::Neg if !inp.has_pos => None,
            InMod::Pos => Some(inp.x.iter().map(|v| v.max(0.0)).collect()),
            InMod::Neg => Some(inp.x.iter().map(|v| v.min(0.0)).collect()),
            InMod::Ones => Some(vec![1.0; inp.x.len()]),
            InMod::Low => inp.low.as_ref().map(|l| l.repeat(n)),
            InMod::High => inp.high.as_ref().map(|h| h.repeat(n)),
        }
    }

    /// Relevance step for `n` images with `k` relevance maps each (classes explained at once).
    ///
    /// `x` is the layer input (`n` samples), `z` the layer output from the forward pass
    /// (`n` samples), `r` the relevance at the output (`n·k` samples, image-major). Returns
    /// the relevance at the input (`n·k` samples).
    pub fn relevance(
        &self,
        layer: &Linear<'_>,
        x: &[f32],
        z: &[f32],
        r: &[f32],
        n: usize,
        k: usize,
    ) -> Vec<f32> {
        let (il, ol) = (layer.in_len(), layer.out_len());
        debug_assert_eq!(x.len(), n * il);
        debug_assert_eq!(z.len(), n * ol);
        debug_assert_eq!(r.len(), n * k * ol);
        if self.rule.rule == Rule::Pass {
            return r.to_vec();
        }
        let (cin, per_c) = layer.in_channels();
        let bound = |v: &[f32]| -> Vec<f32> {
            (0..cin * per_c)
                .map(|i| if v.len() == 1 { v[0] } else { v[i / per_c] })
                .collect()
        };
        let (low, high) = match &self.rule.rule {
            Rule::ZBox { low, high } if low.is_empty() => {
                // Bounds from the data: per-channel extremes over the batch.
                let mut lo = vec![f32::INFINITY; cin];
                let mut hi = vec![f32::NEG_INFINITY; cin];
                for (i, &v) in x.iter().enumerate() {
                    let ch = (i % il) / per_c;
                    lo[ch] = lo[ch].min(v);
                    hi[ch] = hi[ch].max(v);
                }
                (Some(bound(&lo)), Some(bound(&hi)))
            }
            Rule::ZBox { low, high } => (Some(bound(low)), Some(bound(high))),
            _ => (None, None),
        };
        let inp = Inputs {
            x,
            has_neg: x.iter().any(|&v| v < 0.0),
            has_pos: x.iter().any(|&v| v > 0.0),
            low,
            high,
        };
        let (m, positions) = layer.out_channels();
        let bias = layer.bias();
        let mut out = kernels::zeroed(n * k * il);
        let mut s = vec![0f32; n * k * ol];
        let mut t_buf = vec![0f32; n * k * il];
        for (gi, g) in self.groups.iter().enumerate() {
            // The denominator of every image (`dstride = ol`), or one shared by all (0).
            let mut dstride = ol;
            let denom: Option<std::borrow::Cow<'_, [f32]>> = match &g.denominator {
                Denominator::None => None,
                _ if self.fixed[gi].is_some() => {
                    dstride = 0;
                    self.fixed[gi].as_deref().map(std::borrow::Cow::Borrowed)
                }
                Denominator::Output => match bias {
                    Some(b) if self.rule.zero_bias => {
                        let mut d = z.to_vec();
                        for (i, v) in d.iter_mut().enumerate() {
                            *v -= b[(i / positions) % m];
                        }
                        Some(d.into())
                    }
                    _ => Some(z.into()),
                },
                Denominator::Computed(terms, bmod) => {
                    let mut d = vec![0f32; n * ol];
                    let mut tmp = vec![0f32; n * ol];
                    let mut first = true;
                    for t in terms.iter().filter(|t| !Self::vanishes(t, &inp)) {
                        let xin = Self::modified_input(t.input, &inp, n);
                        let xs = xin.as_deref().unwrap_or(x);
                        let w = self.weights(layer, t.weight);
                        let target = if first { &mut d } else { &mut tmp };
                        layer.forward(xs, n, w, None, target);
                        if !first {
                            for (a, b) in d.iter_mut().zip(&tmp) {
                                *a += t.sign * b;
                            }
                        } else if t.sign != 1.0 {
                            d.iter_mut().for_each(|v| *v *= t.sign);
                        }
                        first = false;
                    }
                    if let Some(b) = bias {
                        if *bmod != BiasMod::Zero {
                            for (i, v) in d.iter_mut().enumerate() {
                                *v += bmod.apply(b[(i / positions) % m]);
                            }
                        }
                    }
                    Some(d.into())
                }
            };
            // s = select(z) · R / Z for every relevance sample, in parallel blocks.
            const BLOCK: usize = 1 << 14;
            let denom = denom.as_deref();
            s.par_chunks_mut(ol)
                .zip(r.par_chunks(ol))
                .enumerate()
                .for_each(|(ri, (sr, rr))| {
                    let img = ri / k;
                    let zi = &z[img * ol..(img + 1) * ol];
                    let di = denom.map(|d| &d[img * dstride..img * dstride + ol]);
                    sr.par_chunks_mut(BLOCK).enumerate().for_each(|(bi, sb)| {
                        let j0 = bi * BLOCK;
                        for (t, sv) in sb.iter_mut().enumerate() {
                            let j = j0 + t;
                            let keep = match g.select {
                                Select::All => true,
                                Select::Positive => zi[j] > 0.0,
                                Select::Negative => zi[j] < 0.0,
                            };
                            *sv = if !keep {
                                0.0
                            } else {
                                match di {
                                    Some(d) => g.ratio.apply(rr[j], d[j]),
                                    None => rr[j],
                                }
                            };
                        }
                    });
                });
            for t in g.numerator.iter().filter(|t| !Self::vanishes(t, &inp)) {
                let w = self.weights(layer, t.weight);
                match t.weight {
                    // Constant weights: the transpose needs no GEMM (see `transpose_uniform`).
                    WVar::Ones => layer.transpose_uniform(&s, n * k, 1.0, &mut t_buf),
                    WVar::PaperFlat => {
                        layer.transpose_uniform(&s, n * k, layer.paper_flat(), &mut t_buf)
                    }
                    _ => layer.transpose(&s, n * k, w, &mut t_buf),
                }
                let xin = Self::modified_input(t.input, &inp, n);
                let coeff = g.coeff * t.sign;
                let ones = t.input == InMod::Ones;
                out.par_chunks_mut(il)
                    .zip(t_buf.par_chunks(il))
                    .enumerate()
                    .for_each(|(ri, (o, tb))| {
                        let img = ri / k;
                        let xi = match &xin {
                            Some(v) => &v[img * il..(img + 1) * il],
                            None => &x[img * il..(img + 1) * il],
                        };
                        o.par_chunks_mut(BLOCK)
                            .zip(tb.par_chunks(BLOCK))
                            .zip(xi.par_chunks(BLOCK))
                            .for_each(|((o, tb), xi)| {
                                if ones {
                                    for (a, b) in o.iter_mut().zip(tb) {
                                        *a += coeff * b;
                                    }
                                } else {
                                    for ((a, b), xv) in o.iter_mut().zip(tb).zip(xi) {
                                        *a += coeff * xv * b;
                                    }
                                }
                            });
                    });
            }
        }
        out
    }
}

/// Relevance of one sample through a dense layer: convenience for examples and tests.
///
/// `x` is the flattened input, `r` the relevance at the output.
pub fn dense_relevance(dense: &Dense, rule: &LayerRule, x: &[f32], r: &[f32]) -> Result<Vec<f32>> {
    let node = NodeRef::new("dense", "Dense");
    if x.len() != dense.in_features() || r.len() != dense.out_features() {
        return Err(Error::shape(
            &node,
            format!(
                "x has {} values and r {}, the layer takes {} and gives {}",
                x.len(),
                r.len(),
                dense.in_features(),
                dense.out_features()
            ),
        ));
    }
    let layer = Linear::Dense(dense);
    let prepared = LinearRule::new(&node, &layer, rule.clone())?;
    let mut z = vec![0f32; dense.out_features()];
    layer.forward(x, 1, dense.weight_slice(), layer.bias(), &mut z);
    Ok(prepared.relevance(&layer, x, &z, r, 1, 1))
}

impl std::str::FromStr for LayerRule {
    type Err = Error;

    /// Parse a rule as written on the command line: `NAME[:ARG[,ARG]][@paper][@nobias]`.
    ///
    /// Names: `epsilon` (`eps`, argument ε, default 1e-6 modern / 0.1 paper), `lrp0`,
    /// `zplus` (`plus`), `alphabeta` (`ab`, arguments α,β, default 2,1; also written
    /// `alpha2-beta1`, `alpha1-beta0`), `gamma` (argument γ, default 0.25), `flat`, `wsquare`
    /// (`w2`), `zbox` (arguments low,high; none: the batch's extremes), `pass`. `@paper`
    /// selects the paper convention, `@nobias` the zero-bias switch.
    ///
    /// ```
    /// use lrp::rules::{Convention, LayerRule, Rule};
    /// let r: LayerRule = "alphabeta:2,1@paper".parse().unwrap();
    /// assert_eq!(r.rule, Rule::AlphaBeta { alpha: 2.0, beta: 1.0 });
    /// assert_eq!(r.convention, Convention::Paper);
    /// let e: LayerRule = "epsilon:0.25@nobias".parse().unwrap();
    /// assert_eq!((e.rule, e.zero_bias), (Rule::Epsilon { epsilon: 0.25 }, true));
    /// assert!("nonsense".parse::<LayerRule>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<LayerRule> {
        let bad = |d: String| Error::Invalid(format!("rule `{s}`: {d}"));
        let mut parts = s.trim().split('@');
        let head = parts.next().unwrap_or_default();
        let mut convention = Convention::Modern;
        let mut zero_bias = false;
        for m in parts {
            match m.to_ascii_lowercase().as_str() {
                "paper" => convention = Convention::Paper,
                "modern" => convention = Convention::Modern,
                "nobias" | "zero-bias" => zero_bias = true,
                other => {
                    return Err(bad(format!(
                        "unknown modifier `@{other}` (paper, modern, nobias)"
                    )))
                }
            }
        }
        let (name, args) = match head.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (head, None),
        };
        let args: Vec<f32> = match args {
            None => Vec::new(),
            Some(a) => a
                .split(',')
                .map(|v| {
                    v.trim()
                        .parse::<f32>()
                        .map_err(|_| bad(format!("`{v}` is not a number")))
                })
                .collect::<Result<_>>()?,
        };
        let arg = |i: usize, default: f32| args.get(i).copied().unwrap_or(default);
        let lname = name.to_ascii_lowercase().replace('_', "-");
        let rule = match lname.as_str() {
            "epsilon" | "eps" => Rule::Epsilon {
                epsilon: arg(
                    0,
                    if convention == Convention::Paper {
                        0.1
                    } else {
                        1e-6
                    },
                ),
            },
            "lrp0" | "zero" => Rule::Epsilon { epsilon: 0.0 },
            "zplus" | "plus" | "z+" => Rule::ZPlus,
            "alphabeta" | "ab" | "alpha-beta" => Rule::AlphaBeta {
                alpha: arg(0, 2.0),
                beta: arg(1, 1.0),
            },
            "gamma" => Rule::Gamma {
                gamma: arg(0, 0.25),
            },
            "flat" => Rule::Flat,
            "wsquare" | "w2" | "w-square" => Rule::WSquare,
            "zbox" | "zb" => Rule::ZBox {
                low: args.first().map(|&v| vec![v]).unwrap_or_default(),
                high: args.get(1).map(|&v| vec![v]).unwrap_or_default(),
            },
            "pass" => Rule::Pass,
            other => {
                // alphaA-betaB
                let ab = other
                    .strip_prefix("alpha")
                    .and_then(|r| r.split_once("-beta"))
                    .and_then(|(a, b)| Some((a.parse::<f32>().ok()?, b.parse::<f32>().ok()?)));
                match ab {
                    Some((alpha, beta)) => Rule::AlphaBeta { alpha, beta },
                    None => {
                        return Err(bad(format!(
                            "unknown rule `{name}` (epsilon, lrp0, zplus, alphabeta, alpha2-beta1, gamma, flat, wsquare, zbox, pass)"
                        )))
                    }
                }
            }
        };
        let r = LayerRule::new(rule, convention).with_zero_bias(zero_bias);
        r.validate(&NodeRef::new("--rule", "rule"))?;
        Ok(r)
    }
}
