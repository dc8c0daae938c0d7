//! A model ready to explain: its graph, how its inputs are made from a face, and its labels.
//!
//! [`Model::load`] takes an ONNX file or a Caffe `deploy.prototxt` (with its `.caffemodel`
//! and `mean.binaryproto`); [`Model::gender`] and [`Model::age`] are the two shipped, trained
//! face models, embedded in the library.
//!
//! ```
//! let m = lrp::model::Model::gender().unwrap();
//! assert_eq!(m.graph.input_shape(), &[3, 32, 32]);
//! assert_eq!(m.label(0), "female");
//! ```

use crate::assets;
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::import::{caffe, onnx};
use crate::preprocess::Preprocess;
use crate::zoo::Architecture;
use std::path::Path;

/// A loaded model.
#[derive(Debug, Clone)]
pub struct Model {
    /// Short name used in file names and figures (`gender-v1`, the file stem, …).
    pub name: String,
    /// The canonised graph.
    pub graph: Graph,
    /// How a face crop becomes the network input.
    pub preprocess: Preprocess,
    /// Class names, one per output (may be empty: then classes are numbered).
    pub labels: Vec<String>,
    /// What was tolerated while loading (unknown prototxt fields, random weights, …).
    pub warnings: Vec<String>,
}

impl Model {
    /// The shipped gender model (`gender-v1`, 3×32×32, classes female and male).
    pub fn gender() -> Result<Model> {
        Self::embedded(
            "gender-v1",
            assets::GENDER_V1_ONNX,
            &assets::GENDER_V1_LABELS,
        )
    }

    /// The shipped age model (`age-v1`, 3×64×64, 81 classes: ages 0.25, 1, 2, …, 80).
    pub fn age() -> Result<Model> {
        Self::embedded("age-v1", assets::AGE_V1_ONNX, &assets::AGE_V1_LABELS)
    }

    fn embedded(name: &str, bytes: &[u8], labels: &[&str]) -> Result<Model> {
        let mut graph = onnx::from_bytes(bytes, &format!("<embedded {name}.onnx>"))?;
        graph.set_name(name);
        let size = square_input(&graph, name)?;
        Ok(Model {
            name: name.to_string(),
            graph,
            preprocess: Preprocess::onnx_face(size),
            labels: labels.iter().map(|s| s.to_string()).collect(),
            warnings: Vec::new(),
        })
    }

    /// Load a model file: `.onnx`, or a Caffe `.prototxt` with optional `weights`
    /// (`.caffemodel`; without it the weights are seeded random values and a warning says
    /// so) and `mean` (`mean.binaryproto`). `labels` is a text file with one class name per
    /// line; without it the paper's Adience labels are used for Caffe models with 2 or 8
    /// outputs, and classes are numbered otherwise.
    ///
    /// ONNX models get the shipped face models' preprocessing (RGB, `(pixel − mean) / 256`);
    /// Caffe models the paper's (BGR minus the mean image).
    pub fn load(
        path: &Path,
        weights: Option<&Path>,
        mean: Option<&Path>,
        labels: Option<&Path>,
    ) -> Result<Model> {
        let file = path.display().to_string();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("model")
            .to_string();
        let model = match ext.as_str() {
            "onnx" => {
                if let Some(extra) = weights.or(mean) {
                    return Err(Error::Format {
                        file,
                        layer: "model".into(),
                        detail: format!(
                            "weights and mean files are for Caffe models, an ONNX file holds its weights (also given: {})",
                            extra.display()
                        ),
                    });
                }
                // The shipped models, given as files, get their names and labels (read only
                // when the size is one of theirs).
                let len = std::fs::metadata(path).map_or(0, |m| m.len());
                let shipped = [assets::GENDER_V1_ONNX.len(), assets::AGE_V1_ONNX.len()];
                let bytes = shipped
                    .contains(&(len as usize))
                    .then(|| crate::files::read_bounded(path, len, "a model file").ok())
                    .flatten();
                if let Some(bytes) = bytes {
                    if bytes == assets::GENDER_V1_ONNX {
                        return Self::with_labels(Self::gender()?, labels);
                    }
                    if bytes == assets::AGE_V1_ONNX {
                        return Self::with_labels(Self::age()?, labels);
                    }
                }
                let graph = onnx::load(path)?;
                let size = square_input(&graph, &file)?;
                Model {
                    name: stem,
                    graph,
                    preprocess: Preprocess::onnx_face(size),
                    labels: Vec::new(),
                    warnings: Vec::new(),
                }
            }
            "prototxt" | "pbtxt" | "txt" => Self::load_caffe(path, weights, mean, stem)?,
            _ => {
                return Err(Error::Format {
                    file,
                    layer: "model".into(),
                    detail: "unknown model format: expected a .onnx file or a Caffe .prototxt"
                        .into(),
                })
            }
        };
        Self::with_labels(model, labels)
    }

