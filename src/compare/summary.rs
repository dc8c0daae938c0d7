//! The numbers of one explanation, ready for JSON: per image the prediction, logits and
//! probabilities, per map the relevance that seeded it, reached the input and the share of
//! it that is positive, and per layer the relevance sums entering and leaving it. This is the
//! `summary.json` of `lrp explain --json`, one [`ExplanationSummary`] per model × preset.
//!
//! ```
//! use lrp::compare::ExplanationSummary;
//! use lrp::composite::Composite;
//! use lrp::explain::{Explainer, Target};
//! use lrp::model::Model;
//! let model = Model::gender().unwrap();
//! let x = ndarray::ArrayD::<f32>::zeros(ndarray::IxDyn(&[1, 3, 32, 32]));
//! let comp = Composite::preset("epsilon").unwrap();
//! let e = Explainer::new(model.graph.clone(), &comp).unwrap().explain(&x, &Target::Predicted).unwrap();
//! let s = ExplanationSummary::new(&model, comp.name(), &["zeros".into()], &e).unwrap();
//! let image = &s.images[0];
//! assert_eq!(image.maps[0].class, Some(image.prediction.class));
//! assert!((image.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-5);
//! ```

use super::positive_share;
use crate::error::Result;
use crate::explain::Explanation;
use crate::graph::{argmax, softmax};
use crate::heatmap::{self, Reduce};
use crate::model::Model;
use serde::Serialize;

/// One model × preset over a batch of images.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExplanationSummary {
    /// The model's name.
    pub model: String,
    /// The composite's (preset's) name.
    pub preset: String,
    /// One entry per image of the batch.
    pub images: Vec<ImageSummary>,
}

/// One image of an [`ExplanationSummary`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageSummary {
    /// The image's name (`input I` when none was given).
    pub image: String,
    /// The class with the largest logit.
    pub prediction: Prediction,
    /// Pre-softmax logits.
    pub logits: Vec<f32>,
    /// Softmax of the logits.
    pub probabilities: Vec<f32>,
    /// One entry per explained target.
    pub maps: Vec<MapSummary>,
    /// Relevance sums per layer, in backward order.
    pub conservation: Vec<LayerSums>,
}

/// A predicted class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// Class index.
    pub class: usize,
    /// Its label.
    pub label: String,
    /// Its softmax probability.
    pub probability: f32,
}

/// One relevance map (one target of one image).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapSummary {
    /// The explained class (`None` for an explicit output relevance).
    pub class: Option<usize>,
    /// Its label.
    pub label: Option<String>,
    /// Σ of the relevance that seeded the map.
    pub relevance_seed: f32,
    /// Σ of the input relevance.
    pub relevance_input: f32,
    /// [`positive_share`] of the heatmap (the input relevance summed over channels).
    pub relevance_positive_share: f32,
}

/// Relevance sums leaving and entering one layer, one value per target of the image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerSums {
    /// The layer (node) name.
    pub layer: String,
    /// Its operator kind.
    pub kind: String,
    /// Σ of the relevance at the layer's output.
    pub relevance_out: Vec<f32>,
    /// Σ of the relevance it passed to its inputs.
    pub relevance_in: Vec<f32>,
}

impl ExplanationSummary {
    /// The summary of explanation `e` of `model` under the composite called `preset`;
    /// `images` names the images of the batch (missing names become `input I`).
    ///
    /// Errors: those of [`heatmap::reduce`] for relevance that is not `[n, k, C, H, W]`.
    pub fn new(
        model: &Model,
        preset: &str,
        images: &[String],
        e: &Explanation,
    ) -> Result<ExplanationSummary> {
        let n = e.logits.nrows();
        let k = e.relevance.shape().get(1).copied().unwrap_or(0);
        let images = (0..n)
            .map(|i| {
                let logits = e.logits.row(i).to_vec();
                let probabilities = softmax(&logits);
                let pred = argmax(&logits);
                let maps = (0..k)
                    .map(|j| map_summary(model, e, i, j))
                    .collect::<Result<_>>()?;
                let conservation = e
                    .conservation
                    .iter()
                    .map(|c| LayerSums {
                        layer: c.node.clone(),
                        kind: c.kind.to_string(),
                        relevance_out: c.relevance_out[i * k..(i + 1) * k].to_vec(),
                        relevance_in: c.relevance_in[i * k..(i + 1) * k].to_vec(),
                    })
                    .collect();
                Ok(ImageSummary {
                    image: images
                        .get(i)
                        .cloned()
                        .unwrap_or_else(|| format!("input {i}")),
                    prediction: Prediction {
                        class: pred,
                        label: model.label(pred),
                        probability: probabilities[pred],
                    },
                    logits,
                    probabilities,
                    maps,
                    conservation,
                })
            })
            .collect::<Result<_>>()?;
        Ok(ExplanationSummary {
            model: model.name.clone(),
            preset: preset.to_string(),
            images,
        })
    }
}

/// Map `j` of image `i`.
fn map_summary(model: &Model, e: &Explanation, i: usize, j: usize) -> Result<MapSummary> {
    let k = e.relevance.shape()[1];
    let m = i * k + j;
    let class = e.targets.get(i).and_then(|t| t.get(j)).copied();
    let map = heatmap::reduce(
        e.relevance.slice(ndarray::s![i, j, .., .., ..]),
        Reduce::Sum,
    )?;
    Ok(MapSummary {
        class,
        label: class.map(|c| model.label(c)),
        relevance_seed: e.seed_sum(m),
        relevance_input: e.input_sum(m),
        relevance_positive_share: positive_share(&map),
    })
}
