//! The ONNX exporter (`lrp::export::onnx`): round trips through our importer, agreement with
//! onnxruntime on exported zoo networks, and typed errors for what opset 13 cannot express.

use lrp::export::onnx;
use lrp::import::onnx as import;
use lrp::ops::{
    Affine, Concat, Conv2d, Dense, Lrn, Op, Pad, Pool2d, PoolRounding, Reshape, Softmax,
};
use lrp::zoo::{self, Architecture};
use lrp::{Error, Graph, GraphBuilder, Node, Tensor};
use ndarray::{Array1, Array2, Array4, IxDyn};
use std::collections::HashSet;

/// Deterministic input: `x.flat[i] = sin(0.001·i)` (sine in f64), batch first. The same
/// formula as `tests/onnxruntime/make_reference.py`.
fn input(batch: usize, per_sample: &[usize]) -> Tensor {
    let mut shape = vec![batch];
    shape.extend_from_slice(per_sample);
    let n: usize = shape.iter().product();
    Tensor::from_shape_vec(
        IxDyn(&shape),
        (0..n).map(|i| (0.001 * i as f64).sin() as f32).collect(),
    )
    .unwrap()
}

/// Seeded values in [-1, 1) for small test weights.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = zoo::rng::Rng::new(seed);
    (0..n).map(|_| rng.uniform() * 2.0 - 1.0).collect()
}

/// Normwise relative error `max|a − b| / max|b|`.
fn normwise(got: &Tensor, want: &Tensor) -> f32 {
    assert_eq!(got.shape(), want.shape());
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = got
        .iter()
        .zip(want)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    if scale == 0.0 {
        diff
    } else {
        diff / scale
    }
}

/// All outputs of `g` on `x`.
fn outputs(g: &Graph, x: &Tensor) -> Vec<Tensor> {
    let mut acts = g.run(&[x], false).unwrap();
    (0..g.output_ids().len())
        .map(|i| acts.take_output(i).unwrap())
        .collect()
}

/// Export `g`, import it back raw (`from_model`) and canonised (`from_bytes`), and check that
/// both compute the outputs of `g` on `x` to 1e-5 normwise. Returns the exported op types.
fn round_trip(what: &str, g: &Graph, x: &Tensor) -> HashSet<String> {
    let want = outputs(g, x);
    let model = onnx::to_model(g).unwrap();
    let ops = model
        .graph
        .as_ref()
        .unwrap()
        .node
        .iter()
        .map(|n| n.op_type().to_string())
        .collect();
    let raw = import::from_model(&model, what).unwrap_or_else(|e| panic!("{what}: {e}"));
    drop(model);
    check_outputs(&format!("{what} (raw)"), &raw, x, &want);
    drop(raw);
    let bytes = onnx::to_bytes(g).unwrap();
    let canon = import::from_bytes(&bytes, what).unwrap_or_else(|e| panic!("{what}: {e}"));
    drop(bytes);
    check_outputs(&format!("{what} (canonised)"), &canon, x, &want);
    ops
}

fn check_outputs(what: &str, g: &Graph, x: &Tensor, want: &[Tensor]) {
    let got = outputs(g, x);
    assert_eq!(got.len(), want.len(), "{what}: number of outputs");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        let err = normwise(a, b);
        assert!(err <= 1e-5, "{what}: output {i}: normwise error {err}");
    }
}

fn zoo_round_trip(arch: Architecture) {
    let g = zoo::build(arch, 7, 100 + arch as u64).unwrap();
    round_trip(arch.name(), &g, &input(1, g.input_shape()));
}

#[test]
fn adiencenet_round_trip() {
    zoo_round_trip(Architecture::AdienceNet);
}

#[test]
fn caffenet_round_trip() {
    zoo_round_trip(Architecture::CaffeNet);
}

#[test]
fn googlenet_round_trip() {
    zoo_round_trip(Architecture::GoogLeNet);
}

#[test]
fn vgg16_round_trip() {
    zoo_round_trip(Architecture::Vgg16);
}

