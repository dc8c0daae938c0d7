//! Vision transformers on the command line (issue 18), run through the built binary as a user
//! would: `lrp explain` on the ViT and DeiT test models of both exporters, the token view
//! against LXT 2.1, a CNN and ViTs side by side in one run (each with its own preprocessing)
//! and `lrp figure` / `lrp compare` on them together.
//!
//! References: `tests/data/vit/tokens.json`, written by `tests/vit/tokens.py` with LXT 2.1 on
//! the same weights (float64, gradient × input at the patch embedding's output, the class
//! token and the position embedding); the input relevance itself is checked against LXT in
//! tests/vit.rs.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

mod support;
use support::cli::lrp;

fn tempdir(name: &str) -> PathBuf {
    support::cli::tempdir("cli-vit", name)
}

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/vit");

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "status {:?}\nstdout {}\nstderr {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn model(name: &str) -> String {
    format!("{DATA}/{name}.onnx")
}

fn manifest(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("manifest.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// The token view of `lrp explain --input-npy` against LXT 2.1, for both models, both
/// exporters and both presets: the patch-token map within 1e-4 of its max |R|, the class
/// token's and the position embedding's relevance within 1e-4 of the explained logit; and
/// the stem's split `stem = patches + class token + position` holds to 1e-5 of the logit.
#[test]
fn token_relevance_matches_lxt() {
    let want: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{DATA}/tokens.json")).unwrap())
            .unwrap();
    let dir = tempdir("tokens");
    let mut report = Vec::new();
    for name in ["vit_b_16", "deit_tiny"] {
        for exporter in ["legacy", "dynamo"] {
            let file = model(&format!("{name}_{exporter}"));
            let out = dir.join(format!("{name}_{exporter}"));
            let o = lrp(
                &[
                    "explain",
                    "--input-npy",
                    &format!("{DATA}/input_48.npy"),
                    "--model",
                    &file,
                    "--preset",
                    "attnlrp,cp-lrp",
                    "--npy",
                    "--json",
                    "--out",
                    out.to_str().unwrap(),
                ],
                &dir,
            );
            ok(&o);
            let got: Vec<Value> =
                serde_json::from_str(&std::fs::read_to_string(out.join("tokens.json")).unwrap())
                    .unwrap();
            assert_eq!(got.len(), 2, "{got:?}");
            for (preset, config) in [("attnlrp", "attnlrp"), ("cp-lrp", "cp_lrp")] {
                let w = &want["models"][name][config];
                let g = got.iter().find(|g| g["preset"] == preset).unwrap();
                assert_eq!(g["class"], w["target"]);
                let map: ndarray::ArrayD<f32> = ndarray_npy::read_npy(
                    out.join(format!("{name}_{exporter}_{preset}_tokens.npy")),
                )
                .unwrap();
                assert_eq!(map.shape(), &[1, 6, 6]);
                let wmap: Vec<f64> = w["map"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|r| r.as_array().unwrap().iter().map(f))
                    .collect();
                let scale = wmap.iter().fold(0f64, |m, v| m.max(v.abs()));
                let err = map
                    .iter()
                    .zip(&wmap)
                    .map(|(a, b)| (f64::from(*a) - b).abs())
                    .fold(0f64, f64::max)
                    / scale;
                let logit = f(&w["logit"]);
                let cls = (f(&g["class_token"]) - f(&w["class_token"])).abs() / logit.abs();
                let pos = (f(&g["position"]) - f(&w["position"])).abs() / logit.abs();
                let split =
                    (f(&g["stem"]) - f(&g["patches"]) - f(&g["class_token"]) - f(&g["position"]))
                        .abs()
                        / logit.abs();
                report.push(format!(
                    "{name} {exporter} {preset}: map {err:.1e}, class token {cls:.1e}, \
                     position {pos:.1e}, split {split:.1e}"
                ));
                assert!(
                    err <= 1e-4,
                    "{name} {exporter} {preset}: map off by {err:e}"
                );
                assert!(
                    cls <= 1e-4,
                    "{name} {exporter} {preset}: class token {cls:e}"
                );
                assert!(pos <= 1e-4, "{name} {exporter} {preset}: position {pos:e}");
                assert!(split <= 1e-5, "{name} {exporter} {preset}: split {split:e}");
                assert!((f(&g["logit"]) - logit).abs() <= 1e-5 * logit.abs());
            }
        }
    }
    println!("{}", report.join("\n"));
}

/// Width of a PNG.
fn png_size(path: &Path) -> (u32, u32) {
    let img = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (img.width(), img.height())
}

/// A face CNN and two vision transformers in one `lrp explain` run, each with its own
/// preprocessing: pixel heatmaps for all, token heatmaps (and `.tokens.npy`) for the
/// transformers only, the token numbers in the manifest (and in `--json` details), one
/// figure with a column per model × preset × view.
#[test]
fn cnn_and_vits_side_by_side_in_one_run() {
    let dir = tempdir("side");
    let gender = format!("{ROOT}/assets/gender-v1.onnx");
    let (vit, deit) = (model("vit_b_16_legacy"), model("deit_tiny_dynamo"));
    let run = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "explain",
            "--model",
            &gender,
            "--model",
            &vit,
            "--model",
            &deit,
            "--preprocess",
            "face,imagenet,imagenet",
            "--preset",
            "attnlrp",
            "--out",
            out,
        ];
        args.extend_from_slice(extra);
        let o = lrp(&args, &dir);
        ok(&o);
        dir.join(out)
    };
    let all = run("all", &["--json", "--npy"]);
    for face in ["astronaut.png", "grace_hopper.jpg"] {
        let pixel = all.join(format!("gender-v1/attnlrp/{face}.png"));
        assert!(pixel.is_file(), "{}", pixel.display());
        assert!(!all
            .join(format!("gender-v1/attnlrp/{face}.tokens.png"))
            .exists());
        for m in ["vit_b_16_legacy", "deit_tiny_dynamo"] {
            let p = all.join(format!("{m}/attnlrp/{face}.png"));
            let t = all.join(format!("{m}/attnlrp/{face}.tokens.png"));
            // Both drawn over the part of the image the model saw (the ImageNet centre crop).
            assert_eq!(png_size(&p), png_size(&t), "{m} {face}");
            let grid: ndarray::ArrayD<f32> =
                ndarray_npy::read_npy(all.join(format!("{m}/attnlrp/{face}.tokens.npy"))).unwrap();
            assert_eq!(grid.shape(), &[6, 6]);
        }
    }
    let entries = manifest(&all);
    assert_eq!(entries.len(), 6);
    for e in &entries {
        let t = &e["maps"][0]["tokens"];
        let details = &e["details"]["tokens"];
        if e["model"] == "gender-v1" {
            assert!(t.is_null() && details.is_null(), "{e}");
            assert!(e["settings"]
                .as_str()
                .unwrap()
                .contains("preprocess=face,imagenet,imagenet"));
            continue;
        }
        assert_eq!(t["grid"], serde_json::json!([6, 6]), "{e}");
        let split = f(&t["stem"]) - f(&t["patches"]) - f(&t["class_token"]) - f(&t["position"]);
        assert!(split.abs() <= 1e-5 * f(&t["logit"]).abs(), "{e}");
        // The logit explained is the predicted class's: the largest logit in the details.
        let logits: Vec<f64> = e["details"]["logits"]
            .as_array()
            .unwrap()
            .iter()
            .map(f)
            .collect();
        let top = logits.iter().cloned().fold(f64::MIN, f64::max);
        assert!((f(&t["logit"]) - top).abs() <= 1e-5 * top.abs(), "{e}");
        // The details carry the grid itself, whose sum is the patches' relevance.
        let map_sum: f64 = details[0]["map"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap().iter().map(f))
            .sum();
        assert!((map_sum - f(&t["patches"])).abs() <= 1e-5 * f(&t["logit"]).abs());
    }
    // Figures: 5 heatmap columns (gender; ViT pixel + tokens; DeiT pixel + tokens) against 3
    // with --heatmap input and 2 with the token view alone for the ViTs and none for the CNN…
    let (w5, h) = png_size(&all.join("figure.png"));
    let (w3, h3) = png_size(&run("input", &["--heatmap", "input"]).join("figure.png"));
    let tokens = run("tokens", &["--heatmap", "tokens"]);
    let (w3t, _) = png_size(&tokens.join("figure.png"));
    assert_eq!(h, h3);
    assert_eq!(w3, w3t, "--heatmap tokens: gender pixel + 2 token columns");
    // …each column the same width.
    let two = dir.join("two");
    let o = lrp(
        &[
            "figure",
            "--model",
            &gender,
            "--model",
            &vit,
            "--preprocess",
            "face,imagenet",
            "--preset",
            "attnlrp",
            "--heatmap",
            "input",
            "--out",
            two.join("f.png").to_str().unwrap(),
        ],
        &dir,
    );
    ok(&o);
    let (w2, _) = png_size(&two.join("f.png"));
    assert!(w3 > w2);
    assert_eq!(
        w5 - w3,
        2 * (w3 - w2),
        "5, 3 and 2 columns: {w5}, {w3}, {w2}"
    );
    // --heatmap tokens writes no pixel heatmap for the transformers, and stays a CNN's.
    assert!(!tokens
        .join("vit_b_16_legacy/attnlrp/astronaut.png.png")
        .exists());
    assert!(tokens
        .join("vit_b_16_legacy/attnlrp/astronaut.png.tokens.png")
        .is_file());
    assert!(tokens.join("gender-v1/attnlrp/astronaut.png.png").is_file());
}

