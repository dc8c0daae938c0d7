//! Occlusion (Zeiler & Fergus 2014) as Captum's `Occlusion` computes it: a window over all
//! channels, moved by the stride (`ceil((size − window) / stride) + 1` positions per axis, the
//! last window clipped at the border), set to the baseline; each pixel gets the mean score
//! drop of the windows that cover it.

use super::{result, Attributor, Baseline};
use crate::error::{Error, Result};
use crate::explain::{Explanation, Target};
use crate::ops::Tensor;
use ndarray::{Axis, IxDyn};

impl Attributor {
    pub(super) fn occlusion(
        &self,
        x: &Tensor,
        target: &Target,
        window: [usize; 2],
        stride: [usize; 2],
        baseline: &Baseline,
        batch: usize,
    ) -> Result<Explanation> {
        let (logits, rows) = self.resolve(x, target)?;
        let shape = x.shape()[1..].to_vec();
        let [c, h, w] = shape[..] else {
            return Err(Error::Invalid(format!(
                "occlusion needs image inputs [C, H, W], the model takes {shape:?}"
            )));
        };
        check_window(&shape, window)?;
        let per = c * h * w;
        let base = baseline.values(&shape)?;
        // Captum's positions: ceil((size − window) / stride) + 1 per axis, the last window
        // clipped at the border.
        let starts = |size: usize, win: usize, s: usize| -> Vec<usize> {
            let count = (size - win).div_ceil(s) + 1;
            (0..count).map(|i| i * s).collect()
        };
        let (rows_at, cols_at) = (
            starts(h, window[0], stride[0]),
            starts(w, window[1], stride[1]),
        );
        let mut windows = Vec::with_capacity(rows_at.len() * cols_at.len());
        for &y0 in &rows_at {
            for &x0 in &cols_at {
                windows.push((y0, (y0 + window[0]).min(h), x0, (x0 + window[1]).min(w)));
            }
        }
        let mut count = vec![0u32; h * w];
        for &(y0, y1, x0, x1) in &windows {
            for y in y0..y1 {
                for v in &mut count[y * w + x0..y * w + x1] {
                    *v += 1;
                }
            }
        }
        let xs = x.as_standard_layout();
        let xs = xs.as_slice().expect("standard layout");
        let (k, n) = (rows.k(), x.shape()[0]);
        let mut out = Vec::with_capacity(n * k * per);
        for i in 0..n {
            let xi = &xs[i * per..(i + 1) * per];
            let scores = |l: ndarray::ArrayView1<f32>| -> Vec<f64> { rows.scores(i, l) };
            let clean = scores(logits.row(i));
            let mut acc = vec![0f64; k * h * w];
            for chunk in windows.chunks(batch) {
                let mut xb = Vec::with_capacity(chunk.len() * per);
                for &(y0, y1, x0, x1) in chunk {
                    let start = xb.len();
                    xb.extend_from_slice(xi);
                    for ch in 0..c {
                        for y in y0..y1 {
                            let at = start + ch * h * w + y * w;
                            for xx in x0..x1 {
                                xb[at + xx] = base[ch * h * w + y * w + xx];
                            }
                        }
                    }
                }
                let xb = Tensor::from_shape_vec(IxDyn(&[chunk.len(), c, h, w]), xb)
                    .expect("batch shape");
                let lb = self.graph().finite_logits(&xb)?;
                for (row, &(y0, y1, x0, x1)) in lb.axis_iter(Axis(0)).zip(chunk) {
                    let s = scores(row);
                    for (j, (&a, &b)) in clean.iter().zip(&s).enumerate() {
                        let d = a - b;
                        for y in y0..y1 {
                            for v in &mut acc[j * h * w + y * w + x0..j * h * w + y * w + x1] {
                                *v += d;
                            }
                        }
                    }
                }
            }
            // Every channel of a pixel gets the pixel's mean difference (the window spans
            // all channels).
            for j in 0..k {
                for _ in 0..c {
                    out.extend((0..h * w).map(|p| {
                        let cnt = count[p];
                        if cnt == 0 {
                            0.0
                        } else {
                            (acc[j * h * w + p] / cnt as f64) as f32
                        }
                    }));
                }
            }
        }
        Ok(result(out, n, k, &shape, logits, rows))
    }
}

/// Refuses a window larger than the per-sample input `shape` (`[C, H, W]`; other ranks are
/// left to the attribution itself, which refuses them).
pub(super) fn check_window(shape: &[usize], window: [usize; 2]) -> Result<()> {
    if let [_, h, w] = shape[..] {
        if window[0] > h || window[1] > w {
            return Err(Error::Invalid(format!(
                "occlusion window {window:?} is larger than the input {h}×{w}"
            )));
        }
    }
    Ok(())
}
