//! LRP rules: each written once, as data over the operators' primitives.
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
//! | [`Rule::Pass`] | `R_in = R_out` (concatenation: sliced, padding: cropped) | yes |
//! | [`Rule::WinnerTakeAll`] | max pooling: `R_i = Σ_{j: i = argmax W(j)} R_j` | yes |
//! | [`Rule::Proportional`] | sums and pooling: `R_i = x_i Σ_{j ∋ i} R_j / s(z_j)`, `z_j = Σ_{i' ∈ W(j)} x_i'` (Zennit's `Norm`) | up to ε |
//! | [`Rule::Lrn`] | LRN: the LRP Toolbox's first-order rule (see [`Lrn::paper_relevance`](crate::ops::Lrn::paper_relevance)) | no |
//! | [`Rule::Gate`] | products `y = x · g(x)`: `R_x = R_y`, `R_g = 0` (the gate held constant) | yes |
//! | [`Rule::Uniform`] | products of `m` activations: `R_k = R_y / m` (AttnLRP) | yes |
//! | [`Rule::Softmax`] | softmax inside the network, AttnLRP: `R_x = x ⊙ (R_s − s ⊙ Σ R_s)` along its axis | no (bias term) |
//! | [`Rule::Gradient`] | the gradient: `g_i = Σ_j w_ij g_j` on layers with weights, each operator's vector-Jacobian product elsewhere | no (not an LRP rule) |
//! | [`Rule::Guided`] | guided backpropagation's ReLU: `g_in = 1[x > 0] · max(g_out, 0)` | no |
//! | [`Rule::LayerNorm`] | layer norm, AttnLRP: `R_x_j = (x_j/σ)(γ_j r_j − (1/N) Σ_i γ_i r_i)`, `r_i = R_i / s(y_i)`, σ held constant | up to ε (β = 0) |
//!
//! Two conventions exist ([`Convention`]): **modern** (Montavon et al. 2019, Zennit) and
//! **paper** (the LRP Toolbox for Caffe as used in the ICCV 2017 paper): paper ε sends `R_j`
//! itself where `z_j = 0`; paper α-β has no stabiliser (a zero denominator contributes 0);
//! paper flat replaces convolution weights by `1/(k_h k_w)` and dense weights by `1/K` without
//! renormalising, so shares falling on padding are lost.
//!
//! The first seven are rules for layers with weights. Each is data (its own file): a list of
//! [`Group`]s, each a denominator, a selection of outputs, a coefficient and numerator terms
//! `(input modifier, weight variant, sign)` ([`terms`]). One evaluator ([`LinearPlan`], in
//! `plan.rs`) runs any of them on any [`LinearMap`] through two primitives: the product with
//! modified weights/inputs and its transpose; weight variants are computed once per layer.
//! The last five choose a [`Route`] that an operator without weights carries out
//! ([`crate::ops::Operator::ROUTES`]); [`Rule::Pass`] works on both kinds.
//!
//! [`prepare`] turns a rule and a layer into a [`Prepared`] step, or an error naming the layer
//! when the rule does not apply to it.
//!
//! ## Adding a rule
//! A linear rule: a file with `groups(spec, …) -> Vec<Group>` and its formula in the module
//! doc, a variant of [`Rule`], and one line each in [`Rule::name`], `RuleSpec::groups` and
//! the parser (`parse.rs`). A rule for layers without weights: a [`Route`] the operators
//! offer, and one line in `Rule::route`.
//!
//! ```
//! use lrp::rules::{Convention, RuleSpec, Rule};
//! // ε-rule on a 2-input, 1-output dense layer: z = 1·2 + 3·(−1) = −1 (no bias).
//! use lrp::ops::Dense;
//! use ndarray::array;
//! let d = Dense::new(array![[2.0, -1.0]], None);
//! let rule = RuleSpec::new(Rule::Epsilon { epsilon: 0.0 }, Convention::Modern).with_stabilizer(0.0);
//! let r = lrp::rules::dense_relevance(&d, &rule, &[1.0, 3.0], &[-1.0]).unwrap();
//! // R_i = x_i w_i R / z = [1·2·(−1)/(−1), 3·(−1)·(−1)/(−1)] = [2, −3]
//! assert_eq!(r, vec![2.0, -3.0]);
//! ```

mod alpha_beta;
mod epsilon;
mod flat;
mod gamma;
mod gradient;
mod parse;
mod plan;
mod split;
pub mod terms;
mod wsquare;
mod zbox;

pub use plan::{dense_relevance, LinearPlan};
pub use terms::{BiasMod, Denominator, Group, InMod, Ratio, Select, Term, WVar};

use crate::error::{Error, NodeRef, Result};
use crate::ops::{LinearMap, Op, Route};

/// Which family of conventions a rule follows (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Convention {
    /// Montavon et al. (2019) and Zennit: conserving, stabiliser `z + ε·sign(z)`.
    #[default]
    Modern,
    /// The LRP Toolbox for Caffe, as the ICCV 2017 paper ran it.
    Paper,
}

