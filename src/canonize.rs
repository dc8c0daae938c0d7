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
//! - An affine map that no linear layer precedes is folded into the dense layer **after** it
//!   (through Flatten/Reshape), or into the convolution after it when it only scales or the
//!   convolution has no padding: `w'_{·c} = w_{·c} s_c`, `b' = b + Σ_c w_{·c} t_c`.
//!
//! Remaining affine maps stay (LRP passes relevance through them). The rewritten graph keeps
//! the node names of the linear layers, so rule overrides by name still apply.
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
use crate::ops::{Affine, Op};
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
                let total = shapes(&out).map_or(0, |v| v.iter().product());
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
                if cg * groups != channels || !(unpadded || shift_free) {
                    false
                } else {
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
            return true;
        }
    }
    false
}
