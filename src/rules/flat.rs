//! The flat rule.
//!
//! `R_i = Σ_{j: i∈RF(j)} R_j / |RF(j)|`: every weight 1 over the real inputs of the receptive
//! field, bias ignored; conserves. Its normaliser does not depend on the input and is computed
//! once per layer; the transposed product needs no GEMM. Paper convention: weights
//! `1/(k_h k_w)` for convolutions (`1/K` for dense layers) without renormalisation, so the
//! shares falling on padding are lost.

use super::terms::{term, BiasMod, Denominator, Group, InMod, Select, WVar};
use super::{Convention, RuleSpec};

/// The groups of the flat rule for `spec`.
pub(super) fn groups(spec: &RuleSpec) -> Vec<Group> {
    match spec.convention {
        Convention::Modern => {
            let t = vec![term(InMod::Ones, WVar::Ones)];
            vec![Group::new(
                Denominator::Computed(t.clone(), BiasMod::Zero),
                Select::All,
                spec.stabilized(),
                1.0,
                t,
            )]
        }
        Convention::Paper => vec![Group::new(
            Denominator::None,
            Select::All,
            spec.stabilized(),
            1.0,
            vec![term(InMod::Ones, WVar::PaperFlat)],
        )],
    }
}
