//! Relevance mass inside regions, and per-map statistics.
//!
//! ```
//! use lrp::compare::{region_mass, Region};
//! let map = ndarray::arr2(&[[1.0_f32, -2.0], [3.0, 4.0]]);
//! let r = region_mass(&map, &Region::Box { left: 0, top: 0, right: 2, bottom: 1 }).unwrap();
//! assert_eq!((r.positive, r.negative), (1.0, -2.0));
//! assert_eq!(r.positive_share, 1.0 / 8.0); // of all positive relevance (1 + 3 + 4)
//! assert_eq!(r.negative_share, 1.0);
//! ```

use super::check_map;
use crate::error::{Error, Result};
use ndarray::Array2;

/// A region of a heatmap, in map pixels.
#[derive(Debug, Clone, PartialEq)]
pub enum Region {
    /// The pixels `left..right` × `top..bottom` (right and bottom exclusive), clipped to the
    /// map; a box that selects nothing is an error.
    Box {
        /// First column.
        left: usize,
        /// First row.
        top: usize,
        /// One past the last column.
        right: usize,
        /// One past the last row.
        bottom: usize,
    },
    /// The pixels where the mask is `true`; its shape must be the map's.
    Mask(Array2<bool>),
}

/// Relevance inside a region.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegionMass {
    /// Σ of the positive relevance inside (≥ 0).
    pub positive: f32,
    /// Σ of the negative relevance inside (≤ 0).
    pub negative: f32,
    /// Share of the map's positive relevance that lies inside (0 when the map has none).
    pub positive_share: f32,
    /// Share of the map's negative relevance that lies inside (0 when the map has none).
    pub negative_share: f32,
    /// Share of the map's pixels inside.
    pub area_share: f32,
}

/// Relevance mass of `map` inside `region`, positive and negative separately.
///
/// Errors: [`Error::Compare`] for an empty map, a mask of another shape or a box that
/// selects no pixel; [`Error::NonFinite`] for NaN or infinity in the map.
pub fn region_mass(map: &Array2<f32>, region: &Region) -> Result<RegionMass> {
    check_map(map, "heatmap")?;
    let (h, w) = map.dim();
    let inside: Array2<bool> = match region {
        Region::Box {
            left,
            top,
            right,
            bottom,
        } => {
            let (r, b) = ((*right).min(w), (*bottom).min(h));
            if *left >= r || *top >= b {
                return Err(Error::Compare(format!(
                    "box (left {left}, top {top}, right {right}, bottom {bottom}) selects no pixel of a {h}×{w} map"
                )));
            }
            Array2::from_shape_fn((h, w), |(y, x)| x >= *left && x < r && y >= *top && y < b)
        }
        Region::Mask(m) => {
            if m.dim() != (h, w) {
                return Err(Error::Compare(format!(
                    "mask of shape {:?} for a map of shape {:?}",
                    m.shape(),
                    map.shape()
                )));
            }
            m.clone()
        }
    };
    let (mut pos, mut neg, mut tpos, mut tneg, mut count) = (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0);
    for (&v, &i) in map.iter().zip(inside.iter()) {
        let v = v as f64;
        if v > 0.0 {
            tpos += v;
        } else {
            tneg += v;
        }
        if i {
            count += 1;
            if v > 0.0 {
                pos += v;
            } else {
                neg += v;
            }
        }
    }
    let share = |a: f64, t: f64| if t == 0.0 { 0.0 } else { (a / t) as f32 };
    Ok(RegionMass {
        positive: pos as f32,
        negative: neg as f32,
        positive_share: share(pos, tpos),
        negative_share: share(neg, tneg),
        area_share: count as f32 / (h * w) as f32,
    })
}

/// The share of positive relevance in `map`: `Σ r⁺ / (Σ r⁺ + |Σ r⁻|)`, summed in f64; 1 for
/// an all-positive map, 0 for a zero map. This is the one definition behind every
/// `positive_share` the library and `lrp` report ([`MapStats::positive_share`], the
/// `relevance_positive_share` of an explanation summary, the `positive_share` column of
/// `aopc.csv`); it is taken of the heatmap, the relevance summed over colour channels.
///
/// ```
/// assert_eq!(lrp::compare::positive_share(&[3.0, -1.0, 0.0]), 0.75);
/// assert_eq!(lrp::compare::positive_share(&[0.0, 0.0]), 0.0);
/// ```
pub fn positive_share<'a>(map: impl IntoIterator<Item = &'a f32>) -> f32 {
    let (pos, neg) = positive_negative(map);
    share_of(pos, neg)
}

