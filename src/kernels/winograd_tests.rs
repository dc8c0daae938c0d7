//! Winograd F(4×4, 3×3) against a direct convolution in f64 (included by `winograd.rs`).
use super::*;

/// Deterministic values in [-1, 1) from a seed (a 64-bit LCG, high bits).
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// The direct convolution, written out as the definition, in f64.
fn direct(x: &[f32], s: &Shape3x3, w: &[f32], bias: Option<&[f32]>) -> Vec<f64> {
    let (oh, ow) = s.out_hw();
    let [pt, pl, ..] = s.pads;
    let mut y = vec![0f64; s.n * s.k * oh * ow];
    for img in 0..s.n {
        for o in 0..s.k {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = bias.map_or(0.0, |b| f64::from(b[o]));
                    for i in 0..s.c {
                        for a in 0..3 {
                            for b in 0..3 {
                                let iy = (oy + a) as isize - pt as isize;
                                let ix = (ox + b) as isize - pl as isize;
                                if iy < 0 || ix < 0 || iy >= s.h as isize || ix >= s.w as isize {
                                    continue;
                                }
                                acc += f64::from(w[((o * s.c + i) * 3 + a) * 3 + b])
                                    * f64::from(
                                        x[((img * s.c + i) * s.h + iy as usize) * s.w
                                            + ix as usize],
                                    );
                            }
                        }
                    }
                    y[((img * s.k + o) * oh + oy) * ow + ox] = acc;
                }
            }
        }
    }
    y
}