#[test]
fn googlenet_with_aux_heads_round_trip() {
    let g = zoo::googlenet_with_aux(5, 9, true).unwrap();
    assert_eq!(g.output_ids().len(), 3);
    let model = onnx::to_model(&g).unwrap();
    let names: Vec<&str> = model
        .graph
        .as_ref()
        .unwrap()
        .output
        .iter()
        .map(|o| o.name())
        .collect();
    let want: Vec<&str> = g
        .output_ids()
        .iter()
        .map(|&t| g.tensors()[t].name.as_str())
        .collect();
    assert_eq!(names, want);
    round_trip("googlenet+aux", &g, &input(1, g.input_shape()));
}

/// The shipped models (this test reads ../shared/models, outside the repository), loaded and
/// canonised, then exported and imported again.
#[test]
fn shipped_models_round_trip() {
    for model in ["gender-v1.onnx", "age-v1.onnx"] {
        let path = format!("{}/../shared/models/{model}", env!("CARGO_MANIFEST_DIR"));
        let g = import::load(&path).unwrap();
        round_trip(model, &g, &input(1, g.input_shape()));
    }
}

fn push(b: &mut GraphBuilder, name: &str, op: Op, inputs: &[&str]) -> Vec<usize> {
    b.push_checked(Node::new(name, op, inputs)).unwrap()
}

fn affine(n: usize, seed: u64) -> Affine {
    Affine::new(
        Array1::from(values(n, seed)),
        Array1::from(values(n, seed + 1)),
    )
}

/// Convolution, padding, element-wise affine map, LRN, every pooling variant, sums of 3,
/// products of 2 and 3, concatenation along channels and height, global average pooling.
#[test]
fn convolutional_ops_round_trip() {
    let mut b = GraphBuilder::new();
    b.input("x", &[4, 9, 10]);
    push(&mut b, "pad_c", Op::Pad(Pad::channels(1, 1)), &["x"]);
    let s = push(
        &mut b,
        "pad_hw",
        Op::Pad(Pad::new(vec![0, 1, 0], vec![0, 0, 2], -0.5)),
        &["pad_c"],
    );
    assert_eq!(s, [6, 10, 12]);
    let w = Array4::from_shape_vec((4, 3, 3, 2), values(72, 1)).unwrap();
    let mut conv = Conv2d::new(w, Some(Array1::from(values(4, 2))))
        .with_groups(2)
        .with_pads([1, 0, 2, 1]);
    conv.stride = [2, 1];
    conv.dilation = [1, 2];
    let s = push(&mut b, "conv", Op::Conv(conv), &["pad_hw"]);
    assert_eq!(s, [4, 6, 11]);
    // One scale and shift per element of the sample.
    push(
        &mut b,
        "scale_e",
        Op::Affine(affine(4 * 6 * 11, 3)),
        &["conv"],
    );
    push(&mut b, "relu", Op::Relu, &["scale_e"]);
    push(
        &mut b,
        "lrn",
        Op::Lrn(Lrn::new(3, 0.5, 0.75, 2.0)),
        &["relu"],
    );
    let clip = Pool2d::new([3, 3], [2, 2])
        .with_pad(1)
        .with_rounding(PoolRounding::CeilClip);
    let s1 = push(&mut b, "max_clip", Op::MaxPool(clip.clone()), &["lrn"]);
    let s2 = push(
        &mut b,
        "avg_clip_incl",
        Op::AvgPool(clip.with_count_include_pad(true)),
        &["lrn"],
    );
    let floor = Pool2d::new([3, 3], [2, 2]).with_pads([1, 1, 2, 2]);
    let s3 = push(&mut b, "avg_floor", Op::AvgPool(floor), &["lrn"]);
    assert_eq!((s1.clone(), s2), (s3, vec![4, 4, 6]));
    // Plain ceil whose output size equals ceil-with-clip: exported as ceil_mode = 1.
    let ceil = Pool2d::new([3, 3], [2, 2]).with_rounding(PoolRounding::Ceil);
    push(&mut b, "max_ceil", Op::MaxPool(ceil), &["lrn"]);
    push(&mut b, "gap", Op::GlobalAvgPool, &["max_ceil"]);
    push(
        &mut b,
        "sum3",
        Op::Add,
        &["max_clip", "avg_clip_incl", "avg_floor"],
    );
    push(&mut b, "mul2", Op::Mul, &["max_clip", "avg_clip_incl"]);
    push(
        &mut b,
        "mul3",
        Op::Mul,
        &["max_clip", "avg_clip_incl", "avg_floor"],
    );
    push(&mut b, "add2", Op::Add, &["mul2", "mul3"]);
    push(
        &mut b,
        "cat_c",
        Op::Concat(Concat::new(0)),
        &["sum3", "add2", "mul3"],
    );
    let s = push(
        &mut b,
        "cat_h",
        Op::Concat(Concat::new(1)),
        &["sum3", "max_clip"],
    );
    assert_eq!(s, [4, 8, 6]);
    let g = b.build(&["cat_c", "cat_h", "gap"]).unwrap();
    let ops = round_trip("conv ops", &g, &input(2, g.input_shape()));
    for op in [
        "Pad",
        "Conv",
        "Mul",
        "Add",
        "Relu",
        "LRN",
        "MaxPool",
        "AveragePool",
        "GlobalAveragePool",
        "Sum",
        "Concat",
    ] {
        assert!(ops.contains(op), "{op} missing from {ops:?}");
    }
}

