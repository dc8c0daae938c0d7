//! Rules as data: the terms, denominators and groups every linear rule is written in, and
//! the stabilised ratio `R_j / Z_j`.
//!
//! A rule is a list of [`Group`]s. Each group forms a denominator `Z_j` (the layer's own
//! output, a computed sum of terms, or none), selects outputs by the sign of `z_j`, forms
//! `s_j = select · coeff · R_j / Z_j` and sends it back through the transposed products of
//! its numerator terms, each `sign · in(x) ⊙ Fᵀ(s, w')` with an input modifier `in` and a
//! weight variant `w'` (Zennit's `BasicHook`: input modifier, parameter modifier, output
//! modifier, reducer).

use crate::kernels::Stabilized;

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
    pub(crate) fn key(self) -> (u8, u32) {
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

    pub(crate) fn apply(self, w: f32, paper_flat: f32) -> f32 {
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
    pub(crate) fn apply(self, b: f32) -> f32 {
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

pub(crate) const fn term(input: InMod, weight: WVar) -> Term {
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
            Ratio::Stabilized(e) => Stabilized(e).apply(r, z),
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

impl Group {
    /// A group from its parts.
    pub fn new(
        denominator: Denominator,
        select: Select,
        ratio: Ratio,
        coeff: f32,
        numerator: Vec<Term>,
    ) -> Self {
        Group {
            denominator,
            select,
            ratio,
            coeff,
            numerator,
        }
    }
}
