//! Hot loops: the one GEMM entry point, im2col, and the parallel splits.
//!
//! Everything here works on raw contiguous `f32` slices and knows nothing of layers or rules.
//! [`set_precision`] switches the large products of [`sgemm`] to bfloat16 ([`bf16`]).

pub mod bf16;
pub mod conv;
pub mod elementwise;
pub mod im2col;
pub mod winograd;

pub use bf16::{precision, set_precision, Precision};
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The value an output of exactly 0 takes in the explanation's forward pass under rules that
/// divide by their output with ε and stabiliser at most [`UNSTABILISED`] (the explainer's
/// forward pass sets such outputs to it; [`Stabilized`] divides by it where it meets a 0).
///
/// Those rules (`attnlrp`, `cp-lrp`: ε = stabiliser = 1e-20, LRP-0 in effect) send relevance
/// `R_in = x ⊙ c`, and the layer that produced `x` divides it by `x` again to get `c` back: the
/// ratio is LXT's gradient. Where an output is exactly 0 in float32 — a residual sum `x + y`
/// with `y = −x` to the bit, a dense output whose products cancel — relevance `0 · c` cannot
/// carry `c` through, so the whole branch behind that one value got no relevance, where LXT's
/// gradient form passes `c` on (full ViT-B/16: 7 of 8 random inputs had one such zero, each
/// putting the input relevance 1e-3 to 6e-3 of max|R| off LXT in float64). A float64 forward
/// pass gives such a value as a residue of the order of its operands' rounding; 1e-10 stands
/// for it: 10 orders above ε, so the ratio comes back to float32 precision, and far below the
/// magnitudes of the values it is added to downstream, which stay unchanged.
pub const CANCELLED: f32 = 1e-10;

/// The largest ε (and stabiliser) under which an output of exactly 0 stands for
/// [`CANCELLED`]: rules this close to LRP-0 divide by their output unstabilised.
pub const UNSTABILISED: f32 = 1e-12;

/// The stabilised ratio of the LRP rules: `r / (z + ε·sign(z))` with `sign(0) = +1`, and 0
/// where that denominator is 0 (only possible with ε = 0), so that no rule produces NaN. With
/// ε ≤ [`UNSTABILISED`], a `z` of exactly 0 is taken as [`CANCELLED`] (a rule that recomputes
/// its output from its inputs meets the 0 the explainer's forward pass replaced).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stabilized(pub f32);

impl Stabilized {
    /// `r / (z + ε·sign(z))`, 0 where the denominator is 0; see [`CANCELLED`] for `z = 0`
    /// with ε ≤ [`UNSTABILISED`].
    #[inline]
    pub fn apply(self, r: f32, z: f32) -> f32 {
        let z = if z == 0.0 && self.0 <= UNSTABILISED {
            CANCELLED
        } else {
            z
        };
        let d = z + if z >= 0.0 { self.0 } else { -self.0 };
        if d == 0.0 {
            0.0
        } else {
            r / d
        }
    }
}

/// A read-only matrix view into a slice: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    /// Backing storage.
    pub data: &'a [f32],
    /// Row stride.
    pub rs: usize,
    /// Column stride.
    pub cs: usize,
}

