//! Max pooling: `y[n, c, oy, ox] = max_{(i, j) ∈ V(oy, ox)} x[n, c, i, j]` over the valid
//! window elements (window geometry, rounding and padding in [`Pool2d`]), and
//! its relevance routes: winner-take-all (each output's relevance to its maximum) and
//! proportional (as average pooling).

use super::pool::{AxisWindows, Pool2d};
use super::{Category, Operator, Route, RouteCtx, Tensor};
use crate::error::{NodeRef, Result};
use rayon::prelude::*;

/// Max pooling, with a [`Pool2d`] as its parameters.
#[derive(Debug, Clone, Copy)]
pub struct MaxPool;

impl Operator for MaxPool {
    type Params = Pool2d;
    const KIND: &'static str = "MaxPool";
    const CATEGORY: Category = Category::MaxPooling;
    // Winner-take-all is max pooling's gradient too (the first maximum on ties, as torch).
    const ROUTES: &'static [Route] = &[Route::WinnerTakeAll, Route::Proportional, Route::Gradient];

    fn output_shape(p: &Pool2d, node: &NodeRef, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        p.output_shape(node, inputs[0])
    }

    fn forward(p: &Pool2d, inputs: &[&Tensor]) -> Tensor {
        p.forward_max(inputs[0])
    }

    fn route(p: &Pool2d, route: Route, ctx: &RouteCtx<'_>, r: Vec<f32>) -> Vec<Vec<f32>> {
        let x = ctx.inputs[0];
        match route {
            Route::Proportional => vec![p.proportional_relevance(x, &r, ctx.k, ctx.stabilizer)],
            _ => vec![p.max_relevance(x, &r, ctx.k)],
        }
    }
}

impl Pool2d {
    /// Max pooling on `[N, C, H, W]` (shape validated by [`Pool2d::output_shape`]).
    pub fn forward_max(&self, x: &Tensor) -> Tensor {
        let w = x.shape()[3];
        let (rows, cols) = self.windows(x.shape()[2], w);
        let scan = RowScan::new(&cols, self.kernel[1], self.stride[1], self.pads[1]);
        self.per_plane(x, |xp, yp| {
            plane_max::<false>(xp, w, &rows, &cols, &scan, yp, &mut []);
        })
    }

    /// For max pooling: the position of each output's maximum, as a flat index `iy·W + ix`
    /// into its input plane `x[n, c, .., ..]`.
    ///
    /// One entry per output element, in the row-major order of the `[N, C, OH, OW]` output of
    /// [`Pool2d::forward_max`]. On ties the first maximum in row-major window order wins.
    /// A window that contains no input element (possible only with [`PoolRounding::Ceil`](super::PoolRounding::Ceil))
    /// gets `u32::MAX`. The input must have passed [`Pool2d::output_shape`] and have fewer
    /// than `u32::MAX` elements per plane.
    pub fn argmax(&self, x: &Tensor) -> Vec<u32> {
        let s = x.shape();
        let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
        let [oh, ow] = self.out_hw(h, w);
        let (rows, cols) = self.windows(h, w);
        let mut idx = vec![u32::MAX; n * c * oh * ow];
        if idx.is_empty() {
            return idx;
        }
        let xs = x.as_slice().expect("standard layout input");
        let scan = RowScan::new(&cols, self.kernel[1], self.stride[1], self.pads[1]);
        idx.par_chunks_mut(oh * ow)
            .zip(xs.par_chunks(h * w))
            .for_each(|(ip, xp)| {
                let mut best = vec![0f32; oh * ow];
                plane_max::<true>(xp, w, &rows, &cols, &scan, &mut best, ip)
            });
        idx
    }

    /// LRP through max pooling: winner-take-all. Each output's relevance goes to the input
    /// position of its maximum (the first one on ties, see [`Pool2d::argmax`]); overlapping
    /// windows accumulate.
    ///
    /// `x` is the pooling input `[n, C, H, W]`; `r` holds `n·k` relevance maps `[C, OH, OW]`
    /// (image-major: `k` maps per image); returns `n·k` maps `[C, H, W]`. Conserves relevance.
    pub fn max_relevance(&self, x: &Tensor, r: &[f32], k: usize) -> Vec<f32> {
        let s = x.shape();
        let (c, h, w) = (s[1], s[2], s[3]);
        let [oh, ow] = self.out_hw(h, w);
        let idx = self.argmax(x);
        let mut out = crate::kernels::zeroed(r.len() / (oh * ow).max(1) * h * w);
        out.par_chunks_mut(h * w)
            .zip(r.par_chunks(oh * ow))
            .enumerate()
            .for_each(|(p, (op, rp))| {
                let (sample, ch) = (p / c, p % c);
                let plane = (sample / k) * c + ch;
                for (&i, &rv) in idx[plane * oh * ow..(plane + 1) * oh * ow].iter().zip(rp) {
                    if i != u32::MAX {
                        op[i as usize] += rv;
                    }
                }
            });
        out
    }
}

