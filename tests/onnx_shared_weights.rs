//! A weight read by one node moves from the importer's constants into its layer; a weight
//! that several nodes read must still reach every one of them. The shared model must compute
//! exactly what the same model with one copy of the weight per node computes.

use lrp::Tensor;
use ndarray::IxDyn;
use support::{conv_weight, ints, node, onnx_model};

mod support;

fn conv(name: &str, input: &str, weight: &str) -> lrp::import::proto::onnx::NodeProto {
    node(
        "Conv",
        name,
        &[input, weight],
        vec![ints("pads", &[1, 1, 1, 1])],
    )
}

#[test]
fn a_weight_shared_by_two_convolutions_reaches_both() {
    let mut w2 = conv_weight(3, 3);
    w2.name = Some("w2".into());
    let nodes = |second: &str| {
        vec![
            conv("c1", "x", "w"),
            node("Relu", "r1", &["c1"], vec![]),
            conv("c2", "r1", second),
        ]
    };
    let shared = onnx_model(vec![conv_weight(3, 3)], nodes("w"));
    let separate = onnx_model(vec![conv_weight(3, 3), w2], nodes("w2"));
    let g_shared = lrp::import::onnx::from_bytes(&shared, "shared.onnx").unwrap();
    let g_separate = lrp::import::onnx::from_bytes(&separate, "separate.onnx").unwrap();
    let x = Tensor::from_shape_fn(IxDyn(&[1, 3, 8, 8]), |i| {
        ((i[1] * 64 + i[2] * 8 + i[3]) % 7) as f32 - 3.0
    });
    let (a, b) = (
        g_shared.forward(&x).unwrap(),
        g_separate.forward(&x).unwrap(),
    );
    assert_eq!(a.shape(), &[1, 3, 8, 8]);
    assert_eq!(a, b, "shared and separate weights compute the same");
}
