//! Renders sample heatmap figures from fake data (no model needed):
//! `cargo run --release --example heatmap_figure [OUT_DIR]` writes `figure.png` (plain heatmaps),
//! `figure-overlay.png` (overlays) and `colormaps.png` (every colour map) to OUT_DIR
//! (default `lrp-out/`).

use image::{Rgb, RgbImage};
use lrp::heatmap::{self, Cell, ColorbarTicks, Colormap, Figure, Normalize, Reduce, Row};
use ndarray::{Array2, Array3};

/// A cartoon face: skin-coloured ellipse, two eyes, a mouth, on a gray background.
fn face(size: u32, tint: [f32; 3]) -> RgbImage {
    let s = size as f32;
    RgbImage::from_fn(size, size, |x, y| {
        let (u, v) = (x as f32 / s - 0.5, y as f32 / s - 0.5);
        let inside = (u / 0.33).powi(2) + (v / 0.42).powi(2) < 1.0;
        let eye = ((u.abs() - 0.12).powi(2) + (v + 0.08).powi(2)).sqrt() < 0.04;
        let mouth = (u / 0.14).powi(2) + ((v - 0.2) / 0.035).powi(2) < 1.0;
        let c = if eye {
            [40.0, 30.0, 30.0]
        } else if mouth {
            [150.0, 60.0, 60.0]
        } else if inside {
            [225.0 * tint[0], 180.0 * tint[1], 150.0 * tint[2]]
        } else {
            [110.0 + 40.0 * v, 115.0 + 40.0 * v, 120.0 + 40.0 * v]
        };
        Rgb(c.map(|v| v.clamp(0.0, 255.0) as u8))
    })
}

/// Fake [3, 227, 227] relevance: positive on the eyes (weight `eyes`), negative on the
/// mouth (weight `mouth`), plus deterministic pixel noise.
fn relevance(eyes: f32, mouth: f32, seed: u64) -> Array3<f32> {
    let n = 227usize;
    let mut state = seed;
    let mut noise = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    };
    let blob = |x: f32, y: f32, cx: f32, cy: f32, s: f32| {
        (-((x - cx).powi(2) + (y - cy).powi(2)) / (2.0 * s * s)).exp()
    };
    Array3::from_shape_fn((3, n, n), |(_, y, x)| {
        let (x, y) = (x as f32 / n as f32, y as f32 / n as f32);
        let e = blob(x, y, 0.38, 0.42, 0.05) + blob(x, y, 0.62, 0.42, 0.05);
        let m = blob(x, y, 0.5, 0.7, 0.06);
        eyes * e - mouth * m
    })
    .mapv(|v| v + 0.05 * noise())
}

fn main() -> lrp::Result<()> {
    let out = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or("lrp-out".into()));
    std::fs::create_dir_all(&out).map_err(|e| lrp::Error::Io {
        file: out.display().to_string(),
        source: e,
    })?;
    let models = ["AdienceNet", "CaffeNet", "VGG-16"];
    let preds = [
        [("male", 0.874), ("male", 0.912), ("male", 0.957)],
        [("female", 0.633), ("male", 0.518), ("female", 0.802)],
    ];
    let rows: Vec<Row> = (0..2)
        .map(|i| {
            let mut row = Row::new(face(
                256,
                if i == 0 {
                    [1.0, 1.0, 1.0]
                } else {
                    [0.9, 0.85, 0.95]
                },
            ))
            .label(format!("image {} (fake)", i + 1));
            for (j, model) in models.iter().enumerate() {
                let r = relevance(
                    1.0 + j as f32 * 0.5,
                    0.3 + 0.4 * i as f32,
                    (i * 3 + j) as u64,
                );
                let h = heatmap::reduce(r.view(), Reduce::Sum).unwrap();
                let (class, p) = preds[i][j];
                row = row.cell(
                    Cell::new(h)
                        .label(format!("{model} · LRP-ε"))
                        .prediction(class, p),
                );
            }
            row
        })
        .collect();
    let mut fig =
        Figure::new(models).title("Gender: LRP relevance for the predicted class (fake data)");
    for r in rows.clone() {
        fig.push_row(r);
    }
    fig.save(out.join("figure.png"))?;
    let mut ov = Figure::new(models)
        .title("Overlays, α = 0.9·|x|^0.5, 99.5th-percentile clipping")
        .normalize(Normalize::percentile(99.5))
        .ticks(ColorbarTicks::Max)
        .overlay(0.5, 0.9);
    for r in rows {
        ov.push_row(r);
    }
    ov.save(out.join("figure-overlay.png"))?;

    // Every colour map on the same ramp.
    let names: Vec<&str> = Colormap::names().collect();
    let (w, strip, label_w) = (400u32, 18u32, 130u32);
    let mut img = RgbImage::from_pixel(
        w + label_w + 20,
        names.len() as u32 * (strip + 6) + 10,
        Rgb([255; 3]),
    );
    let ramp = Array2::from_shape_fn((strip as usize, w as usize), |(_, x)| {
        -1.0 + 2.0 * x as f32 / (w - 1) as f32
    });
    for (i, name) in names.iter().enumerate() {
        let y = 5 + i as u32 * (strip + 6);
        let tile = heatmap::render(&ramp, &Colormap::from_name(name)?)?;
        image::imageops::replace(&mut img, &tile, 10, y as i64);
        heatmap::draw_text(
            &mut img,
            (w + 16) as f32,
            y as f32 + 1.0,
            name,
            13.0,
            [0, 0, 0],
        );
    }
    heatmap::save_png(&img, out.join("colormaps.png"))?;
    println!(
        "wrote {}/figure.png, figure-overlay.png, colormaps.png",
        out.display()
    );
    Ok(())
}
