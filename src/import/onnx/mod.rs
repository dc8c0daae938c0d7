//! Building a [`Graph`] from an ONNX model.
//!
//! The importer walks the graph's nodes in order. A node that computes only from constants is
//! evaluated at once by the constant folder ([`fold`]); any other node is looked up in the op
//! table [`OPS`] and its builder turns it into one of our [`Op`]s plus the tensors it reads
//! (in the style of tract's ONNX importer); computing lives in [`crate::ops`]. Weights must be
//! constants (initializers, `Constant` or `ConstantOfShape` nodes, or constant subgraphs that
//! only compute weights, which are folded). The first graph input that is not an initializer
//! is the data input, batch first.
//!
//! | file | ONNX operators |
//! |---|---|
//! | [`conv`] | Conv, ConvTranspose |
//! | [`gemm`] | Gemm, MatMul (constant right-hand side) |
//! | [`pool`] | MaxPool, AveragePool, GlobalAveragePool, ReduceMean (spatial) |
//! | [`norm`] | BatchNormalization, LRN, LayerNormalization |
//! | [`fuse_norm`] | the layer normalisation older exports spell out (ReduceMean … Add), fused before import |
//! | [`arith`] | Add, Sum, Sub, Mul, Div |
//! | [`shape`] | Flatten, Reshape, Concat, Pad |
//! | [`layout`] | Transpose, Slice, Split, Gather |
//! | [`resize`] | Resize, Upsample |
//! | [`activation`] | Relu, Softmax, Dropout, Identity, Clip, HardSigmoid, HardSwish, LeakyRelu, Elu, Gelu, Swish, PRelu (Sigmoid and Tanh are table lines) |
//! | [`fold`] | the same and more on constants (Constant, ConstantOfShape, Cast, Transpose, …) |
//! | [`fuse_act`] | SiLU, HardSwish and GELU spelled out in several nodes, fused before building |
//!
//! Each file opens with the operators' specifications, the opsets handled (the default
//! domain, [`OPSETS`]; tested on 7–20) and what is not covered. Unknown operators and other
//! domains give an error naming the file, the node, its operator type and the opset;
//! attribute errors read "node `NAME` (OP), attribute `ATTR`: …" ([`attrs`]). Weights stored
//! in external files (torch's default exporter writes `model.onnx.data` beside the model) are
//! read by [`load`] from the model's folder ([`decode`]).
//!
//! [`load`] and [`from_bytes`] return the canonised graph (affine layers folded into the
//! adjacent linear layers, dropout and identity removed; see [`crate::canonize`]), which is
//! what LRP needs; [`load_raw`] and [`from_model`] return the graph as imported.
//!
//! Import is zero-copy for tensor data: [`load_raw`] decodes the file's bytes in place (raw
//! tensor data are slices of the file), each initializer is freed once converted, and a
//! weight read by a single node moves into its layer instead of being copied.
//!
//! # How to add an operator
//!
//! 1. Write its builder, `fn(&mut Importer, &Ctx) -> Result<Layer>`, in the file of its
//!    kind (or a new file: then add it to the `mod` list below and to the table above). The
//!    builder reads attributes with the getters of [`attrs`], constants with
//!    `imp.constant(node, i)` / `imp.weight(node, i)` (moves the weight when only this node
//!    reads it) and the per-sample shape of its data input with `imp.data_shape(node, x)`,
//!    and returns the [`Op`] with its inputs; for one data input that is
//!    `Ok(Layer::on(Op::…, cx.x))`. Errors go through `imp.unsupported(node, "…")` or
//!    [`attrs::attribute_error`].
//! 2. Add one line to [`OPS`]: `("Sigmoid", activation::sigmoid),`.
//! 3. If the operator may also appear on constants only (in weight subgraphs), add a line to
//!    the folder's table in [`fold`].
//! 4. Add a node-level case to `tests/onnx_node/generate.py` (and list it in
//!    `tests/onnx_node.rs`).
//!
//! A unary activation is the smallest example; `activation::relu` is the whole builder:
//!
//! ```text
//! pub(super) fn relu(_: &mut Importer<'_>, cx: &Ctx<'_>) -> Result<Layer> {
//!     Ok(Layer::on(Op::Relu, cx.x))
//! }
//! ```

