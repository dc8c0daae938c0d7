//! The gradient as a rule for layers with weights.
//!
//! `g_i = Σ_j w_ij g_j`: the plain transposed product, no denominator, no input factor and no
//! bias. Under it, and [`Route::Gradient`](crate::ops::Route::Gradient) on every other layer,
//! the backward pass computes the gradient of the seeded output with respect to the input
//! ([`crate::attribution`]). It does not conserve anything: it is not an LRP rule, but the
//! backbone of the gradient-based baselines.

use super::terms::{term, Denominator, Group, InMod, Select, WVar};
use super::RuleSpec;

/// The single group of the gradient: `1 · Wᵀ g` (the input modifier `Ones` is 1 at every real
/// input, so the transposed product passes unchanged).
pub(super) fn groups(spec: &RuleSpec) -> Vec<Group> {
    vec![Group::new(
        Denominator::None,
        Select::All,
        spec.stabilized(),
        1.0,
        vec![term(InMod::Ones, WVar::W)],
    )]
}
