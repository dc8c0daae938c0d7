//! Building a [`Graph`] from an ONNX model.
//!
//! Each supported operator has a builder that turns a `NodeProto` into one of our [`Op`]s (in
//! the style of tract's ONNX importer); computing lives in [`crate::ops`]. Weights must be
//! constants (initializers, `Constant` or `ConstantOfShape` nodes, or constant subgraphs that
//! only compute weights, which are folded here). The first graph input that is not an
//! initializer is the data input, batch first.
//!
//! Operators (default domain, opsets 7 to 22; tested on 7–18):
//!
//! | ONNX | becomes | not covered |
//! |---|---|---|
//! | Conv | [`Conv2d`] | 1-D/3-D convolutions |
//! | Gemm, MatMul (constant right-hand side) | [`Dense`] | `transA = 1`, data on the right |
//! | Relu, Dropout, Identity, Flatten (axis 1), Reshape, Softmax | same | Flatten/Softmax over the batch axis |
//! | MaxPool, AveragePool | [`Pool2d`] | dilations ≠ 1, 1-D/3-D pooling |
//! | GlobalAveragePool, LRN, Concat | same | concatenation along the batch axis |
//! | Add, Sum, Mul, Sub, Div | [`Op::Add`]/[`Op::Mul`] of tensors, or [`Affine`] with a scalar or per-channel constant | other broadcasts |
//! | BatchNormalization | [`Affine`] (inference form) | training-mode outputs |
//! | Pad (`constant` mode, pads as input or attribute, `axes`) | [`Pad`] | reflect/edge modes, negative pads, batch padding |
//! | Constant, ConstantOfShape, Shape-free folding of Reshape/Unsqueeze/Squeeze/Transpose/Cast/arithmetic on constants | constants | — |
//!
//! Unknown operators, external data and other domains give an error naming the node, its
//! operator type and the opset.
//!
//! [`load`] and [`from_bytes`] return the canonised graph (affine layers folded into the
//! adjacent linear layers, dropout and identity removed; see [`crate::canonize`]), which is
//! what LRP needs; [`load_raw`] and [`from_model`] return the graph as imported.

use super::onnx_model::{
    attribute_error, decode_model, default_opset, get_float, get_int, get_ints, get_string,
    get_tensor, read_model, tensor_dims, tensor_to_array, tensor_to_i64,
};
use super::proto::onnx::{tensor_proto::DataType, ModelProto, NodeProto, TensorProto};
use crate::error::{Error, Result};
use crate::graph::{Graph, GraphBuilder, Node};
use crate::ops::{
    Affine, Concat, Conv2d, Dense, Lrn, Op, Pad, Pool2d, PoolRounding, Reshape, Softmax,
};
use ndarray::{Array1, Array2, Array4, ArrayD, IxDyn};
use std::collections::{HashMap, HashSet};
use std::path::Path;

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

/// A constant value: floats or integers, with its full (ONNX) shape.
#[derive(Debug, Clone)]
enum Const {
    F(ArrayD<f32>),
    I(Vec<i64>, Vec<usize>),
}

impl Const {
    fn shape(&self) -> &[usize] {
        match self {
            Const::F(a) => a.shape(),
            Const::I(_, s) => s,
        }
    }

    fn floats(&self) -> ArrayD<f32> {
        match self {
            Const::F(a) => a.clone(),
            Const::I(v, s) => {
                ArrayD::from_shape_vec(IxDyn(s), v.iter().map(|&x| x as f32).collect())
                    .expect("shape matches the data")
            }
        }
    }

    fn ints(&self) -> Vec<i64> {
        match self {
            Const::F(a) => a.iter().map(|&x| x as i64).collect(),
            Const::I(v, _) => v.clone(),
        }
    }
}

fn tensor_const(t: &TensorProto, file: &str) -> Result<Const> {
    match DataType::try_from(t.data_type()).unwrap_or(DataType::Undefined) {
        DataType::Int64 | DataType::Int32 | DataType::Int8 | DataType::Uint8 | DataType::Bool => {
            let (dims, _) = tensor_dims(t, file)?;
            Ok(Const::I(tensor_to_i64(t, file)?, dims))
        }
        _ => Ok(Const::F(tensor_to_array(t, file)?)),
    }
}

/// Most values that constant folding may create beyond what the file stores, all nodes
/// together (2²⁸, 1 GiB of `f32`; integer values count twice, being 8 bytes): `ConstantOfShape`
/// and broadcasting arithmetic build constants whose size the file merely claims, so it is
/// bounded before anything is allocated. Weight-stripped models make all their weights with
/// `ConstantOfShape` (AlexNet 6.1·10⁷, VGG-16 1.4·10⁸ values). (The `onnx_model` fuzz target
/// showed a 100-byte model asking for 2 GiB per node, with no bound on the number of nodes.)
pub const MAX_FOLDED_VALUES: usize = 1 << 28;

