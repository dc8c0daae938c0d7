//! `--precision bf16` (`lrp::kernels::set_precision`): the refusal on a CPU without
//! AVX512-BF16 (simulated by the test hook), which products [`lrp::kernels::sgemm`] routes to
//! the bfloat16 kernel, and the relevance of the shipped gender and age models in bfloat16
//! against float32, within thresholds derived from bfloat16's rounding (see
//! [`relevance_bound`]).
//!
//! The precision is process-wide, so every test here holds [`LOCK`] and leaves it at float32;
//! no other test binary changes it. The kernel's own accuracy against a float64 product is
//! tested in `src/kernels/bf16.rs`.

use lrp::composite::Composite;
use lrp::explain::{Explainer, Target};
use lrp::kernels::{self, bf16, set_precision, MatRef, Precision};
use lrp::model::Model;
use lrp::Error;
use std::sync::{Mutex, MutexGuard};

mod support;

static LOCK: Mutex<()> = Mutex::new(());

/// The lock, with float32 and the real CPU features restored when the test ends (also when
/// it fails).
struct Guard(#[allow(dead_code)] MutexGuard<'static, ()>);

impl Drop for Guard {
    fn drop(&mut self) {
        bf16::simulate_unsupported(false);
        set_precision(Precision::F32).expect("f32 is always available");
    }
}

fn lock() -> Guard {
    Guard(LOCK.lock().unwrap_or_else(|e| e.into_inner()))
}

fn supported() -> bool {
    let ok = bf16::bf16_supported();
    if !ok {
        eprintln!("skipped: this CPU has no AVX512-BF16");
    }
    ok
}

#[test]
fn refused_without_avx512_bf16_and_float32_stays() {
    let _g = lock();
    bf16::simulate_unsupported(true);
    let err = set_precision(Precision::Bf16).unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "precision bf16 needs a CPU with AVX512-BF16 or AMX; this one has neither"
    );
    assert_eq!(kernels::precision(), Precision::F32);
    // The kernel itself refuses too, rather than computing in float32.
    let mut c = [0f32; 1];
    let one = [1f32];
    let e = bf16::gemm_bf16(
        1,
        1,
        1,
        MatRef::row_major(&one, 1),
        MatRef::row_major(&one, 1),
        &mut c,
        1,
        false,
    )
    .unwrap_err();
    assert!(e
        .to_string()
        .starts_with("gemm_bf16 needs a CPU with AVX512-BF16"));
}

#[test]
fn cli_refuses_precision_bf16_without_the_cpu_feature() {
    let dir = support::cli::tempdir("precision", "refuse");
    for cmd in [
        vec!["explain", "--model", "gender-v1", "--out", "out"],
        vec!["figure", "--model", "gender-v1", "--out", "out/figure.png"],
        vec!["compare", "--model", "gender-v1", "--out", "out"],
    ] {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_lrp"))
            .args(&cmd)
            .args(["--precision", "bf16"])
            .current_dir(&dir)
            .env("LRP_TEST_NO_BF16", "1")
            .output()
            .expect("the lrp binary runs");
        assert_eq!(o.status.code(), Some(1), "{cmd:?}");
        assert_eq!(
            support::cli::stderr(&o),
            "lrp: error: --precision bf16 needs a CPU with AVX512-BF16 or AMX; this one has \
             neither\n",
            "{cmd:?}"
        );
        assert!(
            !dir.join("out").exists(),
            "{cmd:?} wrote output before refusing"
        );
    }
}

