//! Face boxes and crops: [`FaceBox`] `(left, top, right, bottom)` with PIL's conventions,
//! [`crop`] and [`load_face`].

use super::load_rgb;
use crate::error::{Error, Result};
use image::RgbImage;
use std::path::Path;
use std::str::FromStr;

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
/// [`Preprocess::OnnxFace`](super::Preprocess::OnnxFace) and
/// [`Preprocess::Generic`](super::Preprocess::Generic) inputs over (see
/// [`Preprocess::display_image`](super::Preprocess::display_image)).
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
