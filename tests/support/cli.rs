//! Running the `lrp` binary from integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `lrp ARGS` in `dir` and returns its output (whatever its exit status).
pub fn lrp(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lrp"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the lrp binary runs")
}

/// A fresh, empty folder `lrp-TEST-NAME-PID` in the system's temporary folder.
pub fn tempdir(test: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lrp-{test}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
