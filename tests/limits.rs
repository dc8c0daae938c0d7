//! Limits before allocation (issue 19, item 5), through the library's public API: the memory
//! estimate of an explanation and the limits of the process (`lrp::memory`), and the bounds on
//! every size a caller hands the heatmap and comparison functions. Each size that used to be
//! taken as given (and allocated, or overflowed) is refused with a typed error naming it.

use lrp::compare::{self, Baseline, FlipConfig, Metric, SpectralConfig, Study, StudyConfig};
use lrp::heatmap::{self, Cell, Figure, Row, Upsample};
use lrp::memory::{self, Estimate, LimitSource, Limits};
use lrp::Error;
use ndarray::Array2;
use std::path::{Path, PathBuf};
use support::{conv_weight, ints, node, onnx_model};

mod support;

fn tempdir(name: &str) -> PathBuf {
    support::cli::tempdir("limits", name)
}

/// A 3×8×8 input padded by 5000 pixels on every side by a 3×3 convolution with 4 outputs,
/// then averaged: a 1.4 kB file whose convolution output alone is 4×10006×10006 values
/// (1.6 GB).
pub fn pad5000_onnx() -> Vec<u8> {
    onnx_model(
        vec![conv_weight(4, 3)],
        vec![
            node(
                "Conv",
                "conv1",
                &["x", "w"],
                vec![ints("pads", &[5000, 5000, 5000, 5000])],
            ),
            node("GlobalAveragePool", "gap", &["conv1"], vec![]),
            node("Flatten", "flat", &["gap"], vec![]),
        ],
    )
}

/// A prototxt declaring a 3×8192×8192 input, convolved to 8 channels and averaged: 2.9 GB of
/// activations from a few lines of text.
pub const INPUT_DIM_8192: &str = r#"name: "big"
input: "data"
input_dim: 1
input_dim: 3
input_dim: 8192
input_dim: 8192
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 8 kernel_size: 3 } }
layer { name: "pool" type: "Pooling" bottom: "conv1" top: "pool"
        pooling_param { pool: AVE global_pooling: true } }
"#;

const GIB: u64 = 1 << 30;

#[test]
fn padding_5000_passes_the_import_bound_but_not_the_estimate() {
    // The graph's per-sample bound (2³⁰ values) lets it through: its shapes are legal.
    let g = lrp::import::onnx::from_bytes(&pad5000_onnx(), "pad5000.onnx").unwrap();
    assert_eq!(g.shape("conv1"), Some(&[4, 10006, 10006][..]));
    let e = Estimate::of_graph(&g);
    // At least the convolution's output, kept for the walk back, and its relevance.
    let conv_out = 4 * 4 * 10006u64 * 10006;
    assert!(e.activations >= conv_out && e.backward >= conv_out, "{e:?}");
    assert!(e.per_image() > 4 * GIB, "{e:?}");
    let err = e.check("pad5000.onnx", e.weights, 2 * GIB).unwrap_err();
    assert!(matches!(err, Error::MemoryLimit { limit, .. } if limit == 2 * GIB));
    let msg = err.to_string();
    assert!(
        msg.starts_with("pad5000.onnx: explaining one image needs about ")
            && msg.contains("GiB (activations ")
            && msg.ends_with("more than the memory limit of 2.0 GiB"),
        "{msg}"
    );
    assert_eq!(e.max_batch(2 * GIB), 0);
}

#[test]
fn input_dim_8192_prototxt_passes_the_import_bound_but_not_the_estimate() {
    let dir = tempdir("prototxt");
    let path = dir.join("big.prototxt");
    std::fs::write(&path, INPUT_DIM_8192).unwrap();
    let m = lrp::model::Model::load(&path, None, None, None).unwrap();
    assert_eq!(m.graph.input_shape(), &[3, 8192, 8192]);
    let e = Estimate::of_graph(&m.graph);
    let kept = 4 * (3 * 8192u64 * 8192 + 8 * 8190 * 8190);
    assert!(e.activations >= kept, "{e:?}");
    let err = e.check("big.prototxt", e.weights, 4 * GIB).unwrap_err();
    assert!(err
        .to_string()
        .contains("big.prototxt: explaining one image needs about "));
}

