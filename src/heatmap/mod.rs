//! Heatmaps: relevance → 2-D map → colours → images, overlays and labelled figures.
//!
//! This module knows nothing of models or rules: it starts from relevance arrays (the
//! `[n, k, C, H, W]` tensor of an [`Explanation`](crate::explain::Explanation), or one
//! `[C, H, W]` map) and ends with PNG files.
//!
//! The pipeline, each step a plain function:
//!
//! 1. [`reduce`] a `[C, H, W]` relevance map to a 2-D map `H[y, x]` — by default the paper's
//!    **sum over colour channels** ([`Reduce::Sum`]);
//! 2. [`normalize`] it symmetrically per image: `x = H / max|H|` in `[-1, 1]` (optionally after
//!    clipping `|H|` at a percentile, [`Normalize::clip_percentile`]); an all-zero map stays
//!    all-zero and renders as the colour map's centre (black for black-firered), never NaN;
//! 3. [`render`] it with a [`Colormap`] (the paper's `black-firered`, `bwr`, `seismic`,
//!    `coldnhot`, `jet`, `gray-red`, `afmhot` and colorgrad's presets), or [`upsample`] it
//!    first onto the face crop ([`Upsample::Nearest`] keeps the paper's blocky look), or
//!    [`overlay`] it on the image with an opacity that follows `|H|`;
//! 4. lay out many of them in a [`Figure`]: rows are images, columns the face and one heatmap
//!    per model or preset, with headers, per-cell labels and a colour bar, saved as PNG.
//!
//! Non-finite relevance (NaN, ±∞) is an error ([`Error::NonFinite`]), as are empty maps and
//! out-of-range parameters ([`Error::Heatmap`]); nothing here panics on user input.
//!
//! ```
//! use lrp::heatmap::{self, Colormap, Normalize, Reduce};
//! use ndarray::Array3;
//! // Relevance of a 3-channel 2×2 image: channel sums are 0.3, -0.6, 0.0, 1.2.
//! let r = Array3::from_shape_vec((3, 2, 2), vec![
//!     0.1, -0.2, 0.0, 0.4,
//!     0.1, -0.2, 0.0, 0.4,
//!     0.1, -0.2, 0.0, 0.4,
//! ]).unwrap();
//! let h = heatmap::reduce(r.view(), Reduce::Sum).unwrap();
//! let n = heatmap::normalize(&h, &Normalize::default()).unwrap();
//! assert!((n.scale - 1.2).abs() < 1e-6);
//! assert!((n.map[[0, 0]] - 0.25).abs() < 1e-6); // 0.3 / 1.2
//! let img = heatmap::render(&n.map, &Colormap::black_firered()).unwrap();
//! assert_eq!(img.get_pixel(0, 0).0, [255, 0, 0]); // x = 0.25: red
//! assert_eq!(img.get_pixel(1, 0).0, [0, 255, 255]); // x = -0.5: cyan
//! assert_eq!(img.get_pixel(0, 1).0, [0, 0, 0]); // x = 0: black
//! assert_eq!(img.get_pixel(1, 1).0, [255, 255, 255]); // x = 1: white
//! ```

mod colormap;
mod figure;
mod render;
mod text;

pub use colormap::Colormap;
pub use figure::{Cell, ColorbarTicks, Figure, Row};
pub use render::{
    decode_image, encode_png, load_image, overlay, render, render_upsampled, save_png, upsample,
    Upsample,
};
pub use text::{draw_text, fit as fit_text, text_width};

/// Largest side, in pixels, of a map or image this module makes ([`upsample`],
/// [`render_upsampled`]): the image loader's default side limit
/// ([`LoadLimits`](crate::preprocess::LoadLimits)), so any loaded face can get a heatmap of
/// its own size.
pub const MAX_SIDE: usize = 16384;

/// Most pixels of a map or image this module makes (2²⁶, 64 megapixels: 256 MiB of `f32`):
/// the image loader's default pixel limit.
pub const MAX_PIXELS: usize = 1 << 26;

/// Most rows a [`Figure`] draws; a figure of more images is refused (show a selection).
pub const MAX_FIGURE_ROWS: usize = 100;

/// Largest side of a [`Figure`] in pixels (PNG viewers and the `u32` geometry stay safe).
pub const MAX_FIGURE_SIDE: u64 = 32768;

/// Most pixels of a [`Figure`] (2²⁷: 384 MiB as 8-bit RGB).
pub const MAX_FIGURE_PIXELS: u64 = 1 << 27;

