//! Figure grids: rows are images, columns the face and one heatmap per model or preset,
//! with column headers, per-cell labels and a colour bar.

use super::colormap::Colormap;
use super::render::{overlay, render, save_png, upsample, Upsample};
use super::text::{draw_text, fit, metrics, text_width};
use super::{normalize, Normalize};
use crate::error::{Error, Result};
use image::{imageops, Rgb, RgbImage};
use ndarray::Array2;
use std::path::Path;

/// What the colour bar's three ticks say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorbarTicks {
    /// `−1`, `0`, `1`: normalised relevance `x = H / max|H|`.
    #[default]
    Unit,
    /// `−max`, `0`, `+max`: each cell is scaled by its own `max|H|` (or clipping percentile).
    Max,
}

/// One heatmap of a [`Figure`]: a 2-D relevance map (raw; the figure normalises it per
/// cell) and the text lines shown under it.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    map: Array2<f32>,
    lines: Vec<String>,
}

impl Cell {
    /// A cell showing `map` (`[H, W]`, e.g. from [`reduce`](super::reduce)).
    pub fn new(map: Array2<f32>) -> Cell {
        Cell {
            map,
            lines: Vec::new(),
        }
    }

    /// Adds a line of text under the cell (e.g. the model or the LRP preset).
    pub fn label(mut self, text: impl Into<String>) -> Cell {
        self.lines.push(text.into());
        self
    }

    /// Adds the line `"{class} {100·p:.1}%"`, e.g. `male 93.2%`.
    ///
    /// ```
    /// let c = lrp::heatmap::Cell::new(ndarray::Array2::zeros((2, 2))).prediction("male", 0.9321);
    /// assert_eq!(c.lines(), ["male 93.2%"]);
    /// ```
    pub fn prediction(self, class: &str, probability: f32) -> Cell {
        self.label(format!("{class} {:.1}%", 100.0 * probability))
    }

    /// The label lines.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }
}

/// One row of a [`Figure`]: the input image, its label lines and one optional [`Cell`] per
/// heatmap column (missing cells stay blank).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    image: RgbImage,
    lines: Vec<String>,
    cells: Vec<Option<Cell>>,
}

impl Row {
    /// A row for `image` (the face crop; any size, fitted into the cell).
    pub fn new(image: RgbImage) -> Row {
        Row {
            image,
            lines: Vec::new(),
            cells: Vec::new(),
        }
    }

    /// Adds a line of text under the image (e.g. its file name or true label).
    pub fn label(mut self, text: impl Into<String>) -> Row {
        self.lines.push(text.into());
        self
    }

    /// Adds the next heatmap cell.
    pub fn cell(mut self, cell: Cell) -> Row {
        self.cells.push(Some(cell));
        self
    }

    /// Leaves the next heatmap column blank.
    pub fn blank(mut self) -> Row {
        self.cells.push(None);
        self
    }
}

/// A grid of heatmaps, built step by step and written as PNG.
///
/// Each heatmap is normalised on its own (symmetric, per image; see
/// [`Normalize`]), upsampled to the cell ([`Upsample::Nearest`] by default), coloured with
/// the figure's colour map and, with [`Figure::overlay`], blended onto the row's image.
///
/// ```
/// use lrp::heatmap::{Cell, Colormap, Figure, Row};
/// use ndarray::Array2;
/// let face = image::RgbImage::from_pixel(32, 32, image::Rgb([200, 160, 140]));
/// let map = Array2::from_shape_fn((8, 8), |(y, x)| x as f32 - y as f32);
/// let fig = Figure::new(["AdienceNet", "CaffeNet"])
///     .colormap(Colormap::black_firered())
///     .cell_size(64, 64)
///     .row(Row::new(face)
///         .label("img 1")
///         .cell(Cell::new(map.clone()).label("epsilon").prediction("male", 0.93))
///         .cell(Cell::new(-map).prediction("female", 0.61)));
/// let img = fig.render().unwrap();
/// assert!(img.width() > 3 * 64 && img.height() > 64);
/// ```
#[derive(Debug, Clone)]
pub struct Figure {
    columns: Vec<String>,
    input_header: String,
    title: Option<String>,
    rows: Vec<Row>,
    cmap: Colormap,
    normalize: Normalize,
    upsample: Upsample,
    cell: (u32, u32),
    font_px: f32,
    ticks: ColorbarTicks,
    colorbar: bool,
    overlay: Option<(f32, f32)>,
}

const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
const INK: [u8; 3] = [0, 0, 0];

