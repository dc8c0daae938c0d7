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
//! | [`gemm`] | Gemm, MatMul (constant right-hand side, or two data tensors: attention) |
//! | [`pool`] | MaxPool, AveragePool, GlobalAveragePool, ReduceMean (spatial) |
//! | [`norm`] | BatchNormalization, LRN, LayerNormalization |
//! | [`fuse_norm`] | the layer normalisation older exports spell out (ReduceMean … Add), fused before import |
//! | [`arith`] | Add, Sum, Sub, Mul, Div |
//! | [`shape`] | Flatten, Reshape, Concat (also with constants: a class token), Pad |
//! | [`layout`] | Transpose, Slice, Split, Gather, Squeeze, Unsqueeze |
//! | [`resize`] | Resize, Upsample |
//! | [`activation`] | Relu, Softmax, Dropout, Identity, Clip, HardSigmoid, HardSwish, LeakyRelu, Elu, Gelu, Swish, PRelu (Sigmoid and Tanh are table lines) |
//! | [`fold`] | the same and more on constants (Constant, ConstantOfShape, Cast, Transpose, Equal, Where, Mod, Expand, …) |
//! | [`fuse_act`] | SiLU, HardSwish and GELU spelled out in several nodes, fused before building |
//!
//! Data tensors need not keep their batch axis first: the importer follows it through
//! attention's transposes and reshapes ([`Batch`]).
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
    ("Squeeze", layout::squeeze),
    ("Unsqueeze", layout::squeeze),
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
    /// Data tensors whose batch axis is not ONNX axis 0 (see [`Batch`]); every other data
    /// tensor is batch-first.
    batch_at: HashMap<String, Batch>,
    /// Where the batch axis of the node being built ends up, when its builder moves it
    /// (`None`: where it is in the node's data input).
    out_batch: Option<Batch>,
}

/// Where the batch axis of a data tensor sits in its ONNX shape.
///
/// Our tensors are always batch first; the ONNX graph's need not be. Multi-head attention as
/// torch exports it moves the batch (`[T, N, D]` sequence-first layouts, `[3, N, H, T, d]`
/// stacks of q, k and v) and, with a declared batch of 1, merges it into other axes
/// (`[T, N·H, d]`). The importer follows the batch axis through Transpose, Reshape, Squeeze,
/// Unsqueeze and Gather, maps every axis an operator names to a per-sample axis, and builds
/// the same per-sample operators as for a batch-first graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batch {
    /// A standalone batch axis at this ONNX position; the other axes are the per-sample axes.
    At(usize),
    /// Merged into the other axes (declared batch 1, size 1 there): the ONNX shape is the
    /// per-sample shape.
    Merged,
}

impl Batch {
    /// The ONNX shape of a tensor of per-sample shape `sample` (the batch axis as 1).
    pub fn onnx_shape(self, sample: &[usize]) -> Vec<usize> {
        let mut s = sample.to_vec();
        if let Batch::At(b) = self {
            s.insert(b.min(s.len()), 1);
        }
        s
    }

    /// The per-sample axis of ONNX axis `a` (negative from the end) of a tensor whose
    /// per-sample rank is `rank`: `Ok(None)` for the batch axis itself, `Err(())` when out of
    /// range.
    #[allow(clippy::result_unit_err)]
    pub fn sample_axis(self, a: i64, rank: usize) -> std::result::Result<Option<usize>, ()> {
        let full = match self {
            Batch::At(_) => rank + 1,
            Batch::Merged => rank,
        } as i64;
        let a = if a < 0 { a + full } else { a };
        if !(0..full).contains(&a) {
            return Err(());
        }
        let a = a as usize;
        Ok(match self {
            Batch::At(b) if a == b => None,
            Batch::At(b) if a > b => Some(a - 1),
            _ => Some(a),
        })
    }
}

/// ONNX operators whose builders handle data whose batch axis is not first (see [`Batch`]);
/// the others reject such inputs with an error naming the node.
const BATCH_AWARE: &[&str] = &[
    "Transpose",
    "Reshape",
    "Squeeze",
    "Unsqueeze",
    "Gather",
    "Slice",
    "Split",
    "Concat",
    "Softmax",
    "LayerNormalization",
    "MatMul",
    "Gemm",
    "Add",
    "Sum",
    "Sub",
    "Mul",
    "Div",
    "Sigmoid",
    "Tanh",
    "Relu",
    "Clip",
    "HardSigmoid",
    "HardSwish",
    "LeakyRelu",
    "Elu",
    "Gelu",
    "Swish",
    "Dropout",
    "Identity",
];

