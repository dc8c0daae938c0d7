//! Per-channel affine map: BatchNorm in inference form, Caffe `Scale` (with or without bias),
//! ONNX `Mul`/`Add` by a constant.
//!
//! `y[n, c, …] = scale[c] · x[n, c, …] + shift[c]`
//!
//! Shapes: input `[N, C, …]` (per-sample rank ≥ 1, channels first), `scale` and `shift` of
//! length `C`; output the same shape as the input. `scale` and `shift` may instead hold one
//! value per element of a sample (`C·H·W`, row-major): then the map is element-wise,
//! `y[n, i] = scale[i] · x[n, i] + shift[i]` (an ONNX constant of the sample's full shape).
//!
//! BatchNorm `y = γ (x − μ) / √(σ² + ε) + β` is this map with `scale = γ / √(σ² + ε)` and
//! `shift = β − μ · scale` ([`Affine::from_batch_norm`]); Caffe's `BatchNorm` layer is the
//! special case `γ = 1, β = 0` (with its running sums divided by the stored scale factor
//! first) and is usually followed by a `Scale` layer, itself an `Affine`.
//!
//! Relevance: pass (`R_x = R_y`, the default when it cannot be folded into a linear layer),
//! or proportional ([`Route::Proportional`]): the shift as a bias under the ε-rule,
//! `R_x = scale·x / s(y) · R_y` ([`Affine::proportional_relevance`]), as gradient × input
//! treats a constant addition (LXT's position embedding).
//!
//! ```
//! use lrp::ops::Affine;
//! use lrp::NodeRef;
//! use ndarray::{array, ArrayD, IxDyn};
//! let a = Affine::new(array![2.0, -1.0], array![0.5, 1.0]);
//! let x = ArrayD::from_shape_vec(IxDyn(&[1, 2, 1, 2]), vec![1.0, 2.0, 3.0, 4.0]).unwrap();
//! assert_eq!(a.forward(&x).as_slice().unwrap(), &[2.5, 4.5, -2.0, -3.0]);
//!
//! // BatchNorm with γ = 2, β = 1, μ = 3, σ² = 3, ε = 1: scale = 2 / √4 = 1, shift = 1 − 3 = −2.
//! let node = NodeRef::new("bn1", "Affine");
//! let bn = Affine::from_batch_norm(&node, &[2.0], &[1.0], &[3.0], &[3.0], 1.0).unwrap();
//! assert_eq!((bn.scale()[0], bn.shift()[0]), (1.0, -2.0));
//!
//! // Proportional: y = 2·1 + 0.5 = 2.5 gets R = 5, of which x keeps 2/2.5.
//! let r = a.proportional_relevance(&x, &[5.0, 0.0, 0.0, 0.0], 1, 0.0);
//! assert!((r[0] - 4.0).abs() < 1e-6);
//! ```

use super::{pass_on, Category, Operator, Route, RouteCtx, Tensor};
use crate::error::{Error, NodeRef, Result};
use ndarray::Array1;
use rayon::prelude::*;

/// `y[n, c, …] = scale[c] · x[n, c, …] + shift[c]`.
#[derive(Debug, Clone)]
pub struct Affine {
    pub(crate) scale: Array1<f32>,
    pub(crate) shift: Array1<f32>,
}

impl Affine {
    /// Affine map with per-channel `scale` and `shift` (same length, checked by
    /// [`Affine::output_shape`]).
    pub fn new(scale: Array1<f32>, shift: Array1<f32>) -> Self {
        Affine {
            scale: super::standard(scale),
            shift: super::standard(shift),
        }
    }

    /// Fold inference-mode batch normalisation into an affine map:
    /// `scale = γ / √(var + ε)`, `shift = β − mean · scale` (computed in f64).
    ///
    /// Errors, naming `node`, when the four vectors differ in length or `var + ε` is not
    /// positive and finite for some channel.
    pub fn from_batch_norm(
        node: &NodeRef,
        gamma: &[f32],
        beta: &[f32],
        mean: &[f32],
        var: &[f32],
        eps: f32,
    ) -> Result<Self> {
        let c = gamma.len();
        if beta.len() != c || mean.len() != c || var.len() != c {
            return Err(Error::param(
                node,
                format!(
                    "batch norm vectors differ in length: gamma {c}, beta {}, mean {}, var {}",
                    beta.len(),
                    mean.len(),
                    var.len()
                ),
            ));
        }
        let mut scale = Vec::with_capacity(c);
        let mut shift = Vec::with_capacity(c);
        for ch in 0..c {
            let denom = var[ch] as f64 + eps as f64;
            if !(denom > 0.0 && denom.is_finite()) {
                return Err(Error::param(
                    node,
                    format!(
                        "channel {ch}: var + eps = {} + {eps} is not positive",
                        var[ch]
                    ),
                ));
            }
            let s = gamma[ch] as f64 / denom.sqrt();
            scale.push(s as f32);
            shift.push((beta[ch] as f64 - mean[ch] as f64 * s) as f32);
        }
        Ok(Affine::new(Array1::from(scale), Array1::from(shift)))
    }

