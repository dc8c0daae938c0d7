//! Colourising, upsampling, overlays and PNG input/output.

use super::check_finite;
use super::colormap::{to_u8, Colormap};
use crate::error::{Error, Result};
use image::{ImageEncoder, RgbImage};
use ndarray::Array2;
use std::path::Path;

/// How [`upsample`] fills the pixels between the map's samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Upsample {
    /// Each output pixel takes the map pixel it falls in — source row `⌊y · h / H⌋`, column
    /// `⌊x · w / W⌋` — so an integer factor gives equal square blocks: the paper's blocky look.
    #[default]
    Nearest,
    /// Bilinear interpolation between pixel centres (source coordinate
    /// `(y + ½) · h / H − ½`, clamped at the edges), as OpenCV and PIL resize.
    Bilinear,
}

fn check_map(map: &Array2<f32>) -> Result<()> {
    if map.is_empty() {
        return Err(Error::Heatmap(format!(
            "cannot render an empty map of shape {:?}",
            map.shape()
        )));
    }
    check_finite("heatmap", map.iter())
}

fn dims(map: &Array2<f32>) -> Result<(u32, u32)> {
    let (h, w) = map.dim();
    match (u32::try_from(w), u32::try_from(h)) {
        (Ok(w), Ok(h)) => Ok((w, h)),
        _ => Err(Error::Heatmap(format!("map of {h}×{w} is too large"))),
    }
}

/// Colours a normalised map (values in `[-1, 1]`, see [`normalize`](super::normalize);
/// values outside are clamped) pixel for pixel: an `H × W` map gives a `W × H` image.
///
/// Errors: [`Error::Heatmap`] for an empty map, [`Error::NonFinite`] for NaN or infinity.
///
/// ```
/// use lrp::heatmap::{render, Colormap};
/// let map = ndarray::arr2(&[[-1.0_f32, -0.25, 0.0, 0.25, 0.5]]);
/// let img = render(&map, &Colormap::black_firered()).unwrap();
/// assert_eq!((img.width(), img.height()), (5, 1));
/// let px: Vec<[u8; 3]> = img.pixels().map(|p| p.0).collect();
/// assert_eq!(px, [[255, 255, 255], [0, 0, 255], [0, 0, 0], [255, 0, 0], [255, 255, 0]]);
/// ```
pub fn render(map: &Array2<f32>, cmap: &Colormap) -> Result<RgbImage> {
    check_map(map)?;
    let (w, h) = dims(map)?;
    let mut img = RgbImage::new(w, h);
    for ((y, x), &v) in map.indexed_iter() {
        img.put_pixel(x as u32, y as u32, image::Rgb(cmap.rgb(v)));
    }
    Ok(img)
}

/// Resamples a map to `height × width` (e.g. from the network's 227 × 227 onto the original
/// face crop). Upsample the normalised values, then colour them: colours of interpolated
/// values stay on the colour map.
///
/// Errors: [`Error::Heatmap`] for an empty map, a zero target size or one beyond
/// [`MAX_SIDE`](super::MAX_SIDE) per side or [`MAX_PIXELS`](super::MAX_PIXELS) in all
/// (checked before anything is allocated), [`Error::NonFinite`].
///
/// ```
/// use lrp::heatmap::{upsample, Upsample};
/// let m = ndarray::arr2(&[[0.0_f32, 1.0]]);
/// let n = upsample(&m, 2, 4, Upsample::Nearest).unwrap();
/// assert_eq!(n, ndarray::arr2(&[[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]]));
/// let b = upsample(&m, 1, 4, Upsample::Bilinear).unwrap();
/// assert_eq!(b, ndarray::arr2(&[[0.0, 0.25, 0.75, 1.0]]));
/// ```
pub fn upsample(
    map: &Array2<f32>,
    height: usize,
    width: usize,
    how: Upsample,
) -> Result<Array2<f32>> {
    check_map(map)?;
    if height == 0 || width == 0 {
        return Err(Error::Heatmap(format!(
            "cannot resample to {height}×{width}"
        )));
    }
    let (side, pixels) = (super::MAX_SIDE, super::MAX_PIXELS);
    if height > side || width > side || height as u128 * width as u128 > pixels as u128 {
        return Err(Error::Heatmap(format!(
            "cannot resample to {height}×{width}: at most {side} pixels per side and {pixels} \
             in all"
        )));
    }
    let (h, w) = map.dim();
    let mut out = Array2::<f32>::zeros((height, width));
    match how {
        Upsample::Nearest => {
            let cols: Vec<usize> = (0..width).map(|x| x * w / width).collect();
            for y in 0..height {
                let sy = y * h / height;
                for (x, &sx) in cols.iter().enumerate() {
                    out[[y, x]] = map[[sy, sx]];
                }
            }
        }
        Upsample::Bilinear => {
            let coord = |d: usize, n_in: usize, n_out: usize| -> (usize, usize, f32) {
                let s = ((d as f64 + 0.5) * n_in as f64 / n_out as f64 - 0.5)
                    .clamp(0.0, (n_in - 1) as f64);
                let i0 = s.floor() as usize;
                (i0, (i0 + 1).min(n_in - 1), (s - i0 as f64) as f32)
            };
            let cols: Vec<_> = (0..width).map(|x| coord(x, w, width)).collect();
            for y in 0..height {
                let (y0, y1, fy) = coord(y, h, height);
                for (x, &(x0, x1, fx)) in cols.iter().enumerate() {
                    let top = map[[y0, x0]] + fx * (map[[y0, x1]] - map[[y0, x0]]);
                    let bot = map[[y1, x0]] + fx * (map[[y1, x1]] - map[[y1, x0]]);
                    out[[y, x]] = top + fy * (bot - top);
                }
            }
        }
    }
    Ok(out)
}

