//! A set of face images derived from the two shipped portraits, for comparisons that need
//! more than two images without any files: crops at several offsets and scales, horizontal
//! flips and brightness changes.
//!
//! ```
//! let faces = lrp::compare::faces::portrait_variants().unwrap();
//! assert_eq!(faces.len(), 22);
//! assert_eq!(faces[0].0, "astronaut");
//! assert!(faces.iter().any(|(n, _)| n == "grace_hopper-flip"));
//! ```

use crate::assets;
use crate::error::Result;
use crate::preprocess::{self, FaceBox, RgbImage};

/// The variants of one face box: `(suffix, box, flip, brightness factor)`.
fn variants(b: [i64; 4]) -> Vec<(&'static str, FaceBox, bool, f32)> {
    let (w, h) = (b[2] - b[0], b[3] - b[1]);
    let (dx, dy) = (w / 10, h / 10);
    let shift = |sx: i64, sy: i64| FaceBox::new(b[0] + sx, b[1] + sy, b[2] + sx, b[3] + sy);
    let scale = |f: f64| {
        let (cx, cy) = ((b[0] + b[2]) as f64 / 2.0, (b[1] + b[3]) as f64 / 2.0);
        let (hw, hh) = (w as f64 * f / 2.0, h as f64 * f / 2.0);
        FaceBox::new(
            (cx - hw).round() as i64,
            (cy - hh).round() as i64,
            (cx + hw).round() as i64,
            (cy + hh).round() as i64,
        )
    };
    let base = shift(0, 0);
    vec![
        ("", base, false, 1.0),
        ("-left", shift(-dx, 0), false, 1.0),
        ("-right", shift(dx, 0), false, 1.0),
        ("-up", shift(0, -dy), false, 1.0),
        ("-down", shift(0, dy), false, 1.0),
        ("-tight", scale(0.85), false, 1.0),
        ("-wide", scale(1.2), false, 1.0),
        ("-flip", base, true, 1.0),
        ("-left-flip", shift(-dx, 0), true, 1.0),
        ("-dark", base, false, 0.7),
        ("-bright", base, false, 1.3),
    ]
}

/// Brightness scaled by `f` (clamped to 0–255), optionally mirrored left–right.
fn adjust(img: &RgbImage, flip: bool, f: f32) -> RgbImage {
    let mut out = if flip {
        image::imageops::flip_horizontal(img)
    } else {
        img.clone()
    };
    if f != 1.0 {
        for p in out.pixels_mut() {
            for c in p.0.iter_mut() {
                *c = (*c as f32 * f).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

/// 22 face crops named `astronaut`, `astronaut-left`, …, `grace_hopper-bright`: for each
/// shipped portrait, its face box ([`assets::ASTRONAUT_FACE`],
/// [`assets::GRACE_HOPPER_FACE`]) shifted by 10% left, right, up and down, scaled by 0.85 and
/// 1.2, mirrored (also the left-shifted crop), and darkened (×0.7) and brightened (×1.3).
pub fn portrait_variants() -> Result<Vec<(String, RgbImage)>> {
    let portraits: [(&str, &[u8], [i64; 4]); 2] = [
        ("astronaut", assets::ASTRONAUT_PNG, assets::ASTRONAUT_FACE),
        (
            "grace_hopper",
            assets::GRACE_HOPPER_JPG,
            assets::GRACE_HOPPER_FACE,
        ),
    ];
    let mut out = Vec::new();
    for (name, bytes, b) in portraits {
        let img = preprocess::decode_rgb(bytes, name)?;
        for (suffix, fb, flip, f) in variants(b) {
            let fb = fb.clamp_to(img.width(), img.height(), name)?;
            let crop = preprocess::crop(&img, fb)?;
            out.push((format!("{name}{suffix}"), adjust(&crop, flip, f)));
        }
    }
    Ok(out)
}
