//! Findings of the robustness work, kept as regression tests on stable Rust: each input must
//! give a typed error (or succeed), never panic and never allocate what the file merely
//! claims. The im2col crash was found by the `pipeline` cargo-fuzz target of `fuzz/` (see
//! fuzz/README.md); the two out-of-memory cases and the empty-shape crash were found by hand
//! while writing the targets (crafted inputs and reading the code), not by the fuzzer.

use lrp::import::{caffe, prototxt};
use lrp::Error;

fn data(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/fuzz/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Out-of-memory (crafted by hand for the `prototxt` target): a 300-byte prototxt whose InnerProduct declares 9·10⁸
/// random weights (3.6 GB). The random weights of a network are now bounded as a whole
/// ([`caffe::MAX_RANDOM_PARAMS`]) before anything is drawn.
#[test]
fn prototxt_random_weights_are_bounded_before_allocation() {
    let text = String::from_utf8(data("prototxt-random-weights-oom.prototxt")).unwrap();
    let net = prototxt::parse_net(&text, "big.prototxt").unwrap().message;
    let err = caffe::from_net_random(&net, 7, "big.prototxt").unwrap_err();
    assert!(matches!(err, Error::Format { .. }), "{err:?}");
    assert!(err.to_string().contains("random weights"), "{err}");
    let err = caffe::random_weights(&net, 7).unwrap_err();
    assert!(matches!(err, Error::Format { .. }), "{err:?}");
}

mod onnx {
    use lrp::import::onnx::{from_bytes, MAX_FOLDED_VALUES};
    use lrp::import::proto::onnx::{
        attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
        AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
        TensorShapeProto, TypeProto, ValueInfoProto,
    };
    use prost::Message;

    fn input(name: &str, dims: &[i64]) -> ValueInfoProto {
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

    fn tensor(name: &str, data_type: DataType, dims: &[i64]) -> TensorProto {
        TensorProto {
            name: Some(name.into()),
            data_type: Some(data_type as i32),
            dims: dims.to_vec(),
            ..Default::default()
        }
    }

    fn node(op: &str, inputs: &[&str], output: &str) -> NodeProto {
        NodeProto {
            name: Some(output.into()),
            op_type: Some(op.into()),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            ..Default::default()
        }
    }

    /// A model with data input `x` [1, 4] and `nodes` over `initializers`, output `x`.
    fn model(initializers: Vec<TensorProto>, nodes: Vec<NodeProto>) -> Vec<u8> {
        ModelProto {
            ir_version: Some(8),
            opset_import: vec![OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(13),
            }],
            graph: Some(GraphProto {
                node: nodes,
                name: Some("fuzz".into()),
                initializer: initializers,
                input: vec![input("x", &[1, 4])],
                output: vec![input("x", &[1, 4])],
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec()
    }

    fn shape_tensor(dims: &[i64]) -> TensorProto {
        let mut t = tensor("shape", DataType::Int64, &[dims.len() as i64]);
        t.int64_data = dims.to_vec();
        t
    }

    fn assert_fold_refused(bytes: &[u8]) {
        let err = from_bytes(bytes, "fuzz.onnx").unwrap_err();
        assert!(err.to_string().contains("folding"), "{err}");
    }

    /// Out-of-memory (found reading the code for the `onnx_model` target): `ConstantOfShape` of an INT64 value with shape
    /// [16384, 16384] asked for 2 GiB from a 100-byte model (the old per-node limit was 2²⁸
    /// values, 8 bytes each), and any number of such nodes could follow.
    #[test]
    fn constant_of_shape_is_bounded() {
        let mut cos = node("ConstantOfShape", &["shape"], "c");
        let mut value = tensor("v", DataType::Int64, &[1]);
        value.int64_data = vec![7];
        cos.attribute = vec![AttributeProto {
            name: Some("value".into()),
            r#type: Some(AttributeType::Tensor as i32),
            t: Some(value),
            ..Default::default()
        }];
        assert_fold_refused(&model(
            vec![shape_tensor(&[16384, 16384])],
            vec![cos.clone()],
        ));
        // Many nodes, each below the limit, share one budget: two float (zero, so
        // calloc'ed and cheap) constants of 2²⁷ values pass, the third is refused.
        let dims = [1i64 << 13, 1 << 14];
        assert_eq!((dims[0] * dims[1]) as usize * 2, MAX_FOLDED_VALUES);
        let nodes = (0..3)
            .map(|i| node("ConstantOfShape", &["shape"], &format!("c{i}")))
            .collect();
        assert_fold_refused(&model(vec![shape_tensor(&dims)], nodes));
    }

    /// `ConstantOfShape` with a zero dimension and others whose product overflows `isize`:
    /// zero elements, but ndarray cannot represent the shape (it used to panic there).
    #[test]
    fn constant_of_shape_with_unrepresentable_empty_shape() {
        let d = (1i64 << 31) - 1;
        let bytes = model(
            vec![shape_tensor(&[0, d, d, d])],
            vec![node("ConstantOfShape", &["shape"], "c")],
        );
        assert_fold_refused(&bytes);
    }

    /// Broadcasting arithmetic on constants: [16385, 1] + [1, 16385] stores 32 K values and
    /// asks for 2.7·10⁸ (over [`MAX_FOLDED_VALUES`]); [0, 2⁴⁰, 1] + [0, 1, 2⁴⁰] stores none and broadcast to a shape ndarray
    /// cannot represent (an `expect` panicked).
    #[test]
    fn broadcast_folding_is_bounded() {
        let mut a = tensor("a", DataType::Float, &[16385, 1]);
        a.float_data = vec![1.0; 16385];
        let mut b = tensor("b", DataType::Float, &[1, 16385]);
        b.float_data = vec![2.0; 16385];
        assert_fold_refused(&model(vec![a, b], vec![node("Add", &["a", "b"], "c")]));

        let a = tensor("a", DataType::Float, &[0, 1 << 40, 1]);
        let b = tensor("b", DataType::Float, &[0, 1, 1 << 40]);
        assert_fold_refused(&model(vec![a, b], vec![node("Mul", &["a", "b"], "c")]));
    }
}

/// `pipeline` target, crash: a convolution whose right padding is wider than the image
/// (output columns beyond every input column for some kernel taps) made `im2col` slice its
/// input row from past its end for an empty segment ("range start index out of range").
/// The input is the fuzzer's: a 10-byte header (preset, reduction, seed) and an ONNX model.
#[test]
fn conv_with_padding_past_the_image_runs_forward_and_explains() {
    let bytes = data("pipeline-conv-im2col-out-of-bounds.bin");
    let graph = lrp::import::onnx::from_bytes(&bytes[10..], "crash.onnx").unwrap();
    let mut shape = vec![1usize];
    shape.extend_from_slice(graph.input_shape());
    let mut k = 0usize;
    let x = lrp::Tensor::from_shape_fn(ndarray::IxDyn(&shape), |_| {
        k += 1;
        (k % 7) as f32 / 7.0 - 0.5
    });
    graph.forward(&x).unwrap();
    for preset in lrp::composite::PRESETS {
        let composite = lrp::composite::Composite::preset(preset).unwrap();
        if let Ok(explainer) = lrp::explain::Explainer::new(graph.clone(), &composite) {
            let _ = explainer.explain(&x, &lrp::explain::Target::Predicted);
        }
    }
}

/// Found by the fuzzer's rerun with overflow checks (`pipeline`, 2026-11-30): a Resize with
/// six `sizes` and no `axes` attribute indexed a fifth axis of its 4-D input and panicked
/// ("index out of bounds: the len is 4 but the index is 4"). Now a typed error naming the
/// node. The input is the fuzzer's: a 10-byte header and an ONNX model.
#[test]
fn resize_with_more_sizes_than_axes_is_an_error() {
    let bytes = data("pipeline-resize-sizes-past-rank.bin");
    let result =
        std::panic::catch_unwind(|| lrp::import::onnx::from_bytes(&bytes[10..], "crash.onnx"));
    let err = result
        .expect("no panic")
        .expect_err("five sizes for a 4-D input are refused");
    let msg = err.to_string();
    assert!(
        msg.contains("(Resize)") && msg.contains("4 scales or sizes"),
        "{msg}"
    );
}

/// Found by review for the robustness issue (not by the fuzzer, whose inputs stay small): a
/// graph's size is bounded by what its file declares, not by what it stores.
mod graph_limits {
    use lrp::ops::{Op, Pad};
    use lrp::{Error, Graph, Node, MAX_ACTIVATION_VALUES};

    /// An input declared 3×10⁵×10⁵ (3·10¹⁰ values, 120 GB per image) is refused when the
    /// graph is built, naming the input, before anything could allocate it.
    #[test]
    fn a_huge_declared_input_is_refused() {
        let nodes = vec![Node::new("relu", Op::Relu, &["data"])];
        let err = Graph::new(
            vec![("data".into(), vec![3, 100_000, 100_000])],
            nodes,
            &["relu"],
        )
        .unwrap_err();
        assert!(matches!(err, Error::Graph(_)), "{err:?}");
        assert!(err.to_string().contains("input `data`"), "{err}");
        // Dimensions whose product overflows usize are refused the same way.
        let nodes = vec![Node::new("relu", Op::Relu, &["data"])];
        let err = Graph::new(
            vec![("data".into(), vec![1 << 40, 1 << 40])],
            nodes,
            &["relu"],
        )
        .unwrap_err();
        assert!(err.to_string().contains("input `data`"), "{err}");
    }

    /// A small input blown up by a layer (padding by 10⁹) is refused naming that layer.
    #[test]
    fn a_layer_that_declares_a_huge_output_is_refused() {
        let pad = Op::Pad(Pad::new(vec![0, 1_000_000_000, 0], vec![0, 0, 0], 0.0));
        let nodes = vec![Node::new("grow", pad, &["data"])];
        let err = Graph::new(vec![("data".into(), vec![3, 8, 8])], nodes, &["grow"]).unwrap_err();
        assert!(matches!(err, Error::Graph(_)), "{err:?}");
        assert!(err.to_string().contains("node `grow` (Pad)"), "{err}");
        assert!(
            err.to_string().contains(&MAX_ACTIVATION_VALUES.to_string()),
            "{err}"
        );
    }

    /// Nodes given in reverse order: the topological sort took quadratic time (a 2 MB file
    /// of 10⁵ nodes ran for minutes); it is now O(n log n) and keeps the dependency order.
    #[test]
    fn a_long_chain_in_reverse_order_is_sorted() {
        let n = 100_000;
        let mut nodes: Vec<Node> = (0..n)
            .map(|i| {
                let input = if i == 0 {
                    "data".to_string()
                } else {
                    format!("r{}", i - 1)
                };
                Node::new(format!("r{i}"), Op::Relu, &[input.as_str()])
            })
            .collect();
        nodes.reverse();
        let last = format!("r{}", n - 1);
        let g = Graph::new(vec![("data".into(), vec![1])], nodes, &[last.as_str()]).unwrap();
        for (i, node) in g.nodes().iter().enumerate() {
            assert_eq!(node.name, format!("r{i}"));
        }
    }
}
