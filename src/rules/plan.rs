//! The evaluator of the linear rules: a rule prepared for one layer ([`LinearPlan`]) runs
//! its groups ([`super::terms`]) through the layer's [`LinearMap`] primitives.

use super::split::Split;
use super::terms::{BiasMod, Denominator, Group, InMod, Select, Term, WVar};
use super::{check_linear, Rule, RuleSpec};
use crate::error::{Error, NodeRef, Result};
use crate::kernels;
use crate::ops::{Dense, LinearMap};
use rayon::prelude::*;
use std::borrow::Cow;
use std::collections::HashMap;

/// A rule prepared for one layer: its groups and the weight variants it needs, computed once.
#[derive(Debug, Clone)]
pub struct LinearPlan {
    pub(super) rule: RuleSpec,
    pub(super) groups: Vec<Group>,
    pub(super) variants: HashMap<(u8, u32), Vec<f32>>,
    /// Per group: the denominator of one sample when it does not depend on the input (flat
    /// and w² normalisers: a forward pass of ones), computed once.
    pub(super) fixed: Vec<Option<Vec<f32>>>,
    /// The sign-split form of α-β and z⁺, when the rule is one of them.
    pub(super) split: Option<Split>,
}

/// Input-side data shared by all terms of one relevance step.
struct Inputs<'x> {
    x: &'x [f32],
    has_neg: bool,
    has_pos: bool,
    low: Option<Vec<f32>>,
    high: Option<Vec<f32>>,
}

