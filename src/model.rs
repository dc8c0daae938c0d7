//! A model ready to explain: its graph, how its inputs are made from a face, and its labels.
//!
//! [`Model::load`] takes an ONNX file or a Caffe `deploy.prototxt` (with its `.caffemodel`
//! and `mean.binaryproto`); [`Model::gender`] and [`Model::age`] are dlib's two shipped,
//! trained face models, [`Model::face_api_gender`] and [`Model::face_api_age`] the two outputs
//! of face-api's shipped age/gender network; [`Model::shipped`] finds them by name
//! ([`SHIPPED_MODELS`]).
//!
//! A model with several outputs is explained one output at a time: [`Model::load_output`]
//! picks it by name ([`Graph::select_output`]). A regression output (face-api's age in
//! years) is explained like a logit, its single value the target, and reported as a number
//! ([`Model::describe`]).
//!
//! ```
//! let m = lrp::model::Model::gender().unwrap();
//! assert_eq!(m.graph.input_shape(), &[3, 32, 32]);
//! assert_eq!(m.label(0), "female");
//! let age = lrp::model::Model::shipped("face-api-age").unwrap();
//! assert_eq!(age.describe(&[47.32]), "age 47.3 years");
//! ```

use crate::assets;
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::import::{caffe, onnx};
use crate::preprocess::Preprocess;
use crate::zoo::Architecture;
use std::path::Path;

/// The names [`Model::shipped`] knows, in the order `lrp info` lists them (and `lrp explain`
/// explains them when no `--model` is given).
pub const SHIPPED_MODELS: [&str; 4] = ["gender-v1", "age-v1", "face-api-gender", "face-api-age"];

/// The presets a model is explained under when none is named ([`Model::presets`]): the
/// modern `epsilon-plus-flat` and the paper's own. The default of the dlib models, the paper's
/// Caffe models and every other file.
pub const DEFAULT_PRESETS: [&str; 2] = ["epsilon-plus-flat", "paper"];

/// The default preset of face-api's age/gender network (`face-api-gender`, `face-api-age`):
/// zᴮ on the first convolution, γ = 0.25 on the others, ε on the heads. Pixel flipping chose
/// it: on this network of depthwise-separable convolutions `epsilon-plus-flat` is below random
/// order on the gender logit, and `epsilon-gamma-box` is the only preset far above random on
/// both outputs (the README's table "Which rules for depthwise-separable networks").
pub const FACE_API_PRESET: &str = "epsilon-gamma-box";

fn default_presets() -> Vec<String> {
    DEFAULT_PRESETS.iter().map(|s| s.to_string()).collect()
}

/// The presets a vision transformer (a graph [`crate::tokens::TokenLayout::find`] recognises)
/// is explained under when none is named: AttnLRP and CP-LRP, the two the README compares
/// against LXT. The CNN presets would treat its softmax and products of activations with
/// rules made for convolutions.
pub const TRANSFORMER_PRESETS: [&str; 2] = ["attnlrp", "cp-lrp"];

/// The number of classes of an ImageNet classifier: an ONNX file with this many outputs gets
/// torchvision's ImageNet transform by default.
pub const IMAGENET_CLASSES: usize = 1000;

/// An ONNX file's default preprocessing and presets (besides the shipped models, which have
/// their own): a vision transformer gets torchvision's ImageNet evaluation transform and
/// [`TRANSFORMER_PRESETS`]; a graph with [`IMAGENET_CLASSES`] outputs the ImageNet transform
/// and [`DEFAULT_PRESETS`]; anything else the shipped face models' preprocessing and
/// [`DEFAULT_PRESETS`]. torchvision's and timm's transformers and ImageNet classifiers are
/// trained on ImageNet-normalised inputs (timm's `augreg` ViTs use mean = std = 0.5
/// instead: give `--preprocess` / set [`Model::preprocess`] for those).
fn onnx_defaults(graph: &Graph, size: u32) -> (Preprocess, Vec<String>) {
    if crate::tokens::TokenLayout::find(graph).is_some() {
        let presets = TRANSFORMER_PRESETS.iter().map(|s| s.to_string()).collect();
        return (Preprocess::imagenet(size), presets);
    }
    let classes = graph.output_shape().iter().product::<usize>();
    if classes == IMAGENET_CLASSES {
        (Preprocess::imagenet(size), default_presets())
    } else {
        (Preprocess::onnx_face(size), default_presets())
    }
}

