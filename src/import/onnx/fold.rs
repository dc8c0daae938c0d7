//! Constant folding: nodes whose inputs are all constants are evaluated at import time.
//!
//! Exporters compute weights with small constant subgraphs (`Constant` → `Reshape` →
//! `Transpose`, BatchNorm folded by hand with `Sqrt`/`Div`, weight-stripped models filling
//! their weights with `ConstantOfShape`). The folder evaluates them once, so that every weight
//! reaches its layer as a plain constant. Like the layer builders it is a table, `FOLDS`:
//! one line per operator type and one small function each.
//!
//! Folded: `Constant`, `ConstantOfShape`, `Identity`, `Dropout`, `Cast`, `Reshape`,
//! `Unsqueeze`, `Squeeze`, `Flatten`, `Transpose`, `Add`, `Sub`, `Mul`, `Div` (numpy
//! broadcasting; integer arithmetic when both operands are integers, `Div` truncating),
//! `Sqrt`, `Reciprocal`, `Neg`, `Shape` (opset 15's `start`/`end` too), `Gather`, `Slice`,
//! `Concat`, and the activations `Clip`, `HardSigmoid`, `HardSwish`, `LeakyRelu`, `Elu`,
//! `Gelu`, `Swish` (through their builders' parameter parsing in [`super::activation`]). Not
//! covered: any other operator on constants is an error naming the node.
//!
//! The shape arithmetic of legacy (TorchScript) exports starts from data: `Shape` of a data
//! tensor is folded from its static shape (the table `DATA_FOLDS`), the batch axis reported as the
//! batch size the model's input declares (1 when it is symbolic). So `x.view(b, g, c / g, h,
//! w)` (`Shape` → `Gather` → `Div` → `Unsqueeze` → `Concat` → `Reshape`) and `chunk`'s
//! `Slice` bounds become constants, and the Reshape's target spells out the declared batch.
//!
//! Everything folding creates beyond what the file stores is bounded by
//! [`MAX_FOLDED_VALUES`] before it is allocated.

use super::attrs::{attribute_error, get_float, get_floats, get_int, get_ints, get_tensor};
use super::decode::{tensor_dims, tensor_to_array, tensor_to_i64};
use super::shape::resolve_shape;
use super::Importer;
use crate::error::Result;
use crate::import::checked_product;
use crate::import::proto::onnx::{tensor_proto::DataType, NodeProto, TensorProto};
use ndarray::{ArrayD, IxDyn};

/// Most values that constant folding may create beyond what the file stores, all nodes
/// together (2²⁸, 1 GiB of `f32`; integer values count twice, being 8 bytes): `ConstantOfShape`
/// and broadcasting arithmetic build constants whose size the file merely claims, so it is
/// bounded before anything is allocated. Weight-stripped models make all their weights with
/// `ConstantOfShape` (AlexNet 6.1·10⁷, VGG-16 1.4·10⁸ values). (The `onnx_model` fuzz target
/// showed a 100-byte model asking for 2 GiB per node, with no bound on the number of nodes.)
pub const MAX_FOLDED_VALUES: usize = 1 << 28;

/// A constant value: floats or integers, with its full (ONNX) shape.
#[derive(Debug, Clone)]
pub(super) enum Const {
    F(ArrayD<f32>),
    I(Vec<i64>, Vec<usize>),
}

impl Const {
    pub(super) fn shape(&self) -> &[usize] {
        match self {
            Const::F(a) => a.shape(),
            Const::I(_, s) => s,
        }
    }

    pub(super) fn floats(&self) -> ArrayD<f32> {
        match self {
            Const::F(a) => a.clone(),
            // The shape of an integer constant always matches its values (see `tensor_const`
            // and the folders below); an empty array stands in should it ever not.
            Const::I(v, s) => {
                if checked_product(s) != Some(v.len()) {
                    return ArrayD::zeros(IxDyn(&[0]));
                }
                ArrayD::from_shape_vec(IxDyn(s), v.iter().map(|&x| x as f32).collect())
                    .unwrap_or_else(|_| ArrayD::zeros(IxDyn(&[0])))
            }
        }
    }

    pub(super) fn ints(&self) -> Vec<i64> {
        match self {
            Const::F(a) => a.iter().map(|&x| x as i64).collect(),
            Const::I(v, _) => v.clone(),
        }
    }
}