/// An LRP rule.
///
/// Each variant's documentation gives its formula, parameters and conservation property (for
/// a bias-free layer; biases absorb their share). On one output `z = 1·1 + 2·(−1) = −1` of
/// a two-input layer with `R = 1`, the rules give (hand-computed):
///
/// ```
/// use lrp::ops::Dense;
/// use lrp::rules::{dense_relevance, Convention, RuleSpec, Rule};
/// use ndarray::array;
/// let d = Dense::new(array![[1.0, -1.0]], None);
/// let run = |rule| dense_relevance(&d, &RuleSpec::new(rule, Convention::Modern), &[1.0, 2.0], &[1.0]).unwrap();
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
    /// Pass: `R_in = R_out`, for layers whose input and output sizes are equal, and for
    /// concatenation (sliced back to the inputs) and padding (cropped); conserves.
    Pass,
    /// Winner-take-all, for max pooling: each output's relevance goes to the input that won
    /// its maximum (the first on ties); conserves.
    WinnerTakeAll,
    /// Proportional, for sums and average (or max) pooling:
    /// `R_i = x_i Σ_{j ∋ i} R_j / s(Σ_{i' ∈ W(j)} x_i')` with the rule's stabiliser as ε
    /// (Zennit's `Norm`); conserves up to ε.
    Proportional,
    /// The LRP Toolbox's first-order rule for local response normalisation, as the ICCV 2017
    /// paper used it; does not conserve.
    Lrn,
    /// Gate, for the product of an activation with a gate computed from it
    /// (squeeze-and-excitation, `x · σ(x)`): the gate is held constant, `R_x = R_y`,
    /// `R_gate = 0`; conserves. See [`crate::ops::mul`].
    Gate,
    /// Uniform, for products of activations (AttnLRP): each of the `m` factors gets `R_y / m`;
    /// conserves. See [`crate::ops::mul`].
    Uniform,
    /// AttnLRP's rule for layer normalisation (Achtibat et al., ICML 2024): the normalisation
    /// `y = γ ⊙ (x − μ)/σ + β` as a linear map with `σ` held constant, under the ε-rule with
    /// the rule's stabiliser as ε: `R_x_j = (x_j/σ)(γ_j r_j − (1/N) Σ_i γ_i r_i)`,
    /// `r_i = R_i / s(y_i)`. Conserves up to ε when `β = 0`; a bias absorbs
    /// `Σ_i R_i β_i / s(y_i)`. See [`crate::ops::layer_norm`].
    LayerNorm,
    /// AttnLRP's rule for a softmax inside the network (Achtibat et al., ICML 2024,
    /// Proposition 3.1): `R_x = x ⊙ (R_s − s ⊙ Σ R_s)` along the softmax axis, the first-order
    /// expansion at `x` with its bias term, which is what gradient × input gives there (LXT).
    /// Does not conserve. See [`crate::ops::softmax`].
    Softmax,
    /// The gradient, for gradient-based attributions ([`crate::attribution`]): the plain
    /// transposed product `g_i = Σ_j w_ij g_j` on layers with weights (no denominator, no
    /// bias), each operator's vector-Jacobian product ([`Route::Gradient`]) elsewhere. Not an
    /// LRP rule: nothing is conserved.
    Gradient,
    /// Guided backpropagation's ReLU (Springenberg et al., ICLR 2015 workshop; Zennit's
    /// `ReLUGuidedBackprop`): `g_in = 1[x > 0] · max(g_out, 0)` ([`Route::Guided`]).
    Guided,
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
            Rule::WinnerTakeAll => "winner-take-all".into(),
            Rule::Proportional => "proportional".into(),
            Rule::Lrn => "lrn".into(),
            Rule::Gate => "gate".into(),
            Rule::Uniform => "uniform".into(),
            Rule::LayerNorm => "layer-norm".into(),
            Rule::Softmax => "softmax".into(),
            Rule::Gradient => "gradient".into(),
            Rule::Guided => "guided".into(),
        }
    }

    /// The route an operator without weights takes under this rule, for the rules that have
    /// one.
    pub fn route(&self) -> Option<Route> {
        match self {
            Rule::Pass => Some(Route::Pass),
            Rule::WinnerTakeAll => Some(Route::WinnerTakeAll),
            Rule::Proportional => Some(Route::Proportional),
            Rule::Lrn => Some(Route::LrnTaylor),
            Rule::Gate => Some(Route::Gate),
            Rule::Uniform => Some(Route::Uniform),
            Rule::LayerNorm => Some(Route::LayerNormLinear),
            Rule::Softmax => Some(Route::SoftmaxTaylor),
            Rule::Gradient => Some(Route::Gradient),
            Rule::Guided => Some(Route::Guided),
            _ => None,
        }
    }
}

/// A rule with its options, as assigned to one layer.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    /// The rule.
    pub rule: Rule,
    /// Modern or paper convention.
    pub convention: Convention,
    /// Remove the bias from the rule's computation.
    pub zero_bias: bool,
    /// Stabiliser added to denominators (modern convention), default 1e-6.
    pub stabilizer: f32,
}

