//! The `lrp` binary on issue 19's hostile cases: a closed stdout pipe, an absurd
//! `RAYON_NUM_THREADS`, usage errors, an `.npy` declaring a petabyte, endless files as
//! images, mean images and models, control characters and megabyte names from a model, and
//! NaN or infinite logits. Each run ends with exit status 0 or 1 (never a panic or an abort),
//! and anything on stderr is one sanitised line.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use support::{floats, int, node, onnx_model};

mod support;

fn tempdir(name: &str) -> PathBuf {
    support::cli::tempdir("cli-robust", name)
}

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn lrp(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lrp"))
        .args(args)
        .current_dir(dir)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("the lrp binary runs")
}

/// The run failed with status 1 and one clean stderr line, which is returned.
fn one_error_line(o: &Output, what: &str) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{what}: {err}");
    assert!(
        err.ends_with('\n') && err.matches('\n').count() == 1,
        "{what}: stderr is not one line:\n{err}"
    );
    assert!(err.starts_with("lrp: error: "), "{what}: {err}");
    for bad in ["panicked", "backtrace", "Caused by", "memory allocation"] {
        assert!(!err.contains(bad), "{what}: {err}");
    }
    err
}

fn asset(name: &str) -> String {
    format!("{ROOT}/assets/{name}")
}

