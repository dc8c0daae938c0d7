//! Where a layer's parameter blobs come from: a decoded caffemodel, blobs given in memory, or
//! seeded random values; each checked against the shapes the prototxt implies.

use super::blob::{blob_shape, blob_to_array, LayerBlobs};
use super::{format_error, layer_label};
use crate::error::Result;
use crate::import::checked_product;
use crate::import::proto::caffe::{BlobProto, LayerParameter, NetParameter};
use crate::zoo::rng::Rng;
use ndarray::{ArrayD, IxDyn};
use std::collections::{HashMap, HashSet};

/// How a parameter blob is drawn by the random source.
#[derive(Debug, Clone, Copy)]
pub(super) enum Init {
    /// He-normal weights for this fan-in.
    He(usize),
    Bias,
    BnMean,
    BnVar,
    BnFactor,
    Gamma,
    Beta,
    /// PReLU slopes: uniform in [0.125, 0.375), around Caffe's default filler 0.25.
    Slope,
}

/// Most random parameter values drawn for one network, all blobs together (2²⁸ values,
/// 1 GiB): the prototxt alone declares these sizes, so they are bounded before anything is
/// allocated. VGG-16, the largest network of the zoo, has 1.4·10⁸ parameters. (A per-blob
/// limit alone let a 300-byte prototxt ask for 3.6 GB, found by the `prototxt` fuzz target.)
pub const MAX_RANDOM_PARAMS: usize = 1 << 28;

/// Scale factor `s` of the random BatchNorm blobs.
const RANDOM_BN_FACTOR: f32 = 4.0;

/// A blob a layer needs: its stored shape and how to draw it at random.
pub(super) struct Want {
    pub(super) shape: Vec<usize>,
    pub(super) init: Init,
}

/// Where parameter blobs come from.
pub(super) enum Source<'a> {
    /// A decoded caffemodel (current and V1 layers alike), by layer name.
    Stored {
        layers: HashMap<&'a str, &'a [BlobProto]>,
        used: HashSet<String>,
        file: String,
    },
    /// Blobs given in memory, by layer name.
    Memory {
        map: &'a HashMap<String, LayerBlobs>,
        file: String,
    },
    /// Seeded random values; recorded when `record` is set.
    Random {
        rng: Rng,
        record: Option<HashMap<String, LayerBlobs>>,
        /// Values that may still be drawn (starts at [`MAX_RANDOM_PARAMS`]).
        budget: usize,
        /// The network definition's file, named in errors.
        file: String,
    },
}

/// The wanted shapes, for messages: `[4, 3, 3, 3], [4]`.
fn describe(wants: &[Want]) -> String {
    wants
        .iter()
        .map(|w| format!("{:?}", w.shape))
        .collect::<Vec<_>>()
        .join(", ")
}

impl<'a> Source<'a> {
    pub(super) fn stored(net: &'a NetParameter, file: String) -> Self {
        let mut layers: HashMap<&str, &[BlobProto]> = HashMap::new();
        for l in &net.layer {
            if !l.blobs.is_empty() {
                layers.insert(l.name(), &l.blobs);
            }
        }
        for l in &net.layers {
            if !l.blobs.is_empty() {
                layers.entry(l.name()).or_insert(&l.blobs);
            }
        }
        Source::Stored {
            layers,
            used: HashSet::new(),
            file,
        }
    }

    /// Seeded random blobs, recorded (for [`random_weights`](super::random_weights)) when
    /// `record` is set; `file` names the network in errors.
    pub(super) fn random(seed: u64, record: bool, file: String) -> Self {
        Source::Random {
            rng: Rng::new(seed),
            record: record.then(HashMap::new),
            budget: MAX_RANDOM_PARAMS,
            file,
        }
    }

    /// The blobs of `layer`, checked against `wants`, as arrays of the wanted shapes.
    pub(super) fn fetch(
        &mut self,
        layer: &LayerParameter,
        wants: &[Want],
    ) -> Result<Vec<ArrayD<f32>>> {
        match self {
            Source::Random {
                rng,
                record,
                budget,
                file,
            } => wants
                .iter()
                .map(|w| random_blob(rng, record, budget, file, layer, w))
                .collect(),
            Source::Stored { layers, used, file } => {
                let blobs: &[BlobProto] = match layers.get(layer.name()) {
                    Some(b) => b,
                    None if !layer.blobs.is_empty() => &layer.blobs,
                    None => {
                        return Err(format_error(
                            file,
                            &layer_label(layer),
                            format!(
                                "the caffemodel has no blobs for this layer \
                             (it needs {} blob(s): {})",
                                wants.len(),
                                describe(wants)
                            ),
                        ))
                    }
                };
                used.insert(layer.name().to_string());
                stored_blobs(blobs, file, layer, wants)
            }
            Source::Memory { map, file } => memory_blobs(map, file, layer, wants),
        }
    }
}

