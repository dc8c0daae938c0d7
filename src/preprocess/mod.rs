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
//! - [`tfjs_square`], [`pad_to_square`], [`resize_bilinear_tfjs`] and [`tfjs_normalize`] are
//!   face-api's (TensorFlow.js) conventions: zero padding to a square, centred or at the
//!   bottom/right ([`SquarePadding`]), and `tf.image.resizeBilinear` without half-pixel centres.
//! - [`to_tensor`] batches faces into the N×3×H×W [`Tensor`](crate::Tensor) that
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
//!
//! The module is split by concern: [`decode`] (files, limits, decoding), [`face`] (face boxes
//! and crops), [`resize`] (Pillow's bilinear resampling), [`tfjs`] (face-api's padding and resize) and [`input`] (the models' input
//! conventions and batching); everything is re-exported here.

pub mod decode;
pub mod face;
pub mod input;
pub mod resize;
pub mod tfjs;

pub use decode::{
    decode_rgb, decode_rgb_with, image_files, is_image_path, load_rgb, load_rgb_with, LoadLimits,
};
pub use face::{crop, load_face, FaceBox};
pub use image::{Rgb, RgbImage};
pub use input::{
    to_tensor, Preprocess, FACE_API_DIVISOR, FACE_API_MEAN, IMAGENET_MEAN, IMAGENET_STD,
    ONNX_FACE_DIVISOR, ONNX_FACE_MEAN,
};
pub use resize::resize_bilinear;
pub use tfjs::{pad_to_square, resize_bilinear_tfjs, tfjs_normalize, tfjs_square, SquarePadding};