pub mod activation;
pub mod arith;
pub mod attrs;
pub mod conv;
pub mod decode;
pub mod fold;
pub mod fuse_act;
pub mod fuse_norm;
pub mod gemm;
pub mod layout;
pub mod norm;
pub mod pool;
pub mod resize;
pub mod shape;

pub use fold::MAX_FOLDED_VALUES;

use self::decode::{data_type_name, decode_model, default_opset, read_model};
use self::fold::{tensor_const, Const};
use crate::error::{Error, Result};
use crate::graph::{Graph, GraphBuilder, Node};
use crate::import::proto::onnx::{
    tensor_proto::DataType, ModelProto, NodeProto, TensorProto, ValueInfoProto,
};
use crate::ops::Op;
use ndarray::ArrayD;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// A builder: turns one node into a layer (see "How to add an operator").
pub type BuildFn = fn(&mut Importer<'_>, &Ctx<'_>) -> Result<Layer>;

/// The op table: ONNX operator type (default domain) → builder. Adding an operator is one
/// line here plus its builder.
pub const OPS: &[(&str, BuildFn)] = &[
    ("Conv", conv::conv),
    ("ConvTranspose", conv::conv_transpose),
    ("Gemm", gemm::gemm),
    ("MatMul", gemm::matmul),
    ("MaxPool", pool::pool),
    ("AveragePool", pool::pool),
    ("GlobalAveragePool", pool::global_average_pool),
    ("ReduceMean", pool::reduce_mean),
    ("BatchNormalization", norm::batch_norm),
    ("LRN", norm::lrn),
    ("LayerNormalization", norm::layer_norm),
    ("Add", arith::arith),
    ("Sum", arith::arith),
    ("Sub", arith::arith),
    ("Mul", arith::arith),
    ("Div", arith::arith),
    ("Flatten", shape::flatten),
    ("Reshape", shape::reshape),
    ("Concat", shape::concat),
    ("Pad", shape::pad),
    ("Transpose", layout::transpose),
    ("Slice", layout::slice),
    ("Split", layout::split),
    ("Gather", layout::gather),
    ("Resize", resize::resize),
    ("Upsample", resize::upsample),
    ("Sigmoid", |_, cx| Ok(Layer::on(Op::Sigmoid, cx.x))),
    ("Tanh", |_, cx| Ok(Layer::on(Op::Tanh, cx.x))),
    ("Relu", activation::relu),
    ("Clip", activation::unary),
    ("HardSigmoid", activation::unary),
    ("HardSwish", activation::unary),
    ("LeakyRelu", activation::unary),
    ("Elu", activation::unary),
    ("Gelu", activation::unary),
    ("Swish", activation::unary),
    ("PRelu", activation::prelu),
    ("Softmax", activation::softmax),
    ("Dropout", activation::dropout),
    ("Identity", activation::identity),
];

/// The node a builder works on.
pub struct Ctx<'n> {
    /// The ONNX node (named after its first output when the file leaves it unnamed).
    pub node: &'n NodeProto,
    /// Its first input that is not a constant: the data input.
    pub x: &'n str,
    /// The unique name the node gets in the graph; helper nodes a builder adds before it are
    /// called `NAME/…`.
    pub name: &'n str,
}

/// What a builder makes of a node: one operator and the tensors it reads. The node writes the
/// ONNX node's first output.
pub struct Layer {
    /// The operator, with its parameters and weights.
    pub op: Op,
    /// The tensors it reads, in order.
    pub inputs: Vec<String>,
}

impl Layer {
    /// `op` reading the one tensor `x`.
    pub fn on(op: Op, x: &str) -> Layer {
        Layer {
            op,
            inputs: vec![x.to_string()],
        }
    }
}

/// Lowest and highest opset of the default domain that the importer accepts.
pub const OPSETS: (i64, i64) = (7, 22);

