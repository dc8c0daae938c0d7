//! Text for figure labels, drawn with `ab_glyph` from the embedded DejaVu Sans.
//!
//! The font file is compiled into the library (`include_bytes!`), so figures need no system
//! font. Its licence is in `assets/fonts/NOTICE`.

use ab_glyph::{point, Font, FontRef, GlyphId, PxScale, ScaleFont};
use image::RgbImage;
use std::sync::OnceLock;

static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

fn font() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    // The bytes are a fixed asset of the crate, checked by the tests: not user input.
    FONT.get_or_init(|| FontRef::try_from_slice(FONT_BYTES).expect("embedded DejaVu Sans parses"))
}

/// Ascent, descent (negative) and line height in pixels at font size `px`.
pub(crate) fn metrics(px: f32) -> (f32, f32, f32) {
    let f = font().as_scaled(PxScale::from(px));
    (f.ascent(), f.descent(), f.height() + f.line_gap())
}

/// The advance width in pixels of `text` at font size `px` (kerning included).
///
/// ```
/// let w = lrp::heatmap::text_width("AdienceNet", 14.0);
/// assert!(w > 50.0 && w < 100.0, "{w}");
/// assert_eq!(lrp::heatmap::text_width("", 14.0), 0.0);
/// ```
pub fn text_width(text: &str, px: f32) -> f32 {
    let f = font().as_scaled(PxScale::from(px));
    let mut w = 0.0;
    let mut prev: Option<GlyphId> = None;
    for c in text.chars() {
        let id = f.glyph_id(c);
        if let Some(p) = prev {
            w += f.kern(p, id);
        }
        w += f.h_advance(id);
        prev = Some(id);
    }
    w
}

/// `text`, shortened with "…" until it fits `max_width` pixels at size `px`.
///
/// ```
/// assert_eq!(lrp::heatmap::fit_text("short", 12.0, 500.0), "short");
/// assert!(lrp::heatmap::fit_text("a rather long label", 12.0, 40.0).ends_with('…'));
/// ```
pub fn fit(text: &str, px: f32, max_width: f32) -> String {
    if text_width(text, px) <= max_width {
        return text.to_string();
    }
    let mut chars: Vec<char> = text.chars().collect();
    while !chars.is_empty() {
        chars.pop();
        let s: String = chars.iter().collect::<String>() + "…";
        if text_width(&s, px) <= max_width {
            return s;
        }
    }
    String::new()
}

/// Draws `text` onto `img` with its line box's top-left corner at `(x, y)` (baseline at
/// `y + ascent`), font size `px` pixels, anti-aliased by coverage blending. Pixels outside
/// the image are skipped.
///
/// ```
/// let mut img = image::RgbImage::from_pixel(60, 20, image::Rgb([255, 255, 255]));
/// lrp::heatmap::draw_text(&mut img, 2.0, 2.0, "LRP", 14.0, [0, 0, 0]);
/// assert!(img.pixels().any(|p| p.0 == [0, 0, 0]));
/// ```
pub fn draw_text(img: &mut RgbImage, x: f32, y: f32, text: &str, px: f32, color: [u8; 3]) {
    let font = font();
    let f = font.as_scaled(PxScale::from(px));
    let baseline = (y + f.ascent()).round();
    let mut caret = x;
    let mut prev: Option<GlyphId> = None;
    let (w, h) = (img.width() as i64, img.height() as i64);
    for c in text.chars() {
        let id = f.glyph_id(c);
        if let Some(p) = prev {
            caret += f.kern(p, id);
        }
        let glyph = id.with_scale_and_position(PxScale::from(px), point(caret, baseline));
        caret += f.h_advance(id);
        prev = Some(id);
        let Some(outlined) = font.outline_glyph(glyph) else {
            continue;
        };
        let b = outlined.px_bounds();
        outlined.draw(|gx, gy, cov| {
            let (px_x, px_y) = (b.min.x as i64 + gx as i64, b.min.y as i64 + gy as i64);
            if px_x < 0 || px_y < 0 || px_x >= w || px_y >= h {
                return;
            }
            let cov = cov.clamp(0.0, 1.0);
            let p = img.get_pixel_mut(px_x as u32, px_y as u32);
            for (v, &col) in p.0.iter_mut().zip(&color) {
                *v = (*v as f32 * (1.0 - cov) + col as f32 * cov)
                    .round()
                    .clamp(0.0, 255.0) as u8;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_font_has_the_glyphs_figures_use() {
        let f = font();
        for c in "AZaz09−±·…%=()αβγεμ".chars() {
            assert_ne!(f.glyph_id(c).0, 0, "no glyph for {c:?}");
        }
    }

    #[test]
    fn fit_shortens_with_ellipsis() {
        let long = "a very long label that does not fit";
        let s = fit(long, 14.0, 60.0);
        assert!(s.ends_with('…') && text_width(&s, 14.0) <= 60.0, "{s}");
        assert_eq!(fit("ok", 14.0, 60.0), "ok");
        assert_eq!(fit("wide", 14.0, 1.0), "");
    }

    #[test]
    fn drawing_outside_the_image_is_harmless() {
        let mut img = RgbImage::new(4, 4);
        draw_text(&mut img, -50.0, -50.0, "clipped", 30.0, [255, 0, 0]);
        draw_text(&mut img, 1000.0, 1000.0, "gone", 30.0, [255, 0, 0]);
        let mut empty = RgbImage::new(0, 0);
        draw_text(&mut empty, 0.0, 0.0, "x", 12.0, [255, 0, 0]);
    }
}
