//! The paper's four architectures built in code: parameter counts against the published
//! numbers, output shapes, and a forward pass whose activations neither vanish nor explode.

use lrp::zoo::{self, Architecture};
use lrp::Tensor;
use ndarray::IxDyn;

#[test]
fn vgg16_has_the_published_parameter_count() {
    // 138,357,544: Simonyan & Zisserman's VGG-16 (configuration D) with 1000 classes, as
    // reported for the Caffe model zoo release and torchvision's vgg16.
    let net = zoo::build(Architecture::Vgg16, 1000, 1).unwrap();
    assert_eq!(net.num_params(), 138_357_544);
}

#[test]
fn caffenet_has_the_published_parameter_count() {
    // 60,965,224: BVLC reference CaffeNet (bvlc_reference_caffenet) with 1000 classes.
    let net = zoo::build(Architecture::CaffeNet, 1000, 1).unwrap();
    assert_eq!(net.num_params(), 60_965_224);
}

#[test]
fn adiencenet_layer_shapes_follow_levi_and_hassner() {
    // Shapes from Levi & Hassner (2015), Fig. 2: 96×56×56, 96×28×28, 256×28×28, 256×14×14,
    // 384×14×14, 384×7×7 (Caffe's ceil pooling), 512, 512, classes.
    let net = zoo::build(Architecture::AdienceNet, 8, 1).unwrap();
    for (t, s) in [
        ("conv1", vec![96, 56, 56]),
        ("pool1", vec![96, 28, 28]),
        ("conv2", vec![256, 28, 28]),
        ("pool2", vec![256, 14, 14]),
        ("conv3", vec![384, 14, 14]),
        ("pool5", vec![384, 7, 7]),
        ("fc6", vec![512]),
        ("fc7", vec![512]),
        ("fc8", vec![8]),
        ("prob", vec![8]),
    ] {
        assert_eq!(net.shape(t).unwrap(), s.as_slice(), "tensor {t}");
    }
}

#[test]
fn googlenet_shapes_follow_the_bvlc_model() {
    // Shapes of BVLC GoogLeNet (Szegedy et al. 2015, Table 1) with Caffe's ceil pooling.
    let net = zoo::googlenet_with_aux(2, 1, true).unwrap();
    for (t, s) in [
        ("conv1/7x7_s2", vec![64, 112, 112]),
        ("pool1/3x3_s2", vec![64, 56, 56]),
        ("conv2/3x3", vec![192, 56, 56]),
        ("pool2/3x3_s2", vec![192, 28, 28]),
        ("inception_3a/output", vec![256, 28, 28]),
        ("inception_3b/output", vec![480, 28, 28]),
        ("pool3/3x3_s2", vec![480, 14, 14]),
        ("inception_4a/output", vec![512, 14, 14]),
        ("inception_4e/output", vec![832, 14, 14]),
        ("pool4/3x3_s2", vec![832, 7, 7]),
        ("inception_5b/output", vec![1024, 7, 7]),
        ("pool5/7x7_s1", vec![1024, 1, 1]),
        ("loss1/ave_pool", vec![512, 4, 4]),
        ("loss2/ave_pool", vec![528, 4, 4]),
        ("loss1/classifier", vec![2]),
        ("loss3/classifier", vec![2]),
    ] {
        assert_eq!(net.shape(t).unwrap(), s.as_slice(), "tensor {t}");
    }
    assert_eq!(net.output_ids().len(), 3);
}

#[test]
fn vgg16_and_caffenet_shapes() {
    let vgg = zoo::build(Architecture::Vgg16, 2, 1).unwrap();
    assert_eq!(vgg.shape("pool5").unwrap(), &[512, 7, 7]);
    let caffenet = zoo::build(Architecture::CaffeNet, 8, 1).unwrap();
    assert_eq!(caffenet.shape("pool5").unwrap(), &[256, 6, 6]);
    assert_eq!(caffenet.shape("conv2").unwrap(), &[256, 27, 27]);
}

#[test]
fn forward_activations_neither_vanish_nor_explode() {
    for arch in Architecture::ALL {
        let net = zoo::build(arch, 8, 3).unwrap();
        let mut shape = vec![2];
        shape.extend(arch.input_shape());
        let mut rng = zoo::rng::Rng::new(11);
        let x = Tensor::from_shape_fn(IxDyn(&shape), |_| rng.normal());
        let acts = net.run(&[&x], true).unwrap();
        let logits_id = net.node_inputs(net.nodes().len() - 1)[0];
        let logits = acts.get(logits_id).unwrap();
        assert_eq!(logits.shape(), &[2, 8]);
        let rms = (logits.iter().map(|v| v * v).sum::<f32>() / logits.len() as f32).sqrt();
        assert!(
            (0.05..50.0).contains(&rms),
            "{arch}: logit rms {rms} suggests vanishing or exploding activations"
        );
        let prob = acts.output(0).unwrap();
        for row in prob.rows() {
            assert!((row.sum() - 1.0).abs() < 1e-5);
        }
    }
}

