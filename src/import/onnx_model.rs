//! ONNX models: decoding a `ModelProto`, tensors as `ndarray` arrays, typed node attributes.
//!
//! Tensors are read from their typed fields (`float_data`, `int64_data`, ...) or from
//! `raw_data` (little-endian, fixed width). The element count implied by `dims` is computed
//! with overflow checks and compared with the data actually present before any array is
//! built; data stored outside the model (`data_location: EXTERNAL`) is reported as an error.
//!
//! Attribute getters follow the style of tract's `pb_helpers`: they return `Ok(None)` when the
//! attribute is absent and an [`Error::Attribute`] naming the node, its operator and the
//! attribute when the attribute holds another type ("expected INTS, got FLOAT").
//!
//! ```
//! use lrp::import::onnx_model::{get_int, get_ints};
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

use super::proto::onnx::{
    attribute_proto::AttributeType,
    tensor_proto::{DataLocation, DataType},
    AttributeProto, ModelProto, NodeProto, TensorProto,
};
use super::{checked_product, read_file};
use crate::error::{Error, Result};
use ndarray::{ArrayD, IxDyn};
use prost::Message;
use std::path::Path;

/// Decodes an ONNX `ModelProto` from `bytes`; `file` names it in errors.
pub fn decode_model(bytes: &[u8], file: &str) -> Result<ModelProto> {
    decode_from(bytes, file)
}

/// Decodes from any buffer: from a `bytes::Bytes` the tensors' raw data are slices of it.
fn decode_from(buf: impl prost::bytes::Buf, file: &str) -> Result<ModelProto> {
    ModelProto::decode(buf).map_err(|e| Error::Decode {
        file: file.to_string(),
        detail: format!("onnx.ModelProto: {e}"),
    })
}

/// Reads and decodes the ONNX model at `path` (see [`decode_model`]). The tensors' raw data
/// are slices of the file's buffer, not copies.
pub fn read_model(path: impl AsRef<Path>) -> Result<ModelProto> {
    let path = path.as_ref();
    decode_from(
        bytes::Bytes::from(read_file(path)?),
        &path.display().to_string(),
    )
}

/// The opset version `model` imports for the default ONNX domain (`""` or `ai.onnx`).
pub fn default_opset(model: &ModelProto) -> Option<i64> {
    model
        .opset_import
        .iter()
        .find(|o| matches!(o.domain(), "" | "ai.onnx"))
        .map(|o| o.version())
}

fn tensor_error(file: &str, tensor: &TensorProto, detail: impl Into<String>) -> Error {
    Error::Format {
        file: file.to_string(),
        layer: format!("tensor `{}`", tensor.name()),
        detail: detail.into(),
    }
}

/// Name of an ONNX element type for messages, e.g. `FLOAT` or `INT64`, or its number.
pub fn data_type_name(data_type: i32) -> String {
    match DataType::try_from(data_type) {
        Ok(t) => t.as_str_name().to_string(),
        Err(_) => format!("unknown data type {data_type}"),
    }
}

/// The dimensions of `tensor` as `usize` (negative dimensions are an error) and their
/// product, computed with overflow checks.
pub fn tensor_dims(tensor: &TensorProto, file: &str) -> Result<(Vec<usize>, usize)> {
    let dims = tensor
        .dims
        .iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| {
                tensor_error(
                    file,
                    tensor,
                    format!("negative dimension {d} in {:?}", tensor.dims),
                )
            })
        })
        .collect::<Result<Vec<usize>>>()?;
    let count = checked_product(&dims).ok_or_else(|| {
        tensor_error(
            file,
            tensor,
            format!("dims {dims:?} overflow the element count"),
        )
    })?;
    Ok((dims, count))
}

/// Fails for tensors whose data lives outside the model file.
fn check_embedded(tensor: &TensorProto, file: &str) -> Result<()> {
    if tensor.data_location == Some(DataLocation::External as i32) {
        let location = tensor
            .external_data
            .iter()
            .find(|e| e.key() == "location")
            .map(|e| e.value().to_string())
            .unwrap_or_default();
        return Err(tensor_error(
            file,
            tensor,
            format!(
                "data stored in an external file (`{location}`); external data is not supported"
            ),
        ));
    }
    Ok(())
}

