//! One test per variant of [`lrp::Error`]: each provokes the variant through the public API
//! with a bad input of the kind a user could hand the library (a truncated or corrupt file, a
//! model with an unknown layer, a NaN weight, a wrong input shape, an unwritable path, ...),
//! checks the variant, and checks that the message names what is at fault: the file, the
//! node, the field path or the attribute. The messages quoted in the error catalogue
//! (`lrp::error` module docs) are the ones these tests see.

use lrp::composite::Composite;
use lrp::explain::{Explainer, Target};
use lrp::model::Model;
use lrp::{Error, Tensor};
use ndarray::Axis;
use std::path::{Path, PathBuf};
use support::{conv_weight, float, int, ints, mean_binaryproto, node, onnx_model, png_header};

mod support;

fn tempdir(name: &str) -> PathBuf {
    support::cli::tempdir("errors", name)
}

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Writes `bytes` to `dir/name` and returns the path.
fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

/// Asserts that `msg` contains every one of `parts` (and prints it, for `--nocapture`).
fn assert_names(msg: &str, parts: &[&str]) {
    println!("{msg}");
    for p in parts {
        assert!(msg.contains(p), "`{msg}` does not mention `{p}`");
    }
}

/// The shipped gender model's input for the shipped astronaut portrait.
fn astronaut_input(model: &Model) -> Tensor {
    let faces = lrp::assets::portrait_faces().unwrap();
    lrp::preprocess::to_tensor(&[faces[0].1.clone()], &model.preprocess).unwrap()
}

// ---- one test per variant ----

/// `Shape`: a convolution whose weight expects 2 input channels, fed the 3-channel input.
#[test]
fn shape_conv_weight_for_other_channels_in_onnx_file() {
    let dir = tempdir("shape");
    let bytes = onnx_model(
        vec![conv_weight(4, 2)],
        vec![node("Conv", "conv1", &["x", "w"], vec![])],
    );
    let path = write(&dir, "channels.onnx", bytes);
    let err = lrp::import::onnx::load(&path).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, Error::Shape { ref node, .. } if node.name == "conv1" && node.op == "Conv"),
        "{err:?}"
    );
    assert_names(&msg, &["node `conv1` (Conv)", "3 channels", "[4, 2, 3, 3]"]);
}

/// `Parameter`: a local response normalisation with a negative `alpha`.
#[test]
fn parameter_negative_lrn_alpha_in_onnx_file() {
    let dir = tempdir("parameter");
    let lrn = node(
        "LRN",
        "norm1",
        &["x"],
        vec![int("size", 3), float("alpha", -1.0)],
    );
    let path = write(&dir, "lrn.onnx", onnx_model(vec![], vec![lrn]));
    let err = lrp::import::onnx::load(&path).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, Error::Parameter { ref node, .. } if node.name == "norm1"),
        "{err:?}"
    );
    assert_names(
        &msg,
        &["node `norm1` (Lrn)", "invalid parameter", "alpha", "-1"],
    );
}

/// `Graph`: a node reads a tensor that nothing computes.
#[test]
fn graph_node_reading_an_unknown_tensor_in_onnx_file() {
    let dir = tempdir("graph");
    let path = write(
        &dir,
        "dangling.onnx",
        onnx_model(vec![], vec![node("Relu", "relu1", &["ghost"], vec![])]),
    );
    let err = lrp::import::onnx::load(&path).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Graph(_)), "{err:?}");
    assert_names(&msg, &["graph: ", "`relu1` (Relu)", "tensor `ghost`"]);
}

/// `Invalid`: a target class the model does not have, and a misspelt preset.
#[test]
fn invalid_target_class_and_preset_name() {
    let model = Model::gender().unwrap();
    let x = astronaut_input(&model);
    let ex = Explainer::new(
        model.graph.clone(),
        &Composite::preset("epsilon-plus-flat").unwrap(),
    )
    .unwrap();
    let err = ex.explain(&x, &Target::Class(7)).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    assert_names(&msg, &["target class 7", "2 classes"]);

    let err = Composite::preset("epsilon-plux").unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    assert_names(&msg, &["`epsilon-plux`", "epsilon-plus-flat"]);
}

