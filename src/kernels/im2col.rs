//! im2col: unroll the receptive fields of a convolution into the columns of a matrix, so that
//! the convolution becomes one GEMM, and col2im, its transpose (used by relevance steps).

/// Geometry of a 2-D sliding window over one image: input `[C, H, W]`, kernel `kh×kw`,
/// stride, dilation and the padding before each spatial axis (the padding after is implied
/// by the output size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Input channels unrolled (for a grouped convolution: the channels of one group).
    pub channels: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Vertical stride.
    pub sh: usize,
    /// Horizontal stride.
    pub sw: usize,
    /// Vertical dilation.
    pub dh: usize,
    /// Horizontal dilation.
    pub dw: usize,
    /// Padding above.
    pub pt: usize,
    /// Padding left.
    pub pl: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
}

impl Geometry {
    /// Rows of the unrolled matrix: `channels · kh · kw`.
    pub fn rows(&self) -> usize {
        self.channels * self.kh * self.kw
    }

    /// Output positions: `oh · ow`.
    pub fn positions(&self) -> usize {
        self.oh * self.ow
    }

    /// Whether the unrolled matrix equals the input itself (1×1 kernel, stride 1, no padding).
    pub fn is_pointwise(&self) -> bool {
        self.kh == 1
            && self.kw == 1
            && self.sh == 1
            && self.sw == 1
            && self.pt == 0
            && self.pl == 0
            && self.oh == self.h
            && self.ow == self.w
    }

    /// For kernel offset `j` along the width: the range of output columns `ow` whose input
    /// column `ow·sw − pl + j·dw` lies inside `0..w`.
    #[inline]
    fn valid_cols(&self, j: usize) -> (usize, usize) {
        valid_range(self.ow, self.sw, self.pl, j * self.dw, self.w)
    }

    #[inline]
    fn valid_rows(&self, i: usize) -> (usize, usize) {
        valid_range(self.oh, self.sh, self.pt, i * self.dh, self.h)
    }
}

/// Outputs `o` in `0..n` with `0 <= o·s − p + off < len`, as a half-open range.
#[inline]
fn valid_range(n: usize, s: usize, p: usize, off: usize, len: usize) -> (usize, usize) {
    // o·s + off >= p  =>  o >= ceil((p - off) / s)
    let lo = if off >= p { 0 } else { (p - off).div_ceil(s) };
    // o·s + off - p < len  =>  o·s < len + p - off  =>  o <= (len + p - off - 1) / s
    let hi = if len + p > off {
        ((len + p - off - 1) / s + 1).min(n)
    } else {
        0
    };
    (lo.min(hi), hi)
}

/// Unroll output positions `p0..p1` (row-major over `oh×ow`) of image `x` (`[channels,h,w]`,
/// contiguous) into `col`, row-major `[rows, p1 − p0]`.
pub fn im2col(x: &[f32], g: &Geometry, p0: usize, p1: usize, col: &mut [f32]) {
    let ncols = p1 - p0;
    debug_assert!(x.len() >= g.channels * g.h * g.w);
    debug_assert!(col.len() >= g.rows() * ncols);
    let mut row = 0;
    for c in 0..g.channels {
        let plane = &x[c * g.h * g.w..(c + 1) * g.h * g.w];
        for i in 0..g.kh {
            let (r_lo, r_hi) = g.valid_rows(i);
            for j in 0..g.kw {
                let (c_lo, c_hi) = g.valid_cols(j);
                let dst = &mut col[row * ncols..(row + 1) * ncols];
                let mut p = p0;
                while p < p1 {
                    let orow = p / g.ow;
                    let oc0 = p % g.ow;
                    let oc1 = (oc0 + (p1 - p)).min(g.ow);
                    let seg = &mut dst[p - p0..p - p0 + (oc1 - oc0)];
                    if orow < r_lo || orow >= r_hi {
                        seg.fill(0.0);
                    } else {
                        let irow = orow * g.sh + i * g.dh - g.pt;
                        let src = &plane[irow * g.w..(irow + 1) * g.w];
                        let lo = c_lo.clamp(oc0, oc1);
                        let hi = c_hi.clamp(lo, oc1);
                        seg[..lo - oc0].fill(0.0);
                        seg[hi - oc0..].fill(0.0);
                        let base = j * g.dw;
                        // No valid column in this segment (a tap past the image for all of
                        // them): `lo` may then lie beyond the input row, so nothing is read.
                        if hi > lo && g.sw == 1 {
                            let s0 = lo + base - g.pl;
                            seg[lo - oc0..hi - oc0].copy_from_slice(&src[s0..s0 + (hi - lo)]);
                        } else if hi > lo {
                            for (k, d) in seg[lo - oc0..hi - oc0].iter_mut().enumerate() {
                                *d = src[(lo + k) * g.sw + base - g.pl];
                            }
                        }
                    }
                    p += oc1 - oc0;
                }
                row += 1;
            }
        }
    }
}

/// The transpose of [`im2col`]: add every entry of `col` (row-major `[rows, p1 − p0]`, output
/// positions `p0..p1`) into the input position it was read from. Entries that fell on
/// padding are dropped. `x` is accumulated into, not overwritten.
pub fn col2im(col: &[f32], g: &Geometry, p0: usize, p1: usize, x: &mut [f32]) {
    col2im_strided(col, p1 - p0, g, p0, p1, x);
}