impl<'a> MatRef<'a> {
    /// Row-major view with `cols` columns.
    pub fn row_major(data: &'a [f32], cols: usize) -> Self {
        MatRef {
            data,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose of a row-major matrix with `cols` columns.
    pub fn row_major_t(data: &'a [f32], cols: usize) -> Self {
        MatRef {
            data,
            rs: 1,
            cs: cols,
        }
    }

    fn fits(&self, rows: usize, cols: usize) -> bool {
        rows == 0 || cols == 0 || (rows - 1) * self.rs + (cols - 1) * self.cs < self.data.len()
    }
}

/// Multiply-adds done by the GEMM entry points since the process started (all threads).
static MULTIPLY_ADDS: AtomicU64 = AtomicU64::new(0);

/// The multiply-adds [`sgemm`] (and [`sgemm_f32`], which Winograd calls, and
/// [`bf16::gemm_bf16`]) have done in this process so far, on all threads: `m·n·k` per call. Every convolution, dense layer and product of activations, forward and in the
/// rules, goes through `sgemm` (Winograd's 36 products per tile block included, so its
/// savings show); element-wise work, pooling, normalisation and the rules' divisions do not
/// count. [`crate::profile`] reads it before and after each step.
///
/// ```
/// let before = lrp::kernels::multiply_adds();
/// let (a, b) = (vec![1f32; 6], vec![1f32; 12]);
/// let mut c = vec![0f32; 8];
/// use lrp::kernels::{sgemm, MatRef};
/// sgemm(2, 4, 3, MatRef::row_major(&a, 3), MatRef::row_major(&b, 4), &mut c, 4, false);
/// assert!(lrp::kernels::multiply_adds() - before >= 2 * 4 * 3);
/// assert_eq!(c, vec![3.0; 8]);
/// ```
pub fn multiply_adds() -> u64 {
    MULTIPLY_ADDS.load(Ordering::Relaxed)
}

/// `C[m×n] = (accumulate ? C : 0) + A[m×k] · B[k×n]`, single-threaded.
///
/// `c` is row-major with row stride `ldc` (≥ n). This is the only GEMM call of the crate; it
/// uses the `gemm` crate, whose AVX-512/AVX2/FMA kernels are chosen at run time. In
/// [`Precision::Bf16`] (see [`set_precision`]) products with at least 4 rows and 16 columns
/// go to [`bf16::gemm_bf16`] instead (bfloat16 operands, float32 sums); [`sgemm_f32`] never
/// does.
///
/// Every caller was checked for products that must stay exact in float32: there are none
/// besides Winograd's (which calls [`sgemm_f32`]). The callers are the convolution's im2col
/// GEMM and its transpose (forward pass, the rules' normalisers and transposed products), the
/// dense layer's forward and transposed products, and `MatMul` (transformers' attention and
/// its relevance); sums, norms and the rules' divisions never go through a GEMM.
///
/// # Panics
/// If a view is too small for the stated dimensions (an internal bug, never user input).
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    if !checked_and_counted("sgemm", m, n, k, &a, &b, c, ldc, accumulate) {
        return;
    }
    if bf16::routes(m, n, k) {
        // SAFETY: the precision is bf16 only after `Precision::check` found the CPU features;
        // the views were checked and `m, n, k > 0`.
        unsafe { bf16::gemm_unchecked(m, n, k, a, b, c, ldc, accumulate) };
    } else {
        // SAFETY: the views were checked and `m, n, k > 0`.
        unsafe { f32_unchecked(m, n, k, a, b, c, ldc, accumulate) };
    }
}

/// The common part of every GEMM entry point ([`sgemm`], [`sgemm_f32`],
/// [`bf16::gemm_bf16`]): check the views (panicking, named `what`, if one is too small),
/// count the multiply-adds ([`multiply_adds`]) and deal with empty products (`k = 0` clears
/// `C` unless accumulating). Returns whether there is a product left to compute, with
/// `m, n, k > 0`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn checked_and_counted(
    what: &str,
    m: usize,
    n: usize,
    k: usize,
    a: &MatRef<'_>,
    b: &MatRef<'_>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) -> bool {
    assert!(
        a.fits(m, k) && b.fits(k, n),
        "{what}: operand view too small"
    );
    assert!(
        m == 0 || n == 0 || (m - 1) * ldc + n <= c.len(),
        "{what}: output too small"
    );
    if m == 0 || n == 0 {
        return false;
    }
    MULTIPLY_ADDS.fetch_add((m * n * k) as u64, Ordering::Relaxed);
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                c[i * ldc..i * ldc + n].fill(0.0);
            }
        }
        return false;
    }
    true
}