    /// A Caffe `deploy.prototxt` with optional weights and mean image: the paper's
    /// preprocessing and, for the zoo's architectures, the Adience labels.
    fn load_caffe(
        path: &Path,
        weights: Option<&Path>,
        mean: Option<&Path>,
        stem: String,
    ) -> Result<Model> {
        let file = path.display().to_string();
        let cm = caffe::load(path, weights, mean)?;
        let size = square_input(&cm.graph, &file)?;
        let mut warnings = cm.warnings;
        let preprocess = match cm.mean {
            Some(image) => {
                let p = Preprocess::CaffeMean { size, mean: image };
                // A mean image smaller than the input fails here, naming its file, rather
                // than later, on the first image.
                if let Some(m) = mean {
                    p.validate_from(&m.display().to_string())?;
                }
                p
            }
            None => {
                warnings.push(
                    "no mean image (mean.binaryproto) given: inputs are BGR pixels without mean subtraction".into(),
                );
                Preprocess::Generic {
                    size,
                    mean: [0.0; 3],
                    std: [1.0; 3],
                    bgr: true,
                    scale: 1.0,
                }
            }
        };
        let classes: usize = cm.graph.output_shape().iter().product();
        let labels: &[&str] = match (Architecture::detect(&cm.graph), classes) {
            (Some(_), 2) => &assets::ADIENCE_GENDER_LABELS,
            (Some(_), 8) => &assets::ADIENCE_AGE_LABELS,
            _ => &[],
        };
        let name = if stem == "deploy" {
            path.parent()
                .and_then(|p| p.file_name())
                .and_then(|s| s.to_str())
                .unwrap_or("deploy")
                .to_string()
        } else {
            stem
        };
        Ok(Model {
            name,
            graph: cm.graph,
            preprocess,
            labels: labels.iter().map(|s| s.to_string()).collect(),
            warnings,
        })
    }

    /// Replace the labels with those of a text file (one per line), checking their number.
    fn with_labels(mut model: Model, labels: Option<&Path>) -> Result<Model> {
        if let Some(l) = labels {
            let file = l.display().to_string();
            let text =
                crate::files::read_text_bounded(l, crate::files::MAX_TEXT_BYTES, "a labels file")?;
            model.labels = assets::parse_labels(&text);
            let classes = model.classes();
            if model.labels.len() != classes {
                return Err(Error::Format {
                    file,
                    layer: "labels".into(),
                    detail: format!(
                        "{} labels for a model with {classes} outputs",
                        model.labels.len()
                    ),
                });
            }
        }
        Ok(model)
    }

    /// Number of classes (outputs of the first graph output).
    pub fn classes(&self) -> usize {
        self.graph.output_shape().iter().product()
    }

    /// The name of class `i` (its label, or `class i`).
    pub fn label(&self, i: usize) -> String {
        self.labels
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("class {i}"))
    }
}

/// Side `S` of a `[3, S, S]` input, or an error naming `what`.
fn square_input(graph: &Graph, what: &str) -> Result<u32> {
    match graph.input_shape() {
        [3, h, w] if h == w && *h <= u32::MAX as usize => Ok(*h as u32),
        other => Err(Error::Format {
            file: what.to_string(),
            layer: "input".into(),
            detail: format!(
                "expected a square RGB image input [3, S, S], the network takes {other:?}"
            ),
        }),
    }
}