#[test]
fn zero_classes_is_an_error() {
    assert!(zoo::build(Architecture::AdienceNet, 0, 1).is_err());
}

/// Winograd F(4×4, 3×3) against im2col + GEMM on the four zoo models, through everything an
/// explanation runs it for (the z⁺ and α-β normalisers, the transposed products; the
/// activations stay on im2col + GEMM): the input relevance of both presets may differ by at
/// most 1e-5 of max|R| (issue 23 asks for 1e-4), with `Auto` (the default: Winograd where it
/// is faster) and with `Always` (every 3×3 stride-1 layer). The reference is the direct path
/// of this crate, itself checked against Zennit and onnxruntime elsewhere. Measured at 224²
/// (2026-12-01): at most 7.2e-7 with `Auto`, 1.6e-6 with `Always` (AdienceNet α2β1);
/// GoogLeNet's α2β1 under `Always` was 1.06e-4 while the activations went through Winograd.
#[test]
fn winograd_relevance_matches_the_direct_path() {
    use lrp::composite::Composite;
    use lrp::explain::{Explainer, Target};
    use lrp::ops::conv::{set_winograd, WinogradMode};
    let _turn = WINOGRAD.lock().unwrap_or_else(|e| e.into_inner());
    let mut worst = Vec::new();
    for arch in Architecture::ALL {
        let net = zoo::build(arch, 10, 3).unwrap();
        let mut shape = vec![1];
        shape.extend(arch.input_shape());
        let mut rng = zoo::rng::Rng::new(11);
        let x = Tensor::from_shape_fn(IxDyn(&shape), |_| rng.normal());
        for preset in ["epsilon-plus-flat", "epsilon-alpha2-beta1-flat"] {
            let ex = Explainer::new(net.clone(), &Composite::preset(preset).unwrap()).unwrap();
            set_winograd(WinogradMode::Off);
            let direct = ex.explain(&x, &Target::Class(3)).unwrap().relevance;
            set_winograd(WinogradMode::Always);
            let always = ex.explain(&x, &Target::Class(3)).unwrap().relevance;
            set_winograd(WinogradMode::Auto);
            let auto = ex.explain(&x, &Target::Class(3)).unwrap().relevance;
            let scale = direct.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(scale > 0.0, "{} {preset}: zero relevance", arch.name());
            let err = |r: &Tensor| {
                direct
                    .iter()
                    .zip(r)
                    .fold(0f32, |m, (a, b)| m.max((a - b).abs()))
                    / scale
            };
            worst.push((arch.name(), preset, err(&auto), err(&always)));
        }
    }
    eprintln!("max|ΔR|/max|R| (auto, always): {worst:?}");
    for (arch, preset, auto, always) in worst {
        assert!(
            auto <= 1e-5,
            "{arch} {preset}: auto max|ΔR|/max|R| = {auto:e}"
        );
        assert!(
            always <= 1e-5,
            "{arch} {preset}: always max|ΔR|/max|R| = {always:e}"
        );
    }
}

