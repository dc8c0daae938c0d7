//! Reduced precision: a bfloat16 GEMM on AVX512-BF16, and the process-wide [`Precision`]
//! switch that routes [`super::sgemm`] through it.
//!
//! [`gemm_bf16`] computes `C(f32) = A·B` with both operands rounded to bfloat16 (round to
//! nearest, ties to even, by `vcvtne2ps2bf16`) and the products accumulated in float32 by
//! `vdpbf16ps`, which multiplies pairs of bfloat16 along K and adds both products to a float32
//! lane. Operands are packed per cache block: B as `[K/2][N][2]` (a pair of consecutive K
//! values of one column in one 32-bit lane), A as `[K/2][MR]` pairs that the micro-kernel
//! broadcasts; an odd K is padded with a zero. The kernel is compiled with
//! `#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]` and entered only after run-time
//! detection, so the crate needs no global `target-cpu`.
//!
//! bfloat16 keeps float32's exponent and 8 significant bits: each rounded operand is within a
//! relative 2⁻⁸ of its value (unit roundoff u = 2⁻⁹ for round-to-nearest, 2⁻⁸ as a safe bound
//! used by the tests), so a product of two is within about 2⁻⁷ relative, while the sums stay
//! float32. That is what an explanation in [`Precision::Bf16`] trades for up to twice the
//! multiply-add rate of float32 FMA on the same vector width.

use super::MatRef;
use crate::error::{Error, Result};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// The arithmetic of the large matrix products (see [`set_precision`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Precision {
    /// Float32 throughout: the default.
    #[default]
    F32,
    /// The large GEMMs with bfloat16 operands and float32 accumulation ([`gemm_bf16`]): the
    /// convolutions' forward products (im2col), the rules' normalisers and the transposed
    /// products that send relevance back, the dense layers and matrix products. Only where
    /// the CPU has AVX512-BF16; everything else (the rules' divisions, the relevance sums,
    /// element-wise layers) stays float32.
    Bf16,
}

impl Precision {
    /// The name used by the command line and Python: `f32` or `bf16`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        }
    }

    /// Parses `f32` / `float32` or `bf16` / `bfloat16`.
    ///
    /// ```
    /// use lrp::kernels::bf16::Precision;
    /// assert_eq!(Precision::parse("bf16").unwrap(), Precision::Bf16);
    /// assert!(Precision::parse("fp8").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Precision> {
        match s.trim().to_ascii_lowercase().as_str() {
            "f32" | "float32" | "fp32" => Ok(Precision::F32),
            "bf16" | "bfloat16" => Ok(Precision::Bf16),
            _ => Err(Error::Invalid(format!(
                "unknown precision `{s}`; known: f32, bf16"
            ))),
        }
    }

    /// `Ok` when this CPU can compute in this precision; for [`Precision::Bf16`] without
    /// AVX512-BF16 an [`Error::Unsupported`] whose message starts with `option` (what the
    /// user asked for: `--precision bf16`, `precision="bf16"`).
    ///
    /// ```
    /// use lrp::kernels::bf16::Precision;
    /// assert!(Precision::F32.check("--precision f32").is_ok());
    /// ```
    pub fn check(self, option: &str) -> Result<()> {
        match self {
            Precision::F32 => Ok(()),
            Precision::Bf16 if bf16_supported() => Ok(()),
            Precision::Bf16 => Err(Error::Unsupported {
                option: option.to_string(),
                needs: "a CPU with AVX512-BF16 or AMX".to_string(),
            }),
        }
    }
}

/// 0: float32, 1: bfloat16 (only ever stored after [`Precision::check`] passed).
static PRECISION: AtomicU8 = AtomicU8::new(0);

/// Choose the precision of the large matrix products for the whole process (every model and
/// explainer, every thread), like [`crate::ops::conv::set_winograd`]. Float32 is the default;
/// [`Precision::Bf16`] is refused with [`Error::Unsupported`] on a CPU without AVX512-BF16
/// (every CPU with AMX has it), never replaced by float32 silently.
///
/// ```
/// use lrp::kernels::{precision, set_precision, Precision};
/// set_precision(Precision::F32).unwrap();
/// assert_eq!(precision(), Precision::F32);
/// if Precision::Bf16.check("bf16").is_ok() {
///     set_precision(Precision::Bf16).unwrap();
///     assert_eq!(precision(), Precision::Bf16);
///     set_precision(Precision::F32).unwrap();
/// }
/// ```
pub fn set_precision(p: Precision) -> Result<()> {
    p.check("precision bf16")?;
    PRECISION.store(u8::from(p == Precision::Bf16), Ordering::Relaxed);
    Ok(())
}

