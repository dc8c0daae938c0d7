//! Tests of the convolution against naive loops (included by `conv.rs`).
use super::*;
use crate::ops::testutil::{assert_close, random};

/// Direct seven-fold loop, written for clarity, in f64.
fn naive(conv: &Conv2d, x: &Tensor) -> Tensor {
    let s = x.shape();
    let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
    let node = NodeRef::new("t", "Conv");
    let out = conv.output_shape(&node, &[c, h, w]).unwrap();
    let (m, oh, ow) = (out[0], out[1], out[2]);
    let [kh, kw] = conv.kernel();
    let cg = c / conv.groups;
    let mg = m / conv.groups;
    let mut y = Tensor::zeros(IxDyn(&[n, m, oh, ow]));
    for b in 0..n {
        for o in 0..m {
            let grp = o / mg;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = conv.bias.as_ref().map_or(0.0, |bb| bb[o] as f64);
                    for ci in 0..cg {
                        for i in 0..kh {
                            for j in 0..kw {
                                let iy = (oy * conv.stride[0] + i * conv.dilation[0]) as isize
                                    - conv.pads[0] as isize;
                                let ix = (ox * conv.stride[1] + j * conv.dilation[1]) as isize
                                    - conv.pads[1] as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                    continue;
                                }
                                acc += conv.weight[[o, ci, i, j]] as f64
                                    * x[[b, grp * cg + ci, iy as usize, ix as usize]] as f64;
                            }
                        }
                    }
                    y[[b, o, oy, ox]] = acc as f32;
                }
            }
        }
    }
    y
}

#[allow(clippy::type_complexity, clippy::too_many_arguments)]
fn case(
    seed: u64,
    (n, c, h, w): (usize, usize, usize, usize),
    (m, kh, kw): (usize, usize, usize),
    stride: [usize; 2],
    dilation: [usize; 2],
    pads: [usize; 4],
    groups: usize,
    bias: bool,
) {
    let weight = random(&[m, c / groups, kh, kw], seed)
        .into_dimensionality()
        .unwrap();
    let b = bias.then(|| random(&[m], seed + 1).into_dimensionality().unwrap());
    let mut conv = Conv2d::new(weight, b).with_groups(groups);
    conv.stride = stride;
    conv.dilation = dilation;
    conv.pads = pads;
    let x = random(&[n, c, h, w], seed + 2);
    assert_close(&conv.forward(&x), &naive(&conv, &x), 1e-5);
}

#[test]
#[rustfmt::skip]
fn plain() {
    case(1, (2, 3, 9, 11), (4, 3, 3), [1, 1], [1, 1], [0; 4], 1, true);
}

#[test]
#[rustfmt::skip]
fn padded_strided() {
    case(2, (1, 3, 23, 23), (8, 5, 5), [2, 2], [1, 1], [2; 4], 1, true);
    case(3, (3, 2, 15, 12), (5, 7, 3), [4, 3], [1, 1], [3, 1, 3, 1], 1, false);
}

#[test]
#[rustfmt::skip]
fn asymmetric_padding() {
    case(4, (2, 4, 10, 9), (6, 3, 3), [2, 2], [1, 1], [0, 1, 1, 0], 1, true);
    case(5, (1, 1, 8, 8), (2, 4, 2), [1, 2], [1, 1], [3, 0, 1, 2], 1, true);
}

#[test]
#[rustfmt::skip]
fn dilated() {
    case(6, (2, 3, 17, 13), (4, 3, 3), [1, 1], [2, 3], [2, 3, 2, 3], 1, true);
    case(7, (1, 2, 20, 20), (3, 3, 3), [2, 1], [3, 2], [0; 4], 1, false);
}

#[test]
#[rustfmt::skip]
fn grouped() {
    case(8, (2, 6, 11, 11), (4, 3, 3), [1, 1], [1, 1], [1; 4], 2, true);
    // Depthwise.
    case(9, (1, 5, 9, 7), (10, 3, 3), [2, 2], [1, 1], [1; 4], 5, true);
    // CaffeNet-style: 96 -> 256 channels in 2 groups, 5×5 pad 2.
    case(10, (1, 16, 13, 13), (32, 5, 5), [1, 1], [1, 1], [2; 4], 2, true);
}

#[test]
fn pointwise_and_large_batch() {
    case(
        11,
        (5, 8, 6, 7),
        (12, 1, 1),
        [1, 1],
        [1, 1],
        [0; 4],
        1,
        true,
    );
    case(
        12,
        (5, 8, 6, 7),
        (12, 1, 1),
        [2, 2],
        [1, 1],
        [0; 4],
        4,
        true,
    );
    // Enough positions for several column blocks per image.
    case(
        13,
        (1, 3, 40, 40),
        (8, 3, 3),
        [1, 1],
        [1, 1],
        [1; 4],
        1,
        true,
    );
}

