//! The input conventions of face-api (TensorFlow.js): zero padding to a square and
//! `tf.image.resizeBilinear` with `alignCorners = false, halfPixelCenters = false`.
//!
//! face-api's `NetInput.toBatchTensor(size, centre)` pads every image with zeros (black) to a
//! square, centred for its age/gender network and at the bottom/right only for its face
//! detector ([`SquarePadding`]), then resizes the square to `size`×`size` with tfjs's bilinear
//! resize. That resize is **not** the half-pixel one of Pillow, OpenCV or torchvision
//! ([`resize_bilinear`](super::resize_bilinear)): output pixel `d` samples the input at
//! `s = d · in/out` (no half-pixel offset, no antialiasing when shrinking) between
//! `i0 = floor(s)` and `i1 = min(in − 1, ceil(s))`. The arithmetic here is tfjs-backend-cpu's
//! (double precision, stored as `f32`), so the results are bit-identical to it; the tests compare
//! them with `resize_bilinear_tfjs` of face-api's `preprocess.py`
//! (`tests/face_api/generate.py`).
//!
//! ```
//! use lrp::preprocess::{tfjs_square, Rgb, RgbImage, SquarePadding};
//! // A 4×2 picture (wider than tall) padded to 4×4 and resized to 2×2.
//! let image = RgbImage::from_fn(4, 2, |x, _| Rgb([[0, 40, 80, 120][x as usize], 0, 0]));
//! let hwc = tfjs_square(&image, 2, SquarePadding::BottomRight).unwrap();
//! assert_eq!(hwc.shape(), &[2, 2, 3]);
//! // Output (row 0, column 1) samples the padded square at (0, 2): pixel 80, no blending.
//! assert_eq!(hwc[[0, 1, 0]], 80.0);
//! // Row 1 samples padded row 2, which is black padding.
//! assert_eq!(hwc[[1, 0, 0]], 0.0);
//! // Centred: the 2 padding rows go 1 before, 1 after; row 1 samples image row 1.
//! let centred = tfjs_square(&image, 2, SquarePadding::Centred).unwrap();
//! assert_eq!(centred[[0, 1, 0]], 0.0);
//! assert_eq!(centred[[1, 1, 0]], 80.0);
//! ```

use crate::error::{Error, Result};
use crate::heatmap::{MAX_PIXELS, MAX_SIDE};
use image::RgbImage;
use ndarray::Array3;

/// Where [`pad_to_square`] and [`tfjs_square`] put the zero padding of the shorter side
/// (face-api's `padToSquare(image, isCenterImage)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SquarePadding {
    /// The image centred, as face-api's age/gender (and landmark, recognition) networks take
    /// their face crops: of a difference `d`, `Math.round(d / 2)` pixels go after (bottom or
    /// right) and the rest before (an odd `d` puts the extra pixel after).
    Centred,
    /// All padding after the image (bottom or right), as face-api's face detectors take the
    /// whole photo; the box decoding undoes it (`lrp::faces`).
    BottomRight,
}

impl SquarePadding {
    /// `(before, after)` padding for a side shorter than the square by `diff` pixels.
    ///
    /// ```
    /// use lrp::preprocess::SquarePadding;
    /// assert_eq!(SquarePadding::Centred.split(5), (2, 3));
    /// assert_eq!(SquarePadding::Centred.split(4), (2, 2));
    /// assert_eq!(SquarePadding::BottomRight.split(5), (0, 5));
    /// ```
    pub fn split(self, diff: u32) -> (u32, u32) {
        match self {
            // Math.round(diff / 2) rounds half up: (diff + 1) / 2 in integers.
            SquarePadding::Centred => {
                let after = diff.div_ceil(2);
                (diff - after, after)
            }
            SquarePadding::BottomRight => (0, diff),
        }
    }

    /// The offset `(x, y)` of a `width`×`height` image inside its padded square.
    fn offset(self, width: u32, height: u32) -> (u32, u32) {
        if width >= height {
            (0, self.split(width - height).0)
        } else {
            (self.split(height - width).0, 0)
        }
    }
}

/// Refuses output sizes that are zero or beyond [`MAX_SIDE`] / [`MAX_PIXELS`].
fn check_size(what: &str, width: u64, height: u64) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(Error::Preprocess(format!(
            "cannot {what} to {width}×{height}: both sides must be at least 1"
        )));
    }
    if width > MAX_SIDE as u64 || height > MAX_SIDE as u64 || width * height > MAX_PIXELS as u64 {
        return Err(Error::Preprocess(format!(
            "cannot {what} to {width}×{height}: at most {MAX_SIDE} pixels per side and \
             {MAX_PIXELS} pixels in all"
        )));
    }
    Ok(())
}