impl Figure {
    /// A figure whose heatmap columns are headed `columns` (model or preset names). The first
    /// column, the input image, is headed "input" (see [`Figure::input_header`]).
    pub fn new<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Figure {
        Figure {
            columns: columns.into_iter().map(Into::into).collect(),
            input_header: "input".to_string(),
            title: None,
            rows: Vec::new(),
            cmap: Colormap::black_firered(),
            normalize: Normalize::default(),
            upsample: Upsample::Nearest,
            cell: (227, 227),
            font_px: 14.0,
            ticks: ColorbarTicks::Unit,
            colorbar: true,
            overlay: None,
        }
    }

    /// The colour map (default: black-firered).
    pub fn colormap(mut self, cmap: Colormap) -> Figure {
        self.cmap = cmap;
        self
    }

    /// Per-cell normalisation (default: divide by `max|H|`).
    pub fn normalize(mut self, normalize: Normalize) -> Figure {
        self.normalize = normalize;
        self
    }

    /// How maps are resampled to the cell (default: nearest, the paper's blocky look).
    pub fn upsample(mut self, how: Upsample) -> Figure {
        self.upsample = how;
        self
    }

    /// Cell size in pixels, `width × height` (default 227 × 227). Images and maps keep their
    /// aspect ratio and are centred in the cell.
    pub fn cell_size(mut self, width: u32, height: u32) -> Figure {
        self.cell = (width, height);
        self
    }

    /// Label font size in pixels (default 14).
    pub fn font_size(mut self, px: f32) -> Figure {
        self.font_px = px;
        self
    }

    /// A title line above the grid.
    pub fn title(mut self, title: impl Into<String>) -> Figure {
        self.title = Some(title.into());
        self
    }

    /// The header of the input image column (default "input").
    pub fn input_header(mut self, header: impl Into<String>) -> Figure {
        self.input_header = header.into();
        self
    }

    /// The colour bar's tick labels (default `−1, 0, 1`).
    pub fn ticks(mut self, ticks: ColorbarTicks) -> Figure {
        self.ticks = ticks;
        self
    }

    /// Whether to draw the colour bar (default yes).
    pub fn colorbar(mut self, show: bool) -> Figure {
        self.colorbar = show;
        self
    }

    /// Draw heatmaps as overlays on the row's image with opacity `max_alpha · |x|^γ` (see
    /// [`overlay`]) instead of plain colour maps.
    pub fn overlay(mut self, opacity_gamma: f32, max_alpha: f32) -> Figure {
        self.overlay = Some((opacity_gamma, max_alpha));
        self
    }

    /// Appends a row.
    pub fn row(mut self, row: Row) -> Figure {
        self.rows.push(row);
        self
    }

    /// Appends a row in place.
    pub fn push_row(&mut self, row: Row) {
        self.rows.push(row);
    }

    fn check(&self) -> Result<()> {
        if self.rows.is_empty() {
            return Err(Error::Heatmap("figure has no rows".into()));
        }
        if self.rows.len() > super::MAX_FIGURE_ROWS {
            return Err(Error::Heatmap(format!(
                "figure has {} rows, more than the {} a figure shows; draw a selection of the \
                 images",
                self.rows.len(),
                super::MAX_FIGURE_ROWS
            )));
        }
        let (cw, ch) = self.cell;
        if cw == 0 || ch == 0 || cw > 8192 || ch > 8192 {
            return Err(Error::Heatmap(format!(
                "figure cell size {cw}×{ch} must be between 1 and 8192"
            )));
        }
        if !(self.font_px.is_finite() && (4.0..=200.0).contains(&self.font_px)) {
            return Err(Error::Heatmap(format!(
                "figure font size {} must be between 4 and 200 pixels",
                self.font_px
            )));
        }
        for (i, row) in self.rows.iter().enumerate() {
            if row.cells.len() > self.columns.len() {
                return Err(Error::Heatmap(format!(
                    "figure row {i} has {} heatmaps but there are {} columns",
                    row.cells.len(),
                    self.columns.len()
                )));
            }
            if row.image.width() == 0 || row.image.height() == 0 {
                return Err(Error::Heatmap(format!("figure row {i}: image is empty")));
            }
        }
        Ok(())
    }

    /// Size `(w, h)` of a `iw × ih` picture fitted into the cell, keeping its aspect ratio.
    fn fitted(&self, iw: usize, ih: usize) -> (u32, u32) {
        let (cw, ch) = (self.cell.0 as f64, self.cell.1 as f64);
        let s = (cw / iw as f64).min(ch / ih as f64);
        let w = ((iw as f64 * s).round() as u32).clamp(1, self.cell.0);
        let h = ((ih as f64 * s).round() as u32).clamp(1, self.cell.1);
        (w, h)
    }