#[test]
fn random_shapes() {
    let mut rng = crate::zoo::rng::Rng::new(99);
    for t in 0..40 {
        let groups = 1 + rng.below(3);
        let c = groups * (1 + rng.below(3));
        let m = groups * (1 + rng.below(3));
        let kh = 1 + rng.below(4);
        let kw = 1 + rng.below(4);
        let stride = [1 + rng.below(3), 1 + rng.below(3)];
        let dilation = [1 + rng.below(2), 1 + rng.below(2)];
        let pads = [rng.below(3), rng.below(3), rng.below(3), rng.below(3)];
        let h = dilation[0] * (kh - 1) + 1 + rng.below(12);
        let w = dilation[1] * (kw - 1) + 1 + rng.below(12);
        let n = 1 + rng.below(3);
        case(
            1000 + t,
            (n, c, h, w),
            (m, kh, kw),
            stride,
            dilation,
            pads,
            groups,
            rng.below(2) == 0,
        );
    }
}

#[test]
fn transpose_is_the_adjoint_of_forward() {
    // <conv(x), s> == <x, convᵀ(s)> for bias-free convolutions of every kind.
    let mut rng = crate::zoo::rng::Rng::new(3);
    for t in 0..30 {
        let groups = 1 + rng.below(3);
        let c = groups * (1 + rng.below(4));
        let m = groups * (1 + rng.below(3));
        let k = [1 + rng.below(4), 1 + rng.below(4)];
        let stride = [1 + rng.below(3), 1 + rng.below(2)];
        let dilation = [1 + rng.below(2), 1 + rng.below(2)];
        let pads = [rng.below(3), rng.below(3), rng.below(3), rng.below(3)];
        let h = dilation[0] * (k[0] - 1) + 1 + rng.below(9);
        let w = dilation[1] * (k[1] - 1) + 1 + rng.below(9);
        // Up to 7 samples: both the per-sample and the batched path (n ≥ 2·threads).
        let n = 1 + rng.below(7);
        let weight = random(&[m, c / groups, k[0], k[1]], 500 + t)
            .into_dimensionality()
            .unwrap();
        let mut conv = Conv2d::new(weight, None).with_groups(groups);
        conv.stride = stride;
        conv.dilation = dilation;
        conv.pads = pads;
        let x = random(&[n, c, h, w], 600 + t);
        let y = conv.forward(&x);
        let s = random(y.shape(), 700 + t);
        let g = conv.geometry(c, h, w);
        let mut back = vec![f32::NAN; x.len()];
        conv_transpose(
            s.as_slice().unwrap(),
            n,
            c,
            &g,
            conv.weight_slice(),
            m,
            groups,
            &mut back,
        );
        let lhs: f64 = y
            .iter()
            .zip(s.iter())
            .map(|(a, b)| *a as f64 * *b as f64)
            .sum();
        let rhs: f64 = x
            .iter()
            .zip(&back)
            .map(|(a, b)| *a as f64 * *b as f64)
            .sum();
        let scale: f64 = y
            .iter()
            .zip(s.iter())
            .map(|(a, b)| (*a as f64 * *b as f64).abs())
            .sum();
        assert!(
            (lhs - rhs).abs() <= 1e-5 * scale.max(1e-12),
            "case {t}: {lhs} vs {rhs}"
        );
    }
}

#[test]
fn kernel_larger_than_padded_input_is_an_error() {
    let conv = Conv2d::new(Array4::zeros((2, 3, 7, 7)), None).with_pad(1);
    let err = conv
        .output_shape(&NodeRef::new("conv1", "Conv"), &[3, 4, 4])
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("conv1") && msg.contains("exceeds"), "{msg}");
}

#[test]
fn channel_mismatch_is_an_error() {
    let conv = Conv2d::new(Array4::zeros((4, 3, 3, 3)), None).with_groups(3);
    let err = conv
        .output_shape(&NodeRef::new("c", "Conv"), &[9, 8, 8])
        .unwrap_err();
    assert!(err.to_string().contains("not divisible"), "{err}");
    let conv = Conv2d::new(Array4::zeros((4, 3, 3, 3)), None);
    let err = conv
        .output_shape(&NodeRef::new("c", "Conv"), &[5, 8, 8])
        .unwrap_err();
    assert!(err.to_string().contains("5 channels"), "{err}");
}
