//! The computation graph: nodes in topological order, each reading and writing named tensors.
//!
//! A [`Graph`] is built once (from an importer, the [`zoo`](crate::zoo) or a
//! [`GraphBuilder`]); building sorts the nodes topologically, infers every tensor's
//! per-sample shape (errors name the node), rejects non-finite weights and flushes subnormal
//! weights to zero. Tensors are named; one tensor may feed several nodes (inception branches,
//! residual shortcuts). Every node writes exactly one tensor, written by no other node.
//!
//! ```
//! use lrp::{GraphBuilder, ops::{Op, Dense}};
//! use ndarray::{array, ArrayD, IxDyn};
//! let mut b = GraphBuilder::new();
//! let x = b.input("x", &[2]);
//! let h = b.add("fc", Op::Dense(Dense::new(array![[1.0, -1.0], [2.0, 0.0]], None)), &[&x]);
//! let y = b.add("relu", Op::Relu, &[&h]);
//! let g = b.build(&[&y]).unwrap();
//! let out = g.forward(&ArrayD::from_shape_vec(IxDyn(&[1, 2]), vec![1.0, 3.0]).unwrap()).unwrap();
//! assert_eq!(out.as_slice().unwrap(), &[0.0, 2.0]);
//! ```

use crate::error::{Error, NodeRef, Result};
use crate::ops::{self, Op, Tensor};
use ndarray::Array2;
use std::collections::HashMap;

