//! LRP cost against the forward pass: forward, `epsilon-plus-flat`,
//! `epsilon-alpha2-beta1-flat` and `paper` at batch 1 and 8 for the shipped gender and age
//! models (from `assets/` when present, else `../shared/models`) and the four zoo
//! architectures; plus all 81 classes of the age model at once against one class.
//!
//! Also the full-size modern CNNs MobileNetV2, EfficientNet-B0 and ConvNeXt-Tiny (torchvision
//! widths, seeded random weights, torch's default exporter) when they have been made:
//! `/work/venv/bin/python tests/modern/generate.py --full target/modern-full` (needs torch;
//! `LRP_MODERN_FULL` names another folder); without them those rows are skipped with a note.
//!
//! `cargo bench --bench lrp`; `LRP_BENCH_MODELS=gender,age` limits the models.
//!
//! The allocator is the `lrp` command line's ([`lrp::memory::Pool`]); `LRP_POOL=0` measures
//! with glibc's alone.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use lrp::composite::Composite;
use lrp::explain::{Explainer, Target};
use lrp::zoo::{self, rng::Rng, Architecture};
use lrp::{Graph, Tensor};
use ndarray::IxDyn;
use std::time::Duration;

#[global_allocator]
static ALLOC: lrp::memory::Pool = lrp::memory::Pool::new(lrp::memory::Pool::DEFAULT_LIMIT);

fn shipped(name: &str) -> Option<Graph> {
    let root = env!("CARGO_MANIFEST_DIR");
    [
        format!("{root}/assets/{name}"),
        format!("{root}/../shared/models/{name}"),
    ]
    .iter()
    .find_map(|p| lrp::import::onnx::load(p).ok())
}

fn models() -> Vec<(String, Graph)> {
    let wanted = std::env::var("LRP_BENCH_MODELS").ok();
    let keep = |n: &str| {
        wanted
            .as_deref()
            .is_none_or(|w| w.split(',').any(|x| x == n))
    };
    let mut out = Vec::new();
    for (name, file) in [("gender", "gender-v1.onnx"), ("age", "age-v1.onnx")] {
        if keep(name) {
            if let Some(g) = shipped(file) {
                out.push((name.to_string(), g));
            }
        }
    }
    let full = std::env::var("LRP_MODERN_FULL")
        .unwrap_or_else(|_| format!("{}/target/modern-full", env!("CARGO_MANIFEST_DIR")));
    for name in ["mobilenet_v2", "efficientnet_b0", "convnext_tiny"] {
        if keep(name) {
            let path = format!("{full}/{name}_full.onnx");
            match lrp::import::onnx::load(&path) {
                Ok(g) => out.push((name.to_string(), g)),
                Err(e) => {
                    eprintln!("skipping {name}: {e} (make it with tests/modern/generate.py --full)")
                }
            }
        }
    }
    for arch in Architecture::ALL {
        if keep(arch.name()) {
            out.push((
                arch.name().to_string(),
                zoo::build(arch, 8, 1).expect("zoo builds"),
            ));
        }
    }
    out
}

fn input(g: &Graph, batch: usize) -> Tensor {
    let mut shape = vec![batch];
    shape.extend_from_slice(g.input_shape());
    let mut rng = Rng::new(7);
    Tensor::from_shape_fn(IxDyn(&shape), |_| rng.normal())
}

fn lrp(c: &mut Criterion) {
    ALLOC.limit_from_env().expect("LRP_POOL");
    let mut group = c.benchmark_group("lrp");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    for (name, g) in models() {
        for batch in [1usize, 8] {
            let x = input(&g, batch);
            group.bench_with_input(
                BenchmarkId::new(format!("{name}/forward"), batch),
                &x,
                |b, x| b.iter(|| g.forward(x).expect("forward")),
            );
            for preset in ["epsilon-plus-flat", "epsilon-alpha2-beta1-flat", "paper"] {
                let ex = Explainer::new(g.clone(), &Composite::preset(preset).expect("preset"))
                    .expect("explainer");
                group.bench_with_input(
                    BenchmarkId::new(format!("{name}/{preset}"), batch),
                    &x,
                    |b, x| b.iter(|| ex.explain(x, &Target::Predicted).expect("explain")),
                );
            }
        }
        if name == "age" {
            let x = input(&g, 1);
            let ex = Explainer::new(
                g.clone(),
                &Composite::preset("epsilon-plus-flat").expect("preset"),
            )
            .expect("explainer");
            group.bench_function("age/epsilon-plus-flat-all-81-classes", |b| {
                b.iter(|| ex.explain(&x, &Target::All).expect("explain"))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, lrp);
criterion_main!(benches);
