//! LRP-ε (and LRP-0, ε = 0).
//!
//! `R_i = x_i Σ_j w_ij R_j / s(z_j)`, `s(z) = z + ε·sign(z)` with `sign(0) = +1`; the
//! denominator is the layer's own output from the forward pass (`z_j − b_j` with the
//! zero-bias switch), so ε costs one transposed product. Conserves as ε → 0 on bias-free
//! layers; larger ε absorbs the relevance of weak outputs. Paper convention: where `z_j = 0`
//! the ratio is `R_j` itself (the LRP Toolbox's `R / (z + ε·sign(z))` with `sign(0) = 0`
//! and a zero-division guard).

use super::terms::{term, Denominator, Group, InMod, Ratio, Select, WVar};
use super::{Convention, RuleSpec};

/// The groups of LRP-ε for `spec`.
pub(super) fn groups(spec: &RuleSpec, epsilon: f32) -> Vec<Group> {
    let ratio = match spec.convention {
        Convention::Modern => Ratio::Stabilized(epsilon),
        Convention::Paper => Ratio::PaperEpsilon(epsilon),
    };
    vec![Group::new(
        Denominator::Output,
        Select::All,
        ratio,
        1.0,
        vec![term(InMod::Id, WVar::W)],
    )]
}
