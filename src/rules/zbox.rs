//! The zᴮ rule for inputs bounded by `l ≤ x ≤ h` (first layers on pixels).
//!
//! `z_ij = x_i w_ij − l_i w⁺_ij − h_i w⁻_ij`, `R_i = Σ_j z_ij R_j / s(Σ_i z_ij)`; conserves.
//! The bias terms `b`, `−b⁺`, `−b⁻` cancel (as in Zennit), so the denominator has no bias.
//! Bounds per input channel (one value broadcasts; none: the per-channel extremes of the
//! explained batch).

use super::terms::{term, BiasMod, Denominator, Group, InMod, Select, Term, WVar};
use super::RuleSpec;

/// The groups of the zᴮ rule for `spec`.
pub(super) fn groups(spec: &RuleSpec) -> Vec<Group> {
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
    vec![Group::new(
        Denominator::Computed(t.clone(), BiasMod::Zero),
        Select::All,
        spec.stabilized(),
        1.0,
        t,
    )]
}
