//! Winograd F(4×4, 3×3) convolution for 3×3, stride-1, dilation-1, single-group layers, and
//! its transpose (the relevance products of the LRP rules).
//!
//! Each 4×4 block of outputs ("tile") is computed from a 6×6 block of inputs with 36
//! element-wise products per (input, output) channel pair instead of 144 multiply-adds:
//! `Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A`. The element-wise products, summed over input
//! channels, are 36 independent GEMMs `M_ξ [K×T] = U_ξ [K×C] · V_ξ [C×T]`, run through
//! [`crate::kernels::sgemm`] like every other product of the crate.
//!
//! Interpolation points: 0, ±1, ±2 and ∞, the matrices of Lavin & Gray (2016, "Fast
//! algorithms for convolutional neural networks", section 4.2). Measured in float32 on
//! random data, the result differs from an f64 direct convolution by a few 1e-6 of max|y|
//! (the unit tests assert 1e-4).
//!
//! Layout: the transforms work on whole rows of tiles, with the SIMD lanes running over the
//! tiles of a row (after a de-interleave of the image row into its four phases `x mod 4`),
//! so that every arithmetic loop is a contiguous loop over tiles that the compiler vectorises.
//! The loops are compiled twice, once for AVX-512 (16 lanes) and once for the baseline target,
//! and the AVX-512 copy is chosen at run time where the CPU has it.
//!
//! Memory: the transformed inputs and products of at most [`SCRATCH_FLOATS`] floats are
//! held at a time (blocks of tile rows), plus the transformed filters (36 per input/output
//! channel pair, four times the layer's weights). These three buffers are kept for the next
//! call (the largest layer's size), since fresh pages cost more than the GEMMs on small
//! images.

use super::{MatRef, SyncPtr};
use crate::kernels;
use rayon::prelude::*;

/// Upper bound (in floats) on the transformed inputs plus products held at once: 16 MB.
pub const SCRATCH_FLOATS: usize = 1 << 22;

/// Shape of a 3×3, stride-1 convolution on `[n, c, h, w]` with zero padding
/// `[top, left, bottom, right]` and `k` output channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape3x3 {
    /// Batch size.
    pub n: usize,
    /// Input channels.
    pub c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub k: usize,
    /// Zero padding `[top, left, bottom, right]`.
    pub pads: [usize; 4],
}

impl Shape3x3 {
    /// Output height and width (0 where the padded input is smaller than the kernel).
    pub fn out_hw(&self) -> (usize, usize) {
        let [pt, pl, pb, pr] = self.pads;
        (
            (self.h + pt + pb).saturating_sub(2),
            (self.w + pl + pr).saturating_sub(2),
        )
    }
}

