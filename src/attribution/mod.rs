//! Attribution methods beside LRP, on the same engine: gradient (saliency), gradient × input,
//! SmoothGrad, integrated gradients, occlusion, guided backpropagation and excitation
//! backprop.
//!
//! The gradient is the explainer's backward pass with [`Rule::Gradient`](crate::rules::Rule::Gradient)
//! on every layer (the plain transposed product on layers with weights, each operator's
//! vector-Jacobian product elsewhere) seeded with 1 at the explained class
//! ([`Seed::One`]); guided backpropagation and excitation backprop change the rules of some
//! layers as Zennit's composites of those names do. SmoothGrad and integrated gradients run
//! the gradient on batches of perturbed copies of each image, `batch` copies at a time, so
//! memory stays that of one explanation of `batch` images.
//!
//! | method | attribution of input `x` for class `c` | reference |
//! |---|---|---|
//! | [`Method::Gradient`] | `∂z_c/∂x` (signed; Captum's `Saliency(abs=False)`) | Simonyan et al. 2014 |
//! | [`Method::GradientXInput`] | `x ⊙ ∂z_c/∂x` (Captum's `InputXGradient`) | Shrikumar et al. 2016 |
//! | [`Method::SmoothGrad`] | `(1/m) Σ_s ∂z_c/∂x (x + ε_s)`, `ε_s ~ N(0, σ²)` (Captum's `NoiseTunnel(Saliency, "smoothgrad")`) | Smilkov et al. 2017 |
//! | [`Method::IntegratedGradients`] | `(x − b) ⊙ Σ_i w_i ∂z_c/∂x (b + α_i(x − b))` (Captum's `IntegratedGradients`) | Sundararajan et al. 2017 |
//! | [`Method::Occlusion`] | mean over the windows `W ∋ p` of `z_c(x) − z_c(x with W set to the baseline)` (Captum's `Occlusion`) | Zeiler & Fergus 2014 |
//! | [`Method::GuidedBackprop`] | the gradient with ReLUs passing `max(g, 0)` where `x > 0` (Zennit's `GuidedBackprop`) | Springenberg et al. 2015 |
//! | [`Method::ExcitationBackprop`] | z⁺ on linear layers, proportional sums and average pooling, the gradient elsewhere (Zennit's `ExcitationBackprop`) | Zhang et al. 2016 |
//!
//! `z_c` is the logit (the input of a final softmax, as for LRP). Every method returns an
//! [`Explanation`] of the same shape as LRP's (`[n, k, C, H, W]`, `k` classes per image), so
//! heatmaps, figures and comparisons take them alike. Its per-layer report is that of the one
//! backward pass where there is one (sums of the gradient for gradient and guided
//! backpropagation, of relevance for excitation backprop and [`Method::Lrp`]), and empty for
//! the methods that combine several passes or none (gradient × input, SmoothGrad, integrated
//! gradients, occlusion).
//!
//! ```
//! use lrp::attribution::{Attributor, Method};
//! use lrp::explain::Target;
//! use lrp::zoo::{self, Architecture};
//! let net = zoo::build(Architecture::AdienceNet, 8, 1).unwrap();
//! let x = lrp::Tensor::from_elem(ndarray::IxDyn(&[1, 3, 227, 227]), 0.5);
//! let grad = Attributor::new(net.clone(), Method::Gradient).unwrap().attribute(&x, &Target::Class(0)).unwrap();
//! let gxi = Attributor::new(net, Method::GradientXInput).unwrap().attribute(&x, &Target::Class(0)).unwrap();
//! // Gradient × input is the gradient times 0.5 here.
//! let (g, h) = (grad.relevance.as_slice().unwrap(), gxi.relevance.as_slice().unwrap());
//! assert!(g.iter().zip(h).all(|(a, b)| (a * 0.5 - b).abs() <= 1e-6 * a.abs().max(1.0)));
//! ```

mod occlusion;
mod quadrature;

pub use quadrature::Quadrature;