/// [`col2im`] for a `col` whose rows are `ld ≥ p1 − p0` apart (a column block of a wider
/// matrix), or `ld = 0`: every row is the same `p1 − p0` values.
pub fn col2im_strided(col: &[f32], ld: usize, g: &Geometry, p0: usize, p1: usize, x: &mut [f32]) {
    let mut row = 0;
    for c in 0..g.channels {
        let plane = &mut x[c * g.h * g.w..(c + 1) * g.h * g.w];
        for i in 0..g.kh {
            let (r_lo, r_hi) = g.valid_rows(i);
            for j in 0..g.kw {
                let (c_lo, c_hi) = g.valid_cols(j);
                let src = &col[row * ld..row * ld + (p1 - p0)];
                let mut p = p0;
                while p < p1 {
                    let orow = p / g.ow;
                    let oc0 = p % g.ow;
                    let oc1 = (oc0 + (p1 - p)).min(g.ow);
                    if orow >= r_lo && orow < r_hi {
                        let irow = orow * g.sh + i * g.dh - g.pt;
                        let dst = &mut plane[irow * g.w..(irow + 1) * g.w];
                        let lo = c_lo.clamp(oc0, oc1);
                        let hi = c_hi.clamp(lo, oc1);
                        let base = j * g.dw;
                        // No valid column in this segment: `lo` may then lie beyond the
                        // input row, so nothing is written (the same guard as in `im2col`).
                        if hi > lo && g.sw == 1 {
                            let d0 = lo + base - g.pl;
                            for (d, s) in dst[d0..d0 + (hi - lo)]
                                .iter_mut()
                                .zip(&src[p - p0 + lo - oc0..p - p0 + hi - oc0])
                            {
                                *d += s;
                            }
                        } else if hi > lo {
                            for oc in lo..hi {
                                dst[oc * g.sw + base - g.pl] += src[p - p0 + oc - oc0];
                            }
                        }
                    }
                    p += oc1 - oc0;
                }
                row += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_im2col(x: &[f32], g: &Geometry) -> Vec<f32> {
        let n = g.positions();
        let mut col = vec![0f32; g.rows() * n];
        for c in 0..g.channels {
            for i in 0..g.kh {
                for j in 0..g.kw {
                    let r = (c * g.kh + i) * g.kw + j;
                    for oy in 0..g.oh {
                        for ox in 0..g.ow {
                            let iy = (oy * g.sh + i * g.dh) as isize - g.pt as isize;
                            let ix = (ox * g.sw + j * g.dw) as isize - g.pl as isize;
                            if iy >= 0 && ix >= 0 && (iy as usize) < g.h && (ix as usize) < g.w {
                                col[r * n + oy * g.ow + ox] =
                                    x[(c * g.h + iy as usize) * g.w + ix as usize];
                            }
                        }
                    }
                }
            }
        }
        col
    }

    fn geoms() -> Vec<Geometry> {
        let mut v = Vec::new();
        for &(c, h, w, kh, kw, s, d, pt, pl, pb, pr) in &[
            (2, 7, 9, 3, 3, 1, 1, 1, 1, 1, 1),
            (3, 11, 8, 5, 3, 2, 1, 2, 0, 1, 2),
            (1, 9, 9, 3, 3, 3, 2, 0, 1, 2, 0),
            (2, 6, 5, 1, 1, 1, 1, 0, 0, 0, 0),
            (1, 5, 5, 7, 7, 2, 1, 3, 3, 3, 3),
        ] {
            let oh = (h + pt + pb - d * (kh - 1) - 1) / s + 1;
            let ow = (w + pl + pr - d * (kw - 1) - 1) / s + 1;
            v.push(Geometry {
                channels: c,
                h,
                w,
                kh,
                kw,
                sh: s,
                sw: s,
                dh: d,
                dw: d,
                pt,
                pl,
                oh,
                ow,
            });
        }
        v
    }

    #[test]
    fn im2col_matches_naive_for_every_column_range() {
        for g in geoms() {
            let x: Vec<f32> = (0..g.channels * g.h * g.w)
                .map(|i| i as f32 + 1.0)
                .collect();
            let full = naive_im2col(&x, &g);
            let n = g.positions();
            for &(p0, p1) in &[
                (0, n),
                (0, n / 2),
                (n / 3, n),
                (1, n.saturating_sub(1).max(1)),
            ] {
                let mut col = vec![f32::NAN; g.rows() * (p1 - p0)];
                im2col(&x, &g, p0, p1, &mut col);
                for r in 0..g.rows() {
                    for p in p0..p1 {
                        assert_eq!(col[r * (p1 - p0) + p - p0], full[r * n + p], "{g:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn col2im_is_the_transpose_of_im2col() {
        // <im2col(x), y> == <x, col2im(y)> for all x, y.
        for g in geoms() {
            let x: Vec<f32> = (0..g.channels * g.h * g.w)
                .map(|i| ((i * 7 % 5) as f32) - 2.0)
                .collect();
            let n = g.positions();
            let y: Vec<f32> = (0..g.rows() * n)
                .map(|i| ((i * 3 % 7) as f32) - 3.0)
                .collect();
            let mut col = vec![0f32; g.rows() * n];
            im2col(&x, &g, 0, n, &mut col);
            let lhs: f32 = col.iter().zip(&y).map(|(a, b)| a * b).sum();
            let mut back = vec![0f32; x.len()];
            col2im(&y, &g, 0, n, &mut back);
            let rhs: f32 = x.iter().zip(&back).map(|(a, b)| a * b).sum();
            assert_eq!(lhs, rhs, "{g:?}");
        }
    }
}