/// `(Σ r⁺, Σ r⁻)` in f64.
fn positive_negative<'a>(map: impl IntoIterator<Item = &'a f32>) -> (f64, f64) {
    let (mut pos, mut neg) = (0.0f64, 0.0f64);
    for &v in map {
        if v > 0.0 {
            pos += v as f64;
        } else {
            neg += v as f64;
        }
    }
    (pos, neg)
}

fn share_of(pos: f64, neg: f64) -> f32 {
    let total = pos - neg;
    if total == 0.0 {
        0.0
    } else {
        (pos / total) as f32
    }
}

/// Statistics of one heatmap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MapStats {
    /// Σ of all relevance.
    pub sum: f32,
    /// Σ of the positive relevance.
    pub positive: f32,
    /// Σ of the negative relevance (≤ 0).
    pub negative: f32,
    /// `positive / (positive + |negative|)`: 1 for an all-positive map (0 for a zero map).
    pub positive_share: f32,
    /// `sum / seed`: how much of the relevance that seeded the explanation reached the input
    /// (1 for a conservative rule); `None` without a seed or with a zero seed.
    pub conservation: Option<f32>,
}

/// Statistics of `map` (typically the input relevance summed over channels), with the seed
/// relevance for the conservation ratio ([`Explanation::seed_sum`](crate::explain::Explanation::seed_sum)).
///
/// ```
/// let s = lrp::compare::map_stats(&ndarray::arr2(&[[3.0_f32, -1.0]]), Some(4.0)).unwrap();
/// assert_eq!((s.sum, s.positive, s.negative, s.positive_share), (2.0, 3.0, -1.0, 0.75));
/// assert_eq!(s.conservation, Some(0.5));
/// ```
pub fn map_stats(map: &Array2<f32>, seed: Option<f32>) -> Result<MapStats> {
    check_map(map, "heatmap")?;
    let (pos, neg) = positive_negative(map);
    let sum = pos + neg;
    Ok(MapStats {
        sum: sum as f32,
        positive: pos as f32,
        negative: neg as f32,
        positive_share: share_of(pos, neg),
        conservation: seed
            .filter(|s| *s != 0.0 && s.is_finite())
            .map(|s| (sum / s as f64) as f32),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr2;

    #[test]
    fn region_mass_on_a_hand_built_map() {
        // 3×3 map: positive 1..4 in the top-left 2×2, negatives elsewhere.
        let map = arr2(&[[1.0, 2.0, -1.0], [3.0, 4.0, -2.0], [-0.5, 0.5, 0.0]]);
        let b = region_mass(
            &map,
            &Region::Box {
                left: 0,
                top: 0,
                right: 2,
                bottom: 2,
            },
        )
        .unwrap();
        assert_eq!(b.positive, 10.0);
        assert_eq!(b.negative, 0.0);
        assert!((b.positive_share - 10.0 / 10.5).abs() < 1e-6);
        assert_eq!(b.negative_share, 0.0);
        assert!((b.area_share - 4.0 / 9.0).abs() < 1e-6);
        let mut mask = Array2::from_elem((3, 3), false);
        mask[[0, 2]] = true;
        mask[[2, 0]] = true;
        let m = region_mass(&map, &Region::Mask(mask)).unwrap();
        assert_eq!((m.positive, m.negative), (0.0, -1.5));
        assert!((m.negative_share - 1.5 / 3.5).abs() < 1e-6);
        // Boxes beyond the map are clipped; empty boxes and wrong masks are errors.
        let c = region_mass(
            &map,
            &Region::Box {
                left: 2,
                top: 2,
                right: 10,
                bottom: 10,
            },
        )
        .unwrap();
        assert_eq!(c.area_share, 1.0 / 9.0);
        assert!(region_mass(
            &map,
            &Region::Box {
                left: 3,
                top: 0,
                right: 5,
                bottom: 1
            }
        )
        .is_err());
        assert!(region_mass(&map, &Region::Mask(Array2::from_elem((2, 2), true))).is_err());
    }

    #[test]
    fn stats_without_seed() {
        let s = map_stats(&arr2(&[[0.0, 0.0]]), None).unwrap();
        assert_eq!((s.sum, s.positive_share, s.conservation), (0.0, 0.0, None));
        assert!(map_stats(&arr2(&[[f32::NAN]]), None).is_err());
    }
}
