//! Regression tests of issue 19's robustness defects, through the public API: sizes from
//! files whose arithmetic used to wrap (release builds) or panic (debug builds, where
//! overflow is checked: `cargo test --test robustness` without `--release` shows it), `.npy`
//! headers that declare more than the file holds, files without end read without a bound,
//! NaN logits reported as a result, and the one message sanitiser.
//!
//! Every input must end in a typed error naming what is at fault (or succeed), never in a
//! panic or a wrapped size.

use lrp::import::proto::onnx::{tensor_proto::DataType, AttributeProto, TensorProto};
use lrp::ops::{Conv2d, Op, Pad, Pool2d};
use lrp::{Error, Graph, Node};
use ndarray::{Array4, IxDyn};
use support::{floats, int, ints, node, onnx_model};

mod support;

fn int64s(name: &str, v: &[i64]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        data_type: Some(DataType::Int64 as i32),
        dims: vec![v.len() as i64],
        int64_data: v.to_vec(),
        ..Default::default()
    }
}

fn string_attr(name: &str, v: &str) -> AttributeProto {
    use lrp::import::proto::onnx::attribute_proto::AttributeType;
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::String as i32),
        s: Some(v.as_bytes().to_vec()),
        ..Default::default()
    }
}

fn import(bytes: &[u8]) -> lrp::Result<Graph> {
    lrp::import::onnx::from_bytes(bytes, "crafted.onnx")
}

/// A Reshape of a constant (folded at import) whose target's product overflows: 2³⁰·2³⁰·2³⁰
/// wraps to 0 in 64 bits, the element count of an empty constant, so the wrapped check passed
/// and left a constant of a shape no array can take (`Const::floats`); in a debug build the
/// product itself panicked. Now an error naming the node.
#[test]
fn reshape_of_a_constant_with_an_overflowing_target_is_an_error() {
    let d = 1i64 << 30;
    for data_type in [DataType::Float, DataType::Int64] {
        let empty = TensorProto {
            name: Some("c".into()),
            data_type: Some(data_type as i32),
            dims: vec![0],
            ..Default::default()
        };
        let bytes = onnx_model(
            vec![empty, int64s("shape", &[d, d, d])],
            vec![
                node("Reshape", "r", &["c", "shape"], vec![]),
                node("Add", "add", &["x", "r"], vec![]),
            ],
        );
        let err = import(&bytes).unwrap_err();
        assert!(err.to_string().contains("`r`"), "{data_type:?}: {err}");
    }
}

/// A Reshape of data whose target's product overflows (it wrapped, or panicked in debug).
#[test]
fn reshape_of_data_with_an_overflowing_target_is_an_error() {
    let d = 1i64 << 30;
    let bytes = onnx_model(
        vec![int64s("shape", &[1, d, d, d, 3])],
        vec![node("Reshape", "r", &["x", "shape"], vec![])],
    );
    let err = import(&bytes).unwrap_err();
    assert!(err.to_string().contains("`r`"), "{err}");
}

/// SAME padding of a convolution whose (empty) weight has a zero kernel: `k − 1` wrapped.
#[test]
fn same_padding_with_a_zero_kernel_is_an_error() {
    for auto in ["SAME_UPPER", "SAME_LOWER"] {
        let bytes = onnx_model(
            vec![floats("w", &[1, 3, 0, 3], vec![])],
            vec![node(
                "Conv",
                "conv",
                &["x", "w"],
                vec![string_attr("auto_pad", auto)],
            )],
        );
        let err = import(&bytes).unwrap_err();
        assert!(err.to_string().contains("`conv`"), "{auto}: {err}");
    }
}

/// A ConvTranspose `output_shape` of i64::MIN: `uncropped − target` overflowed.
#[test]
fn conv_transpose_output_shape_at_the_end_of_i64_is_an_error() {
    let bytes = onnx_model(
        vec![floats("w", &[3, 1, 3, 3], vec![0.1; 27])],
        vec![node(
            "ConvTranspose",
            "up",
            &["x", "w"],
            vec![ints("output_shape", &[i64::MIN, 8])],
        )],
    );
    let err = import(&bytes).unwrap_err();
    assert!(err.to_string().contains("`up`"), "{err}");
}

