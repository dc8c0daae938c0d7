//! Typed attribute getters for ONNX nodes, in the style of tract's `pb_helpers`.
//!
//! Each getter returns `Ok(None)` when the attribute is absent and an [`Error::Attribute`]
//! naming the node, its operator and the attribute when the attribute holds another type
//! ("expected INTS, got FLOAT"). Builders report invalid values with [`attribute_error`], so
//! every attribute message reads "node `NAME` (OP), attribute `ATTR`: …".
//!
//! ```
//! use lrp::import::onnx::attrs::{get_int, get_ints};
//! use lrp::import::proto::onnx::{attribute_proto::AttributeType, AttributeProto, NodeProto};
//! let node = NodeProto {
//!     name: Some("conv1".into()),
//!     op_type: Some("Conv".into()),
//!     attribute: vec![AttributeProto {
//!         name: Some("strides".into()),
//!         r#type: Some(AttributeType::Ints as i32),
//!         ints: vec![2, 2],
//!         ..Default::default()
//!     }],
//!     ..Default::default()
//! };
//! assert_eq!(get_ints(&node, "strides").unwrap(), Some(&[2i64, 2][..]));
//! let err = get_int(&node, "strides").unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "node `conv1` (Conv), attribute `strides`: expected INT, got INTS"
//! );
//! ```

use crate::error::{Error, Result};
use crate::import::proto::onnx::{
    attribute_proto::AttributeType, AttributeProto, NodeProto, TensorProto,
};

/// The attribute `name` of `node`, if present.
pub fn attribute<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name() == name)
}

/// The type of `attr`: its `type` field, or (for IR version 1 files without it) the one value
/// field that is set.
pub fn attribute_type(attr: &AttributeProto) -> Option<AttributeType> {
    match attr.r#type {
        Some(t) if t != AttributeType::Undefined as i32 => AttributeType::try_from(t).ok(),
        _ => Some(if attr.f.is_some() {
            AttributeType::Float
        } else if attr.i.is_some() {
            AttributeType::Int
        } else if attr.s.is_some() {
            AttributeType::String
        } else if attr.t.is_some() {
            AttributeType::Tensor
        } else if attr.g.is_some() {
            AttributeType::Graph
        } else if !attr.floats.is_empty() {
            AttributeType::Floats
        } else if !attr.ints.is_empty() {
            AttributeType::Ints
        } else if !attr.strings.is_empty() {
            AttributeType::Strings
        } else if !attr.tensors.is_empty() {
            AttributeType::Tensors
        } else if !attr.graphs.is_empty() {
            AttributeType::Graphs
        } else {
            AttributeType::Undefined
        }),
    }
}

/// An [`Error::Attribute`] for attribute `attribute` of `node`.
pub fn attribute_error(node: &NodeProto, attribute: &str, detail: impl Into<String>) -> Error {
    Error::Attribute {
        node: node.name().to_string(),
        op: node.op_type().to_string(),
        attribute: attribute.to_string(),
        detail: detail.into(),
    }
}

/// The attribute `name` if present, after checking that it has type `expected`. An attribute
/// without any value (no type, no field set) is accepted as an empty list for list types.
fn typed<'a>(
    node: &'a NodeProto,
    name: &str,
    expected: AttributeType,
) -> Result<Option<&'a AttributeProto>> {
    let Some(attr) = attribute(node, name) else {
        return Ok(None);
    };
    let got = attribute_type(attr);
    let empty_list = got == Some(AttributeType::Undefined)
        && matches!(
            expected,
            AttributeType::Floats | AttributeType::Ints | AttributeType::Strings
        );
    if got == Some(expected) || empty_list {
        Ok(Some(attr))
    } else {
        let got = match got {
            Some(t) => t.as_str_name().to_string(),
            None => format!("unknown type {}", attr.r#type.unwrap_or_default()),
        };
        Err(attribute_error(
            node,
            name,
            format!("expected {}, got {got}", expected.as_str_name()),
        ))
    }
}

/// Integer attribute `name` of `node` (`None` if absent).
pub fn get_int(node: &NodeProto, name: &str) -> Result<Option<i64>> {
    Ok(typed(node, name, AttributeType::Int)?.map(|a| a.i()))
}

