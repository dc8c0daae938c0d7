//! Generalised LRP-γ.
//!
//! For outputs with `z_j > 0`: weights `w + γw⁺` on positive and `w + γw⁻` on negative inputs,
//! bias `b + γb⁺`; for `z_j < 0` the roles swap (bias `b + γb⁻`); `z_j = 0` sends nothing.
//! `R_i = Σ_j x_i w'_ij R_j / Σ_i' x_i' w'_i'j`. γ = 0 is LRP-0; conserves on bias-free
//! layers.

use super::terms::{term, BiasMod, Denominator, Group, InMod, Select, WVar};
use super::RuleSpec;

/// The groups of LRP-γ for `spec`.
pub(super) fn groups(spec: &RuleSpec, gamma: f32) -> Vec<Group> {
    let g = gamma;
    let pos = vec![
        term(InMod::Pos, WVar::GammaPos(g)),
        term(InMod::Neg, WVar::GammaNeg(g)),
    ];
    let neg = vec![
        term(InMod::Pos, WVar::GammaNeg(g)),
        term(InMod::Neg, WVar::GammaPos(g)),
    ];
    let stab = spec.stabilized();
    vec![
        Group::new(
            Denominator::Computed(pos.clone(), spec.bias(BiasMod::GammaPos(g))),
            Select::Positive,
            stab,
            1.0,
            pos,
        ),
        Group::new(
            Denominator::Computed(neg.clone(), spec.bias(BiasMod::GammaNeg(g))),
            Select::Negative,
            stab,
            1.0,
            neg,
        ),
    ]
}