/// Pads `image` with black (zero) pixels to a square of side `max(width, height)`, placed as
/// `padding` says (face-api's `padToSquare`). A square image is returned unchanged.
///
/// Errors with [`Error::Preprocess`] if the image is empty or the square would exceed
/// [`MAX_SIDE`] or [`MAX_PIXELS`] (a 1×20000 strip); [`tfjs_square`] pads and resizes without
/// building the square.
///
/// ```
/// use lrp::preprocess::{pad_to_square, Rgb, RgbImage, SquarePadding};
/// let image = RgbImage::from_pixel(2, 5, Rgb([9, 9, 9]));
/// let sq = pad_to_square(&image, SquarePadding::Centred).unwrap();
/// assert_eq!(sq.dimensions(), (5, 5));
/// // 3 columns of padding: 1 before, Math.round(1.5) = 2 after.
/// let row: Vec<u8> = (0..5).map(|x| sq.get_pixel(x, 0)[0]).collect();
/// assert_eq!(row, [0, 9, 9, 0, 0]);
/// ```
pub fn pad_to_square(image: &RgbImage, padding: SquarePadding) -> Result<RgbImage> {
    let (w, h) = image.dimensions();
    let side = w.max(h);
    check_size("pad to a square", u64::from(side), u64::from(side))?;
    if w == h {
        return Ok(image.clone());
    }
    let (ox, oy) = padding.offset(w, h);
    let mut out = RgbImage::new(side, side);
    image::imageops::replace(&mut out, image, i64::from(ox), i64::from(oy));
    Ok(out)
}

/// One axis of the tfjs resize: for each output index, the two input indices and the weight
/// of the second.
fn tfjs_axis(in_size: usize, out_size: usize) -> Vec<(usize, usize, f64)> {
    let scale = in_size as f64 / out_size as f64;
    (0..out_size)
        .map(|d| {
            let s = scale * d as f64;
            let i0 = s.floor().max(0.0);
            let frac = s - i0;
            let i1 = (s.ceil() as usize).min(in_size - 1);
            (i0 as usize, i1, frac)
        })
        .collect()
}

/// The tfjs resize of the `in_w`×`in_h` picture whose pixels `pixel(x, y)` returns (an RGB
/// triple as `f64`), to an H×W×3 array.
fn resize_with(
    in_w: usize,
    in_h: usize,
    out_w: usize,
    out_h: usize,
    pixel: impl Fn(usize, usize) -> [f64; 3],
) -> Array3<f32> {
    let cols = tfjs_axis(in_w, out_w);
    let rows = tfjs_axis(in_h, out_h);
    let mut out = Array3::<f32>::zeros((out_h, out_w, 3));
    for (y, &(r0, r1, rf)) in rows.iter().enumerate() {
        for (x, &(c0, c1, cf)) in cols.iter().enumerate() {
            let (tl, tr) = (pixel(c0, r0), pixel(c1, r0));
            let (bl, br) = (pixel(c0, r1), pixel(c1, r1));
            for c in 0..3 {
                let top = tl[c] + (tr[c] - tl[c]) * cf;
                let bottom = bl[c] + (br[c] - bl[c]) * cf;
                out[[y, x, c]] = (top + (bottom - top) * rf) as f32;
            }
        }
    }
    out
}

/// `tf.image.resizeBilinear(image, [height, width], alignCorners = false,
/// halfPixelCenters = false)` of an 8-bit RGB image, as tfjs-backend-cpu computes it: an
/// H×W×3 `f32` array of pixel values (0..255, fractional between pixels).
///
/// Output pixel `(x, y)` samples the input at `(x · in_w / width, y · in_h / height)`: no
/// half-pixel offset, and no antialiasing when shrinking (each output pixel blends at most
/// 2×2 input pixels).
///
/// Errors with [`Error::Preprocess`] if `image` is empty or the output size is 0 or beyond
/// [`MAX_SIDE`] / [`MAX_PIXELS`].
///
/// ```
/// use lrp::preprocess::{resize_bilinear_tfjs, Rgb, RgbImage};
/// let row = RgbImage::from_fn(4, 1, |x, _| Rgb([[0, 100, 200, 255][x as usize], 0, 0]));
/// // Shrinking 4 → 2 samples x = 0 and x = 2: no blending at all.
/// let half = resize_bilinear_tfjs(&row, 2, 1).unwrap();
/// assert_eq!((half[[0, 0, 0]], half[[0, 1, 0]]), (0.0, 200.0));
/// // Growing 4 → 8 samples x = 0, 0.5, 1, …, 3.5; past the last pixel it repeats.
/// let double = resize_bilinear_tfjs(&row, 8, 1).unwrap();
/// assert_eq!(double[[0, 1, 0]], 50.0);
/// assert_eq!(double[[0, 7, 0]], 255.0);
/// ```
pub fn resize_bilinear_tfjs(image: &RgbImage, width: u32, height: u32) -> Result<Array3<f32>> {
    check_size("resize", u64::from(width), u64::from(height))?;
    let (in_w, in_h) = image.dimensions();
    if in_w == 0 || in_h == 0 {
        return Err(Error::Preprocess(format!(
            "cannot resize an empty {in_w}×{in_h} image"
        )));
    }
    Ok(resize_with(
        in_w as usize,
        in_h as usize,
        width as usize,
        height as usize,
        |x, y| {
            let p = image.get_pixel(x as u32, y as u32).0;
            [f64::from(p[0]), f64::from(p[1]), f64::from(p[2])]
        },
    ))
}