/// Where the 3×3 filter of output `o`, input `i` comes from.
#[derive(Clone, Copy)]
enum Filters<'a> {
    /// `w[o, i, a, b]` of a `[k, c, 3, 3]` weight.
    Plain(&'a [f32]),
    /// `w[i, o, 2 − a, 2 − b]` of a `[c, k, 3, 3]` weight: the transposed convolution.
    Flipped(&'a [f32]),
}

/// `y = conv(x, w) + b` for a 3×3, stride-1, one-group convolution by Winograd F(4×4, 3×3).
/// `x` is `[n, c, h, w]`, `w` is `[k, c, 3, 3]`, `y` is `[n, k, oh, ow]` and is overwritten.
///
/// # Panics
/// If a buffer's length does not match the shape (an internal bug, never user input).
pub fn conv3x3(x: &[f32], s: &Shape3x3, w: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    assert_eq!(w.len(), s.k * s.c * 9, "winograd: weight length");
    run(x, s, Filters::Plain(w), bias, y);
}

/// The transpose of [`conv3x3`] (without bias): `out = Wᵀ ⋆ g` for `g` of shape
/// `[n, k, oh, ow]` and `out` of shape `[n, c, h, w]` (overwritten), where `s` is the forward
/// convolution's shape. For stride 1 this is the 3×3 convolution of `g` with the flipped,
/// channel-swapped filters and padding `2 − p` on each side, so it needs every pad ≤ 2.
///
/// # Panics
/// If a pad exceeds 2 or a buffer's length does not match (internal bugs, see
/// [`transpose_supported`]).
pub fn conv3x3_transpose(g: &[f32], s: &Shape3x3, w: &[f32], out: &mut [f32]) {
    assert!(transpose_supported(s), "winograd: transpose needs pads ≤ 2");
    assert_eq!(w.len(), s.k * s.c * 9, "winograd: weight length");
    let (oh, ow) = s.out_hw();
    let [pt, pl, pb, pr] = s.pads;
    let t = Shape3x3 {
        n: s.n,
        c: s.k,
        h: oh,
        w: ow,
        k: s.c,
        pads: [2 - pt, 2 - pl, 2 - pb, 2 - pr],
    };
    run(g, &t, Filters::Flipped(w), None, out);
}

/// Whether [`conv3x3_transpose`] handles this shape (every pad at most 2, non-empty output).
pub fn transpose_supported(s: &Shape3x3) -> bool {
    let (oh, ow) = s.out_hw();
    s.pads.iter().all(|&p| p <= 2) && oh > 0 && ow > 0
}

/// The shared driver: filter transform, then blocks of tile rows through input transform,
/// 36 GEMMs and output transform, each phase parallel.
fn run(x: &[f32], s: &Shape3x3, f: Filters<'_>, bias: Option<&[f32]>, y: &mut [f32]) {
    let (oh, ow) = s.out_hw();
    let (c, k) = (s.c, s.k);
    assert_eq!(x.len(), s.n * c * s.h * s.w, "winograd: input length");
    assert_eq!(y.len(), s.n * k * oh * ow, "winograd: output length");
    if y.is_empty() {
        return;
    }
    if c == 0 {
        fill_bias(y, k, oh * ow, bias);
        return;
    }
    let (th, tw) = (oh.div_ceil(4), ow.div_ceil(4));
    let mut u = Pooled::take(36 * k * c);
    transform_filters(f, c, k, &mut u);
    // Tile rows per block: the transformed inputs and products fit SCRATCH_FLOATS.
    let rows_total = s.n * th;
    let per_row = 36 * (c + k) * tw;
    let rows = (SCRATCH_FLOATS / per_row).clamp(1, rows_total);
    let tb_max = rows * tw;
    let mut v = Pooled::take(36 * c * tb_max);
    let mut m = Pooled::take(36 * k * tb_max);
    let mut r0 = 0;
    while r0 < rows_total {
        let r1 = (r0 + rows).min(rows_total);
        let tb = (r1 - r0) * tw;
        input_transform(x, s, r0, r1, tw, &mut v[..36 * c * tb]);
        products(&u, &v[..36 * c * tb], c, k, tb, &mut m[..36 * k * tb]);
        output_transform(&m[..36 * k * tb], s, r0, r1, tw, bias, y);
        r0 = r1;
    }
}

/// Scratch buffers kept between calls: a layer's transformed filters alone are 36 floats per
/// channel pair (37 MB for a 512×512 layer), and fresh pages from the allocator cost a page
/// fault each (measured: twice the time of the GEMMs on VGG-16's 14×14 layers). At most
/// [`POOL_BUFFERS`] buffers are kept, each as large as the largest layer has needed.
static POOL: std::sync::Mutex<Vec<Vec<f32>>> = std::sync::Mutex::new(Vec::new());

/// Buffers kept in [`POOL`]: the three of one call.
const POOL_BUFFERS: usize = 3;

/// A buffer taken from [`POOL`], of `len` elements with unspecified contents, returned to the
/// pool when dropped.
struct Pooled(Vec<f32>, usize);

impl Pooled {
    fn take(len: usize) -> Self {
        // The smallest kept buffer that is large enough, else the largest (to grow).
        let buf = POOL.lock().map_or(None, |mut p| {
            let fit = (0..p.len())
                .filter(|&i| p[i].len() >= len)
                .min_by_key(|&i| p[i].len())
                .or_else(|| (0..p.len()).max_by_key(|&i| p[i].len()))?;
            Some(p.swap_remove(fit))
        });
        let mut buf = buf.unwrap_or_default();
        if buf.len() < len {
            buf.resize(len, 0.0);
        }
        Pooled(buf, len)
    }
}

impl std::ops::Deref for Pooled {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.0[..self.1]
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.0[..self.1]
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Ok(mut p) = POOL.lock() {
            if p.len() < POOL_BUFFERS {
                p.push(std::mem::take(&mut self.0));
            }
        }
    }
}

