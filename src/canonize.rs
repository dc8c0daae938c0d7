//! Canonisation: rewrite a graph into the form LRP rules expect, without changing its output.
//!
//! - Dropout and Identity nodes are removed.
//! - Consecutive per-channel affine maps ([`Affine`]: BatchNorm, Caffe Scale, ONNX Mul/Add by
//!   constants) are merged.
//! - An affine map is folded into the convolution or dense layer **before** it when that layer
//!   feeds only it: `w'_m = s_m w_m`, `b'_m = s_m b_m + t_m`. After a dense layer on the last
//!   axis (channels-last output) that takes an element-wise map whose values repeat for every
//!   position, i.e. one per channel of the last axis: the bias `Add` of `nn.Linear` on
//!   `[N, H, W, C]`.
//! - A per-channel affine map after a [`Transpose`](crate::ops::Transpose) whose input a
//!   linear layer computes for it alone moves before the transpose (as the element-wise map
//!   with the same value for every position of a channel), where the previous step folds it:
//!   ConvNeXt's layer scale, `γ ⊙ permute(Linear(x))`, becomes part of that `Linear`.
//! - An affine map that no linear layer precedes is folded into the dense layer **after** it
//!   (through Flatten/Reshape), or into the convolution after it:
//!   `w'_{·c} = w_{·c} s_c`, `b' = b + Σ_c w_{·c} t_c` (the sum over the whole kernel).
//!   When that convolution pads with zeros and the map shifts (`t ≠ 0`; BatchNorm directly
//!   before a padded convolution, as in DenseNet-style blocks), its zero padding of
//!   `s ⊙ x + t` is the padding of `x` with `−t_c / s_c` in channel `c`: the padding moves
//!   into a [`Pad`] node with these per-channel values before the convolution (named
//!   `CONV/pad`), so the result is exact at the border too (there
//!   `w_c s_c (−t_c/s_c) + w_c t_c = 0`, as the zero padding gave). Not when some `s_c = 0`
//!   (no such value exists): the affine map then stays.
//!
//! Remaining affine maps stay (LRP passes relevance through them). The rewritten graph keeps
//! the node names of the linear layers, so rule overrides by name still apply.
//!
//! Relevance at the border of a folded padded convolution: the padding values are inputs of
//! the convolution like any other, so they contribute to its `z_j` and take their share of
//! the relevance under every rule (with the unfolded graph, zero padding contributed nothing
//! and is not an input: the flat and w² rules did not count it); the [`Pad`] node then crops
//! that share away, so a border output's relevance is partly absorbed, as a bias absorbs its
//! share. The output and the relevance of the interior are as before up to rounding.
//!
//! ```
//! use lrp::{GraphBuilder, ops::{Affine, Conv2d, Op}, Tensor};
//! use ndarray::{Array1, Array4, IxDyn};
//! let mut b = GraphBuilder::new();
//! b.input("x", &[1, 3, 3]);
//! b.add("conv", Op::Conv(Conv2d::new(Array4::from_elem((2, 1, 2, 2), 0.5), None)), &["x"]);
//! let bn = Affine::new(Array1::from(vec![2.0, -1.0]), Array1::from(vec![0.5, 1.0]));
//! b.add("bn", Op::Affine(bn), &["conv"]);
//! let g = b.build(&["bn"]).unwrap();
//! let c = lrp::canonize::canonize(&g).unwrap();
//! assert_eq!(c.nodes().len(), 1);
//! let x = Tensor::from_elem(IxDyn(&[1, 1, 3, 3]), 1.0);
//! assert_eq!(g.forward(&x).unwrap(), c.forward(&x).unwrap());
//! ```

use crate::error::Result;
use crate::graph::{Graph, Node};
use crate::ops::{Affine, Op, Pad};
use ndarray::{Array1, Axis};

