//! `--faces`: which faces of a photo `lrp explain` and `lrp figure` explain, found by the
//! shipped face detector (`lrp::faces`).
//!
//! - `auto` (the default): when no box is given (`--face-box` or `--faces L,T,R,B`) and some
//!   model of the run *expects a face*, every face the detector finds in a photo is explained;
//!   otherwise the whole image, as before. A photo in which `auto` finds no face is explained
//!   whole (its manifest lines have no `face`; the run's last line counts them: `faces: 4
//!   found in 9 photo(s), 5 without a face (explained whole)`): it is most likely a face crop
//!   already (the detector needs some background around a face; the aligned crops of Adience,
//!   the paper's data set, are such images), and a folder of 20000 of them should not print
//!   20000 lines. A model expects a face when it is a shipped face
//!   model (`gender-v1`, `age-v1`, by the name in the model file, under their own face
//!   preprocessing), a face-api model (`face-api-…`), or one of the paper's Caffe face models
//!   (preprocessed with a mean image); any other model (an ImageNet classifier, or any model
//!   under `--preprocess imagenet`) sees the whole image unless `--faces all|largest` asks
//!   for faces. The
//!   shipped portraits keep their own face boxes under `auto`: they are explicit boxes,
//!   framed with the margin the dlib models were trained with (forehead to chin), and the
//!   reference data and the README's figure use them; `--faces all` runs the detector on them
//!   too.
//! - `all`: every face found; `largest`: only the face with the largest box. A photo without
//!   a face is skipped (below).
//! - `L,T,R,B`: this box in every image (the same as `--face-box`).
//!
//! A photo with faces becomes one input per face, named `<stem>_face<N>.<ext>` (so
//! `group.jpg` → `gender-v1/paper/group_face2.jpg.png`), the faces numbered 1, 2, … from left
//! to right by the left edge of their boxes (ties: top edge); `largest` keeps the number the
//! face has among all. The crop is face-api's (the box clipped to the photo and floored).
//! Under `all` and `largest`, a photo without a face is reported on stderr (`lrp: photo.jpg: no face found`) and in the
//! manifest (one line per model × preset with `"error": "no face found"`, status `ok`, no
//! files); it does not fail the run.

use crate::common::InputArgs;
use anyhow::{anyhow, Result};
use lrp::dataset::FaceRecord;
use lrp::faces::{Detection, FaceDetector};
use lrp::model::Model;
use lrp::preprocess::{FaceBox, Preprocess, Rgb, RgbImage};

/// The `--faces` setting as typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FacesArg {
    /// Detect when no box is given and a model expects a face.
    Auto,
    /// Every face found.
    All,
    /// The largest face found.
    Largest,
    /// This box.
    Box(FaceBox),
}

impl FacesArg {
    /// The word for the manifest's settings.
    pub fn text(&self) -> String {
        match self {
            FacesArg::Auto => "auto".into(),
            FacesArg::All => "all".into(),
            FacesArg::Largest => "largest".into(),
            FacesArg::Box(b) => format!("{},{},{},{}", b.left, b.top, b.right, b.bottom),
        }
    }
}

/// Parses `--faces`.
pub fn parse_faces(s: &str) -> std::result::Result<FacesArg, String> {
    match s.trim() {
        "auto" => Ok(FacesArg::Auto),
        "all" => Ok(FacesArg::All),
        "largest" => Ok(FacesArg::Largest),
        other if other.contains(',') => crate::common::parse_box(other).map(FacesArg::Box),
        other => Err(format!("`{other}`: expected auto, all, largest or L,T,R,B")),
    }
}

/// Whether `model` was trained on face crops (see the module documentation).
pub fn expects_face(model: &Model) -> bool {
    match model.preprocess {
        Preprocess::CaffeMean { .. } => true,
        Preprocess::OnnxFace { .. } => matches!(model.name.as_str(), "gender-v1" | "age-v1"),
        _ => model.name.starts_with("face-api"),
    }
}

/// Which faces to detect in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detect {
    /// No detection: the given box, the portraits' own boxes, or the whole image.
    Off,
    /// Every face; a photo without one is explained whole.
    Auto,
    /// Every face.
    All,
    /// The largest face.
    Largest,
}

/// What `--faces` (and `--face-box`) mean for a run with `models`; `shipped` is true when
/// the inputs are the shipped portraits (which have their own boxes).
pub fn resolve(input: &InputArgs, models: &[Model], shipped: bool) -> Detect {
    if input.face_box.is_some() {
        return Detect::Off;
    }
    match input.faces.unwrap_or(FacesArg::Auto) {
        FacesArg::Box(_) => Detect::Off,
        FacesArg::All => Detect::All,
        FacesArg::Largest => Detect::Largest,
        FacesArg::Auto if !shipped && models.iter().any(expects_face) => Detect::Auto,
        FacesArg::Auto => Detect::Off,
    }
}