use crate::composite::Composite;
use crate::error::{Error, Result};
use crate::explain::{Explainer, Explanation, Seed, Target};
use crate::graph::Graph;
use crate::ops::Tensor;
use ndarray::{Array2, IxDyn};

/// How SmoothGrad's noise level is given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sigma {
    /// The standard deviation itself (Captum's `stdevs`).
    Absolute(f32),
    /// A fraction of each image's value range `max(x) − min(x)` (Smilkov et al. recommend
    /// 0.1–0.2).
    Relative(f32),
}

/// Where SmoothGrad's noise comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Noise {
    /// Normal draws from lrp's seeded generator: sample `s` of every image uses the stream
    /// seeded with `seed + s`, so an image's result does not depend on its batch.
    Seeded(u64),
    /// Given noise `[m, C, H, W]`, added as it is (σ is not applied) to every image: to
    /// reproduce another implementation's draws.
    Given(Tensor),
}

/// The baseline of integrated gradients and occlusion.
#[derive(Debug, Clone, PartialEq)]
pub enum Baseline {
    /// One value everywhere (0: the black image of a zero-centred input).
    Value(f32),
    /// A per-sample tensor `[C, H, W]`.
    Tensor(Tensor),
}

/// An attribution method and its parameters (see the module documentation).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Method {
    /// Layer-wise relevance propagation with a composite (a preset or custom rules): the
    /// explainer itself, seeded with the logit.
    Lrp(Box<Composite>),
    /// The gradient of the logit.
    Gradient,
    /// Gradient × input.
    GradientXInput,
    /// SmoothGrad: the mean gradient over `samples` noisy copies.
    SmoothGrad {
        /// Number of noisy copies per image.
        samples: usize,
        /// Noise level (ignored for [`Noise::Given`]).
        sigma: Sigma,
        /// Noise source.
        noise: Noise,
        /// Copies per backward pass.
        batch: usize,
    },
    /// Integrated gradients from `baseline` to the input in `steps` steps.
    IntegratedGradients {
        /// Number of points on the path.
        steps: usize,
        /// Start of the path.
        baseline: Baseline,
        /// Quadrature rule.
        quadrature: Quadrature,
        /// Points per backward pass.
        batch: usize,
    },
    /// Occlusion with a `window` (height, width; all channels at once) moved by `stride`.
    Occlusion {
        /// Window `[h, w]`.
        window: [usize; 2],
        /// Stride `[vertical, horizontal]`.
        stride: [usize; 2],
        /// Value the window is set to.
        baseline: Baseline,
        /// Occluded copies per forward pass.
        batch: usize,
    },
    /// Guided backpropagation.
    GuidedBackprop,
    /// Excitation backprop.
    ExcitationBackprop,
}

/// Names of the methods as the command line takes them (`lrp` is relevance propagation with a
/// preset, not a [`Method`]).
pub const METHOD_NAMES: [&str; 7] = [
    "gradient",
    "gradient-x-input",
    "smoothgrad",
    "integrated-gradients",
    "occlusion",
    "guided-backprop",
    "excitation-backprop",
];

impl Method {
    /// The method named `name` (one of [`METHOD_NAMES`], any case, `_` or `-`) with its
    /// default parameters: SmoothGrad 50 samples at σ = 15% of the value range (seed 0),
    /// integrated gradients 50 Gauss–Legendre steps from 0, occlusion a 16×16 window moved
    /// by 8 set to 0; 16 copies per pass.
    pub fn from_name(name: &str) -> Result<Method> {
        let key = name.to_ascii_lowercase().replace('_', "-");
        Ok(match key.as_str() {
            "gradient" | "saliency" | "grad" => Method::Gradient,
            "gradient-x-input" | "input-x-gradient" | "gxi" => Method::GradientXInput,
            "smoothgrad" | "smooth-grad" => Method::SmoothGrad {
                samples: 50,
                sigma: Sigma::Relative(0.15),
                noise: Noise::Seeded(0),
                batch: 16,
            },
            "integrated-gradients" | "ig" => Method::IntegratedGradients {
                steps: 50,
                baseline: Baseline::Value(0.0),
                quadrature: Quadrature::GaussLegendre,
                batch: 16,
            },
            "occlusion" => Method::Occlusion {
                window: [16, 16],
                stride: [8, 8],
                baseline: Baseline::Value(0.0),
                batch: 16,
            },
            "guided-backprop" | "guided" => Method::GuidedBackprop,
            "excitation-backprop" | "excitation" => Method::ExcitationBackprop,
            _ => {
                return Err(Error::Invalid(format!(
                    "unknown method `{name}` (lrp, {})",
                    METHOD_NAMES.join(", ")
                )))
            }
        })
    }

