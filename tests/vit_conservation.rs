//! Per-layer conservation of the transformer presets (issue 18, "conservation holds where the
//! rules promise it (report the per-layer sums)"), on the test ViT and DeiT of
//! `tests/data/vit/` (legacy and dynamo exports) under `attnlrp` and `cp-lrp`.
//!
//! For every node on the path to the logits, Σ relevance entering its inputs (the explainer's
//! conservation report) is checked against the closed form its rule promises, evaluated in
//! float64 from the forward activations (`Graph::run`) and the relevance at the node's
//! output (`Explainer::explain_with(…, true)`):
//!
//! - shape nodes (Reshape, Transpose, Slice, Flatten), GELU (LXT's identity rule), residual
//!   sums (proportional, ε = 1e-20), products of activations (`uniform`: half to each operand
//!   by the ε-rule; `gate`: all to the values) and Concat: `Σ R_in = Σ R_out`;
//! - layers with a bias under the ε-rule (Dense, the patch-embedding Conv, LayerNorm under
//!   AttnLRP's rule, which holds the standard deviation constant and so is linear in the input)
//!   and constant additions under the proportional rule (Affine: the position embedding, the
//!   attention's constant scaling): `Σ R_in = Σ_j R_j (y_j − b_j) / y_j` — the bias's share
//!   `Σ_j R_j b_j / y_j` is absorbed;
//! - the softmax under AttnLRP's rule `R_x = x ⊙ (R_s − s ⊙ Σ R_s)` (per row of the last
//!   axis): `Σ R_in = Σ_rows (Σ_i x_i R_i − (Σ_i x_i s_i) Σ_i R_i)`; its bias term is
//!   `Σ R_out − Σ R_in`;
//! - the class token's `ConstConcat`: `Σ R_out − Σ R_in` is the relevance of the constant
//!   block, `Σ` of the output relevance at the class token's rows (recomputed here from the
//!   kept output relevance).
//!
//! Tolerance: 1e-5 of the explained logit plus 1e-5 of `Σ_j |terms|` (float32 sums of up to
//! 7,000 terms). The per-layer sums are printed (`cargo test --release --test
//! vit_conservation -- --nocapture`).

use lrp::composite::Composite;
use lrp::explain::{Explainer, Target};
use lrp::ops::Op;
use ndarray::ArrayD;
use ndarray_npy::read_npy;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/vit");

/// `Σ_j R_j (y_j − b_j) / y_j` and `Σ_j |R_j (y_j − b_j) / y_j|`, with `b_j = bias[index(j)]`.
fn minus_bias(r: &[f32], y: &[f32], bias: &[f32], index: impl Fn(usize) -> usize) -> (f64, f64) {
    let (mut s, mut a) = (0f64, 0f64);
    for (j, (&rj, &yj)) in r.iter().zip(y).enumerate() {
        let yj = f64::from(yj);
        if yj == 0.0 {
            continue;
        }
        let stab = yj + 1e-20 * yj.signum();
        let t = f64::from(rj) * (yj - f64::from(bias[index(j)])) / stab;
        s += t;
        a += t.abs();
    }
    (s, a)
}

