//! Small plots drawn directly into images: line plots (flipping curves, eigenvalues) and
//! labelled, coloured matrices. Text comes from the heatmap module's embedded font, so no
//! system font is needed.
//!
//! ```
//! use lrp::compare::plot::{line_plot, Series};
//! let s = Series::new("drop", vec![0.0, 1.0, 2.0], vec![1.0, 0.5, 0.0], [200, 0, 0]);
//! let img = line_plot("curve", "step", "logit", &[s], 320, 200).unwrap();
//! assert_eq!(img.dimensions(), (320, 200));
//! assert!(img.pixels().any(|p| p.0 == [200, 0, 0]));
//! ```

use crate::error::{Error, Result};
use crate::heatmap::{draw_text, text_width, Colormap};
use image::{Rgb, RgbImage};
use ndarray::Array2;

/// One line of a [`line_plot`].
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// x values.
    pub xs: Vec<f32>,
    /// y values, as many as `xs`.
    pub ys: Vec<f32>,
    /// Line colour.
    pub color: [u8; 3],
    /// Draw a dot at every point.
    pub markers: bool,
    /// Draw the line dashed.
    pub dashed: bool,
}

impl Series {
    /// A solid line without markers.
    pub fn new(name: impl Into<String>, xs: Vec<f32>, ys: Vec<f32>, color: [u8; 3]) -> Series {
        Series {
            name: name.into(),
            xs,
            ys,
            color,
            markers: false,
            dashed: false,
        }
    }

    /// With a dot at every point.
    pub fn markers(mut self) -> Series {
        self.markers = true;
        self
    }

    /// Dashed.
    pub fn dashed(mut self) -> Series {
        self.dashed = true;
        self
    }
}

/// A qualitative palette (matplotlib's tab10) for series `i`.
pub fn palette(i: usize) -> [u8; 3] {
    const TAB10: [[u8; 3]; 10] = [
        [31, 119, 180],
        [255, 127, 14],
        [44, 160, 44],
        [214, 39, 40],
        [148, 103, 189],
        [140, 86, 75],
        [227, 119, 194],
        [127, 127, 127],
        [188, 189, 34],
        [23, 190, 207],
    ];
    TAB10[i % TAB10.len()]
}

/// "Nice" tick positions covering `[lo, hi]` (about 5).
fn ticks(lo: f32, hi: f32) -> Vec<f32> {
    let span = (hi - lo).max(1e-12) as f64;
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let start = (lo as f64 / step).ceil() * step;
    let mut t = Vec::new();
    let mut v = start;
    while v <= hi as f64 + step * 1e-6 && t.len() < 20 {
        t.push(v as f32);
        v += step;
    }
    t
}

fn fmt_tick(v: f32) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e4).contains(&a) {
        format!("{v:.1e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn put(img: &mut RgbImage, x: i64, y: i64, c: [u8; 3]) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, Rgb(c));
    }
}

/// A line of width ~2 px from `(x0, y0)` to `(x1, y1)`; `dash` skips every other 6 px.
fn line(img: &mut RgbImage, (x0, y0): (f32, f32), (x1, y1): (f32, f32), c: [u8; 3], dash: bool) {
    let len = ((x1 - x0).powi(2) + (y1 - y0).powi(2)).sqrt();
    let n = (len * 2.0).ceil().max(1.0) as usize;
    for i in 0..=n {
        let t = i as f32 / n as f32;
        if dash && ((t * len) / 6.0) as usize % 2 == 1 {
            continue;
        }
        let (x, y) = (x0 + t * (x1 - x0), y0 + t * (y1 - y0));
        for (dx, dy) in [(0.0, 0.0), (0.5, 0.0), (0.0, 0.5), (0.5, 0.5)] {
            put(img, (x + dx - 0.25) as i64, (y + dy - 0.25) as i64, c);
        }
    }
}

fn rect(img: &mut RgbImage, x0: i64, y0: i64, x1: i64, y1: i64, c: [u8; 3]) {
    for y in y0..y1 {
        for x in x0..x1 {
            put(img, x, y, c);
        }
    }
}

