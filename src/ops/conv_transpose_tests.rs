//! Tests of the transposed convolution against naive loops (included by
//! `conv_transpose.rs`).
use super::*;
use crate::ops::linear::reference::check_rules;
use crate::ops::testutil::{assert_close, random};

/// The explicit matrix of `t` on per-sample input `[c, h, w]`, from the scatter formula of
/// the module documentation written as loops (no bias): `a[j][i]`, `j` = (output channel,
/// oy, ox), `i` = (input channel, iy, ix), in f64.
fn matrix(t: &ConvTranspose2d, c: usize, h: usize, w: usize) -> (Vec<Vec<f64>>, [usize; 3]) {
    let node = NodeRef::new("t", "ConvTranspose");
    let out = t.output_shape(&node, &[c, h, w]).unwrap();
    let (m, oh, ow) = (out[0], out[1], out[2]);
    let [kh, kw] = t.kernel();
    let (cg, mg) = (c / t.groups, m / t.groups);
    let mut a = vec![vec![0f64; c * h * w]; m * oh * ow];
    for ci in 0..c {
        let grp = ci / cg;
        for ol in 0..mg {
            let o = grp * mg + ol;
            for iy in 0..h {
                for ix in 0..w {
                    for i in 0..kh {
                        for j in 0..kw {
                            let oy = (iy * t.stride[0] + i * t.dilation[0]) as isize
                                - t.pads[0] as isize;
                            let ox = (ix * t.stride[1] + j * t.dilation[1]) as isize
                                - t.pads[1] as isize;
                            if oy < 0 || ox < 0 || oy >= oh as isize || ox >= ow as isize {
                                continue;
                            }
                            let row = (o * oh + oy as usize) * ow + ox as usize;
                            a[row][(ci * h + iy) * w + ix] += t.weight[[ci, ol, i, j]] as f64;
                        }
                    }
                }
            }
        }
    }
    (a, [m, oh, ow])
}

/// Naive forward: the explicit matrix applied sample by sample, plus the bias.
fn naive(t: &ConvTranspose2d, x: &Tensor) -> Tensor {
    let s = x.shape();
    let (a, [m, oh, ow]) = matrix(t, s[1], s[2], s[3]);
    let per = s[1] * s[2] * s[3];
    let xs = x.as_slice().unwrap();
    let mut y = Tensor::zeros(IxDyn(&[s[0], m, oh, ow]));
    for (k, v) in y.iter_mut().enumerate() {
        let (n, j) = (k / (m * oh * ow), k % (m * oh * ow));
        let b = t.bias.as_ref().map_or(0.0, |b| b[j / (oh * ow)] as f64);
        *v = (b
            + (0..per)
                .map(|i| a[j][i] * xs[n * per + i] as f64)
                .sum::<f64>()) as f32;
    }
    y
}

/// `(c, h, w)`, `(m, kh, kw)`, stride, dilation, pads, output padding, groups.
type Case = (
    (usize, usize, usize),
    (usize, usize, usize),
    [usize; 2],
    [usize; 2],
    [usize; 4],
    [usize; 2],
    usize,
);

const CASES: &[Case] = &[
    ((3, 5, 4), (2, 3, 3), [1, 1], [1, 1], [0; 4], [0, 0], 1),
    // PyTorch's usual 2× upsampling: k3 s2 p1 output_padding 1.
    ((4, 4, 5), (3, 3, 3), [2, 2], [1, 1], [1; 4], [1, 1], 1),
    // Grouped, strided, dilated, asymmetric cropping.
    (
        (4, 3, 4),
        (6, 3, 2),
        [2, 3],
        [2, 1],
        [1, 0, 2, 1],
        [1, 0],
        2,
    ),
    // Depthwise, kernel smaller than the stride (gaps in the output).
    (
        (3, 3, 3),
        (3, 1, 2),
        [3, 3],
        [1, 1],
        [0, 0, 0, 0],
        [2, 1],
        3,
    ),
    // 1×1, stride 1: the pointwise path.
    ((5, 4, 4), (2, 1, 1), [1, 1], [1, 1], [0; 4], [0, 0], 1),
];

fn layer(seed: u64, case: &Case, bias: bool) -> ConvTranspose2d {
    let &((c, _, _), (m, kh, kw), stride, dilation, pads, op, groups) = case;
    let weight = random(&[c, m / groups, kh, kw], seed)
        .into_dimensionality()
        .unwrap();
    let b = bias.then(|| random(&[m], seed + 1).into_dimensionality().unwrap());
    let mut t = ConvTranspose2d::new(weight, b)
        .with_groups(groups)
        .with_pads(pads);
    t.stride = stride;
    t.dilation = dilation;
    t.output_padding = op;
    t
}

#[test]
fn matches_naive_loops() {
    for (k, case) in CASES.iter().enumerate() {
        let ((c, h, w), ..) = *case;
        for bias in [false, true] {
            let t = layer(k as u64, case, bias);
            let x = random(&[2, c, h, w], 50 + k as u64);
            assert_close(&t.forward(&x), &naive(&t, &x), 1e-5);
        }
    }
}

