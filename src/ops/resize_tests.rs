//! Tests of Resize against naive loops (included by `resize.rs`).
use super::*;
use crate::ops::linear::reference::check_rules;
use crate::ops::testutil::{assert_close, random};

/// The value at output pixel `(oy, ox)` of one `h×w` plane, written directly from the
/// formulas of the module documentation in f64 (clamped neighbours, no tap bookkeeping).
fn naive_pixel(r: &Resize, plane: &[f64], (h, w): (usize, usize), (oy, ox): (usize, usize)) -> f64 {
    let node = NodeRef::new("r", "Resize");
    let out = r.output_shape(&node, &[1, h, w]).unwrap();
    let scale = |a: usize, len: usize, o: usize| match r.size {
        ResizeSize::Scales(s) => s[a] as f64,
        ResizeSize::Sizes(_) => o as f64 / len as f64,
    };
    let coord = |a: usize, o: usize, len: usize, olen: usize| -> f64 {
        let s = scale(a, len, olen);
        let o = o as f64;
        match r.coordinates {
            Coordinates::HalfPixel => (o + 0.5) / s - 0.5,
            Coordinates::PytorchHalfPixel => {
                if olen > 1 {
                    (o + 0.5) / s - 0.5
                } else {
                    0.0
                }
            }
            Coordinates::AlignCorners => {
                if olen > 1 {
                    o * (len as f64 - 1.0) / (olen as f64 - 1.0)
                } else {
                    0.0
                }
            }
            Coordinates::Asymmetric => o / s,
        }
    };
    let cy = coord(0, oy, h, out[1]);
    let cx = coord(1, ox, w, out[2]);
    let at = |y: f64, x: f64| {
        let y = y.clamp(0.0, h as f64 - 1.0) as usize;
        let x = x.clamp(0.0, w as f64 - 1.0) as usize;
        plane[y * w + x]
    };
    match r.interpolation {
        Interpolation::Nearest(mode) => {
            let round = |v: f64| match mode {
                Nearest::Floor => v.floor(),
                Nearest::Ceil => v.ceil(),
                Nearest::RoundPreferFloor => {
                    if v - v.floor() == 0.5 {
                        v.floor()
                    } else {
                        v.round()
                    }
                }
                Nearest::RoundPreferCeil => {
                    if v - v.floor() == 0.5 {
                        v.ceil()
                    } else {
                        v.round()
                    }
                }
            };
            at(round(cy), round(cx))
        }
        Interpolation::Linear => {
            let (y0, x0) = (cy.floor(), cx.floor());
            let (ry, rx) = (cy - y0, cx - x0);
            (1.0 - ry) * (1.0 - rx) * at(y0, x0)
                + (1.0 - ry) * rx * at(y0, x0 + 1.0)
                + ry * (1.0 - rx) * at(y0 + 1.0, x0)
                + ry * rx * at(y0 + 1.0, x0 + 1.0)
        }
    }
}

/// The explicit matrix of `r` on one `h×w` plane: column `i` is the naive resize of the unit
/// image `e_i`.
fn matrix(r: &Resize, h: usize, w: usize) -> (Vec<Vec<f64>>, usize, usize) {
    let out = r
        .output_shape(&NodeRef::new("r", "Resize"), &[1, h, w])
        .unwrap();
    let (oh, ow) = (out[1], out[2]);
    let mut a = vec![vec![0f64; h * w]; oh * ow];
    for i in 0..h * w {
        let mut e = vec![0f64; h * w];
        e[i] = 1.0;
        for oy in 0..oh {
            for ox in 0..ow {
                a[oy * ow + ox][i] = naive_pixel(r, &e, (h, w), (oy, ox));
            }
        }
    }
    (a, oh, ow)
}

fn all_modes() -> Vec<Interpolation> {
    vec![
        Interpolation::Linear,
        Interpolation::Nearest(Nearest::RoundPreferFloor),
        Interpolation::Nearest(Nearest::RoundPreferCeil),
        Interpolation::Nearest(Nearest::Floor),
        Interpolation::Nearest(Nearest::Ceil),
    ]
}