impl LinearPlan {
    /// Prepare `rule` for `layer`: validate it and compute every weight variant it uses.
    pub fn new(node: &NodeRef, layer: &dyn LinearMap, rule: RuleSpec) -> Result<Self> {
        rule.validate(node)?;
        let groups = rule.groups().unwrap_or_default();
        check_linear(node, layer, &rule)?;
        let w = layer.weight_values();
        let flat = layer.paper_flat();
        let split = Self::make_split(layer, &rule);
        // The split form holds W⁺ (and, with one group and β ≠ 0, W⁻) in its stack: no
        // separate copies. W⁻ is not kept otherwise: only the general path on inputs with
        // negative values reads it, and computes it then (see `weights`).
        let in_stack = |v: WVar| match &split {
            None => false,
            Some(sp) => match v {
                WVar::Pos => sp.beta == 0.0 || layer.groups() == 1,
                WVar::Neg => true,
                _ => false,
            },
        };
        let mut variants = HashMap::new();
        for g in &groups {
            let dterms = match &g.denominator {
                Denominator::Computed(t, _) => t.as_slice(),
                _ => &[],
            };
            for t in g.numerator.iter().chain(dterms) {
                if t.weight != WVar::W && !in_stack(t.weight) {
                    variants
                        .entry(t.weight.key())
                        .or_insert_with(|| w.iter().map(|&v| t.weight.apply(v, flat)).collect());
                }
            }
        }
        let mut prepared = LinearPlan {
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
                        layer.forward(&ones, 1, &prepared.weights(layer, t.weight), None, &mut tmp);
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
    pub fn rule(&self) -> &RuleSpec {
        &self.rule
    }

    /// How many values were prepared for the layer beside its own weights: weight variants,
    /// the sign-split form's `[W⁺; W⁻]` (`W⁺` alone for z⁺) and fixed normalisers (what
    /// [`crate::memory::Estimate::of_explainer`] counts).
    pub fn prepared_values(&self) -> usize {
        let variants: usize = self.variants.values().map(Vec::len).sum();
        let fixed: usize = self.fixed.iter().flatten().map(Vec::len).sum();
        let stacked = self.split.as_ref().map_or(0, |s| s.stacked.len());
        variants + fixed + stacked
    }

    /// Whether the relevance step reads the layer's input `x` from the forward pass: every
    /// rule whose numerator or (input-dependent) denominator multiplies by `x`, `x⁺`, `x⁻` or
    /// the zᴮ bounds, and the sign-split form. Flat, w², the gradient and pass read none:
    /// their numerators use ones and their denominators are fixed.
    pub fn reads_input(&self) -> bool {
        if self.rule.rule == Rule::Pass {
            return false;
        }
        self.split.is_some()
            || self.groups.iter().zip(&self.fixed).any(|(g, fixed)| {
                g.numerator.iter().any(|t| t.input != InMod::Ones)
                    || (fixed.is_none() && matches!(g.denominator, Denominator::Computed(..)))
            })
    }

    /// Whether the relevance step reads the layer's output `z` from the forward pass: the
    /// ε rule (its denominator is `z`) and the rules that select outputs by the sign of
    /// `z_j` (γ).
    pub fn reads_output(&self) -> bool {
        if self.rule.rule == Rule::Pass {
            return false;
        }
        self.groups.iter().zip(&self.fixed).any(|(g, fixed)| {
            g.select != Select::All
                || (fixed.is_none() && matches!(g.denominator, Denominator::Output))
        })
    }

    /// Whether the rule's denominators are fixed, computed once when the layer was prepared
    /// (flat and w² in the modern convention).
    pub fn fixed_denominators(&self) -> bool {
        self.fixed.iter().any(Option::is_some)
    }

    /// Products with the layer's weights one relevance step computes for its denominators
    /// (upper bound: terms on `x⁻` vanish after a ReLU), when the sign-split form does not
    /// apply: none for ε (the forward output), flat and w² (fixed).
    pub fn denominator_products(&self) -> usize {
        self.groups
            .iter()
            .zip(&self.fixed)
            .map(|(g, f)| match &g.denominator {
                Denominator::Computed(terms, _) if f.is_none() => terms.len(),
                _ => 0,
            })
            .sum()
    }

    /// Transposed products with the layer's weights one relevance step computes (upper
    /// bound, as [`LinearPlan::denominator_products`]; constant weights need none).
    pub fn transposed_products(&self) -> usize {
        if self.rule.rule == Rule::Pass {
            return 0;
        }
        self.groups
            .iter()
            .flat_map(|g| &g.numerator)
            .filter(|t| !matches!(t.weight, WVar::Ones | WVar::PaperFlat))
            .count()
    }

    /// The weights of variant `v`: the layer's own, a prepared variant, part of the split
    /// form's stack, or (`W⁻` of a split rule with no copy of it) computed now.
    pub(super) fn weights<'s>(&'s self, layer: &'s dyn LinearMap, v: WVar) -> Cow<'s, [f32]> {
        if v == WVar::W {
            return Cow::Borrowed(layer.weight_values());
        }
        if let Some(w) = self
            .split_weights(layer, v)
            .or_else(|| self.variants.get(&v.key()).map(Vec::as_slice))
        {
            return Cow::Borrowed(w);
        }
        let flat = layer.paper_flat();
        Cow::Owned(
            layer
                .weight_values()
                .iter()
                .map(|&w| v.apply(w, flat))
                .collect(),
        )
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

    /// The input-side data of one relevance step: sign flags and the zᴮ bounds, per input
    /// element (bounds from the batch's per-channel extremes when the rule gives none).
    fn inputs<'x>(&self, layer: &dyn LinearMap, x: &'x [f32]) -> Inputs<'x> {
        let il = layer.in_len();
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
        Inputs {
            x,
            has_neg: x.iter().any(|&v| v < 0.0),
            has_pos: x.iter().any(|&v| v > 0.0),
            low,
            high,
        }
    }

    /// The denominator of group `gi` for the `n` images and its stride per image (`ol`, or 0
    /// when one fixed denominator serves every image); `None` when the group divides by
    /// nothing.
    #[allow(clippy::too_many_arguments)]
    fn denominator<'a>(
        &'a self,
        gi: usize,
        g: &Group,
        layer: &dyn LinearMap,
        inp: &Inputs<'_>,
        z: &'a [f32],
        n: usize,
    ) -> (Option<Cow<'a, [f32]>>, usize) {
        let ol = layer.out_len();
        let (m, positions) = layer.out_channels();
        let bias = layer.bias_values();
        let d = match &g.denominator {
            Denominator::None => None,
            _ if self.fixed[gi].is_some() => {
                return (self.fixed[gi].as_deref().map(Cow::Borrowed), 0);
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
                for t in terms.iter().filter(|t| !Self::vanishes(t, inp)) {
                    let xin = Self::modified_input(t.input, inp, n);
                    let xs = xin.as_deref().unwrap_or(inp.x);
                    let w = self.weights(layer, t.weight);
                    let target = if first { &mut d } else { &mut tmp };
                    layer.forward(xs, n, &w, None, target);
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
        (d, ol)
    }

    /// Relevance step for `n` images with `k` relevance maps each (classes explained at once).
    ///
    /// `x` is the layer input (`n` samples), `z` the layer output from the forward pass
    /// (`n` samples), `r` the relevance at the output (`n·k` samples, image-major). Returns
    /// the relevance at the input (`n·k` samples).
    pub fn relevance(
        &self,
        layer: &dyn LinearMap,
        x: &[f32],
        z: &[f32],
        r: &[f32],
        n: usize,
        k: usize,
    ) -> Vec<f32> {
        let (il, ol) = (layer.in_len(), layer.out_len());
        // What the step does not read may be left out (see `reads_input`, `reads_output`).
        debug_assert!(x.len() == n * il || (x.is_empty() && !self.reads_input()));
        debug_assert!(z.len() == n * ol || (z.is_empty() && !self.reads_output()));
        debug_assert_eq!(r.len(), n * k * ol);
        if self.rule.rule == Rule::Pass {
            return r.to_vec();
        }
        let inp = self.inputs(layer, x);
        let mut out = kernels::zeroed(n * k * il);
        let mut s = vec![0f32; n * k * ol];
        let mut t_buf = vec![0f32; n * k * il];
        for (gi, g) in self.groups.iter().enumerate() {
            let (denom, dstride) = self.denominator(gi, g, layer, &inp, z, n);
            ratios(g, z, r, denom.as_deref(), dstride, k, ol, &mut s);
            for t in g.numerator.iter().filter(|t| !Self::vanishes(t, &inp)) {
                let w = self.weights(layer, t.weight);
                match t.weight {
                    // Constant weights: the transpose needs no GEMM (see `transpose_uniform`).
                    WVar::Ones => layer.transpose_uniform(&s, n * k, 1.0, &mut t_buf),
                    WVar::PaperFlat => {
                        layer.transpose_uniform(&s, n * k, layer.paper_flat(), &mut t_buf)
                    }
                    _ => layer.transpose(&s, n * k, &w, &mut t_buf),
                }
                let ones = t.input == InMod::Ones;
                let xin = (!ones)
                    .then(|| Self::modified_input(t.input, &inp, n))
                    .flatten();
                let xs = match &xin {
                    _ if ones => None,
                    Some(v) => Some(v.as_slice()),
                    None => Some(x),
                };
                accumulate(&mut out, &t_buf, xs, g.coeff * t.sign, il, k);
            }
        }
        out
    }
}

/// Parallel blocks of the element-wise loops.
const BLOCK: usize = 1 << 14;

/// `s = select(z) · R / Z` for every relevance sample (`R / Z` formed by the group's ratio,
/// `R` itself without a denominator), in parallel blocks.
#[allow(clippy::too_many_arguments)]
fn ratios(
    g: &Group,
    z: &[f32],
    r: &[f32],
    denom: Option<&[f32]>,
    dstride: usize,
    k: usize,
    ol: usize,
    s: &mut [f32],
) {
    s.par_chunks_mut(ol)
        .zip(r.par_chunks(ol))
        .enumerate()
        .for_each(|(ri, (sr, rr))| {
            let img = ri / k;
            // `z` is read only to select outputs by sign (and may be left out otherwise).
            let zi = match g.select {
                Select::All => &[][..],
                _ => &z[img * ol..(img + 1) * ol],
            };
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
}

/// `out += coeff · x ⊙ t` per relevance sample (`x` of its image; none: `out += coeff · t`).
fn accumulate(out: &mut [f32], t: &[f32], x: Option<&[f32]>, coeff: f32, il: usize, k: usize) {
    out.par_chunks_mut(il)
        .zip(t.par_chunks(il))
        .enumerate()
        .for_each(|(ri, (o, tb))| {
            let img = ri / k;
            match x {
                None => o
                    .par_chunks_mut(BLOCK)
                    .zip(tb.par_chunks(BLOCK))
                    .for_each(|(o, tb)| {
                        for (a, b) in o.iter_mut().zip(tb) {
                            *a += coeff * b;
                        }
                    }),
                Some(x) => o
                    .par_chunks_mut(BLOCK)
                    .zip(tb.par_chunks(BLOCK))
                    .zip(x[img * il..(img + 1) * il].par_chunks(BLOCK))
                    .for_each(|((o, tb), xi)| {
                        for ((a, b), xv) in o.iter_mut().zip(tb).zip(xi) {
                            *a += coeff * xv * b;
                        }
                    }),
            }
        });
}

/// Relevance of one sample through a dense layer: convenience for examples and tests.
///
/// `x` is the flattened input, `r` the relevance at the output.
pub fn dense_relevance(dense: &Dense, rule: &RuleSpec, x: &[f32], r: &[f32]) -> Result<Vec<f32>> {
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
    let layer: &dyn LinearMap = dense;
    let prepared = LinearPlan::new(&node, layer, rule.clone())?;
    let mut z = vec![0f32; dense.out_features()];
    layer.forward(x, 1, layer.weight_values(), layer.bias_values(), &mut z);
    Ok(prepared.relevance(layer, x, &z, r, 1, 1))
}
