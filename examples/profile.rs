//! Where an explanation spends its time, layer by layer, against the machine's peak.
//!
//! ```text
//! cargo run --release --example profile -- vgg16 --preset epsilon-alpha2-beta1-flat --batch 8
//! cargo run --release --example profile -- model.onnx --batch 1 --threads 2
//! cargo run --release --example profile -- --peak
//! cargo run --release --example profile -- gender-v1 --batch 8 --repeat 1 --sites
//! ```
//!
//! The model is a zoo architecture (`adiencenet`, `caffenet`, `googlenet`, `vgg16`: seeded
//! random weights, 8 classes, as `cargo bench --bench lrp` builds them), a shipped model
//! (`gender-v1`, `age-v1`, `face-api-age`, ...), or a model file. The input is seeded random normal. After a warm-up
//! call, `--repeat` profiled calls run and the one with the median total is printed
//! ([`lrp::profile`]). `--peak` measures the machine first: fused multiply-adds in registers
//! on every thread (the float32 arithmetic peak) and a large square GEMM through
//! `lrp::kernels::sgemm` split over the threads (what the GEMM kernels reach), and prints the
//! explanation's GFLOP/s as a share of both. Last, memory against the model's weights plus
//! every activation of the batch (all tensors of the graph, float32), two ways: the resident
//! size the explanations add to the loaded model (`VmHWM`, reset after loading, less `VmRSS`
//! then; Linux), and the heap's peak counted at the allocator: the bytes the program holds,
//! and those plus the free blocks the pool ([`lrp::memory::Pool`]) keeps for the next call.
//! `--sites` also records where each block of 4 KiB and more was allocated (a backtrace per
//! allocation: slow) and prints the largest call sites at the heap's peak.

use anyhow::{bail, Context, Result};
use lrp::composite::Composite;
use lrp::explain::{Explainer, Target};
use lrp::kernels::{sgemm, MatRef};
use lrp::model::Model;
use lrp::profile::{profile, Profile};
use lrp::zoo::{self, rng::Rng, Architecture};
use lrp::Tensor;
use ndarray::IxDyn;
use rayon::prelude::*;
use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The pool, with the live bytes the program holds counted at every allocation: the heap's
/// own peak, apart from the blocks the pool keeps and from what the process's code, stacks
/// and the system allocator's bookkeeping add to its resident size.
struct Counted {
    pool: lrp::memory::Pool,
    live: AtomicUsize,
    peak: AtomicUsize,
    /// Peak of live bytes plus the pool's free blocks.
    held: AtomicUsize,
    /// `--sites`: record where every live block was allocated (slow: a backtrace each).
    sites: AtomicBool,
}

/// `--sites`: the live blocks of 4 KiB and more with their call sites, and the totals per
/// site when the live bytes last reached a new peak.
static LIVE: Mutex<Vec<(usize, usize, Arc<str>)>> = Mutex::new(Vec::new());
static AT_PEAK: Mutex<Vec<(Arc<str>, usize, usize)>> = Mutex::new(Vec::new());