/// [`sgemm`] in float32 whatever [`precision`] says: for products whose operands do not
/// survive rounding to bfloat16 (Winograd's transformed tiles).
///
/// # Panics
/// As [`sgemm`].
#[allow(clippy::too_many_arguments)]
pub fn sgemm_f32(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    if checked_and_counted("sgemm", m, n, k, &a, &b, c, ldc, accumulate) {
        // SAFETY: the views were checked and `m, n, k > 0`.
        unsafe { f32_unchecked(m, n, k, a, b, c, ldc, accumulate) };
    }
}

/// The float32 product through the `gemm` crate, without checks.
///
/// # Safety
/// The views must pass [`checked_and_counted`]'s checks; `m, n, k > 0`.
#[allow(clippy::too_many_arguments)]
unsafe fn f32_unchecked(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    // SAFETY: the caller checked that every element addressed through the strides lies
    // inside the three slices; `c` is borrowed mutably and cannot alias `a` or `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            ldc as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// A mutable slice that rayon tasks share to write disjoint regions of it.
#[derive(Clone, Copy)]
pub(crate) struct SyncPtr(*mut f32, usize);

impl SyncPtr {
    /// Share `s` between parallel tasks.
    pub(crate) fn new(s: &mut [f32]) -> Self {
        SyncPtr(s.as_mut_ptr(), s.len())
    }

    /// The whole slice again.
    ///
    /// # Safety
    /// The slice given to [`SyncPtr::new`] must outlive every use, and tasks that run at the
    /// same time must write disjoint elements and read none that another task writes.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn slice(&self) -> &mut [f32] {
        // SAFETY: guaranteed by the caller, see above.
        unsafe { std::slice::from_raw_parts_mut(self.0, self.1) }
    }
}
// SAFETY: used only to hand disjoint output regions to parallel tasks; see each use.
unsafe impl Send for SyncPtr {}
// SAFETY: as above.
unsafe impl Sync for SyncPtr {}

/// Split `0..len` into at most `parts` contiguous ranges of nearly equal size, each at least
/// `min_len` long (except when `len < min_len`).
pub(crate) fn split_range(len: usize, parts: usize, min_len: usize) -> Vec<(usize, usize)> {
    let max_parts = (len / min_len.max(1)).max(1);
    let parts = parts.clamp(1, max_parts);
    let base = len / parts;
    let extra = len % parts;
    let mut out = Vec::with_capacity(parts);
    let mut start = 0;
    for p in 0..parts {
        let l = base + usize::from(p < extra);
        out.push((start, start + l));
        start += l;
    }
    out
}

/// Runs a whole pass `f` on rayon's global pool, with the pool's other workers kept awake
/// while it runs.
///
/// A forward or LRP pass starts dozens of short parallel loops with serial code between them.
/// Started from a thread outside the pool, each loop hands its jobs over and parks the caller,
/// and idle workers go to sleep within microseconds, so each loop would also wake a parked
/// thread. So `f` runs on a worker, and every other worker runs a job that steals pending work
/// and spins between jobs (as OpenMP does, which PyTorch relies on), until `f` ends or it has
/// found nothing to do for [`SPIN_IDLE`]. That bound keeps a long serial stretch from burning
/// a core, and guarantees progress should a spinner ever sit on top of a suspended part of
/// `f` (a worker waiting inside `f` may pick up any pending job). Called on a worker already
/// (nested in the caller's own parallel code), or with one thread, `f` just runs.
pub(crate) fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() || threads() < 2 {
        return f();
    }
    let done = AtomicBool::new(false);
    rayon::scope(|s| {
        let owner = rayon::current_thread_index();
        for _ in 1..threads() {
            let done = &done;
            s.spawn(move |_| {
                // The owner only pops this job itself while waiting inside `f`.
                if rayon::current_thread_index() == owner {
                    return;
                }
                let mut idle_since = Instant::now();
                while !done.load(Ordering::Acquire) {
                    if rayon::yield_now() == Some(rayon::Yield::Executed) {
                        idle_since = Instant::now();
                    } else if idle_since.elapsed() > SPIN_IDLE {
                        return;
                    } else {
                        std::hint::spin_loop();
                    }
                }
            });
        }
        // Set on the way out, also when `f` panics, so the spinners stop.
        struct SetOnDrop<'a>(&'a AtomicBool);
        impl Drop for SetOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Release);
            }
        }
        let _done = SetOnDrop(&done);
        f()
    })
}