    fn tick_labels(&self) -> [&'static str; 3] {
        match self.ticks {
            ColorbarTicks::Unit => ["1", "0", "\u{2212}1"],
            ColorbarTicks::Max => ["+max", "0", "\u{2212}max"],
        }
    }

    /// Draws the figure.
    ///
    /// Errors: [`Error::Heatmap`] for a figure without rows or with more than
    /// [`MAX_FIGURE_ROWS`](super::MAX_FIGURE_ROWS), a row with more heatmaps than columns, an
    /// empty image or map, a zero cell size, a figure larger than
    /// [`MAX_FIGURE_SIDE`](super::MAX_FIGURE_SIDE) per side or
    /// [`MAX_FIGURE_PIXELS`](super::MAX_FIGURE_PIXELS) in all (checked before the image is
    /// allocated); [`Error::NonFinite`] for NaN in a map.
    pub fn render(&self) -> Result<RgbImage> {
        self.check()?;
        let l = self.layout()?;
        let mut img = RgbImage::from_pixel(l.width, l.height, WHITE);
        let mut y = l.margin;
        if let Some(title) = &self.title {
            centred(&mut img, title, l.margin, l.grid_w, y, l.px);
            y += l.title_h;
        }
        centred(&mut img, &self.input_header, l.col_x(0), l.cw, y, l.px);
        for (c, name) in self.columns.iter().enumerate() {
            centred(&mut img, name, l.col_x(c as u32 + 1), l.cw, y, l.px);
        }
        y += l.header_h;
        let grid_top = y;
        for (row, label_h) in self.rows.iter().zip(&l.row_label_h) {
            self.draw_row(&mut img, &l, row, y)?;
            y += l.ch + label_h;
        }
        if self.colorbar {
            self.draw_colorbar(&mut img, &l, grid_top);
        }
        Ok(img)
    }

    /// Where everything goes; an error when the figure would exceed the size bounds.
    fn layout(&self) -> Result<Layout> {
        let px = self.font_px;
        let (_, _, line) = metrics(px);
        let line_h = line.ceil() as u32;
        let pad = (px * 0.6).round() as u32;
        let gap = pad;
        let margin = pad + 2;
        let (cw, ch) = self.cell;

        // Colour bar geometry (right of the grid, beside the first row).
        let bar_w = (px * 1.1).round() as u32;
        let tick_len = (px * 0.3).round() as u32;
        let ticks = self.tick_labels();
        let tick_w = ticks
            .iter()
            .map(|t| text_width(t, px))
            .fold(0.0, f32::max)
            .ceil() as u32;
        let caption = self.cmap.name();
        let caption_w = text_width(&caption, px * 0.85).ceil() as u32;
        let bar_block_w = if self.colorbar {
            (bar_w + tick_len + 3 + tick_w).max(caption_w) + 2 * gap
        } else {
            0
        };

        let title_h = if self.title.is_some() {
            line_h + pad
        } else {
            0
        };
        let header_h = line_h + pad / 2;
        // The sizes that grow with the rows, columns and label lines, in u64 and checked
        // against the bounds before anything narrower holds them.
        let big = u64::from;
        let label_h = |r: &Row| -> u64 {
            let n = r
                .cells
                .iter()
                .flatten()
                .map(|c| c.lines.len())
                .chain([r.lines.len()])
                .max()
                .unwrap_or(0) as u64;
            n.saturating_mul(big(line_h)).saturating_add(big(pad))
        };
        let labels: Vec<u64> = self.rows.iter().map(label_h).collect();
        let ncols = 1 + self.columns.len() as u64;
        let grid_w = ncols
            .saturating_mul(big(cw))
            .saturating_add((ncols - 1).saturating_mul(big(gap)));
        let width = grid_w.saturating_add(big(2 * margin + bar_block_w));
        let height = (self.rows.len() as u64)
            .saturating_mul(big(ch))
            .saturating_add(labels.iter().fold(0u64, |a, &b| a.saturating_add(b)))
            .saturating_add(big(2 * margin + title_h + header_h));
        // Bar and caption must fit beside the first row even when the grid is short.
        let height = height.max(big(2 * margin + title_h + header_h + ch + 2 * line_h));
        let (side, pixels) = (super::MAX_FIGURE_SIDE, super::MAX_FIGURE_PIXELS);
        if width > side || height > side || width.saturating_mul(height) > pixels {
            return Err(Error::Heatmap(format!(
                "a figure of {} rows and {ncols} columns of {cw}×{ch} cells would be {width}×{height} \
                 pixels; at most {side} per side and {pixels} in all: draw fewer rows, columns or \
                 smaller cells",
                self.rows.len()
            )));
        }
        // Every size below is at most `side`, so u32 holds it.
        let (grid_w, width, height) = (grid_w as u32, width as u32, height as u32);
        let row_label_h: Vec<u32> = labels.into_iter().map(|h| h as u32).collect();
        Ok(Layout {
            px,
            line_h,
            pad,
            gap,
            margin,
            cw,
            ch,
            bar_w,
            tick_len,
            ticks,
            caption,
            caption_w,
            title_h,
            header_h,
            row_label_h,
            grid_w,
            width,
            height,
        })
    }

