//! Convolution as im2col + GEMM, and its transpose (col2im), on flat batch-first buffers.
//!
//! Used by the convolution layer's forward pass and, with modified weights, by the linear
//! relevance rules (through [`crate::ops::ConvMap`]).

use super::{im2col::Geometry, MatRef, SyncPtr};
use crate::kernels;
use rayon::prelude::*;

/// `y = conv(x, w) + b` for a batch, by im2col + GEMM, parallel over images and blocks of
/// output positions. `w` is `[m, c/groups, kh, kw]` row-major; `y` is `[n, m, oh, ow]`.
///
/// Also used by the relevance rules, which run the same convolution with modified weights.
#[allow(clippy::too_many_arguments)]
pub fn conv_gemm(
    x: &[f32],
    n: usize,
    c: usize,
    g: &Geometry,
    w: &[f32],
    m: usize,
    groups: usize,
    bias: Option<&[f32]>,
    y: &mut [f32],
) {
    let positions = g.positions();
    let (mg, kg) = (m / groups, g.rows());
    let in_img = c * g.h * g.w;
    let out_img = m * positions;
    // Work units: (image, block of output positions, block of each group's output
    // channels). Position blocks keep every thread busy even at batch 1; 256 columns is
    // enough for the GEMM micro-kernels to run at full speed. Late layers have too few
    // positions for that, so their output channels are split as well.
    let tasks = kernels::tasks_for(n * m * kg * positions);
    let per_image = tasks.div_ceil(n);
    let blocks = kernels::split_range(positions, per_image, 256);
    let chans = kernels::split_range(mg, per_image.div_ceil(blocks.len()), 32);
    let units: Vec<(usize, usize, usize, usize, usize)> = (0..n)
        .flat_map(|img| {
            let chans = &chans;
            blocks
                .iter()
                .flat_map(move |&(p0, p1)| chans.iter().map(move |&(o0, o1)| (img, p0, p1, o0, o1)))
        })
        .collect();
    let yp = SyncPtr::new(y);
    units.par_iter().for_each(|&(img, p0, p1, o0, o1)| {
        // SAFETY: unit (img, p0..p1, o0..o1) writes only positions p0..p1 of channels
        // o0..o1 of every group of image `img`; units are disjoint, and `y` outlives the
        // parallel loop.
        let y = unsafe { yp.slice() };
        let yi = &mut y[img * out_img..(img + 1) * out_img];
        for grp in 0..groups {
            for ch in grp * mg + o0..grp * mg + o1 {
                let row = &mut yi[ch * positions + p0..ch * positions + p1];
                row.fill(bias.map_or(0.0, |b| b[ch]));
            }
        }
        let xi = &x[img * in_img..(img + 1) * in_img];
        let cols = p1 - p0;
        for grp in 0..groups {
            let xg = &xi[grp * g.channels * g.h * g.w..(grp + 1) * g.channels * g.h * g.w];
            let mo = o1 - o0;
            let wg = MatRef::row_major(&w[(grp * mg + o0) * kg..(grp * mg + o1) * kg], kg);
            let yg = &mut yi[(grp * mg + o0) * positions + p0..];
            if g.is_pointwise() {
                let b = MatRef {
                    data: &xg[p0..],
                    rs: positions,
                    cs: 1,
                };
                kernels::sgemm(mo, cols, kg, wg, b, yg, positions, true);
            } else {
                // Sub-blocks of positions whose unrolled columns (about 1 MB) stay in the
                // cache between im2col and the GEMM that reads them.
                let sb = ((1usize << 18) / kg.max(1)).max(128).min(cols);
                kernels::with_scratch(kg * sb, |col| {
                    let mut q0 = p0;
                    while q0 < p1 {
                        let q1 = (q0 + sb).min(p1);
                        let w = q1 - q0;
                        crate::kernels::im2col::im2col(xg, g, q0, q1, col);
                        kernels::sgemm(
                            mo,
                            w,
                            kg,
                            wg,
                            MatRef::row_major(&col[..kg * w], w),
                            &mut yg[q0 - p0..],
                            positions,
                            true,
                        );
                        q0 = q1;
                    }
                });
            }
        }
    });
}

