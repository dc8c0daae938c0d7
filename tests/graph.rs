//! Graph construction: wiring errors, shape errors that name the node, input validation.

use lrp::ops::{Concat, Conv2d, Dense, Op};
use lrp::{Error, Graph, GraphBuilder, Node, Tensor};
use ndarray::{Array1, Array2, Array4, IxDyn};

fn conv(out: usize, c: usize, k: usize) -> Op {
    Op::Conv(Conv2d::new(Array4::from_elem((out, c, k, k), 0.1), None))
}

#[test]
fn kernel_larger_than_padded_input_names_the_node() {
    let mut b = GraphBuilder::new();
    b.input("data", &[3, 5, 5]);
    b.add("big", conv(4, 3, 7), &["data"]);
    let err = b.build(&["big"]).unwrap_err();
    assert!(
        matches!(err, Error::Shape { ref node, .. } if node.name == "big"),
        "{err}"
    );
}

#[test]
fn concat_of_mismatched_heights_names_the_node() {
    let mut b = GraphBuilder::new();
    b.input("data", &[3, 8, 8]);
    b.add("a", conv(2, 3, 3), &["data"]);
    b.add("b", conv(2, 3, 1), &["data"]);
    b.add("cat", Op::Concat(Concat { axis: 0 }), &["a", "b"]);
    let err = b.build(&["cat"]).unwrap_err();
    assert!(
        matches!(err, Error::Shape { ref node, .. } if node.name == "cat"),
        "{err}"
    );
}

#[test]
fn dense_fed_the_wrong_size_names_the_node() {
    let mut b = GraphBuilder::new();
    b.input("data", &[2, 3, 3]);
    b.add(
        "fc",
        Op::Dense(Dense::new(Array2::zeros((4, 17)), None)),
        &["data"],
    );
    let err = b.build(&["fc"]).unwrap_err();
    assert!(
        matches!(err, Error::Shape { ref node, .. } if node.name == "fc"),
        "{err}"
    );
    assert!(err.to_string().contains("18 features"), "{err}");
}

#[test]
fn nodes_are_sorted_topologically_and_fan_out_works() {
    // Given out of order: relu reads conv, sum reads both.
    let nodes = vec![
        Node::new("sum", Op::Add, &["conv", "relu"]),
        Node::new("relu", Op::Relu, &["conv"]),
        Node::new("conv", conv(1, 1, 1), &["x"]),
    ];
    let g = Graph::new(vec![("x".into(), vec![1, 2, 2])], nodes, &["sum"]).unwrap();
    let order: Vec<&str> = g.nodes().iter().map(|n| n.name.as_str()).collect();
    assert_eq!(order, ["conv", "relu", "sum"]);
    let x = Tensor::from_shape_vec(IxDyn(&[1, 1, 2, 2]), vec![1.0, -2.0, 3.0, -4.0]).unwrap();
    let y = g.forward(&x).unwrap();
    // conv = 0.1x; sum = 0.1x + relu(0.1x)
    let want = [0.2, -0.2, 0.6, -0.4];
    for (a, b) in y.iter().zip(want) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
}

#[test]
fn cycles_unknown_tensors_and_duplicates_are_errors() {
    let cyc = vec![
        Node::new("a", Op::Relu, &["b"]),
        Node::new("b", Op::Relu, &["a"]),
    ];
    let err = Graph::new(vec![("x".into(), vec![1])], cyc, &["a"]).unwrap_err();
    assert!(err.to_string().contains("cycle"), "{err}");

    let unknown = vec![Node::new("a", Op::Relu, &["nope"])];
    let err = Graph::new(vec![("x".into(), vec![1])], unknown, &["a"]).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");

    let dup = vec![
        Node::new("a", Op::Relu, &["x"]),
        Node::new("a", Op::Relu, &["x"]),
    ];
    assert!(Graph::new(vec![("x".into(), vec![1])], dup, &["a"]).is_err());

    let ok = vec![Node::new("a", Op::Relu, &["x"])];
    let err = Graph::new(vec![("x".into(), vec![1])], ok, &["missing"]).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn non_finite_weights_are_rejected_and_denormals_flushed() {
    let mut w = Array2::from_elem((2, 2), 1.0f32);
    w[[1, 0]] = f32::NAN;
    let mut b = GraphBuilder::new();
    b.input("x", &[2]);
    b.add("fc", Op::Dense(Dense::new(w, None)), &["x"]);
    let err = b.build(&["fc"]).unwrap_err();
    assert!(
        matches!(err, Error::NonFinite { .. }) && err.to_string().contains("fc"),
        "{err}"
    );

    let tiny = f32::MIN_POSITIVE / 4.0;
    assert!(tiny.is_subnormal());
    let mut b = GraphBuilder::new();
    b.input("x", &[2]);
    let d = Dense::new(
        Array2::from_elem((2, 2), tiny),
        Some(Array1::from(vec![tiny, 1.0])),
    );
    b.add("fc", Op::Dense(d), &["x"]);
    let g = b.build(&["fc"]).unwrap();
    assert_eq!(g.flushed_denormals(), 5);
    let Op::Dense(d) = &g.nodes()[0].op else {
        unreachable!()
    };
    assert!(d.weight().iter().all(|&v| v == 0.0));
}

#[test]
fn wrong_input_shape_and_nan_input_are_errors() {
    let mut b = GraphBuilder::new();
    b.input("data", &[1, 4, 4]);
    b.add("conv", conv(2, 1, 3), &["data"]);
    let g = b.build(&["conv"]).unwrap();
    let err = g.forward(&Tensor::zeros(IxDyn(&[1, 1, 5, 4]))).unwrap_err();
    assert!(matches!(err, Error::InputShape { .. }), "{err}");
    assert!(err.to_string().contains("[1, 1, 4, 4]"), "{err}");
    let err = g.forward(&Tensor::zeros(IxDyn(&[0, 1, 4, 4]))).unwrap_err();
    assert!(matches!(err, Error::InputShape { .. }), "{err}");
    let mut x = Tensor::zeros(IxDyn(&[2, 1, 4, 4]));
    x[[1, 0, 2, 2]] = f32::INFINITY;
    let err = g.forward(&x).unwrap_err();
    assert!(matches!(err, Error::NonFinite { .. }), "{err}");
    // Batch of 2 otherwise works.
    x[[1, 0, 2, 2]] = 1.0;
    assert_eq!(g.forward(&x).unwrap().shape(), &[2, 2, 2, 2]);
}

#[test]
fn run_keeps_intermediates_only_when_asked() {
    let mut b = GraphBuilder::new();
    b.input("x", &[1, 3, 3]);
    b.add("c", conv(1, 1, 3), &["x"]);
    b.add("r", Op::Relu, &["c"]);
    let g = b.build(&["r"]).unwrap();
    let x = Tensor::ones(IxDyn(&[1, 1, 3, 3]));
    let all = g.run(&[&x], true).unwrap();
    assert!(all.get(g.tensor_id("c").unwrap()).is_some());
    let lean = g.run(&[&x], false).unwrap();
    assert!(lean.get(g.tensor_id("c").unwrap()).is_none());
    assert!((lean.output(0).unwrap()[[0, 0, 0, 0]] - 0.9).abs() < 1e-6);
}