#[test]
fn transformer_presets_conserve_where_their_rules_promise() {
    let x: ArrayD<f32> = read_npy(format!("{DATA}/input_48.npy")).unwrap();
    let mut report = Vec::new();
    for file in [
        "vit_b_16_legacy",
        "vit_b_16_dynamo",
        "deit_tiny_legacy",
        "deit_tiny_dynamo",
    ] {
        let g = lrp::import::onnx::load(format!("{DATA}/{file}.onnx")).unwrap();
        let acts = g.run(&[&x], true).unwrap();
        for preset in ["attnlrp", "cp-lrp"] {
            let ex = Explainer::new(g.clone(), &Composite::preset(preset).unwrap()).unwrap();
            let e = ex.explain_with(&x, &Target::Predicted, true).unwrap();
            let logit = f64::from(e.seed_sum(0));
            let layers = e.layers.as_ref().unwrap();
            report.push(format!(
                "\n{file} · {preset}: logit {logit:.6}, Σ input relevance {:.6}",
                e.input_sum(0)
            ));
            report.push(format!(
                "  {:<60} {:<12} {:>11} {:>11} {:>11}",
                "node", "kind", "Σ R_out", "Σ R_in", "closed form"
            ));
            let mut checked = 0;
            for c in &e.conservation {
                let i = g.nodes().iter().position(|n| n.name == c.node).unwrap();
                let node = &g.nodes()[i];
                let r_out = layers.iter().find(|l| l.node == c.node).unwrap();
                let r = r_out.relevance.as_slice().unwrap();
                let y = acts.get(g.node_output(i)).unwrap();
                let y = y.as_slice().unwrap();
                let x0 = acts.get(g.node_inputs(i)[0]).unwrap();
                let (out, inn) = (f64::from(c.relevance_out[0]), f64::from(c.relevance_in[0]));
                let params = node.op.params();
                let (want, scale): (Option<f64>, f64) = match &node.op {
                    Op::Reshape(_)
                    | Op::Transpose(_)
                    | Op::Slice(_)
                    | Op::Flatten
                    | Op::Gelu(_)
                    | Op::Add
                    | Op::MatMul
                    | Op::Concat(_)
                    | Op::Identity => (Some(out), r.iter().map(|v| f64::from(v.abs())).sum()),
                    Op::Dense(_) | Op::LayerNorm(_) => {
                        // Bias over the last axis (zero when absent).
                        let d = *g.tensors()[g.node_output(i)].shape.last().unwrap();
                        let zero = vec![0f32; d];
                        let b = params
                            .get(1)
                            .copied()
                            .filter(|b| b.len() == d)
                            .unwrap_or(&zero);
                        let (s, a) = minus_bias(r, y, b, |j| j % d);
                        (Some(s), a)
                    }
                    Op::Conv(_) => {
                        let shape = &g.tensors()[g.node_output(i)].shape;
                        let plane: usize = shape[1..].iter().product();
                        let zero = vec![0f32; shape[0]];
                        let b = params.get(1).copied().unwrap_or(&zero);
                        let (s, a) = minus_bias(r, y, b, |j| j / plane);
                        (Some(s), a)
                    }
                    Op::Affine(_) => {
                        let shape = &g.tensors()[g.node_output(i)].shape;
                        let shift = params[1];
                        let per: usize = shape.iter().product();
                        let (s, a) = if shift.len() == per {
                            minus_bias(r, y, shift, |j| j)
                        } else {
                            let plane = per / shape[0];
                            minus_bias(r, y, shift, |j| j / plane)
                        };
                        (Some(s), a)
                    }
                    Op::Softmax(_) => {
                        let x0 = x0.as_slice().unwrap();
                        let d = *g.tensors()[g.node_output(i)].shape.last().unwrap();
                        let (mut s, mut a) = (0f64, 0f64);
                        for ((xr, sr), rr) in x0.chunks(d).zip(y.chunks(d)).zip(r.chunks(d)) {
                            let xr_rr: f64 = xr
                                .iter()
                                .zip(rr)
                                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                                .sum();
                            let xs: f64 = xr
                                .iter()
                                .zip(sr)
                                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                                .sum();
                            let rsum: f64 = rr.iter().map(|&v| f64::from(v)).sum();
                            let (t1, t2) = (xr_rr, xs * rsum);
                            s += t1 - t2;
                            a += t1.abs() + t2.abs();
                        }
                        (Some(s), a)
                    }
                    Op::ConstConcat(cc) => {
                        // The constant blocks' rows of the output relevance.
                        let shape = &g.tensors()[g.node_output(i)].shape;
                        let axis = cc.axis;
                        let inner: usize = shape[axis + 1..].iter().product();
                        let mut at = 0;
                        let mut constant = 0f64;
                        let mut data_shapes =
                            g.node_inputs(i).iter().map(|&t| &g.tensors()[t].shape);
                        for part in &cc.parts {
                            let len = match part {
                                Some(t) => t.shape()[axis],
                                None => data_shapes.next().unwrap()[axis],
                            };
                            if part.is_some() {
                                let outer: usize = shape[..axis].iter().product();
                                for o in 0..outer {
                                    let base = o * shape[axis] * inner + at * inner;
                                    constant += r[base..base + len * inner]
                                        .iter()
                                        .map(|&v| f64::from(v))
                                        .sum::<f64>();
                                }
                            }
                            at += len;
                        }
                        (
                            Some(out - constant),
                            r.iter().map(|v| f64::from(v.abs())).sum(),
                        )
                    }
                    _ => (None, 0.0),
                };
                report.push(format!(
                    "  {:<60} {:<12} {out:>11.6} {inn:>11.6} {}",
                    c.node,
                    c.kind,
                    want.map_or("-".to_string(), |w| format!("{w:>11.6}"))
                ));
                if let Some(w) = want {
                    let tol = 1e-5 * logit.abs() + 1e-5 * scale;
                    assert!(
                        (inn - w).abs() <= tol,
                        "{file} {preset}: node {} ({}): Σ R_in {inn} but the rule promises {w} (tolerance {tol:e})",
                        c.node,
                        c.kind
                    );
                    checked += 1;
                }
            }
            // Every node of these graphs has a closed form.
            assert_eq!(checked, e.conservation.len(), "{file} {preset}");
        }
    }
    println!("{}", report.join("\n"));
}
