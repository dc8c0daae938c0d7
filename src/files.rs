//! Reading files with a size bound: every file the library and the command line read
//! (models, weights, mean images, labels, images, `.npy` inputs) goes through
//! [`read_bounded`], so that no file, however large it is or claims to be, makes the process
//! allocate more than a set limit.
//!
//! For a regular file the size is checked from its metadata before anything is read; a
//! file that is not regular (a pipe, `/dev/zero`, a character device) is read through a
//! bounded `take` of at most the smaller of the limit and [`MAX_STREAM_BYTES`]. Going over
//! either is [`Error::FileTooLarge`], naming the file, what it was read as, and the limit.
//!
//! ```
//! use lrp::files::{read_bounded, MAX_IMAGE_BYTES};
//! let bytes = read_bounded("assets/astronaut.png", MAX_IMAGE_BYTES, "an image").unwrap();
//! assert!(bytes.starts_with(b"\x89PNG"));
//! // A device without end stops at the bound instead of filling the memory.
//! # #[cfg(unix)] {
//! let err = read_bounded("/dev/zero", 1 << 20, "an image").unwrap_err();
//! assert!(matches!(err, lrp::Error::FileTooLarge { .. }));
//! assert_eq!(
//!     err.to_string(),
//!     "/dev/zero: more than 1048576 bytes (the limit for an image); \
//!      not a regular file, read up to the limit"
//! );
//! # }
//! ```

use crate::error::{Error, Result};
use crate::Tensor;
use std::io::Read;
use std::path::Path;

/// Largest model or weights file read (ONNX model, its external data, `.caffemodel`): 4 GiB
/// (protobuf messages themselves stop at 2 GiB; VGG-16's caffemodel is 528 MB).
pub const MAX_MODEL_BYTES: u64 = 4 << 30;

/// Largest text file read (Caffe prototxt, labels): 64 MiB.
pub const MAX_TEXT_BYTES: u64 = 64 << 20;

/// Largest mean image file read (`mean.binaryproto`): 256 MiB (the paper's are 0.8 MB).
pub const MAX_MEAN_BYTES: u64 = 256 << 20;

/// Largest image file read (PNG, JPEG): 256 MiB; the decoded size has its own limits
/// ([`LoadLimits`](crate::preprocess::LoadLimits)).
pub const MAX_IMAGE_BYTES: u64 = 256 << 20;

/// Largest `.npy` input read: 4 GiB.
pub const MAX_NPY_BYTES: u64 = 4 << 30;

/// Largest amount read from a file that is not a regular file (a pipe or a device, whose
/// size is unknown before reading), whatever the limit of its kind: 256 MiB.
pub const MAX_STREAM_BYTES: u64 = 256 << 20;

/// The bytes of `path`, at most `limit` of them; `kind` names what the file is read as
/// (`"a model file"`, `"an image"`) in the error. See the [module documentation](self).
pub fn read_bounded(path: impl AsRef<Path>, limit: u64, kind: &'static str) -> Result<Vec<u8>> {
    let path = path.as_ref();
    let file = || path.display().to_string();
    let io = |source| Error::Io {
        file: file(),
        source,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let meta = f.metadata().map_err(io)?;
    if meta.is_dir() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "is a directory",
        )));
    }
    let regular = meta.is_file();
    let limit = if regular {
        limit
    } else {
        limit.min(MAX_STREAM_BYTES)
    };
    if regular && meta.len() > limit {
        return Err(Error::FileTooLarge {
            file: file(),
            kind,
            size: Some(meta.len()),
            limit,
        });
    }
    let capacity = if regular { meta.len() } else { 0 };
    let mut bytes = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    // One byte beyond the limit tells a file of exactly `limit` bytes from a longer one
    // (a regular file can also grow while it is read).
    f.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(Error::FileTooLarge {
            file: file(),
            kind,
            size: None,
            limit,
        });
    }
    Ok(bytes)
}