/// How long an [`on_pool`] spinner looks for work before it lets its thread sleep.
const SPIN_IDLE: Duration = Duration::from_millis(1);

/// Number of worker threads available for splitting work.
pub(crate) fn threads() -> usize {
    rayon::current_num_threads().max(1)
}

/// Multiply-adds below which a parallel task costs more in scheduling than it saves.
const MIN_TASK_WORK: usize = 1 << 19;

/// How many parallel tasks `work` multiply-adds deserve: two per thread at most (for load
/// balance), and none smaller than [`MIN_TASK_WORK`].
pub(crate) fn tasks_for(work: usize) -> usize {
    (work / MIN_TASK_WORK).clamp(1, 2 * threads())
}

/// `y[N×out] = x[N×in] · Wᵀ + b` for a row-major weight `w[out×in]`, parallel over output
/// rows (batch 1 is a memory-bound matrix-vector product) or over the batch.
pub(crate) fn dense_forward(
    x: &[f32],
    n: usize,
    inp: usize,
    w: &[f32],
    out: usize,
    bias: Option<&[f32]>,
    y: &mut [f32],
) {
    debug_assert_eq!(x.len(), n * inp);
    debug_assert_eq!(w.len(), out * inp);
    debug_assert_eq!(y.len(), n * out);
    for row in y.chunks_mut(out) {
        match bias {
            Some(b) => row.copy_from_slice(b),
            None => row.fill(0.0),
        }
    }
    // Split the output features into blocks; each block is an independent GEMM over the
    // whole batch: y[:, j0..j1] += x · W[j0..j1, :]ᵀ.
    let blocks = split_range(out, tasks_for(n * inp * out), 16);
    let yp = SyncPtr::new(y);
    blocks.par_iter().for_each(|&(j0, j1)| {
        // SAFETY: every block writes only columns j0..j1 of each row of `y`, disjoint
        // between blocks; the slice we rebuild covers `y` exactly and outlives the loop.
        let y = unsafe { yp.slice() };
        sgemm(
            n,
            j1 - j0,
            inp,
            MatRef::row_major(x, inp),
            MatRef::row_major_t(&w[j0 * inp..j1 * inp], inp),
            &mut y[j0..],
            out,
            true,
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Element `j` of loop `i` in [`loops`].
    fn term(seed: u64, i: u64, j: u64) -> f64 {
        ((i * 4096 + j) ^ seed) as f64
    }

    /// A pass of many short parallel loops, as a forward pass has.
    fn loops(seed: u64) -> Vec<f64> {
        (0..50u64)
            .map(|i| {
                (0..4096usize)
                    .into_par_iter()
                    .with_min_len(64)
                    .map(|j| term(seed, i, j as u64))
                    .sum()
            })
            .collect()
    }

    /// The same sums on one thread (exact: integers below 2^53 in any order).
    fn serial(seed: u64) -> Vec<f64> {
        (0..50u64)
            .map(|i| (0..4096u64).map(|j| term(seed, i, j)).sum())
            .collect()
    }

    #[test]
    fn on_pool_from_many_callers_and_nested() {
        // Callers outside the pool at once, each also nesting a pass inside its pass, so that
        // workers waiting inside one pass may pick up another pass's spinner: all must finish
        // and compute what the serial loops compute.
        std::thread::scope(|t| {
            let callers: Vec<_> = (0..4u64)
                .map(|seed| {
                    t.spawn(move || {
                        on_pool(|| {
                            let inner = on_pool(|| loops(seed + 100));
                            (loops(seed), inner)
                        })
                    })
                })
                .collect();
            for (seed, c) in (0u64..).zip(callers) {
                let (outer, inner) = c.join().expect("caller finished");
                assert_eq!(outer, serial(seed));
                assert_eq!(inner, serial(seed + 100));
            }
        });
    }

    #[test]
    fn on_pool_passes_a_panic_on_and_keeps_working() {
        let r = std::panic::catch_unwind(|| on_pool(|| -> usize { panic!("inside the pass") }));
        assert!(r.is_err());
        assert_eq!(on_pool(|| loops(7)), serial(7));
    }

    fn naive(m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Vec<f32> {
        let mut c = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0f64;
                for p in 0..k {
                    s += a[i * k + p] as f64 * b[p * n + j] as f64;
                }
                c[i * n + j] = s as f32;
            }
        }
        c
    }

    #[test]
    fn sgemm_matches_naive_on_odd_sizes() {
        for &(m, n, k) in &[
            (1, 1, 1),
            (3, 5, 7),
            (17, 33, 65),
            (64, 1, 300),
            (1, 129, 9),
        ] {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 37 % 19) as f32 - 9.0) / 7.0)
                .collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| ((i * 11 % 23) as f32 - 11.0) / 5.0)
                .collect();
            let mut c = vec![1.0f32; m * n];
            sgemm(
                m,
                n,
                k,
                MatRef::row_major(&a, k),
                MatRef::row_major(&b, n),
                &mut c,
                n,
                false,
            );
            let r = naive(m, n, k, &a, &b);
            for (x, y) in c.iter().zip(&r) {
                assert!((x - y).abs() <= 1e-5 * y.abs().max(1.0), "{x} vs {y}");
            }
        }
    }

    #[test]
    fn split_range_covers_everything() {
        for len in [0usize, 1, 5, 100, 101] {
            for parts in [1usize, 2, 3, 8] {
                let r = split_range(len, parts, 4);
                assert_eq!(r.first().map(|x| x.0), Some(0));
                assert_eq!(r.last().map(|x| x.1), Some(len));
                for w in r.windows(2) {
                    assert_eq!(w[0].1, w[1].0);
                }
            }
        }
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Run `f` with this thread's scratch buffer, grown to at least `len` elements (contents
/// unspecified). Reused across calls so that hot loops do not allocate.
pub(crate) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < len {
                buf.resize(len, 0.0);
            }
            f(&mut buf[..len])
        }
        // Re-entrant use on the same thread (a nested parallel section that ran on this
        // thread): fall back to a fresh buffer.
        Err(_) => f(&mut vec![0.0; len]),
    })
}

