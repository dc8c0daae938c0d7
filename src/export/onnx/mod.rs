//! Writing a [`Graph`] as an ONNX model: opset 13, IR version 7, producer `lrp`.
//!
//! The model has the graph's inputs and outputs with a symbolic batch dimension `N` followed
//! by their per-sample dimensions, every weight as an initializer (`raw_data`, little-endian
//! `f32`), and one or more standard ONNX nodes per node of the graph. Node names are our node
//! names and tensor names our tensor names; helper nodes and tensors that the translation
//! needs are named after the node they belong to (`fc6/flatten`, `bn1/scale`, ...), with a
//! suffix if that name is taken. The files read back with [`crate::import::onnx`] and run in
//! onnxruntime (checked by `tests/onnx_export.rs`).
//!
//! | [`Op`] | ONNX |
//! |---|---|
//! | `Conv` | `Conv` (`pads` `[top, left, bottom, right]`, `strides`, `dilations`, `group`) |
//! | `ConvTranspose` | `ConvTranspose` (`pads`, `output_padding`, `strides`, `dilations`, `group`) |
//! | `Dense` | `Gemm` with `transB = 1`, after a `Flatten` when the input is not 1-D per sample; on the last axis of a higher-rank input `MatMul` by `Wᵀ`, then `Add` of the bias |
//! | `Relu`, `Identity`, `Dropout` | same (`Dropout` in inference mode) |
//! | `MaxPool`, `AvgPool` | `MaxPool`, `AveragePool`: `Floor` → `ceil_mode = 0`, `CeilClip` → `ceil_mode = 1` |
//! | `GlobalAvgPool` | `GlobalAveragePool` |
//! | `Lrn` | `LRN` (`size`, `alpha`, `beta`, `bias` = `k`) |
//! | `Concat`, `Softmax` | same, `axis` = per-sample axis + 1 |
//! | `Add` | `Add` (two inputs) or `Sum` (more) |
//! | `Mul` | `Mul`, chained for more than two inputs |
//! | `Affine` | `Mul` then `Add` by constants of shape `[C, 1, …]` (per channel) or the sample's shape (element-wise) |
//! | `Pad` | `Pad` (`mode = constant`, pads and value as initializers); with per-channel values a zero `Pad`, then `Add` of a constant holding the values on the padding |
//! | `Flatten` | `Flatten` (`axis = 1`) |
//! | `Reshape` | `Reshape` to `[-1, per-sample dims…]` |
//! | `Resize` | `Resize` (opset 13: empty `roi`, scales `[1, 1, s_h, s_w]` as an initializer, or sizes computed as `Concat(Slice(Shape(x), 0, 2), [H', W'])`; `mode`, `nearest_mode`, `coordinate_transformation_mode`) |
//! | `Transpose` | `Transpose` with `perm = [0, per-sample perm + 1…]` |
//! | `Slice` | `Slice` with `starts`, `ends`, `axes` (+ 1) and `steps` as initializers |
//! | `Sigmoid`, `Tanh` | same |
//! | `Clip` | `Clip` with `min`/`max` as scalar initializers (an infinite bound is left out) |
//! | `HardSigmoid`, `LeakyRelu`, `Elu` | same, with `alpha` (and `beta`) |
//! | `PRelu` | `PRelu` with a slope of shape `[C, 1, …]` (per channel) or `[1]` |
//! | `HardSwish` | `Mul(x, HardSigmoid(x))` with `alpha = 1/6`, `beta = 0.5` (HardSwish is opset 14) |
//! | `Silu` | `Mul(x, Sigmoid(x))` |
//! | `Gelu` | spelled out (Gelu is opset 20): `Div`, `Erf`, `Add`, `Mul`, `Mul`, or the tanh form with `Mul`, `Add`, `Tanh` |
//!
//! The spelled-out forms are the ones PyTorch writes at opset 13; the ONNX importer fuses them
//! back into one node.
//! | `LayerNorm` | spelled out as opset 13 has no `LayerNormalization`: `ReduceMean`, `Sub`, `Pow` 2, `ReduceMean`, `Add` ε, `Sqrt`, `Div`, `Mul` γ, `Add` β (as PyTorch's TorchScript exporter writes `nn.LayerNorm`; the importer fuses it back into one node) |
//!
//! [`PoolRounding::Ceil`] (plain ceil, the last window may start in the padding) has no
//! opset-13 equivalent: it is exported as `ceil_mode = 1` when that gives the same output size
//! for the node's input, and is an [`Error::Export`] naming the node otherwise.
//!
//! ```
//! use lrp::export::onnx;
//! use lrp::ops::{Dense, Op};
//! use lrp::GraphBuilder;
//! use ndarray::{array, ArrayD, IxDyn};
//! let mut b = GraphBuilder::new();
//! b.input("x", &[2]);
//! let fc = Dense::new(array![[1.0, -1.0], [2.0, 0.0]], Some(array![0.5, 0.0]));
//! b.add("fc", Op::Dense(fc), &["x"]);
//! b.add("relu", Op::Relu, &["fc"]);
//! let g = b.build(&["relu"]).unwrap();
//!
//! let model = onnx::to_model(&g).unwrap();
//! assert_eq!(model.opset_import[0].version, Some(13));
//! assert_eq!(model.graph.as_ref().unwrap().node[0].op_type(), "Gemm");
//!
//! // The bytes read back with the importer and compute the same.
//! let bytes = onnx::to_bytes(&g).unwrap();
//! let back = lrp::import::onnx::from_bytes(&bytes, "fc.onnx").unwrap();
//! let x = ArrayD::from_shape_vec(IxDyn(&[1, 2]), vec![1.0, 3.0]).unwrap();
//! assert_eq!(back.forward(&x).unwrap(), g.forward(&x).unwrap());
//! ```