const COORDS: [Coordinates; 4] = [
    Coordinates::HalfPixel,
    Coordinates::PytorchHalfPixel,
    Coordinates::AlignCorners,
    Coordinates::Asymmetric,
];

/// Up, down and mixed: scales (incl. one giving an output of 1) and sizes.
const SIZES: [ResizeSize; 6] = [
    ResizeSize::Scales([2.0, 2.0]),
    ResizeSize::Scales([1.5, 0.5]),
    ResizeSize::Scales([0.6, 3.0]),
    ResizeSize::Scales([0.25, 1.0]),
    ResizeSize::Sizes([7, 3]),
    ResizeSize::Sizes([1, 9]),
];

#[test]
fn matches_naive_loops() {
    let (n, c, h, w) = (2, 3, 4, 5);
    let x = random(&[n, c, h, w], 7);
    for interpolation in all_modes() {
        for coordinates in COORDS {
            for size in SIZES {
                let r = Resize::new(interpolation, coordinates, size);
                let y = r.forward(&x);
                let (oh, ow) = (y.shape()[2], y.shape()[3]);
                let mut want = Tensor::zeros(IxDyn(y.shape()));
                for b in 0..n {
                    for ch in 0..c {
                        let plane: Vec<f64> = x
                            .slice(ndarray::s![b, ch, .., ..])
                            .iter()
                            .map(|&v| v as f64)
                            .collect();
                        for oy in 0..oh {
                            for ox in 0..ow {
                                want[[b, ch, oy, ox]] =
                                    naive_pixel(&r, &plane, (h, w), (oy, ox)) as f32;
                            }
                        }
                    }
                }
                assert_close(&y, &want, 1e-6);
            }
        }
    }
}

#[test]
fn output_sizes_and_errors() {
    let node = NodeRef::new("up3", "Resize");
    let r = |size| Resize::new(Interpolation::Linear, Coordinates::HalfPixel, size);
    // ⌊L·s⌋ from the stored f32 scale: 10 · 0.7f32 = 6.99999988 → 6 (the reference's f64).
    assert_eq!(
        r(ResizeSize::Scales([0.7, 1.5]))
            .output_shape(&node, &[2, 10, 3])
            .unwrap(),
        vec![2, 6, 4]
    );
    assert_eq!(
        r(ResizeSize::Sizes([5, 6]))
            .output_shape(&node, &[2, 10, 3])
            .unwrap(),
        vec![2, 5, 6]
    );
    for bad in [
        ResizeSize::Scales([0.05, 1.0]),
        ResizeSize::Scales([f32::NAN, 1.0]),
        ResizeSize::Sizes([0, 2]),
    ] {
        let msg = r(bad)
            .output_shape(&node, &[2, 10, 3])
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("up3") && msg.contains("no output size"),
            "{msg}"
        );
    }
    let msg = r(ResizeSize::Sizes([5, 6]))
        .output_shape(&node, &[10, 3])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("[C, H, W]"), "{msg}");
}

/// Hand-computed: 3 → 2 bilinear, align_corners, and 2 → 3 half-pixel.
#[test]
fn hand_computed_weights() {
    let x = Tensor::from_shape_vec(IxDyn(&[1, 1, 1, 3]), vec![1.0, 2.0, 4.0]).unwrap();
    let r = Resize::new(
        Interpolation::Linear,
        Coordinates::AlignCorners,
        ResizeSize::Sizes([1, 2]),
    );
    // x(o) = o · 2/1: the two ends.
    assert_eq!(r.forward(&x).as_slice().unwrap(), &[1.0, 4.0]);
    let x = Tensor::from_shape_vec(IxDyn(&[1, 1, 1, 2]), vec![3.0, 9.0]).unwrap();
    let r = Resize::new(
        Interpolation::Linear,
        Coordinates::HalfPixel,
        ResizeSize::Sizes([1, 3]),
    );
    // s = 3/2: x(0) = 1/3 − 1/2 < 0 → 3; x(1) = 1 − 1/2 = ½ → 6; x(2) = 5/3 − 1/2 = 7/6 → 9.
    let y = r.forward(&x);
    for (a, b) in y.iter().zip([3.0, 6.0, 9.0]) {
        assert!((a - b).abs() < 1e-6, "{y:?}");
    }
}