/// Load an ONNX model file and canonise it (see the module documentation).
pub fn load(path: impl AsRef<Path>) -> Result<Graph> {
    crate::canonize::canonize(&load_raw(path)?)
}

/// Load an ONNX model file as imported, without canonisation.
pub fn load_raw(path: impl AsRef<Path>) -> Result<Graph> {
    let path = path.as_ref();
    let model = read_model(path)?;
    from_model_owned(model, &path.display().to_string())
}

/// Decode and import an ONNX model from memory, then canonise it; `file` names it in errors.
pub fn from_bytes(bytes: &[u8], file: &str) -> Result<Graph> {
    crate::canonize::canonize(&from_model_owned(decode_model(bytes, file)?, file)?)
}

/// State of one import.
pub struct Importer<'a> {
    file: &'a str,
    opset: i64,
    consts: HashMap<String, Const>,
    b: GraphBuilder,
    names: HashSet<String>,
    /// Values folding may still create (starts at [`MAX_FOLDED_VALUES`]).
    fold_budget: std::cell::Cell<usize>,
    /// How often each value name is a node input or a graph output: a weight read by one
    /// node only moves out of `consts` into its layer instead of being copied.
    uses: HashMap<String, usize>,
    /// The batch size the data input declares (1 when symbolic): what `Shape` of a data
    /// tensor reports for the batch axis, and the batch entry a Reshape target may spell out.
    batch: i64,
    /// Data tensors whose batch axis a Reshape merged into the other axes (`[-1]` with batch
    /// 1): their ONNX shape is the per-sample shape, without a batch axis.
    batch_merged: HashSet<String>,
}

/// Import an ONNX `ModelProto` into a graph (no canonisation); `file` names it in errors.
pub fn from_model(model: &ModelProto, file: &str) -> Result<Graph> {
    let initializers = model.graph.iter().flat_map(|g| g.initializer.iter());
    import(model, initializers, file)
}

/// [`from_model`] for a model the importer may consume: each initializer's data is freed as
/// soon as it is converted, so the decoded file and the converted weights do not both stay
/// in memory (for VGG-16's 537 MB this halves the peak of a load).
fn from_model_owned(mut model: ModelProto, file: &str) -> Result<Graph> {
    let initializers = model
        .graph
        .as_mut()
        .map(|g| std::mem::take(&mut g.initializer))
        .unwrap_or_default();
    import(&model, initializers, file)
}

/// The import proper; `initializers` are the graph's (taken out of `model` by
/// [`from_model_owned`]).
fn import<T: std::borrow::Borrow<TensorProto>>(
    model: &ModelProto,
    initializers: impl IntoIterator<Item = T>,
    file: &str,
) -> Result<Graph> {
    let fmt = |detail: String| Error::Format {
        file: file.to_string(),
        layer: "model".into(),
        detail,
    };
    let opset = default_opset(model)
        .ok_or_else(|| fmt("the model imports no opset of the default ONNX domain".into()))?;
    if !(OPSETS.0..=OPSETS.1).contains(&opset) {
        return Err(fmt(format!(
            "opset {opset} is not supported (supported: {} to {})",
            OPSETS.0, OPSETS.1
        )));
    }
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| fmt("the model has no graph".into()))?;
    let mut imp = Importer {
        file,
        opset,
        consts: HashMap::new(),
        b: GraphBuilder::new(),
        names: HashSet::new(),
        fold_budget: std::cell::Cell::new(MAX_FOLDED_VALUES),
        uses: HashMap::new(),
        batch: 1,
        batch_merged: HashSet::new(),
    };
    for name in graph
        .node
        .iter()
        .flat_map(|n| n.input.iter())
        .chain(graph.output.iter().flat_map(|o| o.name.iter()))
    {
        *imp.uses.entry(name.clone()).or_default() += 1;
    }
    for t in initializers {
        let t = t.borrow();
        imp.consts
            .insert(t.name().to_string(), tensor_const(t, file)?);
    }
    // The data input: the first graph input that is not an initializer.
    let data = graph
        .input
        .iter()
        .find(|i| !imp.consts.contains_key(i.name()))
        .ok_or_else(|| fmt("the graph has no input besides its initializers".into()))?;
    let (batch, shape) = input_shape(data, file)?;
    imp.batch = batch;
    imp.b.input(data.name(), &shape);
    let acts = fuse_act::fuse(&imp, &graph.node, &graph.output);
    let nodes = fuse_norm::fuse(&imp, &acts);
    for (i, node) in nodes.iter().map(AsRef::as_ref).enumerate() {
        if node.name().is_empty() {
            // Many exporters leave nodes unnamed; name them after their first output so
            // that errors and rule overrides can refer to them.
            let mut named = node.clone();
            named.name = node.output.first().cloned().filter(|o| !o.is_empty());
            imp.node(i, &named)?;
        } else {
            imp.node(i, node)?;
        }
    }
    let outputs: Vec<&str> = graph.output.iter().map(|o| o.name()).collect();
    for o in &outputs {
        if imp.b.shape(o).is_none() {
            return Err(fmt(format!(
                "graph output `{o}` is a constant or is not computed by any node"
            )));
        }
    }
    let mut g = imp.b.build(&outputs)?;
    g.set_name(
        graph
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| file.to_string()),
    );
    Ok(g)
}

