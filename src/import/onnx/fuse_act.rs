//! Fusion of activations that exporters spell out in several nodes, before the nodes are built.
//!
//! | pattern (operands of `Mul`/`Add` in either order) | fused node |
//! |---|---|
//! | `Mul(x, Sigmoid(x))` | `Swish` (α = 1) → [`Op::Silu`](crate::ops::Op::Silu) |
//! | `Mul(x, HardSigmoid(x))` with α = 1/6, β = 0.5 | `HardSwish` |
//! | `x · 0.5 · Add(Erf(Div(x, √2)), 1)`, the three factors in any two `Mul`s | `Gelu` (`approximate = "none"`) |
//! | `x · 0.5 · Add(Tanh(Mul(√(2/π), Add(x, Mul(0.044715, x³)))), 1)`, `x³` = `Pow(x, 3)`, `Mul(x, Mul(x, x))` or `Mul(Mul(x, x), x)` | `Gelu` (`approximate = "tanh"`) |
//!
//! `Div(x, √2)` may also be `Mul(x, 1/√2)`. These are the forms PyTorch 2.x writes (see
//! `tests/onnx_node/torch_fusions.py`):
//!
//! - `nn.SiLU`: `Sigmoid` then `Mul(x, ·)`, with both exporters (the legacy `dynamo=False`
//!   exporter at opset 13 and the default dynamo exporter at opsets 18 and 20);
//! - `nn.Hardswish`: `HardSigmoid(alpha = 1/6)` then `Mul(x, ·)` with the legacy exporter at
//!   opset 13 (HardSwish is opset 14); the dynamo exporter writes `HardSwish` itself;
//! - `nn.GELU()`: legacy opset 13 `Div(x, 1.4142135)`, `Erf`, `Add(·, 1)`, `Mul(x, ·)`,
//!   `Mul(·, 0.5)`; dynamo at opset 18 `Div`, `Erf`, `Add(·, 1)`, `Mul(0.5, ·)`, `Mul(x, ·)`;
//!   dynamo at opset 20 writes `Gelu` itself;
//! - `nn.GELU('tanh')`: legacy opset 13 `Mul(x, x)`, `Mul(x, ·)`, `Mul(0.044715, ·)`,
//!   `Add(x, ·)`, `Mul(0.7978846, ·)`, `Tanh`, `Add(1, ·)`, `Mul(x, ·)`, `Mul(0.5, ·)`; dynamo
//!   at opset 18 `Pow(x, 3)`, `Mul(0.044715, ·)`, `Add(x, ·)`, `Mul(0.7978846, ·)`, `Tanh`,
//!   `Add(·, 1)`, `Mul(0.5, ·)`, `Mul(x, ·)`; at opset 20 `Gelu`.
//!
//! A pattern is fused only when every tensor inside it (all but its input `x` and its output)
//! is read by nodes of the pattern alone and is not a graph output, and when its constants
//! (initializers or `Constant` nodes with one value) equal the formula's to float32 precision
//! (2·2⁻²³ relative). The fused node takes the place and the name of the pattern's last node
//! and writes its output; the pattern's other nodes are dropped. Anything else imports node by
//! node, so a spelled-out GELU that does not qualify stops at its `Erf` ("operator Erf is not
//! supported").

use super::attrs::{get_float, get_tensor};
use super::fold::{tensor_const, Const};
use super::Importer;
use crate::import::proto::onnx::{
    attribute_proto::AttributeType, AttributeProto, NodeProto, ValueInfoProto,
};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// Relative tolerance for the constants of a pattern: two float32 ulps.
const TOLERANCE: f64 = 2.0 / (1u64 << 23) as f64;

/// `nodes` with the spelled-out activations fused (see the module documentation); borrowed
/// as they are when nothing matches.
pub(super) fn fuse<'n>(
    imp: &Importer<'_>,
    nodes: &'n [NodeProto],
    outputs: &'n [ValueInfoProto],
) -> Cow<'n, [NodeProto]> {
    let view = View::new(imp, nodes, outputs);
    let mut fused: HashMap<usize, NodeProto> = HashMap::new();
    let mut dropped: HashSet<usize> = HashSet::new();
    for last in 0..nodes.len() {
        let Some((node, pattern)) = view.find(last) else {
            continue;
        };
        if pattern
            .iter()
            .any(|i| dropped.contains(i) || fused.contains_key(i))
        {
            continue;
        }
        dropped.extend(pattern.iter().copied().filter(|&i| i != last));
        fused.insert(last, node);
    }
    if fused.is_empty() {
        return Cow::Borrowed(nodes);
    }
    Cow::Owned(
        (0..nodes.len())
            .filter(|i| !dropped.contains(i))
            .map(|i| fused.remove(&i).unwrap_or_else(|| nodes[i].clone()))
            .collect(),
    )
}