/// Reshape, per-channel affine maps, dense layers on 2-D and 1-D samples (with and without
/// bias), dropout, identity, flatten and softmax along a per-sample axis.
#[test]
fn dense_ops_round_trip() {
    let mut b = GraphBuilder::new();
    b.input("x", &[2, 3, 4]);
    push(
        &mut b,
        "reshape",
        Op::Reshape(Reshape::new(vec![6, 4])),
        &["x"],
    );
    push(&mut b, "scale_c", Op::Affine(affine(6, 10)), &["reshape"]);
    let w = Array2::from_shape_vec((5, 24), values(120, 12)).unwrap();
    push(
        &mut b,
        "fc1",
        Op::Dense(Dense::new(w, Some(Array1::from(values(5, 13))))),
        &["scale_c"],
    );
    push(&mut b, "relu", Op::Relu, &["fc1"]);
    push(&mut b, "drop", Op::Dropout, &["relu"]);
    push(&mut b, "scale_1d", Op::Affine(affine(5, 14)), &["drop"]);
    let w = Array2::from_shape_vec((3, 5), values(15, 16)).unwrap();
    push(&mut b, "fc2", Op::Dense(Dense::new(w, None)), &["scale_1d"]);
    push(&mut b, "id", Op::Identity, &["fc2"]);
    push(&mut b, "prob", Op::Softmax(Softmax::new(0)), &["id"]);
    push(&mut b, "flat", Op::Flatten, &["x"]);
    push(
        &mut b,
        "rows",
        Op::Reshape(Reshape::new(vec![2, 12])),
        &["flat"],
    );
    push(&mut b, "row_prob", Op::Softmax(Softmax::new(1)), &["rows"]);
    let g = b.build(&["prob", "row_prob"]).unwrap();
    let ops = round_trip("dense ops", &g, &input(3, g.input_shape()));
    for op in [
        "Reshape", "Mul", "Add", "Flatten", "Gemm", "Relu", "Dropout", "Identity", "Softmax",
    ] {
        assert!(ops.contains(op), "{op} missing from {ops:?}");
    }
}