/// A line plot of `series` on a white `width`×`height` canvas: axes with ticks, a title, axis
/// labels and a legend. Non-finite points are skipped.
///
/// Errors: [`Error::Compare`] for a canvas under 160×120 pixels, no series, or a series
/// whose `xs` and `ys` differ in length.
pub fn line_plot(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    width: u32,
    height: u32,
) -> Result<RgbImage> {
    if width < 160 || height < 120 {
        return Err(Error::Compare(format!(
            "a plot needs at least 160×120 pixels, got {width}×{height}"
        )));
    }
    if series.is_empty() {
        return Err(Error::Compare("nothing to plot".into()));
    }
    if let Some(s) = series.iter().find(|s| s.xs.len() != s.ys.len()) {
        return Err(Error::Compare(format!(
            "series `{}` has {} x and {} y values",
            s.name,
            s.xs.len(),
            s.ys.len()
        )));
    }
    let (x0, x1, y0, y1) = data_range(series);
    let mut img = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    let (left, right, top, bottom) = (62.0f32, 12.0f32, 28.0f32, 40.0f32);
    let f = Frame {
        left,
        top,
        pw: width as f32 - left - right,
        ph: height as f32 - top - bottom,
        x: (x0, x1),
        y: (y0, y1),
    };
    draw_axes(&mut img, &f, title, x_label, y_label);
    for s in series {
        let mut prev: Option<(f32, f32)> = None;
        for (&x, &y) in s.xs.iter().zip(&s.ys) {
            if !(x.is_finite() && y.is_finite()) {
                prev = None;
                continue;
            }
            let p = (f.sx(x), f.sy(y));
            if let Some(q) = prev {
                line(&mut img, q, p, s.color, s.dashed);
            }
            if s.markers {
                let (cx, cy) = (p.0 as i64, p.1 as i64);
                rect(&mut img, cx - 2, cy - 2, cx + 3, cy + 3, s.color);
            }
            prev = Some(p);
        }
    }
    draw_legend(&mut img, &f, series);
    Ok(img)
}

const FONT: f32 = 12.0;
const BLACK: [u8; 3] = [0, 0, 0];

/// The plot area of a [`line_plot`] on its canvas and the data range it shows.
struct Frame {
    left: f32,
    top: f32,
    pw: f32,
    ph: f32,
    x: (f32, f32),
    y: (f32, f32),
}

impl Frame {
    fn sx(&self, x: f32) -> f32 {
        self.left + (x - self.x.0) / (self.x.1 - self.x.0) * self.pw
    }

    fn sy(&self, y: f32) -> f32 {
        self.top + (1.0 - (y - self.y.0) / (self.y.1 - self.y.0)) * self.ph
    }
}

/// The finite points of all series.
fn points(series: &[Series]) -> impl Iterator<Item = (&f32, &f32)> {
    series
        .iter()
        .flat_map(|s| s.xs.iter().zip(&s.ys))
        .filter(|(x, y)| x.is_finite() && y.is_finite())
}