/// `set_winograd` is process-wide: the Winograd tests of this file take turns.
static WINOGRAD: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Issue 23's batch-8 finding, reduced to one layer: the relevance max-pooling sends down
/// follows the largest input of each window, so a near-tie that a different rounding of the
/// forward pass reorders moves a whole window's relevance to its neighbour. On VGG-16 (the
/// bench's model and input below) Winograd's forward products put conv5_3's two largest
/// values of one pool5 window 4.078506 and 4.078516 in the other order (gap 1e-5, Winograd's
/// rounding up to 2.3e-5 there), and 18% of the largest relevance at that layer changed
/// place: 5.4e-3 of max|R| at the input. Here the input is constant along x, so every
/// interior window of the pooled conv has an exact tie (equal receptive fields, the same
/// bits from im2col + GEMM), which Winograd's 4×4 tiles compute with different roundings.
/// The network's activations must be the direct path's whatever the mode; the rules'
/// normalisers and transposed products may run through Winograd (smooth in their inputs).
/// Reference: the direct path of this crate (im2col + GEMM, itself checked against Zennit
/// and onnxruntime elsewhere); bound 1e-5 of max|R| (measured after the fix: see the
/// assertion message; before, the ties broke the other way and the error was of order 1).
#[test]
fn winograd_keeps_the_max_pool_ties_of_the_direct_path() {
    use lrp::composite::Composite;
    use lrp::explain::{Explainer, Target};
    use lrp::ops::conv::{set_winograd, WinogradMode};
    use lrp::ops::{Conv2d, Dense, Op, Pool2d};
    use lrp::GraphBuilder;
    use ndarray::{Array1, Array2, Array4};
    let _turn = WINOGRAD.lock().unwrap_or_else(|e| e.into_inner());
    // 128 → 16 channels at 28×28: 49 tiles of 4×4, which `Auto` runs through Winograd
    // forward (≥ 48 tiles, ≥ 128 input channels).
    let (c, k, hw) = (128, 16, 28);
    let mut rng = zoo::rng::Rng::new(5);
    let scale = (1.0 / (9 * c) as f32).sqrt();
    let w = Array4::from_shape_fn((k, c, 3, 3), |_| scale * rng.normal());
    let b = Array1::from_shape_fn(k, |_| 0.1 * rng.normal());
    let d = Array2::from_shape_fn((4, k * (hw / 2) * (hw / 2)), |_| 0.05 * rng.normal());
    let mut g = GraphBuilder::new();
    g.input("x", &[c, hw, hw]);
    g.add(
        "conv",
        Op::Conv(Conv2d::new(w, Some(b)).with_pad(1)),
        &["x"],
    );
    g.add("relu", Op::Relu, &["conv"]);
    g.add("pool", Op::MaxPool(Pool2d::new([2, 2], [2, 2])), &["relu"]);
    g.add("flat", Op::Flatten, &["pool"]);
    g.add("fc", Op::Dense(Dense::new(d, None)), &["flat"]);
    let net = g.build(&["fc"]).unwrap();
    // Two images, each constant along x (stripes), one row value per (channel, row).
    let rows: Vec<f32> = (0..2 * c * hw).map(|_| rng.normal()).collect();
    let x = Tensor::from_shape_fn(IxDyn(&[2, c, hw, hw]), |i| {
        rows[(i[0] * c + i[1]) * hw + i[2]]
    });
    let mut worst = Vec::new();
    for preset in ["epsilon-plus", "epsilon-alpha2-beta1", "epsilon-plus-flat"] {
        let ex = Explainer::new(net.clone(), &Composite::preset(preset).unwrap()).unwrap();
        set_winograd(WinogradMode::Off);
        let direct = ex.explain(&x, &Target::Class(1)).unwrap().relevance;
        let scale = direct.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(scale > 0.0, "{preset}: zero relevance");
        for mode in [WinogradMode::Auto, WinogradMode::Always] {
            set_winograd(mode);
            let r = ex.explain(&x, &Target::Class(1)).unwrap().relevance;
            let err = direct
                .iter()
                .zip(&r)
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()))
                / scale;
            worst.push((preset, mode, err));
        }
    }
    set_winograd(WinogradMode::Auto);
    eprintln!("one conv + max-pool with ties, max|ΔR|/max|R|: {worst:?}");
    for (preset, mode, err) in worst {
        assert!(err <= 1e-5, "{preset} {mode:?}: max|ΔR|/max|R| = {err:e}");
    }
}

/// The bench's VGG-16 (`benches/lrp.rs`: 8 classes, weights seed 1) on the first two images
/// of its batch-8 input (random normal, seed 7): the second image is the one where
/// Winograd's forward products reordered a near-tie of pool5 (see above) and moved
/// 5.4e-3 of max|R| at the input. `Auto` against the direct path, both presets, 1e-5 of
/// max|R| (issue 23 asks for 1e-4; the reference is the direct path). Measured: 3.6e-7 /
/// 3.9e-7 (ε+flat / α2β1), and 1.02e-4 / 1.11e-4 while the activations went through
/// Winograd.
#[test]
fn winograd_matches_the_direct_path_on_the_vgg16_bench_input() {
    use lrp::composite::Composite;
    use lrp::explain::{Explainer, Target};
    use lrp::ops::conv::{set_winograd, WinogradMode};
    let _turn = WINOGRAD.lock().unwrap_or_else(|e| e.into_inner());
    let net = zoo::build(Architecture::Vgg16, 8, 1).unwrap();
    let mut rng = zoo::rng::Rng::new(7);
    let x = Tensor::from_shape_fn(IxDyn(&[2, 3, 224, 224]), |_| rng.normal());
    let mut worst = Vec::new();
    for preset in ["epsilon-plus-flat", "epsilon-alpha2-beta1-flat"] {
        let ex = Explainer::new(net.clone(), &Composite::preset(preset).unwrap()).unwrap();
        set_winograd(WinogradMode::Off);
        let direct = ex.explain(&x, &Target::Predicted).unwrap().relevance;
        set_winograd(WinogradMode::Auto);
        let auto = ex.explain(&x, &Target::Predicted).unwrap().relevance;
        let scale = direct.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(scale > 0.0, "{preset}: zero relevance");
        let err = direct
            .iter()
            .zip(&auto)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()))
            / scale;
        worst.push((preset, err));
    }
    eprintln!("VGG-16, bench input, max|ΔR|/max|R| (auto): {worst:?}");
    for (preset, err) in worst {
        assert!(err <= 1e-5, "{preset}: auto max|ΔR|/max|R| = {err:e}");
    }
}
