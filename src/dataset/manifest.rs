//! `manifest.jsonl`: one JSON line per image × model × preset, appended and flushed as each
//! result completes, so that a killed run's manifest lists exactly what was finished.
//!
//! A line (shown here on several lines):
//!
//! ```text
//! {"input":"/data/faces/sub/face.jpg","relative":"sub/face.jpg","model":"gender-v1",
//!  "preset":"paper","target":"predicted","settings":"colormap=black-firered …","status":"ok",
//!  "prediction":{"class":1,"label":"female","probability":0.93},"probabilities":[0.07,0.93],
//!  "maps":[{"class":1,"label":"female","relevance_sum":0.41,"positive_share":0.72}],
//!  "files":["gender-v1/paper/sub/face.jpg.png"]}
//! ```
//!
//! A vision transformer's maps also carry `tokens` ([`TokenEntry`]): `{"grid":[14,14],
//! "patches":…,"class_token":…,"position":…,"stem":…,"logit":…}`.
//!
//! A failed entry has `"status":"failed"`, the one-line `error` and no files. `files` are
//! relative to the manifest's folder.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Whether an entry's outputs were all written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every output file was written (and renamed to its final name).
    Ok,
    /// Nothing was written for it; `error` says why.
    Failed,
}

/// The predicted class of an entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Class index (largest logit).
    pub class: usize,
    /// Its label.
    pub label: String,
    /// Its softmax probability (1 for a regression output: the softmax of one value).
    pub probability: f32,
    /// The predicted value of a regression output (face-api's age in years); `label` then
    /// says it in words (`age 47.3 years`) and `class` is 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f32>,
}

/// One heatmap of an entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapEntry {
    /// The explained class.
    pub class: Option<usize>,
    /// Its label.
    pub label: Option<String>,
    /// Σ of the input relevance.
    pub relevance_sum: f32,
    /// Share of the heatmap's absolute relevance that is positive.
    pub positive_share: f32,
    /// For a vision transformer: where the relevance of its tokens went (absent for CNNs
    /// and in manifests written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<TokenEntry>,
}

/// The token relevance of one heatmap of a vision transformer (`lrp::tokens`): the relevance
/// entering its first block, `stem`, is exactly `patches + class_token + position`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenEntry {
    /// The patch grid, `[rows, columns]`.
    pub grid: [usize; 2],
    /// Σ relevance of the patch tokens (at the patch embedding's output).
    pub patches: f32,
    /// The class token's (and a distillation token's) relevance.
    pub class_token: f32,
    /// What the position embedding absorbs.
    pub position: f32,
    /// Σ relevance of the tokens entering the first block.
    pub stem: f32,
    /// The explained logit.
    pub logit: f32,
}

/// The face an entry explains, when it was found by the face detector
/// ([`crate::faces`]): one of several outputs of one photo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceRecord {
    /// The face's number in its photo (1, 2, …, left to right by the left edge of its box;
    /// the outputs' `_face<N>` suffix).
    pub number: usize,
    /// How many faces the detector found in the photo.
    pub of: usize,
    /// The detector's score, in (0, 1).
    pub score: f64,
    /// The detected box `[x, y, width, height]` in the photo's pixels, unclipped.
    pub detected: [f64; 4],
    /// The crop explained, `[left, top, right, bottom]` (the box clipped to the photo and
    /// floored, as face-api crops it).
    pub crop: [i64; 4],
}