fn fill_bias(y: &mut [f32], k: usize, plane: usize, bias: Option<&[f32]>) {
    for (i, ch) in y.chunks_mut(plane).enumerate() {
        ch.fill(bias.map_or(0.0, |b| b[i % k]));
    }
}

/// `U[ξ][o][i] = (G g_{o,i} Gᵀ)[ξ]`, parallel over output channels; lanes over input
/// channels.
fn transform_filters(f: Filters<'_>, c: usize, k: usize, u: &mut [f32]) {
    let up = SyncPtr::new(u);
    let blocks = kernels::split_range(k, 4 * kernels::threads(), 8);
    blocks.par_iter().for_each(|&(o0, o1)| {
        // SAFETY: block o0..o1 writes only rows o0..o1 of every U_ξ; blocks are disjoint and
        // `u` outlives the loop.
        let u = unsafe { up.slice() };
        let mut g = vec![0f32; 9 * c];
        let mut t = vec![0f32; 18 * c];
        for o in o0..o1 {
            // Gather the nine taps of every input channel into planes g[tap][i].
            for i in 0..c {
                for tap in 0..9 {
                    g[tap * c + i] = match f {
                        Filters::Plain(w) => w[(o * c + i) * 9 + tap],
                        Filters::Flipped(w) => w[(i * k + o) * 9 + 8 - tap],
                    };
                }
            }
            simd::filter(&g, &mut t, c, u, o * c, k * c);
        }
    });
}

/// `V[ξ][i][t]` for the tile rows `r0..r1` (global row index `img·th + ty`), parallel over
/// input channels.
fn input_transform(x: &[f32], s: &Shape3x3, r0: usize, r1: usize, tw: usize, v: &mut [f32]) {
    let (c, h, w) = (s.c, s.h, s.w);
    let th = s.out_hw().0.div_ceil(4);
    let tb = (r1 - r0) * tw;
    let [pt, pl, ..] = s.pads;
    let wp = 4 * (tw + 1);
    let vp = SyncPtr::new(v);
    let blocks = kernels::split_range(c, 4 * kernels::threads(), 1);
    blocks.par_iter().for_each(|&(c0, c1)| {
        // SAFETY: block c0..c1 writes only rows c0..c1 of every V_ξ; disjoint, and `v`
        // outlives the loop.
        let v = unsafe { vp.slice() };
        let mut rows = vec![0f32; 6 * wp];
        let mut tmp = vec![0f32; 6 * wp];
        for ch in c0..c1 {
            for r in r0..r1 {
                let (img, ty) = (r / th, r % th);
                let plane = &x[(img * c + ch) * h * w..][..h * w];
                // Six padded input rows of this tile row, de-interleaved into the four
                // column phases: padded column xp goes to [xp mod 4][xp / 4].
                for (q, row) in rows.chunks_exact_mut(wp).enumerate() {
                    row.fill(0.0);
                    let iy = (4 * ty + q) as isize - pt as isize;
                    if iy >= 0 && (iy as usize) < h {
                        let src = &plane[iy as usize * w..][..w];
                        for (x, &val) in src.iter().enumerate().take(wp.saturating_sub(pl)) {
                            let xp = x + pl;
                            row[(xp % 4) * (tw + 1) + xp / 4] = val;
                        }
                    }
                }
                let off = (r - r0) * tw;
                simd::input_row(&rows, &mut tmp, tw, v, ch * tb + off, c * tb);
            }
        }
    });
}

