//! Tests of the bfloat16 GEMM (`super`): the kernel against a float64 product, edge sizes,
//! rounding, the precision switch.

use super::*;

/// The float64 product of the views, and Σ_p |a_ip|·|b_pj| (the scale of the error bound).
fn naive(m: usize, n: usize, k: usize, a: MatRef<'_>, b: MatRef<'_>) -> (Vec<f64>, Vec<f64>) {
    let mut c = vec![0f64; m * n];
    let mut s = vec![0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            for p in 0..k {
                let x = f64::from(a.data[i * a.rs + p * a.cs]);
                let y = f64::from(b.data[p * b.rs + j * b.cs]);
                c[i * n + j] += x * y;
                s[i * n + j] += (x * y).abs();
            }
        }
    }
    (c, s)
}

/// The bound on |C − A·B| for bf16 operands and float32 accumulation, per element:
/// each operand is rounded to bfloat16 with relative error δ, |δ| ≤ u = 2⁻⁸ (bfloat16 has
/// 8 significant bits, so round-to-nearest gives 2⁻⁹; 2⁻⁸ leaves a factor 2 of margin and
/// covers the flush of bfloat16 subnormals that `vcvtne2ps2bf16` may do — none occur
/// here: the values are O(1)). The rounded product is then within (1+u)² − 1 = 2u + u² of
/// the exact one, and is exact in float32 (8×8 significant bits). Summing k such terms
/// (plus the prior C when accumulating) in float32 in any order adds at most
/// γ_{k+1} = (k+1)·2⁻²⁴ / (1 − (k+1)·2⁻²⁴) of Σ|terms| (Higham, Accuracy and Stability of
/// Numerical Algorithms, 2nd ed., §3.1). So |C − AB| ≤ (2u + u² + γ_{k+1}(1+u)²)·Σ|a||b|,
/// plus the float32 rounding of the reference itself (2⁻²⁴·|AB|, covered by the γ term).
fn bound(k: usize, scale: f64) -> f64 {
    let u = 2f64.powi(-8);
    let kk = (k + 1) as f64 * 2f64.powi(-24);
    let gamma = kk / (1.0 - kk);
    (2.0 * u + u * u + gamma * (1.0 + u) * (1.0 + u)) * scale + 1e-30
}

/// Deterministic values in [−1, 1) with all 24 significant bits used (so the bfloat16
/// rounding is visible).
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = crate::zoo::rng::Rng::new(seed);
    (0..len).map(|_| rng.normal() * 0.7).collect()
}

#[allow(clippy::too_many_arguments)]
fn check(m: usize, n: usize, k: usize, a_layout: u8, b_layout: u8, ldc: usize, acc: bool) {
    // Layouts: 0 row-major, 1 transposed (column-major), 2 general strides with gaps.
    let view = |rows: usize, cols: usize, layout: u8, data: &[f32]| -> (usize, usize) {
        let _ = data;
        match layout {
            0 => (cols, 1),
            1 => (1, rows),
            _ => (2 * cols + 3, 2),
        }
    };
    let len = |rows: usize, cols: usize, (rs, cs): (usize, usize)| {
        (rows.max(1) - 1) * rs + (cols.max(1) - 1) * cs + 1
    };
    let (ars, acs) = view(m, k, a_layout, &[]);
    let (brs, bcs) = view(k, n, b_layout, &[]);
    let ad = values(len(m, k, (ars, acs)), 1 + m as u64);
    let bd = values(len(k, n, (brs, bcs)), 2 + n as u64);
    let a = MatRef {
        data: &ad,
        rs: ars,
        cs: acs,
    };
    let b = MatRef {
        data: &bd,
        rs: brs,
        cs: bcs,
    };
    let prior = values(m * ldc, 3);
    let mut c = prior.clone();
    gemm_bf16(m, n, k, a, b, &mut c, ldc, acc).unwrap();
    let (exact, scale) = naive(m, n, k, a, b);
    for i in 0..m {
        for j in 0..n {
            let p = if acc {
                f64::from(prior[i * ldc + j])
            } else {
                0.0
            };
            let want = exact[i * n + j] + p;
            let got = f64::from(c[i * ldc + j]);
            let tol = bound(k, scale[i * n + j] + p.abs());
            assert!(
                (got - want).abs() <= tol,
                "{m}×{k}·{k}×{n} layouts {a_layout}/{b_layout} acc {acc}: ({i},{j}) {got} vs {want}, bound {tol}"
            );
        }
        // Columns past n of each row are left alone.
        for j in n..ldc {
            assert_eq!(c[i * ldc + j], prior[i * ldc + j]);
        }
    }
}