    /// Per-channel scale.
    pub fn scale(&self) -> &Array1<f32> {
        &self.scale
    }

    /// Per-channel shift.
    pub fn shift(&self) -> &Array1<f32> {
        &self.shift
    }

    /// Validate against a per-sample input `[C, …]`; the output has the same shape.
    pub fn output_shape(&self, node: &NodeRef, input: &[usize]) -> Result<Vec<usize>> {
        if self.scale.len() != self.shift.len() {
            return Err(Error::param(
                node,
                format!(
                    "scale has {} values but shift has {}",
                    self.scale.len(),
                    self.shift.len()
                ),
            ));
        }
        let Some(&c) = input.first() else {
            return Err(Error::shape(
                node,
                "expects an input with a channel axis [C, …], got a scalar per sample",
            ));
        };
        let total: usize = input.iter().product();
        if self.scale.len() != c && self.scale.len() != total {
            return Err(Error::shape(
                node,
                format!(
                    "input {input:?} has {c} channels ({total} values) but scale and shift have {} values",
                    self.scale.len()
                ),
            ));
        }
        Ok(input.to_vec())
    }

    /// The shift as a bias under the ε-rule (an unfolded constant addition, such as a vision
    /// transformer's position embedding): `R_x = (scale ⊙ x) / s(y) ⊙ R_y` with
    /// `s(z) = z + ε·sign(z)`; the shift's share is absorbed. `r` holds `k` maps per sample
    /// of `x`, image-major.
    pub fn proportional_relevance(&self, x: &Tensor, r: &[f32], k: usize, eps: f32) -> Vec<f32> {
        let y = self.forward(x);
        let scaled = Affine::new(self.scale.clone(), Array1::zeros(self.shift.len())).forward(x);
        let (ys, ws) = (
            y.as_slice().expect("fresh tensor"),
            scaled.as_slice().expect("fresh tensor"),
        );
        let per: usize = x.shape()[1..].iter().product();
        r.iter()
            .enumerate()
            .map(|(i, &rv)| {
                let at = (i / per / k.max(1)) * per + i % per;
                let z = ys[at];
                let s = z + eps * if z >= 0.0 { 1.0 } else { -1.0 };
                ws[at] / s * rv
            })
            .collect()
    }

    /// The gradient `g_x = scale ⊙ g_y` for gradients `g` of any number of samples of
    /// per-sample shape `input`.
    pub fn gradient(&self, input: &[usize], mut g: Vec<f32>) -> Vec<f32> {
        let per: usize = input.iter().product();
        let per_channel = self.scale.len() == input[0];
        let plane = if per_channel {
            per / input[0].max(1)
        } else {
            1
        };
        let scale = self.scale.as_slice().expect("standard layout");
        if per == 0 || plane == 0 {
            return g;
        }
        g.par_chunks_mut(per).for_each(|gs| {
            for (i, p) in gs.chunks_mut(plane).enumerate() {
                let a = scale[i % scale.len()];
                p.iter_mut().for_each(|v| *v *= a);
            }
        });
        g
    }

    /// Forward pass on `[N, C, …]` (validated by [`Affine::output_shape`]).
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let s = x.shape();
        let per_channel = self.scale.len() == s[1];
        // Element-wise maps are per-channel maps over "channels" of one value each.
        let (c, plane) = if per_channel {
            (s[1], s[2..].iter().product())
        } else {
            (s[1..].iter().product(), 1)
        };
        let mut y = x.as_standard_layout().into_owned();
        if y.is_empty() {
            return y;
        }
        let scale = self.scale.as_slice().expect("standard layout");
        let shift = self.shift.as_slice().expect("standard layout");
        y.as_slice_mut()
            .expect("standard layout")
            .par_chunks_mut(plane)
            .enumerate()
            .for_each(|(i, p)| {
                let (a, b) = (scale[i % c], shift[i % c]);
                for v in p {
                    *v = a * *v + b;
                }
            });
        y
    }
}

impl Operator for Affine {
    type Params = Affine;
    const KIND: &'static str = "Affine";
    const CATEGORY: Category = Category::Normalization;
    const ROUTES: &'static [Route] = &[Route::Pass, Route::Proportional, Route::Gradient];

    single_input!(Affine);

    fn params(p: &Affine) -> Vec<&[f32]> {
        [&p.scale, &p.shift]
            .into_iter()
            .map(|a| a.as_slice().unwrap_or(&[]))
            .collect()
    }

    fn params_mut(p: &mut Affine) -> Vec<&mut [f32]> {
        let mut out: Vec<&mut [f32]> = Vec::new();
        out.extend(p.scale.as_slice_mut());
        out.extend(p.shift.as_slice_mut());
        out
    }

