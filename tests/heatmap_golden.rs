//! Golden-image tests of the heatmap module.
//!
//! Each test renders a relevance array built by formula here and compares the result with a
//! committed PNG under `tests/data/golden/` (within one level per channel). The goldens were
//! produced by the module itself, so every test ALSO checks the golden file's pixels against
//! colours computed in this file straight from the definitions (the spec's black-firered
//! formula, matplotlib's segment data, Zennit's `hot`/`cold` formulas, the LRP toolbox's
//! gray-red), never through the module: a golden that drifted from the definitions fails.
//!
//! Regenerate with `LRP_BLESS=1 cargo test --release --test heatmap_golden`, then look at
//! the images before committing them.

use image::RgbImage;
use lrp::heatmap::{
    self, overlay, render, render_upsampled, Cell, Colormap, Figure, Normalize, Reduce, Row,
    Upsample,
};
use ndarray::{Array2, Array3};
use std::path::PathBuf;

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/golden")
        .join(format!("{name}.png"))
}

/// Compares `img` with the golden PNG `name` (or writes it when `LRP_BLESS=1`) and returns the
/// golden image, so that the independent checks run on the committed file.
fn golden(name: &str, img: &RgbImage) -> RgbImage {
    let path = golden_path(name);
    if std::env::var("LRP_BLESS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        heatmap::save_png(img, &path).unwrap();
    }
    let want = heatmap::load_image(&path).unwrap_or_else(|e| {
        panic!("{e}\n(missing golden? run with LRP_BLESS=1 and inspect the image)")
    });
    assert_eq!(
        want.dimensions(),
        img.dimensions(),
        "{name}: size differs from golden"
    );
    let mut worst = 0;
    for (a, b) in want.pixels().zip(img.pixels()) {
        for ch in 0..3 {
            worst = worst.max(a.0[ch].abs_diff(b.0[ch]));
        }
    }
    assert!(worst <= 1, "{name}: differs from golden by {worst} levels");
    want
}

fn to_u8(c: f64) -> u8 {
    (c.clamp(0.0, 1.0) * 255.0).round() as u8
}

fn assert_close(got: [u8; 3], want: [f64; 3], what: &str) {
    let want = want.map(to_u8);
    for ch in 0..3 {
        assert!(
            got[ch].abs_diff(want[ch]) <= 1,
            "{what}: got {got:?}, definition says {want:?}"
        );
    }
}

// ---- The colour maps' definitions, written out independently of the module. ----

/// LRP_SPEC.md, section Heatmaps.
fn firered(x: f64) -> [f64; 3] {
    let clip = |v: f64, hi: f64| v.clamp(0.0, hi);
    [
        4.0 * clip(x, 0.25) + 2.0 * clip(-x - 0.5, 0.5),
        4.0 * clip(x - 0.25, 0.25) + 4.0 * clip(-x - 0.25, 0.25),
        2.0 * clip(x - 0.5, 0.5) + 4.0 * clip(-x, 0.25),
    ]
}

/// matplotlib `LinearSegmentedColormap` segment data `(t, value)` for one channel.
fn seg(data: &[(f64, f64)], t: f64) -> f64 {
    for w in data.windows(2) {
        let ((t0, v0), (t1, v1)) = (w[0], w[1]);
        if t <= t1 {
            return v0 + (t - t0) / (t1 - t0) * (v1 - v0);
        }
    }
    data[data.len() - 1].1
}

/// matplotlib `from_list`: colours evenly spaced on `t ∈ [0, 1]`.
fn from_list(colors: &[[f64; 3]], t: f64) -> [f64; 3] {
    let n = colors.len() - 1;
    let s = (t.clamp(0.0, 1.0) * n as f64).min(n as f64 - 1e-12);
    let i = s.floor() as usize;
    let f = s - i as f64;
    [0, 1, 2].map(|c| colors[i][c] + f * (colors[i + 1][c] - colors[i][c]))
}

