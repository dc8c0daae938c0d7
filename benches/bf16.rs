//! `--precision bf16` against float32: the bfloat16 GEMM ([`lrp::kernels::bf16::gemm_bf16`])
//! against [`lrp::kernels::sgemm`] on VGG-16-shaped products, single-threaded as every call
//! of the crate is (the callers split the work), and whole explanations of VGG-16 and
//! GoogLeNet (the zoo's, seeded random weights, 8 classes) at batch 1 on the global pool,
//! in float32 and in bfloat16.
//!
//! Throughput is in floating-point operations: 2·m·n·k per product; for an explanation,
//! 2 × the forward pass's multiply-adds of its convolutions and dense layers (an ε/z⁺
//! explanation runs three to four such passes, so its true rate is 3–4× the figure shown).
//! Criterion prints it as `elem/s`: read `Gelem/s` as GFLOP/s.
//!
//! First the instructions' own peak (`peak/`): 16 independent accumulators of `vdpbf16ps`
//! (64 FLOP each: 16 lanes × 2 products) against `vfmadd` on float32 (32 FLOP), from
//! registers, one thread. On this machine's CPU (Xeon, family 6 model 207, AVX512-BF16
//! without AMX exposed) a short run under load measured `vdpbf16ps` at half the FLOP rate of
//! the float32 FMA, which caps the bfloat16 GEMM below `sgemm`: the quiet-window numbers
//! decide.
//!
//! `cargo bench --bench bf16` (`-- peak`, `-- gemm` or `-- explain` for one group);
//! `LRP_BENCH_MODELS=vgg16` limits the models. Needs a CPU with AVX512-BF16 (the bfloat16
//! rows are skipped elsewhere, with a note).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lrp::composite::Composite;
use lrp::explain::{Explainer, Target};
use lrp::kernels::{self, bf16, set_precision, MatRef, Precision};
use lrp::ops::Op;
use lrp::zoo::{self, rng::Rng, Architecture};
use lrp::{Graph, Tensor};
use ndarray::IxDyn;
use std::time::Duration;

#[global_allocator]
static ALLOC: lrp::memory::Pool = lrp::memory::Pool::new(lrp::memory::Pool::DEFAULT_LIMIT);

fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| rng.normal()).collect()
}

/// (name, m, k, n): VGG-16's convolutions as im2col GEMMs at batch 1 (output channels ×
/// input channels·9 × positions), one call as `conv_gemm` would make it for the whole
/// image, and the transposed product of conv5 (`conv_transpose`: Wᵀ·S).
const SHAPES: [(&str, usize, usize, usize); 4] = [
    ("conv1_2 64x576x50176", 64, 9 * 64, 224 * 224),
    ("conv3_2 256x2304x3136", 256, 9 * 256, 56 * 56),
    ("conv5_2 512x4608x196", 512, 9 * 512, 14 * 14),
    ("conv5_2-transposed 4608x512x196", 9 * 512, 512, 14 * 14),
];

fn gemm(c: &mut Criterion) {
    let mut group = c.benchmark_group("gemm");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
    let bf = bf16::bf16_supported();
    if !bf {
        eprintln!("bf16 rows skipped: this CPU has no AVX512-BF16");
    }
    for (name, m, k, n) in SHAPES {
        let (a, b) = (values(m * k, 1), values(k * n, 2));
        let mut out = vec![0f32; m * n];
        group.throughput(Throughput::Elements((2 * m * n * k) as u64));
        let (av, bv) = (MatRef::row_major(&a, k), MatRef::row_major(&b, n));
        group.bench_function(BenchmarkId::new("sgemm-f32", name), |bch| {
            bch.iter(|| kernels::sgemm(m, n, k, av, bv, &mut out, n, false))
        });
        if bf {
            group.bench_function(BenchmarkId::new("gemm-bf16", name), |bch| {
                bch.iter(|| {
                    bf16::gemm_bf16(m, n, k, av, bv, &mut out, n, false).expect("bf16 supported")
                })
            });
        }
    }
    group.finish();
}

/// Multiply-adds of `g`'s convolutions and dense layers in one forward pass of one sample.
fn forward_macs(g: &Graph) -> u64 {
    g.nodes()
        .iter()
        .map(|node| {
            let out: usize = g.shape(&node.output).map_or(0, |s| s.iter().product());
            match &node.op {
                Op::Conv(c) => {
                    let w = c.weight();
                    (out * w.len() / w.shape()[0]) as u64
                }
                Op::Dense(d) => d.weight().len() as u64,
                _ => 0,
            }
        })
        .sum()
}