    fn route(p: &Affine, route: Route, ctx: &RouteCtx<'_>, r: Vec<f32>) -> Vec<Vec<f32>> {
        match route {
            Route::Proportional => {
                vec![p.proportional_relevance(ctx.inputs[0], &r, ctx.k, ctx.stabilizer)]
            }
            Route::Gradient => vec![p.gradient(ctx.in_shapes[0], r)],
            _ => pass_on(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::{assert_close, random};
    use ndarray::IxDyn;

    fn naive(a: &Affine, x: &Tensor) -> Tensor {
        let mut y = Tensor::zeros(IxDyn(x.shape()));
        for (idx, out) in y.indexed_iter_mut() {
            let c = idx[1];
            *out = (a.scale[c] as f64 * x[&idx] as f64 + a.shift[c] as f64) as f32;
        }
        y
    }

    #[test]
    fn matches_naive_on_random_shapes() {
        let mut rng = crate::zoo::rng::Rng::new(51);
        for t in 0..20 {
            let rank = 1 + rng.below(3);
            let mut shape = vec![1 + rng.below(3)];
            shape.extend((0..rank).map(|_| 1 + rng.below(6)));
            let c = shape[1];
            let a = Affine::new(
                random(&[c], t).into_dimensionality().unwrap(),
                random(&[c], t + 100).into_dimensionality().unwrap(),
            );
            let node = NodeRef::new("scale", "Affine");
            assert_eq!(
                a.output_shape(&node, &shape[1..]).unwrap(),
                shape[1..].to_vec()
            );
            let x = random(&shape, t + 200);
            assert_close(&a.forward(&x), &naive(&a, &x), 1e-5);
        }
    }

    #[test]
    fn batch_norm_formula() {
        let node = NodeRef::new("bn", "Affine");
        let (g, b, m, v, eps) = (
            [0.5f32, 2.0, -1.0],
            [0.1f32, -0.3, 2.0],
            [1.0f32, -2.0, 0.5],
            [0.25f32, 4.0, 0.0],
            1e-5f32,
        );
        let a = Affine::from_batch_norm(&node, &g, &b, &m, &v, eps).unwrap();
        let x = random(&[2, 3, 4, 5], 9);
        let mut expect = Tensor::zeros(IxDyn(x.shape()));
        for (idx, out) in expect.indexed_iter_mut() {
            let c = idx[1];
            let xn = (x[&idx] as f64 - m[c] as f64) / (v[c] as f64 + eps as f64).sqrt();
            *out = (g[c] as f64 * xn + b[c] as f64) as f32;
        }
        assert_close(&a.forward(&x), &expect, 1e-5);
    }

    #[test]
    fn errors_name_the_node() {
        let node = NodeRef::new("bn3", "Affine");
        let msg = Affine::from_batch_norm(&node, &[1.0; 3], &[0.0; 3], &[0.0; 2], &[1.0; 3], 1e-5)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("bn3") && msg.contains("mean 2"), "{msg}");
        let msg = Affine::from_batch_norm(&node, &[1.0], &[0.0], &[0.0], &[-1.0], 1e-5)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("bn3") && msg.contains("not positive"), "{msg}");
        let a = Affine::new(Array1::ones(4), Array1::zeros(4));
        let msg = a.output_shape(&node, &[3, 8, 8]).unwrap_err().to_string();
        assert!(msg.contains("bn3") && msg.contains("3 channels"), "{msg}");
        let a = Affine::new(Array1::ones(3), Array1::zeros(2));
        let msg = a.output_shape(&node, &[3, 8, 8]).unwrap_err().to_string();
        assert!(msg.contains("bn3") && msg.contains("shift has 2"), "{msg}");
        let msg = a.output_shape(&node, &[]).unwrap_err().to_string();
        assert!(msg.contains("bn3"), "{msg}");
    }

    #[test]
    fn element_wise_constants() {
        let x = random(&[2, 3, 2, 2], 9);
        let scale: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 2.0).collect();
        let shift: Vec<f32> = (0..12).map(|i| 1.0 - i as f32 * 0.1).collect();
        let a = Affine::new(Array1::from(scale.clone()), Array1::from(shift.clone()));
        assert_eq!(
            a.output_shape(&NodeRef::new("m", "Affine"), &[3, 2, 2])
                .unwrap(),
            vec![3, 2, 2]
        );
        let y = a.forward(&x);
        for (i, (yv, xv)) in y.iter().zip(x.iter()).enumerate() {
            let k = i % 12;
            assert!((yv - (scale[k] * xv + shift[k])).abs() < 1e-6);
        }
        assert!(a
            .output_shape(&NodeRef::new("m", "Affine"), &[3, 2, 3])
            .is_err());
    }
}