/// Canonise `graph` (see the module documentation).
pub fn canonize(graph: &Graph) -> Result<Graph> {
    let mut nodes: Vec<Node> = graph.nodes().to_vec();
    let mut outputs: Vec<String> = graph
        .output_ids()
        .iter()
        .map(|&t| graph.tensors()[t].name.clone())
        .collect();
    let shapes = |name: &str| graph.shape(name).map(<[usize]>::to_vec);
    loop {
        let changed = remove_passthrough(&mut nodes, &mut outputs)
            || merge_affines(&mut nodes, &outputs)
            || fold_backward(&mut nodes, &outputs, &shapes)
            || affine_before_transpose(&mut nodes, &outputs, &shapes)
            || fold_forward(&mut nodes, &outputs, &shapes);
        if !changed {
            break;
        }
    }
    let inputs = graph
        .input_ids()
        .iter()
        .map(|&t| {
            (
                graph.tensors()[t].name.clone(),
                graph.tensors()[t].shape.clone(),
            )
        })
        .collect();
    let outs: Vec<&str> = outputs.iter().map(String::as_str).collect();
    let mut g = Graph::new(inputs, nodes, &outs)?;
    g.set_name(graph.name());
    Ok(g)
}

fn readers(nodes: &[Node], t: &str) -> Vec<usize> {
    (0..nodes.len())
        .filter(|&i| nodes[i].inputs.iter().any(|x| x == t))
        .collect()
}

/// The single reader of tensor `t`, if it has exactly one and is not a graph output.
fn sole_reader(nodes: &[Node], outputs: &[String], t: &str) -> Option<usize> {
    if outputs.iter().any(|o| o == t) {
        return None;
    }
    match readers(nodes, t).as_slice() {
        [i] if nodes[*i].inputs.len() == 1 => Some(*i),
        _ => None,
    }
}

fn rename_reads(nodes: &mut [Node], outputs: &mut [String], from: &str, to: &str) {
    for n in nodes.iter_mut() {
        for i in n.inputs.iter_mut() {
            if i == from {
                *i = to.to_string();
            }
        }
    }
    for o in outputs.iter_mut() {
        if o == from {
            *o = to.to_string();
        }
    }
}

fn remove_passthrough(nodes: &mut Vec<Node>, outputs: &mut [String]) -> bool {
    let Some(i) = nodes
        .iter()
        .position(|n| matches!(n.op, Op::Dropout | Op::Identity))
    else {
        return false;
    };
    let n = nodes.remove(i);
    rename_reads(nodes, outputs, &n.output, &n.inputs[0]);
    true
}

fn merge_affines(nodes: &mut Vec<Node>, outputs: &[String]) -> bool {
    for i in 0..nodes.len() {
        let Op::Affine(a) = &nodes[i].op else {
            continue;
        };
        let Some(j) = sole_reader(nodes, outputs, &nodes[i].output) else {
            continue;
        };
        let Op::Affine(b) = &nodes[j].op else {
            continue;
        };
        if a.scale().len() != b.scale().len() {
            continue;
        }
        // b(a(x)) = sb (sa x + ta) + tb
        let scale = b.scale() * a.scale();
        let shift = b.scale() * a.shift() + b.shift();
        let input = nodes[i].inputs[0].clone();
        nodes[j].op = Op::Affine(Affine::new(scale, shift));
        nodes[j].inputs = vec![input];
        nodes.remove(i);
        return true;
    }
    false
}

/// The per-channel scale and shift of an affine map on the channels-last output of a dense
/// layer on the last axis (`total` values per sample, `m` channels): an element-wise map
/// whose values repeat for every position, or one per channel when the output has rank 1.
fn channels_last(
    s: &Array1<f32>,
    t: &Array1<f32>,
    m: usize,
    total: usize,
) -> Option<(Array1<f32>, Array1<f32>)> {
    if m == 0 || s.len() != total || total % m != 0 {
        return None;
    }
    let (s, t) = (s.as_slice()?, t.as_slice()?);
    let repeats = |v: &[f32]| v.chunks_exact(m).all(|row| row == &v[..m]);
    (repeats(s) && repeats(t))
        .then(|| (Array1::from(s[..m].to_vec()), Array1::from(t[..m].to_vec())))
}