/// The current precision (see [`set_precision`]).
pub fn precision() -> Precision {
    if PRECISION.load(Ordering::Relaxed) == 1 {
        Precision::Bf16
    } else {
        Precision::F32
    }
}

/// Test hook: make [`bf16_supported`] report `false`, as on a CPU without AVX512-BF16, so
/// that the refusal can be tested on any machine. Also set by the environment variable
/// `LRP_TEST_NO_BF16=1` (for the command line's tests). Not part of the API.
#[doc(hidden)]
pub fn simulate_unsupported(on: bool) {
    SIMULATE_UNSUPPORTED.store(on, Ordering::Relaxed);
}

static SIMULATE_UNSUPPORTED: AtomicBool = AtomicBool::new(false);

/// Whether this CPU runs [`gemm_bf16`] (AVX-512 F, BW and BF16, detected at run time).
pub fn bf16_supported() -> bool {
    if SIMULATE_UNSUPPORTED.load(Ordering::Relaxed)
        || std::env::var_os("LRP_TEST_NO_BF16").is_some_and(|v| v == "1")
    {
        return false;
    }
    hardware_bf16()
}

#[cfg(target_arch = "x86_64")]
fn hardware_bf16() -> bool {
    is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512bf16")
}

#[cfg(not(target_arch = "x86_64"))]
fn hardware_bf16() -> bool {
    false
}

/// Whether [`super::sgemm`] sends an `m×k · k×n` product to [`gemm_bf16`]: in
/// [`Precision::Bf16`], unless it is a matrix-vector product (fewer than 4 rows or 16 columns:
/// a dense layer at batch 1, memory-bound, where packing the operands would cost more than
/// the faster products save) or tiny.
#[inline]
pub(crate) fn routes(m: usize, n: usize, k: usize) -> bool {
    PRECISION.load(Ordering::Relaxed) == 1 && m >= 4 && n >= 16 && k >= 8
}

/// `C[m×n] = (accumulate ? C : 0) + A[m×k] · B[k×n]` with A and B rounded to bfloat16 and the
/// products summed in float32, single-threaded: [`super::sgemm`]'s signature and strides (the
/// callers split the work between threads). `c` is row-major with row stride `ldc` (≥ n).
///
/// # Errors
/// [`Error::Unsupported`] on a CPU without AVX512-BF16.
///
/// # Panics
/// If a view is too small for the stated dimensions (an internal bug, never user input).
///
/// ```
/// use lrp::kernels::{bf16::gemm_bf16, MatRef};
/// let (a, b) = ([1.0f32, 2.0, 3.0, 4.0], [0.5f32, -1.0, 0.25, 2.0]);
/// let mut c = [0f32; 4];
/// if gemm_bf16(2, 2, 2, MatRef::row_major(&a, 2), MatRef::row_major(&b, 2), &mut c, 2, false)
///     .is_ok()
/// {
///     // All values are exact in bfloat16, so the result is exact.
///     assert_eq!(c, [1.0, 3.0, 2.5, 5.0]);
/// }
/// ```
#[allow(clippy::too_many_arguments)]
pub fn gemm_bf16(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) -> Result<()> {
    Precision::Bf16.check("gemm_bf16")?;
    if super::checked_and_counted("gemm_bf16", m, n, k, &a, &b, c, ldc, accumulate) {
        // SAFETY: the CPU has the features (checked above), the views are large enough and
        // `m, n, k > 0`.
        unsafe { gemm_unchecked(m, n, k, a, b, c, ldc, accumulate) };
    }
    Ok(())
}

/// [`gemm_bf16`] without its checks.
///
/// # Safety
/// The CPU must have AVX512-F/BW/BF16 ([`bf16_supported`] without the test hook), the views
/// must pass [`super::checked_and_counted`]'s checks, and `m, n, k > 0`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_unchecked(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: guaranteed by the caller.
    unsafe {
        x86::gemm(m, n, k, a, b, c, ldc, accumulate)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (a, b, c, ldc, accumulate);
        unreachable!("bf16 is never enabled off x86-64");
    }
}

// The AVX-512 intrinsics are stable since Rust 1.89 (as are the `avx512*` target features the
// Winograd kernels already enable), above the `rust-version` of Cargo.toml.
#[cfg(target_arch = "x86_64")]
#[clippy::msrv = "1.89"]
mod x86 {
    use super::MatRef;
    use std::arch::x86_64::*;
    use std::cell::RefCell;

