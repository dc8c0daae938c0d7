//! face-api's (TensorFlow.js) preprocessing: zero padding to a square (centred and
//! bottom/right) and `tf.image.resizeBilinear` without half-pixel centres, bit for bit.
//!
//! The references in `tests/data/face_api/` were made by `tests/face_api/generate.py` with
//! `resize_bilinear_tfjs` / `to_batch_tensor` of face-api's `preprocess.py` (shipped with the
//! converted models in `../shared/models/face-api/scripts/`; its README reports it
//! bit-identical to face-api 1.7.15 on tfjs 4.22.0's cpu backend), on seeded noise and on the
//! shipped portraits decoded by Pillow 13.0.0.

use lrp::faces::{decode, FaceDetector};
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

// ---------------------------------------------------------------------------------------------
// The tiny face detector.
//
// NOTE: the tests below also read test data outside the repository, from
// `../shared/models/face-api/reference/js_tiny_face_detector.json` (relative to
// `CARGO_MANIFEST_DIR`): face-api 1.7.15's own JavaScript (tfjs 4.22.0, cpu backend) on
// Pillow's pixels of the two portraits — the raw grid's decoding into all 845 candidates
// (`extractBoxes`, every score and relative box) and the detections after non-maximum
// suppression at score thresholds 0.5 and 0.1 (see `../shared/models/face-api/README.md`).
// The raw grids `grid_<photo>.npy` are onnxruntime 1.32.0's (`generate.py`).

fn shared(rel: &str) -> PathBuf {
    repo("../shared/models/face-api").join(rel)
}

fn js_reference() -> serde_json::Value {
    let text = std::fs::read_to_string(shared("reference/js_tiny_face_detector.json"))
        .expect("../shared/models/face-api/reference/js_tiny_face_detector.json");
    serde_json::from_str(&text).unwrap()
}

fn detector_photos() -> Vec<(&'static str, RgbImage)> {
    vec![
        ("astronaut", portrait("astronaut.png")),
        ("grace_hopper", grace_hopper_pil()),
    ]
}

#[test]
fn detector_grid_matches_onnxruntime() {
    let detector = FaceDetector::shipped().unwrap();
    let mut photos = detector_photos();
    photos.push(("noise", noise()));
    for (name, img) in &photos {
        let got = detector.grid(&[img]).unwrap();
        let want = reference(&format!("grid_{name}"));
        assert_eq!(&got.shape()[1..], want.shape(), "{name}");
        let max_ref = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let diff = got
            .iter()
            .zip(want.iter())
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        println!("{name}: max |grid − onnxruntime| = {diff:e} (max |grid| {max_ref})");
        assert!(diff <= 1e-4 * max_ref, "{name}: {diff} vs max {max_ref}");
    }
}

/// A JSON box `{x, y, width, height}` as an array.
fn js_box(b: &serde_json::Value) -> [f64; 4] {
    ["x", "y", "width", "height"].map(|k| b[k].as_f64().unwrap())
}

#[test]
fn decoded_candidates_match_face_api() {
    let detector = FaceDetector::shipped().unwrap();
    let js = js_reference();
    for (name, img) in detector_photos() {
        let sample = js["samples"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap();
        let grid = detector.grid(&[&img]).unwrap();
        let grid = grid.index_axis(ndarray::Axis(0), 0);
        let grid = grid.into_dimensionality::<ndarray::Ix3>().unwrap();
        // Threshold below 0: every candidate, as the reference lists them.
        let got = decode(grid, img.width(), img.height(), 416, -1.0).unwrap();
        let want = sample["candidates_pre_nms"].as_array().unwrap();
        assert_eq!(got.len(), 845, "{name}");
        assert_eq!(want.len(), 845, "{name}");
        let (mut score_err, mut box_err) = (0.0f64, 0.0f64);
        for w in want {
            let (row, col, anchor) = (
                w["row"].as_u64().unwrap() as usize,
                w["col"].as_u64().unwrap() as usize,
                w["anchor"].as_u64().unwrap() as usize,
            );
            let g = got
                .iter()
                .find(|c| (c.row, c.col, c.anchor) == (row, col, anchor))
                .unwrap();
            score_err = score_err.max((g.score - w["score"].as_f64().unwrap()).abs());
            let b = js_box(&w["box"]);
            for (a, b) in [g.x, g.y, g.width, g.height].iter().zip(b) {
                // In pixels at the 416 input, as the reference README reports it.
                box_err = box_err.max((a - b).abs() * 416.0);
            }
        }
        println!("{name}: 845 candidates, max |score − JS| {score_err:e}, max |box − JS| {box_err:e} px at 416");
        // The README reports 5.7e-08 / 1.3e-07 and 4.4e-04 / 3.0e-04 px for onnxruntime.
        assert!(score_err <= 1e-6, "{name}: score {score_err}");
        assert!(box_err <= 1e-3, "{name}: box {box_err} px");
    }
}

#[test]
fn detections_after_nms_match_face_api() {
    let js = js_reference();
    for threshold in ["0.5", "0.1"] {
        let detector = FaceDetector::shipped()
            .unwrap()
            .with_score_threshold(threshold.parse().unwrap());
        for (name, img) in detector_photos() {
            let sample = js["samples"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == name)
                .unwrap();
            let want = sample["detections"][threshold].as_array().unwrap();
            let got = detector.detect(&img).unwrap();
            assert_eq!(got.len(), want.len(), "{name} at {threshold}");
            for (g, w) in got.iter().zip(want) {
                let b = js_box(&w["box"]);
                let err = [g.x, g.y, g.width, g.height]
                    .iter()
                    .zip(b)
                    .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
                let score_err = (g.score - w["score"].as_f64().unwrap()).abs();
                println!("{name} at {threshold}: box {err:e} px, score {score_err:e}");
                // README: 1.2e-05 / 2.2e-05 px and 1.1e-08 / 5.6e-08 for onnxruntime.
                assert!(err <= 1e-3, "{name}: box {err} px");
                assert!(score_err <= 1e-6, "{name}: score {score_err}");
            }
        }
    }
}

#[test]
fn face_crops_match_face_api() {
    // face-api's detectAllFaces(...).withAgeAndGender() crops x, y, w, h (the README's
    // end-to-end table): astronaut 163,75,116,110; grace_hopper 141,139,242,209.
    let detector = FaceDetector::shipped().unwrap();
    for ((name, img), want) in detector_photos()
        .into_iter()
        .zip([(163, 75, 116, 110), (141, 139, 242, 209)])
    {
        let faces = detector.detect(&img).unwrap();
        assert_eq!(faces.len(), 1, "{name}");
        let b = faces[0].crop_box(img.width(), img.height()).unwrap();
        assert_eq!((b.left, b.top, b.width(), b.height()), want, "{name}");
    }
    // Uniform noise holds no face.
    assert!(detector.detect(&noise()).unwrap().is_empty());
}