/// Integer-list attribute `name` of `node` (`None` if absent).
pub fn get_ints<'a>(node: &'a NodeProto, name: &str) -> Result<Option<&'a [i64]>> {
    Ok(typed(node, name, AttributeType::Ints)?.map(|a| a.ints.as_slice()))
}

/// Float attribute `name` of `node` (`None` if absent).
pub fn get_float(node: &NodeProto, name: &str) -> Result<Option<f32>> {
    Ok(typed(node, name, AttributeType::Float)?.map(|a| a.f()))
}

/// Float-list attribute `name` of `node` (`None` if absent).
pub fn get_floats<'a>(node: &'a NodeProto, name: &str) -> Result<Option<&'a [f32]>> {
    Ok(typed(node, name, AttributeType::Floats)?.map(|a| a.floats.as_slice()))
}

/// String attribute `name` of `node` (`None` if absent); it must be UTF-8.
pub fn get_string<'a>(node: &'a NodeProto, name: &str) -> Result<Option<&'a str>> {
    match typed(node, name, AttributeType::String)? {
        None => Ok(None),
        Some(a) => std::str::from_utf8(a.s())
            .map(Some)
            .map_err(|_| attribute_error(node, name, "the string is not valid UTF-8")),
    }
}

/// Tensor attribute `name` of `node` (`None` if absent), e.g. the `value` of a `Constant`.
pub fn get_tensor<'a>(node: &'a NodeProto, name: &str) -> Result<Option<&'a TensorProto>> {
    match typed(node, name, AttributeType::Tensor)? {
        None => Ok(None),
        Some(a) => {
            a.t.as_ref()
                .map(Some)
                .ok_or_else(|| attribute_error(node, name, "TENSOR attribute without a tensor"))
        }
    }
}

/// A two-element integer attribute (`strides`, `dilations`), with a default for both.
pub(crate) fn pair(node: &NodeProto, name: &str, default: usize) -> Result<[usize; 2]> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_getters_check_types() {
        let attr = |name: &str, t: AttributeType| AttributeProto {
            name: Some(name.into()),
            r#type: Some(t as i32),
            ..AttributeProto::default()
        };
        let node = NodeProto {
            name: Some("pool".into()),
            op_type: Some("MaxPool".into()),
            attribute: vec![
                AttributeProto {
                    i: Some(1),
                    ..attr("ceil_mode", AttributeType::Int)
                },
                AttributeProto {
                    ints: vec![3, 3],
                    ..attr("kernel_shape", AttributeType::Ints)
                },
                AttributeProto {
                    f: Some(0.5),
                    ..attr("alpha", AttributeType::Float)
                },
                AttributeProto {
                    s: Some(b"NOTSET".to_vec()),
                    ..attr("auto_pad", AttributeType::String)
                },
                AttributeProto {
                    s: Some(vec![0xff]),
                    ..attr("bad", AttributeType::String)
                },
                // IR version 1 style: no type, inferred from the field set.
                AttributeProto {
                    name: Some("old".into()),
                    floats: vec![1.0],
                    ..AttributeProto::default()
                },
                AttributeProto {
                    name: Some("empty".into()),
                    ..AttributeProto::default()
                },
            ],
            ..NodeProto::default()
        };
        assert_eq!(get_int(&node, "ceil_mode").unwrap(), Some(1));
        assert_eq!(
            get_ints(&node, "kernel_shape").unwrap(),
            Some(&[3i64, 3][..])
        );
        assert_eq!(get_float(&node, "alpha").unwrap(), Some(0.5));
        assert_eq!(get_string(&node, "auto_pad").unwrap(), Some("NOTSET"));
        assert_eq!(get_floats(&node, "old").unwrap(), Some(&[1.0f32][..]));
        assert_eq!(get_ints(&node, "empty").unwrap(), Some(&[][..]));
        assert_eq!(get_int(&node, "missing").unwrap(), None);
        assert!(get_tensor(&node, "missing").unwrap().is_none());
        let e = get_ints(&node, "alpha").unwrap_err();
        assert_eq!(
            e.to_string(),
            "node `pool` (MaxPool), attribute `alpha`: expected INTS, got FLOAT"
        );
        assert!(get_string(&node, "bad").is_err());
        assert!(get_tensor(&node, "kernel_shape").is_err());
    }
}