/// Σ `v`, accumulated in float64 over 32 independent lanes.
///
/// A plain `iter().sum()` over `f32` is one dependent chain of additions (the compiler may
/// not reorder them), so it runs at one element per add latency; relevance maps are summed
/// for every node of every explanation (the conservation report). The lanes vectorise, and
/// float64 keeps the sum of a few million relevance values exact to float32 precision.
pub fn sum(v: &[f32]) -> f64 {
    const LANES: usize = 32;
    let mut acc = [0f64; LANES];
    let chunks = v.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += f64::from(x);
        }
    }
    let tail: f64 = rest.iter().map(|&x| f64::from(x)).sum();
    acc.iter().sum::<f64>() + tail
}

/// A vector of `len` zeros whose pages are already written.
///
/// `vec![0.0; len]` asks the allocator for zeroed memory, which for large buffers is fresh
/// pages mapped to the shared zero page: a buffer that is then accumulated into (`+=`) takes
/// two faults per page, the second a copy-on-write that flushes the TLB of every core running
/// this process (an inter-processor interrupt, which in a virtual machine is an exit to the
/// hypervisor). Writing the zeros up front costs one memset and one fault per page.
pub fn zeroed(len: usize) -> Vec<f32> {
    let mut v = Vec::with_capacity(len);
    v.resize(len, 0.0);
    v
}