/// Output size: PyTorch's formula (`(H − 1)·s − 2p + d·(k − 1) + op + 1`) on its usual cases.
#[test]
fn output_sizes() {
    let node = NodeRef::new("up", "ConvTranspose");
    let t = layer(1, &CASES[1], false);
    assert_eq!(t.output_shape(&node, &[4, 4, 5]).unwrap(), vec![3, 8, 10]);
    let mut t = ConvTranspose2d::new(Array4::ones((2, 1, 4, 4)), None)
        .with_stride(2)
        .with_pads([1; 4]);
    assert_eq!(t.output_shape(&node, &[2, 7, 7]).unwrap(), vec![1, 14, 14]);
    t.pads = [9, 0, 9, 0];
    let msg = t.output_shape(&node, &[2, 7, 7]).unwrap_err().to_string();
    assert!(
        msg.contains("up") && msg.contains("crop the whole output"),
        "{msg}"
    );
    let msg = t.output_shape(&node, &[3, 7, 7]).unwrap_err().to_string();
    assert!(msg.contains("3 channels"), "{msg}");
}

/// The map's transpose is the adjoint (`⟨F x, s⟩ = ⟨x, Fᵀ s⟩`), the stacked transpose is the
/// sum of the two halves' transposes, the uniform transpose is the transpose of a constant
/// weight.
#[test]
fn transpose_products_are_consistent() {
    for (k, case) in CASES.iter().enumerate() {
        let ((c, h, w), ..) = *case;
        let t = layer(10 + k as u64, case, false);
        let map = t.map(&[c, h, w]);
        let (il, ol, n) = (map.in_len(), map.out_len(), 2);
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
            "case {k}: {lhs} vs {rhs}"
        );
        // Stacked: per group [W⁺_g; W⁻_g], s per group [s_a; s_b].
        let wv = map.weight_values();
        let (pos, neg): (Vec<f32>, Vec<f32>) = (
            wv.iter().map(|v| v.max(0.0)).collect(),
            wv.iter().map(|v| v.min(0.0)).collect(),
        );
        let groups = t.groups;
        let per = wv.len() / groups;
        let mut stacked = Vec::new();
        for g in 0..groups {
            stacked.extend_from_slice(&pos[g * per..(g + 1) * per]);
            stacked.extend_from_slice(&neg[g * per..(g + 1) * per]);
        }
        let s2: Vec<f32> = random(&[n * 2 * ol], 3).iter().copied().collect();
        let (mg, plane) = (t.out_channels() / groups, map.out_channels().1);
        let (mut sa, mut sb) = (Vec::new(), Vec::new());
        for smp in s2.chunks(2 * ol) {
            for g in 0..groups {
                let block = &smp[g * 2 * mg * plane..(g + 1) * 2 * mg * plane];
                sa.extend_from_slice(&block[..mg * plane]);
                sb.extend_from_slice(&block[mg * plane..]);
            }
        }
        let mut got = vec![0f32; n * il];
        map.transpose_stacked(&s2, n, &stacked, &mut got);
        let (mut ta, mut tb) = (vec![0f32; n * il], vec![0f32; n * il]);
        map.transpose(&sa, n, &pos, &mut ta);
        map.transpose(&sb, n, &neg, &mut tb);
        let want: Vec<f32> = ta.iter().zip(&tb).map(|(a, b)| a + b).collect();
        let arr = |v: Vec<f32>| Tensor::from_shape_vec(IxDyn(&[v.len()]), v).unwrap();
        assert_close(&arr(got), &arr(want), 1e-5);
        // Uniform.
        let mut got = vec![0f32; n * il];
        map.transpose_uniform(&s, n, 0.5, &mut got);
        let mut want = vec![0f32; n * il];
        map.transpose(&s, n, &vec![0.5; wv.len()], &mut want);
        assert_close(&arr(got), &arr(want), 1e-5);
    }
}

/// ε and z⁺ against their closed forms over the explicit matrix of the map.
#[test]
fn rules_match_the_explicit_matrix() {
    for (k, case) in CASES.iter().enumerate() {
        let ((c, h, w), ..) = *case;
        let t = layer(20 + k as u64, case, true);
        let (a, [m, oh, ow]) = matrix(&t, c, h, w);
        let b: Vec<f64> = (0..m * oh * ow)
            .map(|j| t.bias.as_ref().unwrap()[j / (oh * ow)] as f64)
            .collect();
        let map = t.map(&[c, h, w]);
        let x: Vec<f32> = random(&[map.in_len()], 30 + k as u64)
            .iter()
            .copied()
            .collect();
        let r: Vec<f32> = random(&[map.out_len()], 40 + k as u64)
            .iter()
            .copied()
            .collect();
        check_rules(&map, &a, &b, &x, &r, 1e-4);
    }
}
