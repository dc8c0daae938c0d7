//! The `lrp` binary on bad input files: the fuzzer's regression inputs (tests/data/fuzz) and
//! crafted ones (a truncated model, random bytes, empty files, an unknown layer type, model
//! files with a NaN weight or a bad attribute, a PNG declaring a huge image, a text file as
//! an image, missing paths), through every subcommand that reads them. Each run must fail with
//! exit status 1 and exactly one line on stderr, `lrp: error: …`, that names the file: no
//! panic, no backtrace, no "Caused by:" chain.

use std::path::{Path, PathBuf};
use std::process::Command;
use support::{conv_weight, float, int, ints, mean_binaryproto, node, onnx_model, png_header};

mod support;

fn tempdir(name: &str) -> PathBuf {
    support::cli::tempdir("cli-bad", name)
}

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Runs `lrp args` in `dir` and checks the failure: status 1, one stderr line starting with
/// `lrp: error: ` that contains `file`, nothing that looks like a panic. Returns the line.
fn fails_naming(dir: &Path, args: &[&str], file: &str) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_lrp"))
        .args(args)
        .current_dir(dir)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("the lrp binary runs");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
    assert!(
        err.ends_with('\n') && err.matches('\n').count() == 1,
        "{args:?}: stderr is not one line:\n{err}"
    );
    assert!(err.starts_with("lrp: error: "), "{args:?}: {err}");
    for bad in ["panicked", "backtrace", "RUST_BACKTRACE", "Caused by"] {
        assert!(!err.contains(bad), "{args:?}: {err}");
    }
    assert!(
        err.contains(file),
        "{args:?}: `{err}` does not name `{file}`"
    );
    err
}

/// Every way the CLI reads a model file.
fn model_commands(file: &str) -> Vec<Vec<&str>> {
    vec![
        vec!["explain", "--model", file],
        vec!["forward", "--model", file],
        vec!["figure", "--model", file],
        vec!["info", file],
        vec!["compare", "--model", file],
    ]
}

/// Every way the CLI reads an image file.
fn image_commands(file: &str) -> Vec<Vec<&str>> {
    vec![
        vec!["explain", "--image", file],
        vec!["forward", "--image", file],
        vec!["figure", "--image", file],
        vec!["compare", "--image", file],
    ]
}

/// Every file of tests/data/fuzz, as it is and renamed to each extension the CLI dispatches
/// on, as a model and as an image.
#[test]
fn fuzz_regression_inputs_fail_in_one_line_naming_the_file() {
    let dir = tempdir("fuzz");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(format!("{ROOT}/tests/data/fuzz")).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
        files.push(path.display().to_string());
        for ext in ["onnx", "prototxt", "png"] {
            let copy = format!("{stem}.as.{ext}");
            std::fs::copy(&path, dir.join(&copy)).unwrap();
            files.push(copy);
        }
    }
    assert!(files.len() >= 8, "{files:?}");
    for f in &files {
        for args in model_commands(f).into_iter().chain(image_commands(f)) {
            fails_naming(&dir, &args, f);
        }
    }
}

/// The `pipeline` fuzz input without its 10-byte header is a valid ONNX model, but its input
/// is [1, 7, 1], not an image.
#[test]
fn fuzz_pipeline_model_without_header_is_refused_as_a_non_image_model() {
    let dir = tempdir("pipeline");
    let bytes = std::fs::read(format!(
        "{ROOT}/tests/data/fuzz/pipeline-conv-im2col-out-of-bounds.bin"
    ))
    .unwrap();
    std::fs::write(dir.join("pipeline.onnx"), &bytes[10..]).unwrap();
    for args in model_commands("pipeline.onnx") {
        let line = fails_naming(&dir, &args, "pipeline.onnx");
        assert!(line.contains("[3, S, S]"), "{line}");
    }
}

/// Deterministic pseudo-random bytes (no file in the repository has them).
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 56) as u8
        })
        .collect()
}

#[test]
fn crafted_bad_models_fail_in_one_line_naming_the_file() {
    let dir = tempdir("models");
    let gender = std::fs::read(format!("{ROOT}/assets/gender-v1.onnx")).unwrap();
    let put = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();
    put("truncated.onnx", &gender[..1000]);
    put("random.onnx", &noise(4096, 1));
    put("random.prototxt", &noise(4096, 2));
    put("empty.onnx", b"");
    put("empty.prototxt", b"");
    put(
        "unknown.prototxt",
        br#"name: "u" input: "data" input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }
        layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
                convolution_param { num_output: 4 kernel_size: 3 } }
        layer { name: "warp1" type: "SpatialWarp" bottom: "conv1" top: "warp1" }"#,
    );
    put(
        "negative.prototxt",
        br#"name: "n" input: "data" input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }
        layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
                convolution_param { num_output: -4 kernel_size: 3 } }"#,
    );
    // Errors about a node or attribute, which the library reports without the file: the CLI
    // must add it.
    let mut nan = conv_weight(4, 3);
    nan.float_data[5] = f32::NAN;
    put(
        "nan.onnx",
        &onnx_model(vec![nan], vec![node("Conv", "conv1", &["x", "w"], vec![])]),
    );
    put(
        "strides.onnx",
        &onnx_model(
            vec![conv_weight(4, 3)],
            vec![node(
                "Conv",
                "conv1",
                &["x", "w"],
                vec![ints("strides", &[0, 0])],
            )],
        ),
    );
    put(
        "channels.onnx",
        &onnx_model(
            vec![conv_weight(4, 2)],
            vec![node("Conv", "conv1", &["x", "w"], vec![])],
        ),
    );
    put(
        "lrn.onnx",
        &onnx_model(
            vec![],
            vec![node(
                "LRN",
                "norm1",
                &["x"],
                vec![int("size", 3), float("alpha", -1.0)],
            )],
        ),
    );
    put(
        "dangling.onnx",
        &onnx_model(vec![], vec![node("Relu", "relu1", &["ghost"], vec![])]),
    );
    let files = [
        "truncated.onnx",
        "random.onnx",
        "random.prototxt",
        "empty.onnx",
        "empty.prototxt",
        "unknown.prototxt",
        "negative.prototxt",
        "nan.onnx",
        "strides.onnx",
        "channels.onnx",
        "lrn.onnx",
        "dangling.onnx",
        "missing.onnx",
        "missing.prototxt",
        "model.h5",
    ];
    for f in files {
        for args in model_commands(f) {
            fails_naming(&dir, &args, f);
        }
    }
    // What the line says beyond the file, for a few of them.
    let line = fails_naming(&dir, &["info", "unknown.prototxt"], "unknown.prototxt");
    assert!(
        line.contains("`warp1`") && line.contains("SpatialWarp"),
        "{line}"
    );
    let line = fails_naming(&dir, &["info", "nan.onnx"], "nan.onnx");
    assert!(line.contains("`conv1`") && line.contains("NaN"), "{line}");
    let line = fails_naming(&dir, &["info", "strides.onnx"], "strides.onnx");
    assert!(line.contains("attribute `strides`"), "{line}");
}