    /// One row at height `y`: the input image, its labels, and the cells with theirs.
    fn draw_row(&self, img: &mut RgbImage, l: &Layout, row: &Row, y: u32) -> Result<()> {
        let (cw, ch) = (l.cw, l.ch);
        let label_y = |i: usize| y + ch + l.pad / 2 + i as u32 * l.line_h;
        // The input image, fitted into the cell.
        let (fw, fh) = self.fitted(row.image.width() as usize, row.image.height() as usize);
        let face = imageops::resize(&row.image, fw, fh, imageops::FilterType::Triangle);
        let (ox, oy) = ((cw - fw) / 2, (ch - fh) / 2);
        imageops::replace(img, &face, (l.col_x(0) + ox) as i64, (y + oy) as i64);
        for (i, text) in row.lines.iter().enumerate() {
            centred(img, text, l.col_x(0), cw, label_y(i), l.px);
        }
        for (c, cell) in row.cells.iter().enumerate() {
            let Some(cell) = cell else { continue };
            let x0 = l.col_x(c as u32 + 1);
            let (mh, mw) = cell.map.dim();
            if mh == 0 || mw == 0 {
                return Err(Error::Heatmap(format!(
                    "figure cell `{}` has an empty map",
                    self.columns[c]
                )));
            }
            let n = normalize(&cell.map, &self.normalize)?;
            let (fw, fh) = self.fitted(mw, mh);
            let up = upsample(&n.map, fh as usize, fw as usize, self.upsample)?;
            let tile = match self.overlay {
                Some((gamma, alpha)) => {
                    let base = imageops::resize(&row.image, fw, fh, imageops::FilterType::Triangle);
                    overlay(&base, &up, &self.cmap, gamma, alpha)?
                }
                None => render(&up, &self.cmap)?,
            };
            let (ox, oy) = ((cw - fw) / 2, (ch - fh) / 2);
            imageops::replace(img, &tile, (x0 + ox) as i64, (y + oy) as i64);
            for (i, text) in cell.lines.iter().enumerate() {
                centred(img, text, x0, cw, label_y(i), l.px);
            }
        }
        Ok(())
    }

    /// The colour bar beside the first row, with its ticks and caption.
    fn draw_colorbar(&self, img: &mut RgbImage, l: &Layout, grid_top: u32) {
        let (px, bar_w, tick_len) = (l.px, l.bar_w, l.tick_len);
        let bx = l.margin + l.grid_w + l.gap;
        let by = grid_top;
        let bh = l.ch.max(2);
        // Top = +1, bottom = −1, linear in between.
        for j in 0..bh {
            let x = 1.0 - 2.0 * j as f32 / (bh - 1) as f32;
            let c = Rgb(self.cmap.rgb(x));
            for i in 0..bar_w {
                img.put_pixel(bx + i, by + j, c);
            }
        }
        // Frame and ticks.
        let ink = Rgb(INK);
        for i in 0..bar_w {
            img.put_pixel(bx + i, by, ink);
            img.put_pixel(bx + i, by + bh - 1, ink);
        }
        for j in 0..bh {
            img.put_pixel(bx, by + j, ink);
            img.put_pixel(bx + bar_w - 1, by + j, ink);
        }
        let (ascent, descent, _) = metrics(px);
        let text_h = ascent - descent;
        for (k, label) in l.ticks.iter().enumerate() {
            let ty = by + k as u32 * (bh - 1) / 2;
            for i in 0..tick_len {
                img.put_pixel(bx + bar_w + i, ty, ink);
            }
            let top = (ty as f32 - text_h / 2.0).clamp(0.0, (l.height as f32 - text_h).max(0.0));
            let tx = (bx + bar_w + tick_len + 3) as f32;
            draw_text(img, tx, top, label, px, INK);
        }
        let cap_x = bx as f32 + bar_w as f32 / 2.0 - l.caption_w as f32 / 2.0;
        let cap_y = (by + bh + l.pad / 2) as f32;
        draw_text(img, cap_x.max(bx as f32), cap_y, &l.caption, px * 0.85, INK);
    }