/// The shipped detector with `--face-threshold`, refusing thresholds outside [0, 1).
pub fn detector(input: &InputArgs) -> Result<FaceDetector> {
    let t = input.face_threshold;
    if !(0.0..1.0).contains(&t) {
        return Err(anyhow!(
            "--face-threshold {t}: expected a score from 0 to below 1"
        ));
    }
    Ok(FaceDetector::shipped()?.with_score_threshold(t))
}

/// One face of a photo: its number, the crop box and the manifest record.
#[derive(Clone, Debug)]
pub struct Found {
    pub crop: FaceBox,
    pub record: FaceRecord,
}

/// The faces of `photo` to explain, numbered left to right (`detections` as the detector
/// returns them); `Largest` keeps only the largest box.
pub fn select(photo: &RgbImage, detections: &[Detection], mode: Detect) -> Vec<Found> {
    let (w, h) = photo.dimensions();
    let mut faces: Vec<(Detection, FaceBox)> = detections
        .iter()
        .filter_map(|d| d.crop_box(w, h).map(|b| (*d, b)))
        .collect();
    faces.sort_by(|a, b| a.0.x.total_cmp(&b.0.x).then(a.0.y.total_cmp(&b.0.y)));
    let of = faces.len();
    let mut found: Vec<Found> = faces
        .into_iter()
        .enumerate()
        .map(|(i, (d, b))| Found {
            crop: b,
            record: FaceRecord {
                number: i + 1,
                of,
                score: d.score,
                detected: [d.x, d.y, d.width, d.height],
                crop: [b.left, b.top, b.right, b.bottom],
            },
        })
        .collect();
    if mode == Detect::Largest {
        let area = |f: &Found| f.record.detected[2] * f.record.detected[3];
        if let Some(best) = found
            .iter()
            .max_by(|a, b| area(a).total_cmp(&area(b)))
            .cloned()
        {
            found = vec![best];
        }
    }
    found
}

/// `dir/photo.jpg` → `dir/photo_face2.jpg`.
pub fn face_relative(relative: &str, number: usize) -> String {
    let (dir, file) = match relative.rsplit_once('/') {
        Some((d, f)) => (format!("{d}/"), f),
        None => (String::new(), relative),
    };
    match file.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{dir}{stem}_face{number}.{ext}"),
        _ => format!("{dir}{file}_face{number}"),
    }
}

/// `photo` with every box of `boxes` outlined, `highlight` (an index into `boxes`) in yellow
/// and thicker, the others in white: the figure's picture of a face row.
pub fn draw_boxes(photo: &RgbImage, boxes: &[FaceBox], highlight: usize) -> RgbImage {
    let mut out = photo.clone();
    let (w, h) = (i64::from(photo.width()), i64::from(photo.height()));
    let base = (w.max(h) / 200).max(1);
    for (i, b) in boxes.iter().enumerate() {
        let (colour, t) = if i == highlight {
            (Rgb([255, 220, 0]), base * 2)
        } else {
            (Rgb([255, 255, 255]), base)
        };
        for y in b.top.max(0)..b.bottom.min(h) {
            for x in b.left.max(0)..b.right.min(w) {
                let edge =
                    x - b.left < t || b.right - 1 - x < t || y - b.top < t || b.bottom - 1 - y < t;
                if edge {
                    out.put_pixel(x as u32, y as u32, colour);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn face_names() {
        assert_eq!(face_relative("a/b/photo.jpg", 2), "a/b/photo_face2.jpg");
        assert_eq!(face_relative("photo.png", 1), "photo_face1.png");
        assert_eq!(face_relative("noext", 3), "noext_face3");
        assert_eq!(face_relative("d.x/.hidden", 1), "d.x/.hidden_face1");
    }

    #[test]
    fn faces_are_numbered_left_to_right_and_largest_keeps_its_number() {
        let photo = RgbImage::new(100, 100);
        let d = |x: f64, w: f64, score: f64| Detection {
            score,
            x,
            y: 10.0,
            width: w,
            height: w,
        };
        let dets = [d(60.0, 20.0, 0.9), d(5.0, 30.0, 0.8), d(200.0, 5.0, 0.7)];
        let all = select(&photo, &dets, Detect::All);
        // The third box lies outside the photo and is dropped.
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].crop, FaceBox::new(5, 10, 35, 40));
        assert_eq!((all[0].record.number, all[1].record.number), (1, 2));
        let largest = select(&photo, &dets, Detect::Largest);
        assert_eq!(largest.len(), 1);
        assert_eq!(largest[0].record.number, 1);
        assert_eq!(largest[0].record.of, 2);
    }

    #[test]
    fn parses_the_option() {
        assert_eq!(parse_faces("all"), Ok(FacesArg::All));
        assert_eq!(
            parse_faces("1,2,3,4"),
            Ok(FacesArg::Box(FaceBox::new(1, 2, 3, 4)))
        );
        assert!(parse_faces("some").is_err());
    }
}