thread_local! {
    /// Set while this thread records a site, so that the recording's own allocations (the
    /// backtrace) are not recorded in turn.
    static RECORDING: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is recording a site: its allocations then are the recording's own
/// (backtraces, symbol caches) and are neither counted nor recorded.
fn quiet() -> bool {
    RECORDING.try_with(Cell::get).unwrap_or(true)
}

/// Run `f` unless this thread is recording already.
fn recording(f: impl FnOnce()) {
    let _ = RECORDING.try_with(|r| {
        if !r.replace(true) {
            f();
            r.set(false);
        }
    });
}

/// The first frames of the caller's stack inside lrp or the GEMM crate, as `a <- b <- c`.
fn call_site() -> Arc<str> {
    let trace = std::backtrace::Backtrace::force_capture().to_string();
    let frames: Vec<&str> = trace
        .lines()
        .filter_map(|l| l.trim().split_once(": ").map(|(_, f)| f))
        .filter(|f| f.starts_with("lrp::") || f.starts_with("<lrp::") || f.starts_with("gemm"))
        .take(3)
        .collect();
    if frames.is_empty() {
        "(outside lrp)".into()
    } else {
        frames.join(" <- ").into()
    }
}

impl Counted {
    fn grew(&self, bytes: usize) {
        let live = self.live.fetch_add(bytes, Ordering::Relaxed) + bytes;
        let before = self.peak.fetch_max(live, Ordering::Relaxed);
        self.held
            .fetch_max(live + self.pool.cached_bytes(), Ordering::Relaxed);
        if live > before && self.sites.load(Ordering::Relaxed) {
            recording(|| {
                let mut per_site: HashMap<Arc<str>, (usize, usize)> = HashMap::new();
                for (_, size, site) in LIVE.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                    let e = per_site.entry(site.clone()).or_default();
                    *e = (e.0 + size, e.1 + 1);
                }
                let mut v: Vec<_> = per_site.into_iter().map(|(s, (b, n))| (s, b, n)).collect();
                v.sort_by_key(|e| std::cmp::Reverse(e.1));
                *AT_PEAK.lock().unwrap_or_else(|e| e.into_inner()) = v;
            });
        }
    }

    fn record(&self, p: *mut u8, size: usize) {
        if size >= 4096 && self.sites.load(Ordering::Relaxed) {
            recording(|| {
                let site = call_site();
                let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
                live.push((p as usize, size, site));
            });
        }
    }

    fn forget(&self, p: *mut u8, size: usize) {
        if size >= 4096 && self.sites.load(Ordering::Relaxed) {
            recording(|| {
                let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(i) = live.iter().rposition(|e| e.0 == p as usize) {
                    live.swap_remove(i);
                }
            });
        }
    }

    /// Start counting the peaks again from what is live now.
    fn reset_peaks(&self) {
        let live = self.live.load(Ordering::Relaxed);
        self.peak.store(live, Ordering::Relaxed);
        self.held
            .store(live + self.pool.cached_bytes(), Ordering::Relaxed);
    }
}

