//! Binary Caffe files: `.caffemodel` weights, `.binaryproto` mean images, blobs as arrays,
//! and writing caffemodels.
//!
//! A `.caffemodel` is a binary `NetParameter` whose layers carry their parameter blobs
//! (weights first, then biases); old files use the V1 `layers` field with an enum type and
//! blobs with the legacy `num/channels/height/width` dimensions. A mean `.binaryproto` is one
//! `BlobProto` of shape 1×C×H×W.
//!
//! Nothing here trusts a declared size: a blob's element count is computed with overflow
//! checks and compared with the data actually present before any array is built.
//!
//! ```
//! use lrp::import::caffe::blob::{blob_from, decode_blob, mean_image};
//! use prost::Message;
//! let blob = blob_from(&[1, 3, 2, 2], &[0.0; 12]).unwrap();
//! let bytes = blob.encode_to_vec();
//! let mean = mean_image(&decode_blob(&bytes, "mean.binaryproto").unwrap(), "mean.binaryproto")
//!     .unwrap();
//! assert_eq!(mean.shape(), &[3, 2, 2]);
//! ```

use super::format_error;
use super::upgrade::{dims_to_usize, normalize_net};
use crate::error::{Error, Result};
use crate::files::{MAX_MEAN_BYTES, MAX_MODEL_BYTES};
use crate::import::proto::caffe::{
    BlobProto, BlobShape, LayerParameter, NetParameter, V1LayerParameter,
};
use crate::import::{checked_product, read_file};
use ndarray::{Array3, ArrayD, IxDyn};
use prost::Message;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// Decodes a binary `NetParameter` (a `.caffemodel`, or a binary network definition).
pub fn decode_net(bytes: &[u8], file: &str) -> Result<NetParameter> {
    NetParameter::decode(bytes).map_err(|e| Error::Decode {
        file: file.to_string(),
        detail: format!("caffe.NetParameter: {e}"),
    })
}

/// Reads and decodes the `.caffemodel` at `path` (see [`decode_net`]).
pub fn read_caffemodel(path: impl AsRef<Path>) -> Result<NetParameter> {
    let path = path.as_ref();
    decode_net(
        &read_file(path, MAX_MODEL_BYTES, "a caffemodel")?,
        &path.display().to_string(),
    )
}

/// Decodes a binary `BlobProto` (a mean `.binaryproto`).
pub fn decode_blob(bytes: &[u8], file: &str) -> Result<BlobProto> {
    BlobProto::decode(bytes).map_err(|e| Error::Decode {
        file: file.to_string(),
        detail: format!("caffe.BlobProto: {e}"),
    })
}

/// Reads and decodes the `.binaryproto` at `path` (see [`decode_blob`]).
pub fn read_binaryproto(path: impl AsRef<Path>) -> Result<BlobProto> {
    let path = path.as_ref();
    decode_blob(
        &read_file(path, MAX_MEAN_BYTES, "a blob file")?,
        &path.display().to_string(),
    )
}

/// Reads the mean image at `path` as a C×H×W array (see [`mean_image`]).
pub fn read_mean_image(path: impl AsRef<Path>) -> Result<Array3<f32>> {
    let path = path.as_ref();
    let file = path.display().to_string();
    mean_image(
        &decode_blob(&read_file(path, MAX_MEAN_BYTES, "a mean image")?, &file)?,
        &file,
    )
}

/// The shape of `blob`: its `shape` if present, else the legacy `[num, channels, height,
/// width]` (4 axes, as old files store even biases: 1×1×1×N). `what` names the blob in
/// errors (e.g. `layer `conv1` blob 0`).
pub fn blob_shape(blob: &BlobProto, file: &str, what: &str) -> Result<Vec<usize>> {
    let dims: Vec<i64> = match &blob.shape {
        Some(shape) => shape.dim.clone(),
        None => [blob.num(), blob.channels(), blob.height(), blob.width()]
            .iter()
            .map(|&d| i64::from(d))
            .collect(),
    };
    dims_to_usize(&dims, file, what)
}

/// The values of `blob` (from `data`, or `double_data` converted to `f32`) as an array of
/// [`blob_shape`], after checking that the number of values equals the product of the
/// dimensions.
pub fn blob_to_array(blob: &BlobProto, file: &str, what: &str) -> Result<ArrayD<f32>> {
    let shape = blob_shape(blob, file, what)?;
    let count = checked_product(&shape).ok_or_else(|| {
        format_error(
            file,
            what,
            format!("shape {shape:?} overflows the element count"),
        )
    })?;
    let present = if blob.data.is_empty() {
        blob.double_data.len()
    } else {
        blob.data.len()
    };
    if present != count {
        return Err(format_error(
            file,
            what,
            format!("shape {shape:?} declares {count} values but the blob holds {present}"),
        ));
    }
    let data: Vec<f32> = if blob.data.is_empty() {
        blob.double_data.iter().map(|&d| d as f32).collect()
    } else {
        blob.data.clone()
    };
    ArrayD::from_shape_vec(IxDyn(&shape), data)
        .map_err(|e| format_error(file, what, format!("shape {shape:?}: {e}")))
}