/// ONNX operators with an `axis` attribute that [`Importer::node`] rewrites to the
/// batch-first axis before their builder runs.
const AXIS_ATTRIBUTE: &[&str] = &["Softmax", "LayerNormalization", "Concat", "Split", "Gather"];

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
        batch_at: HashMap::new(),
        out_batch: None,
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
        if imp.batch_of(o) != Batch::At(0) {
            return Err(fmt(format!(
                "graph output `{o}` does not have its batch axis first ({:?}): the graph moves the batch axis and does not move it back",
                imp.batch_of(o)
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
    /// Whether `node` is a Gather from a batch-merged tensor (torch's `as_strided`, handled by
    /// its builder).
    fn is_merged_gather(&self, node: &NodeProto, x: &str) -> bool {
        node.op_type() == "Gather" && self.is_merged(x)
    }

    /// Where the batch of a Gather's output sits when its input's is not first: a scalar index
    /// drops the gathered axis, so a batch axis after it moves one place forward.
    fn gather_batch(&self, node: &NodeProto, x: &str) -> Result<Option<Batch>> {
        let scalar = self.constant(node, 1)?.shape().is_empty();
        let a = attrs::get_int(node, "axis")?.unwrap_or(0);
        let rank = self.data_shape(node, x)?.len() as i64 + 1;
        let a = if a < 0 { a + rank } else { a };
        Ok(match self.batch_of(x) {
            Batch::At(b) if scalar && (a as usize) < b => Some(Batch::At(b - 1)),
            _ => None,
        })
    }

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

    /// Where the batch axis of data tensor `name` sits (see [`Batch`]).
    fn batch_of(&self, name: &str) -> Batch {
        self.batch_at.get(name).copied().unwrap_or(Batch::At(0))
    }

    /// Whether data tensor `name` has its batch merged into its other axes.
    fn is_merged(&self, name: &str) -> bool {
        self.batch_of(name) == Batch::Merged
    }

    /// The per-sample axis of ONNX axis `a` of data input `x` of `node`; `None` for the batch
    /// axis; an error naming the node when out of range.
    fn sample_axis(&self, node: &NodeProto, x: &str, a: i64) -> Result<Option<usize>> {
        let rank = self.data_shape(node, x)?.len();
        self.batch_of(x)
            .sample_axis(a, rank)
            .map_err(|()| self.unsupported(node, format!("axis {a} is out of range")))
    }

    /// `node` with its `axis` attribute rewritten to the batch-first axis of its data input
    /// `x` (per-sample axis + 1), for builders that assume the batch first.
    fn batch_first_axis(&self, node: &NodeProto, x: &str) -> Result<NodeProto> {
        let mut n = node.clone();
        let default = match node.op_type() {
            "Softmax" | "LayerNormalization" => -1,
            _ => 0,
        };
        let a = attrs::get_int(node, "axis")?.unwrap_or(default);
        let Some(p) = self.sample_axis(node, x, a)? else {
            return Err(self.unsupported(
                node,
                format!(
                    "axis {a} is the batch axis of `{x}` ({:?})",
                    self.batch_of(x)
                ),
            ));
        };
        match n.attribute.iter_mut().find(|at| at.name() == "axis") {
            Some(at) => at.i = Some(p as i64 + 1),
            None => n
                .attribute
                .push(crate::import::proto::onnx::AttributeProto {
                    name: Some("axis".into()),
                    i: Some(p as i64 + 1),
                    r#type: Some(
                        crate::import::proto::onnx::attribute_proto::AttributeType::Int as i32,
                    ),
                    ..Default::default()
                }),
        }
        Ok(n)
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
        let in_batch = self.batch_of(x);
        for d in &data_inputs {
            let b = self.batch_of(d);
            if b != Batch::At(0) && !BATCH_AWARE.contains(&op) {
                return Err(self.unsupported(
                    node,
                    format!("reads `{d}`, whose batch axis is not first ({b:?}); {op} supports batch-first data only"),
                ));
            }
            if b != in_batch {
                return Err(self.unsupported(
                    node,
                    format!("its data inputs have their batch axes in different places ({in_batch:?} and {b:?})"),
                ));
            }
        }
        let canonical;
        let node = if in_batch != Batch::At(0)
            && AXIS_ATTRIBUTE.contains(&op)
            && !self.is_merged_gather(node, x)
        {
            if op == "Gather" {
                self.out_batch = self.gather_batch(node, x)?;
            }
            canonical = self.batch_first_axis(node, x)?;
            &canonical
        } else {
            node
        };
        let name = self.node_name(node, index);
        let layer = build(
            self,
            &Ctx {
                node,
                x,
                name: &name,
            },
        );
        let out_batch = self.out_batch.take().unwrap_or(in_batch);
        let layer = layer?;
        if out_batch != Batch::At(0) {
            for o in node.output.iter().filter(|o| !o.is_empty()) {
                self.batch_at.insert(o.clone(), out_batch);
            }
        }
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
