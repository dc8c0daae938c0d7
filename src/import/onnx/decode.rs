//! ONNX models: decoding a `ModelProto` and reading its tensors as `ndarray` arrays.
//!
//! Tensors are read from their typed fields (`float_data`, `int64_data`, ...) or from
//! `raw_data` (little-endian, fixed width). The element count implied by `dims` is computed
//! with overflow checks and compared with the data actually present before any array is
//! built. A file read with [`read_model`] is decoded zero-copy: tensors' raw data are slices of
//! the file's buffer.
//!
//! Data stored outside the model (`data_location: EXTERNAL`, what torch's default exporter
//! writes: `model.onnx` plus `model.onnx.data`) is read by [`read_model`] from the file its
//! `location` names, relative to the model's folder (absolute paths and `..` are refused, as
//! the ONNX checker does); each such file is read once, and `offset` and `length` must lie
//! inside it and agree with the tensor's dims, so nothing is allocated beyond what the files
//! hold. Models decoded from memory ([`decode_model`]) have no folder: external data is an
//! error there.

use crate::error::{Error, Result};
use crate::files::MAX_MODEL_BYTES;
use crate::import::proto::onnx::{
    tensor_proto::{DataLocation, DataType},
    ModelProto, TensorProto,
};
use crate::import::{checked_product, read_file};
use ndarray::{ArrayD, IxDyn};
use prost::Message;
use std::collections::HashMap;
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

/// Reads and decodes the ONNX model at `path` (see [`decode_model`]), with tensors stored in
/// external files read from beside it. The tensors' raw data are slices of the files'
/// buffers, not copies.
pub fn read_model(path: impl AsRef<Path>) -> Result<ModelProto> {
    let path = path.as_ref();
    let file = path.display().to_string();
    let mut model = decode_from(
        bytes::Bytes::from(read_file(path, MAX_MODEL_BYTES, "a model file")?),
        &file,
    )?;
    let dir = path.parent().unwrap_or(Path::new("."));
    resolve_external(&mut model, dir, &file)?;
    Ok(model)
}

/// Replace every external tensor of `model` (initializers and `Constant` node values) by its
/// bytes, read from the file its `location` names in `dir`.
fn resolve_external(model: &mut ModelProto, dir: &Path, file: &str) -> Result<()> {
    let Some(graph) = model.graph.as_mut() else {
        return Ok(());
    };
    let mut files: HashMap<String, bytes::Bytes> = HashMap::new();
    let attribute_tensors = graph
        .node
        .iter_mut()
        .flat_map(|n| n.attribute.iter_mut())
        .filter_map(|a| a.t.as_mut());
    for tensor in graph.initializer.iter_mut().chain(attribute_tensors) {
        if tensor.data_location == Some(DataLocation::External as i32) {
            let data = external_bytes(tensor, dir, file, &mut files)?;
            tensor.raw_data = Some(data);
            tensor.data_location = Some(DataLocation::Default as i32);
            tensor.external_data.clear();
        }
    }
    Ok(())
}

