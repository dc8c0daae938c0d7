//! Every LRP rule for linear layers against the textbook formula of `LRP_SPEC.md`, evaluated
//! naively in f64 on the layer written as a dense matrix (a convolution unrolled into a
//! matrix with an explicit receptive-field mask), on random small layers. Tolerance: 1e-5 of
//! the largest reference magnitude.

// Naive reference loops index on purpose.
#![allow(clippy::needless_range_loop)]

use lrp::ops::LinearMap;
use lrp::ops::{Conv2d, Dense};
use lrp::rules::{Convention, LinearPlan, Rule, RuleSpec};
use lrp::zoo::rng::Rng;
use lrp::NodeRef;
use ndarray::{Array1, Array2, Array4};

/// A linear layer as an explicit matrix: `w[j][i]`, `conn[j][i]` (i ∈ RF(j)), bias `b[j]`,
/// kernel area for the paper's flat rule.
struct Unrolled {
    w: Vec<Vec<f64>>,
    conn: Vec<Vec<bool>>,
    b: Vec<f64>,
    paper_flat: f64,
}

fn unroll_conv(conv: &Conv2d, c: usize, h: usize, w: usize) -> Unrolled {
    let wt = conv.weight();
    let (m, cg, kh, kw) = (wt.shape()[0], wt.shape()[1], wt.shape()[2], wt.shape()[3]);
    let [pt, pl, pb, pr] = conv.pads;
    let oh = (h + pt + pb - conv.dilation[0] * (kh - 1) - 1) / conv.stride[0] + 1;
    let ow = (w + pl + pr - conv.dilation[1] * (kw - 1) - 1) / conv.stride[1] + 1;
    let (nin, nout) = (c * h * w, m * oh * ow);
    let mut mat = vec![vec![0f64; nin]; nout];
    let mut conn = vec![vec![false; nin]; nout];
    let mut b = vec![0f64; nout];
    let mg = m / conv.groups;
    for o in 0..m {
        let grp = o / mg;
        for oy in 0..oh {
            for ox in 0..ow {
                let j = (o * oh + oy) * ow + ox;
                b[j] = conv.bias().map_or(0.0, |bb| bb[o] as f64);
                for ci in 0..cg {
                    for i in 0..kh {
                        for jj in 0..kw {
                            let iy =
                                (oy * conv.stride[0] + i * conv.dilation[0]) as isize - pt as isize;
                            let ix = (ox * conv.stride[1] + jj * conv.dilation[1]) as isize
                                - pl as isize;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                continue;
                            }
                            let inp = ((grp * cg + ci) * h + iy as usize) * w + ix as usize;
                            mat[j][inp] += wt[[o, ci, i, jj]] as f64;
                            conn[j][inp] = true;
                        }
                    }
                }
            }
        }
    }
    Unrolled {
        w: mat,
        conn,
        b,
        paper_flat: 1.0 / (kh * kw) as f64,
    }
}

fn unroll_dense(d: &Dense) -> Unrolled {
    let (m, k) = (d.out_features(), d.in_features());
    Unrolled {
        w: (0..m)
            .map(|j| (0..k).map(|i| d.weight()[[j, i]] as f64).collect())
            .collect(),
        conn: vec![vec![true; k]; m],
        b: (0..m)
            .map(|j| d.bias().map_or(0.0, |b| b[j] as f64))
            .collect(),
        paper_flat: 1.0 / k as f64,
    }
}

/// `z + ε·sign(z)` with sign(0) = +1; a zero result stands for "send nothing", which the
/// callers express as division by infinity.
fn sgn_stab(z: f64, e: f64) -> f64 {
    let d = z + if z >= 0.0 { e } else { -e };
    if d == 0.0 {
        f64::INFINITY
    } else {
        d
    }
}

fn pos(v: f64) -> f64 {
    v.max(0.0)
}
fn neg(v: f64) -> f64 {
    v.min(0.0)
}