    /// Rows of the micro-kernel (A pairs broadcast per step).
    const MR: usize = 8;
    /// Columns of the micro-kernel: three vectors of 16 float32.
    const NR: usize = 48;
    /// Pairs of K per cache block: a B micro-panel (KC·NR bf16 = 36 KB) stays in L1.
    const KCP: usize = 192;
    /// Rows of A per cache block (an A block, MC·2·KCP bf16 = 110 KB, stays in L2).
    const MC: usize = 144;
    /// Columns of B per cache block (a packed B block, 2·KCP·NC bf16 = 1.2 MB, in L2).
    const NC: usize = 1536;

    /// 64 bytes, so that the packed panels are aligned to cache lines.
    #[derive(Clone, Copy)]
    #[repr(align(64))]
    struct Line(#[allow(dead_code)] [u32; 16]);

    thread_local! {
        /// Packed A and B blocks of this thread, reused across calls.
        static PACKED: RefCell<(Vec<Line>, Vec<Line>)> = const { RefCell::new((Vec::new(), Vec::new())) };
    }

    /// A strided operand seen as `W × K`: element `(w, k)` at `ptr + w·sw + k·sk`.
    #[derive(Clone, Copy)]
    struct Src {
        ptr: *const f32,
        sw: usize,
        sk: usize,
    }

    /// See [`super::gemm_unchecked`]; `m, n, k > 0`.
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn gemm(
        m: usize,
        n: usize,
        k: usize,
        a: MatRef<'_>,
        b: MatRef<'_>,
        c: &mut [f32],
        ldc: usize,
        accumulate: bool,
    ) {
        let a_src = Src {
            ptr: a.data.as_ptr(),
            sw: a.rs,
            sk: a.cs,
        };
        let b_src = Src {
            ptr: b.data.as_ptr(),
            sw: b.cs,
            sk: b.rs,
        };
        let cp = c.as_mut_ptr();
        let kp_total = k.div_ceil(2);
        let kcp = KCP.min(kp_total);
        let nc = NC.min(n.div_ceil(16) * 16);
        let mc = MC.min(m.div_ceil(MR) * MR);
        let run = |bufs: &mut (Vec<Line>, Vec<Line>)| {
            let (pa, pb) = bufs;
            let (la, lb) = ((mc * kcp).div_ceil(16), (nc * kcp).div_ceil(16));
            if pa.len() < la {
                pa.resize(la, Line([0; 16]));
            }
            if pb.len() < lb {
                pb.resize(lb, Line([0; 16]));
            }
            let pa = pa.as_mut_ptr().cast::<u32>();
            let pb = pb.as_mut_ptr().cast::<u32>();
            let mut j0 = 0;
            while j0 < n {
                let nb = nc.min(n - j0);
                let mut p0 = 0;
                while p0 < kp_total {
                    let pn = kcp.min(kp_total - p0);
                    // K elements of this block (the last may be odd).
                    let k0 = 2 * p0;
                    let kn = (2 * pn).min(k - k0);
                    let acc = accumulate || p0 > 0;
                    // Pack B: panels of NR columns (the last one 16·⌈cols/16⌉ wide).
                    let mut jr = 0;
                    while jr < nb {
                        let cols = NR.min(nb - jr);
                        let width = cols.div_ceil(16) * 16;
                        // SAFETY: in bounds of the views (checked by the caller) and of
                        // the buffer (nc·kcp u32).
                        unsafe {
                            pack(b_src, j0 + jr, cols, width, k0, kn, pn, pb.add(jr * pn));
                        }
                        jr += NR;
                    }
                    let mut i0 = 0;
                    while i0 < m {
                        let mb = mc.min(m - i0);
                        let mut ir = 0;
                        while ir < mb {
                            let rows = MR.min(mb - ir);
                            // SAFETY: as above, within mc·kcp u32.
                            unsafe { pack(a_src, i0 + ir, rows, MR, k0, kn, pn, pa.add(ir * pn)) };
                            ir += MR;
                        }
                        let mut jr = 0;
                        while jr < nb {
                            let cols = NR.min(nb - jr);
                            let bp = unsafe { pb.add(jr * pn) };
                            let mut ir = 0;
                            while ir < mb {
                                let rows = MR.min(mb - ir);
                                // SAFETY: the packed panels are filled above; C rows
                                // i0+ir..+rows and columns j0+jr..+cols are inside `c`.
                                unsafe {
                                    let ap = pa.add(ir * pn);
                                    let cc = cp.add((i0 + ir) * ldc + j0 + jr);
                                    match cols.div_ceil(16) {
                                        1 => micro::<1>(pn, ap, bp, cc, ldc, rows, cols, acc),
                                        2 => micro::<2>(pn, ap, bp, cc, ldc, rows, cols, acc),
                                        _ => micro::<3>(pn, ap, bp, cc, ldc, rows, cols, acc),
                                    }
                                }
                                ir += MR;
                            }
                            jr += NR;
                        }
                        i0 += mb;
                    }
                    p0 += pn;
                }
                j0 += nb;
            }
        };
        PACKED.with(|cell| match cell.try_borrow_mut() {
            Ok(mut bufs) => run(&mut bufs),
            // Re-entrant use on this thread (cannot happen today: the kernel calls nothing
            // that could run another GEMM); fresh buffers keep it correct.
            Err(_) => run(&mut (Vec::new(), Vec::new())),
        });
    }

    /// The interleave of two 16-lane halves: u16 lane `2j` from lane `j`, `2j+1` from `16+j`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn interleave_index() -> __m512i {
        let mut idx = [0u16; 32];
        for j in 0..16 {
            idx[2 * j] = j as u16;
            idx[2 * j + 1] = 16 + j as u16;
        }
        // SAFETY: reads 64 bytes from a 64-byte array.
        unsafe { _mm512_loadu_si512(idx.as_ptr().cast()) }
    }

