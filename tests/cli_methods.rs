//! `--method` on the command line (issue 21): the baseline attribution methods through
//! `lrp explain`, `lrp figure` and `lrp compare`, with `--target`, `--npy` and the figures
//! as for relevance.
//!
//! References: the Captum 0.9 / Zennit 1.0 arrays of `tests/data/attribution/` (made by
//! `tests/attribution/generate.py` on the shipped gender model's preprocessed astronaut face),
//! fed to the CLI as `--input-npy`; and, where the CLI draws its own noise (SmoothGrad),
//! the library's `Attributor` on the same preprocessed portraits (the library itself is checked
//! against Captum in tests/attribution.rs). Tolerance against Captum: max |cli − ref| ≤ 1e-4 ·
//! max |ref| (float32, different summation orders); against the library: the same arithmetic,
//! 1e-6.

use lrp::attribution::{Attributor, Method, Noise, Sigma};
use lrp::explain::Target;
use lrp::model::Model;
use ndarray::{ArrayD, Axis};
use ndarray_npy::read_npy;
use std::path::PathBuf;

mod support;
use support::cli::{lrp, stderr, stdout};

fn tempdir(name: &str) -> PathBuf {
    support::cli::tempdir("methods", name)
}

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/attribution");

/// Max |a − b| / max |b|.
fn rel_err(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    worst / scale.max(f32::MIN_POSITIVE)
}

/// The class the references explain for the gender model (tests/data/attribution/manifest.json).
fn gender_target() -> usize {
    let text = std::fs::read_to_string(format!("{DATA}/manifest.json")).unwrap();
    let m: serde_json::Value = serde_json::from_str(&text).unwrap();
    m["targets"]["gender"].as_u64().unwrap() as usize
}