/// State of one import.
struct Importer<'a> {
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
    let shape = input_shape(data, file)?;
    imp.b.input(data.name(), &shape);
    for (i, node) in graph.node.iter().enumerate() {
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

/// Per-sample shape of a graph input (batch dimension dropped), from its declared type.
fn input_shape(input: &super::proto::onnx::ValueInfoProto, file: &str) -> Result<Vec<usize>> {
    use super::proto::onnx::tensor_shape_proto::dimension::Value;
    use super::proto::onnx::type_proto::Value as TV;
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
            super::onnx_model::data_type_name(tensor.elem_type())
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
    dims[1..]
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
        .collect()
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

    fn add(&mut self, node: &NodeProto, index: usize, op: Op, inputs: &[&str]) -> Result<()> {
        let output = node
            .output
            .first()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| self.unsupported(node, "has no output"))?
            .clone();
        let name = self.node_name(node, index);
        self.b.push_checked(Node {
            name,
            op,
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            output,
        })?;
        Ok(())
    }

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
        if data_inputs.is_empty() {
            let value = self.fold(node)?;
            let out = node.output.first().cloned().unwrap_or_default();
            self.consts.insert(out, value);
            return Ok(());
        }
        let x = data_inputs[0];
        match op {
            "Conv" => self.conv(index, node, x),
            "Gemm" => self.gemm(index, node, x),
            "MatMul" => self.matmul(index, node, x),
            "Relu" => self.add(node, index, Op::Relu, &[x]),
            "Dropout" => {
                if node.output.len() > 1 && !node.output[1].is_empty() {
                    // The mask output is allowed as long as nothing reads it (checked when
                    // the graph is built: a read of an unknown tensor is an error).
                }
                self.add(node, index, Op::Dropout, &[x])
            }
            "Identity" => self.add(node, index, Op::Identity, &[x]),
            "Flatten" => {
                let axis = get_int(node, "axis")?.unwrap_or(1);
                let rank = self.data_shape(node, x)?.len() as i64 + 1;
                if axis != 1 && axis != 1 - rank {
                    return Err(self.unsupported(
                        node,
                        format!(
                            "Flatten with axis {axis}: only axis 1 (keep the batch) is supported"
                        ),
                    ));
                }
                self.add(node, index, Op::Flatten, &[x])
            }
            "Reshape" => self.reshape(index, node, x),
            "Softmax" => self.softmax(index, node, x),
            "MaxPool" | "AveragePool" => self.pool(index, node, x),
            "GlobalAveragePool" => self.add(node, index, Op::GlobalAvgPool, &[x]),
            "LRN" => {
                let size = get_int(node, "size")?
                    .ok_or_else(|| attribute_error(node, "size", "is required"))?;
                if size < 1 {
                    return Err(attribute_error(
                        node,
                        "size",
                        format!("must be ≥ 1, got {size}"),
                    ));
                }
                let lrn = Lrn::new(
                    size as usize,
                    get_float(node, "alpha")?.unwrap_or(1e-4),
                    get_float(node, "beta")?.unwrap_or(0.75),
                    get_float(node, "bias")?.unwrap_or(1.0),
                );
                self.add(node, index, Op::Lrn(lrn), &[x])
            }
            "Concat" => {
                let axis = get_int(node, "axis")?
                    .ok_or_else(|| attribute_error(node, "axis", "is required"))?;
                let rank = self.data_shape(node, x)?.len() as i64 + 1;
                let axis = if axis < 0 { axis + rank } else { axis };
                if axis < 1 || axis >= rank {
                    return Err(self.unsupported(
                        node,
                        format!("Concat along axis {axis}: only per-sample axes are supported"),
                    ));
                }
                if node.input.iter().any(|i| self.is_const(i)) {
                    return Err(
                        self.unsupported(node, "Concat of a constant with data is not supported")
                    );
                }
                let ins: Vec<&str> = node.input.iter().map(String::as_str).collect();
                self.add(
                    node,
                    index,
                    Op::Concat(Concat::new(axis as usize - 1)),
                    &ins,
                )
            }
            "Add" | "Sum" | "Mul" | "Sub" | "Div" => self.arith(index, node),
            "BatchNormalization" => self.batch_norm(index, node, x),
            "Pad" => self.pad(index, node, x),
            _ => Err(self.unsupported(node, format!("operator {op} is not supported"))),
        }
    }

    fn conv(&mut self, index: usize, node: &NodeProto, x: &str) -> Result<()> {
        let w = self.weight(node, 1)?;
        if w.ndim() != 4 {
            return Err(self.unsupported(
                node,
                format!(
                    "only 2-D convolutions are supported (weight shape {:?})",
                    w.shape()
                ),
            ));
        }
        let bias = self.optional_constant(node, 2)?.map(|b| b.floats());
        let w: Array4<f32> = w.into_dimensionality().expect("checked rank 4");
        let (kh, kw) = (w.shape()[2], w.shape()[3]);
        if let Some(ks) = get_ints(node, "kernel_shape")? {
            if ks != [kh as i64, kw as i64] {
                return Err(attribute_error(
                    node,
                    "kernel_shape",
                    format!("{ks:?} differs from the weight's {kh}×{kw}"),
                ));
            }
        }
        let bias = match bias {
            Some(b) if b.len() != w.shape()[0] => {
                return Err(self.unsupported(
                    node,
                    format!(
                        "bias has {} values for {} output channels",
                        b.len(),
                        w.shape()[0]
                    ),
                ))
            }
            Some(b) => Some(Array1::from(b.iter().copied().collect::<Vec<_>>())),
            None => None,
        };
        let strides = pair(node, "strides", 1)?;
        let dil = pair(node, "dilations", 1)?;
        let group = get_int(node, "group")?.unwrap_or(1);
        if group < 1 {
            return Err(attribute_error(
                node,
                "group",
                format!("must be ≥ 1, got {group}"),
            ));
        }
        let in_shape = self.data_shape(node, x)?;
        if in_shape.len() != 3 {
            return Err(
                self.unsupported(node, format!("input shape {in_shape:?} is not [C, H, W]"))
            );
        }
        let pads = self.pads(node, &in_shape, [kh, kw], strides, dil)?;
        let mut conv = Conv2d::new(w, bias)
            .with_groups(group as usize)
            .with_pads(pads);
        conv.stride = strides;
        conv.dilation = dil;
        self.add(node, index, Op::Conv(conv), &[x])
    }

    /// Padding `[top, left, bottom, right]` from `pads` or `auto_pad`.
    fn pads(
        &self,
        node: &NodeProto,
        in_shape: &[usize],
        k: [usize; 2],
        s: [usize; 2],
        d: [usize; 2],
    ) -> Result<[usize; 4]> {
        let auto = get_string(node, "auto_pad")?.unwrap_or("NOTSET");
        match auto {
            "NOTSET" | "" => match get_ints(node, "pads")? {
                None => Ok([0; 4]),
                Some(p) if p.len() == 4 && p.iter().all(|&v| (0..1 << 20).contains(&v)) => {
                    Ok([p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize])
                }
                Some(p) => Err(attribute_error(
                    node,
                    "pads",
                    format!("expected 4 non-negative values, got {p:?}"),
                )),
            },
            "VALID" => Ok([0; 4]),
            "SAME_UPPER" | "SAME_LOWER" => {
                let mut out = [0usize; 4];
                for a in 0..2 {
                    let n = in_shape[1 + a];
                    let o = n.div_ceil(s[a]);
                    let span = d[a] * (k[a] - 1) + 1;
                    let total = ((o - 1) * s[a] + span).saturating_sub(n);
                    let (lo, hi) = if auto == "SAME_UPPER" {
                        (total / 2, total - total / 2)
                    } else {
                        (total - total / 2, total / 2)
                    };
                    out[a] = lo;
                    out[a + 2] = hi;
                }
                Ok(out)
            }
            other => Err(attribute_error(
                node,
                "auto_pad",
                format!("unknown value `{other}`"),
            )),
        }
    }

    fn gemm(&mut self, index: usize, node: &NodeProto, x: &str) -> Result<()> {
        if node.input.first().map(String::as_str) != Some(x) {
            return Err(self.unsupported(node, "the data must be input A (the left operand)"));
        }
        if get_int(node, "transA")?.unwrap_or(0) != 0 {
            return Err(attribute_error(
                node,
                "transA",
                "transposing the data input is not supported",
            ));
        }
        let trans_b = get_int(node, "transB")?.unwrap_or(0) != 0;
        let alpha = get_float(node, "alpha")?.unwrap_or(1.0);
        let beta = get_float(node, "beta")?.unwrap_or(1.0);
        let b = self.weight(node, 1)?;
        if b.ndim() != 2 {
            return Err(self.unsupported(
                node,
                format!("B has shape {:?}; expected a matrix", b.shape()),
            ));
        }
        let b: Array2<f32> = b.into_dimensionality().expect("checked rank 2");
        // Our weight is [outputs, inputs].
        let mut w = if trans_b { b } else { b.t().to_owned() };
        if alpha != 1.0 {
            w.mapv_inplace(|v| v * alpha);
        }
        let m = w.nrows();
        let c = match self.optional_constant(node, 2)? {
            None => None,
            Some(c) => {
                let c = c.floats();
                let v: Vec<f32> = match c.len() {
                    1 => vec![c.iter().next().copied().unwrap_or(0.0); m],
                    l if l == m && c.shape().iter().filter(|&&d| d != 1).count() <= 1 => c.iter().copied().collect(),
                    _ => return Err(self.unsupported(node, format!("C has shape {:?}; only a scalar or a vector of {m} broadcasts over the batch", c.shape()))),
                };
                Some(Array1::from(v).mapv(|v| v * beta))
            }
        };
        self.dense(index, node, x, w, c)
    }

    fn dense(
        &mut self,
        index: usize,
        node: &NodeProto,
        x: &str,
        w: Array2<f32>,
        b: Option<Array1<f32>>,
    ) -> Result<()> {
        let shape = self.data_shape(node, x)?;
        if shape.len() != 1 {
            return Err(self.unsupported(node, format!("the data input has per-sample shape {shape:?}; Gemm and MatMul take [N, K] (flatten first)")));
        }
        self.add(node, index, Op::Dense(Dense::new(w, b)), &[x])
    }

    fn matmul(&mut self, index: usize, node: &NodeProto, x: &str) -> Result<()> {
        if node.input.first().map(String::as_str) != Some(x) {
            return Err(self.unsupported(node, "the data must be the left operand"));
        }
        let b = self.weight(node, 1)?;
        if b.ndim() != 2 {
            return Err(self.unsupported(
                node,
                format!(
                    "the right operand has shape {:?}; expected a matrix",
                    b.shape()
                ),
            ));
        }
        let b: Array2<f32> = b.into_dimensionality().expect("checked rank 2");
        self.dense(index, node, x, b.t().to_owned(), None)
    }

    fn reshape(&mut self, index: usize, node: &NodeProto, x: &str) -> Result<()> {
        let target: Vec<i64> = if self.opset >= 5 && node.input.len() > 1 {
            self.constant(node, 1)?.ints()
        } else {
            get_ints(node, "shape")?
                .ok_or_else(|| attribute_error(node, "shape", "is required"))?
                .to_vec()
        };
        let in_shape = self.data_shape(node, x)?;
        let per_sample = per_sample_reshape(&target, &in_shape).map_err(|d| {
            self.unsupported(
                node,
                format!("shape {target:?} for input [N, {in_shape:?}]: {d}"),
            )
        })?;
        if per_sample.len() == 1 {
            self.add(node, index, Op::Flatten, &[x])
        } else {
            self.add(node, index, Op::Reshape(Reshape::new(per_sample)), &[x])
        }
    }

    fn softmax(&mut self, index: usize, node: &NodeProto, x: &str) -> Result<()> {
        let shape = self.data_shape(node, x)?;
        let rank = shape.len() as i64 + 1;
        let default = if self.opset >= 13 { -1 } else { 1 };
        let axis = get_int(node, "axis")?.unwrap_or(default);
        let axis = if axis < 0 { axis + rank } else { axis };
        if axis < 1 || axis >= rank {
            return Err(attribute_error(
                node,
                "axis",
                format!("softmax over axis {axis} of a rank-{rank} tensor is not supported"),
            ));
        }
        // Before opset 13 Softmax flattens the axes from `axis` on; that equals a softmax along
        // one axis only when the axes after it are all 1.
        if self.opset < 13 && shape[axis as usize..].iter().any(|&d| d != 1) {
            if axis != 1 {
                return Err(self.unsupported(node, format!("opset {} Softmax over the flattened axes {axis}.. of {shape:?} is not supported", self.opset)));
            }
            // Before opset 13 Softmax works on the sample flattened from `axis` on: flatten,
            // softmax, and reshape back.
            let out = node.output.first().cloned().unwrap_or_default();
            let name = self.node_name(node, index);
            let flat = format!("{out}/flat");
            let soft = format!("{out}/softmax");
            self.b.push_checked(Node {
                name: format!("{name}/flatten"),
                op: Op::Flatten,
                inputs: vec![x.to_string()],
                output: flat.clone(),
            })?;
            self.b.push_checked(Node {
                name: format!("{name}/softmax"),
                op: Op::Softmax(Softmax::new(0)),
                inputs: vec![flat],
                output: soft.clone(),
            })?;
            self.b.push_checked(Node {
                name,
                op: Op::Reshape(Reshape::new(shape.clone())),
                inputs: vec![soft],
                output: out,
            })?;
            return Ok(());
        }
        self.add(
            node,
            index,
            Op::Softmax(Softmax::new(axis as usize - 1)),
            &[x],
        )
    }

    fn pool(&mut self, index: usize, node: &NodeProto, x: &str) -> Result<()> {
        let ks = get_ints(node, "kernel_shape")?
            .ok_or_else(|| attribute_error(node, "kernel_shape", "is required"))?;
        if ks.len() != 2 || ks.iter().any(|&k| !(1..1 << 20).contains(&k)) {
            return Err(attribute_error(
                node,
                "kernel_shape",
                format!("expected two positive values, got {ks:?}"),
            ));
        }
        let k = [ks[0] as usize, ks[1] as usize];
        let s = pair(node, "strides", 1)?;
        if pair(node, "dilations", 1)? != [1, 1] {
            return Err(attribute_error(
                node,
                "dilations",
                "dilated pooling is not supported",
            ));
        }
        let in_shape = self.data_shape(node, x)?;
        if in_shape.len() != 3 {
            return Err(
                self.unsupported(node, format!("input shape {in_shape:?} is not [C, H, W]"))
            );
        }
        let pads = self.pads(node, &in_shape, k, s, [1, 1])?;
        let ceil = get_int(node, "ceil_mode")?.unwrap_or(0) != 0;
        let p = Pool2d::new(k, s)
            .with_pads(pads)
            .with_rounding(if ceil {
                PoolRounding::CeilClip
            } else {
                PoolRounding::Floor
            })
            .with_count_include_pad(get_int(node, "count_include_pad")?.unwrap_or(0) != 0);
        let op = if node.op_type() == "MaxPool" {
            if node.output.len() > 1 && !node.output[1].is_empty() {
                return Err(
                    self.unsupported(node, "the Indices output of MaxPool is not supported")
                );
            }
            Op::MaxPool(p)
        } else {
            Op::AvgPool(p)
        };
        self.add(node, index, op, &[x])
    }

    fn batch_norm(&mut self, index: usize, node: &NodeProto, x: &str) -> Result<()> {
        if node.output.iter().skip(1).any(|o| !o.is_empty()) {
            return Err(self.unsupported(
                node,
                "training-mode outputs (running mean/variance) are not supported",
            ));
        }
        let get = |i: usize| -> Result<Vec<f32>> {
            Ok(self.constant(node, i)?.floats().iter().copied().collect())
        };
        let (gamma, beta, mean, var) = (get(1)?, get(2)?, get(3)?, get(4)?);
        let eps = get_float(node, "epsilon")?.unwrap_or(1e-5);
        let nref = crate::NodeRef::new(node.name(), "BatchNormalization");
        let affine = Affine::from_batch_norm(&nref, &gamma, &beta, &mean, &var, eps)?;
        self.add(node, index, Op::Affine(affine), &[x])
    }

    fn pad(&mut self, index: usize, node: &NodeProto, x: &str) -> Result<()> {
        let mode = get_string(node, "mode")?.unwrap_or("constant");
        if mode != "constant" {
            return Err(attribute_error(
                node,
                "mode",
                format!("only constant padding is supported, got `{mode}`"),
            ));
        }
        let in_shape = self.data_shape(node, x)?;
        let rank = in_shape.len() + 1;
        let (pads, value) = if self.opset >= 11 {
            let pads = self.constant(node, 1)?.ints();
            let value = match self.optional_constant(node, 2)? {
                Some(v) => v.floats().iter().next().copied().unwrap_or(0.0),
                None => 0.0,
            };
            // Opset 18: optional axes input; pads then cover only those axes.
            let pads = match self.optional_constant(node, 3)? {
                None => pads,
                Some(axes) => {
                    let axes = axes.ints();
                    if pads.len() != 2 * axes.len() {
                        return Err(self.unsupported(
                            node,
                            format!("{} pads for {} axes", pads.len(), axes.len()),
                        ));
                    }
                    let mut full = vec![0i64; 2 * rank];
                    for (j, &a) in axes.iter().enumerate() {
                        let a = if a < 0 { a + rank as i64 } else { a };
                        if a < 0 || a >= rank as i64 {
                            return Err(self.unsupported(node, format!("axis {a} out of range")));
                        }
                        full[a as usize] = pads[j];
                        full[a as usize + rank] = pads[j + axes.len()];
                    }
                    full
                }
            };
            (pads, value)
        } else {
            let pads = get_ints(node, "pads")?
                .ok_or_else(|| attribute_error(node, "pads", "is required"))?
                .to_vec();
            (pads, get_float(node, "value")?.unwrap_or(0.0))
        };
        if pads.len() != 2 * rank {
            return Err(
                self.unsupported(node, format!("{} pads for a rank-{rank} input", pads.len()))
            );
        }
        if pads.iter().any(|&p| !(0..1 << 20).contains(&p)) {
            return Err(self.unsupported(
                node,
                format!("pads {pads:?}: negative (cropping) or huge pads are not supported"),
            ));
        }
        if pads[0] != 0 || pads[rank] != 0 {
            return Err(self.unsupported(node, "padding the batch axis is not supported"));
        }
        let begin = pads[1..rank].iter().map(|&p| p as usize).collect();
        let end = pads[rank + 1..].iter().map(|&p| p as usize).collect();
        self.add(node, index, Op::Pad(Pad::new(begin, end, value)), &[x])
    }

    /// Add/Sum/Mul/Sub/Div: of data tensors, or of data and a constant (an affine map).
    fn arith(&mut self, index: usize, node: &NodeProto) -> Result<()> {
        let op = node.op_type();
        let ins: Vec<&str> = node.input.iter().map(String::as_str).collect();
        let consts: Vec<usize> = (0..ins.len()).filter(|&i| self.is_const(ins[i])).collect();
        if consts.is_empty() {
            return match op {
                "Add" | "Sum" => self.add(node, index, Op::Add, &ins),
                "Mul" => self.add(node, index, Op::Mul, &ins),
                _ => {
                    Err(self
                        .unsupported(node, format!("{op} of two data tensors is not supported")))
                }
            };
        }
        if consts.len() == 1 && ins.len() > 2 && matches!(op, "Add" | "Sum") {
            // Sum of data tensors plus one constant: a sum node, then the constant as a shift.
            let data: Vec<String> = (0..ins.len())
                .filter(|&i| i != consts[0])
                .map(|i| ins[i].to_string())
                .collect();
            let sum_out = format!("{}/sum", node.output.first().cloned().unwrap_or_default());
            let name = self.node_name(node, index);
            self.b.push_checked(Node {
                name: format!("{name}/sum"),
                op: Op::Add,
                inputs: data,
                output: sum_out.clone(),
            })?;
            let mut rest = node.clone();
            rest.input = vec![sum_out, ins[consts[0]].to_string()];
            rest.op_type = Some("Add".into());
            return self.arith(index, &rest);
        }
        if ins.len() != 2 || consts.len() != 1 {
            return Err(self.unsupported(
                node,
                "only binary operations with one constant operand are supported",
            ));
        }
        let ci = consts[0];
        let x = ins[1 - ci];
        let shape = self.data_shape(node, x)?;
        let c = self.constant(node, ci)?.floats();
        let total: usize = shape.iter().product();
        let full = c.len() == total && c.len() > 1 && {
            // A constant of the sample's full shape (with or without a batch axis of 1).
            let dims: Vec<usize> = c.shape().iter().copied().skip_while(|&d| d == 1).collect();
            let want: Vec<usize> = shape.iter().copied().skip_while(|&d| d == 1).collect();
            dims == want
        };
        let per_channel = if full {
            Some(true)
        } else {
            broadcast_per_channel(c.shape(), &shape)
        };
        let per_channel = per_channel.ok_or_else(|| {
            self.unsupported(node, format!("the constant of shape {:?} does not broadcast per channel (or as a scalar) over [N, {shape:?}]", c.shape()))
        })?;
        let ch = if full { total } else { shape[0] };
        let vals: Vec<f32> = if per_channel {
            c.iter().copied().collect()
        } else {
            vec![c.iter().next().copied().unwrap_or(0.0); ch]
        };
        let (scale, shift): (Vec<f32>, Vec<f32>) = match (op, ci) {
            ("Add" | "Sum", _) => (vec![1.0; ch], vals),
            ("Mul", _) => (vals, vec![0.0; ch]),
            ("Sub", 1) => (vec![1.0; ch], vals.iter().map(|v| -v).collect()),
            ("Sub", _) => (vec![-1.0; ch], vals),
            ("Div", 1) => {
                if vals.contains(&0.0) {
                    return Err(self.unsupported(node, "division by a constant that contains 0"));
                }
                (vals.iter().map(|v| 1.0 / v).collect(), vec![0.0; ch])
            }
            _ => return Err(self.unsupported(node, "dividing a constant by data is not supported")),
        };
        let affine = Affine::new(Array1::from(scale), Array1::from(shift));
        self.add(node, index, Op::Affine(affine), &[x])
    }

    /// Evaluate a node whose inputs are all constants.
    /// Takes the `shape` of a constant that folding is about to create out of the fold budget,
    /// or fails (also for shapes that ndarray cannot represent, e.g. `[0, 2³⁰, 2³⁰, 2³⁰]`).
    /// `weight` is what one value costs: 1 for floats, 2 for (8-byte) integers.
    fn claim(&self, node: &NodeProto, shape: &[usize], weight: usize) -> Result<()> {
        let nonzero: Vec<usize> = shape.iter().copied().filter(|&d| d != 0).collect();
        let count = super::checked_product(shape).and_then(|c| c.checked_mul(weight));
        let left = self.fold_budget.get();
        match (super::checked_product(&nonzero), count) {
            (Some(n), Some(count)) if n <= isize::MAX as usize && count <= left => {
                self.fold_budget.set(left - count);
                Ok(())
            }
            _ => Err(self.unsupported(
                node,
                format!(
                    "folding would create a constant of shape {shape:?}; at most \
                     {MAX_FOLDED_VALUES} values may be created by folding"
                ),
            )),
        }
    }

    fn fold(&self, node: &NodeProto) -> Result<Const> {
        let op = node.op_type();
        let input = |i: usize| self.constant(node, i);
        match op {
            "Constant" => {
                if let Some(t) = get_tensor(node, "value")? {
                    return tensor_const(t, self.file);
                }
                if let Some(v) = get_float(node, "value_float")? {
                    return Ok(Const::F(ArrayD::from_elem(IxDyn(&[]), v)));
                }
                if let Some(v) = get_floats(node, "value_floats")? {
                    return Ok(Const::F(
                        ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.to_vec()).expect("1-D"),
                    ));
                }
                if let Some(v) = get_int(node, "value_int")? {
                    return Ok(Const::I(vec![v], vec![]));
                }
                if let Some(v) = get_ints(node, "value_ints")? {
                    return Ok(Const::I(v.to_vec(), vec![v.len()]));
                }
                Err(self.unsupported(node, "Constant without a supported value attribute"))
            }
            "ConstantOfShape" => {
                let dims = input(0)?.ints();
                let shape: Vec<usize> = dims
                    .iter()
                    .map(|&d| usize::try_from(d).ok().filter(|&d| d < 1 << 31))
                    .collect::<Option<_>>()
                    .ok_or_else(|| self.unsupported(node, format!("invalid shape {dims:?}")))?;
                let value = get_tensor(node, "value")?;
                // Integer constants are `Vec<i64>` (see `tensor_const`).
                let integer = value.is_some_and(|t| {
                    matches!(
                        DataType::try_from(t.data_type()).unwrap_or(DataType::Undefined),
                        DataType::Int64
                            | DataType::Int32
                            | DataType::Int8
                            | DataType::Uint8
                            | DataType::Bool
                    )
                });
                self.claim(node, &shape, if integer { 2 } else { 1 })?;
                let count = super::checked_product(&shape).unwrap_or_default();
                match value {
                    Some(t) => match tensor_const(t, self.file)? {
                        Const::F(v) => Ok(Const::F(ArrayD::from_elem(
                            IxDyn(&shape),
                            v.iter().next().copied().unwrap_or(0.0),
                        ))),
                        Const::I(v, _) => Ok(Const::I(
                            vec![v.first().copied().unwrap_or(0); count],
                            shape,
                        )),
                    },
                    None => Ok(Const::F(ArrayD::zeros(IxDyn(&shape)))),
                }
            }
            "Identity" | "Dropout" => Ok(input(0)?.clone()),
            "Cast" => {
                let to = get_int(node, "to")?.unwrap_or(DataType::Float as i64);
                let v = input(0)?;
                if to == DataType::Float as i64 || to == DataType::Double as i64 {
                    Ok(Const::F(v.floats()))
                } else {
                    Ok(Const::I(v.ints(), v.shape().to_vec()))
                }
            }
            "Reshape" | "Unsqueeze" | "Squeeze" | "Flatten" => {
                let v = input(0)?;
                let n = v.shape().iter().product::<usize>();
                let shape: Vec<usize> = match op {
                    "Reshape" => {
                        let t = if node.input.len() > 1 {
                            input(1)?.ints()
                        } else {
                            get_ints(node, "shape")?.unwrap_or(&[]).to_vec()
                        };
                        resolve_shape(&t, v.shape()).map_err(|d| self.unsupported(node, d))?
                    }
                    "Flatten" => {
                        let axis = get_int(node, "axis")?.unwrap_or(1).max(0) as usize;
                        let axis = axis.min(v.shape().len());
                        vec![
                            v.shape()[..axis].iter().product(),
                            v.shape()[axis..].iter().product(),
                        ]
                    }
                    _ => {
                        let axes = if node.input.len() > 1 {
                            input(1)?.ints()
                        } else {
                            get_ints(node, "axes")?.unwrap_or(&[]).to_vec()
                        };
                        let mut s = v.shape().to_vec();
                        if op == "Squeeze" {
                            if axes.is_empty() {
                                s.retain(|&d| d != 1);
                            } else {
                                let r = s.len() as i64;
                                let mut ax: Vec<usize> = axes
                                    .iter()
                                    .map(|&a| (if a < 0 { a + r } else { a }) as usize)
                                    .collect();
                                ax.sort_unstable();
                                for a in ax.into_iter().rev() {
                                    if a < s.len() {
                                        s.remove(a);
                                    }
                                }
                            }
                        } else {
                            let r = (s.len() + axes.len()) as i64;
                            let mut ax: Vec<usize> = axes
                                .iter()
                                .map(|&a| (if a < 0 { a + r } else { a }) as usize)
                                .collect();
                            ax.sort_unstable();
                            for a in ax {
                                s.insert(a.min(s.len()), 1);
                            }
                        }
                        s
                    }
                };
                if shape.iter().product::<usize>() != n {
                    return Err(self.unsupported(
                        node,
                        format!("cannot reshape {:?} to {shape:?}", v.shape()),
                    ));
                }
                Ok(match v {
                    Const::F(a) => Const::F(
                        a.clone()
                            .into_shape_with_order(IxDyn(&shape))
                            .map_err(|e| self.unsupported(node, e))?,
                    ),
                    Const::I(d, _) => Const::I(d.clone(), shape),
                })
            }
            "Transpose" => {
                let v = input(0)?.floats();
                let perm: Vec<usize> = match get_ints(node, "perm")? {
                    Some(p) => p.iter().map(|&a| a as usize).collect(),
                    None => (0..v.ndim()).rev().collect(),
                };
                let mut sorted = perm.clone();
                sorted.sort_unstable();
                if sorted != (0..v.ndim()).collect::<Vec<_>>() {
                    return Err(attribute_error(
                        node,
                        "perm",
                        format!("{perm:?} is not a permutation of the axes"),
                    ));
                }
                Ok(Const::F(
                    v.permuted_axes(IxDyn(&perm))
                        .as_standard_layout()
                        .into_owned(),
                ))
            }
            "Add" | "Sub" | "Mul" | "Div" => {
                let (a, b) = (input(0)?.floats(), input(1)?.floats());
                let shape = broadcast_shape(a.shape(), b.shape()).ok_or_else(|| {
                    self.unsupported(
                        node,
                        format!(
                            "shapes {:?} and {:?} do not broadcast",
                            a.shape(),
                            b.shape()
                        ),
                    )
                })?;
                self.claim(node, &shape, 1)?;
                let not_broadcast = || self.unsupported(node, "shapes do not broadcast");
                let a = a
                    .broadcast(IxDyn(&shape))
                    .ok_or_else(not_broadcast)?
                    .to_owned();
                let b = b.broadcast(IxDyn(&shape)).ok_or_else(not_broadcast)?;
                let mut out = a;
                out.zip_mut_with(&b, |x, &y| {
                    *x = match op {
                        "Add" => *x + y,
                        "Sub" => *x - y,
                        "Mul" => *x * y,
                        _ => *x / y,
                    }
                });
                Ok(Const::F(out))
            }
            "Sqrt" => Ok(Const::F(input(0)?.floats().mapv(f32::sqrt))),
            "Reciprocal" => Ok(Const::F(input(0)?.floats().mapv(|v| 1.0 / v))),
            "Neg" => Ok(Const::F(input(0)?.floats().mapv(|v| -v))),
            _ => {
                Err(self.unsupported(node, format!("operator {op} on constants cannot be folded")))
            }
        }
    }
}