/// One random blob for `want`, taken out of the `budget`.
fn random_blob(
    rng: &mut Rng,
    record: &mut Option<HashMap<String, LayerBlobs>>,
    budget: &mut usize,
    file: &str,
    layer: &LayerParameter,
    want: &Want,
) -> Result<ArrayD<f32>> {
    let label = layer_label(layer);
    let n = checked_product(&want.shape)
        .filter(|&n| n <= *budget)
        .ok_or_else(|| {
            format_error(
                file,
                &label,
                format!(
                    "random weights: blob shape {:?} would take the random \
                     weights of the network beyond {MAX_RANDOM_PARAMS} values",
                    want.shape
                ),
            )
        })?;
    *budget -= n;
    let data: Vec<f32> = match want.init {
        Init::He(fan_in) => {
            let std = (2.0 / fan_in.max(1) as f32).sqrt();
            (0..n).map(|_| rng.normal() * std).collect()
        }
        Init::Bias => (0..n).map(|_| rng.normal() * 0.01).collect(),
        Init::BnMean => (0..n)
            .map(|_| rng.normal() * 0.1 * RANDOM_BN_FACTOR)
            .collect(),
        Init::BnVar => (0..n)
            .map(|_| (0.5 + rng.uniform()) * RANDOM_BN_FACTOR)
            .collect(),
        Init::BnFactor => vec![RANDOM_BN_FACTOR; n],
        Init::Gamma => (0..n).map(|_| 1.0 + rng.normal() * 0.1).collect(),
        Init::Beta => (0..n).map(|_| rng.normal() * 0.1).collect(),
        Init::Slope => (0..n).map(|_| 0.125 + 0.25 * rng.uniform()).collect(),
    };
    if let Some(map) = record {
        map.entry(layer.name().to_string())
            .or_default()
            .push((want.shape.clone(), data.clone()));
    }
    ArrayD::from_shape_vec(IxDyn(&want.shape), data)
        .map_err(|e| format_error(file, &label, e.to_string()))
}

/// The stored `blobs` of `layer`, checked against `wants`.
fn stored_blobs(
    blobs: &[BlobProto],
    file: &str,
    layer: &LayerParameter,
    wants: &[Want],
) -> Result<Vec<ArrayD<f32>>> {
    let label = layer_label(layer);
    if blobs.len() != wants.len() {
        return Err(format_error(
            file,
            &label,
            format!(
                "the caffemodel has {} blob(s) for this layer, \
                 the prototxt implies {}: {}",
                blobs.len(),
                wants.len(),
                describe(wants)
            ),
        ));
    }
    let mut out = Vec::with_capacity(wants.len());
    for (i, (blob, want)) in blobs.iter().zip(wants).enumerate() {
        let what = format!("{label} blob {i}");
        let got = blob_shape(blob, file, &what)?;
        check_shape(&got, &want.shape, file, &what)?;
        let array = blob_to_array(blob, file, &what)?;
        out.push(
            array
                .into_shape_with_order(IxDyn(&want.shape))
                .map_err(|e| format_error(file, &what, e.to_string()))?,
        );
    }
    Ok(out)
}

/// The blobs of `layer` given in memory, checked against `wants`.
fn memory_blobs(
    map: &HashMap<String, LayerBlobs>,
    file: &str,
    layer: &LayerParameter,
    wants: &[Want],
) -> Result<Vec<ArrayD<f32>>> {
    let label = layer_label(layer);
    let blobs = map.get(layer.name()).ok_or_else(|| {
        format_error(
            file,
            &label,
            format!(
                "no weights given for this layer (it needs {} blob(s): {})",
                wants.len(),
                describe(wants)
            ),
        )
    })?;
    if blobs.len() != wants.len() {
        return Err(format_error(
            file,
            &label,
            format!(
                "{} blob(s) given, the prototxt implies {}: {}",
                blobs.len(),
                wants.len(),
                describe(wants)
            ),
        ));
    }
    let mut out = Vec::with_capacity(wants.len());
    for (i, ((shape, data), want)) in blobs.iter().zip(wants).enumerate() {
        let what = format!("{label} blob {i}");
        check_shape(shape, &want.shape, file, &what)?;
        if checked_product(shape) != Some(data.len()) {
            return Err(format_error(
                file,
                &what,
                format!("shape {shape:?} but {} values", data.len()),
            ));
        }
        out.push(
            ArrayD::from_shape_vec(IxDyn(&want.shape), data.clone())
                .map_err(|e| format_error(file, &what, e.to_string()))?,
        );
    }
    Ok(out)
}

/// Compares a stored blob shape with the shape the prototxt implies, ignoring the leading 1s
/// of legacy four-axis shapes.
pub(super) fn check_shape(got: &[usize], want: &[usize], file: &str, what: &str) -> Result<()> {
    let mut g = got;
    while g.len() > want.len() && g.first() == Some(&1) {
        g = &g[1..];
    }
    if g == want {
        Ok(())
    } else {
        Err(format_error(
            file,
            what,
            format!("the caffemodel blob has shape {got:?}, the prototxt implies {want:?}"),
        ))
    }
}