/// Which field holds the data and how many values it has; fails when that differs from the
/// `count` the dims declare. For `raw_data`, the byte length must be `count * width`.
fn check_count(
    tensor: &TensorProto,
    file: &str,
    count: usize,
    typed_len: usize,
    width: usize,
) -> Result<bool> {
    if !tensor.raw_data().is_empty() || (typed_len == 0 && count > 0) {
        let expected = count
            .checked_mul(width)
            .ok_or_else(|| tensor_error(file, tensor, "declared size overflows the byte count"))?;
        if tensor.raw_data().len() != expected {
            return Err(tensor_error(
                file,
                tensor,
                format!(
                    "dims {:?} of {} need {expected} bytes of raw_data, got {}",
                    tensor.dims,
                    data_type_name(tensor.data_type()),
                    tensor.raw_data().len()
                ),
            ));
        }
        Ok(true)
    } else {
        if typed_len != count {
            return Err(tensor_error(
                file,
                tensor,
                format!(
                    "dims {:?} declare {count} values but the tensor holds {typed_len}",
                    tensor.dims
                ),
            ));
        }
        Ok(false)
    }
}

/// The values of `tensor` as an `f32` array of its dims. Supported element types: `FLOAT`
/// (from `float_data` or `raw_data`), `DOUBLE`, `INT32`, `INT64` (converted). Other types,
/// external data and a data length that does not match the dims are errors.
pub fn tensor_to_array(tensor: &TensorProto, file: &str) -> Result<ArrayD<f32>> {
    check_embedded(tensor, file)?;
    let (dims, count) = tensor_dims(tensor, file)?;
    let data: Vec<f32> = match DataType::try_from(tensor.data_type()) {
        Ok(DataType::Float) => {
            if check_count(tensor, file, count, tensor.float_data.len(), 4)? {
                tensor
                    .raw_data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect()
            } else {
                tensor.float_data.clone()
            }
        }
        Ok(DataType::Double) => {
            if check_count(tensor, file, count, tensor.double_data.len(), 8)? {
                tensor
                    .raw_data()
                    .chunks_exact(8)
                    .map(|b| {
                        f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
                    })
                    .collect()
            } else {
                tensor.double_data.iter().map(|&v| v as f32).collect()
            }
        }
        Ok(DataType::Int32 | DataType::Int64) => tensor_to_i64(tensor, file)?
            .into_iter()
            .map(|v| v as f32)
            .collect(),
        _ => {
            return Err(tensor_error(
                file,
                tensor,
                format!(
                    "element type {} cannot be read as float (supported: FLOAT, DOUBLE, INT32, \
                     INT64)",
                    data_type_name(tensor.data_type())
                ),
            ))
        }
    };
    ArrayD::from_shape_vec(IxDyn(&dims), data)
        .map_err(|e| tensor_error(file, tensor, format!("dims {dims:?}: {e}")))
}