/// `Invalid`: a misspelt attribution method (the message lists the valid ones), zero
/// integrated-gradients steps, a negative SmoothGrad noise level and an occlusion window larger
/// than the gender model's 32×32 input, each refused when the attributor is made.
#[test]
fn invalid_attribution_method_and_parameters() {
    use lrp::attribution::{Attributor, Baseline, Method, Noise, Quadrature, Sigma};
    let err = Method::from_name("gradiant").unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    assert_names(
        &err.to_string(),
        &[
            "unknown method `gradiant`",
            "lrp, gradient, gradient-x-input",
            "excitation-backprop",
        ],
    );
    let graph = Model::gender().unwrap().graph;
    for (method, words) in [
        (
            Method::IntegratedGradients {
                steps: 0,
                baseline: Baseline::Value(0.0),
                quadrature: Quadrature::GaussLegendre,
                batch: 4,
            },
            &[
                "integrated-gradients: ",
                "steps and batch must be at least 1",
            ][..],
        ),
        (
            Method::SmoothGrad {
                samples: 4,
                sigma: Sigma::Relative(-0.1),
                noise: Noise::Seeded(0),
                batch: 4,
            },
            &["smoothgrad: ", "noise level -0.1 must be finite and ≥ 0"][..],
        ),
        (
            Method::Occlusion {
                window: [40, 8],
                stride: [8, 8],
                baseline: Baseline::Value(0.0),
                batch: 4,
            },
            &["occlusion window [40, 8] is larger than the input 32×32"][..],
        ),
    ] {
        let err = Attributor::new(graph.clone(), method).unwrap_err();
        assert!(matches!(err, Error::Invalid(_)), "{err:?}");
        assert_names(&err.to_string(), words);
    }
}

/// `InputShape`: the age model's 64×64 input handed to the 32×32 gender model.
#[test]
fn input_shape_age_sized_tensor_into_the_gender_model() {
    let gender = Model::gender().unwrap();
    let x = astronaut_input(&Model::age().unwrap());
    let err = gender.graph.forward(&x).unwrap_err();
    let msg = err.to_string();
    let input = gender.graph.tensors()[gender.graph.input_ids()[0]]
        .name
        .clone();
    assert!(
        matches!(err, Error::InputShape { ref name, .. } if *name == input),
        "{err:?}"
    );
    assert_names(
        &msg,
        &[
            &format!("input `{input}`"),
            "[1, 3, 32, 32]",
            "[1, 3, 64, 64]",
        ],
    );
}

/// `NonFinite`: a NaN among a convolution's weights, and an infinity in an input.
#[test]
fn non_finite_nan_weight_in_onnx_file_and_infinite_input() {
    let dir = tempdir("nonfinite");
    let mut w = conv_weight(4, 3);
    w.float_data[5] = f32::NAN;
    let path = write(
        &dir,
        "nan.onnx",
        onnx_model(vec![w], vec![node("Conv", "conv1", &["x", "w"], vec![])]),
    );
    let err = lrp::import::onnx::load(&path).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, Error::NonFinite { index: 5, value, .. } if value.is_nan()),
        "{err:?}"
    );
    assert_names(&msg, &["node `conv1` (Conv) parameter 0", "NaN", "index 5"]);

    let model = Model::gender().unwrap();
    let mut x = astronaut_input(&model);
    x[[0, 1, 2, 3]] = f32::INFINITY;
    let err = model.graph.forward(&x).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::NonFinite { .. }), "{err:?}");
    assert_names(
        &msg,
        &["input `", "inf", &format!("index {}", 32 * 32 + 2 * 32 + 3)],
    );
}

/// `Io`: a model file that does not exist.
#[test]
fn io_missing_model_file() {
    let dir = tempdir("io");
    let path = dir.join("missing.onnx");
    let err = lrp::import::onnx::load(&path).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, Error::Io { ref file, ref source } if *file == display(&path)
            && source.kind() == std::io::ErrorKind::NotFound),
        "{err:?}"
    );
    assert_names(&msg, &[&display(&path), "cannot read"]);
}

/// `Parse`: a prototxt field whose value does not fit its type.
#[test]
fn parse_out_of_range_field_in_prototxt() {
    let dir = tempdir("parse");
    let path = write(
        &dir,
        "negative.prototxt",
        "name: \"n\" input: \"data\" input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n\
         layer { name: \"conv1\" type: \"Convolution\" bottom: \"data\" top: \"conv1\"\n\
         \x20 convolution_param { num_output: -4 kernel_size: 3 } }\n",
    );
    let err = lrp::import::caffe::load(&path, None, None).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, Error::Parse { ref file, line: 3, .. } if *file == display(&path)),
        "{err:?}"
    );
    assert_names(
        &msg,
        &[
            &format!("{}:3:", display(&path)),
            "layer[0](\"conv1\").convolution_param.num_output",
            "-4",
        ],
    );
}