/// `lrp forward … | head -1` with the reader gone before the first line: println! panicked
/// on the broken pipe (exit 101 and a panic message). Now a quiet exit with status 0.
#[test]
fn a_closed_stdout_pipe_ends_quietly() {
    let dir = tempdir("pipe");
    for args in [
        vec!["forward"],
        vec!["info", "--colormaps"],
        vec!["info", "--json"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lrp"))
            .args(&args)
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader goes away at once
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{args:?}: {err}");
        assert!(err.is_empty(), "{args:?}: {err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// RAYON_NUM_THREADS=100000 made rayon start threads until the system refused, then panic
/// ("The global thread pool has not been initialized"). Now capped, with a warning line.
#[test]
fn a_huge_thread_count_is_capped() {
    let dir = tempdir("rayon");
    let o = Command::new(env!("CARGO_BIN_EXE_lrp"))
        .args(["forward"])
        .current_dir(&dir)
        .env("RAYON_NUM_THREADS", "100000")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.starts_with("lrp: warning: RAYON_NUM_THREADS=100000 is more than ")
            && err.contains(" per core, ")
            && err.contains("; using ")
            && err.matches('\n').count() == 1,
        "{err}"
    );
    // 4 shipped models × 2 portraits.
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 8);
    std::fs::remove_dir_all(&dir).ok();
}

/// The buffer pool's bound comes from `LRP_POOL` (lrp::memory::Pool): a bad value is one error
/// line naming the variable, and turning the pool off changes no number the command prints.
#[test]
fn the_buffer_pool_is_set_from_the_environment() {
    let dir = tempdir("pool");
    let run = |pool: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_lrp"));
        c.args(["forward", "--model", "age-v1"]).current_dir(&dir);
        if let Some(p) = pool {
            c.env("LRP_POOL", p);
        }
        c.output().unwrap()
    };
    let err = one_error_line(&run(Some("lots")), "LRP_POOL=lots");
    assert!(
        err.contains("LRP_POOL: ") && err.contains("`lots`"),
        "{err}"
    );
    let (on, off, small) = (run(None), run(Some("0")), run(Some("1M")));
    for o in [&on, &off, &small] {
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    assert!(!on.stdout.is_empty());
    assert_eq!(on.stdout, off.stdout);
    assert_eq!(on.stdout, small.stdout);
    std::fs::remove_dir_all(&dir).ok();
}

/// clap's usage errors were several lines and exit status 2; the README promises one line
/// and status 1 for every bad input. `--help` and `--version` still print with status 0.
#[test]
fn usage_errors_are_one_line_and_status_1() {
    let dir = tempdir("usage");
    for (args, want) in [
        (
            vec!["explain", "--bogus"],
            "lrp: error: unexpected argument '--bogus' found (see `lrp explain --help`)",
        ),
        (
            vec!["frobnicate"],
            "lrp: error: unrecognized subcommand 'frobnicate' (see `lrp --help`)",
        ),
        (
            vec!["forward", "--model"],
            "lrp: error: a value is required for '--model <FILE|NAME>' but none was supplied (see `lrp forward --help`)",
        ),
    ] {
        let o = lrp(&args, &dir);
        let err = one_error_line(&o, &format!("{args:?}"));
        assert_eq!(err.trim_end(), want);
    }
    let o = lrp(&[], &dir);
    let err = one_error_line(&o, "no subcommand");
    assert!(err.contains("lrp --help"), "{err}");
    for args in [vec!["--help"], vec!["explain", "--help"], vec!["--version"]] {
        let o = lrp(&args, &dir);
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        assert!(o.stderr.is_empty(), "{args:?}");
        assert!(!o.stdout.is_empty(), "{args:?}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A 145-byte `.npy` declaring 2⁵⁰ float32 values aborted the process ("memory allocation
/// of 4503599627370496 bytes failed").
#[test]
fn a_petabyte_npy_is_refused_in_one_line() {
    let dir = tempdir("npy");
    let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1048576, 1073741824), }\n";
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((dict.len() as u16).to_le_bytes());
    bytes.extend(dict.as_bytes());
    bytes.resize(145, 0);
    std::fs::write(dir.join("huge.npy"), &bytes).unwrap();
    for sub in ["forward", "explain"] {
        let o = lrp(&[sub, "--input-npy", "huge.npy"], &dir);
        let err = one_error_line(&o, sub);
        assert!(err.contains("huge.npy"), "{err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `/dev/zero` as an image, a mean image, a model, weights or labels was read until the
/// memory ran out. Now each read stops at its bound with one line naming the file.
#[cfg(unix)]
#[test]
fn endless_files_are_refused_in_one_line() {
    let dir = tempdir("zero");
    std::fs::write(
        dir.join("deploy.prototxt"),
        r#"name: "m" input: "data" input_shape { dim: 1 dim: 3 dim: 16 dim: 16 }
        layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc"
                inner_product_param { num_output: 2 } }"#,
    )
    .unwrap();
    let gender = asset("gender-v1.onnx");
    let cases: Vec<Vec<&str>> = vec![
        vec!["forward", "--image", "/dev/zero"],
        vec!["forward", "--model", "/dev/zero"],
        vec!["forward", "--model", &gender, "--labels", "/dev/zero"],
        vec![
            "forward",
            "--model",
            "deploy.prototxt",
            "--mean",
            "/dev/zero",
        ],
        vec![
            "forward",
            "--model",
            "deploy.prototxt",
            "--weights",
            "/dev/zero",
        ],
    ];
    for args in cases {
        let o = lrp(&args, &dir);
        let err = one_error_line(&o, &format!("{args:?}"));
        assert!(err.contains("/dev/zero"), "{err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A model whose node names hold terminal escapes (a title change, a bell) and a
/// megabyte-long name: both reached the terminal raw, on stderr (errors) and stdout
/// (`lrp info`). Now escaped, and the error line is cut.
#[test]
fn names_from_a_model_reach_the_terminal_escaped_and_bounded() {
    let dir = tempdir("names");
    let evil = "pool\x1b]0;owned\x07\x1b[2J";
    let good = onnx_model(
        vec![],
        vec![
            node("GlobalAveragePool", evil, &["x"], vec![]),
            node("Flatten", "flat", &[evil], vec![int("axis", 1)]),
        ],
    );
    std::fs::write(dir.join("evil.onnx"), good).unwrap();
    let o = lrp(&["info", "evil.onnx"], &dir);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!out.contains('\x1b') && !out.contains('\x07'), "{out}");
    assert!(out.contains("pool\\x1b]0;owned\\x07\\x1b[2J"), "{out}");

    // A bad attribute on a node named with escapes and a megabyte of text.
    let long = format!("conv\x1b[31m{}", "n".repeat(1 << 20));
    let bad = onnx_model(
        vec![floats("w", &[2, 3, 3, 3], vec![0.1; 54])],
        vec![node(
            "Conv",
            &long,
            &["x", "w"],
            vec![support::ints("strides", &[0, 0])],
        )],
    );
    std::fs::write(dir.join("bad.onnx"), bad).unwrap();
    let o = lrp(&["forward", "--model", "bad.onnx"], &dir);
    let err = one_error_line(&o, "long name");
    assert!(!err.contains('\x1b'), "{err}");
    assert!(err.contains("conv\\x1b[31m"), "{}", &err[..200]);
    assert!(err.len() < 8000, "{} bytes", err.len());
    assert!(
        err.trim_end().ends_with(" more characters)"),
        "{}",
        &err[err.len() - 200..]
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Inputs that drive the shipped gender model's logits to infinity or NaN: the logits were
/// printed (`NaN`) with status 0 and explained. Now one error line naming the model.
#[test]
fn non_finite_logits_are_an_error() {
    let dir = tempdir("nan");
    let x = ndarray::ArrayD::<f32>::from_elem(ndarray::IxDyn(&[1, 3, 32, 32]), 3e38);
    ndarray_npy::write_npy(dir.join("big.npy"), &x).unwrap();
    let model = asset("gender-v1.onnx");
    for sub in ["forward", "explain"] {
        let o = lrp(&[sub, "--model", &model, "--input-npy", "big.npy"], &dir);
        let err = one_error_line(&o, sub);
        assert!(err.contains("gender-v1"), "{err}");
        assert!(err.contains("no finite logits"), "{err}");
        assert!(!String::from_utf8_lossy(&o.stdout).contains("NaN"));
    }
    std::fs::remove_dir_all(&dir).ok();
}