/// The transpose of [`direct`] in f64: every output's `g` scattered back through its window.
fn direct_transpose(g: &[f32], s: &Shape3x3, w: &[f32]) -> Vec<f64> {
    let (oh, ow) = s.out_hw();
    let [pt, pl, ..] = s.pads;
    let mut out = vec![0f64; s.n * s.c * s.h * s.w];
    for img in 0..s.n {
        for o in 0..s.k {
            for oy in 0..oh {
                for ox in 0..ow {
                    let gv = f64::from(g[((img * s.k + o) * oh + oy) * ow + ox]);
                    for i in 0..s.c {
                        for a in 0..3 {
                            for b in 0..3 {
                                let iy = (oy + a) as isize - pt as isize;
                                let ix = (ox + b) as isize - pl as isize;
                                if iy < 0 || ix < 0 || iy >= s.h as isize || ix >= s.w as isize {
                                    continue;
                                }
                                out[((img * s.c + i) * s.h + iy as usize) * s.w + ix as usize] +=
                                    f64::from(w[((o * s.c + i) * 3 + a) * 3 + b]) * gv;
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// max|got − want| / max|want|.
fn rel_err(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
    let err = got
        .iter()
        .zip(want)
        .fold(0f64, |m, (g, w)| m.max((f64::from(*g) - w).abs()));
    err / scale
}

/// Shapes: odd sizes, every pad from 0 to 2 and asymmetric ones, channel counts that are not
/// multiples of 16, batch 1 and 3, and images smaller than one tile.
const SHAPES: [Shape3x3; 9] = [
    Shape3x3 {
        n: 1,
        c: 3,
        h: 9,
        w: 11,
        k: 5,
        pads: [0; 4],
    },
    Shape3x3 {
        n: 3,
        c: 17,
        h: 13,
        w: 7,
        k: 19,
        pads: [1; 4],
    },
    Shape3x3 {
        n: 1,
        c: 20,
        h: 15,
        w: 15,
        k: 33,
        pads: [2; 4],
    },
    Shape3x3 {
        n: 3,
        c: 5,
        h: 10,
        w: 9,
        k: 7,
        pads: [0, 1, 2, 1],
    },
    Shape3x3 {
        n: 1,
        c: 9,
        h: 12,
        w: 14,
        k: 4,
        pads: [2, 0, 1, 2],
    },
    Shape3x3 {
        n: 1,
        c: 2,
        h: 3,
        w: 3,
        k: 3,
        pads: [0; 4],
    },
    Shape3x3 {
        n: 3,
        c: 4,
        h: 1,
        w: 2,
        k: 6,
        pads: [1, 1, 1, 0],
    },
    Shape3x3 {
        n: 1,
        c: 35,
        h: 29,
        w: 31,
        k: 18,
        pads: [1; 4],
    },
    Shape3x3 {
        n: 1,
        c: 6,
        h: 8,
        w: 8,
        k: 8,
        pads: [3, 0, 4, 1],
    },
];

/// Winograd F(4×4, 3×3) in float32 is typically within ~1e-6–1e-5 of max|y|; 1e-4 leaves
/// room for unlucky rounding and none for a wrong transform.
const TOL: f64 = 1e-4;

#[test]
fn forward_matches_direct_f64() {
    for (t, s) in SHAPES.iter().enumerate() {
        let seed = 10 * t as u64;
        let x = values(s.n * s.c * s.h * s.w, seed);
        let w = values(s.k * s.c * 9, seed + 1);
        let b = values(s.k, seed + 2);
        let (oh, ow) = s.out_hw();
        let mut y = vec![f32::NAN; s.n * s.k * oh * ow];
        conv3x3(&x, s, &w, Some(&b), &mut y);
        let e = rel_err(&y, &direct(&x, s, &w, Some(&b)));
        assert!(e <= TOL, "{s:?}: relative error {e:e}");
        let mut y = vec![f32::NAN; s.n * s.k * oh * ow];
        conv3x3(&x, s, &w, None, &mut y);
        let e = rel_err(&y, &direct(&x, s, &w, None));
        assert!(e <= TOL, "{s:?} without bias: relative error {e:e}");
    }
}

#[test]
fn transpose_matches_direct_f64() {
    for (t, s) in SHAPES.iter().enumerate() {
        if !transpose_supported(s) {
            assert!(s.pads.iter().any(|&p| p > 2));
            continue;
        }
        let seed = 10 * t as u64 + 5;
        let (oh, ow) = s.out_hw();
        let g = values(s.n * s.k * oh * ow, seed);
        let w = values(s.k * s.c * 9, seed + 1);
        let mut out = vec![f32::NAN; s.n * s.c * s.h * s.w];
        conv3x3_transpose(&g, s, &w, &mut out);
        let e = rel_err(&out, &direct_transpose(&g, s, &w));
        assert!(e <= TOL, "{s:?}: relative error {e:e}");
    }
}

#[test]
fn several_blocks_of_tile_rows_match_direct() {
    // Enough channels that the scratch bound splits the image into several blocks of tile
    // rows (36·(c + k)·tw floats per tile row).
    let s = Shape3x3 {
        n: 2,
        c: 1000,
        h: 30,
        w: 30,
        k: 1000,
        pads: [1; 4],
    };
    let (oh, ow) = s.out_hw();
    assert!(36 * (s.c + s.k) * ow.div_ceil(4) * 2 * oh.div_ceil(4) > SCRATCH_FLOATS);
    let x = values(s.n * s.c * s.h * s.w, 77);
    let w = values(s.k * s.c * 9, 78);
    let mut y = vec![f32::NAN; s.n * s.k * oh * ow];
    conv3x3(&x, &s, &w, None, &mut y);
    // Check a few output channels against the direct sum (the full f64 reference would
    // take minutes in a test).
    let [pt, pl, ..] = s.pads;
    let mut worst = 0f64;
    let mut scale = 0f64;
    for &(img, o) in &[(0usize, 0usize), (1, 999), (1, 500)] {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = 0f64;
                for i in 0..s.c {
                    for a in 0..3 {
                        for b in 0..3 {
                            let iy = (oy + a) as isize - pt as isize;
                            let ix = (ox + b) as isize - pl as isize;
                            if iy < 0 || ix < 0 || iy >= s.h as isize || ix >= s.w as isize {
                                continue;
                            }
                            acc += f64::from(w[((o * s.c + i) * 3 + a) * 3 + b])
                                * f64::from(
                                    x[((img * s.c + i) * s.h + iy as usize) * s.w + ix as usize],
                                );
                        }
                    }
                }
                let got = f64::from(y[((img * s.k + o) * oh + oy) * ow + ox]);
                worst = worst.max((got - acc).abs());
                scale = scale.max(acc.abs());
            }
        }
    }
    assert!(worst / scale <= TOL, "relative error {:e}", worst / scale);
}

#[test]
fn an_image_gets_the_same_bits_alone_and_in_a_batch() {
    // `lrp explain --shard` merges to the bytes of a full run only if an image's result does
    // not depend on the other images of its batch; this holds for the direct path, and must
    // for Winograd too (forward and transposed), also when the batch spans several blocks.
    for s in [SHAPES[1], SHAPES[7]] {
        let batch = Shape3x3 { n: 3, ..s };
        let one = Shape3x3 { n: 1, ..s };
        let (oh, ow) = s.out_hw();
        let x = values(batch.n * s.c * s.h * s.w, 41);
        let w = values(s.k * s.c * 9, 42);
        let mut y = vec![f32::NAN; batch.n * s.k * oh * ow];
        conv3x3(&x, &batch, &w, None, &mut y);
        let g = values(batch.n * s.k * oh * ow, 43);
        let mut back = vec![f32::NAN; batch.n * s.c * s.h * s.w];
        conv3x3_transpose(&g, &batch, &w, &mut back);
        let (xin, yout) = (s.c * s.h * s.w, s.k * oh * ow);
        for i in 0..batch.n {
            let mut yi = vec![f32::NAN; yout];
            conv3x3(&x[i * xin..(i + 1) * xin], &one, &w, None, &mut yi);
            assert_eq!(yi, y[i * yout..(i + 1) * yout], "{s:?} forward, image {i}");
            let mut bi = vec![f32::NAN; xin];
            conv3x3_transpose(&g[i * yout..(i + 1) * yout], &one, &w, &mut bi);
            assert_eq!(
                bi,
                back[i * xin..(i + 1) * xin],
                "{s:?} transposed, image {i}"
            );
        }
    }
}