/// The values of an integer `tensor` (`INT64` or `INT32`, from the typed field or
/// `raw_data`), flattened: shapes, pads, axes. Checks the count against the dims.
pub fn tensor_to_i64(tensor: &TensorProto, file: &str) -> Result<Vec<i64>> {
    check_embedded(tensor, file)?;
    let (_, count) = tensor_dims(tensor, file)?;
    match DataType::try_from(tensor.data_type()) {
        Ok(DataType::Int64) => {
            if check_count(tensor, file, count, tensor.int64_data.len(), 8)? {
                Ok(tensor
                    .raw_data()
                    .chunks_exact(8)
                    .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                    .collect())
            } else {
                Ok(tensor.int64_data.clone())
            }
        }
        Ok(DataType::Int32) => {
            if check_count(tensor, file, count, tensor.int32_data.len(), 4)? {
                Ok(tensor
                    .raw_data()
                    .chunks_exact(4)
                    .map(|b| i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                    .collect())
            } else {
                Ok(tensor.int32_data.iter().map(|&v| i64::from(v)).collect())
            }
        }
        _ => Err(tensor_error(
            file,
            tensor,
            format!(
                "element type {} is not an integer type (expected INT64 or INT32)",
                data_type_name(tensor.data_type())
            ),
        )),
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::proto::onnx::StringStringEntryProto;

    fn tensor(data_type: DataType, dims: &[i64]) -> TensorProto {
        TensorProto {
            name: Some("t".into()),
            data_type: Some(data_type as i32),
            dims: dims.to_vec(),
            ..TensorProto::default()
        }
    }

    #[test]
    fn float_tensors_from_typed_field_or_raw_bytes() {
        let mut t = tensor(DataType::Float, &[2, 2]);
        t.float_data = vec![1.0, 2.0, 3.0, 4.0];
        assert_eq!(tensor_to_array(&t, "m").unwrap()[[1, 0]], 3.0);
        let mut r = tensor(DataType::Float, &[3]);
        r.raw_data = Some(
            [1.5f32, -2.0, 0.25]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>()
                .into(),
        );
        assert_eq!(
            tensor_to_array(&r, "m").unwrap().as_slice().unwrap(),
            &[1.5, -2.0, 0.25]
        );
        // Scalars have no dims and one value.
        let mut s = tensor(DataType::Double, &[]);
        s.double_data = vec![0.5];
        assert_eq!(tensor_to_array(&s, "m").unwrap().shape(), &[] as &[usize]);
        let mut i = tensor(DataType::Int32, &[2]);
        i.int32_data = vec![-1, 7];
        assert_eq!(
            tensor_to_array(&i, "m").unwrap().as_slice().unwrap(),
            &[-1.0, 7.0]
        );
    }

    #[test]
    fn int64_tensors() {
        let mut t = tensor(DataType::Int64, &[2]);
        t.raw_data = Some(
            [-3i64, 1 << 40]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>()
                .into(),
        );
        assert_eq!(tensor_to_i64(&t, "m").unwrap(), vec![-3, 1 << 40]);
        let mut t = tensor(DataType::Int64, &[3]);
        t.int64_data = vec![0, 1, 2];
        assert_eq!(tensor_to_i64(&t, "m").unwrap(), vec![0, 1, 2]);
        let f = tensor(DataType::Float, &[0]);
        assert!(tensor_to_i64(&f, "m").is_err());
    }

    #[test]
    fn declared_sizes_are_checked() {
        let mut t = tensor(DataType::Float, &[2, 3]);
        t.raw_data = Some(vec![0; 23].into());
        let e = tensor_to_array(&t, "m.onnx").unwrap_err().to_string();
        assert_eq!(
            e,
            "m.onnx: tensor `t`: dims [2, 3] of FLOAT need 24 bytes of raw_data, got 23"
        );
        let mut t = tensor(DataType::Float, &[2, 3]);
        t.float_data = vec![0.0; 5];
        assert!(tensor_to_array(&t, "m")
            .unwrap_err()
            .to_string()
            .contains("declare 6 values"));
        let huge = tensor(DataType::Float, &[1 << 62, 1 << 62]);
        assert!(tensor_to_array(&huge, "m")
            .unwrap_err()
            .to_string()
            .contains("overflow"));
        let big = tensor(DataType::Float, &[1 << 62]);
        assert!(tensor_to_array(&big, "m")
            .unwrap_err()
            .to_string()
            .contains("overflows"));
        let neg = tensor(DataType::Float, &[-1]);
        assert!(tensor_to_array(&neg, "m")
            .unwrap_err()
            .to_string()
            .contains("negative"));
        let f16 = tensor(DataType::Float16, &[1]);
        assert!(tensor_to_array(&f16, "m")
            .unwrap_err()
            .to_string()
            .contains("FLOAT16"));
    }

    #[test]
    fn external_data_is_an_error() {
        let mut t = tensor(DataType::Float, &[4]);
        t.data_location = Some(DataLocation::External as i32);
        t.external_data = vec![StringStringEntryProto {
            key: Some("location".into()),
            value: Some("weights.bin".into()),
        }];
        let e = tensor_to_array(&t, "m.onnx").unwrap_err().to_string();
        assert!(e.contains("external file (`weights.bin`)"), "{e}");
    }

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

    #[test]
    fn garbage_is_a_decode_error() {
        let e = decode_model(&[0x0a, 0xff, 0xff, 0xff], "x.onnx").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("x.onnx: cannot decode onnx.ModelProto"),
            "{e}"
        );
    }
}