#[test]
fn estimates_of_the_shipped_models_are_ordered_and_scale_with_the_batch() {
    use lrp::composite::Composite;
    use lrp::explain::Explainer;
    for m in [
        lrp::model::Model::gender().unwrap(),
        lrp::model::Model::age().unwrap(),
    ] {
        let worst = Estimate::of_graph(&m.graph);
        for preset in ["epsilon", "epsilon-plus-flat", "alpha2-beta1", "paper"] {
            let ex = Explainer::new(m.graph.clone(), &Composite::preset(preset).unwrap()).unwrap();
            let e = Estimate::of_explainer(&ex);
            assert!(
                e.per_image() <= worst.per_image() && e.prepared <= worst.prepared,
                "{} {preset}: {e:?} vs {worst:?}",
                m.name
            );
            assert_eq!(e.weights, 4 * m.graph.num_params() as u64);
        }
        // Activations at least every tensor of the graph, in f32.
        let values: usize = (m.graph.tensors().iter())
            .map(|t| t.shape.iter().product::<usize>())
            .sum();
        assert!(worst.activations >= 4 * values as u64);
        let one = worst.for_batch(1, 1);
        assert_eq!(worst.for_batch(8, 1) - one, 7 * worst.per_image());
        assert_eq!(
            worst.for_batch(2, 3) - worst.fixed(),
            2 * worst.activations + 6 * worst.backward
        );
        assert_eq!(worst.max_batch(worst.for_batch(8, 1)), 8);
        assert_eq!(worst.max_batch(worst.for_batch(8, 1) - 1), 7);
        assert_eq!(memory::max_batch(&m.graph, 0), 1);
    }
}

#[test]
fn sizes_parse_and_print() {
    let p = |s: &str| memory::parse_size(s).unwrap();
    assert_eq!(p("4G"), Some(4 * GIB));
    assert_eq!(p("4 GiB"), Some(4 * GIB));
    assert_eq!(p("512m"), Some(512 << 20));
    assert_eq!(p("0.5T"), Some(512 * GIB));
    assert_eq!(p("64k"), Some(64 << 10));
    assert_eq!(p("123"), Some(123));
    for off in ["0", "none", "off", "unlimited", "0G"] {
        assert_eq!(p(off), None, "{off}");
    }
    for bad in ["", "G", "-1G", "4X", "1e3", "99999999999T", "4G4"] {
        let e = memory::parse_size(bad).unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{bad}: {e}");
        assert!(e.to_string().contains("memory size"), "{e}");
    }
    assert_eq!(memory::format_bytes(1000), "1000 B");
    assert_eq!(memory::format_bytes(1536), "1.5 KiB");
    assert_eq!(memory::format_bytes(8 * GIB), "8.0 GiB");
}