/// One line of a manifest: one image explained by one model under one preset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The input file as read (`shipped:NAME` for the built-in portraits).
    pub input: String,
    /// The input's relative name, which its outputs mirror.
    pub relative: String,
    /// The model's name.
    pub model: String,
    /// The preset's name.
    pub preset: String,
    /// What was explained: `predicted`, `all` or class indices.
    pub target: String,
    /// The other options that shape the outputs (colour map, upsampling, overlay, rule
    /// overrides, …); a rerun with other settings redoes the entry.
    pub settings: String,
    /// Whether it worked.
    pub status: Status,
    /// The one-line error of a failed entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The predicted class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<Prediction>,
    /// Softmax probabilities of every class.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probabilities: Vec<f32>,
    /// One entry per heatmap (per explained class).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maps: Vec<MapEntry>,
    /// The files written, relative to the manifest's folder.
    #[serde(default)]
    pub files: Vec<String>,
    /// Anything else a front end records (`lrp explain --json`: logits and the per-layer
    /// conservation report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
    /// The detected face this entry explains (`lrp explain --faces`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub face: Option<FaceRecord>,
}

/// What identifies an entry: (relative input name, model, preset).
pub type Key = (String, String, String);

impl Entry {
    /// Its key: (relative input name, model, preset).
    pub fn key(&self) -> Key {
        (
            self.relative.clone(),
            self.model.clone(),
            self.preset.clone(),
        )
    }
}

/// Appends entries to a manifest file, one flushed line each.
#[derive(Debug)]
pub struct ManifestWriter {
    file: std::fs::File,
    path: PathBuf,
}

impl ManifestWriter {
    /// Opens `path` for appending (creating it). A last line cut short by a killed run is
    /// ended first, so that the next entry starts on a line of its own.
    ///
    /// Errors: [`Error::Write`] naming the file.
    pub fn append(path: impl Into<PathBuf>) -> Result<ManifestWriter> {
        let path = path.into();
        let err = |source| Error::Write {
            file: path.display().to_string(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(err)?;
        let len = file.metadata().map_err(err)?.len();
        if len > 0 {
            let mut last = [0u8];
            file.seek(SeekFrom::Start(len - 1)).map_err(err)?;
            file.read_exact(&mut last).map_err(err)?;
            if last[0] != b'\n' {
                file.write_all(b"\n").map_err(err)?;
            }
        }
        Ok(ManifestWriter { file, path })
    }

    /// The manifest's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `entry` as one line and flushes it to the file.
    ///
    /// Errors: [`Error::Write`] naming the file.
    pub fn write(&mut self, entry: &Entry) -> Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(|e| Error::Write {
            file: self.path.display().to_string(),
            source: std::io::Error::other(e),
        })?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.flush())
            .map_err(|source| Error::Write {
                file: self.path.display().to_string(),
                source,
            })
    }
}

/// The entries of a manifest file, in order, and the number of lines that are not entries (a
/// line cut short by a killed run, or damaged). A missing file has no entries.
///
/// Errors: [`Error::Io`] naming the file if it exists but cannot be read.
pub fn read(path: &Path) -> Result<(Vec<Entry>, usize)> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(source) => {
            return Err(Error::Io {
                file: path.display().to_string(),
                source,
            })
        }
    };
    let mut entries = Vec::new();
    let mut bad = 0;
    for line in std::io::BufReader::new(file).split(b'\n') {
        let line = line.map_err(|source| Error::Io {
            file: path.display().to_string(),
            source,
        })?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Entry>(&line) {
            Ok(e) => entries.push(e),
            Err(_) => bad += 1,
        }
    }
    Ok((entries, bad))
}

/// The manifest files in folder `dir`: `manifest.jsonl` first, then the shards'
/// `manifest.K-of-N.jsonl` in name order.
///
/// Errors: [`Error::Io`] if `dir` exists but cannot be listed.
pub fn files_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let list = match std::fs::read_dir(dir) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Io {
                file: dir.display().to_string(),
                source,
            })
        }
    };
    let mut shards = Vec::new();
    let mut main = None;
    for entry in list.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "manifest.jsonl" {
            main = Some(entry.path());
        } else if name.starts_with("manifest.") && name.ends_with(".jsonl") {
            shards.push(entry.path());
        }
    }
    shards.sort();
    Ok(main.into_iter().chain(shards).collect())
}