/// [`upsample`] then [`render`], with the errors of both (a target size beyond
/// [`MAX_SIDE`](super::MAX_SIDE) or [`MAX_PIXELS`](super::MAX_PIXELS) among them).
pub fn render_upsampled(
    map: &Array2<f32>,
    cmap: &Colormap,
    height: usize,
    width: usize,
    how: Upsample,
) -> Result<RgbImage> {
    render(&upsample(map, height, width, how)?, cmap)
}

/// Blends a coloured map onto an image of the same size with a per-pixel opacity
/// `α = max_alpha · |x|^γ` (`x` the normalised map value, clamped to `[-1, 1]`):
/// `out = (1 − α) · image + α · colour`, rounded. `γ = 0` gives a constant opacity
/// `max_alpha`; larger `γ` lets weak relevance fade into the image.
///
/// Errors: [`Error::Heatmap`] when the sizes differ (resample with [`upsample`] first), for
/// `γ < 0` or not finite, or `max_alpha` outside `[0, 1]`; [`Error::NonFinite`].
///
/// ```
/// use lrp::heatmap::{overlay, Colormap};
/// let img = image::RgbImage::from_pixel(2, 1, image::Rgb([100, 100, 100]));
/// let map = ndarray::arr2(&[[0.25_f32, 0.0]]);
/// let out = overlay(&img, &map, &Colormap::black_firered(), 0.5, 0.8).unwrap();
/// // x = .25: α = .8 · .5 = .4, colour red: (.6·100 + .4·255, .6·100, .6·100) = (162, 60, 60).
/// assert_eq!(out.get_pixel(0, 0).0, [162, 60, 60]);
/// assert_eq!(out.get_pixel(1, 0).0, [100, 100, 100]); // x = 0: α = 0
/// ```
pub fn overlay(
    image: &RgbImage,
    map: &Array2<f32>,
    cmap: &Colormap,
    opacity_gamma: f32,
    max_alpha: f32,
) -> Result<RgbImage> {
    check_map(map)?;
    let (w, h) = dims(map)?;
    if (image.width(), image.height()) != (w, h) {
        return Err(Error::Heatmap(format!(
            "overlay: map is {h}×{w} (H×W) but the image is {}×{}; upsample the map first",
            image.height(),
            image.width()
        )));
    }
    if !(opacity_gamma >= 0.0 && opacity_gamma.is_finite()) {
        return Err(Error::Heatmap(format!(
            "overlay: opacity gamma must be finite and ≥ 0, got {opacity_gamma}"
        )));
    }
    if !(0.0..=1.0).contains(&max_alpha) {
        return Err(Error::Heatmap(format!(
            "overlay: max alpha must be in [0, 1], got {max_alpha}"
        )));
    }
    let mut out = image.clone();
    for ((y, x), &v) in map.indexed_iter() {
        let v = v.clamp(-1.0, 1.0);
        let alpha = max_alpha * v.abs().powf(opacity_gamma);
        let c = cmap.rgb_f32(v);
        let p = out.get_pixel_mut(x as u32, y as u32);
        for (v, col) in p.0.iter_mut().zip(c) {
            *v = to_u8((1.0 - alpha) * (*v as f32 / 255.0) + alpha * col);
        }
    }
    Ok(out)
}

fn image_err(file: &str, e: impl std::fmt::Display) -> Error {
    Error::Image {
        file: file.to_string(),
        detail: e.to_string(),
    }
}

/// Encodes an image as PNG in memory.
pub fn encode_png(img: &RgbImage) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    image::codecs::png::PngEncoder::new(&mut buf)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| image_err("<memory>", e))?;
    Ok(buf)
}

