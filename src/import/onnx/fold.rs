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
//! broadcasting), `Sqrt`, `Reciprocal`, `Neg`, and the activations `Clip`, `HardSigmoid`,
//! `HardSwish`, `LeakyRelu`, `Elu`, `Gelu`, `Swish` (through their builders' parameter parsing in
//! [`super::activation`]). Not covered: any other operator on constants
//! (`Shape`, `Gather`, `Slice`, `Concat` of constants, …) is an error naming the node.
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
];

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
            s = vec![
                input[..axis].iter().product(),
                input[axis..].iter().product(),
            ];
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
    let n = v.shape().iter().product::<usize>();
    let shape = reshaped(imp, node, v.shape())?;
    if shape.iter().product::<usize>() != n {
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

/// Add, Sub, Mul and Div with numpy broadcasting.
fn binary(imp: &Importer<'_>, node: &NodeProto) -> Result<Const> {
    let op = node.op_type();
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
        _ => |x, y| x / y,
    };
    out.zip_mut_with(&b, |x, &y| *x = f(*x, y));
    Ok(Const::F(out))
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