#[test]
fn bad_caffe_companions_fail_in_one_line_naming_the_file() {
    let dir = tempdir("caffe");
    std::fs::write(
        dir.join("deploy.prototxt"),
        r#"name: "m" input: "data" input_shape { dim: 1 dim: 3 dim: 16 dim: 16 }
        layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc"
                inner_product_param { num_output: 2 } }"#,
    )
    .unwrap();
    std::fs::write(dir.join("small.binaryproto"), mean_binaryproto(8)).unwrap();
    std::fs::write(dir.join("random.binaryproto"), noise(512, 3)).unwrap();
    std::fs::write(dir.join("random.caffemodel"), noise(512, 4)).unwrap();
    std::fs::write(dir.join("labels.txt"), "one\ntwo\nthree\n").unwrap();
    let base = ["--model", "deploy.prototxt"];
    for (extra, file) in [
        (&["--mean", "small.binaryproto"][..], "small.binaryproto"),
        (&["--mean", "random.binaryproto"][..], "random.binaryproto"),
        (
            &["--mean", "missing.binaryproto"][..],
            "missing.binaryproto",
        ),
        (&["--weights", "random.caffemodel"][..], "random.caffemodel"),
        (
            &["--weights", "missing.caffemodel"][..],
            "missing.caffemodel",
        ),
        (&["--labels", "labels.txt"][..], "labels.txt"),
        (&["--labels", "missing.txt"][..], "missing.txt"),
    ] {
        for cmd in ["explain", "forward"] {
            let args: Vec<&str> = [cmd].iter().chain(&base).chain(extra).copied().collect();
            fails_naming(&dir, &args, file);
        }
    }
}

#[test]
fn crafted_bad_images_fail_in_one_line_naming_the_file() {
    let dir = tempdir("images");
    let put = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();
    put("huge.png", &png_header(100_000, 100_000, &[]));
    put(
        "wide.png",
        &png_header(1 << 20, 1, &[0x78, 0x01, 0x03, 0x00]),
    );
    put("notes.png", b"just some notes\n");
    put("random.jpg", &noise(2048, 5));
    put("empty.png", b"");
    let readme = std::fs::read(format!("{ROOT}/README.md")).unwrap();
    put("readme.jpg", &readme);
    let gender = std::fs::read(format!("{ROOT}/assets/gender-v1.onnx")).unwrap();
    put("model.png", &gender);
    // A real PNG, cut short.
    let astronaut = std::fs::read(format!("{ROOT}/assets/astronaut.png")).unwrap();
    put("cut.png", &astronaut[..astronaut.len() / 3]);
    // A JPEG cut inside its header: the decoder's message ends in a blank line (found by
    // running the CLI on mutated copies of the shipped portraits).
    let hopper = std::fs::read(format!("{ROOT}/assets/grace_hopper.jpg")).unwrap();
    put("cut.jpg", &hopper[..100]);
    for f in [
        "huge.png",
        "wide.png",
        "notes.png",
        "random.jpg",
        "empty.png",
        "readme.jpg",
        "model.png",
        "cut.png",
        "cut.jpg",
        "missing.png",
    ] {
        for args in image_commands(f) {
            fails_naming(&dir, &args, f);
        }
    }
    let line = fails_naming(&dir, &["explain", "--image", "huge.png"], "huge.png");
    assert!(line.contains("100000×100000"), "{line}");
    // A face box outside the image names the image too.
    let astronaut = format!("{ROOT}/assets/astronaut.png");
    fails_naming(
        &dir,
        &[
            "explain",
            "--image",
            &astronaut,
            "--face-box",
            "600,600,700,700",
        ],
        &astronaut,
    );
    // A broken preprocessed input.
    put("x.npy", b"\x93NUMPY broken");
    for cmd in ["explain", "forward"] {
        fails_naming(&dir, &[cmd, "--input-npy", "x.npy"], "x.npy");
        fails_naming(&dir, &[cmd, "--input-npy", "missing.npy"], "missing.npy");
    }
}