/// `Decode`: the first 1000 bytes of the shipped gender model.
#[test]
fn decode_truncated_onnx_model() {
    let dir = tempdir("decode");
    let full = std::fs::read(format!("{ROOT}/assets/gender-v1.onnx")).unwrap();
    let path = write(&dir, "truncated.onnx", &full[..1000]);
    let err = lrp::import::onnx::load(&path).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, Error::Decode { ref file, .. } if *file == display(&path)),
        "{err:?}"
    );
    assert_names(&msg, &[&display(&path), "cannot decode onnx.ModelProto"]);
}

/// `Format`: a prototxt layer of a type the importer does not know.
#[test]
fn format_unknown_layer_type_in_prototxt() {
    let dir = tempdir("format");
    let path = write(
        &dir,
        "unknown.prototxt",
        r#"name: "u" input: "data" input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }
        layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
                convolution_param { num_output: 4 kernel_size: 3 } }
        layer { name: "warp1" type: "SpatialWarp" bottom: "conv1" top: "warp1" }"#,
    );
    let err = lrp::import::caffe::load(&path, None, None).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, Error::Format { ref file, ref layer, .. }
            if *file == display(&path) && layer.contains("warp1")),
        "{err:?}"
    );
    assert_names(&msg, &[&display(&path), "layer `warp1`", "SpatialWarp"]);

    // The fuzzer's out-of-memory prototxt: the random weights it asks for are refused, and
    // the error names the prototxt (it used to say `<random weights>`).
    let oom = format!("{ROOT}/tests/data/fuzz/prototxt-random-weights-oom.prototxt");
    let err = lrp::import::caffe::load(Path::new(&oom), None, None).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Format { .. }), "{err:?}");
    assert_names(&msg, &[&oom, "layer `fc` (InnerProduct)", "random weights"]);
}

/// `Attribute`: a convolution with zero strides.
#[test]
fn attribute_zero_strides_in_onnx_file() {
    let dir = tempdir("attribute");
    let conv = node("Conv", "conv1", &["x", "w"], vec![ints("strides", &[0, 0])]);
    let path = write(
        &dir,
        "strides.onnx",
        onnx_model(vec![conv_weight(4, 3)], vec![conv]),
    );
    let err = lrp::import::onnx::load(&path).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, Error::Attribute { ref node, ref attribute, .. }
            if node == "conv1" && attribute == "strides"),
        "{err:?}"
    );
    assert_names(
        &msg,
        &["node `conv1` (Conv), attribute `strides`", "[0, 0]"],
    );
}

/// `Export`: a pooling layer whose rounding ONNX cannot express; nothing is written.
#[test]
fn export_pooling_that_onnx_cannot_express() {
    use lrp::ops::{Op, Pool2d, PoolRounding};
    let dir = tempdir("export");
    let mut b = lrp::GraphBuilder::new();
    b.input("x", &[1, 4, 4]);
    let p = Pool2d::new([2, 2], [2, 2])
        .with_pads([0, 0, 1, 1])
        .with_rounding(PoolRounding::Ceil);
    b.add("pool5", Op::MaxPool(p), &["x"]);
    let g = b.build(&["pool5"]).unwrap();
    let path = dir.join("pool.onnx");
    let err = lrp::export::onnx::save(&g, &path).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, Error::Export { ref node, .. } if node.name == "pool5"),
        "{err:?}"
    );
    assert_names(&msg, &["node `pool5` (MaxPool)", "ONNX opset 13", "ceil"]);
    assert!(!path.exists());
}

/// `Write`: exporting into a directory that does not exist.
#[test]
fn write_into_a_missing_directory() {
    let dir = tempdir("write");
    let path = dir.join("no-such-dir").join("gender.onnx");
    let g = Model::gender().unwrap().graph;
    let err = lrp::export::onnx::save(&g, &path).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, Error::Write { ref file, .. } if *file == display(&path)),
        "{err:?}"
    );
    assert_names(&msg, &[&display(&path), "cannot write"]);
}