/// The nodes with their producers and use counts.
struct View<'n, 'i> {
    imp: &'i Importer<'i>,
    nodes: &'n [NodeProto],
    producer: HashMap<&'n str, usize>,
    /// How often each tensor is read by a node or is a graph output.
    uses: HashMap<&'n str, usize>,
    graph_outputs: HashSet<&'n str>,
}

/// A matched pattern: its data input and the nodes it spans.
type Found<'n> = (&'n str, Vec<usize>);

impl<'n, 'i> View<'n, 'i> {
    fn new(imp: &'i Importer<'i>, nodes: &'n [NodeProto], outputs: &'n [ValueInfoProto]) -> Self {
        let mut producer = HashMap::new();
        let mut uses: HashMap<&str, usize> = HashMap::new();
        for (i, n) in nodes.iter().enumerate() {
            for o in &n.output {
                producer.entry(o.as_str()).or_insert(i);
            }
            for t in &n.input {
                *uses.entry(t.as_str()).or_default() += 1;
            }
        }
        let graph_outputs: HashSet<&str> = outputs.iter().map(|o| o.name()).collect();
        for o in &graph_outputs {
            *uses.entry(o).or_default() += 1;
        }
        View {
            imp,
            nodes,
            producer,
            uses,
            graph_outputs,
        }
    }

    /// The fused node ending at node `last`, and the pattern's nodes.
    fn find(&self, last: usize) -> Option<(NodeProto, Vec<usize>)> {
        let node = &self.nodes[last];
        if node.op_type() != "Mul" || !self.is_default_domain(node) || node.input.len() != 2 {
            return None;
        }
        let out = node.output.first()?;
        let (op_type, attrs, (x, pattern)) = if let Some(m) = self.gated(last, "Sigmoid") {
            ("Swish", vec![], m)
        } else if let Some(m) = self.gated(last, "HardSigmoid") {
            ("HardSwish", vec![], m)
        } else if let Some(m) = self.gelu(last, Self::erf_gate) {
            ("Gelu", vec![approximate("none")], m)
        } else if let Some(m) = self.gelu(last, Self::tanh_gate) {
            ("Gelu", vec![approximate("tanh")], m)
        } else {
            return None;
        };
        if !self.closed(last, &pattern) {
            return None;
        }
        let fused = NodeProto {
            input: vec![x.to_string()],
            output: vec![out.clone()],
            name: node.name.clone(),
            op_type: Some(op_type.into()),
            attribute: attrs,
            ..Default::default()
        };
        Some((fused, pattern))
    }

    /// Whether every tensor the pattern's nodes write, but its last, is read inside the
    /// pattern only and is not a graph output.
    fn closed(&self, last: usize, pattern: &[usize]) -> bool {
        let unique: HashSet<usize> = pattern.iter().copied().collect();
        if unique.len() != pattern.len() {
            return false;
        }
        let mut reads: HashMap<&str, usize> = HashMap::new();
        for &i in pattern {
            for t in &self.nodes[i].input {
                *reads.entry(t.as_str()).or_default() += 1;
            }
        }
        pattern.iter().filter(|&&i| i != last).all(|&i| {
            let n = &self.nodes[i];
            n.output.len() == 1 && {
                let t = n.output[0].as_str();
                !self.graph_outputs.contains(t)
                    && self.uses.get(t).copied().unwrap_or(0) == reads.get(t).copied().unwrap_or(0)
            }
        })
    }

    fn is_default_domain(&self, node: &NodeProto) -> bool {
        node.domain().is_empty() || node.domain() == "ai.onnx"
    }

    /// The node writing `t` if it is an `op_type` node of the default domain.
    fn producer(&self, t: &str, op_type: &str) -> Option<(usize, &'n NodeProto)> {
        let &i = self.producer.get(t)?;
        let n = &self.nodes[i];
        (n.op_type() == op_type && self.is_default_domain(n)).then_some((i, n))
    }