/// The declared batch size (1 when symbolic) and per-sample shape (batch dimension dropped) of
/// a graph input, from its declared type.
fn input_shape(input: &ValueInfoProto, file: &str) -> Result<(i64, Vec<usize>)> {
    use crate::import::proto::onnx::tensor_shape_proto::dimension::Value;
    use crate::import::proto::onnx::type_proto::Value as TV;
    let fail = |d: String| Error::Format {
        file: file.to_string(),
        layer: format!("input `{}`", input.name()),
        detail: d,
    };
    let tensor = match input.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(TV::TensorType(t)) => t,
        _ => return Err(fail("is not a tensor".into())),
    };
    if tensor.elem_type() != DataType::Float as i32 {
        return Err(fail(format!(
            "has element type {}; only float inputs are supported",
            data_type_name(tensor.elem_type())
        )));
    }
    let dims = tensor
        .shape
        .as_ref()
        .map(|s| s.dim.as_slice())
        .ok_or_else(|| fail("has no declared shape".into()))?;
    if dims.len() < 2 {
        return Err(fail(format!(
            "has rank {}; expected a batch dimension and at least one more",
            dims.len()
        )));
    }
    let batch = match dims[0].value {
        Some(Value::DimValue(v)) if v > 0 && v < (1 << 31) => v,
        _ => 1,
    };
    let shape = dims[1..]
        .iter()
        .enumerate()
        .map(|(i, d)| match d.value {
            Some(Value::DimValue(v)) if v > 0 && v < (1 << 31) => Ok(v as usize),
            Some(Value::DimValue(v)) => Err(fail(format!("dimension {} is {v}", i + 1))),
            _ => Err(fail(format!(
                "dimension {} is symbolic; only the batch dimension may be",
                i + 1
            ))),
        })
        .collect::<Result<Vec<usize>>>()?;
    // Bounded here, before the shape rules of the nodes multiply the dimensions.
    if crate::import::checked_product(&shape).is_none_or(|n| n > crate::MAX_ACTIVATION_VALUES) {
        return Err(fail(format!(
            "shape {shape:?} exceeds {} values per sample",
            crate::MAX_ACTIVATION_VALUES
        )));
    }
    Ok((batch, shape))
}

