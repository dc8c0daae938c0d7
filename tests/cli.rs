//! The `lrp` command line, run as a user would: the default job, the reference reproduction
//! the issue asks for (Zennit relevance and onnxruntime logits from ../shared/reference),
//! machine-readable output, and one-line errors with a non-zero status for bad input.

use ndarray::ArrayD;
use ndarray_npy::read_npy;
use std::path::PathBuf;

mod support;
use support::cli::{lrp, stderr, stdout};

fn tempdir(name: &str) -> PathBuf {
    support::cli::tempdir("cli", name)
}

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn default_explain_writes_heatmaps_and_a_figure() {
    let dir = tempdir("default");
    let o = lrp(&["explain"], &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("figure: lrp-out/figure.png"),
        "{}",
        stdout(&o)
    );
    let out = dir.join("lrp-out");
    // One folder per model and preset; the portraits' names keep their extensions. Every
    // shipped model, each under its own default presets: dlib's under epsilon-plus-flat and
    // paper, face-api's under epsilon-gamma-box only.
    let presets = [
        ("gender-v1", &["epsilon-plus-flat", "paper"][..]),
        ("age-v1", &["epsilon-plus-flat", "paper"][..]),
        ("face-api-gender", &["epsilon-gamma-box"][..]),
        ("face-api-age", &["epsilon-gamma-box"][..]),
    ];
    for face in ["astronaut.png", "grace_hopper.jpg"] {
        for (model, presets) in presets {
            for preset in presets {
                let f = out.join(format!("{model}/{preset}/{face}.png"));
                assert!(f.is_file(), "missing {}", f.display());
            }
        }
    }
    assert!(!out.join("face-api-age/paper").exists());
    assert!(!out.join("gender-v1/epsilon-gamma-box").exists());
    let manifest = std::fs::read_to_string(out.join("manifest.jsonl")).unwrap();
    assert_eq!(manifest.lines().count(), 12, "{manifest}");
    assert!(
        manifest.lines().all(|l| l.contains(r#""status":"ok""#)),
        "{manifest}"
    );
    let fig = lrp::heatmap::load_image(out.join("figure.png")).unwrap();
    assert!(
        fig.width() > 800 && fig.height() > 400,
        "{:?}",
        fig.dimensions()
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn explain_reproduces_zennits_relevance_from_a_preprocessed_input() {
    // The command of the issue: the reference input through the shipped gender model with
    // epsilon-plus-flat; Zennit's relevance (../shared/reference) within 1e-4 of max|R|.
    let dir = tempdir("npy");
    let input = format!("{SHARED}/reference/astronaut_gender_input.npy");
    let model = format!("{ROOT}/assets/gender-v1.onnx");
    let o = lrp(
        &[
            "explain",
            "--input-npy",
            &input,
            "--model",
            &model,
            "--preset",
            "epsilon-plus-flat",
            "--npy",
            "--json",
            "--out",
            "out",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let got: ArrayD<f32> =
        read_npy(dir.join("out/gender-v1_epsilon-plus-flat_relevance.npy")).unwrap();
    let want: ArrayD<f32> = read_npy(format!(
        "{SHARED}/reference/astronaut_gender_epsilon_plus_flat_argmax.npy"
    ))
    .unwrap();
    assert_eq!(got.shape(), want.shape());
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = got
        .iter()
        .zip(want.iter())
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(worst <= 1e-4 * scale, "{worst} of {scale}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary[0]["images"][0]["prediction"]["label"], "female");
    // The relevance sum the reference manifest records for this composite: 0.228043.
    let sum = summary[0]["images"][0]["maps"][0]["relevance_input"]
        .as_f64()
        .unwrap();
    assert!((sum - 0.228043).abs() < 1e-4, "{sum}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn forward_writes_onnxruntimes_logits() {
    let dir = tempdir("forward");
    let input = format!("{SHARED}/reference/astronaut_age_input.npy");
    let model = format!("{ROOT}/assets/age-v1.onnx");
    let o = lrp(
        &[
            "forward",
            "--model",
            &model,
            "--input-npy",
            &input,
            "--npy",
            "logits.npy",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let got: ArrayD<f32> = read_npy(dir.join("logits.npy")).unwrap();
    let want: ArrayD<f32> =
        read_npy(format!("{SHARED}/reference/astronaut_age_logits.npy")).unwrap();
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    for (a, b) in got.iter().zip(want.iter()) {
        assert!((a - b).abs() <= 1e-5 * scale, "{a} vs onnxruntime {b}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn info_lists_layers_and_rules() {
    let dir = tempdir("info");
    let o = lrp(&["info", "--preset", "paper", "--json"], &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v[0]["model"], "gender-v1");
    assert_eq!(v[1]["output_shape"][0], 81);
    let layers = v[0]["layers"].as_array().unwrap();
    assert_eq!(layers[0]["kind"], "Conv");
    assert_eq!(layers[0]["rule"], "flat (paper)");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_input_is_one_line_on_stderr_and_a_failure() {
    let dir = tempdir("bad");
    std::fs::write(dir.join("garbage.onnx"), b"\x08\x07not a model").unwrap();
    std::fs::write(dir.join("notes.png"), b"hello").unwrap();
    std::fs::write(dir.join("x.npy"), b"\x93NUMPY broken").unwrap();
    let cases: &[&[&str]] = &[
        &["explain", "--model", "missing.onnx"],
        &["explain", "--model", "garbage.onnx"],
        &["explain", "--image", "notes.png"],
        &["explain", "--image", "missing-folder"],
        &["explain", "--preset", "bogus"],
        &["explain", "--target", "99"],
        &["explain", "--rule", "conv1=nonsense"],
        &["explain", "--rule", "nolayer=flat"],
        &["explain", "--colormap", "nope"],
        &["explain", "--face-box", "10,10,5,5"],
        &["explain", "--input-npy", "x.npy"],
        &["forward", "--model", "model.txt"],
    ];
    for args in cases {
        let o = lrp(args, &dir);
        let err = stderr(&o);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("lrp: error: ") && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn compare_writes_matrices_maps_curves_and_clusters() {
    let dir = tempdir("compare");
    let o = lrp(
        &[
            "compare",
            "--preset",
            "epsilon-plus-flat,paper",
            "--flip-steps",
            "8",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("on 22 images"), "{text}");
    assert!(text.contains("gender-v1 · paper"), "{text}");
    let out = dir.join("lrp-out/compare");
    for f in [
        "similarity_pearson.csv",
        "similarity_pearson.png",
        "similarity_top10-iou.csv",
        "similarity.json",
        "average_maps.png",
        "aopc.csv",
        "aopc.json",
        "flipping_curves.csv",
        "flipping_gender-v1.png",
        "flipping_age-v1.png",
        "clusters.csv",
        "eigengap.png",
    ] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    // 4 items: a 4×4 matrix with ones on the diagonal.
    let csv = std::fs::read_to_string(out.join("similarity_pearson.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 5, "{csv}");
    assert!(rows[1].contains(",1.0000,"), "{csv}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("similarity.json")).unwrap())
            .unwrap();
    assert_eq!(json["matrices"].as_array().unwrap().len(), 4);
    // Heatmaps beat random order at destroying the score, on both models.
    let aopc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("aopc.json")).unwrap()).unwrap();
    for row in aopc.as_array().unwrap() {
        let (m, r) = (
            row["aopc_morf"].as_f64().unwrap(),
            row["aopc_random"].as_f64().unwrap(),
        );
        assert!(m > r, "{row}");
    }
    let clusters = std::fs::read_to_string(out.join("clusters.csv")).unwrap();
    assert_eq!(clusters.lines().count(), 1 + 4 * 22);
}

#[test]
fn compare_rejects_bad_options_in_one_line() {
    let dir = tempdir("compare-bad");
    for args in [
        &["compare", "--flip-baseline", "purple"][..],
        &["compare", "--grid", "0"][..],
        &["compare", "--target", "all"][..],
        &["compare", "--image", "does-not-exist.png"][..],
    ] {
        let o = lrp(args, &dir);
        assert!(!o.status.success(), "{args:?}");
        let e = stderr(&o);
        assert!(
            e.starts_with("lrp: error:") && e.lines().count() == 1,
            "{args:?}: {e}"
        );
    }
}