/// The spec's formulas, one by one.
fn naive(u: &Unrolled, rule: &RuleSpec, x: &[f64], r: &[f64], low: f64, high: f64) -> Vec<f64> {
    let (nout, nin) = (u.w.len(), x.len());
    let stab = rule.stabilizer as f64;
    let b = |j: usize| if rule.zero_bias { 0.0 } else { u.b[j] };
    let modern = rule.convention == Convention::Modern;
    let mut out = vec![0f64; nin];
    let z: Vec<f64> = (0..nout)
        .map(|j| (0..nin).map(|i| x[i] * u.w[j][i]).sum::<f64>() + u.b[j])
        .collect();
    match &rule.rule {
        Rule::Epsilon { epsilon } => {
            let e = *epsilon as f64;
            for j in 0..nout {
                let zj = z[j] - u.b[j] + b(j);
                let ratio = if modern {
                    r[j] / sgn_stab(zj, e)
                } else if zj == 0.0 {
                    r[j]
                } else {
                    r[j] / (zj + e * zj.signum())
                };
                for i in 0..nin {
                    out[i] += x[i] * u.w[j][i] * ratio;
                }
            }
        }
        Rule::AlphaBeta { .. } | Rule::ZPlus => {
            let (alpha, beta) = match rule.rule {
                Rule::AlphaBeta { alpha, beta } => (alpha as f64, beta as f64),
                _ => (1.0, 0.0),
            };
            for j in 0..nout {
                let zp: f64 = (0..nin).map(|i| pos(x[i] * u.w[j][i])).sum::<f64>() + pos(b(j));
                let zn: f64 = (0..nin).map(|i| neg(x[i] * u.w[j][i])).sum::<f64>() + neg(b(j));
                let div = |zz: f64| {
                    if modern {
                        1.0 / sgn_stab(zz, stab)
                    } else if zz == 0.0 {
                        0.0
                    } else {
                        1.0 / zz
                    }
                };
                let (dp, dn) = (div(zp), div(zn));
                for i in 0..nin {
                    let zij = x[i] * u.w[j][i];
                    out[i] += r[j] * (alpha * pos(zij) * dp - beta * neg(zij) * dn);
                }
            }
        }
        Rule::Gamma { gamma } => {
            let g = *gamma as f64;
            for j in 0..nout {
                if z[j] == 0.0 {
                    continue;
                }
                let up = z[j] > 0.0;
                // Weight for input i: positive inputs get w + γw⁺ (up) or w + γw⁻ (down).
                let wmod = |i: usize| {
                    let w = u.w[j][i];
                    let plus = w + g * pos(w);
                    let minus = w + g * neg(w);
                    if (x[i] >= 0.0) == up {
                        plus
                    } else {
                        minus
                    }
                };
                let bj = if up {
                    b(j) + g * pos(b(j))
                } else {
                    b(j) + g * neg(b(j))
                };
                let zz: f64 = (0..nin).map(|i| x[i] * wmod(i)).sum::<f64>() + bj;
                for i in 0..nin {
                    out[i] += x[i] * wmod(i) * r[j] / sgn_stab(zz, stab);
                }
            }
        }
        Rule::Flat => {
            for j in 0..nout {
                let count = u.conn[j].iter().filter(|&&c| c).count() as f64;
                for i in 0..nin {
                    if u.conn[j][i] {
                        out[i] += if modern {
                            r[j] / sgn_stab(count, stab)
                        } else {
                            r[j] * u.paper_flat
                        };
                    }
                }
            }
        }
        Rule::WSquare => {
            for j in 0..nout {
                let zz: f64 = (0..nin).map(|i| u.w[j][i] * u.w[j][i]).sum();
                for i in 0..nin {
                    out[i] += u.w[j][i] * u.w[j][i] * r[j] / sgn_stab(zz, stab);
                }
            }
        }
        Rule::ZBox { .. } => {
            for j in 0..nout {
                let zij = |i: usize| {
                    let w = u.w[j][i];
                    if u.conn[j][i] {
                        x[i] * w - low * pos(w) - high * neg(w)
                    } else {
                        0.0
                    }
                };
                let zz: f64 = (0..nin).map(zij).sum();
                for i in 0..nin {
                    out[i] += zij(i) * r[j] / sgn_stab(zz, stab);
                }
            }
        }
        Rule::Pass => out.copy_from_slice(r),
        other => panic!("{other:?} is not a rule for layers with weights"),
    }
    out
}

fn rules() -> Vec<RuleSpec> {
    let mut v = Vec::new();
    for conv in [Convention::Modern, Convention::Paper] {
        for rule in [
            Rule::Epsilon { epsilon: 0.0 },
            Rule::Epsilon { epsilon: 0.1 },
            Rule::AlphaBeta {
                alpha: 2.0,
                beta: 1.0,
            },
            Rule::AlphaBeta {
                alpha: 1.5,
                beta: 0.5,
            },
            Rule::ZPlus,
            Rule::Gamma { gamma: 0.25 },
            Rule::Flat,
            Rule::WSquare,
            Rule::ZBox {
                low: vec![-1.0],
                high: vec![1.0],
            },
        ] {
            for zero_bias in [false, true] {
                v.push(RuleSpec::new(rule.clone(), conv).with_zero_bias(zero_bias));
            }
        }
    }
    v
}