    /// The method's name, as [`Method::from_name`] reads it.
    pub fn name(&self) -> &'static str {
        match self {
            Method::Lrp(_) => "lrp",
            Method::Gradient => "gradient",
            Method::GradientXInput => "gradient-x-input",
            Method::SmoothGrad { .. } => "smoothgrad",
            Method::IntegratedGradients { .. } => "integrated-gradients",
            Method::Occlusion { .. } => "occlusion",
            Method::GuidedBackprop => "guided-backprop",
            Method::ExcitationBackprop => "excitation-backprop",
        }
    }

    /// What outputs are named after: the composite's name for LRP (`epsilon-plus-flat`), the
    /// method's otherwise.
    pub fn label(&self) -> String {
        match self {
            Method::Lrp(c) => c.name().to_string(),
            m => m.name().to_string(),
        }
    }

    /// Check the parameters (counts ≥ 1, finite noise level and baseline).
    fn validate(&self) -> Result<()> {
        let bad = |d: String| Err(Error::Invalid(format!("{}: {d}", self.name())));
        match self {
            Method::SmoothGrad {
                samples,
                sigma,
                batch,
                noise,
            } => {
                let s = match sigma {
                    Sigma::Absolute(s) | Sigma::Relative(s) => *s,
                };
                if *samples == 0 || *batch == 0 {
                    return bad("samples and batch must be at least 1".into());
                }
                if !(s.is_finite() && s >= 0.0) {
                    return bad(format!("noise level {s} must be finite and ≥ 0"));
                }
                if let Noise::Given(t) = noise {
                    if t.shape().first() != Some(samples) {
                        return bad(format!(
                            "given noise has shape {:?}; expected {samples} samples first",
                            t.shape()
                        ));
                    }
                }
                Ok(())
            }
            Method::IntegratedGradients {
                steps,
                batch,
                baseline,
                ..
            } => {
                if *steps == 0 || *batch == 0 {
                    return bad("steps and batch must be at least 1".into());
                }
                baseline.validate(self.name())
            }
            Method::Occlusion {
                window,
                stride,
                batch,
                baseline,
            } => {
                if window.contains(&0) || stride.contains(&0) || *batch == 0 {
                    return bad(format!(
                        "window {window:?}, stride {stride:?} and batch must be at least 1"
                    ));
                }
                baseline.validate(self.name())
            }
            _ => Ok(()),
        }
    }
}

impl Baseline {
    fn validate(&self, method: &str) -> Result<()> {
        let finite = match self {
            Baseline::Value(v) => v.is_finite(),
            Baseline::Tensor(t) => t.iter().all(|v| v.is_finite()),
        };
        if finite {
            Ok(())
        } else {
            Err(Error::Invalid(format!(
                "{method}: the baseline is not finite"
            )))
        }
    }

    /// The baseline for per-sample shape `shape`, as `C·H·W` values.
    fn values(&self, shape: &[usize]) -> Result<Vec<f32>> {
        let per: usize = shape.iter().product();
        match self {
            Baseline::Value(v) => Ok(vec![*v; per]),
            Baseline::Tensor(t) => {
                let s = t.shape();
                let s = if s.len() == shape.len() + 1 && s[0] == 1 {
                    &s[1..]
                } else {
                    s
                };
                if s != shape {
                    return Err(Error::Invalid(format!(
                        "baseline has shape {:?}; the model's input is {shape:?} per sample",
                        t.shape()
                    )));
                }
                Ok(t.iter().copied().collect())
            }
        }
    }
}