/// face-api's `NetInput.toBatchTensor(size, isCenterInputs)` for one image: zero padding to a
/// square ([`pad_to_square`] with `padding`), then [`resize_bilinear_tfjs`] to `size`×`size`
/// unless the square already has that side. Returns H×W×3 `f32` pixel values (0..255); the
/// networks' normalisation comes after ([`tfjs_normalize`]).
///
/// The padded square is never built: its pixels are read from `image` or are zero, so a thin
/// strip of any length costs only the `size`×`size` output.
///
/// Errors with [`Error::Preprocess`] if `image` is empty or `size` is 0 or beyond
/// [`MAX_SIDE`].
pub fn tfjs_square(image: &RgbImage, size: u32, padding: SquarePadding) -> Result<Array3<f32>> {
    check_size("resize", u64::from(size), u64::from(size))?;
    let (w, h) = image.dimensions();
    if w == 0 || h == 0 {
        return Err(Error::Preprocess(format!(
            "cannot pad and resize an empty {w}×{h} image"
        )));
    }
    let side = w.max(h) as usize;
    let (ox, oy) = padding.offset(w, h);
    let (ox, oy, w, h) = (ox as usize, oy as usize, w as usize, h as usize);
    let size = size as usize;
    Ok(resize_with(side, side, size, size, |x, y| {
        if x < ox || y < oy || x - ox >= w || y - oy >= h {
            [0.0; 3]
        } else {
            let p = image.get_pixel((x - ox) as u32, (y - oy) as u32).0;
            [f64::from(p[0]), f64::from(p[1]), f64::from(p[2])]
        }
    }))
}

/// face-api's normalisation of an H×W×3 RGB array (e.g. from [`tfjs_square`]):
/// `(pixel − mean) / divisor` per channel in `f32`, returned as C×H×W (the layout the ONNX
/// exports take). face-api's age/gender network uses mean `[122.782, 117.001, 104.298]`, its
/// tiny face detector `[117.001, 114.697, 97.404]`, both with divisor 255.
///
/// ```
/// use ndarray::Array3;
/// let hwc = Array3::from_shape_fn((1, 2, 3), |(_, x, c)| (100 * c + x) as f32);
/// let chw = lrp::preprocess::tfjs_normalize(&hwc, [1.0, 2.0, 3.0], 255.0);
/// assert_eq!(chw.shape(), &[3, 1, 2]);
/// assert_eq!(chw[[2, 0, 1]], (201.0 - 3.0) / 255.0);
/// ```
pub fn tfjs_normalize(hwc: &Array3<f32>, mean: [f32; 3], divisor: f32) -> Array3<f32> {
    let (h, w, c) = hwc.dim();
    Array3::from_shape_fn((c, h, w), |(ch, y, x)| {
        (hwc[[y, x, ch]] - mean[ch.min(2)]) / divisor
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn square_without_building_it_equals_padding_then_resizing() {
        let img = RgbImage::from_fn(7, 12, |x, y| Rgb([(x * 30) as u8, (y * 20) as u8, 5]));
        for padding in [SquarePadding::Centred, SquarePadding::BottomRight] {
            let sq = pad_to_square(&img, padding).unwrap();
            for size in [5, 12, 31] {
                assert_eq!(
                    tfjs_square(&img, size, padding).unwrap(),
                    resize_bilinear_tfjs(&sq, size, size).unwrap(),
                    "{padding:?} {size}"
                );
            }
        }
    }

    #[test]
    fn same_size_is_identity() {
        let img = RgbImage::from_fn(6, 6, |x, y| Rgb([(x * 40) as u8, (y * 40) as u8, 200]));
        let r = resize_bilinear_tfjs(&img, 6, 6).unwrap();
        for (x, y, p) in img.enumerate_pixels() {
            for c in 0..3 {
                assert_eq!(r[[y as usize, x as usize, c]], f32::from(p[c]));
            }
        }
    }

    #[test]
    fn bad_sizes_are_errors() {
        let img = RgbImage::new(3, 2);
        assert!(resize_bilinear_tfjs(&img, 0, 4).is_err());
        assert!(resize_bilinear_tfjs(&img, 20000, 4).is_err());
        assert!(tfjs_square(&img, 0, SquarePadding::Centred).is_err());
        assert!(tfjs_square(&RgbImage::new(0, 3), 4, SquarePadding::Centred).is_err());
        assert!(pad_to_square(&RgbImage::new(1, 20000), SquarePadding::Centred).is_err());
    }
}
