//! Heatmaps of models with different preprocessing, brought into one frame: the image's.
//!
//! A model's heatmap covers its input, and the input covers a rectangle of the image that
//! depends on the preprocessing ([`Preprocess::input_region`](crate::preprocess::Preprocess::input_region)):
//! the whole face for the squashing ONNX face preprocessing, the centre crop for torchvision's
//! ImageNet transform, a padded square for the paper's Caffe models. Before heatmaps of two
//! such models are compared pixel by pixel, [`to_frame`] resamples each onto the image's frame
//! at a fixed resolution: every output cell gets the mean of the heatmap over the cell
//! (area-weighted, as [`resize_area`](super::resize_area) does), counting the part of the
//! cell the model did not see as relevance 0. Where the region is the whole frame, this
//! is exactly area averaging.
//!
//! ```
//! use lrp::compare::frame::to_frame;
//! use ndarray::arr2;
//! let map = arr2(&[[1.0_f32, 2.0], [3.0, 4.0]]);
//! // The map covers the centre half of a 4×4 frame: a 4×4 output has it in the middle.
//! let f = to_frame(&map, [1.0, 1.0, 2.0, 2.0], 4.0, 4.0, 4, 4).unwrap();
//! assert_eq!(f.row(1).to_vec(), vec![0.0, 1.0, 2.0, 0.0]);
//! assert_eq!(f.row(0).to_vec(), vec![0.0; 4]);
//! // Covering the whole frame at the map's own size changes nothing.
//! assert_eq!(to_frame(&map, [0.0, 0.0, 8.0, 8.0], 8.0, 8.0, 2, 2).unwrap(), map);
//! ```

use crate::error::{Error, Result};
use ndarray::Array2;

/// `map`, which covers the rectangle `region` (`[left, top, width, height]`) of a
/// `frame_width`×`frame_height` frame, resampled onto that frame as an `out_h`×`out_w` grid
/// (area-weighted means; 0 where the map does not reach).
///
/// Errors: [`Error::Compare`] for an empty map or grid, a grid beyond
/// [`MAX_SIDE`](crate::heatmap::MAX_SIDE) per side, or a region or frame that is not a
/// positive, finite rectangle.
pub fn to_frame(
    map: &Array2<f32>,
    region: [f64; 4],
    frame_width: f64,
    frame_height: f64,
    out_h: usize,
    out_w: usize,
) -> Result<Array2<f32>> {
    let (mh, mw) = map.dim();
    let max = crate::heatmap::MAX_SIDE;
    if mh == 0 || mw == 0 || out_h == 0 || out_w == 0 || out_h > max || out_w > max {
        return Err(Error::Compare(format!(
            "cannot bring a {mh}×{mw} map onto a {out_h}×{out_w} grid (each side 1 to {max})"
        )));
    }
    let [left, top, rw, rh] = region;
    let ok = |v: f64| v.is_finite();
    if !(region.iter().all(|&v| ok(v)) && rw > 0.0 && rh > 0.0)
        || !(ok(frame_width) && ok(frame_height) && frame_width > 0.0 && frame_height > 0.0)
    {
        return Err(Error::Compare(format!(
            "region {region:?} of a {frame_width}×{frame_height} frame is not a rectangle"
        )));
    }
    let wy = weights(out_h, frame_height, mh, top, rh);
    let wx = weights(out_w, frame_width, mw, left, rw);
    // out = Wy · map · Wxᵀ, in f64.
    let mut tmp = vec![0f64; out_h * mw];
    for (o, row) in wy.iter().enumerate() {
        for &(y, a) in row {
            for x in 0..mw {
                tmp[o * mw + x] += a * f64::from(map[[y, x]]);
            }
        }
    }
    Ok(Array2::from_shape_fn((out_h, out_w), |(o, p)| {
        wx[p].iter().map(|&(x, a)| a * tmp[o * mw + x]).sum::<f64>() as f32
    }))
}

/// Per output cell along one axis (`out` cells over `frame` units), the map pixels it
/// overlaps (`n` pixels over `[start, start + len)`) with the overlap as a share of the cell.
fn weights(out: usize, frame: f64, n: usize, start: f64, len: f64) -> Vec<Vec<(usize, f64)>> {
    let cell = frame / out as f64;
    let px = len / n as f64;
    (0..out)
        .map(|o| {
            let (c0, c1) = (o as f64 * cell, (o + 1) as f64 * cell);
            // Map pixels that can overlap [c0, c1).
            let first = (((c0 - start) / px).floor().max(0.0) as usize).min(n);
            let last = (((c1 - start) / px).ceil().max(0.0) as usize).min(n);
            (first..last)
                .filter_map(|i| {
                    let (p0, p1) = (start + i as f64 * px, start + (i + 1) as f64 * px);
                    let overlap = c1.min(p1) - c0.max(p0);
                    (overlap > 0.0).then(|| (i, overlap / cell))
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a brute-force reference: each cell sampled on a 64×64 lattice, each sample
    /// taking the value of the map pixel it falls in (0 outside). The map's pixel edges
    /// (every 2 units across, every 3 down from −1) fall on lattice lines, so the lattice
    /// mean is the exact area mean.
    #[test]
    fn matches_point_sampling_on_a_fine_lattice() {
        let map = Array2::from_shape_fn((3, 5), |(y, x)| (y * 5 + x) as f32 - 6.0);
        let region = [2.0, -1.0, 10.0, 9.0];
        let (fw, fh) = (12.0, 8.0);
        let f = to_frame(&map, region, fw, fh, 4, 6).unwrap();
        let s = 64usize;
        for o in 0..4 {
            for p in 0..6 {
                let (mut acc, mut count) = (0f64, 0usize);
                for a in 0..s {
                    for b in 0..s {
                        let y = (o as f64 + (a as f64 + 0.5) / s as f64) * fh / 4.0;
                        let x = (p as f64 + (b as f64 + 0.5) / s as f64) * fw / 6.0;
                        let my = ((y - region[1]) / region[3] * 3.0).floor();
                        let mx = ((x - region[0]) / region[2] * 5.0).floor();
                        if (0.0..3.0).contains(&my) && (0.0..5.0).contains(&mx) {
                            acc += f64::from(map[[my as usize, mx as usize]]);
                        }
                        count += 1;
                    }
                }
                let want = acc / count as f64;
                assert!(
                    (f64::from(f[[o, p]]) - want).abs() < 1e-5,
                    "cell ({o}, {p}): {} vs {want}",
                    f[[o, p]]
                );
            }
        }
    }

    #[test]
    fn refuses_empty_and_degenerate_inputs() {
        let map = Array2::<f32>::zeros((2, 2));
        assert!(to_frame(&map, [0.0, 0.0, 1.0, 1.0], 1.0, 1.0, 0, 2).is_err());
        assert!(to_frame(&map, [0.0, 0.0, 0.0, 1.0], 1.0, 1.0, 2, 2).is_err());
        assert!(to_frame(&map, [f64::NAN, 0.0, 1.0, 1.0], 1.0, 1.0, 2, 2).is_err());
        assert!(to_frame(&Array2::zeros((0, 2)), [0.0, 0.0, 1.0, 1.0], 1.0, 1.0, 2, 2).is_err());
    }
}