/// Adjoint, stacked and uniform transposes agree with the plain transpose.
#[test]
fn transpose_products_are_consistent() {
    let arr = |v: Vec<f32>| Tensor::from_shape_vec(IxDyn(&[v.len()]), v).unwrap();
    for interpolation in [
        Interpolation::Linear,
        Interpolation::Nearest(Nearest::RoundPreferCeil),
    ] {
        for size in SIZES {
            let r = Resize::new(interpolation, Coordinates::HalfPixel, size);
            let map = r.map(&[2, 4, 5]);
            let (il, ol, n) = (map.in_len(), map.out_len(), 3);
            let x: Vec<f32> = random(&[n * il], 1).iter().copied().collect();
            let s: Vec<f32> = random(&[n * ol], 2).iter().copied().collect();
            let mut fx = vec![0f32; n * ol];
            let mut fts = vec![0f32; n * il];
            map.forward(&x, n, map.weight_values(), None, &mut fx);
            map.transpose(&s, n, map.weight_values(), &mut fts);
            let dot = |a: &[f32], b: &[f32]| {
                a.iter()
                    .zip(b)
                    .map(|(p, q)| *p as f64 * *q as f64)
                    .sum::<f64>()
            };
            let (lhs, rhs) = (dot(&fx, &s), dot(&x, &fts));
            assert!(
                (lhs - rhs).abs() <= 1e-4 * lhs.abs().max(1.0),
                "{lhs} vs {rhs}"
            );
            let wv = map.weight_values();
            let wa: Vec<f32> = wv.iter().map(|v| 0.5 * v).collect();
            let wb: Vec<f32> = wv.iter().map(|v| -2.0 * v).collect();
            let stacked = [wa.clone(), wb.clone()].concat();
            let s2: Vec<f32> = random(&[n * 2 * ol], 3).iter().copied().collect();
            let (mut sa, mut sb) = (Vec::new(), Vec::new());
            for smp in s2.chunks(2 * ol) {
                sa.extend_from_slice(&smp[..ol]);
                sb.extend_from_slice(&smp[ol..]);
            }
            let mut got = vec![0f32; n * il];
            map.transpose_stacked(&s2, n, &stacked, &mut got);
            let (mut ta, mut tb) = (vec![0f32; n * il], vec![0f32; n * il]);
            map.transpose(&sa, n, &wa, &mut ta);
            map.transpose(&sb, n, &wb, &mut tb);
            let want: Vec<f32> = ta.iter().zip(&tb).map(|(a, b)| a + b).collect();
            assert_close(&arr(got), &arr(want), 1e-5);
            let mut got = vec![0f32; n * il];
            map.transpose_uniform(&s, n, 0.25, &mut got);
            let mut want = vec![0f32; n * il];
            map.transpose(&s, n, &vec![0.25; wv.len()], &mut want);
            assert_close(&arr(got), &arr(want), 1e-5);
        }
    }
}

/// ε and z⁺ against their closed forms over the explicit (naive) matrix, every mode.
#[test]
fn rules_match_the_explicit_matrix() {
    let (c, h, w) = (2, 3, 4);
    for interpolation in all_modes() {
        for coordinates in COORDS {
            for size in [ResizeSize::Scales([2.0, 1.5]), ResizeSize::Sizes([2, 7])] {
                let r = Resize::new(interpolation, coordinates, size);
                let (plane, oh, ow) = matrix(&r, h, w);
                // Block-diagonal over the channels.
                let (pi, po) = (h * w, oh * ow);
                let mut a = vec![vec![0f64; c * pi]; c * po];
                for ch in 0..c {
                    for j in 0..po {
                        a[ch * po + j][ch * pi..(ch + 1) * pi].copy_from_slice(&plane[j]);
                    }
                }
                let map = r.map(&[c, h, w]);
                let x: Vec<f32> = random(&[c * pi], 5).iter().copied().collect();
                let rel: Vec<f32> = random(&[c * po], 6).iter().copied().collect();
                check_rules(&map, &a, &vec![0.0; c * po], &x, &rel, 1e-4);
            }
        }
    }
}