impl RuleSpec {
    /// `rule` in `convention`, bias kept, stabiliser 1e-6.
    pub fn new(rule: Rule, convention: Convention) -> Self {
        RuleSpec {
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

    /// Check the parameters (α − β = 1, finite values, ...); errors name `node`.
    pub fn validate(&self, node: &NodeRef) -> Result<()> {
        self.check().map_err(|d| Error::param(node, d))
    }

    /// Check the parameters; the error says what is wrong.
    fn check(&self) -> std::result::Result<(), String> {
        let bad = |d: String| Err(d);
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

impl RuleSpec {
    /// The rule as data: the groups the evaluator runs. `None` for the rules that are routes
    /// ([`Rule::route`]).
    pub fn groups(&self) -> Option<Vec<Group>> {
        Some(match &self.rule {
            Rule::Epsilon { epsilon } => epsilon::groups(self, *epsilon),
            Rule::AlphaBeta { alpha, beta } => alpha_beta::groups(self, *alpha, *beta),
            Rule::ZPlus => alpha_beta::groups(self, 1.0, 0.0),
            Rule::Gamma { gamma } => gamma::groups(self, *gamma),
            Rule::Flat => flat::groups(self),
            Rule::WSquare => wsquare::groups(self),
            Rule::ZBox { .. } => zbox::groups(self),
            Rule::Gradient => gradient::groups(self),
            Rule::Guided
            | Rule::Pass
            | Rule::WinnerTakeAll
            | Rule::Proportional
            | Rule::Lrn
            | Rule::Gate
            | Rule::Uniform
            | Rule::LayerNorm
            | Rule::Softmax => return None,
        })
    }

    /// `b` unless the zero-bias switch is on.
    fn bias(&self, b: BiasMod) -> BiasMod {
        if self.zero_bias {
            BiasMod::Zero
        } else {
            b
        }
    }

    /// The rule as shown in layer listings: its name, and ` (paper)` in the paper's
    /// convention (`zplus`, `epsilon(0.1) (paper)`, `winner-take-all`, ...).
    pub fn describe(&self) -> String {
        let conv = match self.convention {
            Convention::Modern => "",
            Convention::Paper => " (paper)",
        };
        format!("{}{conv}", self.rule.name())
    }

    /// The stabilised ratio with the rule's stabiliser.
    fn stabilized(&self) -> Ratio {
        Ratio::Stabilized(self.stabilizer)
    }
}

/// How one layer passes relevance: a linear rule prepared for its weights, or a route.
#[derive(Debug, Clone)]
pub enum Prepared {
    /// A rule prepared for a layer with weights.
    Linear(Box<LinearPlan>),
    /// A route carried out by an operator without weights, with the stabiliser of
    /// [`Route::Proportional`] and [`Route::LayerNormLinear`].
    Route(Route, f32),
}

/// Prepare `spec` for the layer `op` (named by `node`) on per-sample inputs `input`: validate
/// the rule's parameters and that it applies to the layer, and compute what it needs once
/// (weight variants, fixed normalisers).
pub fn prepare(node: &NodeRef, op: &Op, input: &[usize], spec: &RuleSpec) -> Result<Prepared> {
    spec.validate(node)?;
    if let Some(layer) = op.linear(input) {
        if spec.rule.route().is_some() && !matches!(spec.rule, Rule::Pass | Rule::Gradient) {
            return Err(not_for(node, op, spec));
        }
        return Ok(Prepared::Linear(Box::new(LinearPlan::new(
            node,
            layer.as_ref(),
            spec.clone(),
        )?)));
    }
    match spec.rule.route() {
        Some(route) if op.routes().contains(&route) => Ok(Prepared::Route(route, spec.stabilizer)),
        _ => Err(not_for(node, op, spec)),
    }
}

/// The error for a rule that does not apply to a layer, listing the rules that do.
fn not_for(node: &NodeRef, op: &Op, spec: &RuleSpec) -> Error {
    let takes = if op.is_linear() {
        "the rules for layers with weights (epsilon, zplus, alphabeta, gamma, flat, wsquare, zbox, pass, gradient)"
            .to_string()
    } else if op.routes().is_empty() {
        return Error::param(
            node,
            format!("LRP has no rule for a layer of kind {}", op.kind()),
        );
    } else {
        let names: Vec<&str> = op.routes().iter().map(|r| r.name()).collect();
        names.join(", ")
    };
    Error::param(
        node,
        format!(
            "rule `{}` does not apply to a layer of kind {}; it takes {takes}",
            spec.rule.name(),
            op.kind()
        ),
    )
}

/// Check that `layer` can run `spec`'s rule (used by [`LinearPlan::new`]).
fn check_linear(node: &NodeRef, layer: &dyn LinearMap, spec: &RuleSpec) -> Result<()> {
    if spec.rule == Rule::Pass && layer.in_len() != layer.out_len() {
        return Err(Error::param(
            node,
            format!(
                "the pass rule needs equal input and output sizes, got {} and {}",
                layer.in_len(),
                layer.out_len()
            ),
        ));
    }
    if let Rule::ZBox { low, high } = &spec.rule {
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
    Ok(())
}