/// [`read_bounded`] for a UTF-8 text file.
pub fn read_text_bounded(path: impl AsRef<Path>, limit: u64, kind: &'static str) -> Result<String> {
    let path = path.as_ref();
    let bytes = read_bounded(path, limit, kind)?;
    String::from_utf8(bytes).map_err(|e| Error::Io {
        file: path.display().to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()),
    })
}

/// A float32 `.npy` array, read with [`read_bounded`] ([`MAX_NPY_BYTES`]); the shape its
/// header declares must fit the data the file holds before anything is allocated for it (a
/// 145-byte file declaring a petabyte is refused at once).
///
/// ```no_run
/// let x = lrp::files::read_npy_f32("input.npy")?;
/// println!("{:?}", x.shape());
/// # Ok::<(), lrp::Error>(())
/// ```
pub fn read_npy_f32(path: impl AsRef<Path>) -> Result<Tensor> {
    use ndarray_npy::ReadNpyExt;
    let path = path.as_ref();
    let file = path.display().to_string();
    let bytes = read_bounded(path, MAX_NPY_BYTES, "an .npy input")?;
    let bad = |detail: String| Error::Format {
        file: file.clone(),
        layer: ".npy header".into(),
        detail,
    };
    let (shape, data_len) = npy_shape(&bytes).map_err(bad)?;
    let values = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
    match values.and_then(|v| v.checked_mul(4)) {
        Some(need) if need == data_len as u64 => {}
        Some(need) => {
            return Err(bad(format!(
                "shape {shape:?} of float32 needs {need} bytes of data, the file holds {data_len}"
            )))
        }
        None => {
            return Err(bad(format!(
                "shape {shape:?} overflows the size of an array"
            )))
        }
    }
    ndarray::ArrayD::<f32>::read_npy(std::io::Cursor::new(&bytes)).map_err(|e| {
        bad(format!(
            "cannot read a float32 array: {}",
            crate::error::one_line(&e.to_string())
        ))
    })
}

/// The shape an `.npy` header declares and the number of data bytes after the header.
fn npy_shape(bytes: &[u8]) -> std::result::Result<(Vec<u64>, usize), String> {
    const MAGIC: &[u8] = b"\x93NUMPY";
    if bytes.len() < 10 || !bytes.starts_with(MAGIC) {
        return Err("not an .npy file (no \\x93NUMPY signature)".into());
    }
    let (len, start): (usize, usize) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let end = start
        .checked_add(len)
        .filter(|&e| e <= bytes.len())
        .ok_or("the header is longer than the file")?;
    let header = std::str::from_utf8(&bytes[start..end]).map_err(|_| "the header is not text")?;
    let tuple = header
        .split_once("'shape'")
        .and_then(|(_, rest)| rest.split_once('('))
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(inside, _)| inside)
        .ok_or("the header declares no shape")?;
    let shape = tuple
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<u64>())
        .collect::<std::result::Result<Vec<u64>, _>>()
        .map_err(|_| "the header's shape is not a tuple of sizes")?;
    Ok((shape, bytes.len() - end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(header: &str, data: &[u8]) -> Vec<u8> {
        let mut h = header.to_string();
        while (10 + h.len() + 1) % 64 != 0 {
            h.push(' ');
        }
        h.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(h.len() as u16).to_le_bytes());
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn npy_shapes_are_read_from_the_header() {
        let b = npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
            &[0; 24],
        );
        assert_eq!(npy_shape(&b).unwrap(), (vec![2, 3], 24));
        let b = npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }",
            &[],
        );
        assert_eq!(npy_shape(&b).unwrap(), (vec![5], 0));
        let b = npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (), }",
            &[0; 4],
        );
        assert_eq!(npy_shape(&b).unwrap(), (vec![], 4));
        assert!(npy_shape(b"\x93NUMPY\x01\x00\xff\xff").is_err());
        assert!(npy_shape(b"PK\x03\x04").is_err());
    }
}