#[test]
fn cli_explains_in_bf16() {
    if !supported() {
        return;
    }
    let dir = support::cli::tempdir("precision", "explain");
    let o = support::cli::lrp(
        &[
            "explain",
            "--model",
            "gender-v1",
            "--preset",
            "epsilon-plus-flat",
            "--precision",
            "bf16",
            "--out",
            "out",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", support::cli::stderr(&o));
    assert!(dir
        .join("out/gender-v1/epsilon-plus-flat/astronaut.png.png")
        .exists());
}

/// `n` deterministic values with all float32 bits in use.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = lrp::zoo::rng::Rng::new(seed);
    (0..n).map(|_| rng.normal()).collect()
}

#[test]
fn sgemm_routes_products_with_4_rows_and_16_columns() {
    if !supported() {
        return;
    }
    let _g = lock();
    let (m, n, k) = (20, 70, 150);
    let (a, b) = (values(m * k, 1), values(k * n, 2));
    let run = |m: usize| {
        let mut c = vec![0f32; m * n];
        kernels::sgemm(
            m,
            n,
            k,
            MatRef::row_major(&a, k),
            MatRef::row_major(&b, n),
            &mut c,
            n,
            false,
        );
        c
    };
    let (f32_big, f32_vec) = (run(m), run(1));
    set_precision(Precision::Bf16).unwrap();
    assert_eq!(kernels::precision(), Precision::Bf16);
    let (bf_big, bf_vec) = (run(m), run(1));
    let mut direct = vec![0f32; m * n];
    bf16::gemm_bf16(
        m,
        n,
        k,
        MatRef::row_major(&a, k),
        MatRef::row_major(&b, n),
        &mut direct,
        n,
        false,
    )
    .unwrap();
    // The large product is the kernel's, bit for bit, and differs from float32's; the
    // matrix-vector product (1 row: a dense layer at batch 1) stays float32.
    assert_eq!(bf_big, direct);
    assert_ne!(bf_big, f32_big);
    assert_eq!(bf_vec, f32_vec);
}

/// The bound on max|ΔR| / max|R| between a bfloat16 and a float32 explanation of a network
/// with `layers` linear layers, to first order in the rounding errors.
///
/// Each routed product rounds both operands to bfloat16 (relative 2⁻⁸ each, see
/// `src/kernels/bf16.rs`), so its result is within 2·2⁻⁸ = 2⁻⁷ of Σ|a||b| (the float32 sums
/// add 2⁻²⁴ per term, negligible). Relevance passes through up to three routed products per
/// linear layer: the forward product whose output the rule divides by (or the rule's own
/// normaliser z⁺, z⁻), the transposed product that sends relevance back, and the forward
/// activations it multiplies (computed by the layers below). With the errors of the layers
/// adding up to first order, the relative error of the input relevance is at most
/// 3·layers·2⁻⁷. This assumes no cancellation amplifies an error (z⁺ sums are free of it,
/// the ε-layers near the output of these models see a handful of terms); the observed error
/// (README) is 8–10× below the bound, which is the margin.
fn relevance_bound(layers: usize) -> f64 {
    3.0 * layers as f64 * 2f64.powi(-7)
}

/// Explains the shipped portraits with `model` in float32 and bfloat16 (for float32's class)
/// and checks max|ΔR|/max|R| ≤ t = [`relevance_bound`] and a heatmap correlation of at least
/// √(1 − t²): a map whose centred error is at most t of its own size is turned by an angle of
/// at most asin t.
fn check_model(model: Model, layers: usize) {
    let _g = lock();
    let t = relevance_bound(layers);
    let faces = lrp::assets::portrait_faces().unwrap();
    for preset in ["epsilon-plus-flat", "epsilon-alpha2-beta1-flat"] {
        let ex = Explainer::new(model.graph.clone(), &Composite::preset(preset).unwrap()).unwrap();
        for (name, face) in &faces {
            let x =
                lrp::preprocess::to_tensor(std::slice::from_ref(face), &model.preprocess).unwrap();
            set_precision(Precision::F32).unwrap();
            let r32 = ex.explain(&x, &Target::Predicted).unwrap();
            let class = r32.targets[0][0];
            set_precision(Precision::Bf16).unwrap();
            let r16 = ex.explain(&x, &Target::Class(class)).unwrap();
            set_precision(Precision::F32).unwrap();
            let (a, b) = (
                r32.relevance.as_slice().unwrap(),
                r16.relevance.as_slice().unwrap(),
            );
            let max = a.iter().fold(0f64, |m, v| m.max(f64::from(v.abs())));
            let diff = a
                .iter()
                .zip(b)
                .fold(0f64, |m, (x, y)| m.max(f64::from((x - y).abs())));
            // Heatmaps (relevance summed over the 3 channels) and their correlation, by the
            // library's own reduction and `compare` metric.
            let heat = |r: &[f32]| {
                let view = ndarray::ArrayView3::from_shape((3, r.len() / 3, 1), r).unwrap();
                lrp::heatmap::reduce(view, lrp::heatmap::Reduce::Sum).unwrap()
            };
            let (ha, hb) = (heat(a), heat(b));
            let corr = f64::from(
                lrp::compare::metrics::pearson(ha.as_slice().unwrap(), hb.as_slice().unwrap())
                    .unwrap(),
            );
            let what = format!("{} {preset} {name}", model.name);
            assert!(
                diff / max <= t,
                "{what}: max|ΔR|/max|R| = {:.3e} > {t:.3e}",
                diff / max
            );
            assert!(
                corr >= (1.0 - t * t).sqrt(),
                "{what}: heatmap correlation {corr} < {}",
                (1.0 - t * t).sqrt()
            );
            // Not the float32 result: the products did run in bfloat16.
            assert!(diff > 0.0, "{what}: bf16 relevance equals float32's");
        }
    }
}

#[test]
fn gender_relevance_in_bf16_is_within_the_bound_of_float32() {
    if !supported() {
        return;
    }
    // 4 convolutions and 2 dense layers (`lrp info gender-v1`).
    check_model(Model::gender().unwrap(), 6);
}

#[test]
fn age_relevance_in_bf16_is_within_the_bound_of_float32() {
    if !supported() {
        return;
    }
    // 12 convolutions and dense layers (`lrp info age-v1`).
    check_model(Model::age().unwrap(), 12);
}