#[test]
fn limit_files_parse_from_their_texts() {
    let meminfo = "MemTotal:       24576000 kB\nMemFree:         5368000 kB\n\
                   MemAvailable:   18874368 kB\nBuffers:          100000 kB\n";
    assert_eq!(
        memory::parse_meminfo_available(meminfo),
        Some(18874368 * 1024)
    );
    assert_eq!(memory::parse_meminfo_available("MemTotal: 1 kB\n"), None);
    assert_eq!(
        memory::parse_meminfo_available("MemAvailable: lots kB\n"),
        None
    );

    let head = "Limit                     Soft Limit           Hard Limit           Units     \n\
                Max cpu time              unlimited            unlimited            seconds   \n";
    let limits = |soft: &str| {
        format!("{head}Max address space         {soft:<21}unlimited            bytes     \nMax locked memory         8388608              8388608              bytes     \n")
    };
    assert_eq!(
        memory::parse_address_space_limit(&limits("3221225472")),
        Some(3 * GIB)
    );
    assert_eq!(
        memory::parse_address_space_limit(&limits("unlimited")),
        None
    );
    assert_eq!(memory::parse_address_space_limit(head), None);

    assert_eq!(memory::parse_cgroup_limit("8589934592\n"), Some(8 * GIB));
    assert_eq!(memory::parse_cgroup_limit("max\n"), None);
    assert_eq!(memory::parse_cgroup_limit("9223372036854771712\n"), None);
    assert_eq!(memory::parse_cgroup_limit(""), None);

    // cgroup v1 and v2 side by side (a hybrid system, like this one).
    let cg = "9:name=systemd:/\n4:memory:/process_api/73290c3e\n3:cpuset:/\n0::/\n";
    let p = memory::parse_proc_cgroup(cg);
    assert_eq!(p.v1_memory.as_deref(), Some("/process_api/73290c3e"));
    assert_eq!(p.v2.as_deref(), Some("/"));
    let p = memory::parse_proc_cgroup("11:cpuacct,memory,cpu:/docker/abc\n");
    assert_eq!((p.v1_memory.as_deref(), p.v2), (Some("/docker/abc"), None));

    let mi = "24 30 0:22 / /sys rw,nosuid - sysfs sysfs rw\n\
              31 24 0:26 / /sys/fs/cgroup/unified rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n\
              35 24 0:30 / /sys/fs/cgroup/cpu rw shared:8 - cgroup cgroup rw,cpu\n\
              36 24 0:31 /docker/abc /sys/fs/cgroup/memory rw shared:9 - cgroup cgroup rw,memory\n";
    let m = memory::parse_mountinfo(mi);
    let v2 = m.v2.unwrap();
    assert_eq!(
        (v2.root.as_str(), v2.mount_point.as_str()),
        ("/", "/sys/fs/cgroup/unified")
    );
    let v1 = m.v1_memory.unwrap();
    assert_eq!(
        (v1.root.as_str(), v1.mount_point.as_str()),
        ("/docker/abc", "/sys/fs/cgroup/memory")
    );
    let escaped = memory::parse_mountinfo("1 2 0:1 / /mnt/my\\040cgroup rw - cgroup2 none rw\n");
    assert_eq!(escaped.v2.unwrap().mount_point, "/mnt/my cgroup");
}