/// The activations of issue 17 after a convolution (values in about [-6, 6]): Clip with both,
/// one and no bounds, HardSigmoid, HardSwish, SiLU, both GELUs, LeakyRelu, PRelu per channel and
/// shared, Elu, Sigmoid, Tanh. HardSwish, SiLU and GELU are spelled out at opset 13 and must
/// come back as one node each (the importer fuses them).
#[test]
fn activations_round_trip() {
    use lrp::ops::{
        clip::Clip,
        elu::Elu,
        gelu::{Gelu, GeluApprox},
        hard_sigmoid::HardSigmoid,
        leaky_relu::LeakyRelu,
        prelu::PRelu,
    };
    let mut b = GraphBuilder::new();
    b.input("x", &[4, 5, 5]);
    let w = Array4::from_shape_vec((4, 4, 3, 3), values(144, 20)).unwrap();
    let conv = Conv2d::new(w.mapv(|v| v * 2.0), None).with_pads([1, 1, 1, 1]);
    push(&mut b, "conv", Op::Conv(conv), &["x"]);
    let acts = [
        ("relu6", Op::Clip(Clip::relu6())),
        ("clip_max", Op::Clip(Clip::new(f32::NEG_INFINITY, 0.5))),
        (
            "clip_none",
            Op::Clip(Clip::new(f32::NEG_INFINITY, f32::INFINITY)),
        ),
        ("hsig", Op::HardSigmoid(HardSigmoid::new(0.3, 0.4))),
        ("hswish", Op::HardSwish),
        ("silu", Op::Silu),
        ("gelu", Op::Gelu(Gelu::new(GeluApprox::Erf))),
        ("gelu_tanh", Op::Gelu(Gelu::new(GeluApprox::Tanh))),
        ("leaky", Op::LeakyRelu(LeakyRelu::new(0.1))),
        ("prelu", Op::PRelu(PRelu::new(vec![0.1, 0.2, 0.3, 0.4]))),
        ("prelu1", Op::PRelu(PRelu::new(vec![0.25]))),
        ("elu", Op::Elu(Elu::new(0.5))),
        ("sigmoid", Op::Sigmoid),
        ("tanh", Op::Tanh),
    ];
    let names: Vec<&str> = acts.iter().map(|(n, _)| *n).collect();
    let kinds: Vec<&str> = acts.iter().map(|(_, op)| op.kind()).collect();
    for (name, op) in acts {
        push(&mut b, name, op, &["conv"]);
    }
    push(&mut b, "cat", Op::Concat(Concat::new(0)), &names);
    let g = b.build(&["cat"]).unwrap();
    let ops = round_trip("activations", &g, &input(2, g.input_shape()));
    for op in [
        "Clip",
        "HardSigmoid",
        "Sigmoid",
        "Erf",
        "Tanh",
        "LeakyRelu",
        "PRelu",
        "Elu",
    ] {
        assert!(ops.contains(op), "{op} missing from {ops:?}");
    }
    // Read back, every activation is one node of its kind again.
    let back = import::from_bytes(&onnx::to_bytes(&g).unwrap(), "activations.onnx").unwrap();
    let back_kinds: Vec<&str> = back.nodes()[1..=names.len()]
        .iter()
        .map(|n| n.op.kind())
        .collect();
    assert_eq!(back_kinds, kinds);
}