fn fold_backward(
    nodes: &mut Vec<Node>,
    outputs: &[String],
    shapes: &dyn Fn(&str) -> Option<Vec<usize>>,
) -> bool {
    for i in 0..nodes.len() {
        if !nodes[i].op.is_linear() {
            continue;
        }
        let Some(j) = sole_reader(nodes, outputs, &nodes[i].output) else {
            continue;
        };
        let Op::Affine(a) = &nodes[j].op else {
            continue;
        };
        let (mut s, mut t) = (a.scale().clone(), a.shift().clone());
        let out = nodes[j].output.clone();
        if let Op::Dense(d) = &nodes[i].op {
            if d.is_on_last_axis() {
                // Channels last: per channel only when the values repeat for every position.
                // (The linear layer's output has the affine map's shape, and a name the original
                // graph knows: the map's own output may be a name canonisation made.)
                let total = shapes(&nodes[i].output).map_or(0, |v| v.iter().product());
                match channels_last(&s, &t, d.out_features(), total) {
                    Some((s1, t1)) => (s, t) = (s1, t1),
                    None => continue,
                }
            }
        }
        let ok = match &mut nodes[i].op {
            Op::Conv(c) if c.out_channels() == s.len() => {
                let mut w = c.weight().clone();
                for (m, mut wm) in w.axis_iter_mut(Axis(0)).enumerate() {
                    wm.mapv_inplace(|v| v * s[m]);
                }
                let b = match c.bias() {
                    Some(b) => b * &s + &t,
                    None => t.clone(),
                };
                c.replace_params(w, Some(b));
                true
            }
            Op::Dense(d) if d.out_features() == s.len() => {
                let mut w = d.weight().clone();
                for (m, mut wm) in w.axis_iter_mut(Axis(0)).enumerate() {
                    wm.mapv_inplace(|v| v * s[m]);
                }
                let b = match d.bias() {
                    Some(b) => b * &s + &t,
                    None => t.clone(),
                };
                d.replace_params(w, Some(b));
                true
            }
            _ => false,
        };
        if ok {
            nodes[i].output = out;
            nodes.remove(j);
            return true;
        }
    }
    false
}

/// Move a per-channel affine map that follows a transpose before it, when a linear layer
/// feeding only that transpose can then take it (see the module documentation).
fn affine_before_transpose(
    nodes: &mut Vec<Node>,
    outputs: &[String],
    shapes: &dyn Fn(&str) -> Option<Vec<usize>>,
) -> bool {
    for i in 0..nodes.len() {
        let Op::Transpose(tr) = &nodes[i].op else {
            continue;
        };
        let producer = nodes.iter().position(|n| n.output == nodes[i].inputs[0]);
        let linear_feeds_only_it = producer.is_some_and(|p| {
            nodes[p].op.is_linear() && sole_reader(nodes, outputs, &nodes[p].output) == Some(i)
        });
        let Some(j) = sole_reader(nodes, outputs, &nodes[i].output) else {
            continue;
        };
        let (Op::Affine(a), true) = (&nodes[j].op, linear_feeds_only_it) else {
            continue;
        };
        let (Some(input), Some(out)) = (shapes(&nodes[i].inputs[0]), shapes(&nodes[i].output))
        else {
            continue;
        };
        let total: usize = input.iter().product();
        if out.first() != Some(&a.scale().len()) || a.scale().len() == total {
            continue;
        }
        // Input position → its channel: the index along the input axis that becomes axis 0.
        let axis = tr.perm[0];
        let stride: usize = input[axis + 1..].iter().product();
        let channel = |k: usize| (k / stride) % input[axis];
        let s = Array1::from_iter((0..total).map(|k| a.scale()[channel(k)]));
        let t = Array1::from_iter((0..total).map(|k| a.shift()[channel(k)]));
        let moved = format!("{}/before_{}", nodes[j].output, nodes[i].name);
        let x = nodes[i].inputs[0].clone();
        nodes[j].op = Op::Affine(Affine::new(s, t));
        nodes[j].inputs = vec![x];
        let after = std::mem::replace(&mut nodes[j].output, moved.clone());
        nodes[i].inputs = vec![moved];
        nodes[i].output = after;
        // Keep the order topological: the affine map now runs before the transpose.
        let node = nodes.remove(j);
        nodes.insert(i, node);
        return true;
    }
    false
}

