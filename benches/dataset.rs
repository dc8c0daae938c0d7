//! Images per second of `lrp explain` on a folder, gender and age model (one preset,
//! `epsilon-plus-flat`), through the built binary: reading, preprocessing, explaining and
//! writing the heatmaps and the manifest, as a user runs it.
//!
//! `cargo bench --bench dataset` times this build. To compare another build of the binary
//! (e.g. main's, before streaming), name it in `LRP_BENCH_BEFORE`:
//!
//! ```text
//! LRP_BENCH_BEFORE=/path/to/old/lrp cargo bench --bench dataset
//! ```
//!
//! `LRP_BENCH_IMAGES` sets the folder's size (default 64; the faces are cut from the
//! shipped portraits at shifting offsets into a temporary folder).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn make_faces(dir: &Path, n: usize) {
    let img = lrp::preprocess::decode_rgb(lrp::assets::ASTRONAUT_PNG, "astronaut").unwrap();
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        let (dx, dy) = ((i * 7 % 40) as u32, (i * 11 % 40) as u32);
        let crop = image::imageops::crop_imm(&img, 130 + dx, 20 + dy, 110, 120).to_image();
        crop.save(dir.join(format!("face{i:05}.png"))).unwrap();
    }
}

fn run(binary: &Path, model: &str, faces: &Path, out: &Path) {
    let _ = std::fs::remove_dir_all(out);
    let o = Command::new(binary)
        .args([
            "explain",
            "--model",
            model,
            "--preset",
            "epsilon-plus-flat",
            "--image",
        ])
        .arg(faces)
        .arg("--out")
        .arg(out)
        .output()
        .expect("the lrp binary runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn bench(c: &mut Criterion) {
    let n: usize = std::env::var("LRP_BENCH_IMAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let tmp = std::env::temp_dir().join(format!("lrp-bench-dataset-{}", std::process::id()));
    let faces = tmp.join("faces");
    make_faces(&faces, n);
    let mut binaries = vec![("after", PathBuf::from(env!("CARGO_BIN_EXE_lrp")))];
    if let Ok(before) = std::env::var("LRP_BENCH_BEFORE") {
        binaries.insert(0, ("before", PathBuf::from(before)));
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let mut g = c.benchmark_group("dataset");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    g.warm_up_time(Duration::from_secs(1));
    for model in ["gender-v1", "age-v1"] {
        let path = format!("{root}/assets/{model}.onnx");
        for (name, binary) in &binaries {
            let out = tmp.join(format!("out-{name}"));
            g.bench_function(format!("{model}/{name}/{n}-images"), |b| {
                b.iter(|| run(binary, &path, &faces, &out))
            });
        }
    }
    g.finish();
    let _ = std::fs::remove_dir_all(&tmp);
}

criterion_group!(benches, bench);
criterion_main!(benches);