    /// Mask of the first `n` (≤ 16) lanes.
    #[inline]
    fn lanes(n: usize) -> __mmask16 {
        if n >= 16 {
            0xFFFF
        } else {
            ((1u32 << n) - 1) as __mmask16
        }
    }

    /// Packs `count` (≤ `width`) rows `w0..` of `src` (as `W × K`), K elements `k0..k0+kn`,
    /// as `pn` pairs: `dst[p·width + w]` holds elements `(w, k0+2p)` (low half) and
    /// `(w, k0+2p+1)` (high half) in bfloat16; rows `count..width` and the pad of an odd `kn`
    /// are zeros. `width` is a multiple of 8.
    ///
    /// # Safety
    /// Every element addressed lies in the source view; `dst` holds `pn·width` u32.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    unsafe fn pack(
        src: Src,
        w0: usize,
        count: usize,
        width: usize,
        k0: usize,
        kn: usize,
        pn: usize,
        dst: *mut u32,
    ) {
        let idx = interleave_index();
        let zero = _mm512_setzero_ps();
        if src.sw == 1 {
            // Rows of K contiguous along W: two K rows, converted together and interleaved.
            for p in 0..pn {
                let ka = 2 * p;
                let row0 = unsafe { src.ptr.add(w0 + (k0 + ka) * src.sk) };
                let mut c0 = 0;
                while c0 < width {
                    let m = lanes(count.saturating_sub(c0));
                    let store = lanes(width - c0);
                    // SAFETY: masked lanes are not read (their addresses, formed with
                    // `wrapping_add`, may lie past the view); the others are elements of it.
                    unsafe {
                        let lo = _mm512_maskz_loadu_ps(m, row0.wrapping_add(c0));
                        let hi = if ka + 1 < kn {
                            _mm512_maskz_loadu_ps(m, row0.wrapping_add(src.sk + c0))
                        } else {
                            zero
                        };
                        let v = pair(lo, hi, idx);
                        _mm512_mask_storeu_epi32(dst.add(p * width + c0).cast(), store, v);
                    }
                    c0 += 16;
                }
            }
        } else if src.sk == 1 {
            // K contiguous per row: 32 elements become 16 pairs, scattered with stride
            // `width`.
            let vindex = _mm512_mullo_epi32(
                _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                _mm512_set1_epi32(width as i32),
            );
            for w in 0..width {
                if w >= count {
                    for p in 0..pn {
                        unsafe { *dst.add(p * width + w) = 0 };
                    }
                    continue;
                }
                let row = unsafe { src.ptr.add((w0 + w) * src.sw + k0) };
                let mut e = 0;
                while e < 2 * pn {
                    let left = kn.saturating_sub(e);
                    // SAFETY: masked loads read elements k0+e.. of the row below kn only
                    // (addresses past it are formed with `wrapping_add` and not read);
                    // the scatter writes pairs e/2.. below pn, inside `dst`.
                    unsafe {
                        let lo = _mm512_maskz_loadu_ps(lanes(left), row.wrapping_add(e));
                        let hi = _mm512_maskz_loadu_ps(
                            lanes(left.saturating_sub(16)),
                            row.wrapping_add(e + 16),
                        );
                        let v: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(hi, lo));
                        let pairs = lanes(pn - e / 2);
                        _mm512_mask_i32scatter_epi32::<4>(
                            dst.add((e / 2) * width + w).cast(),
                            pairs,
                            vindex,
                            v,
                        );
                    }
                    e += 32;
                }
            }
        } else {
            // General strides: gather into float32 rows, then as in the first case.
            let mut lo = [0f32; 16];
            let mut hi = [0f32; 16];
            for p in 0..pn {
                let ka = 2 * p;
                let mut c0 = 0;
                while c0 < width {
                    for l in 0..16 {
                        let w = c0 + l;
                        let inside = w < count;
                        // SAFETY: (w0+w, k0+ka[+1]) lies in the view for w < count.
                        lo[l] = if inside {
                            unsafe { *src.ptr.add((w0 + w) * src.sw + (k0 + ka) * src.sk) }
                        } else {
                            0.0
                        };
                        hi[l] = if inside && ka + 1 < kn {
                            unsafe { *src.ptr.add((w0 + w) * src.sw + (k0 + ka + 1) * src.sk) }
                        } else {
                            0.0
                        };
                    }
                    // SAFETY: 16 floats from each array; the store stays within the panel.
                    unsafe {
                        let v = pair(
                            _mm512_loadu_ps(lo.as_ptr()),
                            _mm512_loadu_ps(hi.as_ptr()),
                            idx,
                        );
                        _mm512_mask_storeu_epi32(
                            dst.add(p * width + c0).cast(),
                            lanes(width - c0),
                            v,
                        );
                    }
                    c0 += 16;
                }
            }
        }
    }

    /// 16 pairs `(lo[j], hi[j])` rounded to bfloat16, pair `j` in 32-bit lane `j`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    fn pair(lo: __m512, hi: __m512, idx: __m512i) -> __m512i {
        // Lanes 0..16 of the result are `lo`, 16..32 are `hi`.
        // SAFETY: same size, plain bits.
        let both: __m512i = unsafe { std::mem::transmute(_mm512_cvtne2ps_pbh(hi, lo)) };
        _mm512_permutexvar_epi16(idx, both)
    }

    /// `C[rows × cols] (+)= A_panel · B_panel` over `pn` pairs; `NV` vectors of 16 columns.
    ///
    /// # Safety
    /// `a` holds `pn·MR` and `b` `pn·NV·16` packed u32; C's `rows` rows of `cols` columns
    /// (stride `ldc`) are writable.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    unsafe fn micro<const NV: usize>(
        pn: usize,
        a: *const u32,
        b: *const u32,
        c: *mut f32,
        ldc: usize,
        rows: usize,
        cols: usize,
        accumulate: bool,
    ) {
        let mut acc = [[_mm512_setzero_ps(); NV]; MR];
        for p in 0..pn {
            let mut bv = [_mm512_setzero_si512(); NV];
            for (v, x) in bv.iter_mut().enumerate() {
                // SAFETY: within the packed panel.
                *x = unsafe { _mm512_loadu_si512(b.add((p * NV + v) * 16).cast()) };
            }
            for (i, row) in acc.iter_mut().enumerate() {
                // SAFETY: within the packed panel.
                let av = _mm512_set1_epi32(unsafe { *a.add(p * MR + i) } as i32);
                for (x, &bvv) in row.iter_mut().zip(&bv) {
                    // SAFETY: plain bits of the same size.
                    unsafe {
                        *x = _mm512_dpbf16_ps(
                            *x,
                            std::mem::transmute::<__m512i, __m512bh>(av),
                            std::mem::transmute::<__m512i, __m512bh>(bvv),
                        );
                    }
                }
            }
        }
        for (i, row) in acc.iter().enumerate().take(rows) {
            for (v, &x) in row.iter().enumerate() {
                let c0 = v * 16;
                if c0 >= cols {
                    break;
                }
                let m = lanes(cols - c0);
                // SAFETY: masked lanes are inside row i's `cols` columns.
                unsafe {
                    let ptr = c.add(i * ldc + c0);
                    let out = if accumulate {
                        _mm512_add_ps(_mm512_maskz_loadu_ps(m, ptr), x)
                    } else {
                        x
                    };
                    _mm512_mask_storeu_ps(ptr, m, out);
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "bf16_tests.rs"]
mod tests;