/// The mean image stored in `blob` as a C×H×W array (Caffe's mean files are 1×C×H×W, BGR,
/// values in 0..=255). Accepts 4-D blobs with a leading 1 and 3-D blobs; empty axes are an
/// error.
pub fn mean_image(blob: &BlobProto, file: &str) -> Result<Array3<f32>> {
    let what = "mean image";
    let array = blob_to_array(blob, file, what)?;
    let shape = array.shape().to_vec();
    let chw = match shape.as_slice() {
        [1, c, h, w] | [c, h, w] if *c > 0 && *h > 0 && *w > 0 => [*c, *h, *w],
        _ => {
            return Err(format_error(
                file,
                what,
                format!("expected a non-empty 1×C×H×W or C×H×W blob, got shape {shape:?}"),
            ))
        }
    };
    array
        .into_shape_with_order(chw)
        .map_err(|e| format_error(file, what, format!("shape {shape:?}: {e}")))
}

/// A blob of `shape` holding `data` (row-major), with `shape` set and the legacy dimensions
/// left out, as current Caffe writes it. Fails if `data.len()` is not the product of `shape`.
pub fn blob_from(shape: &[usize], data: &[f32]) -> Result<BlobProto> {
    let what = "new blob";
    let count = checked_product(shape).ok_or_else(|| {
        format_error(
            "<memory>",
            what,
            format!("shape {shape:?} overflows the element count"),
        )
    })?;
    if count != data.len() {
        return Err(format_error(
            "<memory>",
            what,
            format!("shape {shape:?} needs {count} values, got {}", data.len()),
        ));
    }
    let dim = shape
        .iter()
        .map(|&d| {
            i64::try_from(d).map_err(|_| {
                format_error(
                    "<memory>",
                    what,
                    format!("dimension {d} does not fit int64"),
                )
            })
        })
        .collect::<Result<Vec<i64>>>()?;
    Ok(BlobProto {
        shape: Some(BlobShape { dim }),
        data: data.to_vec(),
        ..BlobProto::default()
    })
}

/// Decodes `.caffemodel` bytes like [`decode_net`]; when the data is truncated or corrupt
/// inside a layer, the error is an [`Error::Format`] naming that layer (its position and, if
/// its name field is intact, its name).
///
/// ```
/// use lrp::import::caffe::blob::{blob_from, decode_caffemodel, encode_net};
/// use lrp::import::proto::caffe::{LayerParameter, NetParameter};
/// let layer = LayerParameter {
///     name: Some("fc6".into()),
///     blobs: vec![blob_from(&[4], &[1.0; 4]).unwrap()],
///     ..Default::default()
/// };
/// let bytes = encode_net(&NetParameter { layer: vec![layer], ..Default::default() });
/// let err = decode_caffemodel(&bytes[..bytes.len() - 3], "w.caffemodel").unwrap_err();
/// assert!(err.to_string().contains("w.caffemodel"));
/// assert!(err.to_string().contains("`fc6`"));
/// ```
pub fn decode_caffemodel(bytes: &[u8], file: &str) -> Result<NetParameter> {
    decode_net(bytes, file).map_err(|e| match locate_bad_layer(bytes) {
        Some((index, name)) => format_error(
            file,
            &match name {
                Some(name) => format!("layer {index} `{name}` of the caffemodel"),
                None => format!("layer {index} (name unreadable) of the caffemodel"),
            },
            format!("the data ends or breaks inside this layer (truncated file?): {e}"),
        ),
        None => e,
    })
}

/// Walks the top-level fields of an encoded `NetParameter` and returns the position and,
/// if readable, the name of the first layer (field 100, or V1 field 2) whose bytes run past
/// the end of the data or do not decode.
fn locate_bad_layer(bytes: &[u8]) -> Option<(usize, Option<String>)> {
    use prost::encoding::decode_varint;
    use prost::Message;
    let mut buf = bytes;
    let mut index = 0;
    while !buf.is_empty() {
        let key = decode_varint(&mut buf).ok()?;
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                decode_varint(&mut buf).ok()?;
            }
            1 | 5 => {
                let n = if wire == 1 { 8 } else { 4 };
                buf = buf.get(n..)?;
            }
            2 => {
                let len = usize::try_from(decode_varint(&mut buf).ok()?).ok()?;
                let avail = len.min(buf.len());
                let body = &buf[..avail];
                if field == 100 || field == 2 {
                    let name_field = if field == 100 { 1 } else { 4 };
                    let broken = len > buf.len()
                        || if field == 100 {
                            LayerParameter::decode(body).is_err()
                        } else {
                            V1LayerParameter::decode(body).is_err()
                        };
                    if broken {
                        return Some((index, partial_string_field(body, name_field)));
                    }
                    index += 1;
                }
                if len > buf.len() {
                    return None;
                }
                buf = &buf[len..];
            }
            _ => return None,
        }
    }
    None
}

