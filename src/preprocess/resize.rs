//! Resampling: Pillow's `ImagingResample` for 8-bit images with the bilinear filter, and the
//! paper's edge-replicating square padding.

use crate::error::{Error, Result};
use image::RgbImage;

/// Fixed-point precision of Pillow's 8-bit resampling coefficients (`PRECISION_BITS`).
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// One axis of a separable resampling: for every output position the first input index, the
/// number of taps, and the taps in fixed point.
struct AxisKernel {
    start: Vec<usize>,
    taps: Vec<usize>,
    ksize: usize,
    weights: Vec<i32>,
}

/// Pillow's `precompute_coeffs` with the triangle (bilinear) filter, support 1, followed by
/// `normalize_coeffs_8bpc`. When downscaling, the filter is stretched by the scale factor
/// (antialiasing); sample centres sit at `(i + 0.5) · scale` in input coordinates.
fn bilinear_kernel(in_size: usize, out_size: usize) -> AxisKernel {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filterscale; // the triangle's support is 1
    let ksize = support.ceil() as usize * 2 + 1;
    let mut start = Vec::with_capacity(out_size);
    let mut taps = Vec::with_capacity(out_size);
    let mut weights = vec![0i32; out_size * ksize];
    let mut k = vec![0f64; ksize];
    for (xx, row) in weights.chunks_exact_mut(ksize).enumerate() {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        // `as i64` truncates towards zero like the C cast in Pillow.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64).max(0) as usize;
        let n = xmax.saturating_sub(xmin).min(ksize);
        let mut total = 0.0;
        for (x, kx) in k.iter_mut().enumerate().take(n) {
            let t = ((x + xmin) as f64 - center + 0.5) * ss;
            let w = (1.0 - t.abs()).max(0.0);
            *kx = w;
            total += w;
        }
        for (kx, out) in k.iter().zip(row.iter_mut()).take(n) {
            let w = if total != 0.0 { kx / total } else { *kx };
            let fixed = w * f64::from(1u32 << PRECISION_BITS);
            *out = if w < 0.0 {
                (fixed - 0.5) as i32
            } else {
                (fixed + 0.5) as i32
            };
        }
        start.push(xmin);
        taps.push(n);
    }
    AxisKernel {
        start,
        taps,
        ksize,
        weights,
    }
}

/// Pillow's `clip8`: fixed point back to a byte, saturating.
#[inline]
fn clip8(acc: i64) -> u8 {
    if acc >= (1i64 << PRECISION_BITS << 8) {
        255
    } else if acc <= 0 {
        0
    } else {
        (acc >> PRECISION_BITS) as u8
    }
}

/// Horizontal pass over rows of `src` (`src_w` pixels × 3 bytes each).
fn resample_rows(src: &[u8], src_w: usize, height: usize, k: &AxisKernel) -> Vec<u8> {
    let out_w = k.start.len();
    let mut out = vec![0u8; out_w * height * 3];
    for (src_row, out_row) in src
        .chunks_exact(src_w * 3)
        .zip(out.chunks_exact_mut(out_w * 3))
        .take(height)
    {
        for (xx, px) in out_row.chunks_exact_mut(3).enumerate() {
            let weights = &k.weights[xx * k.ksize..xx * k.ksize + k.taps[xx]];
            let first = k.start[xx];
            let mut acc = [1i64 << (PRECISION_BITS - 1); 3];
            for (i, &w) in weights.iter().enumerate() {
                let p = &src_row[(first + i) * 3..(first + i) * 3 + 3];
                for c in 0..3 {
                    acc[c] += i64::from(p[c]) * i64::from(w);
                }
            }
            for c in 0..3 {
                px[c] = clip8(acc[c]);
            }
        }
    }
    out
}

/// Vertical pass: output row `yy` mixes rows of `src` (`width` pixels × 3 bytes each).
fn resample_cols(src: &[u8], width: usize, k: &AxisKernel) -> Vec<u8> {
    let out_h = k.start.len();
    let stride = width * 3;
    let mut out = vec![0u8; stride * out_h];
    for (yy, out_row) in out.chunks_exact_mut(stride).enumerate() {
        let weights = &k.weights[yy * k.ksize..yy * k.ksize + k.taps[yy]];
        let first = k.start[yy];
        for (x, out_byte) in out_row.iter_mut().enumerate() {
            let mut acc = 1i64 << (PRECISION_BITS - 1);
            for (i, &w) in weights.iter().enumerate() {
                acc += i64::from(src[(first + i) * stride + x]) * i64::from(w);
            }
            *out_byte = clip8(acc);
        }
    }
    out
}

