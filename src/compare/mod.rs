//! Comparing relevance with numbers: between heatmaps, models and rule presets.
//!
//! - [`metrics`]: similarity of two heatmaps (Pearson, Spearman, cosine, top-k% IoU) after
//!   area-averaging both onto a common grid ([`resize_area`]), and the N×N
//!   [`Similarity`] matrix of N heatmap sources averaged over a set of images (CSV, JSON,
//!   labelled PNG);
//! - [`frame`]: heatmaps of models with different preprocessing (centre crop, padding,
//!   squashing) resampled onto the image's frame before they are compared;
//! - [`region`]: relevance mass inside boxes or masks, positive and negative apart, and
//!   per-map statistics (sum, positive share, conservation);
//! - [`average`]: mean heatmaps over a folder of images, as the paper did (raw maps summed,
//!   then normalised) and normalise-then-average;
//! - [`flip`]: faithfulness by region perturbation (Samek et al., 2017): curves of the target
//!   logit as patches are replaced most-relevant-first or in random order, and their AOPC;
//! - [`cluster`]: spectral relevance analysis (Lapuschkin et al., 2019): k-nearest-neighbour
//!   affinity, normalised Laplacian, eigendecomposition (`faer`), seeded k-means, eigengaps;
//! - [`plot`]: line plots and labelled matrices drawn with the heatmap module's text;
//! - [`faces`]: a set of face variants derived from the two shipped portraits;
//! - [`study`]: all of the above for models × presets over a set of images in one call (what
//!   `lrp compare` runs), and [`summary`]: the numbers of one explanation (what
//!   `lrp explain --json` writes);
//! - [`output`]: JSON and CSV writing through serde.
//!
//! ```
//! use lrp::compare::metrics::{pearson, cosine, top_iou};
//! let a = [1.0_f32, 2.0, 3.0, 4.0];
//! let b = [2.0_f32, 4.0, 6.0, 8.0];
//! assert!((pearson(&a, &b).unwrap() - 1.0).abs() < 1e-6);
//! assert!((cosine(&a, &b).unwrap() - 1.0).abs() < 1e-6);
//! assert_eq!(top_iou(&a, &b, 0.5).unwrap(), 1.0); // both top-2 sets are {2, 3}
//! ```

pub mod average;
pub mod cluster;
pub mod faces;
pub mod flip;
pub mod frame;
pub mod metrics;
pub mod output;
pub mod plot;
pub mod region;
pub mod study;
pub mod summary;

pub use average::{average_normalized, average_raw};
pub use cluster::{spectral_clustering, Spectral, SpectralConfig};
pub use flip::{aopc, flip_curve, mean_drop, patch_order, Baseline, FlipConfig, FlipCurve, Order};
pub use frame::to_frame;
pub use metrics::{resize_area, similarity_matrix, Metric, Similarity};
pub use output::{csv_field, write_csv, write_json, write_text};
pub use region::{map_stats, positive_share, region_mass, MapStats, Region, RegionMass};
pub use study::{FlipBaseline, Study, StudyConfig, StudyItem};
pub use summary::ExplanationSummary;

use crate::error::{Error, Result};
use ndarray::Array2;

/// Largest side of the common grid heatmaps are area-averaged onto for similarities and
/// clustering (a 512×512 map is 1 MiB; network inputs are smaller).
pub const MAX_GRID: usize = 512;

/// Most pixel-flipping steps of one curve: each step is a forward pass per image.
pub const MAX_FLIP_STEPS: usize = 10_000;

/// Largest pixel-flipping patch side, and blur radius of [`Baseline::Blur`], in pixels.
pub const MAX_FLIP_PATCH: usize = 4096;

/// Most random orders averaged per image for the random-order flipping baseline.
pub const MAX_RANDOM_RUNS: usize = 1000;

/// Most clusters, and neighbours per map, of the spectral clustering.
pub const MAX_CLUSTERS: usize = 1000;

/// Fails with [`Error::Compare`] naming `what` unless `1 ≤ value ≤ max`.
pub(crate) fn check_range(what: &str, value: usize, max: usize) -> Result<()> {
    if value == 0 || value > max {
        return Err(Error::Compare(format!(
            "{what} must be between 1 and {max}, got {value}"
        )));
    }
    Ok(())
}

/// Fails with [`Error::Compare`] unless `map` has pixels and only finite values.
pub(crate) fn check_map(map: &Array2<f32>, what: &str) -> Result<()> {
    if map.is_empty() {
        return Err(Error::Compare(format!(
            "{what}: empty map {:?}",
            map.shape()
        )));
    }
    if let Some((index, &value)) = map.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(Error::NonFinite {
            what: what.to_string(),
            value,
            index,
        });
    }
    Ok(())
}