fn check(layer: &dyn LinearMap, u: &Unrolled, x: &[f32], r: &[f32], what: &str) {
    let node = NodeRef::new("layer", "Linear");
    for rule in rules() {
        let prepared = LinearPlan::new(&node, layer, rule.clone()).unwrap();
        let mut z = vec![0f32; layer.out_len()];
        layer.forward(x, 1, layer.weight_values(), layer.bias_values(), &mut z);
        let got = prepared.relevance(layer, x, &z, r, 1, 1);
        let xd: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let rd: Vec<f64> = r.iter().map(|&v| v as f64).collect();
        let want = naive(u, &rule, &xd, &rd, -1.0, 1.0);
        let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            assert!(
                (*a as f64 - b).abs() <= 1e-5 * scale + 1e-9,
                "{what}, {rule:?}: input {i}: {a} vs naive {b} (scale {scale})"
            );
        }
        // What a sign-split rule keeps beside the layer's weights: W⁺ alone for z⁺ (β = 0),
        // the stack [W⁺; W⁻] for α-β, and W⁺ once more for grouped α-β (the stack's halves
        // are interleaved by group). W⁻ apart is never kept: the general path above computes
        // it when an input has negative values.
        if prepared.has_split() {
            let w = layer.weight_values().len();
            let zplus = matches!(rule.rule, Rule::ZPlus);
            let copies = match (zplus, layer.groups()) {
                (true, _) => 1,
                (false, 1) => 2,
                (false, _) => 3,
            };
            assert_eq!(prepared.prepared_values(), copies * w, "{what}, {rule:?}");
            assert_eq!(prepared.split_parts(), if zplus { 1 } else { 2 });
        }
        // The sign-split form of α-β and z⁺ (non-negative inputs only): its forward equals
        // the layer's, its relevance the formula's.
        if prepared.has_split() && x.iter().all(|&v| v >= 0.0) {
            let mut z2 = vec![0f32; layer.out_len()];
            let parts = prepared.split_forward(layer, x, 1, &mut z2).unwrap();
            assert_eq!(parts.len(), prepared.split_parts() * layer.out_len());
            let zs = z.iter().fold(0f32, |m, v| m.max(v.abs()));
            for (a, b) in z2.iter().zip(&z) {
                assert!(
                    (a - b).abs() <= 1e-5 * zs + 1e-9,
                    "{what}, {rule:?}: z {a} vs {b}"
                );
            }
            let got = prepared.relevance_split(layer, x, &parts, r, 1, 1);
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (*a as f64 - b).abs() <= 1e-5 * scale + 1e-9,
                    "{what}, {rule:?} (split): input {i}: {a} vs naive {b} (scale {scale})"
                );
            }
        }
    }
}

fn rand_vec(rng: &mut Rng, n: usize, nonneg: bool) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let v = rng.normal();
            if nonneg {
                v.max(0.0)
            } else {
                v
            }
        })
        .collect()
}

#[test]
fn dense_rules_match_the_formulas() {
    let mut rng = Rng::new(17);
    for t in 0..12 {
        let (m, k) = (1 + rng.below(7), 1 + rng.below(9));
        let w = Array2::from_shape_vec((m, k), rand_vec(&mut rng, m * k, false)).unwrap();
        let b = (t % 3 != 0).then(|| Array1::from(rand_vec(&mut rng, m, false)));
        let d = Dense::new(w, b);
        let x = rand_vec(&mut rng, k, t % 2 == 0);
        let r = rand_vec(&mut rng, m, false);
        check(&d, &unroll_dense(&d), &x, &r, &format!("dense case {t}"));
    }
}