fn fold_forward(
    nodes: &mut Vec<Node>,
    outputs: &[String],
    shapes: &dyn Fn(&str) -> Option<Vec<usize>>,
) -> bool {
    for i in 0..nodes.len() {
        let Op::Affine(a) = &nodes[i].op else {
            continue;
        };
        let (s, t) = (a.scale().clone(), a.shift().clone());
        let Some(in_shape) = shapes(&nodes[i].inputs[0]) else {
            continue;
        };
        // Follow Flatten/Reshape to the consumer.
        let mut cur = i;
        let mut chain = Vec::new();
        let target = loop {
            let Some(j) = sole_reader(nodes, outputs, &nodes[cur].output) else {
                break None;
            };
            match nodes[j].op {
                Op::Flatten | Op::Reshape(_) => {
                    chain.push(j);
                    cur = j;
                }
                Op::Dense(_) | Op::Conv(_) => break Some(j),
                _ => break None,
            }
        };
        let Some(j) = target else { continue };
        let channels = s.len();
        let mut pad = None;
        let ok = match &mut nodes[j].op {
            Op::Dense(d) => {
                let k = d.in_features();
                let total: usize = in_shape.iter().product();
                let per_channel = in_shape.first() == Some(&channels);
                if total != k || !(per_channel || channels == total) {
                    false
                } else {
                    let per = k / channels;
                    let mut w = d.weight().clone();
                    let mut b = d
                        .bias()
                        .cloned()
                        .unwrap_or_else(|| Array1::zeros(w.nrows()));
                    for (row, bj) in w.axis_iter_mut(Axis(0)).zip(b.iter_mut()) {
                        let mut row = row;
                        for (kk, v) in row.iter_mut().enumerate() {
                            *bj += *v * t[kk / per];
                            *v *= s[kk / per];
                        }
                    }
                    d.replace_params(w, Some(b));
                    true
                }
            }
            Op::Conv(c) if chain.is_empty() => {
                let cg = c.weight().shape()[1];
                let groups = c.groups;
                let unpadded = c.pads == [0; 4];
                let shift_free = t.iter().all(|&v| v == 0.0);
                if !(unpadded || shift_free) && in_shape.len() == 3 {
                    // The zero padding of s·x + t is the padding of x with −t/s.
                    let values: Vec<f32> = s
                        .iter()
                        .zip(&t)
                        .map(|(&sc, &tc)| (-(tc as f64) / sc as f64) as f32)
                        .collect();
                    if values.iter().all(|v| v.is_finite()) {
                        let [top, left, bottom, right] = c.pads;
                        pad = Some(Pad::with_channel_values(
                            vec![0, top, left],
                            vec![0, bottom, right],
                            values,
                        ));
                    }
                }
                if cg * groups != channels || !(unpadded || shift_free || pad.is_some()) {
                    pad = None;
                    false
                } else {
                    if pad.is_some() {
                        c.pads = [0; 4];
                    }
                    let mg = c.out_channels() / groups;
                    let mut w = c.weight().clone();
                    let mut b = c
                        .bias()
                        .cloned()
                        .unwrap_or_else(|| Array1::zeros(c.out_channels()));
                    for m in 0..c.out_channels() {
                        let grp = m / mg;
                        for ci in 0..cg {
                            let ch = grp * cg + ci;
                            let mut k = w.index_axis_mut(Axis(0), m);
                            let mut k = k.index_axis_mut(Axis(0), ci);
                            b[m] += k.sum() * t[ch];
                            k.mapv_inplace(|v| v * s[ch]);
                        }
                    }
                    c.replace_params(w, Some(b));
                    true
                }
            }
            _ => false,
        };
        if ok {
            let (from, to) = (nodes[i].output.clone(), nodes[i].inputs[0].clone());
            nodes.remove(i);
            let mut outs = outputs.to_vec();
            rename_reads(nodes, &mut outs, &from, &to);
            if let Some(pad) = pad {
                let j = if i < j { j - 1 } else { j };
                let name = unused_name(nodes, &format!("{}/pad", nodes[j].name), shapes);
                nodes[j].inputs[0] = name.clone();
                nodes.insert(j, Node::new(name, Op::Pad(pad), &[&to]));
            }
            return true;
        }
    }
    false
}

