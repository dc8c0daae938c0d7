//! Building graphs from the paper's Caffe networks: all 38 deploy prototxts with seeded random
//! weights written to caffemodel bytes by our writer and read back; agreement of the imported
//! graphs with the code-built zoo; typed errors for broken inputs.
//!
//! NOTE: this test reads test data outside the repository, from `../shared/caffe/`
//! (relative to `CARGO_MANIFEST_DIR`): the 38 deploy prototxts of the ICCV 2017 paper and a
//! fold-0 mean image. They are not copied into the project (see `../shared/caffe/README.md`).

use lrp::import::caffe::{
    self, decode_caffemodel, from_net, from_net_random, from_net_with_blobs, random_weights,
};
use lrp::import::caffe_model::{caffemodel_with_weights, decode_net, LayerBlobs};
use lrp::import::proto::caffe::{
    v1_layer_parameter::LayerType, BlobProto, NetParameter, V1LayerParameter,
};
use lrp::import::prototxt::{parse_net, read_net};
use lrp::ops::Op;
use lrp::zoo::{self, rng::Rng, Architecture};
use lrp::{Error, Graph, Tensor};
use ndarray::IxDyn;
use std::collections::HashMap;

mod paper;
use paper::{file_name, paper_files, shared};

fn arch_of(name: &str) -> Architecture {
    for (part, arch) in [
        ("net_definitions", Architecture::AdienceNet),
        ("caffereference", Architecture::CaffeNet),
        ("googlenet", Architecture::GoogLeNet),
        ("vgg16", Architecture::Vgg16),
    ] {
        if name.contains(part) {
            return arch;
        }
    }
    panic!("{name}: unknown architecture");
}

fn random_input(shape: &[usize], seed: u64) -> Tensor {
    let mut rng = Rng::new(seed);
    Tensor::from_shape_fn(IxDyn(shape), |_| rng.uniform() * 255.0 - 128.0)
}

