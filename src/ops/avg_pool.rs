//! Average pooling and global average pooling, and their relevance route: proportional to
//! the inputs.
//!
//! * average: `y[n, c, oy, ox] = Σ_{(i, j) ∈ V} x[n, c, i, j] / d` (window geometry, divisor
//!   and rounding in [`Pool2d`]);
//! * global average: `y[n, c, 0, 0] = Σ_{i, j} x[n, c, i, j] / (H·W)`.

use super::pool::Pool2d;
use super::{Category, Operator, Route, RouteCtx, Tensor};
use crate::error::{Error, NodeRef, Result};
use ndarray::IxDyn;
use rayon::prelude::*;

/// Average pooling, with a [`Pool2d`] as its parameters.
#[derive(Debug, Clone, Copy)]
pub struct AvgPool;

impl Operator for AvgPool {
    type Params = Pool2d;
    const KIND: &'static str = "AvgPool";
    const CATEGORY: Category = Category::Averaging;
    const ROUTES: &'static [Route] = &[Route::Proportional, Route::Gradient];

    fn output_shape(p: &Pool2d, node: &NodeRef, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        p.output_shape(node, inputs[0])
    }

    fn forward(p: &Pool2d, inputs: &[&Tensor]) -> Tensor {
        p.forward_avg(inputs[0])
    }

    fn route(p: &Pool2d, route: Route, ctx: &RouteCtx<'_>, r: Vec<f32>) -> Vec<Vec<f32>> {
        match route {
            Route::Gradient => vec![p.avg_gradient(ctx.in_shapes[0], &r)],
            _ => vec![p.proportional_relevance(ctx.inputs[0], &r, ctx.k, ctx.stabilizer)],
        }
    }
}

/// Global average pooling `[C, H, W] -> [C, 1, 1]`.
#[derive(Debug, Clone, Copy)]
pub struct GlobalAvgPool;

impl Operator for GlobalAvgPool {
    type Params = ();
    const KIND: &'static str = "GlobalAvgPool";
    const CATEGORY: Category = Category::Averaging;
    const ROUTES: &'static [Route] = &[Route::Proportional, Route::Gradient];

    fn output_shape(_: &(), node: &NodeRef, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        global_output_shape(node, inputs[0])
    }

    fn forward(_: &(), inputs: &[&Tensor]) -> Tensor {
        global_avg(inputs[0])
    }

    fn route(_: &(), route: Route, ctx: &RouteCtx<'_>, r: Vec<f32>) -> Vec<Vec<f32>> {
        if route == Route::Gradient {
            // ∂y_c/∂x_{c,i} = 1/(H·W).
            let s = ctx.in_shapes[0];
            let plane = s[1] * s[2];
            let inv = 1.0 / plane.max(1) as f32;
            return vec![r
                .iter()
                .flat_map(|&g| std::iter::repeat_n(g * inv, plane))
                .collect()];
        }
        vec![global_avg_relevance(
            ctx.inputs[0],
            &r,
            ctx.k,
            ctx.stabilizer,
        )]
    }
}

impl Pool2d {
    /// Average pooling on `[N, C, H, W]` (shape validated by [`Pool2d::output_shape`]).
    pub fn forward_avg(&self, x: &Tensor) -> Tensor {
        let w = x.shape()[3];
        let (rows, cols) = self.windows(x.shape()[2], w);
        let include = self.count_include_pad;
        self.per_plane(x, |xp, yp| {
            let mut k = 0;
            for (r, &(y0, y1)) in rows.ranges.iter().enumerate() {
                for (q, &(x0, x1)) in cols.ranges.iter().enumerate() {
                    let mut sum = 0f32;
                    for iy in y0..y1 {
                        for &v in &xp[iy * w + x0..iy * w + x1] {
                            sum += v;
                        }
                    }
                    let d = if include {
                        rows.padded_count[r] * cols.padded_count[q]
                    } else {
                        (y1 - y0) * (x1 - x0)
                    };
                    yp[k] = if d == 0 { 0.0 } else { sum / d as f32 };
                    k += 1;
                }
            }
        })
    }

    /// The gradient of average pooling: each output's gradient divided by its window's
    /// divisor, added to every input of the window. `input` is the per-sample input shape
    /// `[C, H, W]`, `g` holds any number of gradient maps `[C, OH, OW]`.
    pub fn avg_gradient(&self, input: &[usize], g: &[f32]) -> Vec<f32> {
        let (h, w) = (input[1], input[2]);
        let [oh, ow] = self.out_hw(h, w);
        let (rows, cols) = self.windows(h, w);
        let include = self.count_include_pad;
        let mut out = crate::kernels::zeroed(g.len() / (oh * ow).max(1) * h * w);
        out.par_chunks_mut((h * w).max(1))
            .zip(g.par_chunks((oh * ow).max(1)))
            .for_each(|(op, gp)| {
                let mut q = 0;
                for (r, &(y0, y1)) in rows.ranges.iter().enumerate() {
                    for (c, &(x0, x1)) in cols.ranges.iter().enumerate() {
                        let d = if include {
                            rows.padded_count[r] * cols.padded_count[c]
                        } else {
                            (y1 - y0) * (x1 - x0)
                        };
                        if d > 0 {
                            let f = gp[q] / d as f32;
                            for iy in y0..y1 {
                                for v in &mut op[iy * w + x0..iy * w + x1] {
                                    *v += f;
                                }
                            }
                        }
                        q += 1;
                    }
                }
            });
        out
    }