fn explain(c: &mut Criterion) {
    ALLOC.limit_from_env().expect("LRP_POOL");
    let wanted = std::env::var("LRP_BENCH_MODELS").ok();
    let mut group = c.benchmark_group("explain");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(8));
    let bf = bf16::bf16_supported();
    for arch in [Architecture::Vgg16, Architecture::GoogLeNet] {
        if wanted
            .as_deref()
            .is_some_and(|w| !w.split(',').any(|x| x == arch.name()))
        {
            continue;
        }
        let g = zoo::build(arch, 8, 1).expect("zoo builds");
        let mut shape = vec![1];
        shape.extend_from_slice(g.input_shape());
        let mut rng = Rng::new(7);
        let x = Tensor::from_shape_fn(IxDyn(&shape), |_| rng.normal());
        group.throughput(Throughput::Elements(2 * forward_macs(&g)));
        for preset in ["epsilon-plus-flat", "epsilon-alpha2-beta1-flat"] {
            let ex = Explainer::new(g.clone(), &Composite::preset(preset).expect("preset"))
                .expect("explainer");
            for p in [Precision::F32, Precision::Bf16] {
                if p == Precision::Bf16 && !bf {
                    continue;
                }
                set_precision(p).expect("checked");
                group.bench_with_input(
                    BenchmarkId::new(format!("{}/{preset}", arch.name()), p.name()),
                    &x,
                    |b, x| b.iter(|| ex.explain(x, &Target::Class(0)).expect("explain")),
                );
            }
            set_precision(Precision::F32).expect("f32");
        }
    }
    group.finish();
}

/// `steps` rounds of 16 independent `vdpbf16ps` on registers; the sum of the lanes.
///
/// # Safety
/// The CPU must have AVX512-F/BW/BF16.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
#[clippy::msrv = "1.89"]
unsafe fn dpbf16_loop(steps: usize) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_setzero_ps(); 16];
    // Pairs (1, 1) and (2⁻⁷, 2⁻⁷) in bfloat16: no overflow, no subnormals.
    let a: __m512bh = unsafe { std::mem::transmute(_mm512_set1_epi32(0x3f80_3f80)) };
    let b: __m512bh = unsafe { std::mem::transmute(_mm512_set1_epi32(0x3c00_3c00)) };
    for _ in 0..steps {
        for x in acc.iter_mut() {
            *x = _mm512_dpbf16_ps(*x, a, b);
        }
    }
    acc.iter().map(|&x| _mm512_reduce_add_ps(x)).sum()
}

/// `steps` rounds of 16 independent float32 FMAs on registers.
///
/// # Safety
/// The CPU must have AVX512-F.
#[target_feature(enable = "avx512f")]
#[clippy::msrv = "1.89"]
unsafe fn fma_loop(steps: usize) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_setzero_ps(); 16];
    let (a, b) = (_mm512_set1_ps(0.5), _mm512_set1_ps(0.25));
    for _ in 0..steps {
        for x in acc.iter_mut() {
            *x = _mm512_fmadd_ps(*x, a, b);
        }
    }
    acc.iter().map(|&x| _mm512_reduce_add_ps(x)).sum()
}

fn peak(c: &mut Criterion) {
    if !bf16::bf16_supported() {
        eprintln!("peak skipped: this CPU has no AVX512-BF16");
        return;
    }
    let mut group = c.benchmark_group("peak");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    const STEPS: usize = 1 << 20;
    group.throughput(Throughput::Elements((STEPS * 16 * 64) as u64));
    // SAFETY: the features were detected above.
    group.bench_function("vdpbf16ps", |b| b.iter(|| unsafe { dpbf16_loop(STEPS) }));
    group.throughput(Throughput::Elements((STEPS * 16 * 32) as u64));
    // SAFETY: AVX512-BF16 implies AVX512-F.
    group.bench_function("vfmadd-f32", |b| b.iter(|| unsafe { fma_loop(STEPS) }));
    group.finish();
}

criterion_group!(benches, peak, gemm, explain);
criterion_main!(benches);
