//! Fusing the layer normalisation that older exports spell out into one
//! `LayerNormalization` node, before the nodes are imported.
//!
//! PyTorch's TorchScript exporter (`dynamo=False`, opsets below 17) writes `nn.LayerNorm` as
//! nine nodes, and both of its exporters write the channels-first layer norm of ConvNeXt's
//! reference code (`u = x.mean(1, keepdim=True)` …) the same way:
//!
//! ```text
//! m = ReduceMean(x, axes)        d = Sub(x, m)          p = Pow(d, 2)   (or Mul(d, d))
//! v = ReduceMean(p, axes)        e = Add(v, ε)          s = Sqrt(e)     n = Div(d, s)
//! [g = Mul(n, γ)  (or Mul(γ, n))]   [y = Add(g, β)  (or Add(β, g))]
//! ```
//!
//! `axes` come from the attribute (opsets < 18) or the constant second input (opset 18).
//! The pattern becomes one `LayerNormalization` node (built by [`super::norm`]) at the place
//! of its last node, when:
//!
//! - both `ReduceMean`s reduce the same axes, with `keepdims = 1`, and those axes are a
//!   contiguous block of one sign (all negative, or all non-negative without the batch axis 0);
//! - the exponent is the constant 2 and `ε` a constant with one value (initializers or
//!   `Constant` nodes); `γ` and `β` are constants (or computed from constants only);
//! - every intermediate tensor is read only inside the pattern (`d` by the square and the
//!   `Div`, every other by the next node) and is not a graph output.
//!
//! Otherwise the nodes stay as they are, and the first one we have no operator for fails
//! with the importer's usual one-line error naming it ("operator Pow is not supported").
//! The fused node is named after the common scope of the pattern's node names (`/ln` for
//! `/ln/ReduceMean` … `/ln/Add_1`), or after its last node; the `Mul` and `Add` are part of
//! it only when they multiply and add constants, and whether those constants fit the
//! normalised axes is checked when the node is built (an error names the fused node).

use super::attrs::{get_int, get_ints};
use super::fold::Const;
use super::Importer;
use crate::import::proto::onnx::{attribute_proto::AttributeType, AttributeProto, NodeProto};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// The attribute that marks a fused node: the number of normalised axes from `axis`.
pub(super) const FUSED_AXES: &str = "lrp_fused_axes";

/// How many producers [`Graphlet::constant_like`] looks at before giving up (a constant
/// operand is an initializer, a `Constant` node or a short chain such as `Unsqueeze` of one).
const MAX_CONST_NODES: usize = 64;

/// The nodes with their producers and readers, by tensor name.
struct Graphlet<'n> {
    nodes: &'n [NodeProto],
    producer: HashMap<&'n str, usize>,
    readers: HashMap<&'n str, Vec<usize>>,
}

/// One matched pattern: its nodes and the fused node that replaces them.
struct Match {
    members: Vec<usize>,
    last: usize,
    fused: NodeProto,
}

/// `nodes` with every spelled-out layer normalisation replaced by one fused node (see the
/// module documentation); borrowed nodes stay borrowed.
pub(super) fn fuse<'n>(imp: &Importer<'_>, nodes: &'n [NodeProto]) -> Vec<Cow<'n, NodeProto>> {
    let g = Graphlet::new(nodes);
    let mut taken = HashSet::new();
    let mut fused = HashMap::new();
    for (i, node) in nodes.iter().enumerate() {
        if node.op_type() != "ReduceMean" || taken.contains(&i) {
            continue;
        }
        let Some(m) = g.match_at(imp, i) else {
            continue;
        };
        if m.members.iter().any(|k| taken.contains(k)) {
            continue;
        }
        taken.extend(m.members.iter().copied());
        fused.insert(m.last, m.fused);
    }
    nodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| match fused.remove(&i) {
            Some(f) => Some(Cow::Owned(f)),
            None if taken.contains(&i) => None,
            None => Some(Cow::Borrowed(n)),
        })
        .collect()
}

