//! Element-wise product of two or more data tensors, with broadcasting (Caffe `Eltwise`
//! `PROD`, ONNX `Mul` of two activations: the gate of a squeeze-and-excitation block,
//! `x · σ(f(x))`).
//!
//! `y = x_0 · x_1 · … · x_{m−1}`, element by element; an input may have size 1 along an axis
//! where the output has more (numpy broadcasting over the per-sample axes, which must have the
//! same rank in every input: `[C, H, W]` times `[C, 1, 1]`).
//!
//! ## Relevance
//! LRP has no rule for the product of two activations that conserves relevance and is
//! canonical; two are offered, chosen by the composite:
//!
//! - **gate** ([`Route::Gate`], the default of every preset): when one input (the *gate*, `g`)
//!   is computed from the other (`x`), as in squeeze-and-excitation (`y = x · σ(W₂ δ(W₁
//!   mean(x)))`) or in a spelled-out SiLU (`x · σ(x)`), the gate is held constant, so that
//!   `y = g · x` is a linear map of `x`: all relevance goes to the gated activation and none to
//!   the gate, `R_x = R_y`, `R_g = 0` (summed over the axes `x` was broadcast along, if any).
//!   It conserves, and treats the gate as what it is: a data-dependent scaling. This is the
//!   rule of Zennit's users for SE blocks (the gate's branch receives no relevance) and of
//!   AttnLRP for gated products of an activation with its own transform.
//! - **uniform** ([`Route::Uniform`], AttnLRP's rule for a product of two activations,
//!   Achtibat et al., ICML 2024, Proposition 3.3): each of the `m` inputs gets an equal share,
//!   `R_{x_k} = R_y / m`, summed over the axes input `k` was broadcast along. It conserves,
//!   and sends relevance into the gate's branch too (there, through the squeeze-and-excitation
//!   pooling, back to the same activation `x`).
//!
//! The gate is found from the graph (which input is computed from the other:
//! [`crate::Graph::gate_input`]); a product of two unrelated tensors has no gate, and the gate
//! rule is then an error naming the node.
//!
//! ```
//! use lrp::ops::mul;
//! use ndarray::{ArrayD, IxDyn};
//! // [1, 2, 2] · [1, 1, 1] per sample: the second input broadcasts.
//! let x = ArrayD::from_shape_vec(IxDyn(&[1, 1, 2, 2]), vec![1.0, 2.0, 3.0, 4.0]).unwrap();
//! let g = ArrayD::from_shape_vec(IxDyn(&[1, 1, 1, 1]), vec![0.5]).unwrap();
//! let y = mul::mul(&[&x, &g]);
//! assert_eq!(y.as_slice().unwrap(), &[0.5, 1.0, 1.5, 2.0]);
//! // Uniform rule: each input gets half; the gate's half is summed over the broadcast axes.
//! let r = [1.0, 2.0, 3.0, 4.0];
//! let shares = mul::uniform_relevance(&[&[1, 2, 2], &[1, 1, 1]], &[1, 2, 2], &r, 1);
//! assert_eq!(shares[0], vec![0.5, 1.0, 1.5, 2.0]);
//! assert_eq!(shares[1], vec![5.0]);
//! ```

use super::{Arity, Category, Operator, Route, RouteCtx, Tensor};
use crate::error::{Error, NodeRef, Result};
use ndarray::{Axis, IxDyn};