fn reference(name: &str, x: f64) -> [f64; 3] {
    let t = (x + 1.0) / 2.0;
    match name {
        "black-firered" => firered(x),
        // matplotlib _bwr_data and _seismic_data.
        "bwr" => from_list(&[[0.0, 0.0, 1.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0]], t),
        "seismic" => from_list(
            &[
                [0.0, 0.0, 0.3],
                [0.0, 0.0, 1.0],
                [1.0, 1.0, 1.0],
                [1.0, 0.0, 0.0],
                [0.5, 0.0, 0.0],
            ],
            t,
        ),
        // Zennit: coldnhot(t) = hot((2t-1).clip(0,1)) + cold(-(2t-1).clip(-1,0)),
        // hot(y) = (3y, 3y-1, 3y-2), cold(y) = (0, 2y-1, 2y), each clipped to [0, 1].
        "coldnhot" => {
            let y = 2.0 * t - 1.0;
            let (p, n) = (y.clamp(0.0, 1.0), (-y).clamp(0.0, 1.0));
            let hot = [3.0 * p, 3.0 * p - 1.0, 3.0 * p - 2.0].map(|v| v.clamp(0.0, 1.0));
            let cold = [0.0, 2.0 * n - 1.0, 2.0 * n].map(|v: f64| v.clamp(0.0, 1.0));
            [0, 1, 2].map(|c| hot[c] + cold[c])
        }
        // matplotlib _jet_data.
        "jet" => [
            seg(
                &[
                    (0.0, 0.0),
                    (0.35, 0.0),
                    (0.66, 1.0),
                    (0.89, 1.0),
                    (1.0, 0.5),
                ],
                t,
            ),
            seg(
                &[
                    (0.0, 0.0),
                    (0.125, 0.0),
                    (0.375, 1.0),
                    (0.64, 1.0),
                    (0.91, 0.0),
                    (1.0, 0.0),
                ],
                t,
            ),
            seg(
                &[
                    (0.0, 0.5),
                    (0.11, 1.0),
                    (0.34, 1.0),
                    (0.65, 0.0),
                    (1.0, 0.0),
                ],
                t,
            ),
        ],
        // LRP toolbox gregoire_gray_red: gray 0.8, towards red above 0, towards blue below.
        "gray-red" => {
            if x >= 0.0 {
                [0.8 + x * 0.2, 0.8 - x * 0.8, 0.8 - x * 0.8]
            } else {
                [0.8 + x * 0.8, 0.8 + x * 0.8, 0.8 - x * 0.2]
            }
        }
        // matplotlib _afmhot_data: gnuplot functions 34, 35, 36.
        "afmhot" => [2.0 * t, 2.0 * t - 0.5, 2.0 * t - 1.0].map(|v| v.clamp(0.0, 1.0)),
        _ => unreachable!(),
    }
}

const STOP_MAPS: [&str; 7] = [
    "black-firered",
    "bwr",
    "seismic",
    "coldnhot",
    "jet",
    "gray-red",
    "afmhot",
];

/// A horizontal ramp from -1 to 1 over 101 columns (x = -1 + i/50), 6 rows.
fn ramp() -> Array2<f32> {
    Array2::from_shape_fn((6, 101), |(_, i)| -1.0 + i as f32 / 50.0)
}

#[test]
fn gradients_of_every_stop_map() {
    for name in STOP_MAPS {
        let cmap = Colormap::from_name(name).unwrap();
        let img = render(&ramp(), &cmap).unwrap();
        let g = golden(&format!("gradient-{name}"), &img);
        for (i, y, p) in g.enumerate_pixels() {
            let x = -1.0 + i as f64 / 50.0;
            assert_close(
                p.0,
                reference(name, x),
                &format!("{name} at x = {x} (row {y})"),
            );
        }
    }
    // The spec's key points on the black-firered golden, exactly: x = -1, -.5, 0, .5, 1 sit
    // in columns 0, 25, 50, 75, 100 (x = ±.25 fall between columns 37/38 and 62/63).
    let g = heatmap::load_image(golden_path("gradient-black-firered")).unwrap();
    assert_eq!(g.get_pixel(0, 0).0, [255, 255, 255]);
    assert_eq!(g.get_pixel(25, 0).0, [0, 255, 255]);
    assert_eq!(g.get_pixel(50, 0).0, [0, 0, 0]);
    assert_eq!(g.get_pixel(75, 0).0, [255, 255, 0]);
    assert_eq!(g.get_pixel(100, 0).0, [255, 255, 255]);
}

/// Two Gaussian blobs, +2 at (16, 20) and −1 at (32, 44), σ = 6, on a 48 × 64 map, spread
/// over three channels with weights .5, .3, .2 (so the channel sum is the blob pattern).
fn two_blobs() -> (Array3<f32>, Array2<f64>) {
    let (h, w) = (48, 64);
    let g = |y: f64, x: f64, cy: f64, cx: f64| {
        (-((y - cy).powi(2) + (x - cx).powi(2)) / (2.0 * 36.0)).exp()
    };
    let sum = Array2::from_shape_fn((h, w), |(y, x)| {
        let (y, x) = (y as f64, x as f64);
        2.0 * g(y, x, 16.0, 20.0) - g(y, x, 32.0, 44.0)
    });
    let weights = [0.5, 0.3, 0.2];
    let r = Array3::from_shape_fn((3, h, w), |(c, y, x)| (weights[c] * sum[[y, x]]) as f32);
    (r, sum)
}

