//! The CRP paper's figure for one prediction: one row per concept, its share of the layer's
//! relevance, its conditional heatmap (normalised per row, `bwr`: red positive, blue
//! negative) and its reference crops (relevance maximisation), best first.

use crate::error::Result;
use crate::heatmap::{self, draw_text, fit_text, Colormap, Normalize, Upsample};
use image::{imageops, Rgb, RgbImage};
use ndarray::Array2;

/// One row of a [`render`]ed concept figure.
#[derive(Debug, Clone)]
pub struct ConceptRow {
    /// Text lines in the first column (e.g. `channel 12`, `share 23.4 %`).
    pub lines: Vec<String>,
    /// The conditional heatmap `[H, W]` (colour channels summed).
    pub heatmap: Array2<f32>,
    /// Reference crops, best first.
    pub references: Vec<RgbImage>,
}

/// Render `rows` under `title`, each image cell `cell` pixels square, with `references`
/// reference columns (rows with fewer crops leave them blank).
///
/// ```
/// use lrp::concepts::figure::{render, ConceptRow};
/// let row = ConceptRow {
///     lines: vec!["channel 3".into(), "share 41.0 %".into()],
///     heatmap: ndarray::Array2::from_shape_fn((8, 8), |(y, x)| x as f32 - y as f32),
///     references: vec![image::RgbImage::new(10, 14)],
/// };
/// let img = render("age 33: layer_47_conv", &[row], 64, 2).unwrap();
/// assert!(img.width() >= 4 * 64 && img.height() >= 64);
/// ```
pub fn render(title: &str, rows: &[ConceptRow], cell: u32, references: usize) -> Result<RgbImage> {
    let cell = cell.clamp(16, 1024);
    let pad = 6u32;
    let font = (cell as f32 / 6.0).clamp(10.0, 18.0);
    let text_w = (cell * 3 / 2).max(120);
    let header = (2.6 * font) as u32 + 2 * pad;
    let cols = 1 + references as u32;
    let width = text_w + cols * (cell + pad) + pad;
    let height = header + rows.len() as u32 * (cell + pad) + pad;
    let mut img = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    let black = [0, 0, 0];
    draw_text(
        &mut img,
        pad as f32,
        pad as f32,
        &fit_text(title, font, width as f32),
        font,
        black,
    );
    let y0 = pad as f32 + 1.3 * font;
    draw_text(&mut img, pad as f32, y0, "concept", font, black);
    let x_heat = text_w;
    draw_text(
        &mut img,
        x_heat as f32,
        y0,
        &fit_text("heatmap", font, cell as f32),
        font,
        black,
    );
    if references > 0 {
        let x = x_heat + cell + pad;
        let label = fit_text("reference crops (relevance max.)", font, (width - x) as f32);
        draw_text(&mut img, x as f32, y0, &label, font, black);
    }
    let cmap = Colormap::from_name("bwr")?;
    for (r, row) in rows.iter().enumerate() {
        let y = header + r as u32 * (cell + pad);
        for (l, line) in row.lines.iter().enumerate() {
            let ty = y as f32 + l as f32 * 1.3 * font;
            draw_text(
                &mut img,
                pad as f32,
                ty,
                &fit_text(line, font, (text_w - pad) as f32),
                font,
                black,
            );
        }
        let norm = heatmap::normalize(&row.heatmap, &Normalize::default())?;
        let heat = heatmap::render_upsampled(
            &norm.map,
            &cmap,
            cell as usize,
            cell as usize,
            Upsample::Nearest,
        )?;
        imageops::replace(&mut img, &heat, i64::from(x_heat), i64::from(y));
        for (k, crop) in row.references.iter().take(references).enumerate() {
            if crop.width() == 0 || crop.height() == 0 {
                continue;
            }
            // Fit into the cell, keeping the aspect ratio.
            let s = cell as f32 / crop.width().max(crop.height()) as f32;
            let (w, h) = (
                ((crop.width() as f32 * s).round() as u32).max(1),
                ((crop.height() as f32 * s).round() as u32).max(1),
            );
            let fitted = imageops::resize(crop, w, h, imageops::FilterType::Triangle);
            let x = x_heat + (k as u32 + 1) * (cell + pad) + (cell - w) / 2;
            imageops::replace(
                &mut img,
                &fitted,
                i64::from(x),
                i64::from(y + (cell - h) / 2),
            );
        }
    }
    Ok(img)
}