/// The structural and linear operators of modern CNNs: transpose, slice (negative step),
/// dense on the last axis with and without bias, transposed convolution, resize by scales and
/// by sizes.
#[test]
fn structural_ops_round_trip() {
    use lrp::ops::resize::{Coordinates, Interpolation, Nearest, ResizeSize};
    use lrp::ops::{ConvTranspose2d, Resize, Slice, Transpose};
    let mut b = GraphBuilder::new();
    b.input("x", &[3, 5, 6]);
    push(
        &mut b,
        "last",
        Op::Transpose(Transpose::new(vec![1, 2, 0])),
        &["x"],
    );
    let w = Array2::from_shape_vec((4, 3), values(12, 20)).unwrap();
    let fc = Dense::new(w, Some(Array1::from(values(4, 21)))).on_last_axis();
    push(&mut b, "fc_last", Op::Dense(fc), &["last"]);
    let w = Array2::from_shape_vec((2, 4), values(8, 22)).unwrap();
    push(
        &mut b,
        "fc_nobias",
        Op::Dense(Dense::new(w, None).on_last_axis()),
        &["fc_last"],
    );
    let s = push(
        &mut b,
        "first",
        Op::Transpose(Transpose::new(vec![2, 0, 1])),
        &["fc_nobias"],
    );
    assert_eq!(s, [2, 5, 6]);
    let sl = Slice::new(vec![2, 1], vec![-1, 0], vec![i64::MIN, 4], vec![-2, 1]);
    let s = push(&mut b, "slice", Op::Slice(sl), &["first"]);
    assert_eq!(s, [2, 4, 3]);
    let w = Array4::from_shape_vec((2, 3, 3, 3), values(54, 23)).unwrap();
    let mut t = ConvTranspose2d::new(w, Some(Array1::from(values(3, 24)))).with_stride(2);
    t.pads = [1, 0, 0, 1];
    t.output_padding = [1, 0];
    let s = push(&mut b, "deconv", Op::ConvTranspose(t), &["slice"]);
    assert_eq!(s, [3, 9, 6]);
    let up = Resize::new(
        Interpolation::Linear,
        Coordinates::PytorchHalfPixel,
        ResizeSize::Scales([1.5, 2.0]),
    );
    push(&mut b, "up", Op::Resize(up), &["deconv"]);
    let near = Resize::new(
        Interpolation::Nearest(Nearest::RoundPreferCeil),
        Coordinates::AlignCorners,
        ResizeSize::Sizes([4, 11]),
    );
    push(&mut b, "near", Op::Resize(near), &["deconv"]);
    let g = b.build(&["up", "near"]).unwrap();
    let ops = round_trip("structural ops", &g, &input(2, g.input_shape()));
    for op in [
        "Transpose",
        "MatMul",
        "Add",
        "Slice",
        "ConvTranspose",
        "Resize",
        "Shape",
        "Concat",
    ] {
        assert!(ops.contains(op), "{op} missing from {ops:?}");
    }
}

/// Inputs and outputs carry a symbolic batch dimension and the per-sample dimensions; the
/// model header is opset 13, IR 7, producer lrp; weights are raw little-endian floats.
#[test]
fn model_header_shapes_and_weights() {
    use lrp::import::proto::onnx::{tensor_shape_proto::dimension::Value, type_proto};
    let g = zoo::build(Architecture::AdienceNet, 3, 5).unwrap();
    let m = onnx::to_model(&g).unwrap();
    assert_eq!((m.ir_version(), m.producer_name()), (7, "lrp"));
    assert_eq!(m.opset_import.len(), 1);
    assert_eq!(
        (m.opset_import[0].domain(), m.opset_import[0].version()),
        ("", 13)
    );
    let graph = m.graph.as_ref().unwrap();
    let dims = |v: &lrp::import::proto::onnx::ValueInfoProto| -> Vec<String> {
        let Some(type_proto::Value::TensorType(t)) = v.r#type.as_ref().unwrap().value.as_ref()
        else {
            panic!("not a tensor")
        };
        t.shape
            .as_ref()
            .unwrap()
            .dim
            .iter()
            .map(|d| match d.value.as_ref().unwrap() {
                Value::DimValue(v) => v.to_string(),
                Value::DimParam(p) => p.clone(),
            })
            .collect()
    };
    assert_eq!(graph.input.len(), 1);
    assert_eq!(graph.input[0].name(), "data");
    assert_eq!(dims(&graph.input[0]), ["N", "3", "227", "227"]);
    assert_eq!(graph.output.len(), 1);
    assert_eq!(graph.output[0].name(), "prob");
    assert_eq!(dims(&graph.output[0]), ["N", "3"]);
    // Node names and tensor names are ours.
    let conv1 = graph.node.iter().find(|n| n.name() == "conv1").unwrap();
    assert_eq!(conv1.op_type(), "Conv");
    assert_eq!(conv1.output, ["conv1"]);
    let w = graph
        .initializer
        .iter()
        .find(|t| t.name() == conv1.input[1])
        .unwrap();
    let Op::Conv(c) = &g.nodes()[0].op else {
        panic!("conv1 is a convolution")
    };
    assert_eq!(w.dims, [96, 3, 7, 7]);
    assert!(w.float_data.is_empty());
    let raw = w.raw_data();
    assert_eq!(raw.len(), 4 * c.weight().len());
    assert_eq!(
        f32::from_le_bytes(raw[4..8].try_into().unwrap()),
        c.weight().as_slice().unwrap()[1]
    );
}

