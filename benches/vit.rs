//! Vision transformers at full size: forward, `attnlrp` and `cp-lrp` at batch 1 and 8 for
//! ViT-B/16 (torchvision `vit_b_16`, 86.6 M parameters) and DeiT-Tiny (timm
//! `deit_tiny_patch16_224`, 5.7 M), 224×224, 1000 classes, seeded random weights.
//!
//! The models are not committed (ViT-B/16 is 350 MB). Make them first (needs torch, timm and
//! LXT's environment, see the script; DeiT-Tiny takes seconds, ViT-B/16 a few minutes):
//!
//! ```text
//! /work/venv/bin/python tests/vit/generate.py --full      # writes target/vit-full/
//! cargo bench --bench vit
//! ```
//!
//! `LRP_VIT_FULL=DIR` reads them from another folder; `LRP_BENCH_MODELS=deit_tiny` limits the
//! models. A model that is missing is skipped with a note saying how to make it.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use lrp::composite::Composite;
use lrp::explain::{Explainer, Target};
use lrp::zoo::rng::Rng;
use lrp::{Graph, Tensor};
use ndarray::IxDyn;
use std::time::Duration;

fn models() -> Vec<(String, Graph)> {
    let wanted = std::env::var("LRP_BENCH_MODELS").ok();
    let dir = std::env::var("LRP_VIT_FULL")
        .unwrap_or_else(|_| format!("{}/target/vit-full", env!("CARGO_MANIFEST_DIR")));
    let mut out = Vec::new();
    for name in ["vit_b_16", "deit_tiny"] {
        if wanted
            .as_deref()
            .is_some_and(|w| !w.split(',').any(|x| x == name))
        {
            continue;
        }
        let path = format!("{dir}/{name}_full.onnx");
        match lrp::import::onnx::load(&path) {
            Ok(g) => out.push((name.to_string(), g)),
            Err(e) => eprintln!(
                "skipping {name}: {e}\n  make it with: /work/venv/bin/python tests/vit/generate.py \
                 --full {dir} --only {name}"
            ),
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

fn vit(c: &mut Criterion) {
    let mut group = c.benchmark_group("vit");
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
            for preset in ["attnlrp", "cp-lrp"] {
                let ex = Explainer::new(g.clone(), &Composite::preset(preset).expect("preset"))
                    .expect("explainer");
                group.bench_with_input(
                    BenchmarkId::new(format!("{name}/{preset}"), batch),
                    &x,
                    |b, x| b.iter(|| ex.explain(x, &Target::Predicted).expect("explain")),
                );
            }
        }
    }
    group.finish();
}

criterion_group!(benches, vit);
criterion_main!(benches);