/// Seeded weights → caffemodel bytes (our writer) → decoded → graph.
fn round_trip(net: &NetParameter, seed: u64, name: &str) -> caffe::CaffeModel {
    let weights = random_weights(net, seed).unwrap_or_else(|e| panic!("{e}"));
    let bytes = caffemodel_with_weights(net, &weights, name).unwrap();
    drop(weights);
    let decoded = decode_caffemodel(&bytes, name).unwrap();
    drop(bytes);
    from_net(net, Some(&decoded), name).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn all_38_paper_prototxts_build_and_run() {
    let files = paper_files();
    assert_eq!(files.len(), 38);
    for (i, path) in files.iter().enumerate() {
        let name = file_name(path);
        let net = read_net(path).unwrap().message;
        let model = round_trip(&net, 100 + i as u64, &name);
        let g = &model.graph;
        let arch = arch_of(&name);
        assert_eq!(Architecture::detect(g), Some(arch), "{name}");
        assert_eq!(g.input_shape(), arch.input_shape(), "{name}");
        let classes = if name.starts_with("age_") { 8 } else { 2 };
        assert_eq!(g.output_shape(), &[classes], "{name}");
        let heads = if arch == Architecture::GoogLeNet {
            3
        } else {
            1
        };
        assert_eq!(g.output_ids().len(), heads, "{name}");
        assert!(model.logits.is_some(), "{name}");
        assert!(
            !model.warnings.iter().any(|w| w.contains("random")),
            "{name}: {:?}",
            model.warnings
        );

        let mut shape = vec![2];
        shape.extend(g.input_shape());
        let y = g.forward(&random_input(&shape, i as u64)).unwrap();
        assert_eq!(y.shape(), &[2, classes], "{name}");
        for row in y.outer_iter() {
            assert!(row.iter().all(|p| p.is_finite() && *p >= 0.0), "{name}");
            let sum: f32 = row.sum();
            assert!(
                (sum - 1.0).abs() < 1e-5,
                "{name}: probabilities sum to {sum}"
            );
        }
    }
}

#[test]
fn googlenet_main_head_is_the_first_output() {
    let net = read_net(shared("paper/gender_finetuning_googlenet.prototxt"))
        .unwrap()
        .message;
    let model = from_net_random(&net, 1, "googlenet").unwrap();
    let g = &model.graph;
    let outs: Vec<&str> = g
        .output_ids()
        .iter()
        .map(|&i| g.tensors()[i].name.as_str())
        .collect();
    assert_eq!(outs, ["loss3/loss3", "loss1/loss", "loss2/loss_agexgender"]);
    assert_eq!(model.logits.as_deref(), Some("loss3/classifier_agexgender"));
    // In-place layers are renamed: the Caffe blob `pool5/7x7_s1` ends as the dropout's output.
    assert_eq!(model.blobs["pool5/7x7_s1"], "pool5/drop_7x7_s1");
    assert_eq!(g.name(), "GoogleNet");
}

#[test]
fn load_reads_files_and_preprocesses_with_the_mean() {
    let proto = shared("paper/gender_net_definitions.prototxt");
    let net = read_net(&proto).unwrap().message;
    let weights = random_weights(&net, 5).unwrap();
    let bytes = caffemodel_with_weights(&net, &weights, "adience").unwrap();
    let dir = std::env::temp_dir().join(format!("lrp-caffe-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model_path = dir.join("adience.caffemodel");
    std::fs::write(&model_path, &bytes).unwrap();
    let model = caffe::load(
        &proto,
        Some(&model_path),
        Some(&shared("mean/aligned_fold0.binaryproto")),
    )
    .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(
        Architecture::detect(&model.graph),
        Some(Architecture::AdienceNet)
    );
    let mean = model.mean.as_ref().unwrap();
    assert_eq!(mean.shape(), &[3, 256, 256]);
    assert_eq!(model.graph.input_shape(), &[3, 227, 227]);

    // A uniform grey 300×200 face through the paper's preprocessing (lrp::preprocess):
    // still uniform after scaling and edge padding; BGR minus the centre crop of the mean
    // (offset 14).
    let face =
        lrp::preprocess::RgbImage::from_pixel(200, 300, lrp::preprocess::Rgb([128, 128, 128]));
    let pre = lrp::preprocess::Preprocess::CaffeMean {
        size: 227,
        mean: mean.clone(),
    };
    let x = lrp::preprocess::to_tensor(&[face], &pre).unwrap();
    assert_eq!(x.shape(), &[1, 3, 227, 227]);
    for (c, y, xx) in [(0, 0, 0), (2, 100, 226), (1, 226, 13)] {
        let want = 128.0 - mean[[c, y + 14, xx + 14]];
        assert!((x[[0, c, y, xx]] - want).abs() < 1e-4);
    }
    let probs = model.graph.forward(&x).unwrap();
    assert!((probs.sum() - 1.0).abs() < 1e-5);

    // Without a caffemodel: random weights, and a warning that says so.
    let random = caffe::load(&proto, None, None).unwrap();
    assert!(random.warnings.iter().any(|w| w.contains("random")));
}

// ---------------------------------------------------------------------------------------
// The zoo against the prototxts.

/// Longest path from a graph input to each node: a data-flow order that does not depend on
/// the order in which a file or a builder lists the nodes.
fn depths(g: &Graph) -> Vec<usize> {
    let mut depth_of_tensor = vec![0usize; g.tensors().len()];
    let mut out = Vec::with_capacity(g.nodes().len());
    for i in 0..g.nodes().len() {
        let d = g
            .node_inputs(i)
            .iter()
            .map(|&t| depth_of_tensor[t])
            .max()
            .unwrap_or(0)
            + 1;
        depth_of_tensor[g.node_output(i)] = d;
        out.push(d);
    }
    out
}

/// (depth, name, kind, weight shape, output shape) of every Conv/Pool/Concat/Dense node,
/// sorted in data-flow order.
fn signature(g: &Graph, rename: &dyn Fn(&str) -> String) -> Vec<(usize, String, String)> {
    let d = depths(g);
    let mut v: Vec<(usize, String, String)> = g
        .nodes()
        .iter()
        .enumerate()
        .filter_map(|(i, n)| {
            let weight = match &n.op {
                Op::Conv(c) => format!("{:?}", c.weight().shape()),
                Op::Dense(x) => format!("{:?}", x.weight().shape()),
                Op::MaxPool(_) | Op::AvgPool(_) | Op::GlobalAvgPool | Op::Concat(_) => {
                    String::new()
                }
                _ => return None,
            };
            let shape = &g.tensors()[g.node_output(i)].shape;
            Some((
                d[i],
                rename(&n.name),
                format!("{} w{weight} -> {shape:?}", n.op.kind()),
            ))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn zoo_architectures_match_the_prototxts() {
    for (file, arch) in [
        ("gender_net_definitions", Architecture::AdienceNet),
        ("gender_finetuning_caffereference", Architecture::CaffeNet),
        ("gender_finetuning_googlenet", Architecture::GoogLeNet),
        ("gender_finetuning_vgg16", Architecture::Vgg16),
    ] {
        let net = read_net(shared(&format!("paper/{file}.prototxt")))
            .unwrap()
            .message;
        let imported = from_net_random(&net, 3, file).unwrap().graph;
        let zoo = if arch == Architecture::GoogLeNet {
            zoo::googlenet_with_aux(2, 3, true).unwrap()
        } else {
            zoo::build(arch, 2, 3).unwrap()
        };
        // Only the fine-tuned classifiers are renamed in the paper's files.
        let rename = |n: &str| {
            n.replace("_agexgender", "")
                .replace("-gender", "")
                .replace("-age", "")
        };
        let a = signature(&imported, &rename);
        let b = signature(&zoo, &|n: &str| n.to_string());
        assert_eq!(a.len(), b.len(), "{file}: node counts differ");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x, y, "{file}");
        }
        // And the linear layers' weight shapes, in the same order.
        let linear = |s: &[(usize, String, String)]| -> Vec<String> {
            s.iter()
                .filter(|e| e.2.starts_with("Conv") || e.2.starts_with("Dense"))
                .map(|e| e.2.clone())
                .collect()
        };
        assert_eq!(linear(&a), linear(&b), "{file}");
        assert_eq!(imported.num_params(), zoo.num_params(), "{file}");
    }
}

// ---------------------------------------------------------------------------------------
// Errors: typed, naming the file and the layer, never a panic.

const TINY: &str = r#"name: "tiny"
input: "data" input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 4 kernel_size: 3 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "fc" type: "InnerProduct" bottom: "conv1" top: "fc"
        inner_product_param { num_output: 2 } }
layer { name: "prob" type: "Softmax" bottom: "fc" top: "prob" }
"#;

fn tiny() -> NetParameter {
    parse_net(TINY, "tiny.prototxt").unwrap().message
}

fn expect_format(err: Error, file: &str, layer: &str, detail: &str) {
    let msg = err.to_string();
    match &err {
        Error::Format { .. } => {}
        other => panic!("expected Error::Format, got {other:?}"),
    }
    assert!(msg.contains(file), "{msg}");
    assert!(msg.contains(&format!("`{layer}`")), "{msg}");
    assert!(msg.contains(detail), "{msg}");
}

#[test]
fn unknown_layer_type_is_a_typed_error() {
    let text = TINY.replace(r#"type: "ReLU""#, r#"type: "Swish""#);
    let net = parse_net(&text, "tiny.prototxt").unwrap().message;
    let err = from_net_random(&net, 1, "tiny.prototxt").unwrap_err();
    expect_format(
        err,
        "tiny.prototxt",
        "relu1",
        "unsupported layer type `Swish`",
    );
}

#[test]
fn relu_with_a_negative_slope_is_a_leaky_relu() {
    let text = TINY.replace(
        r#"top: "conv1" }
layer { name: "fc""#,
        r#"top: "conv1" relu_param { negative_slope: 0.1 } }
layer { name: "fc""#,
    );
    let net = parse_net(&text, "tiny.prototxt").unwrap().message;
    let m = from_net_random(&net, 1, "tiny.prototxt").unwrap();
    let relu1 = m.graph.nodes().iter().find(|n| n.name == "relu1").unwrap();
    assert!(
        matches!(&relu1.op, Op::LeakyRelu(l) if l.alpha == 0.1),
        "{:?}",
        relu1.op
    );
}

#[test]
fn missing_weights_name_the_caffemodel_and_the_layer() {
    let net = tiny();
    let mut weights: HashMap<String, LayerBlobs> = random_weights(&net, 1).unwrap();
    weights.remove("fc");
    let bytes = caffemodel_with_weights(&net, &weights, "w.caffemodel").unwrap();
    let decoded = decode_net(&bytes, "w.caffemodel").unwrap();
    let err = from_net(&net, Some(&decoded), "w.caffemodel").unwrap_err();
    expect_format(err, "w.caffemodel", "fc", "no blobs");
}

#[test]
fn wrong_blob_shapes_name_the_layer_and_both_shapes() {
    let net = tiny();
    let mut weights = random_weights(&net, 1).unwrap();
    // conv1 weight 4×3×3×3 replaced by 4×3×2×2 (same rank, fewer values).
    weights.get_mut("conv1").unwrap()[0] = (vec![4, 3, 2, 2], vec![0.0; 48]);
    let bytes = caffemodel_with_weights(&net, &weights, "w.caffemodel").unwrap();
    let decoded = decode_net(&bytes, "w.caffemodel").unwrap();
    let err = from_net(&net, Some(&decoded), "w.caffemodel").unwrap_err();
    expect_format(err, "w.caffemodel", "conv1", "[4, 3, 2, 2]");
    let err = from_net(&net, Some(&decoded), "w.caffemodel").unwrap_err();
    assert!(err.to_string().contains("[4, 3, 3, 3]"), "{err}");

    // An inner product without bias blob where the prototxt wants one.
    let mut weights = random_weights(&net, 1).unwrap();
    weights.get_mut("fc").unwrap().pop();
    let bytes = caffemodel_with_weights(&net, &weights, "w.caffemodel").unwrap();
    let decoded = decode_net(&bytes, "w.caffemodel").unwrap();
    let err = from_net(&net, Some(&decoded), "w.caffemodel").unwrap_err();
    expect_format(err, "w.caffemodel", "fc", "1 blob(s)");
}

#[test]
fn truncated_caffemodels_are_typed_errors() {
    let net = tiny();
    let weights = random_weights(&net, 1).unwrap();
    let bytes = caffemodel_with_weights(&net, &weights, "w.caffemodel").unwrap();
    // Every prefix either fails to decode with an error naming the file (and the broken
    // layer), or decodes to fewer layers and fails for the first layer without weights.
    let mut named_layers = 0;
    for cut in (0..bytes.len()).step_by(7) {
        let prefix = &bytes[..cut];
        let result = decode_caffemodel(prefix, "w.caffemodel")
            .and_then(|w| from_net(&net, Some(&w), "w.caffemodel").map(|_| w.layer.len()));
        let err = match result {
            Err(e) => e,
            // Cut exactly before the final softmax, which has no weights: the weights of the
            // network are all there.
            Ok(layers) => {
                assert_eq!(layers, 3, "a {cut}-byte prefix loaded");
                continue;
            }
        };
        let msg = err.to_string();
        assert!(msg.contains("w.caffemodel"), "{msg}");
        if let Error::Format { layer, .. } = &err {
            assert!(layer.starts_with("layer "), "{msg}");
            named_layers += 1;
        }
    }
    assert!(named_layers > 0);
    // A cut inside the inner product's weights names it (the final softmax layer takes the
    // last 30 or so bytes).
    let cut = bytes.len() - 60;
    let err = decode_caffemodel(&bytes[..cut], "w.caffemodel").unwrap_err();
    expect_format(err, "w.caffemodel", "fc", "truncated");
}

#[test]
fn other_unsupported_settings_are_typed_errors() {
    for (from, to, layer, detail) in [
        (
            r#"inner_product_param { num_output: 2 }"#,
            r#"inner_product_param { num_output: 2 axis: 2 }"#,
            "fc",
            "axis 2",
        ),
        (
            r#"bottom: "conv1" top: "fc""#,
            r#"bottom: "nothing" top: "fc""#,
            "fc",
            "`nothing`",
        ),
        (
            r#"convolution_param { num_output: 4 kernel_size: 3 }"#,
            r#"convolution_param { num_output: 4 kernel_size: 3 group: 2 }"#,
            "conv1",
            "group 2",
        ),
        (
            r#"convolution_param { num_output: 4 kernel_size: 3 }"#,
            r#"convolution_param { num_output: 4 kernel_size: 30 }"#,
            "conv1",
            "conv1",
        ),
    ] {
        let text = TINY.replace(from, to);
        assert_ne!(text, TINY);
        let net = parse_net(&text, "tiny.prototxt").unwrap().message;
        let err = from_net_random(&net, 1, "tiny.prototxt").unwrap_err();
        expect_format(err, "tiny.prototxt", layer, detail);
    }
}

#[test]
fn v1_caffemodels_with_legacy_blob_dims_load() {
    // AdienceNet is a V1 prototxt; old caffemodels store V1 `layers` whose blobs carry
    // num/channels/height/width only: biases 1×1×1×M, inner product weights 1×1×M×K.
    let net = read_net(shared("paper/gender_net_definitions.prototxt"))
        .unwrap()
        .message;
    let weights = random_weights(&net, 11).unwrap();
    let mut v1 = NetParameter::default();
    for layer in &net.layers {
        let Some(blobs) = weights.get(layer.name()) else {
            continue;
        };
        let blobs = blobs
            .iter()
            .map(|(shape, data)| {
                let mut dims = vec![1i32; 4 - shape.len()];
                dims.extend(shape.iter().map(|&d| d as i32));
                BlobProto {
                    num: Some(dims[0]),
                    channels: Some(dims[1]),
                    height: Some(dims[2]),
                    width: Some(dims[3]),
                    data: data.clone(),
                    ..BlobProto::default()
                }
            })
            .collect();
        v1.layers.push(V1LayerParameter {
            name: layer.name.clone(),
            r#type: layer.r#type,
            blobs,
            ..V1LayerParameter::default()
        });
    }
    assert_eq!(v1.layers[3].r#type, Some(LayerType::InnerProduct as i32));
    let legacy = from_net(&net, Some(&v1), "old.caffemodel").unwrap();
    let direct = from_net_with_blobs(&net, &weights, "memory").unwrap();
    let x = random_input(&[1, 3, 227, 227], 4);
    assert_eq!(
        legacy.graph.forward(&x).unwrap(),
        direct.graph.forward(&x).unwrap()
    );
}
