//! Comparing relevance with numbers: between heatmaps, models and rule presets.
//!
//! - [`metrics`]: similarity of two heatmaps (Pearson, Spearman, cosine, top-k% IoU) after
//!   area-averaging both onto a common grid ([`resize_area`]), and the N×N
//!   [`Similarity`] matrix of N heatmap sources averaged over a set of images (CSV, JSON,
//!   labelled PNG);
//! - [`region`]: relevance mass inside boxes or masks, positive and negative apart, and
//!   per-map statistics (sum, positive share, conservation);
//! - [`average`]: mean heatmaps over a folder of images, as the paper did (raw maps summed,
//!   then normalised) and normalise-then-average;
//! - [`flip`]: faithfulness by region perturbation (Samek et al., 2017): curves of the target
//!   logit as patches are replaced most-relevant-first or in random order, and their AOPC;
//! - [`cluster`]: spectral relevance analysis (Lapuschkin et al., 2019): k-nearest-neighbour
//!   affinity, normalised Laplacian, eigendecomposition (`faer`), seeded k-means, eigengaps;
//! - [`plot`]: line plots and labelled matrices drawn with the heatmap module's text;
//! - [`faces`]: a set of face variants derived from the two shipped portraits.
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
pub mod metrics;
pub mod plot;
pub mod region;

pub use average::{average_normalized, average_raw};
pub use cluster::{spectral_clustering, Spectral, SpectralConfig};
pub use flip::{aopc, flip_curve, logits, patch_order, Baseline, FlipConfig, FlipCurve, Order};
pub use metrics::{resize_area, similarity_matrix, Metric, Similarity};
pub use region::{map_stats, region_mass, MapStats, Region, RegionMass};

use crate::error::{Error, Result};
use ndarray::Array2;

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

/// A JSON string literal for `s` (quotes, backslashes and control characters escaped).
pub(crate) fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON number for `v` (`null` for NaN and infinities, which JSON cannot hold).
pub(crate) fn json_number(v: f32) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "null".into()
    }
}

/// A CSV field: quoted when it holds a comma, quote or line break.
///
/// ```
/// assert_eq!(lrp::compare::csv_field("a,b"), "\"a,b\"");
/// ```
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Writes `text` to `path`, naming the file in the error.
pub fn write_text(path: impl AsRef<std::path::Path>, text: &str) -> Result<()> {
    let path = path.as_ref();
    std::fs::write(path, text).map_err(|source| Error::Write {
        file: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_csv_escaping() {
        assert_eq!(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(json_number(f32::NAN), "null");
        assert_eq!(json_number(0.5), "0.5");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("x"), "x");
    }
}