/// A network prepared for one attribution method.
#[derive(Debug, Clone)]
pub struct Attributor {
    method: Method,
    /// The backward pass the method needs (gradient, guided or excitation); occlusion uses
    /// only its graph.
    explainer: Explainer,
}

impl Attributor {
    /// Prepare `graph` for `method`; fails on invalid parameters (also an occlusion window
    /// larger than the graph's input) and on layers the method's rules do not cover.
    pub fn new(graph: Graph, method: Method) -> Result<Attributor> {
        method.validate()?;
        if let Method::Occlusion { window, .. } = &method {
            occlusion::check_window(graph.input_shape(), *window)?;
        }
        let explainer = match &method {
            Method::Lrp(c) => Explainer::new(graph, c)?,
            Method::GuidedBackprop => {
                Explainer::new(graph, &Composite::guided_backprop())?.with_seed(Seed::One)
            }
            Method::ExcitationBackprop => {
                Explainer::new(graph, &Composite::excitation_backprop())?.with_seed(Seed::One)
            }
            _ => Explainer::new(graph, &Composite::gradient())?.with_seed(Seed::One),
        };
        Ok(Attributor { method, explainer })
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The explainer running the method's backward pass (the gradient's for SmoothGrad,
    /// integrated gradients and occlusion, which uses only its graph).
    pub fn explainer(&self) -> &Explainer {
        &self.explainer
    }

    /// The graph.
    pub fn graph(&self) -> &Graph {
        self.explainer.graph()
    }

    /// Attribute the classes `target` picks for each image of `x` (`[n, C, H, W]`) to its
    /// input values: `relevance` is `[n, k, C, H, W]`.
    ///
    /// [`Target::Predicted`] is the clean image's prediction, kept for its perturbed copies.
    /// An explicit output weighting ([`Target::Relevance`]) seeds the gradient with it, and
    /// occlusion scores `Σ_c r_c z_c`.
    pub fn attribute(&self, x: &Tensor, target: &Target) -> Result<Explanation> {
        match &self.method {
            Method::Lrp(_)
            | Method::Gradient
            | Method::GuidedBackprop
            | Method::ExcitationBackprop => self.explainer.explain(x, target),
            Method::GradientXInput => {
                let mut e = self.explainer.explain(x, target)?;
                times_input(&mut e.relevance, x, None);
                e.conservation.clear();
                Ok(e)
            }
            Method::SmoothGrad {
                samples,
                sigma,
                noise,
                batch,
            } => self.smoothgrad(x, target, *samples, *sigma, noise, *batch),
            Method::IntegratedGradients {
                steps,
                baseline,
                quadrature,
                batch,
            } => self.integrated(x, target, *steps, baseline, *quadrature, *batch),
            Method::Occlusion {
                window,
                stride,
                baseline,
                batch,
            } => self.occlusion(x, target, *window, *stride, baseline, *batch),
        }
    }

    /// Logits of `x` and the classes to explain per image (`None` for an explicit output
    /// weighting, which is returned as rows per image).
    fn resolve(&self, x: &Tensor, target: &Target) -> Result<(Array2<f32>, Resolved)> {
        let logits = self.graph().finite_logits(x)?;
        let (n, classes) = logits.dim();
        let resolved = match target {
            Target::Relevance(r) => {
                if r.ncols() != classes || (r.nrows() != 1 && r.nrows() != n) {
                    return Err(Error::Invalid(format!(
                        "explicit output relevance has shape [{}, {}]; expected [{n}, {classes}] or [1, {classes}]",
                        r.nrows(),
                        r.ncols()
                    )));
                }
                Resolved::Weights(
                    (0..n)
                        .map(|i| r.row(if r.nrows() == 1 { 0 } else { i }).to_vec())
                        .collect(),
                )
            }
            t => Resolved::Classes(crate::explain::resolve_targets(&logits, t)?),
        };
        Ok((logits, resolved))
    }

    fn smoothgrad(
        &self,
        x: &Tensor,
        target: &Target,
        samples: usize,
        sigma: Sigma,
        noise: &Noise,
        batch: usize,
    ) -> Result<Explanation> {
        let (logits, rows) = self.resolve(x, target)?;
        let shape = x.shape()[1..].to_vec();
        let per: usize = shape.iter().product();
        let given = match noise {
            Noise::Given(t) if t.shape()[1..] != shape[..] => {
                return Err(Error::Invalid(format!(
                    "given noise has shape {:?}; the input is {shape:?} per sample",
                    t.shape()
                )))
            }
            Noise::Given(t) => Some(t.as_standard_layout()),
            Noise::Seeded(_) => None,
        };
        let xs = x.as_standard_layout();
        let xs = xs.as_slice().expect("standard layout");
        let (k, n) = (rows.k(), x.shape()[0]);
        let weights = vec![1.0 / samples as f64; samples];
        let mut out = Vec::with_capacity(n * k * per);
        for i in 0..n {
            let xi = &xs[i * per..(i + 1) * per];
            let std = match sigma {
                Sigma::Absolute(s) => s,
                Sigma::Relative(f) => {
                    let (lo, hi) = xi
                        .iter()
                        .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
                            (l.min(v), h.max(v))
                        });
                    f * (hi - lo)
                }
            };
            let acc = self.weighted_sum(&rows, i, &shape, &weights, batch, |s, xb| {
                match (&given, noise) {
                    (Some(t), _) => {
                        let ts = t.as_slice().expect("standard layout");
                        xb.extend(
                            xi.iter()
                                .zip(&ts[s * per..(s + 1) * per])
                                .map(|(a, e)| a + e),
                        );
                    }
                    (None, Noise::Seeded(seed)) => {
                        let mut rng = crate::zoo::rng::Rng::new(seed.wrapping_add(s as u64));
                        xb.extend(xi.iter().map(|a| a + std * rng.normal()));
                    }
                    (None, Noise::Given(_)) => unreachable!("given noise is kept above"),
                }
            })?;
            out.extend(acc.iter().map(|&v| v as f32));
        }
        Ok(result(out, n, k, &shape, logits, rows))
    }

    fn integrated(
        &self,
        x: &Tensor,
        target: &Target,
        steps: usize,
        baseline: &Baseline,
        quadrature: Quadrature,
        batch: usize,
    ) -> Result<Explanation> {
        let (logits, rows) = self.resolve(x, target)?;
        let shape = x.shape()[1..].to_vec();
        let per: usize = shape.iter().product();
        let base = baseline.values(&shape)?;
        let (alphas, weights) = quadrature.nodes(steps);
        let xs = x.as_standard_layout();
        let xs = xs.as_slice().expect("standard layout");
        let (k, n) = (rows.k(), x.shape()[0]);
        let mut out = Vec::with_capacity(n * k * per);
        for i in 0..n {
            let xi = &xs[i * per..(i + 1) * per];
            let acc = self.weighted_sum(&rows, i, &shape, &weights, batch, |s, xb| {
                // As Captum forms the path points: b + α(x − b), in float32.
                let a = alphas[s] as f32;
                xb.extend(base.iter().zip(xi).map(|(&b, &v)| b + a * (v - b)));
            })?;
            for a in acc.chunks(per) {
                out.extend(
                    a.iter()
                        .zip(xi.iter().zip(&base))
                        .map(|(&g, (&v, &b))| ((v - b) as f64 * g) as f32),
                );
            }
        }
        Ok(result(out, n, k, &shape, logits, rows))
    }

    /// `Σ_s w_s ∇z(copy_s)` over the copies `s = 0..weights.len()` of image `i` that
    /// `copy(s, buffer)` appends, `batch` copies per backward pass: `k` maps of the input's
    /// per-sample `shape`, in f64.
    fn weighted_sum(
        &self,
        rows: &Resolved,
        i: usize,
        shape: &[usize],
        weights: &[f64],
        batch: usize,
        mut copy: impl FnMut(usize, &mut Vec<f32>),
    ) -> Result<Vec<f64>> {
        let per: usize = shape.iter().product();
        let mut acc = vec![0f64; rows.k() * per];
        for start in (0..weights.len()).step_by(batch) {
            let m = batch.min(weights.len() - start);
            let mut xb = Vec::with_capacity(m * per);
            for s in start..start + m {
                copy(s, &mut xb);
            }
            let mut bshape = vec![m];
            bshape.extend_from_slice(shape);
            let xb = Tensor::from_shape_vec(IxDyn(&bshape), xb).expect("batch shape");
            let target = rows.repeated(i, m)?;
            let g = self.explainer.explain(&xb, &target)?.relevance;
            let gs = g.as_slice().expect("fresh relevance");
            let per_copy = gs.len() / m;
            for (c, w) in weights[start..start + m].iter().enumerate() {
                for (a, &v) in acc.iter_mut().zip(&gs[c * per_copy..(c + 1) * per_copy]) {
                    *a += w * v as f64;
                }
            }
        }
        Ok(acc)
    }
}