fn get_floats<'a>(node: &'a NodeProto, name: &str) -> Result<Option<&'a [f32]>> {
    super::onnx_model::get_floats(node, name)
}

/// A two-element integer attribute (`strides`, `dilations`), with a default for both.
fn pair(node: &NodeProto, name: &str, default: usize) -> Result<[usize; 2]> {
    match get_ints(node, name)? {
        None => Ok([default; 2]),
        Some(v) if v.len() == 2 && v.iter().all(|&x| (1..1 << 20).contains(&x)) => {
            Ok([v[0] as usize, v[1] as usize])
        }
        Some(v) => Err(attribute_error(
            node,
            name,
            format!("expected two positive values, got {v:?}"),
        )),
    }
}

/// Numpy-style broadcast of two shapes.
fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let get = |s: &[usize], i: usize| {
        if i + s.len() >= n {
            s[i + s.len() - n]
        } else {
            1
        }
    };
    (0..n)
        .map(|i| match (get(a, i), get(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

/// Whether a constant of shape `c` broadcasts over `[N, per_sample…]` as a scalar
/// (`Some(false)`) or per channel, i.e. along per-sample axis 0 only (`Some(true)`).
fn broadcast_per_channel(c: &[usize], per_sample: &[usize]) -> Option<bool> {
    let count: usize = c.iter().product();
    if count == 1 {
        return Some(false);
    }
    let rank = per_sample.len() + 1;
    if c.len() > rank {
        return None;
    }
    // Align right: the constant's axis for the channel is rank − 1 − (per_sample.len() − 1)…
    let offset = rank - c.len();
    for (j, &d) in c.iter().enumerate() {
        let axis = offset + j; // full-tensor axis
        let want = if axis == 1 { per_sample[0] } else { 1 };
        if d != want && !(axis == 0 && d == 1) {
            return None;
        }
    }
    if offset > 1 {
        return None;
    }
    Some(true)
}

/// Resolve an ONNX Reshape target (0 copies, −1 infers) against a full shape.
fn resolve_shape(target: &[i64], input: &[usize]) -> std::result::Result<Vec<usize>, String> {
    let total: usize = input.iter().product();
    let mut out = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &t) in target.iter().enumerate() {
        match t {
            0 => out.push(*input.get(i).ok_or("0 refers to a missing axis")?),
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            t if t > 0 && t < 1 << 31 => out.push(t as usize),
            _ => return Err(format!("invalid target dimension {t}")),
        }
    }
    if let Some(i) = infer {
        let known: usize = out.iter().product();
        if known == 0 || total % known != 0 {
            return Err("the size cannot be inferred".into());
        }
        out[i] = total / known;
    }
    if out.iter().product::<usize>() != total {
        return Err(format!("{total} elements do not fit"));
    }
    Ok(out)
}

/// The per-sample shape of a data Reshape: the target's first dimension is the batch
/// (0, −1 or the declared batch size 1).
fn per_sample_reshape(
    target: &[i64],
    per_sample: &[usize],
) -> std::result::Result<Vec<usize>, String> {
    let Some((&first, rest)) = target.split_first() else {
        return Err("empty target shape".into());
    };
    if !(-1..=1).contains(&first) {
        return Err(format!(
            "the first dimension {first} must keep the batch (0, -1 or 1)"
        ));
    }
    if first == -1 && rest.contains(&-1) {
        return Err("two dimensions to infer".into());
    }
    // 0 copies per-sample axis i − 1 of the input.
    let mut with_batch = vec![1usize];
    with_batch.extend_from_slice(per_sample);
    let rest: Vec<i64> = rest.to_vec();
    let mut probe = vec![1i64];
    probe.extend(rest);
    let out = resolve_shape(&probe, &with_batch)?;
    Ok(out[1..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasts() {
        assert_eq!(
            broadcast_per_channel(&[1, 32, 1, 1], &[32, 5, 5]),
            Some(true)
        );
        assert_eq!(broadcast_per_channel(&[32, 1, 1], &[32, 5, 5]), Some(true));
        assert_eq!(broadcast_per_channel(&[1], &[32, 5, 5]), Some(false));
        assert_eq!(broadcast_per_channel(&[], &[32, 5, 5]), Some(false));
        assert_eq!(broadcast_per_channel(&[5], &[32, 5, 5]), None);
        assert_eq!(broadcast_per_channel(&[32, 5, 5], &[32, 5, 5]), None);
        assert_eq!(broadcast_per_channel(&[1, 16], &[16]), Some(true));
        assert_eq!(broadcast_shape(&[2, 1], &[3]), Some(vec![2, 3]));
    }

    #[test]
    fn reshape_targets() {
        assert_eq!(per_sample_reshape(&[0, -1], &[3, 4, 5]).unwrap(), vec![60]);
        assert_eq!(
            per_sample_reshape(&[1, 12, 5], &[3, 4, 5]).unwrap(),
            vec![12, 5]
        );
        assert_eq!(per_sample_reshape(&[-1, 60], &[3, 4, 5]).unwrap(), vec![60]);
        assert!(per_sample_reshape(&[7, -1], &[3, 4, 5]).is_err());
        assert!(per_sample_reshape(&[0, 7], &[3, 4, 5]).is_err());
    }
}