/// Maximum of `xp[y0..y1, x0..x1]` (row length `w`) and its flat index; the first maximum in
/// row-major order wins ties; `None` for an empty window.
#[inline]
fn window_max(
    xp: &[f32],
    w: usize,
    (y0, y1): (usize, usize),
    (x0, x1): (usize, usize),
) -> Option<(f32, usize)> {
    if y0 == y1 || x0 == x1 {
        return None;
    }
    let mut best = xp[y0 * w + x0];
    let mut at = y0 * w + x0;
    for iy in y0..y1 {
        let row = iy * w;
        for (ix, &v) in xp[row + x0..row + x1].iter().enumerate() {
            if v > best {
                best = v;
                at = row + x0 + ix;
            }
        }
    }
    Some((best, at))
}

/// For a max pooling of horizontal stride 1: the output columns whose window lies wholly
/// inside the input row (`lo..hi`), and where the first of them starts reading. Empty for
/// other strides, whose windows overlap less: measured, their taps cost more to gather than
/// the per-window loop loses to mispredictions.
struct RowScan {
    lo: usize,
    hi: usize,
    start: usize,
    kw: usize,
}

impl RowScan {
    fn new(cols: &AxisWindows, kw: usize, sw: usize, pl: usize) -> Self {
        if sw != 1 {
            return RowScan {
                lo: 0,
                hi: 0,
                start: 0,
                kw,
            };
        }
        let full = |&(x0, x1): &(usize, usize)| x1 - x0 == kw;
        let lo = cols.ranges.iter().position(full).unwrap_or(0);
        let hi = cols.ranges[lo..]
            .iter()
            .position(|r| !full(r))
            .map_or(cols.ranges.len(), |n| lo + n)
            .max(lo);
        RowScan {
            lo,
            hi,
            start: lo.saturating_sub(pl),
            kw,
        }
    }
}

/// Max pooling of one `[H, W]` plane: writes the maximum of every window to `best` and, if
/// `INDEX`, the flat index of its first maximum (row-major window order) to `at`. Empty
/// windows give 0 and `u32::MAX`.
///
/// With stride 1, the columns whose window lies inside the row (all but a few at the
/// borders) run as one branch-free sweep per window tap over the whole output row: the
/// comparisons of a max pooling are data-dependent and mispredict in a per-window loop, and
/// the sweep vectorises. Same result as [`window_max`] per window, bit for bit.
fn plane_max<const INDEX: bool>(
    xp: &[f32],
    w: usize,
    rows: &AxisWindows,
    cols: &AxisWindows,
    scan: &RowScan,
    best: &mut [f32],
    at: &mut [u32],
) {
    let ow = cols.ranges.len();
    let n = scan.hi - scan.lo;
    for (oy, &(y0, y1)) in rows.ranges.iter().enumerate() {
        let k0 = oy * ow;
        let edge = |ox: usize, best: &mut [f32], at: &mut [u32]| {
            let m = window_max(xp, w, (y0, y1), cols.ranges[ox]);
            best[k0 + ox] = m.map_or(0.0, |(v, _)| v);
            if INDEX {
                at[k0 + ox] = m.map_or(u32::MAX, |(_, i)| i as u32);
            }
        };
        if y0 == y1 || n == 0 {
            (0..ow).for_each(|ox| edge(ox, best, at));
            continue;
        }
        (0..scan.lo).for_each(|ox| edge(ox, best, at));
        (scan.hi..ow).for_each(|ox| edge(ox, best, at));
        let bv = &mut best[k0 + scan.lo..k0 + scan.hi];
        let bi: &mut [u32] = if INDEX {
            &mut at[k0 + scan.lo..k0 + scan.hi]
        } else {
            &mut []
        };
        for iy in y0..y1 {
            let row = &xp[iy * w..(iy + 1) * w];
            for kx in 0..scan.kw {
                let first = iy == y0 && kx == 0;
                let base = scan.start + kx;
                let flat = iy * w + base;
                sweep::<INDEX>(&row[base..base + n], flat, first, bv, bi);
            }
        }
    }
}

/// One window tap over a row of outputs: `vals[t]` is the tap's value for output `t`, at
/// flat index `flat + t`. The first tap initialises; later ones replace only a strictly
/// greater value (so the first maximum wins, as in [`window_max`]).
#[inline(always)]
fn sweep<const INDEX: bool>(
    vals: &[f32],
    flat: usize,
    first: bool,
    bv: &mut [f32],
    bi: &mut [u32],
) {
    let n = bv.len();
    let vals = &vals[..n];
    let flat = flat as u32;
    if first {
        bv.copy_from_slice(vals);
        if INDEX {
            for (t, i) in bi[..n].iter_mut().enumerate() {
                *i = flat + t as u32;
            }
        }
    } else if INDEX {
        let bi = &mut bi[..n];
        for t in 0..n {
            let v = vals[t];
            // Selections as bit masks, so that they compile to vector blends rather than
            // data-dependent jumps.
            let m = 0u32.wrapping_sub(u32::from(v > bv[t]));
            bv[t] = f32::from_bits((v.to_bits() & m) | (bv[t].to_bits() & !m));
            bi[t] = ((flat + t as u32) & m) | (bi[t] & !m);
        }
    } else {
        for t in 0..n {
            let v = vals[t];
            bv[t] = if v > bv[t] { v } else { bv[t] };
        }
    }
}