/// The first complete string field `number` of a possibly truncated message.
fn partial_string_field(mut buf: &[u8], number: u64) -> Option<String> {
    use prost::encoding::decode_varint;
    while !buf.is_empty() {
        let key = decode_varint(&mut buf).ok()?;
        match key & 7 {
            0 => {
                decode_varint(&mut buf).ok()?;
            }
            1 => buf = buf.get(8..)?,
            5 => buf = buf.get(4..)?,
            2 => {
                let len = usize::try_from(decode_varint(&mut buf).ok()?).ok()?;
                let body = buf.get(..len)?;
                if key >> 3 == number {
                    return String::from_utf8(body.to_vec()).ok();
                }
                buf = &buf[len..];
            }
            _ => return None,
        }
    }
    None
}

/// Encodes `net` as `.caffemodel` bytes.
pub fn encode_net(net: &NetParameter) -> Vec<u8> {
    net.encode_to_vec()
}

/// Weights of one layer: its blobs in Caffe's order (weights, then bias), each a shape and
/// its row-major values.
pub type LayerBlobs = Vec<(Vec<usize>, Vec<f32>)>;

/// `.caffemodel` bytes for the network `deploy` (as parsed from its prototxt) with the blobs
/// of `weights` (layer name → blobs). V1 layers are upgraded first, so the result always uses
/// the current `layer` list. Fails if `weights` names a layer that `deploy` does not have,
/// or a blob's values do not match its shape.
pub fn caffemodel_with_weights(
    deploy: &NetParameter,
    weights: &HashMap<String, LayerBlobs>,
    file: &str,
) -> Result<Vec<u8>> {
    let mut net = normalize_net(deploy.clone(), file)?;
    let names: HashSet<&str> = net.layer.iter().map(|l| l.name()).collect();
    let mut missing: Vec<&String> = weights
        .keys()
        .filter(|k| !names.contains(k.as_str()))
        .collect();
    if !missing.is_empty() {
        missing.sort();
        return Err(format_error(
            file,
            &format!("layer `{}`", missing[0]),
            "weights given for a layer the network does not have",
        ));
    }
    for layer in &mut net.layer {
        if let Some(blobs) = weights.get(layer.name()) {
            layer.blobs = blobs
                .iter()
                .enumerate()
                .map(|(i, (shape, data))| {
                    blob_from(shape, data).map_err(|e| match e {
                        Error::Format { detail, .. } => format_error(
                            file,
                            &format!("layer `{}` blob {i}", layer.name()),
                            detail,
                        ),
                        other => other,
                    })
                })
                .collect::<Result<_>>()?;
        }
    }
    Ok(encode_net(&net))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::prototxt::parse_net;

    fn blob(shape: Option<Vec<i64>>, legacy: [i32; 4], data: Vec<f32>) -> BlobProto {
        BlobProto {
            shape: shape.map(|dim| BlobShape { dim }),
            num: Some(legacy[0]),
            channels: Some(legacy[1]),
            height: Some(legacy[2]),
            width: Some(legacy[3]),
            data,
            ..BlobProto::default()
        }
    }

    #[test]
    fn blob_shapes_from_shape_or_legacy_dims() {
        let b = blob(Some(vec![2, 3]), [0; 4], vec![0.0; 6]);
        assert_eq!(blob_shape(&b, "f", "b").unwrap(), vec![2, 3]);
        let b = blob(None, [1, 1, 2, 3], (0..6).map(|v| v as f32).collect());
        let a = blob_to_array(&b, "f", "b").unwrap();
        assert_eq!(a.shape(), &[1, 1, 2, 3]);
        assert_eq!(a[[0, 0, 1, 2]], 5.0);
        let b = BlobProto {
            shape: Some(BlobShape { dim: vec![2] }),
            double_data: vec![1.5, -2.0],
            ..BlobProto::default()
        };
        assert_eq!(
            blob_to_array(&b, "f", "b").unwrap().as_slice().unwrap(),
            &[1.5, -2.0]
        );
    }

    #[test]
    fn blob_sizes_are_checked_before_allocating() {
        let short = blob(Some(vec![2, 3]), [0; 4], vec![0.0; 5]);
        let e = blob_to_array(&short, "w.caffemodel", "layer `fc` blob 0").unwrap_err();
        assert_eq!(
            e.to_string(),
            "w.caffemodel: layer `fc` blob 0: shape [2, 3] declares 6 values but the blob holds 5"
        );
        // A huge declared shape with no data fails without allocating, and overflow is caught.
        let huge = blob(Some(vec![1 << 40, 1 << 40]), [0; 4], vec![]);
        assert!(matches!(
            blob_to_array(&huge, "f", "b"),
            Err(Error::Format { .. })
        ));
        let overflow = blob(Some(vec![i64::MAX, i64::MAX, 4]), [0; 4], vec![]);
        let e = blob_to_array(&overflow, "f", "b").unwrap_err().to_string();
        assert!(e.contains("overflows"), "{e}");
        let negative = blob(Some(vec![2, -3]), [0; 4], vec![]);
        let e = blob_to_array(&negative, "f", "b").unwrap_err().to_string();
        assert!(e.contains("negative dimension -3"), "{e}");
        assert!(blob_from(&[2, 2], &[0.0; 3]).is_err());
    }

    #[test]
    fn mean_image_shapes() {
        let b = blob(None, [1, 3, 2, 2], (0..12).map(|v| v as f32).collect());
        let m = mean_image(&b, "mean").unwrap();
        assert_eq!(m.shape(), &[3, 2, 2]);
        assert_eq!(m[[2, 1, 0]], 10.0);
        let b = blob(Some(vec![3, 2, 2]), [0; 4], vec![0.0; 12]);
        assert_eq!(mean_image(&b, "mean").unwrap().shape(), &[3, 2, 2]);
        let b = blob(None, [2, 3, 2, 2], vec![0.0; 24]);
        let e = mean_image(&b, "mean.binaryproto").unwrap_err().to_string();
        assert!(
            e.starts_with("mean.binaryproto: mean image: expected a non-empty"),
            "{e}"
        );
        let b = blob(None, [1, 3, 2, 0], vec![]);
        assert!(mean_image(&b, "mean").is_err());
    }

    #[test]
    fn truncated_bytes_are_decode_errors() {
        let b = blob_from(&[1, 3, 4, 4], &[1.0; 48]).unwrap();
        let bytes = b.encode_to_vec();
        for cut in [1, 5, bytes.len() / 2, bytes.len() - 1] {
            match decode_blob(&bytes[..cut], "m.binaryproto") {
                Err(Error::Decode { file, detail }) => {
                    assert_eq!(file, "m.binaryproto");
                    assert!(detail.starts_with("caffe.BlobProto"), "{detail}");
                }
                // A cut at a field boundary may decode: then the size check catches it.
                Ok(partial) => assert!(mean_image(&partial, "m").is_err()),
                Err(other) => panic!("{other}"),
            }
        }
        assert!(matches!(
            decode_net(&[0xff, 0xff], "x"),
            Err(Error::Decode { .. })
        ));
    }

    #[test]
    fn caffemodel_writer_checks_names_and_sizes() {
        let deploy = parse_net(
            "layers { name: 'fc' type: INNER_PRODUCT inner_product_param { num_output: 2 } }",
            "d",
        )
        .unwrap()
        .message;
        let mut w = HashMap::new();
        w.insert(
            "fc".to_string(),
            vec![(vec![2, 3], vec![1.0; 6]), (vec![2], vec![0.5; 2])],
        );
        let bytes = caffemodel_with_weights(&deploy, &w, "out.caffemodel").unwrap();
        let back = decode_net(&bytes, "out.caffemodel").unwrap();
        assert!(back.layers.is_empty());
        assert_eq!(back.layer[0].r#type(), "InnerProduct");
        assert_eq!(
            blob_to_array(&back.layer[0].blobs[1], "o", "b")
                .unwrap()
                .as_slice()
                .unwrap(),
            &[0.5, 0.5]
        );

        w.insert("nope".to_string(), vec![]);
        let e = caffemodel_with_weights(&deploy, &w, "out.caffemodel")
            .unwrap_err()
            .to_string();
        assert!(e.contains("layer `nope`"), "{e}");
        w.remove("nope");
        w.insert("fc".to_string(), vec![(vec![2, 3], vec![1.0; 5])]);
        let e = caffemodel_with_weights(&deploy, &w, "out.caffemodel")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("out.caffemodel: layer `fc` blob 0: shape [2, 3] needs 6"),
            "{e}"
        );
    }
}