/// Whether an ONNX element type is read as integers (`Vec<i64>`).
fn is_integer(data_type: i32) -> bool {
    matches!(
        DataType::try_from(data_type).unwrap_or(DataType::Undefined),
        DataType::Int64 | DataType::Int32 | DataType::Int8 | DataType::Uint8 | DataType::Bool
    )
}

/// A tensor of the file (initializer or attribute) as a constant.
pub(super) fn tensor_const(t: &TensorProto, file: &str) -> Result<Const> {
    if is_integer(t.data_type()) {
        let (dims, _) = tensor_dims(t, file)?;
        Ok(Const::I(tensor_to_i64(t, file)?, dims))
    } else {
        Ok(Const::F(tensor_to_array(t, file)?))
    }
}

/// How one operator is evaluated on constant inputs.
type FoldFn = fn(&Importer<'_>, &NodeProto) -> Result<Const>;

/// The folder's table: ONNX operator type → evaluation on constants.
const FOLDS: &[(&str, FoldFn)] = &[
    ("Constant", constant),
    ("ConstantOfShape", constant_of_shape),
    ("Identity", identity),
    ("Dropout", identity),
    ("Cast", cast),
    ("Reshape", reshape),
    ("Unsqueeze", reshape),
    ("Squeeze", reshape),
    ("Flatten", reshape),
    ("Transpose", transpose),
    ("Add", binary),
    ("Sub", binary),
    ("Mul", binary),
    ("Div", binary),
    ("Mod", binary),
    ("Equal", binary),
    ("Where", where_),
    ("Expand", expand),
    ("Sqrt", unary),
    ("Reciprocal", unary),
    ("Neg", unary),
    ("Clip", super::activation::fold_unary),
    ("HardSigmoid", super::activation::fold_unary),
    ("HardSwish", super::activation::fold_unary),
    ("LeakyRelu", super::activation::fold_unary),
    ("Elu", super::activation::fold_unary),
    ("Gelu", super::activation::fold_unary),
    ("Swish", super::activation::fold_unary),
    ("Shape", shape_of_constant),
    ("Gather", gather),
    ("Slice", slice),
    ("Concat", concat),
];

/// How an operator that reads data but computes only from its static shape is folded: the
/// node, its data input.
pub(super) type DataFoldFn = fn(&Importer<'_>, &NodeProto, &str) -> Result<Const>;

/// Operators on data that fold to a constant: ONNX operator type → evaluation.
pub(super) const DATA_FOLDS: &[(&str, DataFoldFn)] = &[("Shape", shape_of_data)];

impl Importer<'_> {
    /// Evaluate a node whose inputs are all constants.
    pub(super) fn fold(&self, node: &NodeProto) -> Result<Const> {
        let op = node.op_type();
        match FOLDS.iter().find(|(t, _)| *t == op) {
            Some((_, f)) => f(self, node),
            None => {
                Err(self.unsupported(node, format!("operator {op} on constants cannot be folded")))
            }
        }
    }

    /// Takes the `shape` of a constant that folding is about to create out of the fold budget,
    /// or fails (also for shapes that ndarray cannot represent, e.g. `[0, 2³⁰, 2³⁰, 2³⁰]`).
    /// `weight` is what one value costs: 1 for floats, 2 for (8-byte) integers.
    fn claim(&self, node: &NodeProto, shape: &[usize], weight: usize) -> Result<()> {
        let nonzero: Vec<usize> = shape.iter().copied().filter(|&d| d != 0).collect();
        let count = checked_product(shape).and_then(|c| c.checked_mul(weight));
        let left = self.fold_budget.get();
        match (checked_product(&nonzero), count) {
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
}

fn constant(imp: &Importer<'_>, node: &NodeProto) -> Result<Const> {
    if let Some(t) = get_tensor(node, "value")? {
        return tensor_const(t, imp.file);
    }
    if let Some(v) = get_float(node, "value_float")? {
        return Ok(Const::F(ArrayD::from_elem(IxDyn(&[]), v)));
    }
    if let Some(v) = get_floats(node, "value_floats")? {
        return Ok(Const::F(
            ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.to_vec())
                .map_err(|e| imp.unsupported(node, e))?,
        ));
    }
    if let Some(v) = get_int(node, "value_int")? {
        return Ok(Const::I(vec![v], vec![]));
    }
    if let Some(v) = get_ints(node, "value_ints")? {
        return Ok(Const::I(v.to_vec(), vec![v.len()]));
    }
    Err(imp.unsupported(node, "Constant without a supported value attribute"))
}

fn constant_of_shape(imp: &Importer<'_>, node: &NodeProto) -> Result<Const> {
    let dims = imp.constant(node, 0)?.ints();
    let shape: Vec<usize> = dims
        .iter()
        .map(|&d| usize::try_from(d).ok().filter(|&d| d < 1 << 31))
        .collect::<Option<_>>()
        .ok_or_else(|| imp.unsupported(node, format!("invalid shape {dims:?}")))?;
    let value = get_tensor(node, "value")?;
    // Integer constants are `Vec<i64>` (see `tensor_const`).
    let integer = value.is_some_and(|t| is_integer(t.data_type()));
    imp.claim(node, &shape, if integer { 2 } else { 1 })?;
    let count = checked_product(&shape).unwrap_or_default();
    match value {
        Some(t) => match tensor_const(t, imp.file)? {
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

fn identity(imp: &Importer<'_>, node: &NodeProto) -> Result<Const> {
    Ok(imp.constant(node, 0)?.clone())
}

fn cast(imp: &Importer<'_>, node: &NodeProto) -> Result<Const> {
    let to = get_int(node, "to")?.unwrap_or(DataType::Float as i64);
    let v = imp.constant(node, 0)?;
    if to == DataType::Float as i64 || to == DataType::Double as i64 {
        Ok(Const::F(v.floats()))
    } else {
        Ok(Const::I(v.ints(), v.shape().to_vec()))
    }
}

/// The axes of Squeeze/Unsqueeze: an input from opset 13 on, an attribute before.
fn axes(imp: &Importer<'_>, node: &NodeProto) -> Result<Vec<i64>> {
    if node.input.len() > 1 {
        Ok(imp.constant(node, 1)?.ints())
    } else {
        Ok(get_ints(node, "axes")?.unwrap_or(&[]).to_vec())
    }
}

/// Non-negative axis indices for a tensor of rank `rank`, sorted.
fn sorted_axes(axes: &[i64], rank: usize) -> Vec<usize> {
    let r = rank as i64;
    let mut ax: Vec<usize> = axes
        .iter()
        .map(|&a| (if a < 0 { a + r } else { a }) as usize)
        .collect();
    ax.sort_unstable();
    ax
}

/// The output shape of Reshape, Flatten, Squeeze or Unsqueeze of a constant of shape `input`.
fn reshaped(imp: &Importer<'_>, node: &NodeProto, input: &[usize]) -> Result<Vec<usize>> {
    let mut s = input.to_vec();
    match node.op_type() {
        "Reshape" => {
            let t = if node.input.len() > 1 {
                imp.constant(node, 1)?.ints()
            } else {
                get_ints(node, "shape")?.unwrap_or(&[]).to_vec()
            };
            s = resolve_shape(&t, input).map_err(|d| imp.unsupported(node, d))?;
        }
        "Flatten" => {
            let axis = get_int(node, "axis")?.unwrap_or(1).max(0) as usize;
            let axis = axis.min(input.len());
            let (outer, inner) = (
                checked_product(&input[..axis]),
                checked_product(&input[axis..]),
            );
            let (Some(outer), Some(inner)) = (outer, inner) else {
                return Err(
                    imp.unsupported(node, format!("cannot flatten {input:?}: too many values"))
                );
            };
            s = vec![outer, inner];
        }
        "Squeeze" => {
            let axes = axes(imp, node)?;
            if axes.is_empty() {
                s.retain(|&d| d != 1);
            } else {
                for a in sorted_axes(&axes, s.len()).into_iter().rev() {
                    if a < s.len() {
                        s.remove(a);
                    }
                }
            }
        }
        _ => {
            let axes = axes(imp, node)?;
            for a in sorted_axes(&axes, s.len() + axes.len()) {
                s.insert(a.min(s.len()), 1);
            }
        }
    }
    Ok(s)
}

/// Reshape, Flatten, Squeeze and Unsqueeze: the same values under another shape.
fn reshape(imp: &Importer<'_>, node: &NodeProto) -> Result<Const> {
    let v = imp.constant(node, 0)?;
    // Checked products: a target whose product wraps to the constant's count would
    // otherwise pass and leave a shape no array can take.
    let n = checked_product(v.shape());
    let shape = reshaped(imp, node, v.shape())?;
    if n.is_none() || checked_product(&shape) != n {
        return Err(imp.unsupported(node, format!("cannot reshape {:?} to {shape:?}", v.shape())));
    }
    Ok(match v {
        Const::F(a) => Const::F(
            a.clone()
                .into_shape_with_order(IxDyn(&shape))
                .map_err(|e| imp.unsupported(node, e))?,
        ),
        Const::I(d, _) => Const::I(d.clone(), shape),
    })
}

fn transpose(imp: &Importer<'_>, node: &NodeProto) -> Result<Const> {
    let v = imp.constant(node, 0)?.floats();
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

/// Add, Sub, Mul and Div with numpy broadcasting; on two integer constants in integer
/// arithmetic (`Div` truncates, as ONNX's integer division does).
fn binary(imp: &Importer<'_>, node: &NodeProto) -> Result<Const> {
    let op = node.op_type();
    if let (Const::I(a, sa), Const::I(b, sb)) = (imp.constant(node, 0)?, imp.constant(node, 1)?) {
        return integer_binary(imp, node, (a, sa), (b, sb));
    }
    let (a, b) = (
        imp.constant(node, 0)?.floats(),
        imp.constant(node, 1)?.floats(),
    );
    let shape = broadcast_shape(a.shape(), b.shape()).ok_or_else(|| {
        imp.unsupported(
            node,
            format!(
                "shapes {:?} and {:?} do not broadcast",
                a.shape(),
                b.shape()
            ),
        )
    })?;
    imp.claim(node, &shape, 1)?;
    let not_broadcast = || imp.unsupported(node, "shapes do not broadcast");
    let mut out = a
        .broadcast(IxDyn(&shape))
        .ok_or_else(not_broadcast)?
        .to_owned();
    let b = b.broadcast(IxDyn(&shape)).ok_or_else(not_broadcast)?;
    let f: fn(f32, f32) -> f32 = match op {
        "Add" => |x, y| x + y,
        "Sub" => |x, y| x - y,
        "Mul" => |x, y| x * y,
        "Equal" => |x, y| f32::from(u8::from(x == y)),
        "Mod" => |x, y| x - y * (x / y).floor(),
        _ => |x, y| x / y,
    };
    out.zip_mut_with(&b, |x, &y| *x = f(*x, y));
    Ok(Const::F(out))
}

/// `Where(condition, a, b)` of constants (Equal's output as the condition: non-zero is true),
/// with broadcasting; integers when `a` and `b` both are.
fn where_(imp: &Importer<'_>, node: &NodeProto) -> Result<Const> {
    let cond = imp.constant(node, 0)?.floats();
    let (a, b) = (imp.constant(node, 1)?, imp.constant(node, 2)?);
    let ints = matches!((a, b), (Const::I(..), Const::I(..)));
    let (a, b) = (a.floats(), b.floats());
    let shape = broadcast_shape(cond.shape(), a.shape())
        .and_then(|s| broadcast_shape(&s, b.shape()))
        .ok_or_else(|| imp.unsupported(node, "shapes do not broadcast"))?;
    imp.claim(node, &shape, 1)?;
    let bc = |t: &ArrayD<f32>| t.broadcast(IxDyn(&shape)).map(|v| v.to_owned());
    let (Some(c), Some(mut out), Some(b)) = (bc(&cond), bc(&a), bc(&b)) else {
        return Err(imp.unsupported(node, "shapes do not broadcast"));
    };
    ndarray::Zip::from(&mut out)
        .and(&c)
        .and(&b)
        .for_each(|o, &c, &b| {
            if c == 0.0 {
                *o = b;
            }
        });
    Ok(if ints {
        Const::I(out.iter().map(|&v| v as i64).collect(), shape)
    } else {
        Const::F(out)
    })
}

/// `Expand(input, shape)` of a constant: numpy broadcasting of the input and the shape.
fn expand(imp: &Importer<'_>, node: &NodeProto) -> Result<Const> {
    let v = imp.constant(node, 0)?;
    let target = imp.constant(node, 1)?.ints();
    if target.iter().any(|&d| !(0..1 << 31).contains(&d)) {
        return Err(imp.unsupported(node, format!("invalid shape {target:?}")));
    }
    let target: Vec<usize> = target.iter().map(|&d| d as usize).collect();
    let shape = broadcast_shape(v.shape(), &target).ok_or_else(|| {
        imp.unsupported(
            node,
            format!("{:?} does not expand to {target:?}", v.shape()),
        )
    })?;
    imp.claim(node, &shape, 1)?;
    let ints = matches!(v, Const::I(..));
    let out = v
        .floats()
        .broadcast(IxDyn(&shape))
        .map(|b| b.to_owned())
        .ok_or_else(|| imp.unsupported(node, "shapes do not broadcast"))?;
    Ok(if ints {
        Const::I(out.iter().map(|&v| v as i64).collect(), shape)
    } else {
        Const::F(out)
    })
}

/// [`binary`] on two integer constants.
fn integer_binary(
    imp: &Importer<'_>,
    node: &NodeProto,
    (a, sa): (&[i64], &[usize]),
    (b, sb): (&[i64], &[usize]),
) -> Result<Const> {
    let shape = broadcast_shape(sa, sb).ok_or_else(|| {
        imp.unsupported(node, format!("shapes {sa:?} and {sb:?} do not broadcast"))
    })?;
    imp.claim(node, &shape, 2)?;
    let view = |v: &[i64], s: &[usize]| {
        ndarray::ArrayViewD::from_shape(IxDyn(s), v)
            .ok()
            .and_then(|a| a.broadcast(IxDyn(&shape)).map(|b| b.to_owned()))
    };
    let (Some(x), Some(y)) = (view(a, sa), view(b, sb)) else {
        return Err(imp.unsupported(node, "shapes do not broadcast"));
    };
    let op = node.op_type();
    let mut out = Vec::with_capacity(x.len());
    for (&p, &q) in x.iter().zip(y.iter()) {
        out.push(match op {
            "Add" => p.wrapping_add(q),
            "Sub" => p.wrapping_sub(q),
            "Mul" => p.wrapping_mul(q),
            "Equal" => i64::from(p == q),
            _ if q == 0 => return Err(imp.unsupported(node, "integer division by 0")),
            "Mod" => p.rem_euclid(q) + if q < 0 && p.rem_euclid(q) != 0 { q } else { 0 },
            _ => p.wrapping_div(q),
        });
    }
    Ok(Const::I(out, shape))
}

/// `Shape` of a data tensor, from its static shape: the batch axis is the batch size the
/// model's input declares (1 when symbolic); a tensor whose batch a Reshape merged away has
/// no batch axis. Opset 15's `start` and `end` select a range of the axes.
fn shape_of_data(imp: &Importer<'_>, node: &NodeProto, x: &str) -> Result<Const> {
    let per_sample = imp.data_shape(node, x)?;
    let mut dims: Vec<i64> = per_sample.iter().map(|&d| d as i64).collect();
    if let super::Batch::At(b) = imp.batch_of(x) {
        dims.insert(b.min(dims.len()), imp.batch);
    }
    shape_range(node, dims)
}

/// `Shape` of a constant.
fn shape_of_constant(imp: &Importer<'_>, node: &NodeProto) -> Result<Const> {
    let dims = imp
        .constant(node, 0)?
        .shape()
        .iter()
        .map(|&d| d as i64)
        .collect();
    shape_range(node, dims)
}

/// The axes `start..end` (opset 15; negative from the end, clamped) of a shape, as a 1-D
/// integer constant.
fn shape_range(node: &NodeProto, dims: Vec<i64>) -> Result<Const> {
    let r = dims.len() as i64;
    let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let start = clamp(get_int(node, "start")?.unwrap_or(0));
    let end = clamp(get_int(node, "end")?.unwrap_or(r));
    let dims = dims[start..end.max(start)].to_vec();
    let n = dims.len();
    Ok(Const::I(dims, vec![n]))
}

/// Non-negative axis of a rank-`rank` tensor (negative counts from the end), or an error.
fn axis_of(imp: &Importer<'_>, node: &NodeProto, axis: i64, rank: usize) -> Result<usize> {
    super::layout::full_axis(axis, rank).ok_or_else(|| {
        imp.unsupported(node, format!("axis {axis} is out of range for rank {rank}"))
    })
}

/// `Gather` on constants: `out[o…, i…, p…] = data[o…, indices[i…], p…]` along `axis`.
fn gather(imp: &Importer<'_>, node: &NodeProto) -> Result<Const> {
    let data = imp.constant(node, 0)?;
    let indices = imp.constant(node, 1)?;
    let shape = data.shape().to_vec();
    let a = axis_of(
        imp,
        node,
        get_int(node, "axis")?.unwrap_or(0),
        shape.len().max(1),
    )?;
    if shape.is_empty() {
        return Err(imp.unsupported(node, "Gather of a scalar"));
    }
    let d = shape[a] as i64;
    let idx: Vec<usize> = indices
        .ints()
        .iter()
        .map(|&i| {
            let i = if i < 0 { i + d } else { i };
            (0..d).contains(&i).then_some(i as usize)
        })
        .collect::<Option<_>>()
        .ok_or_else(|| {
            imp.unsupported(
                node,
                format!("indices out of range for an axis of size {d}"),
            )
        })?;
    let mut out_shape = shape[..a].to_vec();
    out_shape.extend_from_slice(indices.shape());
    out_shape.extend_from_slice(&shape[a + 1..]);
    let (Some(outer), Some(inner)) = (
        checked_product(&shape[..a]),
        checked_product(&shape[a + 1..]),
    ) else {
        return Err(imp.unsupported(node, format!("data of shape {shape:?} is too large")));
    };
    imp.claim(
        node,
        &out_shape,
        if matches!(data, Const::I(..)) { 2 } else { 1 },
    )?;
    // Flat positions in `data` of the output's elements, in order.
    let mut from = Vec::with_capacity(outer * idx.len() * inner);
    for o in 0..outer {
        for &i in &idx {
            from.extend((0..inner).map(|p| (o * shape[a] + i) * inner + p));
        }
    }
    Ok(match data {
        Const::I(v, _) => Const::I(from.iter().map(|&k| v[k]).collect(), out_shape),
        Const::F(arr) => {
            let flat: Vec<f32> = arr.iter().copied().collect();
            Const::F(
                ArrayD::from_shape_vec(IxDyn(&out_shape), from.iter().map(|&k| flat[k]).collect())
                    .map_err(|e| imp.unsupported(node, e))?,
            )
        }
    })
}

/// `Slice` on constants (ONNX semantics, as the data operator [`crate::ops::Slice`]).
fn slice(imp: &Importer<'_>, node: &NodeProto) -> Result<Const> {
    let data = imp.constant(node, 0)?;
    let shape = data.shape().to_vec();
    let ints = |i: usize| -> Result<Option<Vec<i64>>> {
        Ok(imp.optional_constant(node, i)?.map(Const::ints))
    };
    let (starts, ends, axes, steps) = if imp.opset < 10 {
        let get =
            |n: &str| -> Result<Option<Vec<i64>>> { Ok(get_ints(node, n)?.map(<[i64]>::to_vec)) };
        (get("starts")?, get("ends")?, get("axes")?, None)
    } else {
        (ints(1)?, ints(2)?, ints(3)?, ints(4)?)
    };
    let (Some(starts), Some(ends)) = (starts, ends) else {
        return Err(imp.unsupported(node, "Slice without starts and ends"));
    };
    let k = starts.len();
    let axes = axes.unwrap_or_else(|| (0..k as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; k]);
    if ends.len() != k || axes.len() != k || steps.len() != k {
        return Err(imp.unsupported(node, "starts, ends, axes and steps differ in length"));
    }
    let axes: Vec<usize> = axes
        .iter()
        .map(|&a| axis_of(imp, node, a, shape.len()))
        .collect::<Result<_>>()?;
    // The data operator computes it: the constant as a batch of one sample.
    let op = crate::ops::Slice::new(axes, starts, ends, steps);
    let nref = crate::error::NodeRef::new(node.name(), "Slice");
    let out_shape = match op.output_shape(&nref, &shape) {
        Ok(s) => s,
        // `shape[k:]` past the end of a shape vector (torch's MultiheadAttention computes its
        // head split this way): an empty vector, which a Concat of shapes then skips.
        Err(_)
            if shape.len() == 1
                && op.steps.iter().all(|&s| s > 0)
                && op.starts.iter().all(|&s| s >= shape[0] as i64) =>
        {
            return Ok(match data {
                Const::F(_) => Const::F(ArrayD::zeros(IxDyn(&[0]))),
                Const::I(..) => Const::I(Vec::new(), vec![0]),
            });
        }
        Err(e) => return Err(imp.unsupported(node, e)),
    };
    let mut batched = vec![1];
    batched.extend_from_slice(&shape);
    let as_batch = |a: ArrayD<f32>| a.into_shape_with_order(IxDyn(&batched));
    Ok(match data {
        Const::F(a) => {
            let y = op.forward(&as_batch(a.clone()).map_err(|e| imp.unsupported(node, e))?);
            Const::F(
                y.into_shape_with_order(IxDyn(&out_shape))
                    .map_err(|e| imp.unsupported(node, e))?,
            )
        }
        Const::I(v, _) => {
            // Integers through positions: slice the indices 0, 1, … as floats (exact below
            // 2²⁴), then pick.
            if v.len() >= 1 << 24 {
                return Err(imp.unsupported(node, "integer constant too large to slice"));
            }
            let pos =
                ArrayD::from_shape_vec(IxDyn(&batched), (0..v.len()).map(|i| i as f32).collect())
                    .map_err(|e| imp.unsupported(node, e))?;
            let picked = op.forward(&pos);
            Const::I(picked.iter().map(|&p| v[p as usize]).collect(), out_shape)
        }
    })
}

/// `Concat` of constants along `axis`.
fn concat(imp: &Importer<'_>, node: &NodeProto) -> Result<Const> {
    let parts: Vec<&Const> = (0..node.input.len())
        .filter(|&i| !node.input[i].is_empty())
        .map(|i| imp.constant(node, i))
        .collect::<Result<_>>()?;
    let Some(first) = parts.first() else {
        return Err(imp.unsupported(node, "Concat without inputs"));
    };
    let rank = first.shape().len();
    let axis =
        get_int(node, "axis")?.ok_or_else(|| attribute_error(node, "axis", "is required"))?;
    let a = axis_of(imp, node, axis, rank.max(1))?;
    let mut out_shape = first.shape().to_vec();
    if rank == 0 {
        return Err(imp.unsupported(node, "Concat of scalars"));
    }
    out_shape[a] = 0;
    for p in &parts {
        let s = p.shape();
        if s.len() != rank || (0..rank).any(|d| d != a && s[d] != first.shape()[d]) {
            return Err(imp.unsupported(
                node,
                format!(
                    "shapes {:?} and {s:?} do not concatenate along axis {a}",
                    first.shape()
                ),
            ));
        }
        // Empty constants may declare any size on the other axes: checked.
        out_shape[a] = out_shape[a]
            .checked_add(s[a])
            .ok_or_else(|| imp.unsupported(node, format!("concatenated axis {a} overflows")))?;
    }
    let integer = parts.iter().all(|p| matches!(p, Const::I(..)));
    imp.claim(node, &out_shape, if integer { 2 } else { 1 })?;
    if integer {
        let outer: usize = out_shape[..a].iter().product();
        let mut out = Vec::new();
        for o in 0..outer {
            for p in &parts {
                let Const::I(v, s) = p else {
                    unreachable!("all integer")
                };
                let block = s[a..].iter().product::<usize>();
                out.extend_from_slice(&v[o * block..(o + 1) * block]);
            }
        }
        return Ok(Const::I(out, out_shape));
    }
    let arrays: Vec<ArrayD<f32>> = parts.iter().map(|p| p.floats()).collect();
    let views: Vec<_> = arrays.iter().map(|a| a.view()).collect();
    Ok(Const::F(
        ndarray::concatenate(ndarray::Axis(a), &views).map_err(|e| imp.unsupported(node, e))?,
    ))
}

/// Sqrt, Reciprocal and Neg.
fn unary(imp: &Importer<'_>, node: &NodeProto) -> Result<Const> {
    let f: fn(f32) -> f32 = match node.op_type() {
        "Sqrt" => f32::sqrt,
        "Reciprocal" => |v| 1.0 / v,
        _ => |v| -v,
    };
    Ok(Const::F(imp.constant(node, 0)?.floats().mapv(f)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasts() {
        assert_eq!(broadcast_shape(&[2, 1], &[3]), Some(vec![2, 3]));
    }
}