// SAFETY: every call is passed to the pool unchanged; the counters only observe sizes.
unsafe impl GlobalAlloc for Counted {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = self.pool.alloc(layout);
        if !p.is_null() && !quiet() {
            self.record(p, layout.size());
            self.grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = self.pool.alloc_zeroed(layout);
        if !p.is_null() && !quiet() {
            self.record(p, layout.size());
            self.grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        self.pool.dealloc(p, layout);
        if !quiet() {
            self.forget(p, layout.size());
            self.live.fetch_sub(layout.size(), Ordering::Relaxed);
        }
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let q = self.pool.realloc(p, layout, new_size);
        if !q.is_null() && !quiet() {
            self.forget(p, layout.size());
            self.live.fetch_sub(layout.size(), Ordering::Relaxed);
            self.record(q, new_size);
            self.grew(new_size);
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counted = Counted {
    pool: lrp::memory::Pool::new(lrp::memory::Pool::DEFAULT_LIMIT),
    live: AtomicUsize::new(0),
    peak: AtomicUsize::new(0),
    held: AtomicUsize::new(0),
    sites: AtomicBool::new(false),
};

struct Args {
    model: Option<String>,
    preset: String,
    batch: usize,
    threads: usize,
    repeat: usize,
    peak: bool,
    sites: bool,
}

fn args() -> Result<Args> {
    let mut a = Args {
        model: None,
        preset: "epsilon-plus-flat".into(),
        batch: 1,
        threads: 2,
        repeat: 5,
        peak: false,
        sites: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(s) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match s.as_str() {
            "--preset" => a.preset = value("--preset")?,
            "--batch" => a.batch = value("--batch")?.parse()?,
            "--threads" => a.threads = value("--threads")?.parse()?,
            "--repeat" => a.repeat = value("--repeat")?.parse::<usize>()?.max(1),
            "--peak" => a.peak = true,
            "--sites" => a.sites = true,
            m if !m.starts_with("--") && a.model.is_none() => a.model = Some(m.to_string()),
            other => bail!("unknown argument `{other}`"),
        }
    }
    if a.model.is_none() && !a.peak {
        bail!(
            "usage: profile [MODEL] [--preset P] [--batch N] [--threads T] [--repeat R] [--peak] \
             [--sites]"
        );
    }
    Ok(a)
}

/// GFLOP/s of independent fused multiply-adds kept in registers, on every thread of the pool.
fn fma_peak() -> f64 {
    const ITERS: usize = 50_000_000;
    let threads = rayon::current_num_threads();
    let t = Instant::now();
    let macs: usize = (0..threads).into_par_iter().map(|_| fma_loop(ITERS)).sum();
    2.0 * macs as f64 / t.elapsed().as_secs_f64() * 1e-9
}

/// `iters` rounds of 16 independent 16-lane fused multiply-adds (`vfmadd231ps` on 16 zmm
/// accumulators, enough to hide the FMA latency on two ports), when the CPU has AVX-512
/// (detected at run time); 0 otherwise. Returns the multiply-adds done.
fn fma_loop(iters: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") {
        // SAFETY: AVX-512F was detected just above.
        unsafe { fma_loop_avx512(iters) };
        return iters * 16 * 16;
    }
    0
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fma_loop_avx512(iters: usize) {
    // SAFETY: registers only; every register written is declared clobbered.
    unsafe {
        std::arch::asm!(
            "vxorps xmm16, xmm16, xmm16",
            "vxorps xmm17, xmm17, xmm17",
            "2:",
            "vfmadd231ps zmm0, zmm16, zmm17",
            "vfmadd231ps zmm1, zmm16, zmm17",
            "vfmadd231ps zmm2, zmm16, zmm17",
            "vfmadd231ps zmm3, zmm16, zmm17",
            "vfmadd231ps zmm4, zmm16, zmm17",
            "vfmadd231ps zmm5, zmm16, zmm17",
            "vfmadd231ps zmm6, zmm16, zmm17",
            "vfmadd231ps zmm7, zmm16, zmm17",
            "vfmadd231ps zmm8, zmm16, zmm17",
            "vfmadd231ps zmm9, zmm16, zmm17",
            "vfmadd231ps zmm10, zmm16, zmm17",
            "vfmadd231ps zmm11, zmm16, zmm17",
            "vfmadd231ps zmm12, zmm16, zmm17",
            "vfmadd231ps zmm13, zmm16, zmm17",
            "vfmadd231ps zmm14, zmm16, zmm17",
            "vfmadd231ps zmm15, zmm16, zmm17",
            "dec {n}",
            "jnz 2b",
            n = inout(reg) iters.max(1) => _,
            out("zmm0") _,
            out("zmm1") _,
            out("zmm2") _,
            out("zmm3") _,
            out("zmm4") _,
            out("zmm5") _,
            out("zmm6") _,
            out("zmm7") _,
            out("zmm8") _,
            out("zmm9") _,
            out("zmm10") _,
            out("zmm11") _,
            out("zmm12") _,
            out("zmm13") _,
            out("zmm14") _,
            out("zmm15") _,
            out("zmm16") _,
            out("zmm17") _,
            options(nostack),
        );
    }
}

/// GFLOP/s of a 2048³ GEMM through `sgemm`, rows split over the threads (best of 3).
fn gemm_peak() -> f64 {
    let n = 2048;
    let mut rng = Rng::new(3);
    let a: Vec<f32> = (0..n * n).map(|_| rng.normal()).collect();
    let b: Vec<f32> = (0..n * n).map(|_| rng.normal()).collect();
    let mut c = vec![0f32; n * n];
    let threads = rayon::current_num_threads();
    let rows = n.div_ceil(threads);
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        c.par_chunks_mut(rows * n).enumerate().for_each(|(i, ci)| {
            let r0 = i * rows;
            let m = ci.len() / n;
            sgemm(
                m,
                n,
                n,
                MatRef::row_major(&a[r0 * n..(r0 + m) * n], n),
                MatRef::row_major(&b, n),
                ci,
                n,
                false,
            );
        });
        best = best.min(t.elapsed().as_secs_f64());
    }
    2.0 * (n * n * n) as f64 / best * 1e-9
}

/// A memory figure of /proc/self/status in bytes (Linux): `VmHWM:` (peak resident) or
/// `VmRSS:` (resident now).
fn rss(key: &str) -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn load(name: &str) -> Result<(String, lrp::Graph)> {
    if let Some(arch) = Architecture::from_name(name) {
        return Ok((arch.name().to_string(), zoo::build(arch, 8, 1)?));
    }
    let model = if Path::new(name).exists() {
        Model::load(Path::new(name), None, None, None)?
    } else {
        Model::shipped(name)?
    };
    Ok((model.name.clone(), model.graph))
}

fn main() -> Result<()> {
    let a = args()?;
    ALLOC.pool.limit_from_env()?;
    rayon::ThreadPoolBuilder::new()
        .num_threads(a.threads)
        .build_global()
        .context("thread pool")?;
    let mut peaks = None;
    if a.peak {
        let (f, g) = (fma_peak(), gemm_peak());
        println!(
            "peak, {} threads: FMA in registers {f:.1} GFLOP/s, 2048³ sgemm {g:.1} GFLOP/s",
            a.threads
        );
        peaks = Some((f, g));
    }
    let Some(name) = &a.model else { return Ok(()) };
    let (name, graph) = load(name)?;
    // The file's bytes and decoding buffers: not reused, not kept in the pool.
    ALLOC.pool.release();
    // Loading's own peak (the file's bytes beside the decoded weights) is not the
    // explanation's, nor are the pages of a shipped model's bytes embedded in the program:
    // reset the peak resident size to what is resident now (Linux ≥ 4.0), and count what
    // the explanations add to it.
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let loaded_rss = rss("VmRSS:").unwrap_or(0);
    let mut shape = vec![a.batch];
    shape.extend_from_slice(graph.input_shape());
    let mut rng = Rng::new(7);
    let x = Tensor::from_shape_fn(IxDyn(&shape), |_| rng.normal());
    let weights: usize = graph
        .nodes()
        .iter()
        .flat_map(|n| n.op.params())
        .map(|p| p.len() * 4)
        .sum();
    let activations: usize = graph
        .tensors()
        .iter()
        .map(|t| t.shape.iter().product::<usize>() * a.batch * 4)
        .sum();
    ALLOC.reset_peaks();
    ALLOC.sites.store(a.sites, Ordering::Relaxed);
    let loaded = ALLOC.live.load(Ordering::Relaxed);
    let ex = Explainer::new(graph, &Composite::preset(&a.preset)?)?;
    ex.explain(&x, &Target::Predicted)?;
    let mut runs: Vec<Profile> = (0..a.repeat)
        .map(|_| profile(&ex, &x, &Target::Predicted))
        .collect::<lrp::Result<_>>()?;
    runs.sort_by(|p, q| p.total_ms.total_cmp(&q.total_ms));
    let p = &runs[runs.len() / 2];
    println!(
        "{name}, {}, batch {}, {} threads (median of {} profiled calls)",
        a.preset, a.batch, a.threads, a.repeat
    );
    print!("{}", p.table());
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    if let Some(peak) = rss("VmHWM:").filter(|_| reset) {
        let grown = peak.saturating_sub(loaded_rss);
        println!(
            "peak resident memory: weights {:.1} MiB + {:.1} MiB grown while explaining (VmHWM \
             less VmRSS after loading) = {:.1} MiB; weights {:.1} MiB + activations {:.1} MiB = \
             {:.1} MiB; ratio {:.2}",
            mib(weights),
            mib(grown),
            mib(weights + grown),
            mib(weights),
            mib(activations),
            mib(weights + activations),
            (weights + grown) as f64 / (weights + activations) as f64
        );
    }
    let (heap, held) = (
        ALLOC.peak.load(Ordering::Relaxed),
        ALLOC.held.load(Ordering::Relaxed),
    );
    println!(
        "heap: {:.1} MiB live after loading; peak {:.1} MiB live (ratio {:.2}), {:.1} MiB with \
         the pool's free blocks (ratio {:.2})",
        mib(loaded),
        mib(heap),
        heap as f64 / (weights + activations) as f64,
        mib(held),
        held as f64 / (weights + activations) as f64
    );
    if ALLOC.sites.swap(false, Ordering::Relaxed) {
        println!(
            "at the heap's peak, the blocks of 4 KiB and more allocated since loading, by call \
             site:"
        );
        for (site, bytes, n) in AT_PEAK
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .take(15)
        {
            println!("{:9.2} MiB {n:5} blocks  {site}", mib(*bytes));
        }
    }
    if let Some((f, g)) = peaks {
        println!(
            "{:.1} GFLOP/s = {:.0}% of the FMA peak, {:.0}% of the sgemm peak",
            p.gflops(),
            100.0 * p.gflops() / f,
            100.0 * p.gflops() / g
        );
    }
    Ok(())
}
