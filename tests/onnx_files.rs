//! The two shipped ONNX models decode and their initializers convert to arrays.
//!
//! NOTE: this test reads test data outside the repository, from `../shared/models/`
//! (relative to `CARGO_MANIFEST_DIR`); see `../shared/models/NOTICE.md` for their origin.

use lrp::import::onnx_model::{
    default_opset, get_ints, read_model, tensor_dims, tensor_to_array, tensor_to_i64,
};
use lrp::import::proto::onnx::tensor_proto::DataType;
use lrp::Error;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn model_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/models")
        .join(name)
}

fn check_model(name: &str, expected_ops: &[&str], side: i64, classes: i64) {
    let path = model_path(name);
    let file = path.display().to_string();
    let model = read_model(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(default_opset(&model), Some(18));
    let graph = model.graph.as_ref().expect("graph");

    let ops: BTreeSet<&str> = graph.node.iter().map(|n| n.op_type()).collect();
    let expected: BTreeSet<&str> = expected_ops.iter().copied().collect();
    assert_eq!(ops, expected, "{name}");

    // Inputs and outputs with their declared shapes (batch symbolic or 1).
    let dims = |v: &lrp::import::proto::onnx::ValueInfoProto| -> Vec<Option<i64>> {
        use lrp::import::proto::onnx::{tensor_shape_proto::dimension::Value, type_proto};
        match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
            Some(type_proto::Value::TensorType(t)) => t
                .shape
                .as_ref()
                .map(|s| {
                    s.dim
                        .iter()
                        .map(|d| match d.value {
                            Some(Value::DimValue(x)) => Some(x),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            _ => vec![],
        }
    };
    assert_eq!(graph.input.len(), 1);
    assert_eq!(graph.input[0].name(), "images");
    assert_eq!(
        &dims(&graph.input[0])[1..],
        &[Some(3), Some(side), Some(side)]
    );
    assert_eq!(graph.output[0].name(), "probabilities");
    assert_eq!(dims(&graph.output[0]).last(), Some(&Some(classes)));

    // Every initializer converts, with as many elements as its dims declare.
    let mut total = 0;
    for t in &graph.initializer {
        let (_, count) = tensor_dims(t, &file).unwrap();
        if t.data_type() == DataType::Int64 as i32 {
            assert_eq!(
                tensor_to_i64(t, &file).unwrap().len(),
                count,
                "{}",
                t.name()
            );
        }
        let a = tensor_to_array(t, &file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.len(), count, "{}", t.name());
        assert_eq!(
            a.shape().iter().map(|&d| d as i64).collect::<Vec<_>>(),
            t.dims
        );
        total += count;
    }
    assert!(total > 100_000, "{name}: only {total} parameters");

    // Conv weights are 4-D and match the node's kernel_shape attribute.
    for node in graph.node.iter().filter(|n| n.op_type() == "Conv") {
        let kernel = get_ints(node, "kernel_shape")
            .unwrap()
            .expect("kernel_shape");
        let w = graph
            .initializer
            .iter()
            .find(|t| t.name() == node.input[1])
            .expect("weights");
        assert_eq!(&w.dims[2..], kernel, "{}", node.name());
    }
}

#[test]
fn gender_model_decodes() {
    check_model(
        "gender-v1.onnx",
        &[
            "Add",
            "AveragePool",
            "Conv",
            "Flatten",
            "Gemm",
            "Mul",
            "Relu",
            "Softmax",
        ],
        32,
        2,
    );
}

#[test]
fn age_model_decodes() {
    check_model(
        "age-v1.onnx",
        &[
            "Add",
            "AveragePool",
            "Conv",
            "Flatten",
            "Gemm",
            "GlobalAveragePool",
            "MaxPool",
            "Mul",
            "Pad",
            "Relu",
            "Softmax",
        ],
        64,
        81,
    );
    // The shortcut's channel padding is an INT64 initializer.
    let model = read_model(model_path("age-v1.onnx")).unwrap();
    let graph = model.graph.unwrap();
    let pads = graph
        .initializer
        .iter()
        .find(|t| t.name().ends_with("_left_pads"))
        .unwrap();
    assert_eq!(tensor_to_i64(pads, "age-v1.onnx").unwrap().len(), 8);
}

#[test]
fn truncated_onnx_is_a_typed_error() {
    let bytes = std::fs::read(model_path("gender-v1.onnx")).unwrap();
    for cut in [1, 10, bytes.len() / 2, bytes.len() - 3] {
        match lrp::import::onnx_model::decode_model(&bytes[..cut], "cut.onnx") {
            Err(Error::Decode { .. }) => {}
            Ok(m) => {
                // A cut at a field boundary decodes; the tensors then fail their size check
                // or the graph is incomplete.
                let g = m.graph.unwrap_or_default();
                let ok = g
                    .initializer
                    .iter()
                    .all(|t| tensor_to_array(t, "cut.onnx").is_ok());
                assert!(
                    !ok || g.output.is_empty(),
                    "cut at {cut} decoded completely"
                );
            }
            Err(other) => panic!("{other}"),
        }
    }
}