#[test]
fn conv_rules_match_the_formulas() {
    let mut rng = Rng::new(23);
    for t in 0..16 {
        let groups = 1 + rng.below(2);
        let c = groups * (1 + rng.below(2));
        let m = groups * (1 + rng.below(3));
        let (kh, kw) = (1 + rng.below(3), 1 + rng.below(3));
        let stride = [1 + rng.below(2), 1 + rng.below(2)];
        let dilation = [1 + rng.below(2), 1];
        let pads = [rng.below(2), rng.below(2), rng.below(2), rng.below(2)];
        let h = dilation[0] * (kh - 1) + 1 + rng.below(4);
        let w = kw + rng.below(4);
        let weight = Array4::from_shape_vec(
            (m, c / groups, kh, kw),
            rand_vec(&mut rng, m * c / groups * kh * kw, false),
        )
        .unwrap();
        let bias = (t % 3 != 0).then(|| Array1::from(rand_vec(&mut rng, m, false)));
        let mut conv = Conv2d::new(weight, bias).with_groups(groups);
        conv.stride = stride;
        conv.dilation = dilation;
        conv.pads = pads;
        let x = rand_vec(&mut rng, c * h * w, t % 2 == 0);
        let layer = conv.map(&[c, h, w]);
        let r = rand_vec(&mut rng, layer.out_len(), false);
        check(
            &layer,
            &unroll_conv(&conv, c, h, w),
            &x,
            &r,
            &format!("conv case {t}"),
        );
    }
}

#[test]
fn conservation_where_the_rules_promise_it() {
    // Bias-free layers: LRP-0 (modern ε with tiny stabiliser), α−β = 1, z⁺, flat, w², γ and zᴮ
    // conserve Σ R_i = Σ R_j up to the stabiliser (outputs with z_j = 0 aside).
    let mut rng = Rng::new(5);
    let weight = Array4::from_shape_vec((4, 3, 3, 3), rand_vec(&mut rng, 108, false)).unwrap();
    let conv = Conv2d::new(weight, None).with_pad(1);
    let x = rand_vec(&mut rng, 3 * 6 * 6, true);
    let layer = conv.map(&[3, 6, 6]);
    let r: Vec<f32> = rand_vec(&mut rng, layer.out_len(), true);
    let mut z = vec![0f32; layer.out_len()];
    layer.forward(&x, 1, layer.weight_values(), None, &mut z);
    let total: f32 = r.iter().sum();
    for rule in [
        Rule::Epsilon { epsilon: 0.0 },
        Rule::AlphaBeta {
            alpha: 2.0,
            beta: 1.0,
        },
        Rule::ZPlus,
        Rule::Flat,
        Rule::WSquare,
        Rule::Gamma { gamma: 0.25 },
    ] {
        let lr = RuleSpec::new(rule.clone(), Convention::Modern).with_stabilizer(1e-9);
        let p = LinearPlan::new(&NodeRef::new("c", "Conv"), &layer, lr).unwrap();
        let got: f32 = p.relevance(&layer, &x, &z, &r, 1, 1).iter().sum();
        approx::assert_relative_eq!(got, total, max_relative = 1e-4);
    }
}

#[test]
fn paper_flat_loses_the_shares_on_padding() {
    // Hand-computed: a 1-channel 2×2 input, one 3×3 kernel, pad 1: four outputs, each reading
    // the whole 2×2 input. Paper flat sends R_j / 9 to each real input of every output; with
    // R = 1 everywhere each input gets 4 · 1/9, total 16/9 of the 4 units of relevance that
    // entered (the shares on padding, 20/9, are lost).
    let conv = Conv2d::new(Array4::from_elem((1, 1, 3, 3), 0.5), None).with_pad(1);
    let layer = conv.map(&[1, 2, 2]);
    let p = LinearPlan::new(
        &NodeRef::new("c", "Conv"),
        &layer,
        RuleSpec::new(Rule::Flat, Convention::Paper),
    )
    .unwrap();
    let x = [1.0, 2.0, 3.0, 4.0];
    let mut z = vec![0f32; 4];
    layer.forward(&x, 1, layer.weight_values(), None, &mut z);
    let got = p.relevance(&layer, &x, &z, &[1.0; 4], 1, 1);
    for v in got {
        assert!((v - 4.0 / 9.0).abs() < 1e-7, "{v}");
    }
    // Modern flat renormalises over the 4 real inputs and conserves: each input gets 1.
    let p = LinearPlan::new(
        &NodeRef::new("c", "Conv"),
        &layer,
        RuleSpec::new(Rule::Flat, Convention::Modern),
    )
    .unwrap();
    for v in p.relevance(&layer, &x, &z, &[1.0; 4], 1, 1) {
        assert!((v - 1.0).abs() < 1e-5, "{v}");
    }
}