/// `ImageTooLarge`: PNG headers declaring 100000×100000 pixels, with and without data.
#[test]
fn image_too_large_png_header() {
    let dir = tempdir("too-large");
    // A zlib stream of an empty stored block: the pixel data would be far too short anyway.
    let idat = [
        0x78, 0x01, 0x01, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01,
    ];
    for (name, data) in [("huge.png", &idat[..]), ("huge-header-only.png", &[][..])] {
        let path = write(&dir, name, png_header(100_000, 100_000, data));
        let err = lrp::preprocess::load_rgb(&path).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, Error::ImageTooLarge { ref file, width: 100_000, height: 100_000, .. }
                if *file == display(&path)),
            "{err:?}"
        );
        assert_names(
            &msg,
            &[&display(&path), "100000×100000", "exceeds the limit"],
        );
    }
}

/// `FaceBox`: a face box beyond the right and bottom edges of the 512×512 astronaut.
#[test]
fn face_box_outside_the_image() {
    let path = format!("{ROOT}/assets/astronaut.png");
    let face = lrp::preprocess::FaceBox::new(600, 600, 700, 700);
    let err = lrp::preprocess::load_face(&path, Some(face)).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, Error::FaceBox { ref image, left: 600, width: 512, .. } if *image == path),
        "{err:?}"
    );
    assert_names(
        &msg,
        &[
            &path,
            "face box (left 600, top 600, right 700, bottom 700)",
            "512×512",
        ],
    );
}

/// `Preprocess`: a mean image smaller than the network input, through the preprocessing
/// and through a Caffe model loaded with it.
#[test]
fn preprocess_mean_image_smaller_than_the_input() {
    let dir = tempdir("preprocess");
    let mean = write(&dir, "mean.binaryproto", mean_binaryproto(8));
    let err = lrp::preprocess::Preprocess::caffe_mean_file(227, &mean).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Preprocess(_)), "{err:?}");
    assert_names(&msg, &["preprocessing: ", &display(&mean), "3×8×8", "227"]);

    let deploy = write(
        &dir,
        "deploy.prototxt",
        r#"name: "m" input: "data" input_shape { dim: 1 dim: 3 dim: 16 dim: 16 }
        layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc"
                inner_product_param { num_output: 2 } }"#,
    );
    let err = Model::load(&deploy, None, Some(&mean), None).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Preprocess(_)), "{err:?}");
    assert_names(&msg, &[&display(&mean), "3×8×8", "input size 16"]);
}

/// `Heatmap`: an explanation's relevance with its target axis taken out, handed to the
/// reduction that expects `[n, k, C, H, W]`.
#[test]
fn heatmap_relevance_of_the_wrong_rank() {
    let model = Model::gender().unwrap();
    let x = astronaut_input(&model);
    let e = Explainer::new(model.graph, &Composite::preset("epsilon").unwrap())
        .unwrap()
        .explain(&x, &Target::Predicted)
        .unwrap();
    let r = e.relevance.index_axis(Axis(1), 0).to_owned();
    let err = lrp::heatmap::reduce_all(&r, lrp::heatmap::Reduce::Sum).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Heatmap(_)), "{err:?}");
    assert_names(&msg, &["heatmap: ", "[n, k, C, H, W]", "[1, 3, 32, 32]"]);
}

/// `Compare`: averaging the heatmaps of the 32×32 gender and the 64×64 age model without
/// bringing them to one grid.
#[test]
fn compare_heatmaps_of_models_with_different_input_sizes() {
    let maps: Vec<_> = [Model::gender().unwrap(), Model::age().unwrap()]
        .into_iter()
        .map(|m| {
            let x = astronaut_input(&m);
            let e = Explainer::new(m.graph, &Composite::preset("epsilon-plus").unwrap())
                .unwrap()
                .explain(&x, &Target::Predicted)
                .unwrap();
            let r = e.relevance.slice(ndarray::s![0, 0, .., .., ..]);
            lrp::heatmap::reduce(r, lrp::heatmap::Reduce::Sum).unwrap()
        })
        .collect();
    let err = lrp::compare::average_raw(&maps).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Compare(_)), "{err:?}");
    assert_names(&msg, &["compare: ", "map 1", "[64, 64]", "map 0 [32, 32]"]);
}