/// The broadcast per-sample output shape of inputs of per-sample shapes `inputs` (same rank;
/// along each axis every size is 1 or the output's), or an error naming `node`.
pub fn output_shape(node: &NodeRef, inputs: &[&[usize]]) -> Result<Vec<usize>> {
    if inputs.len() < 2 {
        return Err(Error::shape(
            node,
            format!("takes at least 2 inputs, got {}", inputs.len()),
        ));
    }
    let rank = inputs[0].len();
    let mut out = inputs[0].to_vec();
    for (i, s) in inputs.iter().enumerate().skip(1) {
        if s.len() != rank {
            return Err(Error::shape(
                node,
                format!(
                    "input {i} has per-sample shape {s:?} but input 0 has {:?}; inputs must have the same rank",
                    inputs[0]
                ),
            ));
        }
        for (o, &d) in out.iter_mut().zip(s.iter()) {
            if *o == 1 {
                *o = d;
            } else if d != 1 && d != *o {
                return Err(Error::shape(
                    node,
                    format!(
                        "input {i} has per-sample shape {s:?}, which does not broadcast with {:?}",
                        inputs[0]
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// Element-wise product of inputs validated by [`output_shape`] (batch first, same batch
/// size).
pub fn mul(inputs: &[&Tensor]) -> Tensor {
    let mut y = inputs[0].as_standard_layout().into_owned();
    for t in &inputs[1..] {
        if t.shape() == y.shape() {
            y *= *t;
        } else {
            y = super::standard(&y * *t);
        }
    }
    y
}

/// Relevance `r` (`maps` samples of the output's per-sample shape `out`) summed over the axes
/// along which an input of per-sample shape `input` was broadcast; `r` itself when none.
pub fn unbroadcast(r: Vec<f32>, maps: usize, out: &[usize], input: &[usize]) -> Vec<f32> {
    if input == out {
        return r;
    }
    let mut full = vec![maps];
    full.extend_from_slice(out);
    let mut t = Tensor::from_shape_vec(IxDyn(&full), r).expect("relevance matches its shape");
    for (axis, (&o, &d)) in out.iter().zip(input).enumerate() {
        if d == 1 && o != 1 {
            t = t.sum_axis(Axis(axis + 1)).insert_axis(Axis(axis + 1));
        }
    }
    super::standard(t).into_raw_vec_and_offset().0
}

/// The uniform rule: each of the `m` inputs (per-sample shapes `inputs`) gets `R_y / m`,
/// summed over the axes it was broadcast along; `r` holds `maps` samples of shape `out`.
pub fn uniform_relevance(
    inputs: &[&[usize]],
    out: &[usize],
    r: &[f32],
    maps: usize,
) -> Vec<Vec<f32>> {
    let m = inputs.len() as f32;
    inputs
        .iter()
        .map(|s| unbroadcast(r.iter().map(|v| v / m).collect(), maps, out, s))
        .collect()
}

/// The gate rule on a product of two inputs: all relevance to the input that is not input
/// `gate` (0 or 1), none to the gate.
pub fn gate_relevance(
    inputs: &[&[usize]],
    out: &[usize],
    r: Vec<f32>,
    maps: usize,
    gate: usize,
) -> Vec<Vec<f32>> {
    let mut shares: Vec<Vec<f32>> = inputs
        .iter()
        .map(|s| vec![0.0; maps * s.iter().product::<usize>()])
        .collect();
    let gated = 1 - gate;
    shares[gated] = unbroadcast(r, maps, out, inputs[gated]);
    shares
}

/// The gradient of the product: input `a` gets `g ⊙ Π_{b≠a} x_b`, summed over the axes it
/// was broadcast along. `inputs` are the forward inputs (`n` samples each), `g` holds `n·k`
/// samples of the output's per-sample shape `out`, `k` per input sample.
pub fn gradient(inputs: &[&Tensor], out: &[usize], g: &[f32], k: usize) -> Vec<Vec<f32>> {
    let n = inputs.first().map_or(0, |x| x.shape()[0]);
    let per: usize = out.iter().product();
    let mut full = vec![n];
    full.extend_from_slice(out);
    (0..inputs.len())
        .map(|a| {
            let others: Vec<&Tensor> = (0..inputs.len())
                .filter(|&b| b != a)
                .map(|b| inputs[b])
                .collect();
            let prod = if others.len() == 1 {
                others[0].clone()
            } else {
                mul(&others)
            };
            let prod = super::standard(
                prod.broadcast(IxDyn(&full))
                    .expect("inputs broadcast to the output")
                    .to_owned(),
            );
            let ps = prod.as_slice().expect("standard layout");
            let ga: Vec<f32> = g
                .iter()
                .enumerate()
                .map(|(i, &gv)| gv * ps[(i / per / k.max(1)) * per + i % per])
                .collect();
            unbroadcast(ga, n * k, out, &inputs[a].shape()[1..])
        })
        .collect()
}

/// The element-wise product of two or more inputs, with broadcasting (no parameters).
#[derive(Debug, Clone, Copy)]
pub struct Mul;

impl Operator for Mul {
    type Params = ();
    const KIND: &'static str = "Mul";
    const CATEGORY: Category = Category::Product;
    const ARITY: Arity = Arity::AtLeast(2);
    const ROUTES: &'static [Route] = &[Route::Gate, Route::Uniform, Route::Gradient];

    fn output_shape(_: &(), node: &NodeRef, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        output_shape(node, inputs)
    }

    fn forward(_: &(), inputs: &[&Tensor]) -> Tensor {
        mul(inputs)
    }

    fn route(_: &(), route: Route, ctx: &RouteCtx<'_>, r: Vec<f32>) -> Vec<Vec<f32>> {
        let maps = ctx.maps();
        match (route, ctx.gate) {
            (Route::Gate, Some(gate)) if ctx.in_shapes.len() == 2 && gate < 2 => {
                gate_relevance(ctx.in_shapes, ctx.out_shape, r, maps, gate)
            }
            // The explainer checks that the gate rule has a gate; without one nothing can be
            // sent (empty: the caller reports the missing route).
            (Route::Gate, _) => Vec::new(),
            (Route::Gradient, _) => gradient(ctx.inputs, ctx.out_shape, &r, ctx.k),
            _ => uniform_relevance(ctx.in_shapes, ctx.out_shape, &r, maps),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::{assert_close, random};

    /// Broadcast product by explicit indexing, in f64.
    fn naive(a: &Tensor, b: &Tensor) -> Tensor {
        let shape: Vec<usize> = a
            .shape()
            .iter()
            .zip(b.shape())
            .map(|(&x, &y)| x.max(y))
            .collect();
        let mut y = Tensor::zeros(IxDyn(&shape));
        for (idx, out) in y.indexed_iter_mut() {
            let pick = |t: &Tensor| {
                let i: Vec<usize> = (0..shape.len())
                    .map(|d| if t.shape()[d] == 1 { 0 } else { idx[d] })
                    .collect();
                t[IxDyn(&i)] as f64
            };
            *out = (pick(a) * pick(b)) as f32;
        }
        y
    }

    #[test]
    fn broadcasts_like_numpy_on_random_shapes() {
        let mut rng = crate::zoo::rng::Rng::new(5);
        for t in 0..30 {
            let rank = 1 + rng.below(4);
            let full: Vec<usize> = (0..rank).map(|_| 1 + rng.below(5)).collect();
            let mask = |rng: &mut crate::zoo::rng::Rng| -> Vec<usize> {
                full.iter()
                    .map(|&d| if rng.below(3) == 0 { 1 } else { d })
                    .collect()
            };
            let (sa, sb) = (mask(&mut rng), mask(&mut rng));
            let shape_a: Vec<usize> = std::iter::once(2).chain(sa.iter().copied()).collect();
            let shape_b: Vec<usize> = std::iter::once(2).chain(sb.iter().copied()).collect();
            let (a, b) = (random(&shape_a, t), random(&shape_b, t + 100));
            let node = NodeRef::new("m", "Mul");
            let out = output_shape(&node, &[&sa, &sb]).unwrap();
            let y = mul(&[&a, &b]);
            assert_eq!(&y.shape()[1..], out.as_slice());
            assert_close(&y, &naive(&a, &b), 1e-6);
        }
    }

    #[test]
    fn bad_shapes_name_the_node() {
        let node = NodeRef::new("se/mul", "Mul");
        let msg = output_shape(&node, &[&[8, 4, 4], &[4, 1, 1]])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("se/mul") && msg.contains("[4, 1, 1]"), "{msg}");
        let msg = output_shape(&node, &[&[8, 4, 4], &[8]])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("same rank"), "{msg}");
    }

    #[test]
    fn gate_rule_sends_everything_to_the_gated_input_and_conserves() {
        // x [2, 3, 3] gated by g [2, 1, 1]; 2 images × 2 maps.
        let r: Vec<f32> = (0..4 * 18).map(|i| (i as f32 * 0.37).sin()).collect();
        for gate in [0, 1] {
            let shapes: [&[usize]; 2] = if gate == 1 {
                [&[2, 3, 3], &[2, 1, 1]]
            } else {
                [&[2, 1, 1], &[2, 3, 3]]
            };
            let out = gate_relevance(&shapes, &[2, 3, 3], r.clone(), 4, gate);
            assert_eq!(out[1 - gate], r);
            assert_eq!(out[gate], vec![0.0; 4 * 2]);
        }
        // A gated input that is itself broadcast: its relevance is summed over the broadcast
        // axes, so the total is kept.
        let out = gate_relevance(&[&[2, 1, 1], &[2, 3, 3]], &[2, 3, 3], r.clone(), 4, 1);
        let total: f32 = r.iter().sum();
        assert!((out[0].iter().sum::<f32>() - total).abs() < 1e-4);
        assert_eq!(out[0].len(), 8);
    }

    #[test]
    fn uniform_rule_halves_and_sums_over_broadcast_axes() {
        let r: Vec<f32> = (0..2 * 12).map(|i| i as f32 - 7.0).collect();
        let out = uniform_relevance(&[&[3, 4], &[3, 1]], &[3, 4], &r, 2);
        assert_eq!(out[0], r.iter().map(|v| v / 2.0).collect::<Vec<_>>());
        // Map 0, row 0: (−7 −6 −5 −4)/2 = −11.
        assert_eq!(out[1][0], -11.0);
        assert_eq!(out[1].len(), 6);
        let total: f32 = out.iter().flatten().sum();
        assert_eq!(total, r.iter().sum::<f32>());
    }
}
