//! Gradient-based and perturbation baselines (issue 21) against Captum 0.9 and Zennit 1.0:
//! the references in `tests/data/attribution/`, made by `tests/attribution/generate.py` (torch
//! autograd through onnx2torch's translation of the same ONNX files; see its docstring).
//!
//! Tolerance everywhere: max |ours − theirs| ≤ 1e-4 · max |theirs| (float32 on both sides,
//! different summation orders). For the 224×224 CNNs the stored reference is the central
//! 64×64 crop, and the whole map is checked by its sum of absolute values (1e-4 relative) and
//! its maximum (1e-4 relative).

use lrp::attribution::{Attributor, Baseline, Method, Noise, Quadrature, Sigma};
use lrp::explain::Target;
use lrp::import::onnx;
use lrp::Graph;
use ndarray::{ArrayD, IxDyn};
use ndarray_npy::read_npy;
use std::collections::BTreeMap;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn manifest() -> serde_json::Value {
    let text = std::fs::read_to_string(format!("{DATA}/attribution/manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn npy(name: &str) -> ArrayD<f32> {
    read_npy(format!("{DATA}/attribution/{name}.npy")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn shipped(name: &str) -> Graph {
    match name {
        "gender" => lrp::model::Model::gender().unwrap().graph,
        "age" => lrp::model::Model::age().unwrap().graph,
        _ => unreachable!(),
    }
}

/// Max |a − b| / max |b|.
fn rel_err(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    worst / scale.max(f32::MIN_POSITIVE)
}

/// Run `method` on `graph` for the reference's target and compare with `<stem>_<key>.npy`.
fn check(graph: &Graph, x: &ArrayD<f32>, target: usize, method: Method, reference: &str) -> f32 {
    let a = Attributor::new(graph.clone(), method).unwrap();
    let e = a.attribute(x, &Target::Class(target)).unwrap();
    assert_eq!(e.targets, vec![vec![target]]);
    let got = e.relevance.index_axis(ndarray::Axis(1), 0).to_owned();
    let want = npy(reference);
    assert_eq!(got.shape(), want.shape(), "{reference}");
    let err = rel_err(got.as_slice().unwrap(), want.as_slice().unwrap());
    assert!(
        err <= 1e-4,
        "{reference}: off by {err:e} of max |attribution|"
    );
    err
}

fn shipped_case(name: &str, occlusion: [usize; 2]) {
    let m = manifest();
    let target = m["targets"][name].as_u64().unwrap() as usize;
    let graph = shipped(name);
    let x = npy(&format!("{name}_input"));
    let mut report = BTreeMap::new();
    report.insert(
        "gradient",
        check(
            &graph,
            &x,
            target,
            Method::Gradient,
            &format!("{name}_gradient"),
        ),
    );
    report.insert(
        "gradient-x-input",
        check(
            &graph,
            &x,
            target,
            Method::GradientXInput,
            &format!("{name}_gradient_x_input"),
        ),
    );
    let noise = npy(&format!("{name}_smoothgrad_noise"));
    let samples = noise.shape()[0];
    report.insert(
        "smoothgrad",
        check(
            &graph,
            &x,
            target,
            Method::SmoothGrad {
                samples,
                sigma: Sigma::Absolute(0.0),
                noise: Noise::Given(noise),
                batch: 3,
            },
            &format!("{name}_smoothgrad"),
        ),
    );
    report.insert(
        "integrated-gradients",
        check(
            &graph,
            &x,
            target,
            Method::IntegratedGradients {
                steps: 16,
                baseline: Baseline::Value(0.0),
                quadrature: Quadrature::GaussLegendre,
                batch: 5,
            },
            &format!("{name}_integrated_gradients"),
        ),
    );
    let occ = &m["occlusion"][name];
    let (win, stride) = (
        occ["window"].as_u64().unwrap() as usize,
        occ["stride"].as_u64().unwrap() as usize,
    );
    assert_eq!([win, stride], occlusion);
    report.insert(
        "occlusion",
        check(
            &graph,
            &x,
            target,
            Method::Occlusion {
                window: [win, win],
                stride: [stride, stride],
                baseline: Baseline::Value(0.0),
                batch: 7,
            },
            &format!("{name}_occlusion"),
        ),
    );
    report.insert(
        "guided-backprop",
        check(
            &graph,
            &x,
            target,
            Method::GuidedBackprop,
            &format!("{name}_guided_backprop"),
        ),
    );
    report.insert(
        "excitation-backprop",
        check(
            &graph,
            &x,
            target,
            Method::ExcitationBackprop,
            &format!("{name}_excitation_backprop"),
        ),
    );
    eprintln!("{name}: {report:?}");
}

#[test]
fn gender_model_every_method_matches_captum_and_zennit() {
    shipped_case("gender", [6, 4]);
    // Captum's riemann_trapezoid (its weights sum to 1 − 1/n).
    let m = manifest();
    let target = m["targets"]["gender"].as_u64().unwrap() as usize;
    check(
        &shipped("gender"),
        &npy("gender_input"),
        target,
        Method::IntegratedGradients {
            steps: 10,
            baseline: Baseline::Value(0.0),
            quadrature: Quadrature::RiemannTrapezoid,
            batch: 4,
        },
        "gender_integrated_gradients_trapezoid",
    );
}

#[test]
fn age_model_every_method_matches_captum_and_zennit() {
    shipped_case("age", [16, 8]);
}

/// The gradient through today's operators (ReLU6, SiLU, sigmoid gates, GELU, LayerNorm,
/// depthwise convolutions; attention MatMul and Softmax) against torch autograd.
#[test]
fn gradient_of_modern_cnns_and_vision_transformers_matches_torch_autograd() {
    let m = manifest();
    let mut report = Vec::new();
    for (arch, folder, input, crop) in [
        ("mobilenet_v2", "modern", "input_224", true),
        ("efficientnet_b0", "modern", "input_224", true),
        ("convnext_tiny", "modern", "input_224", true),
        ("vit_b_16", "vit", "input_48", false),
        ("deit_tiny", "vit", "input_48", false),
    ] {
        let graph = onnx::load(format!("{DATA}/{folder}/{arch}_legacy.onnx")).unwrap();
        let x: ArrayD<f32> = read_npy(format!("{DATA}/{folder}/{input}.npy")).unwrap();
        let target = m["targets"][arch].as_u64().unwrap() as usize;
        let a = Attributor::new(graph, Method::Gradient).unwrap();
        let e = a.attribute(&x, &Target::Class(target)).unwrap();
        let full = e.relevance.index_axis(ndarray::Axis(1), 0).to_owned();
        let key = format!("{arch}_gradient");
        let stats = &m[&key];
        let want = npy(&key);
        let got = if crop {
            full.slice(ndarray::s![.., .., 80..144, 80..144])
                .to_owned()
                .into_dyn()
        } else {
            full.clone()
        };
        let got = got.as_standard_layout().to_owned();
        let err = rel_err(got.as_slice().unwrap(), want.as_slice().unwrap());
        let err = if crop {
            // The crop's own maximum can be far below the map's: scale by the whole map's.
            err * want.iter().fold(0f32, |a, v| a.max(v.abs()))
                / stats["max_abs"].as_f64().unwrap() as f32
        } else {
            err
        };
        let abs_sum: f64 = full.iter().map(|v| v.abs() as f64).sum();
        let max_abs = full.iter().fold(0f32, |a, v| a.max(v.abs())) as f64;
        let abs_err = (abs_sum / stats["abs_sum"].as_f64().unwrap() - 1.0).abs();
        let max_err = (max_abs / stats["max_abs"].as_f64().unwrap() - 1.0).abs();
        report.push(format!(
            "{arch}: {err:.1e} (Σ|g| {abs_err:.1e}, max {max_err:.1e})"
        ));
        assert!(err <= 1e-4, "{arch}: gradient off by {err:e} of max |g|");
        assert!(
            abs_err <= 1e-4 && max_err <= 1e-4,
            "{arch}: whole-map stats {abs_err:e} {max_err:e}"
        );
    }
    eprintln!("{}", report.join("\n"));
}

/// SmoothGrad with lrp's own seeded noise: each image's result is that of the image alone,
/// whatever the batching, and the mean over many samples at σ → 0 is the plain gradient.
#[test]
fn seeded_smoothgrad_is_reproducible_and_tends_to_the_gradient() {
    let graph = shipped("gender");
    let x = npy("gender_input");
    let two = ndarray::concatenate(ndarray::Axis(0), &[x.view(), x.view()]).unwrap();
    let sg = |samples, sigma, batch| Method::SmoothGrad {
        samples,
        sigma: Sigma::Relative(sigma),
        noise: Noise::Seeded(7),
        batch,
    };
    let a = Attributor::new(graph.clone(), sg(6, 0.15, 4)).unwrap();
    let one = a.attribute(&x, &Target::Class(0)).unwrap().relevance;
    let b = Attributor::new(graph.clone(), sg(6, 0.15, 5)).unwrap();
    let pair = b.attribute(&two, &Target::Class(0)).unwrap().relevance;
    let n = one.len();
    let ps = pair.as_slice().unwrap();
    assert!(rel_err(&ps[..n], one.as_slice().unwrap()) <= 1e-6);
    assert!(rel_err(&ps[n..], one.as_slice().unwrap()) <= 1e-6);
    let zero = Attributor::new(graph.clone(), sg(3, 0.0, 2)).unwrap();
    let z = zero.attribute(&x, &Target::Class(0)).unwrap().relevance;
    let g = Attributor::new(graph, Method::Gradient)
        .unwrap()
        .attribute(&x, &Target::Class(0))
        .unwrap()
        .relevance;
    assert!(rel_err(z.as_slice().unwrap(), g.as_slice().unwrap()) <= 1e-6);
}

/// Integrated gradients' completeness (Sundararajan et al.): Σ attributions = z(x) − z(0) up
/// to the quadrature error. The gradient of a ReLU network is piecewise constant along the
/// path, so the sum converges slowly; at 512 midpoint steps it is within 1% here (at 64
/// Gauss–Legendre steps, 6%).
#[test]
fn integrated_gradients_is_complete() {
    let graph = shipped("gender");
    let x = npy("gender_input");
    let zero = ArrayD::zeros(IxDyn(x.shape()));
    let diff = (graph.logits(&x).unwrap()[[0, 1]] - graph.logits(&zero).unwrap()[[0, 1]]) as f64;
    let sum = |steps, quadrature| -> f64 {
        let a = Attributor::new(
            graph.clone(),
            Method::IntegratedGradients {
                steps,
                baseline: Baseline::Value(0.0),
                quadrature,
                batch: 64,
            },
        )
        .unwrap();
        let e = a.attribute(&x, &Target::Class(1)).unwrap();
        e.relevance.iter().map(|&v| v as f64).sum()
    };
    let coarse = sum(16, Quadrature::RiemannMiddle);
    let fine = sum(512, Quadrature::RiemannMiddle);
    eprintln!("Δz {diff}: Σ IG 16 steps {coarse}, 512 steps {fine}");
    assert!(
        (fine - diff).abs() <= 0.01 * diff.abs(),
        "Σ IG {fine} vs Δz {diff}"
    );
    assert!(
        (fine - diff).abs() <= (coarse - diff).abs(),
        "more steps, closer"
    );
}

#[test]
fn bad_parameters_are_typed_errors() {
    let graph = shipped("gender");
    let x = npy("gender_input");
    for (method, words) in [
        (
            Method::SmoothGrad {
                samples: 0,
                sigma: Sigma::Relative(0.1),
                noise: Noise::Seeded(0),
                batch: 1,
            },
            "at least 1",
        ),
        (
            Method::SmoothGrad {
                samples: 2,
                sigma: Sigma::Absolute(f32::NAN),
                noise: Noise::Seeded(0),
                batch: 1,
            },
            "finite",
        ),
        (
            Method::Occlusion {
                window: [40, 4],
                stride: [2, 2],
                baseline: Baseline::Value(0.0),
                batch: 1,
            },
            "larger than the input",
        ),
        (
            Method::IntegratedGradients {
                steps: 4,
                baseline: Baseline::Tensor(ArrayD::zeros(IxDyn(&[3, 5, 5]))),
                quadrature: Quadrature::GaussLegendre,
                batch: 2,
            },
            "baseline has shape",
        ),
    ] {
        let err = Attributor::new(graph.clone(), method)
            .and_then(|a| a.attribute(&x, &Target::Predicted))
            .unwrap_err()
            .to_string();
        assert!(err.contains(words), "{err}");
    }
    assert!(Method::from_name("nonsense")
        .unwrap_err()
        .to_string()
        .contains("integrated-gradients"));
}
