//! Locating the paper's Caffe files in ../shared/caffe (test input only, never copied into
//! the repository); shared by the Caffe test files.

use std::path::{Path, PathBuf};

/// `../shared/caffe/<rel>`.
pub fn shared(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/caffe")
        .join(rel)
}

/// The paper's 38 `deploy.prototxt` files, sorted.
pub fn paper_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(shared("paper"))
        .expect("../shared/caffe/paper")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "prototxt"))
        .collect();
    files.sort();
    files
}

/// The file name of `p`.
pub fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}