    /// The value of `t` if it is a constant with one element (an initializer or a `Constant`
    /// node).
    fn scalar(&self, t: &str) -> Option<f64> {
        let single = |c: &Const| {
            (c.shape().iter().product::<usize>() == 1)
                .then(|| c.floats().iter().next().map(|&v| v as f64))
                .flatten()
        };
        if let Some(c) = self.imp.consts.get(t) {
            return single(c);
        }
        let (_, n) = self.producer(t, "Constant")?;
        if let Ok(Some(v)) = get_float(n, "value_float") {
            return Some(v as f64);
        }
        let tensor = get_tensor(n, "value").ok()??;
        if tensor.dims.iter().product::<i64>() != 1 {
            return None;
        }
        single(&tensor_const(tensor, self.imp.file).ok()?)
    }

    /// Whether `t` is a scalar constant equal to `want` to float32 precision.
    fn is(&self, t: &str, want: f64) -> bool {
        self.scalar(t)
            .is_some_and(|v| (v - want).abs() <= TOLERANCE * want.abs())
    }

    /// `t = op(a, c)` (or `op(c, a)` for `Mul` and `Add`) with `c` the scalar `want`: `a`,
    /// with the node added to `m`.
    fn with_const(&self, t: &str, op: &str, want: f64, m: &mut Vec<usize>) -> Option<&'n str> {
        let (i, n) = self.producer(t, op)?;
        if n.input.len() != 2 {
            return None;
        }
        let sides: &[usize] = if op == "Div" { &[1] } else { &[1, 0] };
        let k = sides
            .iter()
            .copied()
            .find(|&k| self.is(&n.input[k], want))?;
        m.push(i);
        Some(n.input[1 - k].as_str())
    }

    /// Node `last` is `Mul(x, G(x))` with `G` a `gate` node (Sigmoid, or HardSigmoid with
    /// α = 1/6 and β = 0.5).
    fn gated(&self, last: usize, gate: &str) -> Option<Found<'n>> {
        let n = &self.nodes[last];
        (0..2).find_map(|k| {
            let x = n.input[1 - k].as_str();
            let (g, node) = self.producer(&n.input[k], gate)?;
            if node.input.first().map(String::as_str) != Some(x) {
                return None;
            }
            if gate == "HardSigmoid" {
                let alpha = get_float(node, "alpha").ok()?.unwrap_or(0.2) as f64;
                let beta = get_float(node, "beta").ok()?.unwrap_or(0.5) as f64;
                let near = |v: f64, want: f64| (v - want).abs() <= TOLERANCE * want;
                if !(near(alpha, 1.0 / 6.0) && near(beta, 0.5)) {
                    return None;
                }
            }
            Some((x, vec![g, last]))
        })
    }

    /// Node `last` is the product of `x`, 0.5 and `gate(x)` in two `Mul`s, any order.
    fn gelu(
        &self,
        last: usize,
        gate: fn(&Self, &str, &mut Vec<usize>) -> Option<&'n str>,
    ) -> Option<Found<'n>> {
        let n = &self.nodes[last];
        (0..2).find_map(|k| {
            let (inner, mul) = self.producer(&n.input[k], "Mul")?;
            if inner == last || mul.input.len() != 2 {
                return None;
            }
            let leaves = [
                n.input[1 - k].as_str(),
                mul.input[0].as_str(),
                mul.input[1].as_str(),
            ];
            (0..3).find_map(|g| {
                let mut m = vec![last, inner];
                let x = gate(self, leaves[g], &mut m)?;
                let rest: Vec<&str> = (0..3).filter(|&j| j != g).map(|j| leaves[j]).collect();
                let ok = (rest[0] == x && self.is(rest[1], 0.5))
                    || (rest[1] == x && self.is(rest[0], 0.5));
                ok.then_some((x, m))
            })
        })
    }

    /// `t = Add(Erf(x / √2), 1)` (or `x · (1/√2)`): `x`.
    fn erf_gate(&self, t: &str, m: &mut Vec<usize>) -> Option<&'n str> {
        let e = self.with_const(t, "Add", 1.0, m)?;
        let (i, erf) = self.producer(e, "Erf")?;
        m.push(i);
        let z = erf.input.first()?;
        let mut div = Vec::new();
        let x = self
            .with_const(z, "Div", std::f64::consts::SQRT_2, &mut div)
            .or_else(|| self.with_const(z, "Mul", std::f64::consts::FRAC_1_SQRT_2, &mut div))?;
        m.extend(div);
        Some(x)
    }

    /// `t = Add(Tanh(√(2/π) · (x + 0.044715 · x³)), 1)`: `x`.
    fn tanh_gate(&self, t: &str, m: &mut Vec<usize>) -> Option<&'n str> {
        let th = self.with_const(t, "Add", 1.0, m)?;
        let (i, tanh) = self.producer(th, "Tanh")?;
        m.push(i);
        let sqrt_2_over_pi = (2.0 / std::f64::consts::PI).sqrt();
        let s = self.with_const(tanh.input.first()?, "Mul", sqrt_2_over_pi, m)?;
        let (a, add) = self.producer(s, "Add")?;
        if add.input.len() != 2 {
            return None;
        }
        m.push(a);
        (0..2).find_map(|k| {
            let x = add.input[k].as_str();
            let mut mk = m.clone();
            let cube = self.with_const(&add.input[1 - k], "Mul", 0.044_715, &mut mk)?;
            self.is_cube(cube, x, &mut mk)?;
            *m = mk;
            Some(x)
        })
    }

    /// `t = x³` as `Pow(x, 3)`, `Mul(x, Mul(x, x))` or `Mul(Mul(x, x), x)`.
    fn is_cube(&self, t: &str, x: &str, m: &mut Vec<usize>) -> Option<()> {
        if let Some((i, pow)) = self.producer(t, "Pow") {
            let ok = pow.input.len() == 2 && pow.input[0] == x && self.is(&pow.input[1], 3.0);
            m.push(i);
            return ok.then_some(());
        }
        let (i, mul) = self.producer(t, "Mul")?;
        if mul.input.len() != 2 {
            return None;
        }
        let k = (0..2).find(|&k| mul.input[k] == x)?;
        let (j, square) = self.producer(&mul.input[1 - k], "Mul")?;
        if square.input.len() != 2 || square.input[0] != x || square.input[1] != x {
            return None;
        }
        m.extend([i, j]);
        Some(())
    }
}

