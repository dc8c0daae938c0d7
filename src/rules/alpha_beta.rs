//! LRP-αβ and LRP-z⁺ (α = 1, β = 0).
//!
//! `R_i = Σ_j R_j (α z⁺_ij / Z⁺_j − β z⁻_ij / Z⁻_j)` with `z^±_ij = (x_i w_ij)^±` and
//! `Z^±_j = Σ_i z^±_ij + b^±_j`: the positive part of a contribution is `x⁺w⁺ + x⁻w⁻`, the
//! negative part `x⁺w⁻ + x⁻w⁺`. Needs `α − β = 1`, `α, β ≥ 0`; conserves where both
//! denominators are non-zero (a zero denominator contributes nothing). The modern convention
//! stabilises the denominators, the paper's does not. On non-negative inputs the evaluator
//! runs the sign-split form ([`super::split`]).

use super::terms::{term, BiasMod, Denominator, Group, InMod, Ratio, Select, WVar};
use super::{Convention, RuleSpec};

/// The groups of LRP-αβ for `spec`.
pub(super) fn groups(spec: &RuleSpec, alpha: f32, beta: f32) -> Vec<Group> {
    let ratio = match spec.convention {
        Convention::Modern => Ratio::Stabilized(spec.stabilizer),
        Convention::Paper => Ratio::ZeroSafe,
    };
    let pos = vec![term(InMod::Pos, WVar::Pos), term(InMod::Neg, WVar::Neg)];
    let neg = vec![term(InMod::Pos, WVar::Neg), term(InMod::Neg, WVar::Pos)];
    let mut g = vec![Group::new(
        Denominator::Computed(pos.clone(), spec.bias(BiasMod::Pos)),
        Select::All,
        ratio,
        alpha,
        pos,
    )];
    if beta != 0.0 {
        g.push(Group::new(
            Denominator::Computed(neg.clone(), spec.bias(BiasMod::Neg)),
            Select::All,
            ratio,
            -beta,
            neg,
        ));
    }
    g
}