    /// LRP through average or max pooling, proportional to the inputs:
    /// `R_i = x_i Σ_{p ∋ i} R_p / s(Σ_{i' ∈ W(p)} x_i')` with the window clipped to the valid
    /// input and `s(z) = z + ε·sign(z)`. Shapes as in [`Pool2d::max_relevance`]. Conserves
    /// relevance up to ε.
    pub fn proportional_relevance(
        &self,
        x: &Tensor,
        r: &[f32],
        k: usize,
        stabilizer: f32,
    ) -> Vec<f32> {
        let s = x.shape();
        let (c, h, w) = (s[1], s[2], s[3]);
        let [oh, ow] = self.out_hw(h, w);
        let (rows, cols) = self.windows(h, w);
        let xs = x.as_slice().expect("standard layout input");
        let ratio = crate::kernels::Stabilized(stabilizer);
        let mut out = crate::kernels::zeroed(r.len() / (oh * ow).max(1) * h * w);
        out.par_chunks_mut(h * w)
            .zip(r.par_chunks(oh * ow))
            .enumerate()
            .for_each(|(p, (op, rp))| {
                let (sample, ch) = (p / c, p % c);
                let plane = (sample / k) * c + ch;
                let xp = &xs[plane * h * w..(plane + 1) * h * w];
                let mut q = 0;
                for &(y0, y1) in &rows.ranges {
                    for &(x0, x1) in &cols.ranges {
                        let mut sum = 0f32;
                        for iy in y0..y1 {
                            sum += xp[iy * w + x0..iy * w + x1].iter().sum::<f32>();
                        }
                        let f = ratio.apply(rp[q], sum);
                        if f != 0.0 {
                            for iy in y0..y1 {
                                let row = iy * w;
                                for ix in x0..x1 {
                                    op[row + ix] += xp[row + ix] * f;
                                }
                            }
                        }
                        q += 1;
                    }
                }
            });
        out
    }
}

/// LRP through global average pooling: `R_i = x_i R_c / s(Σ_{i' ∈ plane c} x_i')`.
///
/// `x` is `[n, C, H, W]`, `r` holds `n·k` relevance vectors `[C]` (or `[C, 1, 1]`); returns
/// `n·k` maps `[C, H, W]`.
pub fn global_avg_relevance(x: &Tensor, r: &[f32], k: usize, stabilizer: f32) -> Vec<f32> {
    let s = x.shape();
    let (c, plane) = (s[1], s[2] * s[3]);
    let xs = x.as_slice().expect("standard layout input");
    let ratio = crate::kernels::Stabilized(stabilizer);
    let mut out = vec![0f32; r.len() * plane];
    out.par_chunks_mut(plane)
        .zip(r.par_iter())
        .enumerate()
        .for_each(|(p, (op, &rv))| {
            let (sample, ch) = (p / c, p % c);
            let xp = &xs[((sample / k) * c + ch) * plane..((sample / k) * c + ch + 1) * plane];
            let f = ratio.apply(rv, xp.iter().sum());
            for (o, &v) in op.iter_mut().zip(xp) {
                *o = v * f;
            }
        });
    out
}

/// Validate a per-sample input `[C, H, W]` of global average pooling and return `[C, 1, 1]`.
pub fn global_output_shape(node: &NodeRef, input: &[usize]) -> Result<Vec<usize>> {
    match *input {
        [c, h, w] if h > 0 && w > 0 => Ok(vec![c, 1, 1]),
        [_, _, _] => Err(Error::shape(
            node,
            format!("input {input:?} has an empty spatial extent"),
        )),
        _ => Err(Error::shape(
            node,
            format!("expects a [C, H, W] input, got {input:?}"),
        )),
    }
}

/// Global average pooling `[N, C, H, W] -> [N, C, 1, 1]`: the mean of each channel plane
/// (shape validated by [`global_output_shape`]).
pub fn global_avg(x: &Tensor) -> Tensor {
    let s = x.shape();
    let (n, c, plane) = (s[0], s[1], s[2] * s[3]);
    let mut y = Tensor::zeros(IxDyn(&[n, c, 1, 1]));
    if y.is_empty() {
        return y;
    }
    let xs = x.as_slice().expect("standard layout input");
    let ys = y.as_slice_mut().expect("fresh tensor");
    ys.par_iter_mut()
        .zip(xs.par_chunks(plane))
        .for_each(|(yv, xp)| {
            let sum: f64 = xp.iter().map(|&v| v as f64).sum();
            *yv = (sum / plane as f64) as f32;
        });
    y
}