/// A Slice with step i64::MIN: its negation overflowed. It selects one element.
#[test]
fn slice_with_the_smallest_step_selects_one_element() {
    let bytes = onnx_model(
        vec![
            int64s("starts", &[7]),
            int64s("ends", &[-100]),
            int64s("axes", &[3]),
            int64s("steps", &[i64::MIN]),
        ],
        vec![node(
            "Slice",
            "s",
            &["x", "starts", "ends", "axes", "steps"],
            vec![],
        )],
    );
    let g = import(&bytes).unwrap();
    assert_eq!(g.output_shape(), &[3, 8, 1]);
    let x = lrp::Tensor::from_shape_fn(IxDyn(&[1, 3, 8, 8]), |i| i[3] as f32);
    let y = g.forward(&x).unwrap();
    assert!(y.iter().all(|&v| v == 7.0), "{y:?}");
}

/// A Caffe convolution with 2³²−1 × 2³²−1 kernels: the weight's fan-in `C · kh · kw`
/// overflowed (it panicked in a debug build and wrapped in release).
#[test]
fn caffe_kernel_products_are_checked() {
    let text = "input: 'data' input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8
        layer { name: 'conv1' type: 'Convolution' bottom: 'data' top: 'conv1'
          convolution_param { num_output: 1 kernel_h: 4294967295 kernel_w: 4294967295 } }";
    let net = lrp::import::prototxt::parse_net(text, "huge-kernel.prototxt")
        .unwrap()
        .message;
    let err = lrp::import::caffe::from_net_random(&net, 7, "huge-kernel.prototxt").unwrap_err();
    assert!(matches!(err, Error::Format { .. }), "{err:?}");
    assert!(err.to_string().contains("conv1"), "{err}");
}

fn graph_with(op: Op) -> lrp::Result<Graph> {
    Graph::new(
        vec![("data".into(), vec![3, 8, 8])],
        vec![Node::new("grow", op, &["data"])],
        &["grow"],
    )
}

/// Pads at the end of usize: `size + begin + end` wrapped back to a small, accepted shape.
#[test]
fn pads_that_overflow_are_refused() {
    let pad = Pad::new(vec![0, usize::MAX, 0], vec![0, 1, 0], 0.0);
    let err = graph_with(Op::Pad(pad)).unwrap_err();
    assert!(err.to_string().contains("node `grow` (Pad)"), "{err}");

    let conv =
        Conv2d::new(Array4::from_elem((1, 3, 3, 3), 0.1), None).with_pads([usize::MAX, 0, 2, 0]);
    let err = graph_with(Op::Conv(conv)).unwrap_err();
    assert!(err.to_string().contains("node `grow` (Conv)"), "{err}");

    let pool = Pool2d::new([usize::MAX, 2], [1, 1]).with_pads([usize::MAX - 1, 0, 2, 0]);
    let err = graph_with(Op::MaxPool(pool)).unwrap_err();
    assert!(err.to_string().contains("node `grow`"), "{err}");
}

/// A 145-byte `.npy` declaring 2⁵⁰ float32 values (4 PB): refused from its header.
#[test]
fn npy_declaring_more_than_it_holds_is_refused_before_allocation() {
    let dir = std::env::temp_dir().join(format!("lrp-robust-npy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("petabyte.npy");
    std::fs::write(&path, npy_header("(1048576, 1073741824)", 145)).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 145);
    let err = lrp::files::read_npy_f32(&path).unwrap_err();
    assert!(matches!(err, Error::Format { .. }), "{err:?}");
    assert!(err.to_string().contains("petabyte.npy"), "{err}");
    // A well-formed file reads.
    let x = ndarray::ArrayD::<f32>::from_shape_fn(IxDyn(&[1, 3, 2, 2]), |i| i[3] as f32);
    ndarray_npy::write_npy(dir.join("ok.npy"), &x).unwrap();
    assert_eq!(lrp::files::read_npy_f32(dir.join("ok.npy")).unwrap(), x);
    std::fs::remove_dir_all(&dir).ok();
}

/// An `.npy` version-1 header with `shape`, padded (with data bytes) to `total` bytes.
pub fn npy_header(shape: &str, total: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}\n");
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((dict.len() as u16).to_le_bytes());
    out.extend(dict.as_bytes());
    out.resize(total, 0);
    out
}