use crate::error::{Error, Result};
use crate::graph::{Graph, Node};
use crate::import::proto::onnx::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};
use crate::ops::gelu::GeluApprox;
use crate::ops::resize::{Coordinates, Interpolation, Nearest, ResizeSize};
use crate::ops::{
    Affine, Conv2d, ConvTranspose2d, Dense, LayerNorm, Op, Pad, Pool2d, PoolRounding, Resize,
    Tensor,
};
use ndarray::IxDyn;
use prost::Message;
use std::collections::HashSet;
use std::path::Path;

mod layers;

/// The opset of the default domain that exported models import.
pub const OPSET: i64 = 13;

/// The IR version of exported models.
pub const IR_VERSION: i64 = 7;

/// The `producer_name` of exported models.
pub const PRODUCER: &str = "lrp";

/// The name of the symbolic batch dimension of inputs and outputs.
pub const BATCH_DIM: &str = "N";

const FORMAT: &str = "ONNX opset 13";

/// The graph as an ONNX `ModelProto` (see the [module documentation](self)).
///
/// Errors with [`Error::Export`], naming the node, when a node cannot be expressed in opset 13.
pub fn to_model(graph: &Graph) -> Result<ModelProto> {
    let mut ex = Exporter::new(graph);
    for node in graph.nodes() {
        ex.node(node)?;
    }
    let info = |ids: &[usize]| -> Vec<ValueInfoProto> {
        ids.iter()
            .map(|&t| {
                let t = &graph.tensors()[t];
                value_info(&t.name, &t.shape)
            })
            .collect()
    };
    let name = if graph.name().is_empty() {
        PRODUCER.to_string()
    } else {
        graph.name().to_string()
    };
    Ok(ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET),
        }],
        producer_name: Some(PRODUCER.into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        graph: Some(GraphProto {
            node: ex.nodes,
            name: Some(name),
            initializer: ex.inits,
            input: info(graph.input_ids()),
            output: info(graph.output_ids()),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// The graph as the bytes of an ONNX file (see [`to_model`]).
pub fn to_bytes(graph: &Graph) -> Result<Vec<u8>> {
    Ok(to_model(graph)?.encode_to_vec())
}

/// Write the graph to an ONNX file at `path` (see [`to_model`]); write failures are
/// [`Error::Write`].
pub fn save(graph: &Graph, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let bytes = to_bytes(graph)?;
    std::fs::write(path, bytes).map_err(|source| Error::Write {
        file: path.display().to_string(),
        source,
    })
}

/// A float tensor value with shape `[N, per_sample…]`, `N` symbolic.
fn value_info(name: &str, per_sample: &[usize]) -> ValueInfoProto {
    use tensor_shape_proto::{dimension::Value, Dimension};
    let mut dim = vec![Dimension {
        value: Some(Value::DimParam(BATCH_DIM.into())),
        denotation: None,
    }];
    dim.extend(per_sample.iter().map(|&d| Dimension {
        value: Some(Value::DimValue(d as i64)),
        denotation: None,
    }));
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

fn attr(name: &str, kind: AttributeType) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        i: Some(v),
        ..attr(name, AttributeType::Int)
    }
}

fn attr_ints(name: &str, v: &[usize]) -> AttributeProto {
    AttributeProto {
        ints: v.iter().map(|&x| x as i64).collect(),
        ..attr(name, AttributeType::Ints)
    }
}

fn attr_float(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        f: Some(v),
        ..attr(name, AttributeType::Float)
    }
}

fn attr_string(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        s: Some(v.as_bytes().to_vec()),
        ..attr(name, AttributeType::String)
    }
}