/// Resizes to `width`×`height` exactly as Pillow's `image.resize((width, height),
/// Image.BILINEAR)` does for an 8-bit RGB image (Pillow ≥ 7, no `reducing_gap`).
///
/// That is not textbook bilinear interpolation: Pillow convolves with a triangle filter whose
/// support grows with the downscaling factor (`max(1, in/out)` input pixels on either side of
/// each sample centre `(i + 0.5)·in/out`), so downscaling averages over the whole footprint
/// instead of aliasing. It runs two separable passes with 22-bit fixed-point weights, rounding
/// to `u8` after each; this port does the same integer arithmetic and so reproduces Pillow's
/// bytes. The pass order follows Pillow 13.0 (checked against it): horizontal first, unless
/// the height shrinks by more than twice as many pixels as the width, then vertical first.
/// Pillow releases before that change always ran the horizontal pass first; in the cases where
/// the order differs, results differ by at most one grey level in some pixels.
///
/// Errors with [`Error::Preprocess`] if `width` or `height` is 0.
///
/// ```
/// use lrp::preprocess::{resize_bilinear, Rgb, RgbImage};
/// // Downscaling 4 → 2 stretches the triangle to 2 input pixels on either side of each sample
/// // centre (x = 1 and x = 3): weights 3/7, 3/7, 1/7 over pixels 0, 1, 2, and 1/7, 3/7, 3/7 over
/// // pixels 1, 2, 3. Pillow gives the same bytes.
/// let row = RgbImage::from_fn(4, 1, |x, _| Rgb([[0, 100, 200, 255][x as usize], 0, 0]));
/// let half = resize_bilinear(&row, 2, 1).unwrap();
/// assert_eq!(half.get_pixel(0, 0)[0], 71); // (3·0 + 3·100 + 1·200) / 7 = 71.4
/// assert_eq!(half.get_pixel(1, 0)[0], 209); // (1·100 + 3·200 + 3·255) / 7 = 209.3
/// ```
pub fn resize_bilinear(image: &RgbImage, width: u32, height: u32) -> Result<RgbImage> {
    if width == 0 || height == 0 {
        return Err(Error::Preprocess(format!(
            "cannot resize to {width}×{height}: both sides must be at least 1"
        )));
    }
    let (in_w, in_h) = (image.width() as usize, image.height() as usize);
    if in_w == 0 || in_h == 0 {
        return Err(Error::Preprocess(format!(
            "cannot resize an empty {in_w}×{in_h} image"
        )));
    }
    let (out_w, out_h) = (width as usize, height as usize);
    let mut data: Vec<u8> = image.as_raw().clone();
    // Pillow 13 runs the vertical pass first when the height shrinks by more than twice as
    // many pixels as the width does (`horizontal_first` in `ImagingResampleInner`); the order
    // matters because each pass rounds to bytes.
    let (dh, dw) = (in_h as i64 - out_h as i64, in_w as i64 - out_w as i64);
    let horizontal_first = !(dh > 0 && dh > 2 * dw);
    let horizontal =
        |data: &[u8], rows: usize| resample_rows(data, in_w, rows, &bilinear_kernel(in_w, out_w));
    let vertical =
        |data: &[u8], cols: usize| resample_cols(data, cols, &bilinear_kernel(in_h, out_h));
    if horizontal_first {
        if out_w != in_w {
            data = horizontal(&data, in_h);
        }
        if out_h != in_h {
            data = vertical(&data, out_w);
        }
    } else {
        if out_h != in_h {
            data = vertical(&data, in_w);
        }
        if out_w != in_w {
            data = horizontal(&data, out_h);
        }
    }
    RgbImage::from_raw(width, height, data).ok_or_else(|| {
        Error::Preprocess(format!(
            "internal: resized buffer does not fit {width}×{height}"
        ))
    })
}

/// Pads `image` to a square by repeating its edge rows or columns, the image centred (the
/// extra pixel of an odd difference going after it): how the paper squared the Adience faces
/// before training and how its heatmap code fills the network input.
pub(crate) fn pad_to_square(image: &RgbImage) -> RgbImage {
    let (w, h) = image.dimensions();
    let side = w.max(h);
    let (off_x, off_y) = ((side - w) / 2, (side - h) / 2);
    RgbImage::from_fn(side, side, |x, y| {
        let sx = x.saturating_sub(off_x).min(w - 1);
        let sy = y.saturating_sub(off_y).min(h - 1);
        *image.get_pixel(sx, sy)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn kernel_rows_sum_to_one_in_fixed_point() {
        for (i, o) in [(110, 32), (7, 40), (5, 5), (1, 9), (1000, 3)] {
            let k = bilinear_kernel(i, o);
            for xx in 0..o {
                let sum: i64 = k.weights[xx * k.ksize..][..k.taps[xx]]
                    .iter()
                    .map(|&w| i64::from(w))
                    .sum();
                assert!(
                    (sum - (1 << PRECISION_BITS)).abs() <= k.taps[xx] as i64,
                    "{i}->{o}"
                );
                assert!(k.start[xx] + k.taps[xx] <= i);
            }
        }
    }

    #[test]
    fn same_size_is_identity_and_constant_stays_constant() {
        let img = RgbImage::from_fn(9, 7, |x, y| Rgb([(x * 20) as u8, (y * 30) as u8, 77]));
        assert_eq!(resize_bilinear(&img, 9, 7).unwrap(), img);
        let flat = RgbImage::from_pixel(13, 5, Rgb([200, 3, 255]));
        for (w, h) in [(4, 4), (30, 2), (1, 1), (13, 11)] {
            let r = resize_bilinear(&flat, w, h).unwrap();
            assert!(r.pixels().all(|p| *p == Rgb([200, 3, 255])), "{w}×{h}");
        }
        assert!(resize_bilinear(&flat, 0, 3).is_err());
    }

    #[test]
    fn pad_to_square_replicates_edges() {
        let img = RgbImage::from_fn(2, 5, |x, y| Rgb([x as u8, y as u8, 0]));
        let sq = pad_to_square(&img);
        assert_eq!(sq.dimensions(), (5, 5));
        // offset (5 − 2) / 2 = 1 column before, 2 after.
        let col: Vec<u8> = (0..5).map(|x| sq.get_pixel(x, 3)[0]).collect();
        assert_eq!(col, [0, 0, 1, 1, 1]);
        assert_eq!(sq.get_pixel(4, 3)[1], 3);
    }
}
