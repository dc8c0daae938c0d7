//! Forward pass of the four zoo architectures at batch 1 and 8.
//!
//! `cargo bench --bench forward`; set `RAYON_NUM_THREADS` to fix the thread count.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use lrp::zoo::{self, Architecture};
use lrp::Tensor;
use ndarray::IxDyn;
use std::time::Duration;

fn forward(c: &mut Criterion) {
    let mut group = c.benchmark_group("forward");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(8));
    for arch in Architecture::ALL {
        let net = zoo::build(arch, 1000, 1).expect("zoo model builds");
        for batch in [1usize, 8] {
            let mut shape = vec![batch];
            shape.extend(arch.input_shape());
            let mut rng = zoo::rng::Rng::new(7);
            let x = Tensor::from_shape_fn(IxDyn(&shape), |_| rng.normal());
            group.bench_with_input(
                BenchmarkId::new(arch.name(), format!("batch{batch}")),
                &x,
                |b, x| b.iter(|| net.forward(x).expect("forward runs")),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, forward);
criterion_main!(benches);