/// `Evaluate`: the gender model's 32×32 heatmap scored against a 64×64 mask (the age
/// model's input size).
#[test]
fn evaluate_a_heatmap_against_a_mask_of_another_size() {
    let m = Model::gender().unwrap();
    let x = astronaut_input(&m);
    let e = Explainer::new(m.graph, &Composite::preset("epsilon-plus").unwrap())
        .unwrap()
        .explain(&x, &Target::Predicted)
        .unwrap();
    let r = e.relevance.slice(ndarray::s![0, 0, .., .., ..]);
    let heat: Vec<f32> = lrp::heatmap::reduce(r, lrp::heatmap::Reduce::Sum)
        .unwrap()
        .iter()
        .copied()
        .collect();
    let mask = vec![true; 64 * 64];
    let err =
        lrp::evaluate::relevance_mass_accuracy(&heat, &mask, lrp::evaluate::Prepare::NORMALISE)
            .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Evaluate(_)), "{err:?}");
    assert_names(
        &msg,
        &["evaluate: ", "relevance mass accuracy", "4096", "1024"],
    );
}

/// `Concept`: channel 64 of the age model's first convolution, which has 64.
#[test]
fn concept_channel_out_of_range() {
    let m = Model::age().unwrap();
    let x = astronaut_input(&m);
    let ex = Explainer::new(m.graph, &Composite::preset("epsilon-plus-flat").unwrap()).unwrap();
    let cond = lrp::concepts::Condition::new(None).channels("layer_52_conv", &[64]);
    let err = lrp::concepts::conditional(&ex, &x, &[cond], &[], true).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Concept(_)), "{err:?}");
    assert_eq!(
        msg,
        "concepts: condition 0: layer `layer_52_conv` has 64 channels (0..63); channel 64 does not exist"
    );
}

/// `MemoryLimit`: a 3×8×8 input padded by 5000 pixels by a convolution, checked against a
/// limit of 2 GiB before anything is run.
#[test]
fn memory_limit_input_padded_by_5000_pixels() {
    let bytes = onnx_model(
        vec![conv_weight(4, 3)],
        vec![
            node(
                "Conv",
                "conv1",
                &["x", "w"],
                vec![ints("pads", &[5000, 5000, 5000, 5000])],
            ),
            node("GlobalAveragePool", "gap", &["conv1"], vec![]),
            node("Flatten", "flat", &["gap"], vec![]),
        ],
    );
    let g = lrp::import::onnx::from_bytes(&bytes, "pad5000.onnx").unwrap();
    let est = lrp::memory::Estimate::of_graph(&g);
    let err = est.check("pad5000.onnx", 0, 2 << 30).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::MemoryLimit { .. }), "{err:?}");
    assert_eq!(
        msg,
        "pad5000.onnx: explaining one image needs about 14.9 GiB (activations 6.0 GiB, \
         relevance 7.5 GiB per image, weights 432 B + 1.5 GiB prepared by the rules), more \
         than the memory limit of 2.0 GiB"
    );
}

/// `UnknownName`: a misspelt colour map.
#[test]
fn unknown_colour_map_name() {
    let err = lrp::heatmap::Colormap::from_name("firered-black").unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, Error::UnknownName { kind: "colour map", ref name, .. } if name == "firered-black"),
        "{err:?}"
    );
    assert_names(&msg, &["`firered-black`", "valid names", "black-firered"]);
}

/// `UnknownName`: an output a model does not have, and a shipped model that does not exist.
#[test]
fn unknown_output_and_shipped_model_names() {
    let g =
        lrp::import::onnx::from_bytes(lrp::assets::FACE_API_AGE_GENDER_ONNX, "face-api").unwrap();
    let err = g.select_output("gender").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown output `gender`; valid names: age, gender_logits"
    );
    let err = lrp::model::Model::shipped("face-api").unwrap_err();
    assert!(
        matches!(err, Error::UnknownName { kind: "shipped model", ref name, .. } if name == "face-api"),
        "{err:?}"
    );
    assert_names(
        &err.to_string(),
        &[
            "`face-api`",
            "valid names",
            "face-api-gender",
            "face-api-age",
        ],
    );
}

