//! Per-layer times of the 3×3 convolutions of VGG-16 and GoogLeNet at batch 1: im2col + GEMM
//! (`conv_gemm`, `conv_transpose`) against Winograd F(4×4, 3×3), forward and transposed
//! product, interleaved (A, B, A, B, …) so that load on the machine hits both alike.
//!
//! `cargo bench --bench winograd` (optional argument: a substring of the layer names to run,
//! and `REPS=n` for the repetitions per layer, 15 by default); prints a table of medians in ms.

use lrp::kernels::conv::{conv_gemm, conv_transpose};
use lrp::kernels::im2col::Geometry;
use lrp::kernels::winograd::{self, Shape3x3};
use std::time::Instant;

/// (name, input channels, output channels, height = width) of 3×3 pad-1 layers.
const LAYERS: [(&str, usize, usize, usize); 20] = [
    ("vgg16/conv1_1", 3, 64, 224),
    ("vgg16/conv1_2", 64, 64, 224),
    ("vgg16/conv2_1", 64, 128, 112),
    ("vgg16/conv2_2", 128, 128, 112),
    ("vgg16/conv3_1", 128, 256, 56),
    ("vgg16/conv3_2,3_3", 256, 256, 56),
    ("vgg16/conv4_1", 256, 512, 28),
    ("vgg16/conv4_2,4_3", 512, 512, 28),
    ("vgg16/conv5_1..5_3", 512, 512, 14),
    ("googlenet/conv2_3x3", 64, 192, 56),
    ("googlenet/3a_3x3", 96, 128, 28),
    ("googlenet/3b_3x3", 128, 192, 28),
    ("googlenet/4a_3x3", 96, 208, 14),
    ("googlenet/4b_3x3", 112, 224, 14),
    ("googlenet/4c_3x3", 128, 256, 14),
    ("googlenet/4d_3x3", 144, 288, 14),
    ("googlenet/4e_3x3", 160, 320, 14),
    ("googlenet/5a_3x3", 160, 320, 7),
    ("googlenet/5b_3x3", 192, 384, 7),
    ("vgg16/conv1_2@112", 64, 64, 112),
];

fn values(len: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
    (0..len)
        .map(|_| {
            s = s.wrapping_mul(1664525).wrapping_add(1013904223);
            (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn time(f: &mut dyn FnMut()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64() * 1e3
}

fn main() {
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_default();
    let reps: usize = std::env::var("REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    println!(
        "{:<22} {:>9} {:>9} {:>6} {:>9} {:>9} {:>6}   (median ms of {reps}, batch 1, {} threads)",
        "layer",
        "fwd gemm",
        "fwd wino",
        "×",
        "T gemm",
        "T wino",
        "×",
        rayon::current_num_threads()
    );
    for &(name, c, k, hw) in &LAYERS {
        if !name.contains(&filter) {
            continue;
        }
        let s = Shape3x3 {
            n: 1,
            c,
            h: hw,
            w: hw,
            k,
            pads: [1; 4],
        };
        let g = Geometry {
            channels: c,
            h: hw,
            w: hw,
            kh: 3,
            kw: 3,
            sh: 1,
            sw: 1,
            dh: 1,
            dw: 1,
            pt: 1,
            pl: 1,
            oh: hw,
            ow: hw,
        };
        let x = values(c * hw * hw, 1);
        let w = values(k * c * 9, 2);
        let gr = values(k * hw * hw, 3);
        let mut y = vec![0f32; k * hw * hw];
        let mut back = vec![0f32; c * hw * hw];
        let mut t = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
        for rep in 0..reps + 1 {
            let a = time(&mut || conv_gemm(&x, 1, c, &g, &w, k, 1, None, &mut y));
            let b = time(&mut || winograd::conv3x3(&x, &s, &w, None, &mut y));
            let ct = time(&mut || conv_transpose(&gr, 1, c, &g, &w, k, 1, &mut back));
            let d = time(&mut || winograd::conv3x3_transpose(&gr, &s, &w, &mut back));
            if rep > 0 {
                for (v, x) in t.iter_mut().zip([a, b, ct, d]) {
                    v.push(x);
                }
            }
        }
        let [a, b, ct, d] = t.map(median);
        println!(
            "{name:<22} {a:>9.2} {b:>9.2} {:>6.2} {ct:>9.2} {d:>9.2} {:>6.2}",
            a / b,
            ct / d
        );
    }
}
