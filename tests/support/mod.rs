//! Helpers shared by the integration tests that write bad input files.

#![allow(dead_code)] // each test crate uses a part

pub mod cli;

use lrp::import::proto::onnx::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};
use prost::Message;

// A small ONNX model writer: input `x` [1, 3, 8, 8], nodes, initializers.

pub fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    use tensor_shape_proto::{dimension::Value, Dimension};
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            value: Some(Value::DimValue(d)),
                            denotation: None,
                        })
                        .collect(),
                }),
            })),
            denotation: None,
        }),
        doc_string: None,
    }
}

pub fn floats(name: &str, dims: &[i64], data: Vec<f32>) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        data_type: Some(DataType::Float as i32),
        dims: dims.to_vec(),
        float_data: data,
        ..Default::default()
    }
}

pub fn node(op: &str, name: &str, inputs: &[&str], attrs: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        name: Some(name.into()),
        op_type: Some(op.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![name.into()],
        attribute: attrs,
        ..Default::default()
    }
}

pub fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Ints as i32),
        ints: v.to_vec(),
        ..Default::default()
    }
}

pub fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(v),
        ..Default::default()
    }
}

pub fn float(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Float as i32),
        f: Some(v),
        ..Default::default()
    }
}

/// An opset-13 model reading `x` [1, 3, 8, 8]; its output is the last node's.
pub fn onnx_model(initializers: Vec<TensorProto>, nodes: Vec<NodeProto>) -> Vec<u8> {
    let out = nodes.last().unwrap().output[0].clone();
    ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(13),
        }],
        graph: Some(GraphProto {
            node: nodes,
            name: Some("bad".into()),
            initializer: initializers,
            input: vec![value_info("x", &[1, 3, 8, 8])],
            output: vec![value_info(&out, &[1])],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// Conv weights [out, in, 3, 3] counting up from 0.01.
pub fn conv_weight(out: i64, inp: i64) -> TensorProto {
    let n = (out * inp * 9) as usize;
    floats(
        "w",
        &[out, inp, 3, 3],
        (0..n).map(|i| 0.01 * i as f32).collect(),
    )
}

/// A PNG of `width`×`height` declared in its IHDR chunk, with `idat` as its only data chunk
/// (none if empty).
pub fn png_header(width: u32, height: u32, idat: &[u8]) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut c = !0u32;
        for &b in bytes {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend(kind);
        out.extend(data);
        let crc = crc32(&out[start..]);
        out.extend(crc.to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]); // 8-bit RGB
    chunk(&mut png, b"IHDR", &ihdr);
    if !idat.is_empty() {
        chunk(&mut png, b"IDAT", idat);
    }
    chunk(&mut png, b"IEND", &[]);
    png
}

/// A `mean.binaryproto` holding a 3×`side`×`side` mean image of 128s.
pub fn mean_binaryproto(side: usize) -> Vec<u8> {
    lrp::import::caffe_model::blob_from(&[1, 3, side, side], &vec![128.0; 3 * side * side])
        .unwrap()
        .encode_to_vec()
}