impl Importer<'_> {
    fn unsupported(&self, node: &NodeProto, what: impl std::fmt::Display) -> Error {
        Error::Format {
            file: self.file.to_string(),
            layer: format!(
                "node `{}` ({}, opset {})",
                node.name(),
                node.op_type(),
                self.opset
            ),
            detail: what.to_string(),
        }
    }

    fn constant(&self, node: &NodeProto, i: usize) -> Result<&Const> {
        let name = node.input.get(i).map(String::as_str).unwrap_or("");
        self.consts.get(name).ok_or_else(|| {
            self.unsupported(
                node,
                format!(
                    "input {i} (`{name}`) must be a constant (an initializer or a Constant node)"
                ),
            )
        })
    }

    /// Input `i` of `node` as floats, for a layer's weight: moved out of the constants when
    /// no other node reads it, copied otherwise.
    fn weight(&mut self, node: &NodeProto, i: usize) -> Result<ArrayD<f32>> {
        let name = node.input.get(i).map(String::as_str).unwrap_or("");
        if self.uses.get(name) == Some(&1) && matches!(self.consts.get(name), Some(Const::F(_))) {
            if let Some(Const::F(a)) = self.consts.remove(name) {
                return Ok(a);
            }
        }
        Ok(self.constant(node, i)?.floats())
    }

    fn optional_constant(&self, node: &NodeProto, i: usize) -> Result<Option<&Const>> {
        match node.input.get(i).map(String::as_str) {
            None | Some("") => Ok(None),
            Some(_) => self.constant(node, i).map(Some),
        }
    }

    fn is_const(&self, name: &str) -> bool {
        self.consts.contains_key(name)
    }

    fn data_shape(&self, node: &NodeProto, name: &str) -> Result<Vec<usize>> {
        self.b.shape(name).map(<[usize]>::to_vec).ok_or_else(|| {
            self.unsupported(
                node,
                format!("reads `{name}`, which is not computed before it"),
            )
        })
    }

    /// A unique node name: the ONNX name, or `op_type_index` when it is empty or taken.
    fn node_name(&mut self, node: &NodeProto, index: usize) -> String {
        let mut name = node.name().to_string();
        if name.is_empty() || self.names.contains(&name) {
            name = format!("{}_{index}", node.op_type());
        }
        while self.names.contains(&name) {
            name.push('_');
        }
        self.names.insert(name.clone());
        name
    }

    /// Adds a helper node `NAME/suffix` that the builder of `cx` needs before its own node.
    fn push_helper(
        &mut self,
        cx: &Ctx<'_>,
        suffix: &str,
        op: Op,
        inputs: Vec<String>,
        output: String,
    ) -> Result<()> {
        self.b.push_checked(Node {
            name: format!("{}/{suffix}", cx.name),
            op,
            inputs,
            output,
        })?;
        Ok(())
    }

    /// Imports node `index`: folds it when it reads only constants, builds it otherwise.
    fn node(&mut self, index: usize, node: &NodeProto) -> Result<()> {
        if !(node.domain().is_empty() || node.domain() == "ai.onnx") {
            return Err(
                self.unsupported(node, format!("domain `{}` is not supported", node.domain()))
            );
        }
        let op = node.op_type();
        // Nodes computing only from constants are folded.
        let data_inputs: Vec<&str> = node
            .input
            .iter()
            .map(String::as_str)
            .filter(|i| !i.is_empty() && !self.is_const(i))
            .collect();
        let Some(&x) = data_inputs.first() else {
            let value = self.fold(node)?;
            let out = node.output.first().cloned().unwrap_or_default();
            self.consts.insert(out, value);
            return Ok(());
        };
        // Nodes computing a constant from data (its static shape) are folded too.
        if let Some(&(_, f)) = fold::DATA_FOLDS.iter().find(|(t, _)| *t == op) {
            let value = f(self, node, x)?;
            let out = node.output.first().cloned().unwrap_or_default();
            self.consts.insert(out, value);
            return Ok(());
        }
        let Some(&(_, build)) = OPS.iter().find(|(t, _)| *t == op) else {
            return Err(self.unsupported(node, format!("operator {op} is not supported")));
        };
        let name = self.node_name(node, index);
        let layer = build(
            self,
            &Ctx {
                node,
                x,
                name: &name,
            },
        )?;
        let output = node
            .output
            .first()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| self.unsupported(node, "has no output"))?
            .clone();
        self.b.push_checked(Node {
            name,
            op: layer.op,
            inputs: layer.inputs,
            output,
        })?;
        Ok(())
    }
}