/// The transpose of [`conv_gemm`] without bias: `x_grad = Wᵀ ⋆ s`, i.e. for every input
/// position the sum over the outputs that read it of `w · s`. `s` is `[n, m, oh, ow]`, `out`
/// is `[n, c, h, w]` and is overwritten. Padding positions are dropped.
///
/// Parallel over (image, group, block of input channels): each unit writes its own channels,
/// so the col2im scatter of different units never overlaps.
#[allow(clippy::too_many_arguments)]
pub fn conv_transpose(
    s: &[f32],
    n: usize,
    c: usize,
    g: &Geometry,
    w: &[f32],
    m: usize,
    groups: usize,
    out: &mut [f32],
) {
    let tasks = kernels::tasks_for(n * m * g.rows() * g.positions());
    // Samples side by side in one GEMM pay off for small images; large ones go one at a time
    // through cache-sized position blocks below.
    let fits_two = 2 * g.positions() * (m / groups + g.rows()) <= 1 << 20;
    if n >= tasks && n > 1 && fits_two {
        return conv_transpose_batched(s, n, c, g, w, m, groups, out, tasks);
    }
    let positions = g.positions();
    let (mg, kg, cg) = (m / groups, g.rows(), g.channels);
    let khw = g.kh * g.kw;
    let plane = g.h * g.w;
    let (in_img, out_img) = (c * plane, m * positions);
    let per = tasks.div_ceil(n * groups);
    let blocks = kernels::split_range(cg, per, 4);
    let units: Vec<(usize, usize, usize, usize)> = (0..n)
        .flat_map(|img| {
            let blocks = &blocks;
            (0..groups).flat_map(move |grp| blocks.iter().map(move |&(c0, c1)| (img, grp, c0, c1)))
        })
        .collect();
    let op = SyncPtr::new(out);
    units.par_iter().for_each(|&(img, grp, c0, c1)| {
        // SAFETY: unit (img, grp, c0..c1) writes only input channels grp·cg + c0..c1 of image
        // img; units are disjoint and `out` outlives the loop.
        let out = unsafe { op.slice() };
        let ch0 = grp * cg + c0;
        let dst = &mut out[img * in_img + ch0 * plane..img * in_img + (grp * cg + c1) * plane];
        let wg = &w[grp * mg * kg..(grp + 1) * mg * kg];
        // Rows r0..r1 of Wᵀ (kg × mg): element (r, j) = wg[j·kg + r].
        let (r0, r1) = (c0 * khw, c1 * khw);
        let wt = MatRef {
            data: &wg[r0..],
            rs: 1,
            cs: kg,
        };
        let sg = MatRef::row_major(
            &s[img * out_img + grp * mg * positions..img * out_img + (grp + 1) * mg * positions],
            positions,
        );
        if g.is_pointwise() {
            kernels::sgemm(r1 - r0, positions, mg, wt, sg, dst, positions, false);
        } else {
            // Blocks of output positions whose unrolled columns stay in the cache (about
            // 1 MB) between the GEMM that writes them and the col2im that scatters them.
            let rows = r1 - r0;
            let pb = ((1usize << 18) / rows.max(1)).max(256).min(positions);
            dst.fill(0.0);
            let sub = Geometry {
                channels: c1 - c0,
                ..*g
            };
            kernels::with_scratch(rows * pb, |col| {
                let mut p0 = 0;
                while p0 < positions {
                    let p1 = (p0 + pb).min(positions);
                    let sb = MatRef {
                        data: &sg.data[p0..],
                        rs: positions,
                        cs: 1,
                    };
                    kernels::sgemm(rows, p1 - p0, mg, wt, sb, col, p1 - p0, false);
                    crate::kernels::im2col::col2im(col, &sub, p0, p1, dst);
                    p0 = p1;
                }
            });
        }
    });
}

/// [`conv_transpose`] for many samples: blocks of samples become the columns of one GEMM
/// per group (`Wᵀ · [S_1 … S_b]`), so that explaining `k` classes at once runs wide GEMMs
/// instead of `k` narrow ones. Parallel over sample blocks.
#[allow(clippy::too_many_arguments)]
fn conv_transpose_batched(
    s: &[f32],
    n: usize,
    c: usize,
    g: &Geometry,
    w: &[f32],
    m: usize,
    groups: usize,
    out: &mut [f32],
    tasks: usize,
) {
    let positions = g.positions();
    let (mg, kg, cg) = (m / groups, g.rows(), g.channels);
    let plane = g.h * g.w;
    let (in_img, out_img) = (c * plane, m * positions);
    // Samples per block: enough columns for an efficient GEMM, scratch of about 1 MB (a
    // thread keeps its scratch; 4 MB held gender-v1 at batch 8 to 3.4× its data), and
    // at least two blocks per thread when there are samples enough.
    let cap = (1usize << 18) / (positions * (mg + kg)).max(1);
    let per = n.div_ceil(tasks).min(cap).max(1);
    let blocks: Vec<(usize, usize)> = (0..n.div_ceil(per))
        .map(|b| (b * per, ((b + 1) * per).min(n)))
        .collect();
    let op = SyncPtr::new(out);
    blocks.par_iter().for_each(|&(s0, s1)| {
        // SAFETY: block s0..s1 writes only samples s0..s1 of `out`; blocks are disjoint and
        // `out` outlives the loop.
        let out = unsafe { op.slice() };
        let bs = s1 - s0;
        let cols = bs * positions;
        kernels::with_scratch(mg * cols + kg * cols, |buf| {
            let (sb, col) = buf.split_at_mut(mg * cols);
            for grp in 0..groups {
                // Gather S of this group: [mg × (bs·P)], sample-major columns.
                for (i, smp) in (s0..s1).enumerate() {
                    let src = &s[smp * out_img + grp * mg * positions..];
                    for j in 0..mg {
                        sb[j * cols + i * positions..j * cols + (i + 1) * positions]
                            .copy_from_slice(&src[j * positions..(j + 1) * positions]);
                    }
                }
                let wt = MatRef {
                    data: &w[grp * mg * kg..(grp + 1) * mg * kg],
                    rs: 1,
                    cs: kg,
                };
                kernels::sgemm(
                    kg,
                    cols,
                    mg,
                    wt,
                    MatRef::row_major(sb, cols),
                    col,
                    cols,
                    false,
                );
                for (i, smp) in (s0..s1).enumerate() {
                    let dst = &mut out
                        [smp * in_img + grp * cg * plane..smp * in_img + (grp + 1) * cg * plane];
                    dst.fill(0.0);
                    crate::kernels::im2col::col2im_strided(
                        &col[i * positions..],
                        cols,
                        g,
                        0,
                        positions,
                        dst,
                    );
                }
            }
        });
    });
}