/// `--preprocess` with a count that fits neither one-for-all nor one-per-model is one line
/// and status 1, naming the option.
#[test]
fn preprocess_values_must_match_the_models() {
    let dir = tempdir("pre");
    let gender = format!("{ROOT}/assets/gender-v1.onnx");
    let vit = model("vit_b_16_legacy");
    let o = lrp(
        &[
            "explain",
            "--model",
            &gender,
            "--model",
            &vit,
            "--preprocess",
            "face,imagenet,face",
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("--preprocess has 3 values for 2 models"),
        "{err}"
    );
}

/// `lrp compare` on a CNN and a ViT together, each with its own preprocessing: every metric
/// has both, and the similarity of a model with itself is 1.
#[test]
fn compare_a_cnn_and_a_vit() {
    let dir = tempdir("compare");
    let gender = format!("{ROOT}/assets/gender-v1.onnx");
    let vit = model("vit_b_16_legacy");
    let o = lrp(
        &[
            "compare",
            "--model",
            &gender,
            "--model",
            &vit,
            "--preprocess",
            "face,imagenet",
            "--preset",
            "attnlrp",
            "--grid",
            "8",
            "--random-runs",
            "1",
            "--flip-steps",
            "4",
            "--out",
            "cmp",
        ],
        &dir,
    );
    ok(&o);
    let sim: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cmp/similarity.json")).unwrap())
            .unwrap();
    let text = sim.to_string();
    assert!(text.contains("gender-v1 · attnlrp") && text.contains("vit_b_16_legacy · attnlrp"));
    assert!(dir.join("cmp/average_maps.png").is_file());
}

/// The presets are listed where users look: `--preset`'s help and `lrp info --presets`; and
/// `lrp info` on a transformer names its token layout.
#[test]
fn transformer_presets_are_listed() {
    let dir = tempdir("help");
    let help = lrp(&["explain", "--help"], &dir);
    ok(&help);
    let text = String::from_utf8_lossy(&help.stdout);
    let preset_help = text.split("--preset").nth(1).unwrap_or("");
    assert!(
        preset_help.contains("attnlrp") && preset_help.contains("cp-lrp"),
        "{text}"
    );
    let o = lrp(&["info", "--presets"], &dir);
    ok(&o);
    let list = String::from_utf8_lossy(&o.stdout);
    assert!(
        list.contains("attnlrp") && list.contains("cp-lrp"),
        "{list}"
    );
    let o = lrp(
        &[
            "info",
            &model("deit_tiny_legacy"),
            "--preset",
            "attnlrp",
            "--json",
        ],
        &dir,
    );
    ok(&o);
    let info: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(info[0]["tokens"]["grid"], serde_json::json!([6, 6]));
    assert_eq!(info[0]["tokens"]["patch"], serde_json::json!([8, 8]));
}