/// State of one export: the nodes and initializers written so far and the names in use.
struct Exporter<'g> {
    graph: &'g Graph,
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    tensor_names: HashSet<String>,
    node_names: HashSet<String>,
}

/// `base`, or `base_1`, `base_2`, … if taken; the result is marked as taken.
fn fresh(used: &mut HashSet<String>, base: String) -> String {
    let mut name = base.clone();
    let mut k = 0;
    while used.contains(&name) {
        k += 1;
        name = format!("{base}_{k}");
    }
    used.insert(name.clone());
    name
}

impl<'g> Exporter<'g> {
    fn new(graph: &'g Graph) -> Self {
        Exporter {
            graph,
            nodes: Vec::with_capacity(graph.nodes().len()),
            inits: Vec::new(),
            tensor_names: graph.tensors().iter().map(|t| t.name.clone()).collect(),
            node_names: graph.nodes().iter().map(|n| n.name.clone()).collect(),
        }
    }

    fn shape(&self, tensor: &str) -> &'g [usize] {
        self.graph
            .shape(tensor)
            .expect("every tensor a node reads or writes has a shape")
    }

    /// A float initializer named after `base`; returns its name.
    fn init_f32(&mut self, base: String, dims: &[usize], data: &[f32]) -> String {
        let name = fresh(&mut self.tensor_names, base);
        let raw: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.inits.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: Some(DataType::Float as i32),
            name: Some(name.clone()),
            raw_data: Some(raw.into()),
            ..Default::default()
        });
        name
    }

    /// A 1-D int64 initializer named after `base`; returns its name.
    fn init_i64(&mut self, base: String, data: &[i64]) -> String {
        let name = fresh(&mut self.tensor_names, base);
        let raw: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.inits.push(TensorProto {
            dims: vec![data.len() as i64],
            data_type: Some(DataType::Int64 as i32),
            name: Some(name.clone()),
            raw_data: Some(raw.into()),
            ..Default::default()
        });
        name
    }

    fn push(
        &mut self,
        name: String,
        op_type: &str,
        inputs: Vec<String>,
        output: String,
        attribute: Vec<AttributeProto>,
    ) {
        self.nodes.push(NodeProto {
            input: inputs,
            output: vec![output],
            name: Some(name),
            op_type: Some(op_type.into()),
            attribute,
            ..Default::default()
        });
    }

    /// A helper node and its output tensor, both named after node `n`; returns the output.
    fn push_helper(
        &mut self,
        n: &Node,
        suffix: &str,
        op_type: &str,
        inputs: Vec<String>,
        attribute: Vec<AttributeProto>,
    ) -> String {
        let name = fresh(&mut self.node_names, format!("{}/{suffix}", n.name));
        let out = fresh(&mut self.tensor_names, format!("{}/{suffix}", n.output));
        self.push(name, op_type, inputs, out.clone(), attribute);
        out
    }

    /// `ceil_mode` for a pooling node, or an error when its rounding has no ONNX equivalent.
    fn ceil_mode(&self, n: &Node, p: &Pool2d) -> Result<i64> {
        match p.rounding {
            PoolRounding::Floor => Ok(0),
            PoolRounding::CeilClip => Ok(1),
            PoolRounding::Ceil => {
                let input = self.shape(&n.inputs[0]);
                let want = self.shape(&n.output);
                let clipped = Pool2d {
                    rounding: PoolRounding::CeilClip,
                    ..p.clone()
                }
                .output_shape(&n.node_ref(), input)?;
                if clipped == want {
                    Ok(1)
                } else {
                    Err(Error::Export {
                        node: n.node_ref(),
                        format: FORMAT,
                        detail: format!(
                            "ceil rounding without the clip rule gives {want:?} for input {input:?}, \
                             but ONNX ceil_mode = 1 drops windows that start in the padding and gives \
                             {clipped:?} (kernel {:?}, stride {:?}, pads {:?})",
                            p.kernel, p.stride, p.pads
                        ),
                    })
                }
            }
        }
    }

    fn node(&mut self, n: &Node) -> Result<()> {
        let x = n.inputs[0].clone();
        let name = n.name.clone();
        let out = n.output.clone();
        match &n.op {
            Op::Conv(c) => self.conv(n, c)?,
            Op::ConvTranspose(t) => self.conv_transpose(n, t)?,
            Op::Dense(d) => self.dense(n, d)?,
            Op::Relu => self.push(name, "Relu", vec![x], out, vec![]),
            Op::MaxPool(p) | Op::AvgPool(p) => {
                let mut attrs = vec![
                    attr_ints("kernel_shape", &p.kernel),
                    attr_ints("strides", &p.stride),
                    attr_ints("pads", &p.pads),
                    attr_int("ceil_mode", self.ceil_mode(n, p)?),
                ];
                let op_type = if matches!(n.op, Op::MaxPool(_)) {
                    "MaxPool"
                } else {
                    attrs.push(attr_int("count_include_pad", p.count_include_pad as i64));
                    "AveragePool"
                };
                self.push(name, op_type, vec![x], out, attrs);
            }
            Op::GlobalAvgPool => self.push(name, "GlobalAveragePool", vec![x], out, vec![]),
            Op::Lrn(l) => {
                let attrs = vec![
                    attr_int("size", l.size as i64),
                    attr_float("alpha", l.alpha),
                    attr_float("beta", l.beta),
                    attr_float("bias", l.k),
                ];
                self.push(name, "LRN", vec![x], out, attrs);
            }
            Op::MatMul => self.push(name, "MatMul", n.inputs.clone(), out, vec![]),
            Op::ConstConcat(_) => {
                return Err(Error::Export {
                    node: n.node_ref(),
                    format: FORMAT,
                    detail: "a concatenation with constants (class token) is not exported yet"
                        .into(),
                })
            }
            Op::Concat(c) => {
                let attrs = vec![attr_int("axis", c.axis as i64 + 1)];
                self.push(name, "Concat", n.inputs.clone(), out, attrs);
            }
            Op::Add => {
                let op_type = if n.inputs.len() == 2 { "Add" } else { "Sum" };
                self.push(name, op_type, n.inputs.clone(), out, vec![]);
            }
            Op::Mul => {
                // ONNX Mul is binary: ((x0 · x1) · x2) · …
                let mut acc = x;
                for (k, t) in n.inputs.iter().enumerate().skip(1).take(n.inputs.len() - 2) {
                    let suffix = format!("mul{k}");
                    acc = self.push_helper(n, &suffix, "Mul", vec![acc, t.clone()], vec![]);
                }
                let last = n.inputs.last().expect("Mul has inputs").clone();
                self.push(name, "Mul", vec![acc, last], out, vec![]);
            }
            Op::Affine(a) => self.affine(n, a)?,
            Op::Pad(p) => self.pad(n, p)?,
            Op::Flatten => self.push(name, "Flatten", vec![x], out, vec![attr_int("axis", 1)]),
            Op::Reshape(r) => {
                // -1 for the batch: ONNX's 0 would copy the batch too, but -1 also works for
                // any batch size and leaves no doubt about the per-sample dimensions.
                let mut target = vec![-1i64];
                target.extend(r.shape.iter().map(|&d| d as i64));
                let target = self.init_i64(format!("{name}/shape"), &target);
                self.push(name, "Reshape", vec![x, target], out, vec![]);
            }
            Op::Dropout => self.push(name, "Dropout", vec![x], out, vec![]),
            Op::Softmax(s) => {
                let attrs = vec![attr_int("axis", s.axis as i64 + 1)];
                self.push(name, "Softmax", vec![x], out, attrs);
            }
            Op::Identity => self.push(name, "Identity", vec![x], out, vec![]),
            Op::Sigmoid => self.push(name, "Sigmoid", vec![x], out, vec![]),
            Op::Tanh => self.push(name, "Tanh", vec![x], out, vec![]),
            Op::Clip(c) => {
                // Infinite bounds become absent inputs (empty names; trailing ones dropped).
                let mut inputs = vec![x];
                for (bound, v, inf) in [
                    ("min", c.min, f32::NEG_INFINITY),
                    ("max", c.max, f32::INFINITY),
                ] {
                    inputs.push(if v == inf {
                        String::new()
                    } else {
                        self.init_f32(format!("{name}/{bound}"), &[], &[v])
                    });
                }
                while inputs.last().is_some_and(String::is_empty) {
                    inputs.pop();
                }
                self.push(name, "Clip", inputs, out, vec![]);
            }
            Op::HardSigmoid(h) => {
                let attrs = vec![attr_float("alpha", h.alpha), attr_float("beta", h.beta)];
                self.push(name, "HardSigmoid", vec![x], out, attrs);
            }
            Op::HardSwish => {
                // HardSwish is opset 14: x · HardSigmoid(x) with α = 1/6, β = 1/2.
                let attrs = vec![attr_float("alpha", 1.0 / 6.0), attr_float("beta", 0.5)];
                let gate = self.push_helper(n, "gate", "HardSigmoid", vec![x.clone()], attrs);
                self.push(name, "Mul", vec![x, gate], out, vec![]);
            }
            Op::Silu => {
                let gate = self.push_helper(n, "sigmoid", "Sigmoid", vec![x.clone()], vec![]);
                self.push(name, "Mul", vec![x, gate], out, vec![]);
            }
            Op::Gelu(g) => self.gelu(n, g.approximate),
            Op::LeakyRelu(l) => {
                let attrs = vec![attr_float("alpha", l.alpha)];
                self.push(name, "LeakyRelu", vec![x], out, attrs);
            }
            Op::PRelu(p) => {
                // Slope [C, 1, …] (per channel) or [1]: unidirectional broadcasting over [N, C, …].
                let rank = self.shape(&x).len();
                let mut dims = vec![1; if p.slope.len() == 1 { 1 } else { rank }];
                dims[0] = p.slope.len();
                let slope = self.init_f32(format!("{name}/slope"), &dims, &p.slope);
                self.push(name, "PRelu", vec![x, slope], out, vec![]);
            }
            Op::Elu(e) => {
                let attrs = vec![attr_float("alpha", e.alpha)];
                self.push(name, "Elu", vec![x], out, attrs);
            }
            Op::Resize(r) => self.resize(n, r)?,
            Op::Transpose(t) => {
                let mut perm = vec![0];
                perm.extend(t.perm.iter().map(|&a| a + 1));
                self.push(
                    name,
                    "Transpose",
                    vec![x],
                    out,
                    vec![attr_ints("perm", &perm)],
                );
            }
            Op::Slice(s) => {
                let axes: Vec<i64> = s.axes.iter().map(|&a| a as i64 + 1).collect();
                let starts = self.init_i64(format!("{name}/starts"), &s.starts);
                let ends = self.init_i64(format!("{name}/ends"), &s.ends);
                let axes = self.init_i64(format!("{name}/axes"), &axes);
                let steps = self.init_i64(format!("{name}/steps"), &s.steps);
                self.push(
                    name,
                    "Slice",
                    vec![x, starts, ends, axes, steps],
                    out,
                    vec![],
                );
            }
            Op::LayerNorm(l) => self.layer_norm(n, l)?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::GraphBuilder;
    use crate::ops::Affine;
    use ndarray::Array1;

    #[test]
    fn fresh_names_avoid_collisions() {
        let mut used: HashSet<String> = ["a".to_string(), "a_1".to_string()].into();
        assert_eq!(fresh(&mut used, "a".into()), "a_2");
        assert_eq!(fresh(&mut used, "b".into()), "b");
        assert_eq!(fresh(&mut used, "b".into()), "b_1");
    }

    #[test]
    fn helper_names_do_not_clash_with_graph_tensors() {
        // A tensor already called `bn/scale` forces the helper onto `bn/scale_1`.
        let mut b = GraphBuilder::new();
        b.input("x", &[2, 1, 1]);
        b.add("bn/scale", Op::Relu, &["x"]);
        let a = Affine::new(Array1::from(vec![2.0, 3.0]), Array1::from(vec![0.0, 1.0]));
        b.add("bn", Op::Affine(a), &["bn/scale"]);
        let g = b.build(&["bn"]).unwrap();
        let m = to_model(&g).unwrap();
        let graph = m.graph.unwrap();
        let mut names: Vec<&str> = graph.initializer.iter().map(|t| t.name()).collect();
        names.extend(
            graph
                .node
                .iter()
                .flat_map(|n| n.output.iter().map(String::as_str)),
        );
        let unique: HashSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert_eq!(graph.initializer[0].name(), "bn/scale_1");
    }
}