#[test]
fn two_blobs_black_firered() {
    let (r, sum) = two_blobs();
    let h = heatmap::reduce(r.view(), Reduce::Sum).unwrap();
    let n = heatmap::normalize(&h, &Normalize::default()).unwrap();
    let img = render(&n.map, &Colormap::black_firered()).unwrap();
    let g = golden("two-blobs-black-firered", &img);
    // Every pixel against the formula applied to the test's own normalisation.
    let max = sum.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    for (x, y, p) in g.enumerate_pixels() {
        let v = sum[[y as usize, x as usize]] / max;
        assert_close(p.0, firered(v), &format!("pixel ({x}, {y}), x = {v:.4}"));
    }
    // Landmarks: the positive peak is white, the negative peak (-1/2, the other blob's tail
    // is ~1e-9 there) cyan, the far corner (|x| < 1e-6) black.
    assert_eq!(g.get_pixel(20, 16).0, [255, 255, 255]);
    assert_eq!(g.get_pixel(44, 32).0, [0, 255, 255]);
    assert_eq!(g.get_pixel(63, 0).0, [0, 0, 0]);

    // Percentile clipping at 99.5: the peaks saturate, values scale up by max / q.
    let c = heatmap::normalize(&h, &Normalize::percentile(99.5)).unwrap();
    assert!(
        c.scale < n.scale && c.scale > 0.5 * n.scale,
        "{} vs {}",
        c.scale,
        n.scale
    );
    assert_eq!(c.map[[16, 20]], 1.0);
}

#[test]
fn two_blobs_upsampled() {
    let (r, _) = two_blobs();
    let h = heatmap::reduce(r.view(), Reduce::Sum).unwrap();
    let n = heatmap::normalize(&h, &Normalize::default()).unwrap();
    let cmap = Colormap::black_firered();
    let base = heatmap::load_image(golden_path("two-blobs-black-firered")).unwrap();

    let near = render_upsampled(&n.map, &cmap, 4 * 48, 4 * 64, Upsample::Nearest).unwrap();
    let g = golden("two-blobs-nearest-x4", &near);
    // Nearest ×4 of the committed base golden: every 4×4 block is one base pixel.
    for (x, y, p) in g.enumerate_pixels() {
        assert_eq!(p.0, base.get_pixel(x / 4, y / 4).0, "block at ({x}, {y})");
    }

    let bil = render_upsampled(&n.map, &cmap, 4 * 48, 4 * 64, Upsample::Bilinear).unwrap();
    let g = golden("two-blobs-bilinear-x4", &bil);
    // At output pixel (4i + 1.5, 4j + 1.5) = source centre (i, j), bilinear weights are
    // (5/8, 3/8) between neighbours; check a grid of pixels by hand-computed interpolation.
    let hm = n.map.mapv(f64::from);
    for (oy, ox) in [(65usize, 81usize), (130, 178), (10, 250), (100, 100)] {
        let sy = ((oy as f64 + 0.5) / 4.0 - 0.5).clamp(0.0, 47.0);
        let sx = ((ox as f64 + 0.5) / 4.0 - 0.5).clamp(0.0, 63.0);
        let (y0, x0) = (sy.floor() as usize, sx.floor() as usize);
        let (y1, x1) = ((y0 + 1).min(47), (x0 + 1).min(63));
        let (fy, fx) = (sy - y0 as f64, sx - x0 as f64);
        let top = hm[[y0, x0]] * (1.0 - fx) + hm[[y0, x1]] * fx;
        let bot = hm[[y1, x0]] * (1.0 - fx) + hm[[y1, x1]] * fx;
        let v = top * (1.0 - fy) + bot * fy;
        assert_close(
            g.get_pixel(ox as u32, oy as u32).0,
            firered(v),
            &format!("({ox}, {oy})"),
        );
    }
}

#[test]
fn all_zero_maps_render_the_centre() {
    let r = Array3::<f32>::zeros((3, 12, 16));
    let h = heatmap::reduce(r.view(), Reduce::Sum).unwrap();
    let n = heatmap::normalize(&h, &Normalize::percentile(99.5)).unwrap();
    assert_eq!(n.scale, 0.0);
    let img = render(&n.map, &Colormap::black_firered()).unwrap();
    let g = golden("zero-black-firered", &img);
    assert!(g.pixels().all(|p| p.0 == [0, 0, 0]));
    for (name, centre) in [
        ("bwr", [255, 255, 255]),
        ("seismic", [255, 255, 255]),
        ("coldnhot", [0, 0, 0]),
        ("gray-red", [204, 204, 204]),
    ] {
        let img = render(&n.map, &Colormap::from_name(name).unwrap()).unwrap();
        assert!(img.pixels().all(|p| p.0 == centre), "{name}");
    }
}