use crate::error::{Error, Result};
use crate::ops::Tensor;
use ndarray::{Array2, Array4, ArrayView3, Axis};

/// How to turn the `C` channels of a relevance map into one value per pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reduce {
    /// `H = Σ_c R_c` — the paper's choice; keeps the sign, so relevance for and against the
    /// class can cancel within a pixel.
    #[default]
    Sum,
    /// `H = sqrt(Σ_c R_c²)` — non-negative.
    L2Norm,
    /// `H = max_c |R_c|` — non-negative.
    MaxAbs,
}

/// Options of [`normalize`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Normalize {
    /// Clip `|H|` at this percentile of the `|H|` values (in `(0, 100]`, e.g. `99.5`) before
    /// dividing by it, so that a few extreme pixels do not make the rest of the map dark.
    /// Percentiles interpolate linearly between order statistics (numpy's default). `None`
    /// (the paper's) divides by `max|H|`.
    pub clip_percentile: Option<f32>,
}

impl Normalize {
    /// Clip at the `p`-th percentile of `|H|` (see [`Normalize::clip_percentile`]).
    pub fn percentile(p: f32) -> Self {
        Normalize {
            clip_percentile: Some(p),
        }
    }
}

/// A map scaled to `[-1, 1]` and the value that became `1`.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    /// `clamp(H, -s, s) / s`, or all zeros when `s = 0`.
    pub map: Array2<f32>,
    /// `s`: `max|H|`, or the clipping percentile of `|H|`; 0 for an all-zero map.
    pub scale: f32,
}

/// Fails with [`Error::NonFinite`] on the first NaN or infinity of `values`.
fn check_finite<'a>(what: &str, values: impl IntoIterator<Item = &'a f32>) -> Result<()> {
    match values.into_iter().enumerate().find(|(_, v)| !v.is_finite()) {
        Some((index, &value)) => Err(Error::NonFinite {
            what: what.to_string(),
            value,
            index,
        }),
        None => Ok(()),
    }
}

/// Reduces a `[C, H, W]` relevance map to a `[H, W]` map.
///
/// Errors: [`Error::Heatmap`] when `H` or `W` is 0 (a map with no pixels) or `C` is 0;
/// [`Error::NonFinite`] when the relevance holds NaN or infinity (index into `C·H·W`, row-major).
///
/// ```
/// use lrp::heatmap::{reduce, Reduce};
/// let r = ndarray::arr3(&[[[3.0_f32, -1.0]], [[4.0, 1.0]]]); // C = 2, H = 1, W = 2
/// assert_eq!(reduce(r.view(), Reduce::Sum).unwrap(), ndarray::arr2(&[[7.0, 0.0]]));
/// assert_eq!(reduce(r.view(), Reduce::L2Norm).unwrap(), ndarray::arr2(&[[5.0, 2.0_f32.sqrt()]]));
/// assert_eq!(reduce(r.view(), Reduce::MaxAbs).unwrap(), ndarray::arr2(&[[4.0, 1.0]]));
/// ```
pub fn reduce(relevance: ArrayView3<f32>, how: Reduce) -> Result<Array2<f32>> {
    let (c, h, w) = relevance.dim();
    if c == 0 || h == 0 || w == 0 {
        return Err(Error::Heatmap(format!(
            "relevance map [C, H, W] = [{c}, {h}, {w}] has no values"
        )));
    }
    check_finite("relevance", relevance.iter())?;
    let mut out = Array2::<f32>::zeros((h, w));
    for ch in relevance.axis_iter(Axis(0)) {
        match how {
            Reduce::Sum => out.zip_mut_with(&ch, |o, &r| *o += r),
            Reduce::L2Norm => out.zip_mut_with(&ch, |o, &r| *o += r * r),
            Reduce::MaxAbs => out.zip_mut_with(&ch, |o, &r| *o = o.max(r.abs())),
        }
    }
    if how == Reduce::L2Norm {
        out.mapv_inplace(f32::sqrt);
    }
    Ok(out)
}

