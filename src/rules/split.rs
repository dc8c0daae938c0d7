//! The sign-split form of α-β and z⁺ on non-negative inputs (after a ReLU).
//!
//! With `x ≥ 0`, `Z⁺ = W⁺x + b⁺` and `Z⁻ = W⁻x + b⁻ = (z − b) − W⁺x + b⁻`: the forward pass
//! and one GEMM with `W⁺` give both denominators, and one GEMM with the stacked weight
//! `[W⁺; W⁻]` maps `[α R/Z⁺; −β R/Z⁻]` back to the inputs — two products instead of four.
//! With β = 0 (z⁺) neither `Z⁻` nor `W⁻` is needed: the plan keeps `W⁺` alone and the
//! forward pass keeps `Z⁺` alone.

use super::plan::LinearPlan;
use super::terms::{Ratio, WVar};
use super::{Convention, Rule, RuleSpec};
use crate::ops::LinearMap;
use rayon::prelude::*;

/// α-β (and z⁺, α = 1, β = 0) on non-negative inputs, in sign-split form: with `x ≥ 0`,
/// `Z⁺ = W⁺x + b⁺` and `Z⁻ = W⁻x + b⁻ = (z − b) − W⁺x + b⁻`, so the forward pass and one GEMM
/// with `W⁺` give both denominators (see [`LinearPlan::split_forward`]); one GEMM with the
/// stacked weight `[W⁺; W⁻]` maps `[α R/Z⁺; −β R/Z⁻]` back to the inputs.
#[derive(Debug, Clone)]
pub(super) struct Split {
    pub(super) alpha: f32,
    pub(super) beta: f32,
    pub(super) ratio: Ratio,
    /// Use `b⁺`, `b⁻` in the denominators (false with the zero-bias switch).
    pub(super) bias: bool,
    /// With β ≠ 0, per group of the layer: `[W⁺_g; W⁻_g]`, so that the stack is the weight
    /// of a layer with twice the output channels and the same groups; for one group its
    /// halves are `W⁺` and `W⁻` themselves. With β = 0: `W⁺` alone, in the layer's layout.
    pub(super) stacked: Vec<f32>,
}

impl LinearPlan {
    /// The sign-split form of `rule` on `layer`, for α-β and z⁺.
    pub(super) fn make_split(layer: &dyn LinearMap, rule: &RuleSpec) -> Option<Split> {
        let (alpha, beta) = match rule.rule {
            Rule::AlphaBeta { alpha, beta } => (alpha, beta),
            Rule::ZPlus => (1.0, 0.0),
            _ => return None,
        };
        let ratio = match rule.convention {
            Convention::Modern => Ratio::Stabilized(rule.stabilizer),
            Convention::Paper => Ratio::ZeroSafe,
        };
        let w = layer.weight_values();
        let groups = layer.groups();
        let per_group = w.len() / groups;
        let stacked = if beta == 0.0 {
            w.iter().map(|v| v.max(0.0)).collect()
        } else {
            let mut stacked = Vec::with_capacity(2 * w.len());
            for wg in w.chunks(per_group.max(1)) {
                stacked.extend(wg.iter().map(|v| v.max(0.0)));
                stacked.extend(wg.iter().map(|v| v.min(0.0)));
            }
            stacked
        };
        Some(Split {
            alpha,
            beta,
            ratio,
            bias: !rule.zero_bias,
            stacked,
        })
    }

    /// Whether [`LinearPlan::split_forward`] applies to this rule.
    pub fn has_split(&self) -> bool {
        self.split.is_some()
    }

    /// Values per output value that [`LinearPlan::split_forward`] keeps for the walk back:
    /// 2 for α-β (`W⁺x` and `W⁻x`), 1 for z⁺ and α-β with β = 0 (`W⁺x` alone), 0 without a
    /// split form.
    pub fn split_parts(&self) -> usize {
        match &self.split {
            None => 0,
            Some(sp) if sp.beta == 0.0 => 1,
            Some(_) => 2,
        }
    }

    /// `W⁺` or `W⁻` as the split form holds it: `W⁺` is the stack itself when β = 0, and
    /// with one group the stack's halves are `W⁺` and `W⁻`. `None` for what it does not hold.
    pub(super) fn split_weights(&self, layer: &dyn LinearMap, v: WVar) -> Option<&[f32]> {
        let sp = self.split.as_ref()?;
        match v {
            WVar::Pos if sp.beta == 0.0 => Some(&sp.stacked),
            WVar::Pos | WVar::Neg if layer.groups() == 1 && sp.beta != 0.0 => {
                let half = sp.stacked.len() / 2;
                Some(if v == WVar::Pos {
                    &sp.stacked[..half]
                } else {
                    &sp.stacked[half..]
                })
            }
            _ => None,
        }
    }