/// The 36 GEMMs `M_ξ = U_ξ · V_ξ`, parallel over ξ.
fn products(u: &[f32], v: &[f32], c: usize, k: usize, tb: usize, m: &mut [f32]) {
    m.par_chunks_mut(k * tb)
        .zip(v.par_chunks(c * tb))
        .zip(u.par_chunks(k * c))
        .for_each(|((mx, vx), ux)| {
            // Float32 also under `--precision bf16`: rounding the transformed operands to
            // bfloat16 put the relevance 2–4× further from float32's (README, "Reduced
            // precision").
            kernels::sgemm_f32(
                k,
                tb,
                c,
                MatRef::row_major(ux, c),
                MatRef::row_major(vx, tb),
                mx,
                tb,
                false,
            );
        });
}

/// `y` for the tile rows `r0..r1` from the products `M[ξ][o][t]`, parallel over output
/// channels.
fn output_transform(
    m: &[f32],
    s: &Shape3x3,
    r0: usize,
    r1: usize,
    tw: usize,
    bias: Option<&[f32]>,
    y: &mut [f32],
) {
    let k = s.k;
    let (oh, ow) = s.out_hw();
    let th = oh.div_ceil(4);
    let tb = (r1 - r0) * tw;
    let yp = SyncPtr::new(y);
    let blocks = kernels::split_range(k, 4 * kernels::threads(), 1);
    blocks.par_iter().for_each(|&(o0, o1)| {
        // SAFETY: block o0..o1 writes only output channels o0..o1; disjoint, and `y`
        // outlives the loop.
        let y = unsafe { yp.slice() };
        let mut tmp = vec![0f32; 36 * tw];
        let mut res = vec![0f32; 16 * tw];
        for o in o0..o1 {
            let b = bias.map_or(0.0, |b| b[o]);
            for r in r0..r1 {
                let (img, ty) = (r / th, r % th);
                let off = (r - r0) * tw;
                simd::output_row(m, o * tb + off, k * tb, &mut tmp, &mut res, tw);
                let plane = &mut y[(img * k + o) * oh * ow..][..oh * ow];
                for dy in 0..4.min(oh - 4 * ty) {
                    let row = &mut plane[(4 * ty + dy) * ow..][..ow];
                    for dx in 0..4 {
                        let src = &res[(dy * 4 + dx) * tw..][..tw];
                        for (tx, &val) in src.iter().enumerate() {
                            if let Some(d) = row.get_mut(4 * tx + dx) {
                                *d = val + b;
                            }
                        }
                    }
                }
            }
        }
    });
}