/// Reduces every map of an explanation's relevance tensor `[n, k, C, H, W]` to `[n, k, H, W]`.
///
/// ```
/// use lrp::heatmap::{reduce_all, Reduce};
/// let r = lrp::Tensor::from_elem(ndarray::IxDyn(&[2, 1, 3, 4, 5]), 0.5);
/// let maps = reduce_all(&r, Reduce::Sum).unwrap();
/// assert_eq!(maps.shape(), &[2, 1, 4, 5]);
/// assert_eq!(maps[[1, 0, 3, 4]], 1.5);
/// ```
pub fn reduce_all(relevance: &Tensor, how: Reduce) -> Result<Array4<f32>> {
    let shape = relevance.shape().to_vec();
    let [n, k, c, h, w] = shape[..] else {
        return Err(Error::Heatmap(format!(
            "relevance tensor must be [n, k, C, H, W], got shape {shape:?}"
        )));
    };
    if n == 0 || k == 0 {
        return Err(Error::Heatmap(format!(
            "relevance tensor {shape:?} holds no maps"
        )));
    }
    let mut out = Array4::<f32>::zeros((n, k, h, w));
    for i in 0..n {
        for j in 0..k {
            let m = relevance
                .index_axis(Axis(0), i)
                .index_axis_move(Axis(0), j)
                .into_dimensionality::<ndarray::Ix3>()
                .map_err(|e| Error::Heatmap(format!("relevance map ({i}, {j}): {e}")))?;
            debug_assert_eq!(m.dim(), (c, h, w));
            let r = reduce(m, how).map_err(|e| match e {
                Error::NonFinite { value, index, .. } => Error::NonFinite {
                    what: format!("relevance of image {i}, map {j}"),
                    value,
                    index,
                },
                other => other,
            })?;
            out.index_axis_mut(Axis(0), i)
                .index_axis_mut(Axis(0), j)
                .assign(&r);
        }
    }
    Ok(out)
}