/// Index of the largest value, the first one on ties (0 for an empty slice): the predicted
/// class of a row of logits.
///
/// ```
/// assert_eq!(lrp::graph::argmax(&[0.5, 2.0, -1.0, 2.0]), 1);
/// ```
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// Softmax of one row of logits, `exp(zᵢ − max z) / Σⱼ exp(zⱼ − max z)`: the class
/// probabilities.
///
/// ```
/// let p = lrp::graph::softmax(&[0.0, (3.0f32).ln()]);
/// assert!((p[0] - 0.25).abs() < 1e-6 && (p[1] - 0.75).abs() < 1e-6);
/// ```
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let m = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let e: Vec<f32> = logits.iter().map(|v| (v - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// One node: an operator reading named tensors and writing one.
#[derive(Debug, Clone)]
pub struct Node {
    /// Unique node name (the layer name of the model).
    pub name: String,
    /// The operator with its parameters.
    pub op: Op,
    /// Names of the tensors read, in order.
    pub inputs: Vec<String>,
    /// Name of the tensor written.
    pub output: String,
}

impl Node {
    /// A node whose output tensor has the node's name.
    pub fn new(name: impl Into<String>, op: Op, inputs: &[&str]) -> Self {
        let name = name.into();
        Node {
            output: name.clone(),
            name,
            op,
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Reference used in error messages.
    pub fn node_ref(&self) -> NodeRef {
        NodeRef::new(self.name.clone(), self.op.kind())
    }
}

/// A tensor of the graph: its name, per-sample shape and producing node (`None` for graph
/// inputs).
#[derive(Debug, Clone)]
pub struct TensorInfo {
    /// Name.
    pub name: String,
    /// Shape without the batch dimension.
    pub shape: Vec<usize>,
    /// Index of the node that writes it, or `None` for a graph input.
    pub producer: Option<usize>,
    /// Indices of the nodes that read it, in order.
    pub consumers: Vec<usize>,
}

/// A validated, shape-inferred computation graph.
#[derive(Debug, Clone)]
pub struct Graph {
    name: String,
    nodes: Vec<Node>,
    tensors: Vec<TensorInfo>,
    by_name: HashMap<String, usize>,
    node_in: Vec<Vec<usize>>,
    node_out: Vec<usize>,
    input_ids: Vec<usize>,
    output_ids: Vec<usize>,
    flushed: usize,
}

/// Most values all tensors of a graph may hold per sample (2³⁰, 4 GiB of `f32`), checked when
/// the graph is built: a model file can declare an input or a layer of any size without
/// storing anything for it. VGG-16 needs 2.9·10⁷.
pub const MAX_ACTIVATION_VALUES: usize = 1 << 30;

/// Forward results: the value of every tensor that was kept.
#[derive(Debug, Clone)]
pub struct Activations {
    values: Vec<Option<Tensor>>,
    outputs: Vec<usize>,
}

impl Activations {
    /// Value of tensor `id`, if it was kept.
    pub fn get(&self, id: usize) -> Option<&Tensor> {
        self.values.get(id).and_then(|v| v.as_ref())
    }

    /// The graph's `i`-th output.
    pub fn output(&self, i: usize) -> Option<&Tensor> {
        self.outputs.get(i).and_then(|&id| self.get(id))
    }

    /// Take the graph's `i`-th output out of the results.
    pub fn take_output(&mut self, i: usize) -> Option<Tensor> {
        let id = *self.outputs.get(i)?;
        self.values.get_mut(id).and_then(Option::take)
    }

    /// Drop the value of tensor `id` (nothing when it was not kept): the explainer frees an
    /// activation after the last backward step that reads it.
    pub(crate) fn drop_value(&mut self, id: usize) {
        if let Some(v) = self.values.get_mut(id) {
            *v = None;
        }
    }
}

/// Which tensors a forward pass keeps past their last use by a later node.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeepSchedule<'a> {
    /// Every tensor (the values LRP reads, and more).
    All,
    /// Only the graph outputs; every other tensor is dropped after its last consumer ran.
    Outputs,
    /// Per tensor id: keep it (beside the graph outputs, which are always kept); the others
    /// are dropped after their last consumer ran, or as soon as they are written when no
    /// node reads them.
    Tensors(&'a [bool]),
}

impl Graph {
    /// Build a graph from its inputs (name, per-sample shape), nodes in any order, and the
    /// names of its outputs.
    ///
    /// Sorts the nodes topologically (keeping the given order where it already is one), infers
    /// shapes, checks that every weight is finite and flushes subnormal weights to zero.
    pub fn new(
        inputs: Vec<(String, Vec<usize>)>,
        nodes: Vec<Node>,
        outputs: &[&str],
    ) -> Result<Graph> {
        let mut tensors: Vec<TensorInfo> = Vec::new();
        let mut by_name: HashMap<String, usize> = HashMap::new();
        let mut budget = Budget::default();
        for (name, shape) in &inputs {
            if by_name.contains_key(name) {
                return Err(Error::Graph(format!("input `{name}` is declared twice")));
            }
            if shape.contains(&0) {
                return Err(Error::Graph(format!(
                    "input `{name}` has an empty dimension in {shape:?}"
                )));
            }
            budget.add(&|| format!("input `{name}`"), shape)?;
            by_name.insert(name.clone(), tensors.len());
            tensors.push(TensorInfo {
                name: name.clone(),
                shape: shape.clone(),
                producer: None,
                consumers: Vec::new(),
            });
        }
        let input_ids: Vec<usize> = (0..tensors.len()).collect();
        check_names(&nodes, &by_name)?;
        let order = topological_order(&nodes, &by_name)?;
        let mut slots: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
        let mut sorted: Vec<Node> = Vec::with_capacity(slots.len());
        for i in order {
            sorted.extend(slots[i].take());
        }

        // Shape inference, parameter checks.
        let mut node_in = Vec::with_capacity(sorted.len());
        let mut node_out = Vec::with_capacity(sorted.len());
        let mut flushed = 0;
        for (i, n) in sorted.iter_mut().enumerate() {
            let nref = n.node_ref();
            for (k, p) in n.op.params().iter().enumerate() {
                ops::check_finite(|| format!("{nref} parameter {k}"), p)?;
            }
            for p in n.op.params_mut() {
                flushed += ops::flush_denormals(p);
            }
            let ids: Vec<usize> = n.inputs.iter().map(|t| by_name[t]).collect();
            let shapes: Vec<&[usize]> = ids.iter().map(|&t| tensors[t].shape.as_slice()).collect();
            let shape = n.op.output_shape(&nref, &shapes)?;
            if shape.contains(&0) {
                return Err(Error::shape(
                    &nref,
                    format!("produces an empty tensor of shape {shape:?}"),
                ));
            }
            budget.add(&|| format!("node `{}` ({})", nref.name, nref.op), &shape)?;
            for &t in &ids {
                tensors[t].consumers.push(i);
            }
            let out = tensors.len();
            by_name.insert(n.output.clone(), out);
            tensors.push(TensorInfo {
                name: n.output.clone(),
                shape,
                producer: Some(i),
                consumers: Vec::new(),
            });
            node_in.push(ids);
            node_out.push(out);
        }
        let mut output_ids = Vec::with_capacity(outputs.len());
        for o in outputs {
            match by_name.get(*o) {
                Some(&id) => output_ids.push(id),
                None => {
                    return Err(Error::Graph(format!(
                        "output `{o}` is not a tensor of the graph"
                    )))
                }
            }
        }
        if output_ids.is_empty() {
            return Err(Error::Graph("the graph has no output".into()));
        }
        Ok(Graph {
            name: String::new(),
            nodes: sorted,
            tensors,
            by_name,
            node_in,
            node_out,
            input_ids,
            output_ids,
            flushed,
        })
    }

    /// The model's name (empty unless set).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Set the model's name.
    pub fn set_name(&mut self, name: impl Into<String>) {
        self.name = name.into();
    }

    /// Nodes in topological order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Every tensor: graph inputs first, then node outputs in node order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// Id of the tensor called `name`.
    pub fn tensor_id(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Per-sample shape of tensor `name`.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.tensor_id(name)
            .map(|i| self.tensors[i].shape.as_slice())
    }

    /// Ids of the tensors node `i` reads.
    pub fn node_inputs(&self, i: usize) -> &[usize] {
        &self.node_in[i]
    }

    /// Id of the tensor node `i` writes.
    pub fn node_output(&self, i: usize) -> usize {
        self.node_out[i]
    }

    /// Whether tensor `a` is computed from tensor `b` (`b` is `a` or one of its ancestors).
    pub fn depends_on(&self, a: usize, b: usize) -> bool {
        let producer: HashMap<usize, usize> = self
            .node_out
            .iter()
            .enumerate()
            .map(|(i, &t)| (t, i))
            .collect();
        let mut seen = vec![false; self.tensors.len()];
        let mut stack = vec![a];
        while let Some(t) = stack.pop() {
            if t == b {
                return true;
            }
            if std::mem::replace(&mut seen[t], true) {
                continue;
            }
            if let Some(&node) = producer.get(&t) {
                stack.extend_from_slice(&self.node_in[node]);
            }
        }
        false
    }

    /// For a node with two inputs of which one is computed from the other (the gate of a
    /// squeeze-and-excitation block, `x · σ(f(x))`): the index (0 or 1) of that gate input.
    /// `None` when neither input depends on the other, both are the same tensor, or the node
    /// does not have two inputs.
    ///
    /// ```
    /// use lrp::{GraphBuilder, ops::Op};
    /// let mut b = GraphBuilder::new();
    /// let x = b.input("x", &[4, 3, 3]);
    /// let pooled = b.add("pool", Op::GlobalAvgPool, &[&x]);
    /// let gate = b.add("gate", Op::Sigmoid, &[&pooled]);
    /// let y = b.add("scale", Op::Mul, &[&x, &gate]);
    /// let g = b.build(&[&y]).unwrap();
    /// assert_eq!(g.gate_input(2), Some(1));
    /// ```
    pub fn gate_input(&self, node: usize) -> Option<usize> {
        match self.node_in.get(node)?.as_slice() {
            &[a, b] if a != b => match (self.depends_on(b, a), self.depends_on(a, b)) {
                (true, false) => Some(1),
                (false, true) => Some(0),
                _ => None,
            },
            _ => None,
        }
    }

    /// Ids of the graph inputs.
    pub fn input_ids(&self) -> &[usize] {
        &self.input_ids
    }

    /// Ids of the graph outputs.
    pub fn output_ids(&self) -> &[usize] {
        &self.output_ids
    }

    /// Names of the graph outputs, in order.
    pub fn output_names(&self) -> Vec<&str> {
        self.output_ids
            .iter()
            .map(|&t| self.tensors[t].name.as_str())
            .collect()
    }

    /// The graph computing only its output `name`: the nodes that output does not depend on
    /// are dropped, and the name is kept. A model with several outputs (an age regression and
    /// gender logits on one backbone) is explained one output at a time this way, since
    /// relevance starts at the first output ([`Graph::logits_id`]).
    ///
    /// An unknown name gives [`Error::UnknownName`] listing the graph's outputs.
    ///
    /// ```
    /// use lrp::{GraphBuilder, ops::{Op, Dense}};
    /// use ndarray::array;
    /// let mut b = GraphBuilder::new();
    /// let x = b.input("x", &[2]);
    /// let age = b.add("age", Op::Dense(Dense::new(array![[1.0, 1.0]], None)), &[&x]);
    /// let sex = b.add("sex", Op::Dense(Dense::new(array![[1.0, 0.0], [0.0, 1.0]], None)), &[&x]);
    /// let g = b.build(&[&age, &sex]).unwrap();
    /// assert_eq!(g.output_names(), ["age", "sex"]);
    /// let s = g.select_output("sex").unwrap();
    /// assert_eq!((s.nodes().len(), s.output_shape()), (1, &[2][..]));
    /// let err = g.select_output("gender").unwrap_err();
    /// assert_eq!(err.to_string(), "unknown output `gender`; valid names: age, sex");
    /// ```
    pub fn select_output(&self, name: &str) -> Result<Graph> {
        let out = self
            .output_ids
            .iter()
            .copied()
            .find(|&t| self.tensors[t].name == name)
            .ok_or_else(|| Error::UnknownName {
                kind: "output",
                name: name.to_string(),
                valid: self.output_names().join(", "),
            })?;
        // The ancestors of the output, walking producers back from it.
        let mut needed = vec![false; self.nodes.len()];
        let mut stack = vec![out];
        let mut seen = vec![false; self.tensors.len()];
        while let Some(t) = stack.pop() {
            if std::mem::replace(&mut seen[t], true) {
                continue;
            }
            if let Some(p) = self.tensors[t].producer {
                needed[p] = true;
                stack.extend(self.node_in[p].iter().copied());
            }
        }
        let nodes: Vec<Node> = self
            .nodes
            .iter()
            .zip(&needed)
            .filter(|(_, &keep)| keep)
            .map(|(n, _)| n.clone())
            .collect();
        let inputs = self
            .input_ids
            .iter()
            .map(|&t| (self.tensors[t].name.clone(), self.tensors[t].shape.clone()))
            .collect();
        let mut g = Graph::new(inputs, nodes, &[name])?;
        g.name = self.name.clone();
        Ok(g)
    }

    /// Per-sample shape of the first input.
    pub fn input_shape(&self) -> &[usize] {
        &self.tensors[self.input_ids[0]].shape
    }

    /// Per-sample shape of the first output.
    pub fn output_shape(&self) -> &[usize] {
        &self.tensors[self.output_ids[0]].shape
    }

    /// Id of the tensor holding the pre-softmax logits: the input of a final `Softmax` node,
    /// else the first output. Relevance starts there, and [`Graph::logits`] reads it.
    pub fn logits_id(&self) -> usize {
        let out = self.output_ids[0];
        match self.tensors[out].producer {
            Some(p) if matches!(self.nodes[p].op, Op::Softmax(_)) => self.node_inputs(p)[0],
            _ => out,
        }
    }

    /// Pre-softmax logits `[n, classes]` of a single-input graph on `x` (the tensor of
    /// [`Graph::logits_id`], one row per sample).
    ///
    /// ```
    /// use lrp::{GraphBuilder, ops::{Op, Dense, Softmax}};
    /// use ndarray::{array, ArrayD, IxDyn};
    /// let mut b = GraphBuilder::new();
    /// let x = b.input("x", &[2]);
    /// let z = b.add("fc", Op::Dense(Dense::new(array![[1.0, 0.0], [0.0, 2.0]], None)), &[&x]);
    /// let p = b.add("prob", Op::Softmax(Softmax::new(0)), &[&z]);
    /// let g = b.build(&[&p]).unwrap();
    /// let x = ArrayD::from_shape_vec(IxDyn(&[1, 2]), vec![3.0, 1.0]).unwrap();
    /// assert_eq!(g.logits(&x).unwrap(), array![[3.0, 2.0]]);
    /// ```
    pub fn logits(&self, x: &Tensor) -> Result<Array2<f32>> {
        let id = self.logits_id();
        let acts = self.run(&[x], id != self.output_ids[0])?;
        let t = acts
            .get(id)
            .ok_or_else(|| Error::Graph("logits were not kept".into()))?;
        let n = t.shape()[0];
        let classes = t.len() / n.max(1);
        Array2::from_shape_vec((n, classes), t.iter().copied().collect())
            .map_err(|e| Error::Graph(format!("logits: {e}")))
    }

    /// [`Graph::logits`], refused with [`Error::NonFiniteOutput`] (naming the graph) when
    /// any of them is NaN or infinite; see [`check_finite_logits`].
    pub fn finite_logits(&self, x: &Tensor) -> Result<Array2<f32>> {
        let logits = self.logits(x)?;
        check_finite_logits(self.name(), &logits)?;
        Ok(logits)
    }

    /// Total number of learned parameters.
    pub fn num_params(&self) -> usize {
        self.nodes.iter().map(|n| n.op.num_params()).sum()
    }

    /// How many subnormal weights were flushed to zero when the graph was built.
    pub fn flushed_denormals(&self) -> usize {
        self.flushed
    }

    /// Forward a single-input graph and return its first output.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut acts = self.run(&[x], false)?;
        Ok(acts
            .take_output(0)
            .expect("the first output is always kept"))
    }

    /// Forward with one tensor per graph input (in declaration order). With `keep_all`, every
    /// intermediate tensor is kept (LRP needs them); otherwise each is dropped after its last
    /// use and only the outputs remain.
    pub fn run(&self, inputs: &[&Tensor], keep_all: bool) -> Result<Activations> {
        let keep = if keep_all {
            KeepSchedule::All
        } else {
            KeepSchedule::Outputs
        };
        crate::kernels::on_pool(|| self.run_with(inputs, keep, |_, _| None))
    }

    /// As [`Graph::run`] with the tensors `keep` names kept (the explainer keeps what its
    /// backward pass reads, [`crate::explain::ExplainPlan`]), and `hook(i, inputs)` may
    /// compute node `i`'s output itself (the explainer computes some layers in a form that
    /// also yields its denominators); `None` runs the node's own forward.
    pub(crate) fn run_with(
        &self,
        inputs: &[&Tensor],
        keep: KeepSchedule<'_>,
        mut hook: impl FnMut(usize, &[&Tensor]) -> Option<Tensor>,
    ) -> Result<Activations> {
        if inputs.len() != self.input_ids.len() {
            return Err(Error::Graph(format!(
                "the graph has {} input(s), {} given",
                self.input_ids.len(),
                inputs.len()
            )));
        }
        let mut values: Vec<Option<Tensor>> = vec![None; self.tensors.len()];
        let mut batch = None;
        for (&id, x) in self.input_ids.iter().zip(inputs) {
            let info = &self.tensors[id];
            let n = x.shape().first().copied().unwrap_or(0);
            let mut expected = vec![n];
            expected.extend(&info.shape);
            if n == 0 || x.shape() != expected.as_slice() || batch.is_some_and(|b| b != n) {
                let mut want = vec![batch.unwrap_or(n.max(1))];
                want.extend(&info.shape);
                return Err(Error::InputShape {
                    name: info.name.clone(),
                    expected: want,
                    got: x.shape().to_vec(),
                });
            }
            batch = Some(n);
            if let Some(index) = x.iter().position(|v| !v.is_finite()) {
                return Err(Error::NonFinite {
                    what: format!("input `{}`", info.name),
                    value: x.iter().nth(index).copied().unwrap_or(f32::NAN),
                    index,
                });
            }
            values[id] = Some(x.as_standard_layout().into_owned());
        }
        let mut remaining: Vec<usize> = self.tensors.iter().map(|t| t.consumers.len()).collect();
        let mut kept = match keep {
            KeepSchedule::All => vec![true; self.tensors.len()],
            KeepSchedule::Outputs => vec![false; self.tensors.len()],
            KeepSchedule::Tensors(k) => {
                let mut v = k.to_vec();
                v.resize(self.tensors.len(), false);
                v
            }
        };
        for &o in &self.output_ids {
            kept[o] = true;
        }
        for (i, node) in self.nodes.iter().enumerate() {
            let y = {
                let xs: Vec<&Tensor> = self.node_in[i]
                    .iter()
                    .map(|&t| values[t].as_ref().expect("inputs are computed first"))
                    .collect();
                hook(i, &xs).unwrap_or_else(|| node.op.forward(&xs))
            };
            let out = self.node_out[i];
            // A tensor no node reads is dead as soon as it is written.
            if remaining[out] > 0 || kept[out] {
                values[out] = Some(y);
            }
            for &t in &self.node_in[i] {
                remaining[t] -= 1;
                if remaining[t] == 0 && !kept[t] {
                    values[t] = None;
                }
            }
        }
        Ok(Activations {
            values,
            outputs: self.output_ids.clone(),
        })
    }
}

/// Builds a [`Graph`] node by node; each node's output tensor is named after the node unless
/// given explicitly ([`GraphBuilder::push`]).
///
/// [`GraphBuilder::push_checked`] infers each node's shape as it is added, so importers and
/// code-built networks know the shapes of what they have built so far.
#[derive(Debug, Default)]
pub struct GraphBuilder {
    inputs: Vec<(String, Vec<usize>)>,
    nodes: Vec<Node>,
    shapes: HashMap<String, Vec<usize>>,
}

impl GraphBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declare a graph input with its per-sample shape; returns its name.
    pub fn input(&mut self, name: &str, shape: &[usize]) -> String {
        self.inputs.push((name.to_string(), shape.to_vec()));
        self.shapes.insert(name.to_string(), shape.to_vec());
        name.to_string()
    }

    /// Add node `name` applying `op` to `inputs`; returns the output tensor's name (`name`).
    /// Shapes are checked when the graph is built.
    pub fn add(&mut self, name: &str, op: Op, inputs: &[&str]) -> String {
        self.nodes.push(Node::new(name, op, inputs));
        name.to_string()
    }

    /// Add a fully specified node without checking it now.
    pub fn push(&mut self, node: Node) {
        self.nodes.push(node);
    }

    /// Add `node` after inferring its output shape from the shapes of the nodes added before
    /// (which must be added in data-flow order); returns that shape.
    pub fn push_checked(&mut self, node: Node) -> Result<Vec<usize>> {
        let nref = node.node_ref();
        let mut shapes = Vec::with_capacity(node.inputs.len());
        for t in &node.inputs {
            match self.shapes.get(t) {
                Some(s) => shapes.push(s.as_slice()),
                None => {
                    return Err(Error::Graph(format!(
                    "{nref} reads tensor `{t}`, which no earlier node writes and is not an input"
                )))
                }
            }
        }
        let out = node.op.output_shape(&nref, &shapes)?;
        // Each tensor within the bound a built graph enforces, so that the shape rules of
        // later nodes work on sizes whose products cannot overflow.
        Budget::default().add(&|| nref.to_string(), &out)?;
        self.shapes.insert(node.output.clone(), out.clone());
        self.nodes.push(node);
        Ok(out)
    }

    /// Shape of a tensor added with [`GraphBuilder::input`] or
    /// [`GraphBuilder::push_checked`].
    pub fn shape(&self, tensor: &str) -> Option<&[usize]> {
        self.shapes.get(tensor).map(Vec::as_slice)
    }

    /// Validate and build the graph with the given outputs.
    pub fn build(self, outputs: &[&str]) -> Result<Graph> {
        Graph::new(self.inputs, self.nodes, outputs)
    }
}

/// `Ok` when every logit (`[n, classes]`) is finite; otherwise [`Error::NonFiniteOutput`]
/// naming `model`, the first input row and the first output in it that is NaN or infinite.
/// A model whose logits are not finite has made no prediction: nothing should be printed or
/// explained as if it had.
///
/// ```
/// use ndarray::array;
/// assert!(lrp::graph::check_finite_logits("m", &array![[1.0, 2.0]]).is_ok());
/// let err = lrp::graph::check_finite_logits("m", &array![[1.0, 2.0], [f32::NAN, 0.0]]).unwrap_err();
/// assert_eq!(err.to_string(), "m: output 0 of input 1 is NaN; the model produces no finite logits for it");
/// ```
pub fn check_finite_logits(model: &str, logits: &Array2<f32>) -> Result<()> {
    for (sample, row) in logits.outer_iter().enumerate() {
        if let Some((index, &value)) = row.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(Error::NonFiniteOutput {
                model: model.to_string(),
                sample,
                index,
                value,
            });
        }
    }
    Ok(())
}

/// The values of all tensors of one sample, bounded before anything is run.
#[derive(Default)]
struct Budget {
    total: usize,
}

impl Budget {
    /// Count a tensor of `shape`, named by `what` in the error when the bound is passed.
    fn add(&mut self, what: &dyn Fn() -> String, shape: &[usize]) -> Result<()> {
        let size = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .and_then(|v| v.checked_add(self.total))
            .filter(|&t| t <= MAX_ACTIVATION_VALUES);
        match size {
            Some(t) => {
                self.total = t;
                Ok(())
            }
            None => Err(Error::Graph(format!(
                "{}: shape {shape:?} takes the graph's tensors beyond {MAX_ACTIVATION_VALUES} values per sample",
                what()
            ))),
        }
    }
}

/// Every tensor has one writer, node names are unique, and every tensor read is written or
/// an input.
fn check_names(nodes: &[Node], inputs: &HashMap<String, usize>) -> Result<()> {
    let mut writer: HashMap<&str, usize> = HashMap::new();
    let mut node_names: HashMap<&str, usize> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        if node_names.insert(n.name.as_str(), i).is_some() {
            return Err(Error::Graph(format!("two nodes are named `{}`", n.name)));
        }
        if inputs.contains_key(&n.output) || writer.insert(n.output.as_str(), i).is_some() {
            return Err(Error::Graph(format!(
                "tensor `{}` is written twice (again by node `{}`)",
                n.output, n.name
            )));
        }
    }
    for n in nodes {
        for t in &n.inputs {
            if !inputs.contains_key(t) && !writer.contains_key(t.as_str()) {
                return Err(Error::Graph(format!(
                    "node `{}` ({}) reads tensor `{t}`, which no node writes and is not an input",
                    n.name,
                    n.op.kind()
                )));
            }
        }
    }
    Ok(())
}