/// The classes (or output weights) an attribution explains per image.
enum Resolved {
    Classes(Vec<Vec<usize>>),
    Weights(Vec<Vec<f32>>),
}

impl Resolved {
    fn k(&self) -> usize {
        match self {
            Resolved::Classes(c) => c.first().map_or(1, Vec::len),
            Resolved::Weights(_) => 1,
        }
    }

    /// The target for `m` copies of image `i`.
    fn repeated(&self, i: usize, m: usize) -> Result<Target> {
        Ok(match self {
            Resolved::Classes(c) => Target::PerImage(vec![c[i].clone(); m]),
            Resolved::Weights(w) => {
                let classes = w[i].len();
                Target::Relevance(
                    Array2::from_shape_vec((1, classes), w[i].clone())
                        .map_err(|e| Error::Invalid(format!("output weights: {e}")))?,
                )
            }
        })
    }

    /// The scores of image `i`'s targets in `logits`: one per class, or the weighted sum.
    fn scores(&self, i: usize, logits: ndarray::ArrayView1<f32>) -> Vec<f64> {
        match self {
            Resolved::Classes(c) => c[i].iter().map(|&j| logits[j] as f64).collect(),
            Resolved::Weights(w) => vec![w[i]
                .iter()
                .zip(logits.iter())
                .map(|(&a, &b)| a as f64 * b as f64)
                .sum()],
        }
    }