/// `Image`: a text file named `.png`, and a heatmap saved into a missing directory.
#[test]
fn image_text_file_named_png_and_unwritable_png() {
    let dir = tempdir("image");
    let path = write(&dir, "notes.png", "just some notes\n");
    let err = lrp::preprocess::load_rgb(&path).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, Error::Image { ref file, .. } if *file == display(&path)),
        "{err:?}"
    );
    assert_names(&msg, &[&display(&path), "not a PNG or JPEG file"]);

    // A JPEG cut inside its header: the decoder's own message ends in blank lines, ours is
    // one line.
    let hopper = std::fs::read(format!("{ROOT}/assets/grace_hopper.jpg")).unwrap();
    let err = lrp::preprocess::decode_rgb(&hopper[..100], "cut.jpg").unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Image { .. }), "{err:?}");
    assert_names(&msg, &["cut.jpg", "Not enough bytes"]);
    assert!(!msg.contains('\n'), "{msg:?}");

    let out = dir.join("missing").join("map.png");
    let img = lrp::preprocess::RgbImage::new(4, 4);
    let err = lrp::heatmap::save_png(&img, &out).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, Error::Write { ref file, .. } if *file == display(&out)),
        "{err:?}"
    );
    assert_names(&msg, &[&display(&out), "cannot write"]);

    // The heatmap reader is the limited one: a PNG header that claims 10⁵×10⁵ pixels is
    // refused from its header, a missing file is an I/O error.
    let huge = lrp::heatmap::decode_image(&png_header(100_000, 100_000, &[])).unwrap_err();
    assert!(matches!(huge, Error::ImageTooLarge { .. }), "{huge:?}");
    let missing = lrp::heatmap::load_image(dir.join("nope.png")).unwrap_err();
    assert!(matches!(missing, Error::Io { .. }), "{missing:?}");
}

#[test]
fn file_too_large_image_and_endless_device() {
    let dir = tempdir("too-large");
    // A sparse file: its size is all that is looked at.
    let path = dir.join("huge.png");
    std::fs::File::create(&path)
        .unwrap()
        .set_len(300_000_000)
        .unwrap();
    let err = lrp::preprocess::load_rgb(&path).unwrap_err();
    assert!(matches!(err, Error::FileTooLarge { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "{}: 300000000 bytes exceed the limit of 268435456 bytes for an image",
            display(&path)
        )
    );
    #[cfg(unix)]
    {
        let err = lrp::preprocess::load_rgb("/dev/zero").unwrap_err();
        assert!(matches!(err, Error::FileTooLarge { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "/dev/zero: more than 268435456 bytes (the limit for an image); not a regular file, read up to the limit"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn non_finite_output_of_weights_that_overflow() {
    let bytes = onnx_model(
        vec![support::floats("w", &[2, 3, 8, 8], vec![1e38; 384])],
        vec![
            node("Conv", "conv", &["x", "w"], vec![]),
            node("Flatten", "flat", &["conv"], vec![int("axis", 1)]),
        ],
    );
    let mut g = lrp::import::onnx::from_bytes(&bytes, "overflow.onnx").unwrap();
    g.set_name("overflow");
    let x = Tensor::from_elem(ndarray::IxDyn(&[1, 3, 8, 8]), 1.0);
    let err = g.finite_logits(&x).unwrap_err();
    assert!(matches!(err, Error::NonFiniteOutput { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "overflow: output 0 of input 0 is inf; the model produces no finite logits for it"
    );
}

/// The error catalogue (module docs of `lrp::error`) has a section for every variant.
#[test]
fn catalogue_lists_every_variant() {
    let src = std::fs::read_to_string(format!("{ROOT}/src/error.rs")).unwrap();
    let body = &src[src.find("pub enum Error {").unwrap()..];
    let body = &body[..body.find("\n}\n").unwrap()];
    let variants: Vec<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("    "))
        .filter(|l| l.starts_with(|c: char| c.is_ascii_uppercase()))
        .map(|l| l.split([' ', '(', '{']).next().unwrap())
        .collect();
    // A new variant needs a test in this file and a section in the catalogue.
    assert_eq!(variants.len(), 26, "{variants:?}");
    for v in variants {
        assert!(
            src.contains(&format!("//! ### `{v}`\n")),
            "the error catalogue has no section for `{v}`"
        );
    }
}

/// `Unsupported`: `--precision bf16` on a CPU without AVX512-BF16 (simulated by the test
/// hook, so that the refusal is checked on every machine). Nothing else in this binary
/// computes in bfloat16, so the hook cannot disturb another test.
#[test]
fn precision_bf16_without_avx512_bf16() {
    use lrp::kernels::{bf16, Precision};
    bf16::simulate_unsupported(true);
    let err = Precision::Bf16.check("--precision bf16").unwrap_err();
    bf16::simulate_unsupported(false);
    assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "--precision bf16 needs a CPU with AVX512-BF16 or AMX; this one has neither"
    );
}