/// `/dev/zero` as an image, a mean image or a model: read up to a bound, then refused naming
/// the file (it was read until the memory ran out).
#[cfg(unix)]
#[test]
fn endless_files_are_read_with_a_bound() {
    let err = lrp::preprocess::load_rgb("/dev/zero").unwrap_err();
    assert!(matches!(err, Error::FileTooLarge { .. }), "{err:?}");
    assert!(err.to_string().starts_with("/dev/zero: "), "{err}");
    let err = lrp::import::caffe_model::read_mean_image("/dev/zero").unwrap_err();
    assert!(matches!(err, Error::FileTooLarge { .. }), "{err:?}");
    let err = lrp::import::onnx::load("/dev/zero").unwrap_err();
    assert!(matches!(err, Error::FileTooLarge { .. }), "{err:?}");
    let err = lrp::files::read_bounded("/dev/zero", 4096, "a test").unwrap_err();
    assert_eq!(
        err.to_string(),
        "/dev/zero: more than 4096 bytes (the limit for a test); not a regular file, read up to the limit"
    );
}

/// A regular file over the limit is refused from its size, before it is read.
#[test]
fn large_regular_files_are_refused_from_their_size() {
    let path = std::env::temp_dir().join(format!("lrp-robust-big-{}", std::process::id()));
    std::fs::write(&path, vec![7u8; 5000]).unwrap();
    let err = lrp::files::read_bounded(&path, 4096, "a test").unwrap_err();
    assert!(
        err.to_string()
            .ends_with(": 5000 bytes exceed the limit of 4096 bytes for a test"),
        "{err}"
    );
    assert_eq!(
        lrp::files::read_bounded(&path, 5000, "a test")
            .unwrap()
            .len(),
        5000
    );
    std::fs::remove_file(&path).ok();
}

/// Logits that overflow to infinity (weights of 10³⁸) were explained as a prediction.
#[test]
fn non_finite_logits_are_an_error_naming_the_model() {
    let bytes = onnx_model(
        vec![floats("w", &[2, 3, 8, 8], vec![1e38; 384])],
        vec![
            node("Conv", "conv", &["x", "w"], vec![]),
            node("Flatten", "flat", &["conv"], vec![int("axis", 1)]),
        ],
    );
    let mut g = import(&bytes).unwrap();
    g.set_name("overflow");
    let x = lrp::Tensor::from_elem(IxDyn(&[1, 3, 8, 8]), 1.0);
    let err = g.finite_logits(&x).unwrap_err();
    assert!(matches!(err, Error::NonFiniteOutput { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "overflow: output 0 of input 0 is inf; the model produces no finite logits for it"
    );
    let composite = lrp::composite::Composite::preset("epsilon").unwrap();
    let explainer = lrp::explain::Explainer::new(g, &composite).unwrap();
    let err = explainer
        .explain(&x, &lrp::explain::Target::Predicted)
        .unwrap_err();
    assert!(matches!(err, Error::NonFiniteOutput { .. }), "{err:?}");
}

/// The one sanitiser: control characters escaped, one line, bounded length.
#[test]
fn messages_are_sanitised() {
    use lrp::error::{sanitize, MAX_MESSAGE_CHARS};
    let s = sanitize("node `\x1b]0;owned\x07` (Relu)\r\nnext\tline\u{202e}");
    assert_eq!(s, "node `\\x1b]0;owned\\x07` (Relu) next line\\u{202e}");
    let long = format!("start {}", "é".repeat(1 << 20));
    let s = sanitize(&long);
    assert!(s.chars().count() <= MAX_MESSAGE_CHARS + 40, "{}", s.len());
    assert!(s.starts_with("start éé") && s.ends_with(" more characters)"));
}