/// Writes an image as a PNG file (whatever the extension says).
///
/// Errors: [`Error::Image`] naming the file when encoding or writing fails (e.g. a missing
/// directory) or the image is empty.
pub fn save_png(img: &RgbImage, path: impl AsRef<Path>) -> Result<()> {
    let file = path.as_ref().display().to_string();
    if img.width() == 0 || img.height() == 0 {
        return Err(image_err(&file, "image has no pixels"));
    }
    let bytes = encode_png(img).map_err(|e| image_err(&file, e))?;
    std::fs::write(path.as_ref(), bytes).map_err(|source| Error::Write { file, source })
}

/// Reads a PNG or JPEG file as 8-bit RGB, refusing images beyond the default
/// [`LoadLimits`](crate::preprocess::LoadLimits) before decoding their pixels (the same reader
/// as [`preprocess::load_rgb`](crate::preprocess::load_rgb)).
pub fn load_image(path: impl AsRef<Path>) -> Result<RgbImage> {
    crate::preprocess::load_rgb(path)
}

/// Decodes PNG or JPEG bytes as 8-bit RGB, with the limits of [`load_image`].
pub fn decode_image(bytes: &[u8]) -> Result<RgbImage> {
    crate::preprocess::decode_rgb(bytes, "<memory>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr2;

    #[test]
    fn empty_and_nonfinite_maps_are_errors() {
        let c = Colormap::black_firered();
        assert!(matches!(
            render(&Array2::zeros((0, 5)), &c),
            Err(Error::Heatmap(_))
        ));
        assert!(matches!(
            render(&arr2(&[[f32::NAN]]), &c),
            Err(Error::NonFinite { .. })
        ));
        assert!(matches!(
            upsample(&arr2(&[[1.0]]), 0, 3, Upsample::Nearest),
            Err(Error::Heatmap(_))
        ));
    }

    #[test]
    fn nearest_blocks_are_equal_for_integer_factors() {
        let m = arr2(&[[1.0_f32, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        let u = upsample(&m, 6, 9, Upsample::Nearest).unwrap();
        for y in 0..6 {
            for x in 0..9 {
                assert_eq!(u[[y, x]], m[[y / 3, x / 3]]);
            }
        }
        // Downsampling and identity work too.
        assert_eq!(upsample(&m, 2, 3, Upsample::Bilinear).unwrap(), m);
        assert_eq!(
            upsample(&m, 1, 1, Upsample::Nearest).unwrap(),
            arr2(&[[1.0]])
        );
    }

    #[test]
    fn bilinear_matches_hand_values() {
        // 2×2 -> 4×4, half-pixel centres: source coords -0.25 (clamped to 0), 0.25, 0.75, 1.25 (-> 1).
        let m = arr2(&[[0.0_f32, 1.0], [2.0, 3.0]]);
        let u = upsample(&m, 4, 4, Upsample::Bilinear).unwrap();
        let want = arr2(&[
            [0.0, 0.25, 0.75, 1.0],
            [0.5, 0.75, 1.25, 1.5],
            [1.5, 1.75, 2.25, 2.5],
            [2.0, 2.25, 2.75, 3.0],
        ]);
        assert!(
            u.iter().zip(want.iter()).all(|(a, b)| (a - b).abs() < 1e-6),
            "{u}"
        );
    }

    #[test]
    fn overlay_checks_parameters() {
        let img = RgbImage::new(3, 2);
        let c = Colormap::black_firered();
        let m = Array2::zeros((2, 3));
        assert!(overlay(&img, &m, &c, 1.0, 1.0).is_ok());
        assert!(overlay(&img, &Array2::zeros((3, 2)), &c, 1.0, 1.0).is_err());
        assert!(overlay(&img, &m, &c, -1.0, 1.0).is_err());
        assert!(overlay(&img, &m, &c, f32::NAN, 1.0).is_err());
        assert!(overlay(&img, &m, &c, 1.0, 1.5).is_err());
        // Full opacity at |x| = 1 shows the colour map exactly.
        let m = arr2(&[[1.0_f32, -0.25, 0.5], [0.0, 0.25, -0.5]]);
        let o = overlay(&img, &m, &c, 0.0, 1.0).unwrap();
        assert_eq!(o, render(&m, &c).unwrap());
    }

    #[test]
    fn png_round_trip_and_errors() {
        let m = arr2(&[[1.0_f32, -0.25, 0.5], [0.0, 0.25, -0.5]]);
        let img = render(&m, &Colormap::from_name("jet").unwrap()).unwrap();
        let back = decode_image(&encode_png(&img).unwrap()).unwrap();
        assert_eq!(back, img);
        let e = save_png(&img, "/nonexistent-dir/x.png").unwrap_err();
        assert!(e.to_string().contains("/nonexistent-dir/x.png"), "{e}");
        assert!(matches!(
            decode_image(b"not a png"),
            Err(Error::Image { .. })
        ));
        assert!(save_png(&RgbImage::new(0, 0), "/tmp/never.png").is_err());
    }
}