#[test]
fn paper_epsilon_sends_r_itself_where_z_is_zero() {
    // Hand-computed: x = [1, 1], w = [1, −1] → z = 0. Paper: ratio = R = 3, so
    // R_i = x_i w_i · 3 = [3, −3]. Modern with ε = 0.1: ratio = 3 / 0.1 = 30 → [30, −30].
    let d = Dense::new(ndarray::array![[1.0, -1.0]], None);
    let paper = RuleSpec::new(Rule::Epsilon { epsilon: 0.1 }, Convention::Paper);
    let r = lrp::rules::dense_relevance(&d, &paper, &[1.0, 1.0], &[3.0]).unwrap();
    assert_eq!(r, vec![3.0, -3.0]);
    let modern = RuleSpec::new(Rule::Epsilon { epsilon: 0.1 }, Convention::Modern);
    let r = lrp::rules::dense_relevance(&d, &modern, &[1.0, 1.0], &[3.0]).unwrap();
    assert!(
        (r[0] - 30.0).abs() < 1e-4 && (r[1] + 30.0).abs() < 1e-4,
        "{r:?}"
    );
}

#[test]
fn paper_alpha_beta_zero_denominators_contribute_nothing() {
    // Hand-computed: x = [1, 2], w = [1, 3], no bias: every contribution is positive, so
    // Z⁻ = 0 and the β term vanishes; Z⁺ = 7: R = α·[1, 6]/7·R_j with α = 2, R_j = 7 → [2, 12].
    let d = Dense::new(ndarray::array![[1.0, 3.0]], None);
    let rule = RuleSpec::new(
        Rule::AlphaBeta {
            alpha: 2.0,
            beta: 1.0,
        },
        Convention::Paper,
    );
    let r = lrp::rules::dense_relevance(&d, &rule, &[1.0, 2.0], &[7.0]).unwrap();
    assert_eq!(r, vec![2.0, 12.0]);
}

#[test]
fn invalid_parameters_are_errors() {
    let d = Dense::new(ndarray::array![[1.0, 3.0]], None);
    let layer = &d;
    let node = NodeRef::new("fc", "Dense");
    for rule in [
        Rule::AlphaBeta {
            alpha: 2.0,
            beta: 2.0,
        },
        Rule::Epsilon { epsilon: -1.0 },
        Rule::Gamma { gamma: f32::NAN },
        Rule::ZBox {
            low: vec![0.0; 3],
            high: vec![1.0],
        },
        Rule::Pass,
    ] {
        let err = LinearPlan::new(
            &node,
            &layer,
            RuleSpec::new(rule.clone(), Convention::Modern),
        )
        .unwrap_err();
        assert!(err.to_string().contains("fc"), "{rule:?}: {err}");
    }
}

/// The sign-split form on a batch (3 images, 2 relevance maps each) of a grouped, strided,
/// padded convolution equals the general evaluator (itself checked against the formulas
/// above), for α-β, z⁺ and both conventions.
#[test]
fn split_form_equals_the_general_evaluator_on_batches() {
    let mut rng = Rng::new(31);
    let (n, k, c, m, h, w) = (3, 2, 4, 6, 7, 6);
    let weight =
        Array4::from_shape_vec((m, 2, 3, 3), rand_vec(&mut rng, m * 2 * 9, false)).unwrap();
    let bias = Array1::from(rand_vec(&mut rng, m, false));
    let mut conv = Conv2d::new(weight, Some(bias)).with_groups(2);
    conv.stride = [2, 1];
    conv.pads = [1, 0, 1, 1];
    let layer = conv.map(&[c, h, w]);
    let x = rand_vec(&mut rng, n * c * h * w, true);
    let r = rand_vec(&mut rng, n * k * layer.out_len(), false);
    let node = NodeRef::new("layer", "Conv");
    for convention in [Convention::Modern, Convention::Paper] {
        for rule in [
            Rule::AlphaBeta {
                alpha: 2.0,
                beta: 1.0,
            },
            Rule::ZPlus,
        ] {
            for zero_bias in [false, true] {
                let lr = RuleSpec::new(rule.clone(), convention).with_zero_bias(zero_bias);
                let p = LinearPlan::new(&node, &layer, lr.clone()).unwrap();
                let mut z = vec![0f32; n * layer.out_len()];
                layer.forward(&x, n, layer.weight_values(), layer.bias_values(), &mut z);
                let want = p.relevance(&layer, &x, &z, &r, n, k);
                let mut z2 = vec![0f32; z.len()];
                let parts = p.split_forward(&layer, &x, n, &mut z2).unwrap();
                let got = p.relevance_split(&layer, &x, &parts, &r, n, k);
                let scale = want.iter().fold(0f32, |a, v| a.max(v.abs()));
                for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                    assert!((a - b).abs() <= 1e-5 * scale, "{lr:?}: {i}: {a} vs {b}");
                }
            }
        }
    }
}