/// Stable topological order: repeatedly take the lowest-numbered node whose inputs exist
/// (Kahn's algorithm with a min-heap: O(n log n) however the file orders its nodes; a given
/// topological order is kept as it is).
fn topological_order(nodes: &[Node], inputs: &HashMap<String, usize>) -> Result<Vec<usize>> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let mut missing: Vec<usize> = nodes
        .iter()
        .map(|n| n.inputs.iter().filter(|t| !inputs.contains_key(*t)).count())
        .collect();
    let mut readers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for t in &n.inputs {
            if !inputs.contains_key(t) {
                readers.entry(t.as_str()).or_default().push(i);
            }
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..nodes.len())
        .filter(|&i| missing[i] == 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        for &j in readers.get(nodes[i].output.as_str()).into_iter().flatten() {
            missing[j] -= 1;
            if missing[j] == 0 {
                ready.push(Reverse(j));
            }
        }
    }
    if order.len() < nodes.len() {
        let stuck: Vec<String> = (0..nodes.len())
            .filter(|&i| missing[i] > 0)
            .map(|i| format!("`{}`", nodes[i].name))
            .take(5)
            .collect();
        return Err(Error::Graph(format!(
            "the graph has a cycle through node(s) {}",
            stuck.join(", ")
        )));
    }
    Ok(order)
}
