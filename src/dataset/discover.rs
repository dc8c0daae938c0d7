//! Input discovery: files and folders (recursive) → a sorted list of image files, each with
//! the relative name its outputs mirror.

use crate::error::{Error, Result};
use crate::preprocess::is_image_path;
use std::collections::{BTreeMap, HashSet};
use std::path::{Component, Path, PathBuf};

/// One input image found by [`discover`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    /// The file as the caller spelled it: a given file as given, a file found in a given
    /// folder as that folder joined with the path below it (for messages and manifests).
    pub path: PathBuf,
    /// The same file as an absolute path, the given folder's (or file's folder's) symbolic
    /// links resolved, the path below it as found (for comparing locations).
    pub resolved: PathBuf,
    /// Its path relative to the deepest folder that holds every input, `/`-separated
    /// (`sub/face.jpg`). Outputs mirror it, so two inputs never share one: `a/face.png` and
    /// `b/face.png`, or `face.png` beside `face.jpg`, keep distinct names.
    pub relative: String,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        file: path.display().to_string(),
        source,
    }
}

/// `path` made absolute with its folder's symbolic links and `.`/`..` resolved, its last
/// component kept as given.
fn resolve_file(path: &Path) -> Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| Error::Io {
        file: path.display().to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"),
    })?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Ok(std::fs::canonicalize(parent).map_err(io(path))?.join(name))
}

/// Whether a folder entry is hidden (`.git`, `.DS_Store`, `._face.jpg`, lrp's own
/// `.name.partial` files): those are never scanned.
fn hidden(name: &std::ffi::OsStr) -> bool {
    name.as_encoded_bytes().first() == Some(&b'.')
}

/// The image files of `paths`, sorted by their relative name, each once.
///
/// - A file is taken as given, whatever its extension (decoding decides whether it is an
///   image).
/// - A folder is searched recursively for `.png`, `.jpg` and `.jpeg` files (any case),
///   following symbolic links; a folder reached twice (a link loop, or two links to one
///   folder) is searched once; hidden entries (names starting with `.`) are skipped, and so
///   are broken links.
/// - Folders in `exclude` (typically the output folder, when it lies inside an input folder)
///   are not searched; they need not exist.
///
/// [`InputFile::relative`] is the path relative to the deepest folder that contains every
/// input (the folder itself when one folder is given, the file's folder for one file), so the
/// names do not depend on the order of `paths` or on the current folder.
///
/// Errors: [`Error::Io`] naming a path that does not exist or a folder that cannot be listed.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("lrp-discover-doc-{}", std::process::id()));
/// std::fs::create_dir_all(dir.join("b")).unwrap();
/// for f in ["a.png", "b/a.png", "b/a.jpg", "notes.txt"] {
///     std::fs::write(dir.join(f), b"").unwrap();
/// }
/// let files = lrp::dataset::discover(&[dir.clone()], &[]).unwrap();
/// let names: Vec<&str> = files.iter().map(|f| f.relative.as_str()).collect();
/// assert_eq!(names, ["a.png", "b/a.jpg", "b/a.png"]);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn discover(paths: &[PathBuf], exclude: &[PathBuf]) -> Result<Vec<InputFile>> {
    let excluded: HashSet<PathBuf> = exclude
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    // (as spelled, absolute)
    let mut found: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut bases: Vec<PathBuf> = Vec::new();
    let mut visited = HashSet::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(io(path))?;
        if meta.is_dir() {
            let root = std::fs::canonicalize(path).map_err(io(path))?;
            bases.push(root.clone());
            walk(path, &root, &root, &excluded, &mut visited, &mut found)?;
        } else {
            let file = resolve_file(path)?;
            bases.push(file.parent().map(Path::to_path_buf).unwrap_or_default());
            found.push((path.clone(), file));
        }
    }
    let common = common_folder(&bases);
    let mut by_name = BTreeMap::new();
    for (path, resolved) in found {
        let rel = resolved.strip_prefix(&common).unwrap_or(&resolved);
        let relative = rel
            .components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("/");
        by_name.entry(relative).or_insert((path, resolved));
    }
    Ok(by_name
        .into_iter()
        .map(|(relative, (path, resolved))| InputFile {
            path,
            resolved,
            relative,
        })
        .collect())
}

/// Adds the images under `shown` (as spelled; `dir` is its absolute path as walked, `real` the
/// same with every link resolved) to `found`.
fn walk(
    shown: &Path,
    dir: &Path,
    real: &Path,
    excluded: &HashSet<PathBuf>,
    visited: &mut HashSet<PathBuf>,
    found: &mut Vec<(PathBuf, PathBuf)>,
) -> Result<()> {
    if excluded.contains(real) || !visited.insert(real.to_path_buf()) {
        return Ok(());
    }
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name();
        if !hidden(&name) {
            entries.push(name);
        }
    }
    entries.sort();
    for name in entries {
        let path = dir.join(&name);
        // `metadata` follows symbolic links; a broken link is skipped.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            let Ok(target) = std::fs::canonicalize(&path) else {
                continue;
            };
            walk(&shown.join(&name), &path, &target, excluded, visited, found)?;
        } else if meta.is_file() && is_image_path(&path) {
            found.push((shown.join(&name), path));
        }
    }
    Ok(())
}

/// The deepest folder that holds all of `folders` (absolute paths).
fn common_folder(folders: &[PathBuf]) -> PathBuf {
    let Some(first) = folders.first() else {
        return PathBuf::new();
    };
    let mut common: Vec<Component> = first.components().collect();
    for f in &folders[1..] {
        let n = common
            .iter()
            .zip(f.components())
            .take_while(|(a, b)| **a == *b)
            .count();
        common.truncate(n);
    }
    common.iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(name: &str, files: &[&str]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lrp-discover-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for f in files {
            let p = dir.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        }
        dir
    }

    fn names(files: &[InputFile]) -> Vec<&str> {
        files.iter().map(|f| f.relative.as_str()).collect()
    }

    #[test]
    fn two_folders_keep_their_names_apart() {
        let dir = tree(
            "two",
            &["a/face.png", "b/face.png", "b/c/x.JPG", "b/.hidden.png"],
        );
        let files = discover(&[dir.join("b"), dir.join("a")], &[]).unwrap();
        assert_eq!(names(&files), ["a/face.png", "b/c/x.JPG", "b/face.png"]);
        let one = discover(&[dir.join("b")], &[]).unwrap();
        assert_eq!(names(&one), ["c/x.JPG", "face.png"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn excluded_folders_and_duplicates_are_left_out() {
        let dir = tree("excl", &["x.png", "out/gender/x.png.png"]);
        let files = discover(&[dir.clone(), dir.join("x.png")], &[dir.join("out")]).unwrap();
        assert_eq!(names(&files), ["x.png"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loops_end() {
        let dir = tree("loop", &["sub/x.png"]);
        std::os::unix::fs::symlink(&dir, dir.join("sub/back")).unwrap();
        let files = discover(std::slice::from_ref(&dir), &[]).unwrap();
        assert_eq!(names(&files), ["sub/x.png"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_path_is_an_io_error_naming_it() {
        let e = discover(&[PathBuf::from("no/such/dir")], &[]).unwrap_err();
        assert!(e.to_string().starts_with("no/such/dir: cannot read"), "{e}");
    }
}