fn supported() -> bool {
    let ok = bf16_supported();
    if !ok {
        eprintln!("skipped: this CPU has no AVX512-BF16");
    }
    ok
}

#[test]
fn matches_float64_within_the_bf16_bound_on_odd_and_edge_sizes() {
    if !supported() {
        return;
    }
    // Sizes around the micro-kernel (8×48, vectors of 16), the pair (odd K) and the
    // cache blocks (K 384 = 2·KCP, N 1536, M 144).
    for &(m, n, k) in &[
        (1, 1, 1),
        (3, 5, 7),
        (8, 16, 2),
        (9, 17, 3),
        (7, 47, 33),
        (8, 48, 384),
        (17, 49, 385),
        (145, 97, 769),
        (5, 1537, 20),
        (150, 200, 1000),
    ] {
        check(m, n, k, 0, 0, n + 5, false);
        check(m, n, k, 0, 0, n, true);
    }
}

#[test]
fn every_operand_layout() {
    if !supported() {
        return;
    }
    for al in 0..3 {
        for bl in 0..3 {
            for &(m, n, k) in &[(9, 33, 17), (20, 50, 401), (1, 16, 1)] {
                check(m, n, k, al, bl, n + 1, al == bl);
            }
        }
    }
}

#[test]
fn rounds_operands_to_nearest_even_bfloat16() {
    if !supported() {
        return;
    }
    // Closed forms: bfloat16 near 1 has spacing 2⁻⁷. 1 + 2⁻¹⁰ rounds down to 1;
    // 1 + 2⁻⁸ is a tie between 1 and 1 + 2⁻⁷ and goes to the even 1; 1 + 3·2⁻⁸ is a
    // tie between 1 + 2⁻⁷ and 1 + 2⁻⁶ and goes to the even 1 + 2⁻⁶; 1 + 2⁻⁷ + 2⁻¹⁰
    // rounds to 1 + 2⁻⁷. Multiplied by 1 and summed in float32, exactly.
    let t = |x: f32| 2f32.powi(x as i32);
    let a = [
        1.0 + t(-10.0),
        1.0 + t(-8.0),
        1.0 + 3.0 * t(-8.0),
        1.0 + t(-7.0) + t(-10.0),
    ];
    let b = [1f32];
    let mut c = [0f32; 4];
    gemm_bf16(
        4,
        1,
        1,
        MatRef::row_major(&a, 1),
        MatRef::row_major(&b, 1),
        &mut c,
        1,
        false,
    )
    .unwrap();
    assert_eq!(c, [1.0, 1.0, 1.0 + t(-6.0), 1.0 + t(-7.0)]);
    // The same through B (the other packing path), two pairs along K (odd K = 3 pads).
    let a = [1f32, 1.0, 1.0];
    let b = [1.0 + t(-8.0), 1.0 + 3.0 * t(-8.0), 1.0 + t(-10.0)];
    let mut c = [0f32; 1];
    gemm_bf16(
        1,
        1,
        3,
        MatRef::row_major(&a, 3),
        MatRef::row_major(&b, 1),
        &mut c,
        1,
        false,
    )
    .unwrap();
    assert_eq!(c, [3.0 + t(-6.0)]);
}

#[test]
fn zero_k_and_empty_outputs() {
    if !supported() {
        return;
    }
    let mut c = [5f32; 6];
    gemm_bf16(
        2,
        3,
        0,
        MatRef::row_major(&[], 0),
        MatRef::row_major(&[], 3),
        &mut c,
        3,
        false,
    )
    .unwrap();
    assert_eq!(c, [0.0; 6]);
    let mut c = [5f32; 6];
    gemm_bf16(
        2,
        3,
        0,
        MatRef::row_major(&[], 0),
        MatRef::row_major(&[], 3),
        &mut c,
        3,
        true,
    )
    .unwrap();
    assert_eq!(c, [5.0; 6]);
}

#[test]
fn precision_names_round_trip() {
    for p in [Precision::F32, Precision::Bf16] {
        assert_eq!(Precision::parse(p.name()).unwrap(), p);
    }
    let e = Precision::parse("half").unwrap_err().to_string();
    assert_eq!(e, "unknown precision `half`; known: f32, bf16");
}
