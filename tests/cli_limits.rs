//! Limits before allocation through the `lrp` binary (issue 19, item 5): `--max-memory` and its
//! default from the process's limits refuse models whose activations are absurd at load, with
//! the estimate in one line; `compare`'s sizes are bounded before anything is explained.
//!
//! Runs that could allocate without bound on a build without these limits are started under
//! `ulimit -v` (address space) and `ulimit -t` (CPU seconds), so that such a build fails the
//! test quickly instead of exhausting the machine.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::{conv_weight, ints, node, onnx_model};

mod support;

fn tempdir(name: &str) -> PathBuf {
    support::cli::tempdir("cli-limits", name)
}

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Runs `lrp args` in `dir` under an address-space limit of `vm_kib` KiB and 120 CPU seconds.
fn lrp_limited(dir: &Path, vm_kib: u64, args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v {vm_kib} && ulimit -t 120 && exec \"$0\" \"$@\""
        ))
        .arg(env!("CARGO_BIN_EXE_lrp"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("sh runs")
}

/// The run failed with status 1 and its last stderr line is `lrp: error: …`, with nothing
/// that looks like a panic or an abort; returns that line.
fn error_line(o: &Output, args: &[&str]) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
    for bad in [
        "panicked",
        "memory allocation",
        "capacity overflow",
        "Caused by",
    ] {
        assert!(!err.contains(bad), "{args:?}: {err}");
    }
    let last = err.lines().last().unwrap_or_default().to_string();
    assert!(last.starts_with("lrp: error: "), "{args:?}: {err}");
    // Lines before the error may only be warnings (random weights, no mean image).
    assert!(
        err.lines()
            .rev()
            .skip(1)
            .all(|l| l.starts_with("lrp: warning: ")),
        "{args:?}: {err}"
    );
    last
}

/// The convolution of a 3×8×8 input padded by 5000 pixels (see tests/limits.rs).
fn pad5000_onnx() -> Vec<u8> {
    onnx_model(
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
    )
}

const INPUT_DIM_8192: &str = r#"name: "big"
input: "data"
input_dim: 1
input_dim: 3
input_dim: 8192
input_dim: 8192
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 8 kernel_size: 3 } }
layer { name: "pool" type: "Pooling" bottom: "conv1" top: "pool"
        pooling_param { pool: AVE global_pooling: true } }
"#;

/// 3 GiB of address space: ample for the shipped models, far below the absurd ones.
const VM_3G: u64 = 3 << 20;

fn absurd_models(dir: &Path) {
    std::fs::write(dir.join("pad5000.onnx"), pad5000_onnx()).unwrap();
    std::fs::write(dir.join("big.prototxt"), INPUT_DIM_8192).unwrap();
}

#[test]
fn max_memory_refuses_absurd_models_at_load_with_the_estimate() {
    let dir = tempdir("max-memory");
    absurd_models(&dir);
    for model in ["pad5000.onnx", "big.prototxt"] {
        for cmd in ["explain", "forward", "figure", "compare"] {
            let args = [cmd, "--model", model, "--max-memory", "2G"];
            let line = error_line(&lrp_limited(&dir, VM_3G, &args), &args);
            assert!(
                line.contains(&format!("{model}: explaining one image needs about "))
                    && line.contains("GiB (activations ")
                    && line
                        .contains("more than the memory limit of 2.0 GiB (--max-memory 2.0 GiB)")
                    && line.contains("raise --max-memory"),
                "{args:?}: {line}"
            );
        }
    }
    // Nothing was written.
    assert!(!dir.join("lrp-out").exists());
}

#[cfg(target_os = "linux")]
#[test]
fn the_default_limit_follows_ulimit_v() {
    // No --max-memory: 3/4 of the smallest limit, the 3 GiB address space unless the machine
    // has less memory available or a smaller cgroup limit.
    let dir = tempdir("ulimit");
    absurd_models(&dir);
    let here = lrp::memory::Limits::detect();
    let smaller = [here.available, here.cgroup]
        .into_iter()
        .flatten()
        .any(|v| v < 3 << 30);
    for model in ["pad5000.onnx", "big.prototxt"] {
        let args = ["explain", "--model", model];
        let line = error_line(&lrp_limited(&dir, VM_3G, &args), &args);
        assert!(
            line.contains("needs about") && line.contains("3/4 of the "),
            "{line}"
        );
        if !smaller {
            assert!(
                line.contains("more than the memory limit of 2.2 GiB (3/4 of the address-space limit (ulimit -v) of 3.0 GiB)"),
                "{line}"
            );
        }
    }
    // The shipped models fit under the same limit and explain as before.
    let o = lrp_limited(&dir, VM_3G, &["explain", "--out", "ok"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(dir.join("ok/figure.png").exists());
}

#[test]
fn max_memory_takes_sizes_and_can_be_turned_off() {
    let dir = tempdir("sizes");
    // The shipped models need a few MB per image: 64M is plenty, 1M is not.
    let o = lrp_limited(&dir, VM_3G, &["forward", "--max-memory", "64M"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let args = ["forward", "--max-memory", "1M"];
    let line = error_line(&lrp_limited(&dir, VM_3G, &args), &args);
    assert!(
        line.contains("gender-v1: explaining one image needs about ") && line.contains("MiB"),
        "{line}"
    );
    for off in ["0", "none"] {
        let o = lrp_limited(&dir, VM_3G, &["forward", "--max-memory", off]);
        assert!(
            o.status.success(),
            "{off}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let o = lrp_limited(&dir, VM_3G, &["forward", "--max-memory", "lots"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("memory size `lots`"));
}

#[test]
fn compare_sizes_are_bounded_before_explaining() {
    let dir = tempdir("compare");
    let gender = format!("{ROOT}/assets/gender-v1.onnx");
    let face = format!("{ROOT}/assets/astronaut.png");
    let cases = [
        ("--grid", "100000"),
        ("--grid", "4294967296"),
        ("--flip-steps", "9223372036854775807"),
        ("--flip-patch", "100000"),
        ("--random-runs", "1000000000"),
        ("--clusters", "100000"),
        ("--neighbors", "100000"),
    ];
    for (option, value) in cases {
        // A small study (one model, preset and image) with the bad setting.
        let mut args = vec![
            "compare", "--model", &gender, "--image", &face, "--preset", "epsilon", "--out", "c",
        ];
        for (o, v) in [("--flip-steps", "2"), ("--random-runs", "1")] {
            if o != option {
                args.extend([o, v]);
            }
        }
        args.extend([option, value]);
        let line = error_line(&lrp_limited(&dir, VM_3G, &args), &args);
        assert!(
            line.contains(&format!("{option} {value}: at most ")),
            "{args:?}: {line}"
        );
    }
}