/// `base`, or `base_1`, `base_2`, … if a node or tensor of `nodes` or a tensor of the original
/// graph (`shapes`) has that name.
fn unused_name(nodes: &[Node], base: &str, shapes: &dyn Fn(&str) -> Option<Vec<usize>>) -> String {
    let taken = |n: &str| shapes(n).is_some() || nodes.iter().any(|x| x.name == n || x.output == n);
    let mut name = base.to_string();
    let mut k = 0;
    while taken(&name) {
        k += 1;
        name = format!("{base}_{k}");
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::composite::Composite;
    use crate::explain::{Explainer, Target};
    use crate::ops::testutil::{assert_close, random};
    use crate::ops::{Conv2d, Dense};
    use crate::GraphBuilder;
    use ndarray::{Array2, Array4};

    /// x [3, 6, 5] → BN (affine, scale from `scale`) → Conv(4 out, 3×3, `pads`, stride,
    /// bias) → Flatten → Dense(3).
    fn bn_conv(scale: Vec<f32>, pads: [usize; 4], stride: usize, seed: u64) -> Graph {
        let shift = random(&[3], seed).into_dimensionality().unwrap();
        let bn = Affine::new(Array1::from(scale), shift);
        let w: Array4<f32> = random(&[4, 3, 3, 3], seed + 1)
            .into_dimensionality()
            .unwrap();
        let b = random(&[4], seed + 2).into_dimensionality().unwrap();
        let conv = Conv2d::new(w, Some(b)).with_pads(pads).with_stride(stride);
        let out = conv
            .output_shape(&crate::NodeRef::new("conv", "Conv"), &[3, 6, 5])
            .unwrap();
        let k: usize = out.iter().product();
        let fc: Array2<f32> = random(&[3, k], seed + 3).into_dimensionality().unwrap();
        let mut g = GraphBuilder::new();
        g.input("x", &[3, 6, 5]);
        g.add("bn", Op::Affine(bn), &["x"]);
        g.add("conv", Op::Conv(conv), &["bn"]);
        g.add("flat", Op::Flatten, &["conv"]);
        g.add("fc", Op::Dense(Dense::new(fc, None)), &["flat"]);
        g.build(&["fc"]).unwrap()
    }

    fn kinds(g: &Graph) -> Vec<&'static str> {
        g.nodes().iter().map(|n| n.op.kind()).collect()
    }

    #[test]
    fn batch_norm_folds_into_a_padded_convolution_exactly() {
        for (seed, pads, stride) in [(1, [1; 4], 1), (2, [1, 0, 2, 1], 1), (3, [2; 4], 2)] {
            let scale: Vec<f32> = random(&[3], seed + 10).iter().map(|v| v + 1.5).collect();
            let g = bn_conv(scale.clone(), pads, stride, seed);
            let c = canonize(&g).unwrap();
            assert_eq!(kinds(&c), ["Pad", "Conv", "Flatten", "Dense"]);
            let (Op::Pad(p), Op::Conv(conv)) = (&c.nodes()[0].op, &c.nodes()[1].op) else {
                unreachable!()
            };
            assert_eq!(c.nodes()[0].name, "conv/pad");
            assert_eq!(conv.pads, [0; 4]);
            assert_eq!(
                (p.begin.clone(), p.end.clone()),
                (vec![0, pads[0], pads[1]], vec![0, pads[2], pads[3]])
            );
            let Op::Affine(bn) = &g.nodes()[0].op else {
                unreachable!()
            };
            for (ch, v) in p.channel_values.as_ref().unwrap().iter().enumerate() {
                // s·v + t = 0: the padding is what zero padding of the BN output was.
                assert!((scale[ch] * v + bn.shift()[ch]).abs() < 1e-6);
            }
            let x = random(&[2, 3, 6, 5], seed + 20).mapv(|v| 2.0 * v);
            // The convolution's output, border included, against the raw graph.
            let conv_out = |g: &Graph| {
                let acts = g.run(&[&x], true).unwrap();
                let id = g.tensor_id("conv").unwrap();
                acts.get(id).unwrap().clone()
            };
            assert_close(&conv_out(&c), &conv_out(&g), 1e-5);
            assert_close(&c.forward(&x).unwrap(), &g.forward(&x).unwrap(), 1e-5);
            // Relevance stays finite under every preset, and the padding's share is cropped.
            for preset in ["epsilon", "epsilon-plus-flat", "epsilon-alpha2-beta1-flat"] {
                let ex = Explainer::new(c.clone(), &Composite::preset(preset).unwrap()).unwrap();
                let e = ex.explain(&x, &Target::Class(1)).unwrap();
                assert!(e.relevance.iter().all(|v| v.is_finite()), "{preset}");
                let pad = e
                    .conservation
                    .iter()
                    .find(|l| l.node == "conv/pad")
                    .unwrap();
                assert_eq!(pad.kind, "Pad");
            }
        }
    }

    #[test]
    fn a_zero_scale_keeps_the_batch_norm() {
        // −t/s does not exist for s = 0: nothing is folded, the output is unchanged.
        let g = bn_conv(vec![1.0, 0.0, -2.0], [1; 4], 1, 7);
        let c = canonize(&g).unwrap();
        assert_eq!(kinds(&c), ["Affine", "Conv", "Flatten", "Dense"]);
        let Op::Conv(conv) = &c.nodes()[1].op else {
            unreachable!()
        };
        assert_eq!(conv.pads, [1; 4]);
        let x = random(&[1, 3, 6, 5], 8);
        assert_eq!(c.forward(&x).unwrap(), g.forward(&x).unwrap());
    }

    #[test]
    fn folded_padding_exports_and_imports_with_the_same_output() {
        let g = canonize(&bn_conv(vec![0.5, -1.0, 2.0], [1; 4], 1, 9)).unwrap();
        let model = crate::export::onnx::to_model(&g).unwrap();
        let back = crate::import::onnx::from_model(&model, "bn_conv.onnx").unwrap();
        let x = random(&[2, 3, 6, 5], 10);
        // Zero padding plus a constant that is 0 inside: the same numbers exactly.
        assert_eq!(back.forward(&x).unwrap(), g.forward(&x).unwrap());
    }

    #[test]
    fn a_layer_scale_after_a_transpose_folds_into_the_dense_layer_before_it() {
        // ConvNeXt: Linear on channels-last [H, W, C], permute to [C, H, W], γ per channel.
        use crate::ops::{Dense, Transpose};
        use ndarray::Array2;
        let mut b = crate::GraphBuilder::new();
        b.input("x", &[2, 3, 4]);
        let w = Array2::from_shape_fn((5, 4), |(i, j)| (i as f32 - 2.0) * 0.3 + j as f32 * 0.1);
        let fc = Dense::new(w, Some(Array1::from(vec![0.1, -0.2, 0.3, 0.0, 0.5]))).on_last_axis();
        b.add("fc", Op::Dense(fc), &["x"]);
        b.add(
            "permute",
            Op::Transpose(Transpose::new(vec![2, 0, 1])),
            &["fc"],
        );
        let gamma = Affine::new(
            Array1::from(vec![0.5, -2.0, 1.5, 0.25, 3.0]),
            Array1::from(vec![0.0, 1.0, 0.0, -1.0, 0.0]),
        );
        b.add("scale", Op::Affine(gamma), &["permute"]);
        let g = b.build(&["scale"]).unwrap();
        let c = canonize(&g).unwrap();
        let kinds: Vec<&str> = c.nodes().iter().map(|n| n.op.kind()).collect();
        assert_eq!(kinds, ["Dense", "Transpose"]);
        let x = crate::Tensor::from_shape_fn(ndarray::IxDyn(&[2, 2, 3, 4]), |i| {
            (i[1] * 12 + i[2] * 4 + i[3]) as f32 * 0.1 - 1.0 + i[0] as f32
        });
        let (want, got) = (g.forward(&x).unwrap(), c.forward(&x).unwrap());
        for (a, b) in got.iter().zip(want.iter()) {
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
        }
    }
}