/// The bytes of one external tensor: `length` bytes (default: what its dims need) from
/// `offset` (default 0) of the file `location` in `dir`.
fn external_bytes(
    tensor: &TensorProto,
    dir: &Path,
    file: &str,
    files: &mut HashMap<String, bytes::Bytes>,
) -> Result<bytes::Bytes> {
    let entry = |key: &str| {
        tensor
            .external_data
            .iter()
            .find(|e| e.key() == key)
            .map(|e| e.value().to_string())
    };
    let location = entry("location")
        .ok_or_else(|| tensor_error(file, tensor, "external data without a `location`"))?;
    let relative = Path::new(&location);
    if relative.is_absolute()
        || relative
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(tensor_error(
            file,
            tensor,
            format!("external data location `{location}` must be a path inside the model's folder"),
        ));
    }
    let number = |key: &str| -> Result<Option<usize>> {
        entry(key)
            .map(|v| {
                v.trim().parse::<usize>().map_err(|_| {
                    tensor_error(
                        file,
                        tensor,
                        format!("external data {key} `{v}` is not a size"),
                    )
                })
            })
            .transpose()
    };
    let offset = number("offset")?.unwrap_or(0);
    let (_, count) = tensor_dims(tensor, file)?;
    let width = match DataType::try_from(tensor.data_type()) {
        Ok(DataType::Float | DataType::Int32) => 4,
        Ok(DataType::Double | DataType::Int64) => 8,
        _ => {
            return Err(tensor_error(
                file,
                tensor,
                format!(
                "external data of element type {} is not supported (FLOAT, DOUBLE, INT32, INT64)",
                data_type_name(tensor.data_type())
            ),
            ))
        }
    };
    let needed = count
        .checked_mul(width)
        .ok_or_else(|| tensor_error(file, tensor, "declared size overflows the byte count"))?;
    let length = number("length")?.unwrap_or(needed);
    if length != needed {
        return Err(tensor_error(
            file,
            tensor,
            format!(
                "dims {:?} need {needed} bytes, the external data length is {length}",
                tensor.dims
            ),
        ));
    }
    let bytes = match files.get(&location) {
        Some(b) => b.clone(),
        None => {
            let b = bytes::Bytes::from(read_file(
                &dir.join(relative),
                MAX_MODEL_BYTES,
                "external tensor data",
            )?);
            files.insert(location.clone(), b.clone());
            b
        }
    };
    let end = offset.checked_add(length).filter(|&e| e <= bytes.len());
    match end {
        Some(end) => Ok(bytes.slice(offset..end)),
        None => Err(tensor_error(
            file,
            tensor,
            format!(
                "external data bytes {offset}..{} lie beyond the end of `{location}` ({} bytes)",
                offset.saturating_add(length),
                bytes.len()
            ),
        )),
    }
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
                "data stored in an external file (`{location}`), which a model read from memory \
                 cannot reach; load the model from its file"
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
    fn external_data_is_read_from_beside_the_model_within_bounds() {
        use crate::import::proto::onnx::GraphProto;
        let dir = std::env::temp_dir().join(format!("lrp-external-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let values = [1.5f32, -2.0, 3.25];
        let mut data = vec![0u8; 8]; // 8 bytes of something else first
        data.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        std::fs::write(dir.join("w.data"), &data).unwrap();
        let external = |entries: &[(&str, &str)]| {
            let mut t = tensor(DataType::Float, &[3]);
            t.data_location = Some(DataLocation::External as i32);
            t.external_data = entries
                .iter()
                .map(|(k, v)| StringStringEntryProto {
                    key: Some(k.to_string()),
                    value: Some(v.to_string()),
                })
                .collect();
            ModelProto {
                graph: Some(GraphProto {
                    initializer: vec![t],
                    ..GraphProto::default()
                }),
                ..ModelProto::default()
            }
        };
        let resolve = |entries: &[(&str, &str)]| {
            let mut m = external(entries);
            resolve_external(&mut m, &dir, "m.onnx").map(|()| m)
        };
        let m = resolve(&[("location", "w.data"), ("offset", "8"), ("length", "12")]).unwrap();
        let a = tensor_to_array(&m.graph.unwrap().initializer[0], "m.onnx").unwrap();
        assert_eq!(a.as_slice().unwrap(), &values);
        // Without a length, the dims say how much to read.
        assert!(resolve(&[("location", "w.data"), ("offset", "8")]).is_ok());
        let err = |entries: &[(&str, &str)]| resolve(entries).unwrap_err().to_string();
        let e = err(&[("location", "w.data"), ("offset", "12")]);
        assert!(e.contains("beyond the end of `w.data` (20 bytes)"), "{e}");
        let e = err(&[("location", "w.data"), ("length", "1000000000000")]);
        assert!(e.contains("need 12 bytes"), "{e}");
        let e = err(&[("location", "../w.data")]);
        assert!(e.contains("inside the model's folder"), "{e}");
        let e = err(&[("location", "/etc/passwd")]);
        assert!(e.contains("inside the model's folder"), "{e}");
        let e = err(&[("location", "missing.data")]);
        assert!(e.contains("missing.data"), "{e}");
        let e = err(&[("offset", "0")]);
        assert!(e.contains("without a `location`"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
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