    /// The layer's forward pass for `n` samples of non-negative input `x` together with its
    /// sign-split parts: writes `z = Wx + b` to `z` (the plain forward, bit for bit) and
    /// returns the parts `W⁺x` (a second GEMM) and `W⁻x = (z − b) − W⁺x`, per sample and
    /// group laid out as `[W⁺_g x; W⁻_g x]` (with β = 0, `W⁺x` alone in the output's layout:
    /// see [`LinearPlan::split_parts`]). Pass the parts to
    /// [`LinearPlan::relevance_split`]: α-β then needs no GEMM for its `Z⁻` normaliser.
    ///
    /// (Computing `z` itself as `W⁺x + W⁻x`, one stacked GEMM, costs the same but is 3–5×
    /// less accurate: same-sign partial sums, then cancellation. Measured on VGG-16 against
    /// float64, that was enough to tip max-pool near-ties. The subtraction moves that error
    /// into the `Z⁻` normaliser, where it changes relevance smoothly.)
    ///
    /// Returns `None` (and leaves `z` alone) when the rule has no split form.
    pub fn split_forward(
        &self,
        layer: &dyn LinearMap,
        x: &[f32],
        n: usize,
        z: &mut [f32],
    ) -> Option<Vec<f32>> {
        self.split.as_ref()?;
        let ol = layer.out_len();
        let (m, positions) = layer.out_channels();
        let groups = layer.groups();
        let mg = m / groups;
        let bias = layer.bias_values();
        layer.forward(x, n, layer.weight_values(), bias, z);
        let mut pos = vec![0f32; n * ol];
        layer.forward(x, n, &self.weights(layer, WVar::Pos), None, &mut pos);
        if self.split_parts() == 1 {
            return Some(pos);
        }
        let mut parts = vec![0f32; 2 * n * ol];
        parts
            .par_chunks_mut(2 * ol)
            .zip(z.par_chunks(ol).zip(pos.par_chunks(ol)))
            .for_each(|(ps, (zs, pz))| {
                for ch in 0..m {
                    let (grp, c) = (ch / mg, ch % mg);
                    let b = bias.map_or(0.0, |b| b[ch]);
                    let range = ch * positions..(ch + 1) * positions;
                    let (dp, dn) = (
                        (grp * 2 * mg + c) * positions,
                        (grp * 2 * mg + mg + c) * positions,
                    );
                    for (j, (&zv, &pv)) in zs[range.clone()].iter().zip(&pz[range]).enumerate() {
                        ps[dp + j] = pv;
                        ps[dn + j] = (zv - b) - pv;
                    }
                }
            });
        Some(parts)
    }

    /// Relevance step of α-β / z⁺ from the parts of [`LinearPlan::split_forward`]: one
    /// transposed GEMM with the stacked weight (or with `W⁺` alone when β = 0). Arguments as
    /// in [`LinearPlan::relevance`]; `x` must be the non-negative input the parts came from.
    #[allow(clippy::too_many_arguments)]
    pub fn relevance_split(
        &self,
        layer: &dyn LinearMap,
        x: &[f32],
        parts: &[f32],
        r: &[f32],
        n: usize,
        k: usize,
    ) -> Vec<f32> {
        let sp = self
            .split
            .as_ref()
            .expect("relevance_split needs a split rule");
        let (il, ol) = (layer.in_len(), layer.out_len());
        let (m, positions) = layer.out_channels();
        let groups = layer.groups();
        let mg = m / groups;
        let two = sp.beta != 0.0;
        let bias = layer.bias_values().filter(|_| sp.bias);
        // s: per relevance sample, the stacked ratios [α R/Z⁺; −β R/Z⁻] (layout of the parts),
        // or α R/Z⁺ alone (layout of the output) when β = 0.
        let per = if two { 2 * ol } else { ol };
        let mut s = vec![0f32; n * k * per];
        s.par_chunks_mut(per).enumerate().for_each(|(ri, sr)| {
            let img = ri / k;
            // The parts have the layout of the ratios (see `split_forward`).
            let ps = &parts[img * per..(img + 1) * per];
            let rr = &r[ri * ol..(ri + 1) * ol];
            for ch in 0..m {
                let (grp, c) = (ch / mg, ch % mg);
                let pos = if two {
                    (grp * 2 * mg + c) * positions
                } else {
                    ch * positions
                };
                let neg = (grp * 2 * mg + mg + c) * positions;
                let (bp, bn) = bias.map_or((0.0, 0.0), |b| (b[ch].max(0.0), b[ch].min(0.0)));
                let rc = &rr[ch * positions..(ch + 1) * positions];
                let dst = if two { pos } else { ch * positions };
                for (j, (&rv, &zp)) in rc.iter().zip(&ps[pos..pos + positions]).enumerate() {
                    sr[dst + j] = sp.alpha * sp.ratio.apply(rv, zp + bp);
                }
                if two {
                    for (j, (&rv, &zn)) in rc.iter().zip(&ps[neg..neg + positions]).enumerate() {
                        sr[neg + j] = -sp.beta * sp.ratio.apply(rv, zn + bn);
                    }
                }
            }
        });
        let mut out = vec![0f32; n * k * il];
        if two {
            layer.transpose_stacked(&s, n * k, &sp.stacked, &mut out);
        } else {
            layer.transpose(&s, n * k, &sp.stacked, &mut out);
        }
        out.par_chunks_mut(il).enumerate().for_each(|(ri, o)| {
            let xi = &x[(ri / k) * il..(ri / k + 1) * il];
            o.iter_mut().zip(xi).for_each(|(a, b)| *a *= b);
        });
        out
    }
}
