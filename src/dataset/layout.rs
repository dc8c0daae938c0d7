//! Output names that cannot collide, and atomic writes.

use crate::error::{Error, Result};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the outputs of a dataset run go: `<root>/<model>/<preset>/<relative><suffix>`.
///
/// The input's relative path is kept whole, extension included (`sub/face.jpg` →
/// `sub/face.jpg.png`), so inputs that differ only in their folder or their extension keep
/// distinct outputs; each model and preset has its own folder. Suffixes are chosen by the
/// caller (`.png`, `.class3.png`, `.overlay.png`, `.npy`).
///
/// ```
/// use lrp::dataset::OutputLayout;
/// let l = OutputLayout::new("out");
/// assert_eq!(l.relative_output("age-v1", "paper", "a/face.png", ".class3.png"), "age-v1/paper/a/face.png.class3.png");
/// assert_eq!(l.path("age-v1/paper/a/face.png.png"), std::path::Path::new("out/age-v1/paper/a/face.png.png"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLayout {
    root: PathBuf,
}

impl OutputLayout {
    /// Outputs under `root`.
    pub fn new(root: impl Into<PathBuf>) -> OutputLayout {
        OutputLayout { root: root.into() }
    }

    /// The output folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The name, relative to the root and `/`-separated, of the output of input `relative`
    /// under `model` and `preset` with `suffix`. Manifests record these names.
    pub fn relative_output(
        &self,
        model: &str,
        preset: &str,
        relative: &str,
        suffix: &str,
    ) -> String {
        format!("{model}/{preset}/{relative}{suffix}")
    }

    /// The path of an output named as [`relative_output`](Self::relative_output) gives it.
    pub fn path(&self, relative_output: &str) -> PathBuf {
        let mut p = self.root.clone();
        p.extend(relative_output.split('/'));
        p
    }

    /// Whether `relative_output` (read back from a manifest) is a plain relative name that
    /// stays inside the root: no empty, `.` or `..` parts, no absolute path. Files named
    /// otherwise are never touched.
    pub fn is_safe(relative_output: &str) -> bool {
        !relative_output.is_empty()
            && !relative_output.starts_with('/')
            && !relative_output.contains('\\')
            && relative_output
                .split('/')
                .all(|p| !p.is_empty() && p != "." && p != "..")
    }
}

/// Checks that `names` (of models, or of presets) can each name an output folder of their
/// own: none empty, none a path (`/`, `\`, `.`, `..`), no two alike.
///
/// Errors: [`Error::Invalid`] naming the `kind` and the name, e.g. for two model files with
/// one stem or a preset given twice.
///
/// ```
/// use lrp::dataset::distinct_names;
/// assert!(distinct_names("preset", &["paper".into(), "epsilon".into()]).is_ok());
/// let e = distinct_names("preset", &["paper".into(), "paper".into()]).unwrap_err();
/// assert_eq!(e.to_string(), "preset `paper` is given twice; each needs an output folder of its own");
/// ```
pub fn distinct_names(kind: &str, names: &[String]) -> Result<()> {
    let mut seen = HashSet::new();
    for n in names {
        if n.is_empty() || n == "." || n == ".." || n.contains(['/', '\\']) {
            return Err(Error::Invalid(format!(
                "{kind} `{}` cannot name an output folder",
                crate::error::one_line(n)
            )));
        }
        if !seen.insert(n.as_str()) {
            return Err(Error::Invalid(format!(
                "{kind} `{n}` is given twice; each needs an output folder of its own"
            )));
        }
    }
    Ok(())
}

/// The temporary name [`write_atomic`] writes `path` under: `.NAME.partial` in the same
/// folder (hidden, so folder scans skip it; a rerun overwrites it).
pub fn partial_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.partial"))
}

/// Writes `bytes` to `path` so that `path` is either absent, its old content or the whole new
/// content, never a part: the bytes go to [`partial_path`] first, which is renamed to `path`
/// when complete. Creates missing parent folders.
///
/// Errors: [`Error::Write`] naming the file.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("lrp-atomic-doc-{}", std::process::id()));
/// let path = dir.join("a/b.txt");
/// lrp::dataset::write_atomic(&path, b"hello").unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"hello");
/// assert!(!lrp::dataset::partial_path(&path).exists());
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let err = |source| Error::Write {
        file: path.display().to_string(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    let tmp = partial_path(path);
    let written = std::fs::File::create(&tmp).and_then(|mut f| f.write_all(bytes));
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_names_are_recognised() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a\\b",
        ] {
            assert!(!OutputLayout::is_safe(bad), "{bad}");
        }
        assert!(OutputLayout::is_safe("gender-v1/paper/a/b.png.png"));
    }

    #[test]
    fn names_that_are_paths_are_refused() {
        for bad in ["", "..", "a/b"] {
            assert!(
                distinct_names("model", &[bad.to_string()]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_failed_write_leaves_nothing() {
        let dir = std::env::temp_dir().join(format!("lrp-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A folder where the file should go: the rename fails.
        let target = dir.join("taken");
        std::fs::create_dir_all(target.join("inner")).unwrap();
        let e = write_atomic(&target, b"x").unwrap_err();
        assert!(e.to_string().contains("taken: cannot write"), "{e}");
        assert!(!partial_path(&target).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