/// A smooth synthetic "photo": a horizontal brightness ramp with a tint.
fn photo(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let v = 60 + (140 * x / w.max(1)) as u8;
        image::Rgb([v, v.saturating_sub(20), (90 + (60 * y / h.max(1))) as u8])
    })
}

#[test]
fn overlay_two_blobs() {
    let (r, sum) = two_blobs();
    let h = heatmap::reduce(r.view(), Reduce::Sum).unwrap();
    let n = heatmap::normalize(&h, &Normalize::default()).unwrap();
    let base = photo(64, 48);
    let (gamma, max_alpha) = (0.5_f64, 0.8_f64);
    let img = overlay(
        &base,
        &n.map,
        &Colormap::black_firered(),
        gamma as f32,
        max_alpha as f32,
    )
    .unwrap();
    let g = golden("overlay-two-blobs", &img);
    let max = sum.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    for (x, y, p) in g.enumerate_pixels() {
        let v = sum[[y as usize, x as usize]] / max;
        let a = max_alpha * v.abs().powf(gamma);
        let c = firered(v);
        let b = base.get_pixel(x, y).0;
        let want = [0, 1, 2].map(|k| (1.0 - a) * b[k] as f64 / 255.0 + a * c[k]);
        assert_close(p.0, want, &format!("overlay pixel ({x}, {y})"));
    }
}

/// A small labelled figure. Its text comes from ab_glyph's rasteriser: a different version of
/// it may move anti-aliasing by more than one level, in which case re-bless after looking.
#[test]
fn small_figure() {
    let (r, _) = two_blobs();
    let h = heatmap::reduce(r.view(), Reduce::Sum).unwrap();
    let flipped = h.slice(ndarray::s![.., ..;-1]).to_owned();
    let fig = Figure::new(["AdienceNet", "VGG-16"])
        .cell_size(96, 72)
        .font_size(12.0)
        .title("fake relevance")
        .row(
            Row::new(photo(64, 48))
                .label("face 1")
                .cell(
                    Cell::new(h.clone())
                        .label("epsilon")
                        .prediction("male", 0.932),
                )
                .cell(
                    Cell::new(flipped)
                        .label("alpha2-beta1")
                        .prediction("female", 0.61),
                ),
        )
        .row(
            Row::new(photo(48, 48))
                .label("face 2")
                .blank()
                .cell(Cell::new(-h).prediction("(25-32)", 0.404)),
        );
    let img = fig.render().unwrap();
    let g = golden("figure-small", &img);
    // Independent check: each heatmap tile (the 48 × 64 map fitted into the 96 × 72 cell,
    // i.e. nearest ×1.5) must appear in the golden exactly once, with every pixel the spec
    // formula's colour of the test's own normalisation; the blank cell must not hold one.
    let (_, sum) = two_blobs();
    let max = sum.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    let tile = |sign: f64, flip: bool| {
        Array2::from_shape_fn((72, 96), |(y, x)| {
            let (sy, sx) = (y * 48 / 72, x * 64 / 96);
            let sx = if flip { 63 - sx } else { sx };
            firered(sign * sum[[sy, sx]] / max).map(to_u8)
        })
    };
    let find = |t: &Array2<[u8; 3]>| -> Vec<(u32, u32)> {
        let mut hits = vec![];
        for y0 in 0..=g.height() - 72 {
            'pos: for x0 in 0..=g.width() - 96 {
                for ((y, x), want) in t.indexed_iter() {
                    let got = g.get_pixel(x0 + x as u32, y0 + y as u32).0;
                    if (0..3).any(|c| got[c].abs_diff(want[c]) > 1) {
                        continue 'pos;
                    }
                }
                hits.push((x0, y0));
            }
        }
        hits
    };
    let a = find(&tile(1.0, false));
    let b = find(&tile(1.0, true));
    let c = find(&tile(-1.0, false));
    assert_eq!((a.len(), b.len(), c.len()), (1, 1, 1), "{a:?} {b:?} {c:?}");
    // Same row for the first two, the third below the second, in the same column.
    assert_eq!(a[0].1, b[0].1);
    assert!(b[0].0 > a[0].0 + 96);
    assert_eq!(c[0].0, b[0].0);
    assert!(c[0].1 > b[0].1 + 72);
    // The blank cell (row 1, column 1) is background white.
    for y in c[0].1..c[0].1 + 72 {
        for x in a[0].0..a[0].0 + 96 {
            assert_eq!(
                g.get_pixel(x, y).0,
                [255, 255, 255],
                "blank cell at ({x}, {y})"
            );
        }
    }
}
