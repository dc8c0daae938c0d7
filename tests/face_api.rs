//! face-api's (TensorFlow.js) preprocessing: zero padding to a square (centred and
//! bottom/right) and `tf.image.resizeBilinear` without half-pixel centres, bit for bit.
//!
//! The references in `tests/data/face_api/` were made by `tests/face_api/generate.py` with
//! `resize_bilinear_tfjs` / `to_batch_tensor` of face-api's `preprocess.py` (shipped with the
//! converted models in `../shared/models/face-api/scripts/`; its README reports it
//! bit-identical to face-api 1.7.15 on tfjs 4.22.0's cpu backend), on seeded noise and on the
//! shipped portraits decoded by Pillow 13.0.0.

use lrp::preprocess::{
    crop, decode_rgb, pad_to_square, resize_bilinear_tfjs, tfjs_square, FaceBox, RgbImage,
    SquarePadding,
};
use ndarray::{Array3, ArrayD};
use ndarray_npy::read_npy;
use std::path::{Path, PathBuf};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn data(name: &str) -> PathBuf {
    repo("tests/data/face_api").join(name)
}

fn reference(name: &str) -> ArrayD<f32> {
    read_npy(data(&format!("{name}.npy"))).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn portrait(file: &str) -> RgbImage {
    decode_rgb(
        &std::fs::read(repo(&format!("assets/{file}"))).unwrap(),
        file,
    )
    .unwrap()
}

/// `grace_hopper.jpg` as Pillow decodes it (stored as PNG by `generate.py`: JPEG decoders
/// differ in the last bit of some pixels, and the references were made from Pillow's).
fn grace_hopper_pil() -> RgbImage {
    let bytes = std::fs::read(data("grace_hopper_pil.png")).unwrap();
    decode_rgb(&bytes, "grace_hopper_pil.png").unwrap()
}

fn noise() -> RgbImage {
    let array: ArrayD<u8> = read_npy(data("noise.npy")).unwrap();
    let (h, w) = (array.shape()[0] as u32, array.shape()[1] as u32);
    RgbImage::from_raw(w, h, array.iter().copied().collect()).unwrap()
}

/// FNV-1a, 64 bits (as in `generate.py`).
fn fnv1a64(bytes: impl IntoIterator<Item = u8>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Bit-for-bit equality of `got` (H×W×3) with the reference `name`, reporting the worst pixel.
fn assert_bit_exact(got: &Array3<f32>, name: &str) {
    let want = reference(name);
    assert_eq!(got.shape(), want.shape(), "{name}: shape");
    let mismatches = got
        .iter()
        .zip(want.iter())
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    let worst = got
        .iter()
        .zip(want.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert_eq!(
        mismatches, 0,
        "{name}: {mismatches} values differ, max |diff| {worst:e}"
    );
}

#[test]
fn resize_matches_tfjs_bit_for_bit() {
    let img = noise();
    for (w, h) in [(20, 11), (80, 61), (53, 37), (1, 1), (7, 90)] {
        let got = resize_bilinear_tfjs(&img, w, h).unwrap();
        assert_bit_exact(&got, &format!("noise_resize_{w}x{h}"));
    }
}

#[test]
fn padding_and_resizing_match_tfjs_bit_for_bit() {
    let img = noise();
    for (size, padding, name) in [
        (29, SquarePadding::Centred, "noise_centred_29"),
        (29, SquarePadding::BottomRight, "noise_bottomright_29"),
        (112, SquarePadding::BottomRight, "noise_bottomright_112"),
    ] {
        assert_bit_exact(&tfjs_square(&img, size, padding).unwrap(), name);
        // Building the square first gives the same.
        let square = pad_to_square(&img, padding).unwrap();
        assert_bit_exact(&resize_bilinear_tfjs(&square, size, size).unwrap(), name);
    }
    // 37 rows against 52 columns: 15 rows of padding, 7 before and Math.round(7.5) = 8 after.
    let odd = crop(&img, FaceBox::new(0, 0, 52, 37)).unwrap();
    assert_eq!(SquarePadding::Centred.split(15), (7, 8));
    assert_bit_exact(
        &tfjs_square(&odd, 40, SquarePadding::Centred).unwrap(),
        "noise_odd_centred_40",
    );
}

#[test]
fn portraits_match_tfjs_bit_for_bit() {
    let digests: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data("tfjs_digests.json")).unwrap()).unwrap();
    let astronaut = portrait("astronaut.png");
    let hopper = grace_hopper_pil();
    assert_eq!(
        hopper.dimensions(),
        portrait("grace_hopper.jpg").dimensions()
    );
    for (name, img) in [("astronaut", &astronaut), ("grace_hopper", &hopper)] {
        let d = &digests[name];
        assert_eq!(
            fnv1a64(img.as_raw().iter().copied()),
            d["decoded_rgb_fnv1a64"].as_str().unwrap(),
            "{name}: our decoded pixels differ from Pillow's"
        );
        let x = tfjs_square(img, 416, SquarePadding::BottomRight).unwrap();
        let sum: f64 = x.iter().map(|&v| f64::from(v)).sum();
        let want_sum = d["bottomright_416_sum"].as_f64().unwrap();
        assert!(
            (sum - want_sum).abs() <= 1e-9 * want_sum,
            "{name} 416: sum {sum} vs {want_sum}"
        );
        assert_eq!(
            fnv1a64(x.iter().flat_map(|v| v.to_le_bytes())),
            d["bottomright_416_fnv1a64"].as_str().unwrap(),
            "{name} 416: float32 bytes differ"
        );
    }
    let face = crop(&astronaut, FaceBox::new(150, 30, 260, 150)).unwrap();
    assert_bit_exact(
        &tfjs_square(&face, 112, SquarePadding::Centred).unwrap(),
        "astronaut_face_centred_112",
    );
    assert_bit_exact(
        &tfjs_square(&hopper, 112, SquarePadding::Centred).unwrap(),
        "grace_hopper_centred_112",
    );
    assert_bit_exact(
        &tfjs_square(&hopper, 112, SquarePadding::BottomRight).unwrap(),
        "grace_hopper_bottomright_112",
    );
}