/// Gelu's `approximate` attribute.
fn approximate(v: &str) -> AttributeProto {
    AttributeProto {
        name: Some("approximate".into()),
        r#type: Some(AttributeType::String as i32),
        s: Some(v.as_bytes().to_vec()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::from_model;
    use crate::graph::Graph;
    use crate::import::proto::onnx::{attribute_proto::AttributeType, AttributeProto};
    use crate::import::proto::onnx::{
        tensor_proto::DataType, tensor_shape_proto, type_proto, GraphProto, ModelProto,
        OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto,
    };
    use crate::import::proto::onnx::{NodeProto, ValueInfoProto};
    use crate::ops::Tensor;

    fn node(op: &str, inputs: &[&str], output: &str) -> NodeProto {
        NodeProto {
            name: Some(output.into()),
            op_type: Some(op.into()),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            ..Default::default()
        }
    }

    fn with_float(mut n: NodeProto, name: &str, v: f32) -> NodeProto {
        n.attribute.push(AttributeProto {
            name: Some(name.into()),
            r#type: Some(AttributeType::Float as i32),
            f: Some(v),
            ..Default::default()
        });
        n
    }

    /// A `Constant` node with a scalar float tensor.
    fn constant(output: &str, v: f32) -> NodeProto {
        let mut n = node("Constant", &[], output);
        n.attribute.push(AttributeProto {
            name: Some("value".into()),
            r#type: Some(AttributeType::Tensor as i32),
            t: Some(scalar(output, v)),
            ..Default::default()
        });
        n
    }

    fn scalar(name: &str, v: f32) -> TensorProto {
        TensorProto {
            name: Some(name.into()),
            data_type: Some(DataType::Float as i32),
            float_data: vec![v],
            ..Default::default()
        }
    }

    fn value(name: &str) -> ValueInfoProto {
        use tensor_shape_proto::{dimension::Value, Dimension};
        let dim = [1, 6]
            .iter()
            .map(|&d| Dimension {
                value: Some(Value::DimValue(d)),
                denotation: None,
            })
            .collect();
        ValueInfoProto {
            name: Some(name.into()),
            r#type: Some(TypeProto {
                value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                    elem_type: Some(DataType::Float as i32),
                    shape: Some(TensorShapeProto { dim }),
                })),
                denotation: None,
            }),
            doc_string: None,
        }
    }

    /// Imports a model with data input `x` [1, 6], `nodes`, scalar initializers and the
    /// given outputs (raw, not canonised).
    fn import(
        nodes: Vec<NodeProto>,
        inits: &[(&str, f32)],
        outputs: &[&str],
    ) -> crate::Result<Graph> {
        let model = ModelProto {
            ir_version: Some(8),
            opset_import: vec![OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(13),
            }],
            graph: Some(GraphProto {
                node: nodes,
                name: Some("fuse".into()),
                initializer: inits.iter().map(|(n, v)| scalar(n, *v)).collect(),
                input: vec![value("x")],
                output: outputs.iter().map(|o| value(o)).collect(),
                ..Default::default()
            }),
            ..Default::default()
        };
        from_model(&model, "fuse.onnx")
    }

    fn kinds(g: &Graph) -> Vec<&'static str> {
        g.nodes().iter().map(|n| n.op.kind()).collect()
    }

    /// Runs `g` on x = [-3, -1, -0.25, 0.5, 1, 4] and checks `f` (f64) to 1e-6 relative.
    fn check(g: &Graph, f: fn(f64) -> f64) {
        let xs = [-3.0f32, -1.0, -0.25, 0.5, 1.0, 4.0];
        let x = Tensor::from_shape_vec(ndarray::IxDyn(&[1, 6]), xs.to_vec()).unwrap();
        let y = g.forward(&x).unwrap();
        for (a, b) in xs.iter().zip(y.iter()) {
            let want = f(*a as f64);
            assert!(
                (*b as f64 - want).abs() <= 1e-6 * want.abs() + 1e-7,
                "{a}: {b} vs {want}"
            );
        }
    }

    #[test]
    fn silu_fuses_in_either_operand_order_unless_the_gate_is_read_elsewhere() {
        let silu: fn(f64) -> f64 = |v| v / (1.0 + (-v).exp());
        for order in [["x", "s"], ["s", "x"]] {
            let g = import(
                vec![node("Sigmoid", &["x"], "s"), node("Mul", &order, "y")],
                &[],
                &["y"],
            )
            .unwrap();
            assert_eq!(kinds(&g), ["Silu"]);
            assert_eq!(g.nodes()[0].name, "y");
            check(&g, silu);
        }
        // The sigmoid is also a graph output, or also read by another node: no fusion.
        let nodes = vec![node("Sigmoid", &["x"], "s"), node("Mul", &["x", "s"], "y")];
        let g = import(nodes.clone(), &[], &["y", "s"]).unwrap();
        assert_eq!(kinds(&g), ["Sigmoid", "Mul"]);
        let mut more = nodes;
        more.push(node("Relu", &["s"], "r"));
        let g = import(more, &[], &["y", "r"]).unwrap();
        assert_eq!(kinds(&g), ["Sigmoid", "Mul", "Relu"]);
        // Sigmoid of another tensor than the one multiplied: no fusion.
        let g = import(
            vec![
                node("Relu", &["x"], "r"),
                node("Sigmoid", &["r"], "s"),
                node("Mul", &["x", "s"], "y"),
            ],
            &[],
            &["y"],
        )
        .unwrap();
        assert_eq!(kinds(&g), ["Relu", "Sigmoid", "Mul"]);
    }

    #[test]
    fn hard_swish_fuses_only_with_its_own_gate_constants() {
        let gate = |alpha: Option<f32>| {
            let n = node("HardSigmoid", &["x"], "h");
            match alpha {
                Some(a) => with_float(with_float(n, "alpha", a), "beta", 0.5),
                None => n,
            }
        };
        let g = import(
            vec![gate(Some(1.0 / 6.0)), node("Mul", &["h", "x"], "y")],
            &[],
            &["y"],
        )
        .unwrap();
        assert_eq!(kinds(&g), ["HardSwish"]);
        check(&g, |v| v * (v / 6.0 + 0.5).clamp(0.0, 1.0));
        // ONNX's default α = 0.2 is not hard swish.
        let g = import(vec![gate(None), node("Mul", &["h", "x"], "y")], &[], &["y"]).unwrap();
        assert_eq!(kinds(&g), ["HardSigmoid", "Mul"]);
        check(&g, |v| v * (0.2 * v + 0.5).clamp(0.0, 1.0));
    }

    /// Legacy torch order with `Constant` nodes: (x · (erf(x / √2) + 1)) · 0.5.
    fn erf_gelu(sqrt2: f32) -> Vec<NodeProto> {
        vec![
            constant("c_sqrt2", sqrt2),
            node("Div", &["x", "c_sqrt2"], "d"),
            node("Erf", &["d"], "e"),
            constant("c_one", 1.0),
            node("Add", &["e", "c_one"], "a"),
            node("Mul", &["x", "a"], "m"),
            constant("c_half", 0.5),
            node("Mul", &["m", "c_half"], "y"),
        ]
    }

    fn gelu_erf(v: f64) -> f64 {
        crate::ops::gelu::gelu_erf(v)
    }

    #[test]
    fn erf_gelu_fuses_from_constant_nodes_or_initializers_in_any_order() {
        let g = import(erf_gelu(std::f32::consts::SQRT_2), &[], &["y"]).unwrap();
        assert_eq!(kinds(&g), ["Gelu"]);
        check(&g, gelu_erf);
        // Dynamo order, initializers, x · (1/√2) instead of x / √2: x · (0.5 · (1 + erf)).
        let g = import(
            vec![
                node("Mul", &["r2", "x"], "d"),
                node("Erf", &["d"], "e"),
                node("Add", &["one", "e"], "a"),
                node("Mul", &["half", "a"], "h"),
                node("Mul", &["x", "h"], "y"),
            ],
            &[
                ("r2", std::f32::consts::FRAC_1_SQRT_2),
                ("one", 1.0),
                ("half", 0.5),
            ],
            &["y"],
        )
        .unwrap();
        assert_eq!(kinds(&g), ["Gelu"]);
        check(&g, gelu_erf);
    }

    #[test]
    fn a_gelu_that_does_not_qualify_stops_at_its_erf() {
        // A constant off by more than float32 rounding.
        let err = import(erf_gelu(1.4143), &[], &["y"])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "fuse.onnx: node `e` (Erf, opset 13): operator Erf is not supported"
        );
        // An intermediate tensor that is also a graph output.
        let err = import(erf_gelu(std::f32::consts::SQRT_2), &[], &["y", "a"]).unwrap_err();
        assert!(
            err.to_string().contains("operator Erf is not supported"),
            "{err}"
        );
    }

    #[test]
    fn tanh_gelu_fuses_with_pow_or_products_for_the_cube() {
        let tanh_gelu = |v: f64| crate::ops::gelu::gelu_tanh(v);
        let tail = |cube: &str| {
            vec![
                node("Mul", &["c", cube], "cx3"),
                node("Add", &["x", "cx3"], "s"),
                node("Mul", &["k", "s"], "u"),
                node("Tanh", &["u"], "t"),
                node("Add", &["one", "t"], "a"),
                node("Mul", &["x", "a"], "m"),
                node("Mul", &["half", "m"], "y"),
            ]
        };
        let inits = [
            ("c", 0.044715),
            ("k", 0.797_884_6),
            ("one", 1.0),
            ("half", 0.5),
            ("three", 3.0),
        ];
        let mut pow = vec![node("Pow", &["x", "three"], "x3")];
        pow.extend(tail("x3"));
        let mut products = vec![
            node("Mul", &["x", "x"], "x2"),
            node("Mul", &["x", "x2"], "x3"),
        ];
        products.extend(tail("x3"));
        for nodes in [pow, products] {
            let g = import(nodes, &inits, &["y"]).unwrap();
            assert_eq!(kinds(&g), ["Gelu"]);
            check(&g, tanh_gelu);
        }
        // x·x·x with another tensor in the square: no fusion (Tanh and the rest import).
        let mut other = vec![
            node("Relu", &["x"], "r"),
            node("Mul", &["x", "r"], "x2"),
            node("Mul", &["x", "x2"], "x3"),
        ];
        other.extend(tail("x3"));
        let g = import(other, &inits, &["y"]).unwrap();
        assert!(!kinds(&g).contains(&"Gelu"), "{:?}", kinds(&g));
    }
}
