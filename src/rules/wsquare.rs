//! The w² rule.
//!
//! `R_i = Σ_j w_ij² R_j / Σ_i' w_i'j²`, bias ignored; conserves (a zero normaliser sends
//! nothing). Like flat, its normaliser is computed once per layer.

use super::terms::{term, BiasMod, Denominator, Group, InMod, Select, WVar};
use super::RuleSpec;

/// The groups of the w² rule for `spec`.
pub(super) fn groups(spec: &RuleSpec) -> Vec<Group> {
    let t = vec![term(InMod::Ones, WVar::Square)];
    vec![Group::new(
        Denominator::Computed(t.clone(), BiasMod::Zero),
        Select::All,
        spec.stabilized(),
        1.0,
        t,
    )]
}
