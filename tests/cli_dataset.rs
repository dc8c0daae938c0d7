//! `lrp explain` on folders, through the built binary: outputs that cannot collide, failure
//! isolation, atomic outputs, resume, shards and `lrp merge`, and `lrp figure --out`. Each
//! test makes a small folder of faces cut from the shipped portraits (the gender model's
//! 32×32 input keeps them fast).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

mod support;
use support::cli::{lrp, stderr, stdout};

fn tempdir(name: &str) -> PathBuf {
    support::cli::tempdir("cli-dataset", name)
}

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Writes face crops of the astronaut at `files` (relative to `dir`), each cut at another
/// offset; `.jpg` names are written as JPEG.
fn faces(dir: &Path, files: &[&str]) {
    let img = lrp::preprocess::decode_rgb(lrp::assets::ASTRONAUT_PNG, "astronaut").unwrap();
    for (i, f) in files.iter().enumerate() {
        let o = 4 * i as u32;
        let crop = image::imageops::crop_imm(&img, 150 + o, 30 + o, 96, 100).to_image();
        let path = dir.join(f);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        crop.save(&path).unwrap();
    }
}

/// Every file under `dir`, relative and `/`-separated, with its bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}

fn manifest(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn gender() -> String {
    format!("{ROOT}/assets/gender-v1.onnx")
}

/// Runs `lrp explain` with the gender model and one preset on `faces`, into `out`.
fn explain(dir: &Path, extra: &[&str]) -> Output {
    let model = gender();
    let mut args = vec![
        "explain",
        "--model",
        &model,
        "--preset",
        "epsilon-plus-flat",
        "--image",
        "faces",
    ];
    args.extend_from_slice(extra);
    lrp(&args, dir)
}

#[test]
fn same_stems_and_extensions_keep_distinct_outputs_mirroring_the_tree() {
    let dir = tempdir("stems");
    faces(
        &dir.join("faces"),
        &["a/face.png", "b/face.png", "face.png", "face.jpg"],
    );
    let o = explain(&dir, &["--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let files: BTreeSet<String> = tree(&dir.join("out")).into_keys().collect();
    let want: BTreeSet<String> = [
        "gender-v1/epsilon-plus-flat/a/face.png.png",
        "gender-v1/epsilon-plus-flat/b/face.png.png",
        "gender-v1/epsilon-plus-flat/face.png.png",
        "gender-v1/epsilon-plus-flat/face.jpg.png",
        "manifest.jsonl",
        "figure.png",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(files, want);
    let m = manifest(&dir.join("out/manifest.jsonl"));
    assert_eq!(m.len(), 4);
    for e in &m {
        assert_eq!(e["status"], "ok", "{e}");
        assert_eq!(e["model"], "gender-v1");
        assert!(e["prediction"]["label"].is_string(), "{e}");
        assert_eq!(e["probabilities"].as_array().unwrap().len(), 2);
        assert!(e["maps"][0]["relevance_sum"].is_number(), "{e}");
        assert_eq!(e["files"].as_array().unwrap().len(), 1);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn name_clashes_between_models_or_presets_are_refused_in_one_line() {
    let dir = tempdir("clash");
    faces(&dir.join("faces"), &["x.png"]);
    for sub in ["a", "b"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        std::fs::copy(gender(), dir.join(sub).join("net.onnx")).unwrap();
    }
    let two_models = lrp(
        &[
            "explain",
            "--model",
            "a/net.onnx",
            "--model",
            "b/net.onnx",
            "--image",
            "faces",
        ],
        &dir,
    );
    let twice = lrp(
        &["explain", "--preset", "paper,paper", "--image", "faces"],
        &dir,
    );
    // (The shipped model's bytes keep its name, gender-v1, whatever the file is called.)
    for (o, what) in [
        (two_models, "a/net.onnx and b/net.onnx"),
        (twice, "preset `paper`"),
    ] {
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(
            e.starts_with("lrp: error: ") && e.contains(what) && e.contains("twice"),
            "{e}"
        );
    }
    assert!(!dir.join("lrp-out").join("net").exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_input_folder_as_out_is_refused_and_an_out_folder_inside_it_is_not_scanned() {
    let dir = tempdir("inout");
    faces(&dir.join("faces"), &["x.png", "y.png"]);
    let o = explain(&dir, &["--out", "faces"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("is the input folder"), "{e}");
    assert_eq!(
        tree(&dir.join("faces")).len(),
        2,
        "nothing written into the input folder"
    );
    // An output folder inside the input folder: the second run finds only the two faces.
    for _ in 0..2 {
        let o = explain(&dir, &["--out", "faces/lrp-out", "--force"]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let m = manifest(&dir.join("faces/lrp-out/manifest.jsonl"));
    assert_eq!(m.len(), 4, "two runs of two images");
    assert!(m
        .iter()
        .all(|e| !e["relative"].as_str().unwrap().contains("lrp-out")));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn figure_writes_exactly_its_out_file() {
    let dir = tempdir("figure");
    faces(&dir.join("faces"), &["x.png", "y.jpg"]);
    let before = tree(&dir);
    let model = gender();
    let o = lrp(
        &[
            "figure",
            "--model",
            &model,
            "--image",
            "faces",
            "--out",
            "result.png",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let mut after = tree(&dir);
    let fig = after.remove("result.png").expect("result.png written");
    assert_eq!(after, before, "nothing else written");
    let img = lrp::heatmap::decode_image(&fig).unwrap();
    assert!(img.height() > 100, "{:?}", img.dimensions());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_redone_entry_leaves_no_stale_files() {
    let dir = tempdir("stale");
    faces(&dir.join("faces"), &["x.png"]);
    std::fs::create_dir_all(dir.join("out/gender-v1/epsilon-plus-flat")).unwrap();
    // A file lrp did not write stays.
    std::fs::write(
        dir.join("out/gender-v1/epsilon-plus-flat/mine.txt"),
        b"keep",
    )
    .unwrap();
    let o = explain(&dir, &["--out", "out", "--target", "all", "--overlay"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let names = |d: &Path| -> Vec<String> { tree(&d.join("out/gender-v1")).into_keys().collect() };
    assert_eq!(
        names(&dir),
        [
            "epsilon-plus-flat/mine.txt",
            "epsilon-plus-flat/x.png.class0.overlay.png",
            "epsilon-plus-flat/x.png.class0.png",
            "epsilon-plus-flat/x.png.class1.overlay.png",
            "epsilon-plus-flat/x.png.class1.png",
        ]
    );
    let o = explain(&dir, &["--out", "out", "--target", "predicted"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        names(&dir),
        ["epsilon-plus-flat/mine.txt", "epsilon-plus-flat/x.png.png"]
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_corrupt_image_is_reported_and_the_others_are_explained() {
    let dir = tempdir("corrupt");
    faces(&dir.join("faces"), &["a.png", "b.png", "d.png"]);
    // A PNG cut short: its header decodes, its pixels do not.
    let good = std::fs::read(dir.join("faces/a.png")).unwrap();
    std::fs::write(dir.join("faces/c.png"), &good[..good.len() / 2]).unwrap();
    let o = explain(&dir, &["--out", "out"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 2, "{e}");
    assert!(
        lines[0].starts_with("lrp: error: ") && lines[0].contains("c.png"),
        "{e}"
    );
    assert!(lines[1].contains("1 of 4 images failed"), "{e}");
    let files = tree(&dir.join("out"));
    for f in ["a", "b", "d"] {
        assert!(
            files.contains_key(&format!("gender-v1/epsilon-plus-flat/{f}.png.png")),
            "{f}"
        );
    }
    assert!(
        !files
            .keys()
            .any(|k| k.contains("c.png.png") || k.ends_with(".partial")),
        "{files:?}"
    );
    let m = manifest(&dir.join("out/manifest.jsonl"));
    let failed: Vec<_> = m.iter().filter(|e| e["status"] == "failed").collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["relative"], "c.png");
    assert!(failed[0]["error"].as_str().unwrap().contains("c.png"));
    assert!(failed[0]["files"].as_array().unwrap().is_empty());
    // A rerun retries only the failed image (and fails on it again).
    let o = explain(&dir, &["--out", "out"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("1 entries written, 3 of 4 images already done"),
        "{}",
        stdout(&o)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_rerun_after_a_kill_finishes_the_rest_without_redoing_the_done_half() {
    let dir = tempdir("resume");
    let names: Vec<String> = (0..8).map(|i| format!("f{i}.png")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    faces(&dir.join("faces"), &refs);
    let o = explain(&dir, &["--out", "out", "--batch-size", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let full = tree(&dir.join("out"));
    // The state of a run killed half-way: four entries in the manifest and half a line,
    // the other outputs missing or left as a partial file.
    let text = std::fs::read_to_string(dir.join("out/manifest.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut cut = lines[..4].join("\n");
    cut.push('\n');
    cut.push_str(&lines[4][..20]);
    std::fs::write(dir.join("out/manifest.jsonl"), cut).unwrap();
    let folder = dir.join("out/gender-v1/epsilon-plus-flat");
    for i in 4..8 {
        std::fs::remove_file(folder.join(format!("f{i}.png.png"))).unwrap();
    }
    std::fs::write(folder.join(".f5.png.png.partial"), b"half").unwrap();
    let done_times: Vec<_> = (0..4)
        .map(|i| {
            std::fs::metadata(folder.join(format!("f{i}.png.png")))
                .unwrap()
                .modified()
                .unwrap()
        })
        .collect();
    let o = explain(&dir, &["--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("4 entries written, 4 of 8 images already done"),
        "{}",
        stdout(&o)
    );
    for (i, before) in done_times.iter().enumerate() {
        let t = std::fs::metadata(folder.join(format!("f{i}.png.png")))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(t, *before, "f{i} was redone");
    }
    assert!(
        !folder.join(".f5.png.png.partial").exists(),
        "the partial file was replaced"
    );
    let again = tree(&dir.join("out"));
    let heatmaps = |t: &BTreeMap<String, Vec<u8>>| -> BTreeMap<String, Vec<u8>> {
        t.iter()
            .filter(|(k, _)| k.ends_with(".png.png"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    assert_eq!(heatmaps(&again), heatmaps(&full));
    let m = manifest_lines_ok(&dir.join("out/manifest.jsonl"));
    assert_eq!(m, 8, "4 kept + 4 new, the cut line skipped");
    std::fs::remove_dir_all(&dir).ok();
}

/// The number of entries in a manifest (lines that parse).
fn manifest_lines_ok(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
        .count()
}

#[test]
fn three_shards_and_a_merge_make_the_files_of_one_full_run() {
    let dir = tempdir("shards");
    let names: Vec<String> = (0..9)
        .map(|i| format!("{}/f{i}.{}", ["a", "b"][i % 2], ["png", "jpg"][i % 3 / 2]))
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    faces(&dir.join("faces"), &refs);
    let o = explain(&dir, &["--out", "full", "--figure-rows", "0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut counts = Vec::new();
    for k in 1..=3 {
        let shard = format!("{k}/3");
        let o = explain(&dir, &["--out", "shared", "--shard", &shard]);
        assert!(o.status.success(), "{}", stderr(&o));
        counts.push(manifest(&dir.join(format!("shared/manifest.{k}-of-3.jsonl"))).len());
    }
    assert_eq!(counts.iter().sum::<usize>(), 9, "{counts:?}");
    assert!(counts.iter().all(|&c| c < 9), "{counts:?}");
    let o = lrp(&["merge", "shared"], &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    let (mut full, mut shared) = (tree(&dir.join("full")), tree(&dir.join("shared")));
    let sorted = |text: Vec<u8>| -> Vec<serde_json::Value> {
        let mut v: Vec<serde_json::Value> = String::from_utf8(text)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        v.sort_by_key(|e| e["relative"].as_str().unwrap().to_string());
        v
    };
    let (mf, ms) = (
        full.remove("manifest.jsonl").unwrap(),
        shared.remove("manifest.jsonl").unwrap(),
    );
    assert_eq!(sorted(mf), sorted(ms));
    assert_eq!(full, shared, "same files, same bytes");
    assert_eq!(full.len(), 9);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_shards_and_sizes_are_one_line_errors() {
    let dir = tempdir("badshard");
    faces(&dir.join("faces"), &["x.png"]);
    for extra in [
        &["--shard", "0/3"][..],
        &["--shard", "4/3"][..],
        &["--shard", "two"][..],
        &["--batch-size", "0"][..],
        &["--figure-rows", "100000"][..],
    ] {
        let o = explain(&dir, extra);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{extra:?}: {e}");
        assert!(
            e.starts_with("lrp: error: ") && e.lines().count() == 1,
            "{extra:?}: {e}"
        );
    }
    let o = lrp(&["merge", "faces"], &dir);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no manifest"), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).ok();
}