impl<'n> Graphlet<'n> {
    fn new(nodes: &'n [NodeProto]) -> Self {
        let mut producer = HashMap::new();
        let mut readers: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, n) in nodes.iter().enumerate() {
            for o in n.output.iter().filter(|o| !o.is_empty()) {
                producer.insert(o.as_str(), i);
            }
            for x in n.input.iter().filter(|x| !x.is_empty()) {
                readers.entry(x.as_str()).or_default().push(i);
            }
        }
        Graphlet {
            nodes,
            producer,
            readers,
        }
    }

    /// The readers of `t`, when they are all its uses (it is not a graph output).
    fn only_readers(&self, imp: &Importer<'_>, t: &str) -> Option<&[usize]> {
        let readers = self.readers.get(t)?;
        (imp.uses.get(t) == Some(&readers.len())).then_some(readers.as_slice())
    }

    /// The one node reading `t` once, with operator `op`, when `t` is not a graph output.
    fn next(&self, imp: &Importer<'_>, t: &str, op: &str) -> Option<usize> {
        match self.only_readers(imp, t)? {
            [i] if self.nodes[*i].op_type() == op => Some(*i),
            _ => None,
        }
    }

    fn output(&self, i: usize) -> Option<&'n str> {
        self.nodes[i]
            .output
            .first()
            .map(String::as_str)
            .filter(|o| !o.is_empty())
    }

    /// The value of a constant tensor (an initializer or a `Constant` node's output).
    fn constant(&self, imp: &Importer<'_>, t: &str) -> Option<Const> {
        if let Some(c) = imp.consts.get(t) {
            return Some(c.clone());
        }
        let p = &self.nodes[*self.producer.get(t)?];
        (p.op_type() == "Constant")
            .then(|| imp.fold(p).ok())
            .flatten()
    }

    /// The one value of a constant tensor holding one value.
    fn scalar(&self, imp: &Importer<'_>, t: &str) -> Option<f32> {
        match self.constant(imp, t)? {
            Const::F(a) if a.len() == 1 => a.iter().next().copied(),
            Const::I(v, _) if v.len() == 1 => Some(v[0] as f32),
            _ => None,
        }
    }

    /// Whether `t` is computed from constants only (the folder will evaluate it), looking at
    /// no more than [`MAX_CONST_NODES`] producers.
    fn constant_like(&self, imp: &Importer<'_>, t: &str) -> bool {
        let mut stack = vec![t];
        let mut seen = HashSet::new();
        while let Some(t) = stack.pop() {
            if imp.is_const(t) || !seen.insert(t) {
                continue;
            }
            let Some(&p) = self.producer.get(t) else {
                return false;
            };
            if seen.len() > MAX_CONST_NODES {
                return false;
            }
            let node = &self.nodes[p];
            let inputs = node.input.iter().filter(|x| !x.is_empty());
            if inputs.clone().next().is_none() && node.op_type() != "Constant" {
                return false;
            }
            stack.extend(inputs.map(String::as_str));
        }
        true
    }

    /// The axes a `ReduceMean` with `keepdims = 1` reduces, sorted.
    fn axes(&self, imp: &Importer<'_>, i: usize) -> Option<Vec<i64>> {
        let n = &self.nodes[i];
        if get_int(n, "keepdims").ok()?.unwrap_or(1) != 1 {
            return None;
        }
        let mut axes = match get_ints(n, "axes").ok()? {
            Some(a) => a.to_vec(),
            None => self.constant(imp, n.input.get(1)?)?.ints(),
        };
        axes.sort_unstable();
        axes.dedup();
        (!axes.is_empty()).then_some(axes)
    }

    /// The constant operand of binary node `i` whose other operand is `t`.
    fn other_operand(&self, imp: &Importer<'_>, i: usize, t: &str) -> Option<&'n str> {
        match self.nodes[i].input.as_slice() {
            [a, b] if a == t && b != t => Some(b.as_str()),
            [a, b] if b == t && a != t => Some(a.as_str()),
            _ => None,
        }
        .filter(|c| self.constant_like(imp, c))
    }

    /// The pattern starting at the `ReduceMean` node `i`, if it is one.
    fn match_at(&self, imp: &Importer<'_>, i: usize) -> Option<Match> {
        let mean = &self.nodes[i];
        let x = mean.input.first()?.as_str();
        let axes = self.axes(imp, i)?;
        let (axis, count) = block(&axes)?;
        let sub = self.next(imp, self.output(i)?, "Sub")?;
        if self.nodes[sub].input != [x, self.output(i)?] {
            return None;
        }
        let d = self.output(sub)?;
        // d is read by the square (once as Pow, twice as Mul) and by the Div.
        let readers = self.only_readers(imp, d)?;
        let square = *readers
            .iter()
            .find(|&&r| self.nodes[r].op_type() != "Div")?;
        let div = *readers
            .iter()
            .find(|&&r| self.nodes[r].op_type() == "Div")?;
        let sq = &self.nodes[square];
        let square_ok = match sq.op_type() {
            "Pow" => {
                readers.len() == 2
                    && sq.input.len() == 2
                    && sq.input[0] == d
                    && self.scalar(imp, &sq.input[1]) == Some(2.0)
            }
            "Mul" => readers.len() == 3 && sq.input == [d, d],
            _ => false,
        };
        if !square_ok {
            return None;
        }
        let var = self.next(imp, self.output(square)?, "ReduceMean")?;
        if self.nodes[var].input.first().map(String::as_str) != self.output(square)
            || self.axes(imp, var)? != axes
        {
            return None;
        }
        let add_eps = self.next(imp, self.output(var)?, "Add")?;
        let eps = self.other_operand(imp, add_eps, self.output(var)?)?;
        let eps = self
            .scalar(imp, eps)
            .filter(|e| e.is_finite() && *e >= 0.0)?;
        let sqrt = self.next(imp, self.output(add_eps)?, "Sqrt")?;
        if self.next(imp, self.output(sqrt)?, "Div")? != div
            || self.nodes[div].input != [d, self.output(sqrt)?]
        {
            return None;
        }
        let mut members = vec![i, sub, square, var, add_eps, sqrt, div];
        let mut out = self.output(div)?;
        let mut scale = "";
        let mut bias = "";
        if let Some(mul) = self.next(imp, out, "Mul") {
            if let Some(c) = self.other_operand(imp, mul, out) {
                scale = c;
                members.push(mul);
                out = self.output(mul)?;
            }
        }
        if let Some(add) = self.next(imp, out, "Add") {
            if let Some(c) = self.other_operand(imp, add, out) {
                bias = c;
                members.push(add);
                out = self.output(add)?;
            }
        }
        let last = *members.iter().max()?;
        let mut inputs = vec![x.to_string(), scale.to_string(), bias.to_string()];
        while inputs.last().is_some_and(String::is_empty) {
            inputs.pop();
        }
        let fused = NodeProto {
            name: Some(self.scope(&members)),
            op_type: Some("LayerNormalization".into()),
            input: inputs,
            output: vec![out.to_string()],
            attribute: vec![
                int_attr("axis", axis),
                int_attr(FUSED_AXES, count),
                AttributeProto {
                    name: Some("epsilon".into()),
                    r#type: Some(AttributeType::Float as i32),
                    f: Some(eps),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        Some(Match {
            members,
            last,
            fused,
        })
    }

    /// The fused node's name: the common scope of the members' names (`/ln` for
    /// `/ln/ReduceMean`, …, `/ln/Add_1`; `ln` for `ln/mean`, …, `ln`), else the last
    /// member's name (or output, when unnamed).
    fn scope(&self, members: &[usize]) -> String {
        let name = |i: usize| {
            let n = &self.nodes[i];
            if n.name().is_empty() {
                n.output.first().cloned().unwrap_or_default()
            } else {
                n.name().to_string()
            }
        };
        let names: Vec<String> = members.iter().map(|&i| name(i)).collect();
        let mut prefix: &str = &names[0];
        for n in &names[1..] {
            let common = prefix
                .char_indices()
                .zip(n.chars())
                .find(|((_, a), b)| a != b)
                .map_or(prefix.len().min(n.len()), |((k, _), _)| k);
            prefix = &prefix[..common];
        }
        let whole = names.iter().any(|n| n == prefix);
        let scope = if whole {
            prefix
        } else {
            prefix.rsplit_once('/').map_or("", |(s, _)| s)
        };
        let last = *members.iter().max().expect("a pattern has members");
        if scope.is_empty() || scope.ends_with('/') {
            name(last)
        } else {
            scope.to_string()
        }
    }
}

/// The first axis and the number of axes of a sorted, contiguous block of one sign that does
/// not contain the batch axis 0.
fn block(axes: &[i64]) -> Option<(i64, i64)> {
    let (first, last) = (*axes.first()?, *axes.last()?);
    let contiguous = axes.windows(2).all(|w| w[1] == w[0] + 1);
    let one_sign = (first < 0) == (last < 0);
    (contiguous && one_sign && first != 0).then_some((first, axes.len() as i64))
}

fn int_attr(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(v),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::onnx::decode::{decode_model, default_opset};
    use crate::import::onnx::fold::tensor_const;
    use crate::import::onnx::MAX_FOLDED_VALUES;

    /// A node as `(op_type, axis, fused axes, epsilon)`.
    type Summary = (String, Option<i64>, Option<i64>, Option<f32>);

    /// The nodes of `tests/data/layer_norm/<case>/model.onnx` after fusion.
    fn fused(case: &str) -> Vec<Summary> {
        let path = format!(
            "{}/tests/data/layer_norm/{case}/model.onnx",
            env!("CARGO_MANIFEST_DIR")
        );
        let bytes = std::fs::read(&path).unwrap();
        let model = decode_model(&bytes, case).unwrap();
        let graph = model.graph.as_ref().unwrap();
        let mut imp = Importer {
            file: case,
            opset: default_opset(&model).unwrap(),
            consts: HashMap::new(),
            b: crate::GraphBuilder::new(),
            names: HashSet::new(),
            fold_budget: std::cell::Cell::new(MAX_FOLDED_VALUES),
            uses: HashMap::new(),
            batch: 1,
            batch_at: HashMap::new(),
            out_batch: None,
        };
        for t in &graph.initializer {
            imp.consts
                .insert(t.name().to_string(), tensor_const(t, case).unwrap());
        }
        for name in graph
            .node
            .iter()
            .flat_map(|n| n.input.iter())
            .chain(graph.output.iter().map(|o| o.name.as_ref().unwrap()))
        {
            *imp.uses.entry(name.clone()).or_default() += 1;
        }
        fuse(&imp, &graph.node)
            .iter()
            .filter(|n| n.op_type() != "Constant")
            .map(|n| {
                let n = n.as_ref();
                (
                    n.op_type().to_string(),
                    get_int(n, "axis").unwrap(),
                    get_int(n, FUSED_AXES).unwrap(),
                    super::super::attrs::get_float(n, "epsilon").unwrap(),
                )
            })
            .collect()
    }

    fn op(t: &str) -> Summary {
        (t.to_string(), None, None, None)
    }

    #[test]
    fn torchvision_layer_norm_2d_is_fused_between_its_transposes() {
        // torchvision's LayerNorm2d (ConvNeXt): permute, layer norm over the last axis,
        // permute back. The legacy export spells the middle out; it becomes one node.
        let ln = (
            "LayerNormalization".to_string(),
            Some(-1),
            Some(1),
            Some(1e-5),
        );
        assert_eq!(fused("ln2d_legacy"), [op("Transpose"), ln, op("Transpose")]);
        // The dynamo export writes LayerNormalization itself: nothing to fuse.
        let dynamo = fused("ln2d_dynamo");
        assert_eq!(dynamo.len(), 3);
        assert_eq!(dynamo[1].2, None);
    }

    #[test]
    fn channels_first_pattern_at_opset_20_reads_axes_from_the_input() {
        let ln = (
            "LayerNormalization".to_string(),
            Some(1),
            Some(1),
            Some(1e-6),
        );
        assert_eq!(fused("cf_dynamo"), [op("Conv"), ln, op("Conv")]);
    }

    #[test]
    fn axis_blocks() {
        assert_eq!(block(&[-1]), Some((-1, 1)));
        assert_eq!(block(&[-2, -1]), Some((-2, 2)));
        assert_eq!(block(&[1, 2, 3]), Some((1, 3)));
        assert_eq!(block(&[0, 1]), None);
        assert_eq!(block(&[1, 3]), None);
        assert_eq!(block(&[-1, 1]), None);
        assert_eq!(block(&[]), None);
    }
}