/// The arithmetic of the three transforms, as contiguous loops over lanes, compiled for
/// AVX-512 and for the baseline and chosen at run time.
mod simd {
    /// Multiversion: `$name` dispatches to an AVX-512 build of `$body` where available.
    macro_rules! multiversion {
        ($(#[$m:meta])* fn $name:ident ($($a:ident : $t:ty),*) $body:block) => {
            $(#[$m])*
            #[allow(clippy::too_many_arguments)]
            pub(super) fn $name ($($a: $t),*) {
                #[inline(always)]
                fn inner ($($a: $t),*) $body
                #[cfg(target_arch = "x86_64")]
                {
                    #[target_feature(enable = "avx512f,avx2,fma")]
                    fn avx512 ($($a: $t),*) { inner($($a),*) }
                    if std::is_x86_feature_detected!("avx512f") {
                        // SAFETY: the CPU has AVX-512F (checked above); every CPU with
                        // AVX-512F also has AVX2 and FMA.
                        return unsafe { avx512($($a),*) };
                    }
                }
                inner($($a),*)
            }
        };
    }

    /// Six disjoint rows `buf[start + j·stride..][..len]`, `j = 0..6`.
    #[inline(always)]
    fn rows6(buf: &mut [f32], start: usize, stride: usize, len: usize) -> [&mut [f32]; 6] {
        let (r0, rest) = buf[start..][..5 * stride + len].split_at_mut(stride);
        let (r1, rest) = rest.split_at_mut(stride);
        let (r2, rest) = rest.split_at_mut(stride);
        let (r3, rest) = rest.split_at_mut(stride);
        let (r4, r5) = rest.split_at_mut(stride);
        [
            &mut r0[..len],
            &mut r1[..len],
            &mut r2[..len],
            &mut r3[..len],
            &mut r4[..len],
            &mut r5[..len],
        ]
    }

    /// `G g`: the six transformed values of three taps (points 0, ±1, ±2, ∞).
    #[inline(always)]
    fn gt(a: f32, b: f32, c: f32) -> [f32; 6] {
        const S: f32 = 1.0 / 6.0;
        const T: f32 = 1.0 / 12.0;
        const F: f32 = 1.0 / 24.0;
        [
            0.25 * a,
            -S * (a + b + c),
            -S * (a - b + c),
            F * a + T * b + S * c,
            F * a - T * b + S * c,
            c,
        ]
    }

    /// `Bᵀ d`: the six transformed values of six inputs.
    #[inline(always)]
    fn bt(d: [f32; 6]) -> [f32; 6] {
        [
            4.0 * d[0] - 5.0 * d[2] + d[4],
            -4.0 * (d[1] + d[2]) + d[3] + d[4],
            4.0 * (d[1] - d[2]) - d[3] + d[4],
            2.0 * (d[3] - d[1]) - d[2] + d[4],
            2.0 * (d[1] - d[3]) - d[2] + d[4],
            4.0 * d[1] - 5.0 * d[3] + d[5],
        ]
    }

    /// `Aᵀ m`: the four outputs of six products.
    #[inline(always)]
    fn at(m: [f32; 6]) -> [f32; 4] {
        let (s12, d12) = (m[1] + m[2], m[1] - m[2]);
        let (s34, d34) = (m[3] + m[4], m[3] - m[4]);
        [
            m[0] + s12 + s34,
            d12 + 2.0 * d34,
            s12 + 4.0 * s34,
            d12 + 8.0 * d34 + m[5],
        ]
    }

    multiversion! {
        /// Filter transform of one output channel: taps `g[tap][i]` (nine planes of `c`
        /// lanes), scratch `t` of `18·c`; `U_ξ`'s row is `u[base + ξ·stride..][..c]`.
        fn filter(g: &[f32], t: &mut [f32], c: usize, u: &mut [f32], base: usize, stride: usize) {
            // t[b][r][i] = (G g[·][b])[r] over the three columns b.
            for b in 0..3 {
                let (g0, g1, g2) = (&g[b * c..][..c], &g[(3 + b) * c..][..c], &g[(6 + b) * c..][..c]);
                let [t0, t1, t2, t3, t4, t5] = rows6(t, b * 6 * c, c, c);
                for i in 0..c {
                    let v = gt(g0[i], g1[i], g2[i]);
                    t0[i] = v[0];
                    t1[i] = v[1];
                    t2[i] = v[2];
                    t3[i] = v[3];
                    t4[i] = v[4];
                    t5[i] = v[5];
                }
            }
            // U[r][s] = (G t[r][·])[s].
            for r in 0..6 {
                let (a, bb, cc) = (&t[r * c..][..c], &t[(6 + r) * c..][..c], &t[(12 + r) * c..][..c]);
                let [u0, u1, u2, u3, u4, u5] = rows6(u, base + r * 6 * stride, stride, c);
                for i in 0..c {
                    let v = gt(a[i], bb[i], cc[i]);
                    u0[i] = v[0];
                    u1[i] = v[1];
                    u2[i] = v[2];
                    u3[i] = v[3];
                    u4[i] = v[4];
                    u5[i] = v[5];
                }
            }
        }
    }

    multiversion! {
        /// Input transform of one tile row of one channel. `rows` holds the six padded input
        /// rows, each de-interleaved into its four column phases (`rows[q][ph][tx]` is
        /// column `4·tx + ph`, `tw + 1` tiles per phase); `tmp` is scratch of the same size;
        /// `V_ξ`'s `tw` values go to `v[base + ξ·stride..]`.
        fn input_row(rows: &[f32], tmp: &mut [f32], tw: usize, v: &mut [f32], base: usize, stride: usize) {
            let n1 = tw + 1;
            let wp = 4 * n1;
            // Vertical pass tmp[kk] = (Bᵀ rows)[kk], element-wise over the (permuted) row.
            {
                let [t0, t1, t2, t3, t4, t5] = rows6(tmp, 0, wp, wp);
                for x in 0..wp {
                    let d = std::array::from_fn(|q| rows[q * wp + x]);
                    let r = bt(d);
                    t0[x] = r[0];
                    t1[x] = r[1];
                    t2[x] = r[2];
                    t3[x] = r[3];
                    t4[x] = r[4];
                    t5[x] = r[5];
                }
            }
            // Horizontal pass: column 4·tx + j is phase j mod 4 at tile tx + j / 4.
            for kk in 0..6 {
                let p = &tmp[kk * wp..][..wp];
                let (p0, p1, p2, p3) = (&p[..n1], &p[n1..2 * n1], &p[2 * n1..3 * n1], &p[3 * n1..]);
                let [o0, o1, o2, o3, o4, o5] = rows6(v, base + kk * 6 * stride, stride, tw);
                for tx in 0..tw {
                    let r = bt([p0[tx], p1[tx], p2[tx], p3[tx], p0[tx + 1], p1[tx + 1]]);
                    o0[tx] = r[0];
                    o1[tx] = r[1];
                    o2[tx] = r[2];
                    o3[tx] = r[3];
                    o4[tx] = r[4];
                    o5[tx] = r[5];
                }
            }
        }
    }

    multiversion! {
        /// Output transform of one tile row of one output channel: `M_ξ`'s `tw` products
        /// are `m[base + ξ·stride..]`, `tmp` is scratch of `36·tw`, and `res[dy][dx][tx]`
        /// (`16·tw`) receives the outputs.
        fn output_row(m: &[f32], base: usize, stride: usize, tmp: &mut [f32], res: &mut [f32], tw: usize) {
            // Vertical: tmp[dy][b][tx] = (Aᵀ m[·][b])[dy].
            for b in 0..6 {
                let s: [&[f32]; 6] = std::array::from_fn(|a| &m[base + (a * 6 + b) * stride..][..tw]);
                let [t0, t1, t2, t3, ..] = rows6(tmp, b * tw, 6 * tw, tw);
                for tx in 0..tw {
                    let v = at(std::array::from_fn(|a| s[a][tx]));
                    t0[tx] = v[0];
                    t1[tx] = v[1];
                    t2[tx] = v[2];
                    t3[tx] = v[3];
                }
            }
            // Horizontal: res[dy][dx][tx] = (Aᵀ tmp[dy][·])[dx].
            for dy in 0..4 {
                let t = &tmp[dy * 6 * tw..][..6 * tw];
                let s: [&[f32]; 6] = std::array::from_fn(|b| &t[b * tw..][..tw]);
                let (r0, rest) = res[dy * 4 * tw..][..4 * tw].split_at_mut(tw);
                let (r1, rest) = rest.split_at_mut(tw);
                let (r2, r3) = rest.split_at_mut(tw);
                for tx in 0..tw {
                    let v = at(std::array::from_fn(|b| s[b][tx]));
                    r0[tx] = v[0];
                    r1[tx] = v[1];
                    r2[tx] = v[2];
                    r3[tx] = v[3];
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "winograd_tests.rs"]
mod tests;