/// Every method whose reference is deterministic, run by the CLI on the reference's input
/// tensor with the reference's parameters, against Captum's (Zennit's for excitation backprop)
/// arrays: integrated gradients 16 Gauss–Legendre steps from 0, occlusion a 6×6 window moved
/// by 4 set to 0 (generate.py).
#[test]
fn explain_input_npy_methods_equal_captum_references() {
    let dir = tempdir("captum");
    let target = gender_target().to_string();
    let input = format!("{DATA}/gender_input.npy");
    let o = lrp(
        &[
            "explain",
            "--model",
            "gender-v1",
            "--input-npy",
            &input,
            "--method",
            "gradient,gradient-x-input,integrated-gradients,occlusion,guided-backprop,excitation-backprop",
            "--steps",
            "16",
            "--window",
            "6",
            "--stride",
            "4",
            "--baseline",
            "zero",
            "--target",
            &target,
            "--npy",
            "--json",
            "--out",
            "out",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    for (method, reference) in [
        ("gradient", "gender_gradient"),
        ("gradient-x-input", "gender_gradient_x_input"),
        ("integrated-gradients", "gender_integrated_gradients"),
        ("occlusion", "gender_occlusion"),
        ("guided-backprop", "gender_guided_backprop"),
        ("excitation-backprop", "gender_excitation_backprop"),
    ] {
        let got: ArrayD<f32> =
            read_npy(dir.join(format!("out/gender-v1_{method}_relevance.npy"))).unwrap();
        let want: ArrayD<f32> = read_npy(format!("{DATA}/{reference}.npy")).unwrap();
        let err = rel_err(&got, &want);
        assert!(err <= 1e-4, "{method}: off by {err:e} of max |attribution|");
    }
    // The summary names each method and the class explained.
    let summary = std::fs::read_to_string(dir.join("out/summary.json")).unwrap();
    for method in ["gradient", "occlusion", "excitation-backprop"] {
        assert!(summary.contains(&format!("\"{method}\"")), "{summary}");
    }
}

/// The library's SmoothGrad (its seeded noise) on the shipped portraits as the library
/// preprocesses them.
fn library_smoothgrad(samples: usize) -> Vec<ArrayD<f32>> {
    let model = Model::gender().unwrap();
    let crops: Vec<_> = lrp::assets::portrait_faces()
        .unwrap()
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    let x = lrp::preprocess::to_tensor(&crops, &model.preprocess).unwrap();
    let method = Method::SmoothGrad {
        samples,
        sigma: Sigma::Relative(0.15),
        noise: Noise::Seeded(0),
        batch: 16,
    };
    let e = Attributor::new(model.graph, method)
        .unwrap()
        .attribute(&x, &Target::Predicted)
        .unwrap();
    (0..crops.len())
        .map(|i| {
            e.relevance
                .index_axis(Axis(0), i)
                .index_axis(Axis(0), 0)
                .to_owned()
        })
        .collect()
}

/// SmoothGrad with the default noise on the shipped portraits: the `.npy` files equal the
/// library's attribution; the manifest records the method and its parameters, a rerun skips
/// the done images and another `--samples` redoes them.
#[test]
fn explain_smoothgrad_npy_equals_the_library_and_resumes() {
    let dir = tempdir("smoothgrad");
    let args = [
        "explain",
        "--model",
        "gender-v1",
        "--method",
        "smoothgrad",
        "--samples",
        "4",
        "--npy",
        "--figure-rows",
        "0",
    ];
    let o = lrp(&args, &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    let want = library_smoothgrad(4);
    for (face, want) in ["astronaut.png", "grace_hopper.jpg"].iter().zip(&want) {
        let got: ArrayD<f32> =
            read_npy(dir.join(format!("lrp-out/gender-v1/smoothgrad/{face}.npy"))).unwrap();
        let err = rel_err(&got, want);
        assert!(err <= 1e-6, "{face}: off by {err:e}");
        assert!(dir
            .join(format!("lrp-out/gender-v1/smoothgrad/{face}.png"))
            .is_file());
    }
    let manifest = std::fs::read_to_string(dir.join("lrp-out/manifest.jsonl")).unwrap();
    assert_eq!(manifest.lines().count(), 2, "{manifest}");
    assert!(
        manifest
            .lines()
            .all(|l| l.contains(r#""preset":"smoothgrad""#)
                && l.contains("samples=4 noise-sigma=15% noise-seed=0")),
        "{manifest}"
    );
    let again = lrp(&args, &dir);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stdout(&again).contains("2 of 2 images already done"),
        "{}",
        stdout(&again)
    );
    let mut other = args.to_vec();
    other[6] = "3";
    let redo = lrp(&other, &dir);
    assert!(redo.status.success(), "{}", stderr(&redo));
    assert!(
        stdout(&redo).contains("0 of 2 images already done"),
        "{}",
        stdout(&redo)
    );
}

/// `lrp figure` with LRP and two methods: one column per model × method, so the figure is
/// wider than with LRP alone; `lrp explain --method lrp,gradient` writes both folders.
#[test]
fn figure_and_explain_with_several_methods() {
    let dir = tempdir("figure");
    let width = |name: &str, methods: &str| {
        let o = lrp(
            &[
                "figure",
                "--model",
                "gender-v1",
                "--preset",
                "epsilon-plus-flat",
                "--method",
                methods,
                "--out",
                name,
            ],
            &dir,
        );
        assert!(o.status.success(), "{}", stderr(&o));
        image::open(dir.join(name)).unwrap().width()
    };
    let one = width("one.png", "lrp");
    let three = width("three.png", "lrp,gradient,occlusion");
    assert!(three > one, "{three} vs {one}");
    let o = lrp(
        &[
            "explain",
            "--model",
            "gender-v1",
            "--preset",
            "epsilon-plus-flat",
            "--method",
            "lrp,gradient",
            "--target",
            "0,1",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    for folder in ["epsilon-plus-flat", "gradient"] {
        for class in [0, 1] {
            let f = dir.join(format!(
                "lrp-out/gender-v1/{folder}/astronaut.png.class{class}.png"
            ));
            assert!(f.is_file(), "missing {}", f.display());
        }
    }
    assert!(dir.join("lrp-out/figure.png").is_file());
}

/// `lrp compare --method lrp,gradient,smoothgrad`: rows labelled by method; the LRP row
/// equals that of a comparison of the preset alone (adding methods changes nothing of it).
#[test]
fn compare_includes_methods() {
    let dir = tempdir("compare");
    let common = [
        "compare",
        "--model",
        "gender-v1",
        "--preset",
        "epsilon-plus-flat",
        "--flip-steps",
        "4",
        "--random-runs",
        "1",
        "--clusters",
        "2",
    ];
    let mut with = common.to_vec();
    with.extend([
        "--method",
        "lrp,gradient,smoothgrad",
        "--samples",
        "2",
        "--out",
        "with",
    ]);
    let o = lrp(&with, &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("1 model(s) × 3 method(s)"), "{text}");
    let mut alone = common.to_vec();
    alone.extend(["--out", "alone"]);
    let o = lrp(&alone, &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = |d: &str| -> Vec<String> {
        std::fs::read_to_string(dir.join(d).join("aopc.csv"))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    };
    let (with_rows, alone_rows) = (rows("with"), rows("alone"));
    let labelled = |rows: &[String], label: &str| {
        rows.iter()
            .filter(|r| r.contains(&format!(",{label},")))
            .cloned()
            .collect::<Vec<_>>()
    };
    for label in ["gradient", "smoothgrad"] {
        assert!(!labelled(&with_rows, label).is_empty(), "{with_rows:?}");
    }
    let lrp_rows = labelled(&with_rows, "epsilon-plus-flat");
    assert!(!lrp_rows.is_empty(), "{with_rows:?}");
    assert_eq!(lrp_rows, labelled(&alone_rows, "epsilon-plus-flat"));
    let sim = std::fs::read_to_string(dir.join("with/similarity_pearson.csv")).unwrap();
    assert!(sim.contains("gender-v1 · smoothgrad"), "{sim}");
}

/// Bad method names and parameters: one line naming the option and the valid values, exit
/// status 1, before anything is written.
#[test]
fn bad_methods_and_parameters_are_one_line_errors() {
    let dir = tempdir("errors");
    for (args, words) in [
        (
            &["--method", "gradiant"][..],
            &[
                "--method: unknown method `gradiant`",
                "integrated-gradients",
            ][..],
        ),
        (
            &["--method", "integrated-gradients", "--steps", "0"],
            &["--steps 0: expected 1 to 10000"],
        ),
        (
            &["--method", "smoothgrad", "--noise-sigma=-1"],
            &["--noise-sigma `-1`", "non-negative"],
        ),
        (
            &["--method", "occlusion", "--window", "64"],
            &[
                "model gender-v1",
                "occlusion window [64, 64] is larger than the input 32×32",
            ],
        ),
        (
            &["--method", "occlusion", "--stride", "0"],
            &["--stride `0`", "≥ 1"],
        ),
        (
            &["--method", "gradient", "--steps", "5"],
            &["--steps is a parameter of --method integrated-gradients"],
        ),
        (
            &["--method", "integrated-gradients", "--baseline", "grey"],
            &["--baseline `grey`", "zero, mean, black"],
        ),
        (
            &["--method", "gradient,saliency"],
            &["gradient is given twice"],
        ),
    ] {
        for sub in ["explain", "compare"] {
            let mut all = vec![sub, "--model", "gender-v1", "--out", "never"];
            all.extend(args);
            let o = lrp(&all, &dir);
            assert_eq!(o.status.code(), Some(1), "{all:?}: {}", stdout(&o));
            let err = stderr(&o);
            assert_eq!(err.lines().count(), 1, "{all:?}: {err}");
            assert!(err.starts_with("lrp: error: "), "{err}");
            for w in words {
                assert!(err.contains(w), "{all:?}: {err}");
            }
            assert!(!dir.join("never").exists(), "{all:?} wrote output");
        }
    }
}

/// A vision transformer (the reduced DeiT-tiny of tests/data/vit) under AttnLRP and the
/// gradient in one `--input-npy` run with `--heatmap tokens`: the token grid is LRP's only,
/// and the CLI's gradient equals Captum's reference on the same input (tests/data/attribution,
/// class 7) to 1e-4 of max |g|.
#[test]
fn vision_transformer_tokens_stay_lrp_and_gradient_equals_captum() {
    let dir = tempdir("vit");
    let vit = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/vit");
    let model = format!("{vit}/deit_tiny_legacy.onnx");
    let input = format!("{vit}/input_48.npy");
    let o = lrp(
        &[
            "explain",
            "--model",
            &model,
            "--input-npy",
            &input,
            "--preset",
            "attnlrp",
            "--method",
            "lrp,gradient",
            "--heatmap",
            "tokens",
            "--target",
            "7",
            "--npy",
            "--out",
            "out",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.join("out");
    assert!(out.join("deit_tiny_legacy_attnlrp_tokens.npy").is_file());
    assert!(!out.join("deit_tiny_legacy_gradient_tokens.npy").exists());
    let got: ArrayD<f32> = read_npy(out.join("deit_tiny_legacy_gradient_relevance.npy")).unwrap();
    let want: ArrayD<f32> = read_npy(format!("{DATA}/deit_tiny_gradient.npy")).unwrap();
    let err = rel_err(&got, &want);
    assert!(err <= 1e-4, "off by {err:e} of max |g|");
}