/// Writes `files` (path relative to `root`, content) under `root`.
fn tree(root: &Path, files: &[(&str, &str)]) {
    for (p, text) in files {
        let path = root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

const MEMINFO_16G: &str = "MemTotal: 33554432 kB\nMemAvailable: 16777216 kB\n";
const NO_AS_LIMIT: &str = "Limit  Soft Limit  Hard Limit  Units\nMax address space         unlimited            unlimited            bytes\n";

#[test]
fn a_slurm_jobs_cgroup_v2_limit_is_found_above_the_task() {
    // Slurm sets memory.max on the job's cgroup; the process sits in a task below it, whose
    // own memory.max is "max".
    let root = tempdir("slurm");
    let job = "sys/fs/cgroup/system.slice/slurmstepd.scope/job_42";
    tree(
        &root,
        &[
            ("proc/meminfo", MEMINFO_16G),
            ("proc/self/limits", NO_AS_LIMIT),
            (
                "proc/self/cgroup",
                "0::/system.slice/slurmstepd.scope/job_42/step_0/user/task_0\n",
            ),
            (
                "proc/self/mountinfo",
                "30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
            ),
            (&format!("{job}/memory.max"), "4294967296\n"),
            (&format!("{job}/step_0/memory.max"), "max\n"),
            (&format!("{job}/step_0/user/task_0/memory.max"), "max\n"),
        ],
    );
    let l = Limits::detect_in(&root);
    assert_eq!(l.available, Some(16 * GIB));
    assert_eq!(l.cgroup, Some(4 * GIB));
    assert_eq!(l.address_space, None);
    assert_eq!(l.smallest(), Some((4 * GIB, LimitSource::Cgroup)));
    assert_eq!(l.default_budget(), Some((3 * GIB, LimitSource::Cgroup)));
}

#[test]
fn a_containers_cgroup_v1_limit_and_an_address_space_limit_are_found() {
    // Docker without a cgroup namespace: the memory mount's root is the container's cgroup.
    let root = tempdir("docker");
    tree(
        &root,
        &[
            ("proc/meminfo", MEMINFO_16G),
            (
                "proc/self/limits",
                "Max address space         3221225472           unlimited            bytes\n",
            ),
            (
                "proc/self/cgroup",
                "4:memory:/docker/abc\n3:cpu:/docker/abc\n",
            ),
            (
                "proc/self/mountinfo",
                "36 24 0:31 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
            ),
            ("sys/fs/cgroup/memory/memory.limit_in_bytes", "2147483648\n"),
        ],
    );
    let l = Limits::detect_in(&root);
    assert_eq!(l.cgroup, Some(2 * GIB));
    assert_eq!(l.address_space, Some(3 * GIB));
    assert_eq!(l.smallest(), Some((2 * GIB, LimitSource::Cgroup)));
    // v1's "no limit" is no limit: then the address space is the smallest.
    tree(
        &root,
        &[(
            "sys/fs/cgroup/memory/memory.limit_in_bytes",
            "9223372036854771712\n",
        )],
    );
    let l = Limits::detect_in(&root);
    assert_eq!(l.cgroup, None);
    assert_eq!(l.smallest(), Some((3 * GIB, LimitSource::AddressSpace)));
}

#[test]
fn missing_files_mean_no_known_limit() {
    let root = tempdir("empty");
    assert_eq!(Limits::detect_in(&root), Limits::default());
    assert_eq!(Limits::detect_in(&root).default_budget(), None);
    // Without mountinfo the usual mount points are tried.
    tree(
        &root,
        &[
            ("proc/self/cgroup", "0::/user.slice\n"),
            ("sys/fs/cgroup/user.slice/memory.max", "1073741824\n"),
        ],
    );
    assert_eq!(Limits::detect_in(&root).cgroup, Some(GIB));
    // This machine's own limits parse without error (whatever they are).
    let here = Limits::detect();
    if cfg!(target_os = "linux") {
        assert!(here.available.is_some(), "{here:?}");
    }
}

#[test]
fn heatmap_output_sizes_are_bounded_before_allocation() {
    let map = Array2::from_shape_fn((4, 4), |(y, x)| (x + y) as f32 / 8.0);
    let cmap = heatmap::Colormap::black_firered();
    for (h, w) in [
        (1usize << 40, 1usize << 40),
        (heatmap::MAX_SIDE + 1, 1),
        (10_000, 10_000),
    ] {
        for how in [Upsample::Nearest, Upsample::Bilinear] {
            let e = heatmap::upsample(&map, h, w, how).unwrap_err();
            assert!(matches!(e, Error::Heatmap(_)), "{e}");
            assert!(e.to_string().contains(&format!("{h}×{w}")), "{e}");
            assert!(heatmap::render_upsampled(&map, &cmap, h, w, how).is_err());
        }
    }
    // The largest allowed side still works (a thin strip).
    let up = heatmap::upsample(&map, heatmap::MAX_SIDE, 2, Upsample::Nearest).unwrap();
    assert_eq!(up.dim(), (heatmap::MAX_SIDE, 2));
    // Area resizing (the comparison's grid) is bounded the same way.
    for (h, w) in [(1usize << 33, 1usize << 33), (heatmap::MAX_SIDE + 1, 4)] {
        let e = compare::resize_area(&map, h, w).unwrap_err();
        assert!(matches!(e, Error::Compare(_)), "{e}");
    }
}

fn face() -> image::RgbImage {
    image::RgbImage::from_pixel(8, 8, image::Rgb([120, 90, 80]))
}

#[test]
fn figures_are_bounded_in_rows_and_pixels() {
    let map = Array2::from_shape_fn((4, 4), |(y, x)| x as f32 - y as f32);
    let rows = |n: usize| {
        let mut f = Figure::new(["m"]).cell_size(8, 8).font_size(6.0);
        for _ in 0..n {
            f.push_row(Row::new(face()).cell(Cell::new(map.clone())));
        }
        f
    };
    let img = rows(heatmap::MAX_FIGURE_ROWS).render().unwrap();
    assert!(img.height() > heatmap::MAX_FIGURE_ROWS as u32 * 8);
    let e = rows(heatmap::MAX_FIGURE_ROWS + 1).render().unwrap_err();
    assert!(matches!(e, Error::Heatmap(_)), "{e}");
    assert!(e.to_string().contains("101 rows"), "{e}");

    // Many columns of large cells: the size is refused before the image is allocated (it
    // used to wrap in u32 arithmetic, or allocate gigabytes).
    let wide = Figure::new(vec!["c"; 600_000])
        .cell_size(8192, 8192)
        .row(Row::new(face()));
    let e = wide.render().unwrap_err();
    assert!(
        matches!(e, Error::Heatmap(_)) && e.to_string().contains("pixels"),
        "{e}"
    );
    let big = Figure::new(vec!["c"; 40])
        .cell_size(8192, 8192)
        .row(Row::new(face()));
    assert!(big.render().is_err());
}

#[test]
fn comparison_sizes_are_bounded() {
    let maps = vec![Array2::from_shape_fn((8, 8), |(y, x)| (x * y) as f32); 3];
    let items = vec![maps.clone(), maps.clone()];
    for grid in [compare::MAX_GRID + 1, 1 << 40, usize::MAX] {
        let e = compare::similarity_matrix(&items, Metric::Pearson, grid).unwrap_err();
        assert!(e.to_string().contains("grid"), "{e}");
        let cfg = SpectralConfig {
            grid,
            clusters: 2,
            neighbors: 2,
            ..SpectralConfig::default()
        };
        assert!(compare::spectral_clustering(&maps, &cfg).is_err());
    }
    let cfg = SpectralConfig {
        neighbors: usize::MAX,
        ..SpectralConfig::default()
    };
    assert!(compare::spectral_clustering(&maps, &cfg).is_err());
    // The largest grid is allowed.
    compare::similarity_matrix(&items, Metric::Cosine, compare::MAX_GRID).unwrap();

    let e =
        compare::patch_order(&maps[0], 1 << 40, &compare::Order::MostRelevantFirst).unwrap_err();
    assert!(e.to_string().contains("patch size"), "{e}");
    let x = ndarray::Array3::<f32>::zeros((1, 2, 2));
    let e = Baseline::Blur {
        radius: compare::MAX_FLIP_PATCH + 1,
    }
    .image(x.view())
    .unwrap_err();
    assert!(e.to_string().contains("blur radius"), "{e}");

    // Flipping with a step count that used to size an allocation.
    let g = lrp::model::Model::gender().unwrap().graph;
    let x = ndarray::Array3::<f32>::zeros((3, 32, 32));
    let order: Vec<usize> = (0..64).collect();
    let cfg = FlipConfig {
        steps: usize::MAX / 2,
        ..FlipConfig::default()
    };
    let e = compare::flip_curve(&g, x.view(), &order, 0, &cfg).unwrap_err();
    assert!(e.to_string().contains("flip steps"), "{e}");
}

#[test]
fn a_study_refuses_unbounded_settings_before_explaining() {
    let models = [lrp::model::Model::gender().unwrap()];
    let presets = [lrp::composite::Composite::preset("epsilon").unwrap()];
    let images = vec![("face".to_string(), face())];
    type Set = fn(&mut StudyConfig);
    let settings: [(&str, Set); 6] = [
        ("grid", |c| c.grid = 1 << 62),
        ("flip patch", |c| c.flip_patch = 1 << 40),
        ("flip steps", |c| c.flip_steps = usize::MAX / 2),
        ("random runs", |c| c.random_runs = usize::MAX),
        ("clusters", |c| c.clusters = usize::MAX),
        ("neighbours", |c| c.neighbors = usize::MAX),
    ];
    for (what, set) in settings {
        let mut cfg = StudyConfig::default();
        set(&mut cfg);
        let mut explained = 0;
        let e = Study::run(&models, &presets, &images, &cfg, &mut |_, done| {
            explained += done
        })
        .unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{what}: {e}");
        assert!(e.to_string().starts_with(what), "{what}: {e}");
        assert_eq!(explained, 0, "{what}: refused only after explaining");
    }
}