/// What the explained output of a model is.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputKind {
    /// Scores over classes (logits, or probabilities after a final softmax), named by the
    /// model's labels; reported as the predicted class and its softmax probability.
    Classes,
    /// One regression value (face-api's age): explained like a logit with the single output
    /// as target, and reported as `"{name} {value:.1} {unit}"`.
    Regression {
        /// What it measures, e.g. `age`.
        name: String,
        /// Its unit, e.g. `years`.
        unit: String,
    },
}

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
    /// Whether the output is class scores or a regression value.
    pub output: OutputKind,
    /// The presets this model is explained under when none is named (`lrp explain` without
    /// `--preset`, `lrp info` without `--preset`): its family's default, [`FACE_API_PRESET`]
    /// for face-api's network, [`DEFAULT_PRESETS`] for every other model.
    ///
    /// ```
    /// use lrp::model::Model;
    /// assert_eq!(Model::face_api_age().unwrap().presets, ["epsilon-gamma-box"]);
    /// assert_eq!(Model::gender().unwrap().presets, ["epsilon-plus-flat", "paper"]);
    /// ```
    pub presets: Vec<String>,
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

    /// The gender output of face-api's age/gender network (`face-api-gender`, 3×112×112,
    /// output `gender_logits`, classes male and female), with face-api's preprocessing
    /// ([`Preprocess::FaceApi`]).
    ///
    /// ```
    /// let m = lrp::model::Model::face_api_gender().unwrap();
    /// assert_eq!(m.graph.input_shape(), &[3, 112, 112]);
    /// assert_eq!((m.label(0), m.label(1)), ("male".into(), "female".into()));
    /// ```
    pub fn face_api_gender() -> Result<Model> {
        Self::face_api(
            "face-api-gender",
            assets::FACE_API_GENDER_OUTPUT,
            &assets::FACE_API_GENDER_LABELS,
            OutputKind::Classes,
        )
    }

    /// The age output of face-api's age/gender network (`face-api-age`, 3×112×112, output
    /// `age`: one value, the age in years), with face-api's preprocessing
    /// ([`Preprocess::FaceApi`]).
    pub fn face_api_age() -> Result<Model> {
        Self::face_api(
            "face-api-age",
            assets::FACE_API_AGE_OUTPUT,
            &["age"],
            OutputKind::Regression {
                name: "age".into(),
                unit: "years".into(),
            },
        )
    }

    fn face_api(name: &str, output: &str, labels: &[&str], kind: OutputKind) -> Result<Model> {
        let mut m = Self::embedded(name, assets::FACE_API_AGE_GENDER_ONNX, labels)?;
        m.graph = m.graph.select_output(output)?;
        m.preprocess = Preprocess::face_api(square_input(&m.graph, name)?);
        m.output = kind;
        m.presets = vec![FACE_API_PRESET.to_string()];
        Ok(m)
    }

    /// A shipped model by name, one of [`SHIPPED_MODELS`]; any other name gives
    /// [`Error::UnknownName`] listing them.
    ///
    /// ```
    /// assert_eq!(lrp::model::Model::shipped("age-v1").unwrap().classes(), 81);
    /// let err = lrp::model::Model::shipped("age-v2").unwrap_err();
    /// assert!(err.to_string().starts_with("unknown shipped model `age-v2`; valid names: gender-v1"));
    /// ```
    pub fn shipped(name: &str) -> Result<Model> {
        match name {
            "gender-v1" => Self::gender(),
            "age-v1" => Self::age(),
            "face-api-gender" => Self::face_api_gender(),
            "face-api-age" => Self::face_api_age(),
            _ => Err(Error::UnknownName {
                kind: "shipped model",
                name: name.to_string(),
                valid: SHIPPED_MODELS.join(", "),
            }),
        }
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
            output: OutputKind::Classes,
            presets: default_presets(),
        })
    }

    /// Load a model file: `.onnx`, or a Caffe `.prototxt` with optional `weights`
    /// (`.caffemodel`; without it the weights are seeded random values and a warning says
    /// so) and `mean` (`mean.binaryproto`). `labels` is a text file with one class name per
    /// line; without it the paper's Adience labels are used for Caffe models with 2 or 8
    /// outputs, and classes are numbered otherwise.
    ///
    /// ONNX models get the shipped face models' preprocessing (RGB, `(pixel − mean) / 256`),
    /// except vision transformers and 1000-class (ImageNet) classifiers, which get
    /// torchvision's ImageNet evaluation transform (transformers also get the presets
    /// [`TRANSFORMER_PRESETS`]); Caffe models the paper's (BGR minus the mean image).
    ///
    /// An ONNX graph with several outputs is explained at its first one, and a warning names
    /// the others; [`Model::load_output`] picks one by name.
    pub fn load(
        path: &Path,
        weights: Option<&Path>,
        mean: Option<&Path>,
        labels: Option<&Path>,
    ) -> Result<Model> {
        Self::load_output(path, weights, mean, labels, None)
    }

    /// [`Model::load`], explaining the graph output named `output` (all others and the
    /// nodes only they need are dropped; see [`Graph::select_output`]). An unknown name gives
    /// [`Error::UnknownName`] listing the outputs. Without a name, an ONNX graph with several
    /// outputs is explained at its first one and a warning names the others: the file still
    /// runs as it did, and the warning says how to choose (a Caffe graph keeps its auxiliary
    /// heads, which follow the main one).
    ///
    /// face-api's age/gender network given as a file (byte-identical to the shipped one)
    /// becomes `face-api-age` (its first output, `age`) or, with `gender_logits`,
    /// `face-api-gender`, with their preprocessing and labels.
    pub fn load_output(
        path: &Path,
        weights: Option<&Path>,
        mean: Option<&Path>,
        labels: Option<&Path>,
        output: Option<&str>,
    ) -> Result<Model> {
        let len = std::fs::metadata(path).map_or(0, |m| m.len());
        if len == assets::FACE_API_AGE_GENDER_ONNX.len() as u64 && weights.or(mean).is_none() {
            let bytes = crate::files::read_bounded(path, len, "a model file").ok();
            if bytes.as_deref() == Some(assets::FACE_API_AGE_GENDER_ONNX) {
                let mut m = match output {
                    None | Some(assets::FACE_API_AGE_OUTPUT) => Self::face_api_age()?,
                    Some(assets::FACE_API_GENDER_OUTPUT) => Self::face_api_gender()?,
                    Some(other) => {
                        return Err(Error::UnknownName {
                            kind: "output",
                            name: other.to_string(),
                            valid: [assets::FACE_API_AGE_OUTPUT, assets::FACE_API_GENDER_OUTPUT]
                                .join(", "),
                        })
                    }
                };
                if output.is_none() {
                    m.warnings.push(several_outputs(&[
                        assets::FACE_API_AGE_OUTPUT,
                        assets::FACE_API_GENDER_OUTPUT,
                    ]));
                }
                return Self::with_labels(m, labels);
            }
        }
        let mut model = Self::load_all(path, weights, mean)?;
        let names: Vec<String> = model
            .graph
            .output_names()
            .into_iter()
            .map(str::to_string)
            .collect();
        match output {
            Some(name) if names.len() > 1 || names[0] != name => {
                model.graph = model.graph.select_output(name)?;
                // Labels read for the first output do not name this one's classes.
                if labels.is_none() && names[0] != name {
                    model.labels.clear();
                }
            }
            Some(_) => {}
            // Caffe graphs list their dangling auxiliary heads after the main one on purpose
            // (see `import::caffe`); only ONNX outputs are the model's declared results.
            None if names.len() > 1 && is_onnx(path) => {
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                model.warnings.push(several_outputs(&refs));
                model.graph = model.graph.select_output(&names[0])?;
            }
            None => {}
        }
        Self::with_labels(model, labels)
    }

    /// [`Model::load`] with every output of the graph kept.
    fn load_all(path: &Path, weights: Option<&Path>, mean: Option<&Path>) -> Result<Model> {
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
                        return Self::gender();
                    }
                    if bytes == assets::AGE_V1_ONNX {
                        return Self::age();
                    }
                }
                let graph = onnx::load(path)?;
                let size = square_input(&graph, &file)?;
                let (preprocess, presets) = onnx_defaults(&graph, size);
                Model {
                    name: stem,
                    graph,
                    preprocess,
                    labels: Vec::new(),
                    warnings: Vec::new(),
                    output: OutputKind::Classes,
                    presets,
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
        Ok(model)
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
            output: OutputKind::Classes,
            presets: default_presets(),
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

    /// The prediction of one row of logits in words: `female 93.1%` (the largest logit's
    /// label and softmax probability) for class scores, `age 47.3 years` for a regression.
    ///
    /// ```
    /// let m = lrp::model::Model::gender().unwrap();
    /// assert_eq!(m.describe(&[0.0, 0.0]), "female 50.0%");
    /// ```
    pub fn describe(&self, logits: &[f32]) -> String {
        match &self.output {
            OutputKind::Regression { name, unit } => {
                format!(
                    "{name} {:.1} {unit}",
                    logits.first().copied().unwrap_or(f32::NAN)
                )
            }
            OutputKind::Classes => {
                let pred = crate::graph::argmax(logits);
                let p = crate::graph::softmax(logits)
                    .get(pred)
                    .copied()
                    .unwrap_or(f32::NAN);
                format!("{} {:.1}%", self.label(pred), 100.0 * p)
            }
        }
    }

    /// Whether the output is a regression value rather than class scores.
    pub fn is_regression(&self) -> bool {
        matches!(self.output, OutputKind::Regression { .. })
    }

    /// The name of class `i` (its label, or `class i`).
    pub fn label(&self, i: usize) -> String {
        self.labels
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("class {i}"))
    }
}

/// Whether `path` names an ONNX file (by its extension).
fn is_onnx(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
}

/// The warning for a graph with several outputs explained at its first.
fn several_outputs(names: &[&str]) -> String {
    format!(
        "the graph has {} outputs ({}); explaining the first, `{}` (choose one with --output)",
        names.len(),
        names.join(", "),
        names[0]
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zoo;

    #[test]
    fn onnx_defaults_follow_the_class_count_for_cnns() {
        // 1000 outputs (an ImageNet classifier) → torchvision's transform; the paper's 8 age
        // groups → the face models' preprocessing; CNN presets for both.
        for (classes, want) in [
            (1000, Preprocess::imagenet(227)),
            (8, Preprocess::onnx_face(227)),
        ] {
            let g = zoo::build(Architecture::AdienceNet, classes, 1).unwrap();
            let (pre, presets) = onnx_defaults(&g, 227);
            assert_eq!(pre, want, "{classes} classes");
            assert_eq!(presets, DEFAULT_PRESETS);
        }
    }
}