/// `(x0, x1, y0, y1)` covering the finite points, never empty, y padded by 5%.
fn data_range(series: &[Series]) -> (f32, f32, f32, f32) {
    let (mut x0, mut x1, mut y0, mut y1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
    for (&x, &y) in points(series) {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 - x0 < 1e-12 {
        x1 = x0 + 1.0;
    }
    if y1 - y0 < 1e-12 {
        y0 -= 0.5;
        y1 += 0.5;
    }
    let pad = (y1 - y0) * 0.05;
    (x0, x1, y0 - pad, y1 + pad)
}

/// Grid lines, ticks, axes, the title and the axis labels.
fn draw_axes(img: &mut RgbImage, f: &Frame, title: &str, x_label: &str, y_label: &str) {
    let (left, top, pw, ph) = (f.left, f.top, f.pw, f.ph);
    let grey = [200, 200, 200];
    for t in ticks(f.y.0, f.y.1) {
        let y = f.sy(t);
        line(img, (left, y), (left + pw, y), grey, false);
        let s = fmt_tick(t);
        let x = left - 4.0 - text_width(&s, FONT);
        draw_text(img, x, y - FONT * 0.6, &s, FONT, BLACK);
    }
    for t in ticks(f.x.0, f.x.1) {
        let x = f.sx(t);
        line(img, (x, top + ph), (x, top + ph + 4.0), BLACK, false);
        let s = fmt_tick(t);
        let tx = x - text_width(&s, FONT) / 2.0;
        draw_text(img, tx, top + ph + 5.0, &s, FONT, BLACK);
    }
    line(img, (left, top), (left, top + ph), BLACK, false);
    line(img, (left, top + ph), (left + pw, top + ph), BLACK, false);
    let (width, height) = (img.width() as f32, img.height() as f32);
    let tx = (width - text_width(title, 14.0)) / 2.0;
    draw_text(img, tx, 5.0, title, 14.0, BLACK);
    let lx = left + (pw - text_width(x_label, FONT)) / 2.0;
    draw_text(img, lx, height - FONT - 6.0, x_label, FONT, BLACK);
    draw_text(img, 4.0, top - FONT - 2.0, y_label, FONT, BLACK);
}

/// The legend, inside the plot area at the top right, or at the bottom right when fewer
/// points fall there.
fn draw_legend(img: &mut RgbImage, f: &Frame, series: &[Series]) {
    let lw = series
        .iter()
        .map(|s| text_width(&s.name, FONT))
        .fold(0.0, f32::max)
        + 34.0;
    let lx = f.left + f.pw - lw - 6.0;
    let lh = series.len() as f32 * (FONT + 4.0) + 6.0;
    let covered = |y0: f32| {
        points(series)
            .filter(|(&x, &y)| {
                let (px, py) = (f.sx(x), f.sy(y));
                px >= lx - 4.0 && py >= y0 - 3.0 && py <= y0 + lh
            })
            .count()
    };
    let bottom_y = f.top + f.ph - lh - 6.0;
    let mut ly = if covered(bottom_y) < covered(f.top + 6.0) {
        bottom_y
    } else {
        f.top + 6.0
    };
    rect(
        img,
        lx as i64 - 4,
        ly as i64 - 3,
        (lx + lw) as i64 + 2,
        (ly + series.len() as f32 * (FONT + 4.0)) as i64 + 3,
        [250, 250, 250],
    );
    for s in series {
        let yc = ly + FONT * 0.6;
        line(img, (lx, yc), (lx + 24.0, yc), s.color, s.dashed);
        draw_text(img, lx + 30.0, ly, &s.name, FONT, BLACK);
        ly += FONT + 4.0;
    }
}

/// A square matrix as an image: a title, cells coloured by `cmap` over `[-1, 1]` with their
/// values written in, rows labelled `i: label`, columns numbered `i`.
///
/// Errors: [`Error::Compare`] for a non-square matrix, no rows, or a label count that
/// differs from the matrix size.
///
/// ```
/// use lrp::compare::plot::matrix_image;
/// use lrp::heatmap::Colormap;
/// let m = ndarray::arr2(&[[1.0_f32, -1.0], [-1.0, 1.0]]);
/// let img = matrix_image("t", &["a".into(), "b".into()], &m, &Colormap::from_name("bwr").unwrap()).unwrap();
/// // The top-left cell (value 1) is bwr's red somewhere inside.
/// assert!(img.pixels().any(|p| p.0 == [255, 0, 0]));
/// ```
pub fn matrix_image(
    title: &str,
    labels: &[String],
    values: &Array2<f32>,
    cmap: &Colormap,
) -> Result<RgbImage> {
    let n = values.nrows();
    if n == 0 || values.ncols() != n || labels.len() != n {
        return Err(Error::Compare(format!(
            "matrix image: {:?} values with {} labels",
            values.shape(),
            labels.len()
        )));
    }
    let rows: Vec<String> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{}: {l}", i + 1))
        .collect();
    let columns: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
    let text = values.map(|v| {
        if v.is_finite() {
            format!("{v:.2}")
        } else {
            "–".into()
        }
    });
    table_image(title, &rows, &columns, &text, values, cmap)
}

/// A table of coloured cells: one row per `rows` label, one column per `columns` label (a
/// label may hold several lines, separated by `\n`), `text[[i, j]]` written in cell `(i, j)`
/// on the colour of `colour[[i, j]]` under `cmap` (clamped to `[-1, 1]`; grey where it is not
/// finite). Cells are at least 56 pixels wide, wider where a column's label or text needs it.
///
/// Errors: [`Error::Compare`] for no rows or columns, or `text` and `colour` not
/// `rows × columns`.
///
/// ```
/// use lrp::compare::plot::table_image;
/// use lrp::heatmap::Colormap;
/// let text = ndarray::arr2(&[["0.90".to_string(), "–".to_string()]]);
/// let colour = ndarray::arr2(&[[1.0_f32, f32::NAN]]);
/// let img = table_image("t", &["row".into()], &["a".into(), "b\n↑".into()], &text, &colour,
///     &Colormap::from_name("bwr").unwrap()).unwrap();
/// assert!(img.pixels().any(|p| p.0 == [255, 0, 0]) && img.pixels().any(|p| p.0 == [160, 160, 160]));
/// ```
pub fn table_image(
    title: &str,
    rows: &[String],
    columns: &[String],
    text: &Array2<String>,
    colour: &Array2<f32>,
    cmap: &Colormap,
) -> Result<RgbImage> {
    let (n, m) = (rows.len(), columns.len());
    if n == 0 || m == 0 || text.dim() != (n, m) || colour.dim() != (n, m) {
        return Err(Error::Compare(format!(
            "table image: {} rows × {} columns with {:?} texts and {:?} colours",
            n,
            m,
            text.shape(),
            colour.shape()
        )));
    }
    let font = 13.0;
    let line_h = font + 3.0;
    let cell_h = 56u32;
    let headers: Vec<Vec<&str>> = columns.iter().map(|c| c.split('\n').collect()).collect();
    let widths: Vec<u32> = (0..m)
        .map(|j| {
            let head = headers[j].iter().map(|l| text_width(l, font));
            let body = (0..n).map(|i| text_width(&text[[i, j]], font));
            (head.chain(body).fold(0.0, f32::max).ceil() as u32 + 12).max(56)
        })
        .collect();
    let lw = rows
        .iter()
        .map(|l| text_width(l, font))
        .fold(text_width(title, 15.0) / 2.0, f32::max)
        .ceil() as u32
        + 12;
    let head_lines = headers.iter().map(Vec::len).max().unwrap_or(1);
    let top = 30 + (head_lines as f32 * line_h).ceil() as u32 + 6;
    let width = lw + widths.iter().sum::<u32>() + 10;
    let height = top + n as u32 * cell_h + 10;
    let mut img = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    let black = [0, 0, 0];
    draw_text(&mut img, 6.0, 4.0, title, 15.0, black);
    let mut x0 = lw;
    for j in 0..m {
        let w = widths[j] as f32;
        let first = top as f32 - 6.0 - headers[j].len() as f32 * line_h;
        for (k, l) in headers[j].iter().enumerate() {
            let x = x0 as f32 + (w - text_width(l, font)) / 2.0;
            draw_text(&mut img, x, first + k as f32 * line_h, l, font, black);
        }
        for i in 0..n {
            let v = colour[[i, j]];
            let c = if v.is_finite() {
                cmap.rgb(v.clamp(-1.0, 1.0))
            } else {
                [160, 160, 160]
            };
            let y0 = top + i as u32 * cell_h;
            rect(
                &mut img,
                x0 as i64 + 1,
                y0 as i64 + 1,
                (x0 + widths[j]) as i64 - 1,
                (y0 + cell_h) as i64 - 1,
                c,
            );
            let lum = 0.299 * c[0] as f32 + 0.587 * c[1] as f32 + 0.114 * c[2] as f32;
            let tc = if lum < 110.0 { [255, 255, 255] } else { black };
            let s = &text[[i, j]];
            draw_text(
                &mut img,
                x0 as f32 + (w - text_width(s, font)) / 2.0,
                y0 as f32 + (cell_h as f32 - font) / 2.0 - 2.0,
                s,
                font,
                tc,
            );
        }
        x0 += widths[j];
    }
    for (i, l) in rows.iter().enumerate() {
        let y = top as f32 + i as f32 * cell_h as f32 + (cell_h as f32 - font) / 2.0 - 2.0;
        draw_text(&mut img, 6.0, y, l, font, black);
    }
    Ok(img)
}

/// A grid of normalised maps (values in `[-1, 1]`) rendered with `cmap`, each upsampled to a
/// `tile`×`tile` square (nearest neighbour): one column per entry of `columns` (labels
/// split into lines at ` · `), one row per `(label, maps)` of `rows`.
///
/// Errors: [`Error::Compare`] when a row has not one map per column or `tile` is under 16;
/// the heatmap module's errors for empty or non-finite maps.
///
/// ```
/// use lrp::compare::plot::map_grid;
/// use lrp::heatmap::Colormap;
/// let m = ndarray::arr2(&[[1.0_f32, 0.0], [0.0, -1.0]]);
/// let img = map_grid(&["a · b".into()], &[("row".into(), vec![m])], &Colormap::black_firered(), 32).unwrap();
/// assert!(img.width() > 32 && img.height() > 32);
/// ```
pub fn map_grid(
    columns: &[String],
    rows: &[(String, Vec<Array2<f32>>)],
    cmap: &Colormap,
    tile: u32,
) -> Result<RgbImage> {
    if tile < 16 || columns.is_empty() {
        return Err(Error::Compare(format!(
            "a map grid needs columns and tiles of at least 16 pixels, got {} columns of {tile}",
            columns.len()
        )));
    }
    if let Some((l, m)) = rows.iter().find(|(_, m)| m.len() != columns.len()) {
        return Err(Error::Compare(format!(
            "row `{l}` has {} maps for {} columns",
            m.len(),
            columns.len()
        )));
    }
    let font = 12.0;
    let gap = 8u32;
    let col_lines: Vec<Vec<String>> = columns
        .iter()
        .map(|c| {
            c.split(" · ")
                .map(|p| crate::heatmap::fit_text(p, font, (tile + gap) as f32))
                .collect()
        })
        .collect();
    let header = col_lines.iter().map(Vec::len).max().unwrap_or(1) as u32 * (font as u32 + 4) + 6;
    let lw = rows
        .iter()
        .map(|(l, _)| text_width(l, font))
        .fold(0.0, f32::max)
        .ceil() as u32
        + 12;
    let width = lw + columns.len() as u32 * (tile + gap) + gap;
    let height = header + rows.len() as u32 * (tile + gap) + gap;
    let mut img = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    for (j, lines) in col_lines.iter().enumerate() {
        let x0 = (lw + gap + j as u32 * (tile + gap)) as f32;
        for (k, line) in lines.iter().enumerate() {
            let x = x0 + (tile as f32 - text_width(line, font)) / 2.0;
            draw_text(
                &mut img,
                x,
                4.0 + k as f32 * (font + 4.0),
                line,
                font,
                [0, 0, 0],
            );
        }
    }
    for (i, (label, maps)) in rows.iter().enumerate() {
        let y0 = header + i as u32 * (tile + gap);
        draw_text(
            &mut img,
            6.0,
            y0 as f32 + (tile as f32 - font) / 2.0,
            label,
            font,
            [0, 0, 0],
        );
        for (j, m) in maps.iter().enumerate() {
            let t = crate::heatmap::render_upsampled(
                m,
                cmap,
                tile as usize,
                tile as usize,
                crate::heatmap::Upsample::Nearest,
            )?;
            image::imageops::replace(
                &mut img,
                &t,
                (lw + gap + j as u32 * (tile + gap)) as i64,
                y0 as i64,
            );
        }
    }
    Ok(img)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(ticks(0.0, 1.0), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(fmt_tick(0.25), "0.25");
        assert_eq!(fmt_tick(150.0), "150");
    }

    #[test]
    fn plot_rejects_bad_input() {
        assert!(line_plot("t", "x", "y", &[], 300, 200).is_err());
        let s = Series::new("a", vec![0.0], vec![], [0, 0, 0]);
        assert!(line_plot("t", "x", "y", &[s], 300, 200).is_err());
        let ok = Series::new("a", vec![0.0, 1.0], vec![f32::NAN, 1.0], [0, 0, 0]).markers();
        assert!(line_plot("t", "x", "y", &[ok], 300, 200).is_ok());
    }
}