    /// Draws the figure and writes it as PNG.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        save_png(&self.render()?, path)
    }
}

/// The geometry of a rendered [`Figure`], in pixels.
struct Layout {
    px: f32,
    line_h: u32,
    pad: u32,
    gap: u32,
    margin: u32,
    cw: u32,
    ch: u32,
    bar_w: u32,
    tick_len: u32,
    ticks: [&'static str; 3],
    caption: String,
    caption_w: u32,
    title_h: u32,
    header_h: u32,
    row_label_h: Vec<u32>,
    grid_w: u32,
    width: u32,
    height: u32,
}

impl Layout {
    /// Left edge of grid column `c` (0 = the input images).
    fn col_x(&self, c: u32) -> u32 {
        self.margin + c * (self.cw + self.gap)
    }
}

/// `text` centred in the `w` pixels from `x0`, shortened to fit.
fn centred(img: &mut RgbImage, text: &str, x0: u32, w: u32, y: u32, size: f32) {
    let t = fit(text, size, w as f32);
    let tw = text_width(&t, size);
    draw_text(
        img,
        x0 as f32 + (w as f32 - tw) / 2.0,
        y as f32,
        &t,
        size,
        INK,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face() -> RgbImage {
        RgbImage::from_fn(40, 30, |x, y| Rgb([(x * 6) as u8, (y * 8) as u8, 128]))
    }

    #[test]
    fn rejects_bad_figures() {
        let map = Array2::<f32>::ones((4, 4));
        assert!(matches!(
            Figure::new(["a"]).render(),
            Err(Error::Heatmap(_))
        ));
        let too_many = Figure::new(["a"]).row(
            Row::new(face())
                .cell(Cell::new(map.clone()))
                .cell(Cell::new(map.clone())),
        );
        assert!(too_many
            .render()
            .unwrap_err()
            .to_string()
            .contains("2 heatmaps"));
        let empty_img = Figure::new(["a"]).row(Row::new(RgbImage::new(0, 3)));
        assert!(empty_img.render().is_err());
        let empty_map =
            Figure::new(["a"]).row(Row::new(face()).cell(Cell::new(Array2::zeros((0, 4)))));
        assert!(empty_map.render().is_err());
        let nan = Figure::new(["a"])
            .row(Row::new(face()).cell(Cell::new(Array2::from_elem((2, 2), f32::NAN))));
        assert!(matches!(nan.render(), Err(Error::NonFinite { .. })));
        let zero_cell = Figure::new(["a"]).cell_size(0, 10).row(Row::new(face()));
        assert!(zero_cell.render().is_err());
        let bad_font = Figure::new(["a"]).font_size(f32::NAN).row(Row::new(face()));
        assert!(bad_font.render().is_err());
    }

    #[test]
    fn odd_but_valid_figures_render() {
        // No heatmap columns, no colour bar, tiny cells, blank cells, overlays, all-zero map.
        let map = Array2::from_shape_fn((3, 5), |(y, x)| x as f32 - y as f32);
        Figure::new(Vec::<String>::new())
            .colorbar(false)
            .row(Row::new(face()))
            .render()
            .unwrap();
        let img = Figure::new(["a", "b", "c"])
            .cell_size(7, 5)
            .overlay(0.5, 0.8)
            .row(
                Row::new(face())
                    .blank()
                    .cell(Cell::new(map))
                    .cell(Cell::new(Array2::zeros((2, 2)))),
            )
            .render()
            .unwrap();
        assert!(img.width() > 3 * 7);
    }

    #[test]
    fn cells_show_the_colour_map_at_the_cell_centre() {
        // A constant positive map normalises to 1 everywhere: white in black-firered.
        let fig = Figure::new(["m"])
            .cell_size(20, 20)
            .row(Row::new(face()).cell(Cell::new(Array2::from_elem((4, 4), 3.0))));
        let img = fig.render().unwrap();
        // Find the heatmap: the second column's centre.
        let px = fig.font_px;
        let pad = (px * 0.6).round() as u32;
        let margin = pad + 2;
        let (_, _, line) = metrics(px);
        let y = margin + line.ceil() as u32 + pad / 2 + 10;
        let x = margin + 20 + pad + 10;
        assert_eq!(img.get_pixel(x, y).0, [255, 255, 255]);
        // Same with a negative constant -> -1 -> white, and zero -> black (the centre).
        let fig = Figure::new(["m"])
            .cell_size(20, 20)
            .row(Row::new(face()).cell(Cell::new(Array2::zeros((4, 4)))));
        assert_eq!(fig.render().unwrap().get_pixel(x, y).0, [0, 0, 0]);
    }
}