/// The `p`-th percentile (`p` in `[0, 100]`) of `values`, interpolating linearly between
/// order statistics (numpy's default method). `values` must be non-empty and finite.
pub(crate) fn percentile(values: &mut [f32], p: f32) -> f32 {
    values.sort_unstable_by(f32::total_cmp);
    let rank = (p / 100.0) as f64 * (values.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = (lo + 1).min(values.len() - 1);
    let frac = (rank - lo as f64) as f32;
    values[lo] + frac * (values[hi] - values[lo])
}

/// Scales a 2-D map symmetrically to `[-1, 1]`: `x = clamp(H, -s, s) / s`.
///
/// `s` is `max|H|` (the paper's), or with [`Normalize::clip_percentile`] `p` the `p`-th
/// percentile of `|H|` (falling back to `max|H|` when that percentile is 0 but the map is
/// not). An all-zero map gives `s = 0` and an all-zero result (rendered as the colour map's
/// centre), never NaN.
///
/// Errors: [`Error::Heatmap`] for an empty map or a percentile outside `(0, 100]`;
/// [`Error::NonFinite`] for NaN or infinity in the map.
///
/// ```
/// use lrp::heatmap::{normalize, Normalize};
/// let h = ndarray::arr2(&[[2.0_f32, -4.0], [1.0, 0.0]]);
/// let n = normalize(&h, &Normalize::default()).unwrap();
/// assert_eq!(n.scale, 4.0);
/// assert_eq!(n.map, ndarray::arr2(&[[0.5, -1.0], [0.25, 0.0]]));
/// // Clip |H| at its 50th percentile: |H| sorted = 0, 1, 2, 4 -> 1.5.
/// let c = normalize(&h, &Normalize::percentile(50.0)).unwrap();
/// assert_eq!(c.scale, 1.5);
/// assert_eq!(c.map, ndarray::arr2(&[[1.0, -1.0], [1.0 / 1.5, 0.0]]));
/// // All zero: stays zero.
/// let z = normalize(&ndarray::Array2::zeros((2, 2)), &Normalize::default()).unwrap();
/// assert_eq!((z.scale, z.map.sum()), (0.0, 0.0));
/// ```
pub fn normalize(map: &Array2<f32>, opts: &Normalize) -> Result<Normalized> {
    if map.is_empty() {
        return Err(Error::Heatmap(format!(
            "cannot normalise an empty map of shape {:?}",
            map.shape()
        )));
    }
    check_finite("heatmap", map.iter())?;
    let max = map.iter().fold(0.0_f32, |m, v| m.max(v.abs()));
    let mut scale = max;
    if let Some(p) = opts.clip_percentile {
        if !(p > 0.0 && p <= 100.0) {
            return Err(Error::Heatmap(format!(
                "clip percentile must be in (0, 100], got {p}"
            )));
        }
        let mut abs: Vec<f32> = map.iter().map(|v| v.abs()).collect();
        let q = percentile(&mut abs, p);
        if q > 0.0 {
            scale = q.min(max);
        }
    }
    if scale == 0.0 {
        return Ok(Normalized {
            map: Array2::zeros(map.raw_dim()),
            scale: 0.0,
        });
    }
    let out = map.mapv(|v| (v.clamp(-scale, scale) / scale).clamp(-1.0, 1.0));
    Ok(Normalized { map: out, scale })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr2, Array3};

    #[test]
    fn reduce_rejects_empty_and_nonfinite() {
        let e = reduce(Array3::<f32>::zeros((3, 0, 4)).view(), Reduce::Sum).unwrap_err();
        assert!(matches!(e, Error::Heatmap(_)), "{e}");
        let mut r = Array3::<f32>::zeros((2, 2, 2));
        r[[1, 0, 1]] = f32::NAN;
        match reduce(r.view(), Reduce::Sum).unwrap_err() {
            Error::NonFinite { index, value, .. } => {
                assert_eq!(index, 5);
                assert!(value.is_nan());
            }
            e => panic!("{e}"),
        }
        r[[1, 0, 1]] = f32::INFINITY;
        assert!(matches!(
            reduce(r.view(), Reduce::L2Norm),
            Err(Error::NonFinite { .. })
        ));
    }

    #[test]
    fn reduce_all_checks_rank_and_names_the_map() {
        let bad = Tensor::zeros(ndarray::IxDyn(&[1, 3, 4, 4]));
        assert!(matches!(
            reduce_all(&bad, Reduce::Sum),
            Err(Error::Heatmap(_))
        ));
        let mut r = Tensor::zeros(ndarray::IxDyn(&[2, 2, 1, 2, 2]));
        r[[1, 1, 0, 1, 0]] = f32::NEG_INFINITY;
        let e = reduce_all(&r, Reduce::Sum).unwrap_err();
        assert!(e.to_string().contains("image 1, map 1"), "{e}");
    }

    #[test]
    fn normalize_zero_map_is_zero_not_nan() {
        for opts in [Normalize::default(), Normalize::percentile(99.5)] {
            let n = normalize(&Array2::zeros((5, 7)), &opts).unwrap();
            assert_eq!(n.scale, 0.0);
            assert!(n.map.iter().all(|&v| v == 0.0));
        }
    }

    #[test]
    fn normalize_percentile_clips_outliers() {
        // 999 pixels at 1.0 and one at 1000: max-normalisation makes everything ~0.001,
        // clipping at the 99.5th percentile keeps them at 1.
        let mut h = Array2::<f32>::ones((10, 100));
        h[[3, 3]] = -1000.0;
        let plain = normalize(&h, &Normalize::default()).unwrap();
        assert_eq!(plain.scale, 1000.0);
        assert!((plain.map[[0, 0]] - 0.001).abs() < 1e-7);
        let clipped = normalize(&h, &Normalize::percentile(99.5)).unwrap();
        assert_eq!(clipped.scale, 1.0);
        assert_eq!(clipped.map[[0, 0]], 1.0);
        assert_eq!(clipped.map[[3, 3]], -1.0);
    }

    #[test]
    fn normalize_percentile_zero_falls_back_to_max() {
        let mut h = Array2::<f32>::zeros((10, 10));
        h[[0, 0]] = -2.0;
        let n = normalize(&h, &Normalize::percentile(50.0)).unwrap();
        assert_eq!(n.scale, 2.0);
        assert_eq!(n.map[[0, 0]], -1.0);
    }

    #[test]
    fn normalize_rejects_bad_inputs() {
        let h = arr2(&[[1.0_f32]]);
        for p in [0.0, -1.0, 100.5, f32::NAN] {
            assert!(matches!(
                normalize(&h, &Normalize::percentile(p)),
                Err(Error::Heatmap(_))
            ));
        }
        assert!(matches!(
            normalize(&Array2::zeros((0, 3)), &Normalize::default()),
            Err(Error::Heatmap(_))
        ));
        assert!(matches!(
            normalize(&arr2(&[[f32::NAN]]), &Normalize::default()),
            Err(Error::NonFinite { .. })
        ));
    }

    #[test]
    fn percentile_matches_numpy_linear() {
        // numpy.percentile([1, 2, 3, 4], [0, 25, 50, 99.5, 100]) = 1, 1.75, 2.5, 3.985, 4
        for (p, want) in [
            (0.0, 1.0),
            (25.0, 1.75),
            (50.0, 2.5),
            (99.5, 3.985),
            (100.0, 4.0),
        ] {
            let got = percentile(&mut [4.0, 1.0, 3.0, 2.0], p);
            assert!((got - want).abs() < 1e-6, "p = {p}: {got} != {want}");
        }
    }
}