/// The latest entry for each key among the manifests of folder `dir` (read in the order of
/// [`files_in`], later lines winning), and the number of damaged lines skipped.
///
/// Errors: those of [`files_in`] and [`read`].
pub fn latest_in(dir: &Path) -> Result<(HashMap<Key, Entry>, usize)> {
    let mut latest = HashMap::new();
    let mut bad = 0;
    for path in files_in(dir)? {
        let (entries, b) = read(&path)?;
        bad += b;
        for e in entries {
            latest.insert(e.key(), e);
        }
    }
    Ok((latest, bad))
}

/// Joins the manifests of folder `dir` (a full run's and the shards' of a job array that
/// wrote into it) into `dir/manifest.jsonl`: the latest entry of every key, sorted by
/// relative input name, model and preset, written atomically; the shards' manifests are
/// then removed (their entries are all in the joined one). Returns the entries written and
/// the damaged lines skipped.
///
/// Errors: those of [`latest_in`]; [`Error::Write`] naming the file that cannot be written
/// or removed.
pub fn merge(dir: &Path) -> Result<(Vec<Entry>, usize)> {
    let sources = files_in(dir)?;
    let (latest, bad) = latest_in(dir)?;
    let mut entries: Vec<Entry> = latest.into_values().collect();
    entries.sort_by_key(Entry::key);
    let mut text = Vec::new();
    for e in &entries {
        serde_json::to_writer(&mut text, e).map_err(|e| Error::Write {
            file: dir.join("manifest.jsonl").display().to_string(),
            source: std::io::Error::other(e),
        })?;
        text.push(b'\n');
    }
    let target = dir.join("manifest.jsonl");
    super::write_atomic(&target, &text)?;
    for s in sources.iter().filter(|s| **s != target) {
        std::fs::remove_file(s).map_err(|source| Error::Write {
            file: s.display().to_string(),
            source,
        })?;
    }
    Ok((entries, bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(rel: &str, status: Status) -> Entry {
        Entry {
            input: format!("/data/{rel}"),
            relative: rel.into(),
            model: "m".into(),
            preset: "p".into(),
            target: "predicted".into(),
            settings: String::new(),
            status,
            error: None,
            prediction: None,
            probabilities: vec![0.25, 0.75],
            maps: Vec::new(),
            files: vec![format!("m/p/{rel}.png")],
            details: None,
            face: None,
        }
    }

    #[test]
    fn a_line_cut_short_is_skipped_and_ended() {
        let dir = std::env::temp_dir().join(format!("lrp-manifest-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("manifest.jsonl");
        let mut w = ManifestWriter::append(&path).unwrap();
        w.write(&entry("a.png", Status::Ok)).unwrap();
        drop(w);
        // A killed run: half a line.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(br#"{"input":"/data/b.png","relat"#).unwrap();
        drop(f);
        let mut w = ManifestWriter::append(&path).unwrap();
        w.write(&entry("c.png", Status::Failed)).unwrap();
        let (entries, bad) = read(&path).unwrap();
        assert_eq!(bad, 1);
        let names: Vec<&str> = entries.iter().map(|e| e.relative.as_str()).collect();
        assert_eq!(names, ["a.png", "c.png"]);
        // Shard manifests join into one, sorted, later lines winning.
        let mut s = ManifestWriter::append(dir.join("manifest.2-of-2.jsonl")).unwrap();
        s.write(&entry("c.png", Status::Ok)).unwrap();
        s.write(&entry("b.png", Status::Ok)).unwrap();
        let (merged, _) = merge(&dir).unwrap();
        let got: Vec<(&str, Status)> = merged
            .iter()
            .map(|e| (e.relative.as_str(), e.status))
            .collect();
        assert_eq!(
            got,
            [
                ("a.png", Status::Ok),
                ("b.png", Status::Ok),
                ("c.png", Status::Ok)
            ]
        );
        assert_eq!(files_in(&dir).unwrap(), std::slice::from_ref(&path));
        assert_eq!(read(&path).unwrap().0, merged);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