    fn targets(self) -> Vec<Vec<usize>> {
        match self {
            Resolved::Classes(c) => c,
            Resolved::Weights(w) => vec![Vec::new(); w.len()],
        }
    }
}

/// `relevance *= x` (or `x − baseline`), each of the `k` maps of image `i` by image `i`.
fn times_input(relevance: &mut Tensor, x: &Tensor, baseline: Option<&[f32]>) {
    let per: usize = x.shape()[1..].iter().product();
    let xs = x.as_standard_layout();
    let xs = xs.as_slice().expect("standard layout");
    let k = relevance.shape()[1];
    let rs = relevance.as_slice_mut().expect("fresh relevance");
    for (m, rm) in rs.chunks_mut(per.max(1)).enumerate() {
        let xi = &xs[(m / k.max(1)) * per..(m / k.max(1) + 1) * per];
        for (p, (r, &v)) in rm.iter_mut().zip(xi).enumerate() {
            *r *= v - baseline.map_or(0.0, |b| b[p]);
        }
    }
}

/// An [`Explanation`] from `n·k` attribution maps.
fn result(
    values: Vec<f32>,
    n: usize,
    k: usize,
    shape: &[usize],
    logits: Array2<f32>,
    rows: Resolved,
) -> Explanation {
    let mut full = vec![n, k];
    full.extend_from_slice(shape);
    Explanation {
        relevance: Tensor::from_shape_vec(IxDyn(&full), values).expect("n·k maps"),
        logits,
        targets: rows.targets(),
        layers: None,
        conservation: Vec::new(),
    }
}