/// Plain ceil rounding whose last window starts in the padding has no opset-13 equivalent.
#[test]
fn inexpressible_pooling_is_a_typed_error_naming_the_node() {
    let mut b = GraphBuilder::new();
    b.input("x", &[1, 4, 4]);
    let p = Pool2d::new([2, 2], [2, 2])
        .with_pads([0, 0, 1, 1])
        .with_rounding(PoolRounding::Ceil);
    let s = push(&mut b, "pool5", Op::MaxPool(p), &["x"]);
    assert_eq!(s, [1, 3, 3]);
    let g = b.build(&["pool5"]).unwrap();
    let err = onnx::to_bytes(&g).unwrap_err();
    let msg = err.to_string();
    match err {
        Error::Export { node, .. } => {
            assert_eq!((node.name.as_str(), node.op), ("pool5", "MaxPool"));
        }
        other => panic!("expected Error::Export, got {other:?}"),
    }
    assert!(
        msg.contains("pool5") && msg.contains("ONNX opset 13"),
        "{msg}"
    );
}

#[test]
fn save_writes_a_file_and_reports_write_errors() {
    let g = zoo::build(Architecture::AdienceNet, 2, 1).unwrap();
    let dir = std::env::temp_dir().join(format!("lrp-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("adiencenet.onnx");
    onnx::save(&g, &path).unwrap();
    let back = import::load(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(back.output_shape(), [2]);
    let err = onnx::save(&g, dir.join("missing/dir/x.onnx")).unwrap_err();
    assert!(matches!(err, Error::Write { .. }), "{err:?}");
}

/// Zoo networks exported with `examples/export_zoo.rs` and run in onnxruntime by
/// `tests/onnxruntime/make_reference.py`: the logits in tests/data/onnxruntime/*.json come
/// from onnxruntime (version recorded in each file). The networks are rebuilt here from the
/// recorded architecture, classes and seed, and our forward pass must agree to 1e-4 normwise.
fn onnxruntime_check(arch: Architecture) {
    let path = format!(
        "{}/tests/data/onnxruntime/{}.json",
        env!("CARGO_MANIFEST_DIR"),
        arch.name()
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let rec: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(rec["architecture"], arch.name());
    let classes = rec["classes"].as_u64().unwrap() as usize;
    let seed = rec["seed"].as_u64().unwrap();
    let shape: Vec<usize> = rec["input_shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let rows = rec["logits"].as_array().unwrap();
    let want: Vec<f32> = rows
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter())
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    let want = Tensor::from_shape_vec(IxDyn(&[rows.len(), classes]), want).unwrap();

    let g = zoo::build(arch, classes, seed).unwrap();
    let x = input(shape[0], &shape[1..]);
    assert_eq!(x.shape(), shape.as_slice());
    let last = g.nodes().len() - 1;
    assert!(matches!(g.nodes()[last].op, Op::Softmax(_)));
    assert_eq!(rec["logits_tensor"], g.nodes()[last].inputs[0].as_str());
    let acts = g.run(&[&x], true).unwrap();
    let got = acts.get(g.node_inputs(last)[0]).unwrap();
    let err = normwise(got, &want);
    eprintln!("{arch}: normwise error against onnxruntime {err:.2e}");
    assert!(
        err <= 1e-4,
        "{arch}: normwise error {err} against onnxruntime"
    );
}

#[test]
fn adiencenet_matches_onnxruntime() {
    onnxruntime_check(Architecture::AdienceNet);
}

#[test]
fn caffenet_matches_onnxruntime() {
    onnxruntime_check(Architecture::CaffeNet);
}

#[test]
fn googlenet_matches_onnxruntime() {
    onnxruntime_check(Architecture::GoogLeNet);
}

#[test]
fn vgg16_matches_onnxruntime() {
    onnxruntime_check(Architecture::Vgg16);
}
