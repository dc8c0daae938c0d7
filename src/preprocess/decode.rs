//! Reading image files: [`LoadLimits`] checked against the header before any pixel buffer is
//! allocated, PNG and JPEG decoding to 8-bit RGB, and expanding folders into image files.

use crate::error::{Error, Result};
use image::{ImageError, ImageFormat, ImageReader, RgbImage};
use std::io::Cursor;
use std::path::{Path, PathBuf};

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
    let bytes = crate::files::read_bounded(path, crate::files::MAX_IMAGE_BYTES, "an image")?;
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
/// assert_eq!(names, ["astronaut.png", "grace_hopper.jpg", "group_photo.jpg"]);
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
