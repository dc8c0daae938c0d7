//! `--method` and its parameters (explain, figure, compare): LRP under each `--preset` beside
//! the baseline attribution methods of [`lrp::attribution`] (gradient, gradient × input,
//! SmoothGrad, integrated gradients, occlusion, guided backprop, excitation backprop).
//!
//! `--method lrp` (the default) is relevance propagation under every preset of `--preset`,
//! exactly as without the option; every other name adds one column/folder named by the
//! method's label. The parameters default to [`Method::from_name`]'s, so the command line
//! computes what the library does for the same name.

use crate::common::{self, MemoryBudget, RuleArgs};
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use lrp::attribution::{Baseline, Method, Noise, Quadrature, Sigma, METHOD_NAMES};
use lrp::composite::Composite;
use lrp::model::Model;
use lrp::preprocess::RgbImage;

/// Largest `--samples` and `--steps` (each is a backward pass per image).
pub const MAX_PASSES: usize = 10_000;
/// Copies per backward pass of SmoothGrad and integrated gradients, per forward pass of
/// occlusion (fewer when the memory budget allows fewer).
pub const METHOD_BATCH: usize = 16;

#[derive(Args, Clone, Default)]
pub struct MethodArgs {
    #[arg(long = "method", value_name = "NAME[,NAME…]", long_help = method_help())]
    pub method: Option<String>,
    /// SmoothGrad: noisy copies per image [default: 50].
    #[arg(long, value_name = "N")]
    pub samples: Option<usize>,
    /// SmoothGrad: standard deviation of the Gaussian noise, `P%` of each image's value range
    /// (max − min of the network input, as Zennit's `noise_level`) or a plain number in
    /// network-input units (Captum's `stdevs`) [default: 15%].
    #[arg(long, value_name = "S|P%")]
    pub noise_sigma: Option<String>,
    /// SmoothGrad: seed of the noise; noisy copy s of every image uses the stream SEED + s
    /// [default: 0].
    #[arg(long, value_name = "SEED")]
    pub noise_seed: Option<u64>,
    /// Integrated gradients: points on the path from the baseline to the input [default:
    /// 50, Captum's].
    #[arg(long, value_name = "N")]
    pub steps: Option<usize>,
    /// Integrated gradients: the quadrature rule, `gausslegendre` (Captum's default),
    /// `riemann-left`, `riemann-right`, `riemann-middle` or `riemann-trapezoid`
    /// [default: gausslegendre].
    #[arg(long, value_name = "RULE")]
    pub quadrature: Option<String>,
    /// Integrated gradients and occlusion: the baseline, `zero` (0 in the network input,
    /// Captum's default: the data set's mean colour for the shipped face models' and
    /// ImageNet preprocessing, so `mean` is accepted for it), `black` (a black image
    /// preprocessed like the input) or a number V (V everywhere in the network input)
    /// [default: zero].
    #[arg(long, value_name = "zero|black|V")]
    pub baseline: Option<String>,
    /// Occlusion: the window, `H` (square) or `H,W`, in network-input pixels, over all
    /// channels [default: 16].
    #[arg(long, value_name = "H[,W]")]
    pub window: Option<String>,
    /// Occlusion: how far the window moves, `S` or `SY,SX` [default: 8].
    #[arg(long, value_name = "S[,S]")]
    pub stride: Option<String>,
}

/// The long help of `--method`.
fn method_help() -> String {
    let mut s = String::from(
        "Attribution method(s), comma-separated [default: lrp; for evaluate: all]. `lrp` is \
         relevance propagation under each --preset; the others are the baselines of \
         lrp::attribution, each with one output folder (and figure column) named after it; \
         `all` is lrp and every baseline. `--target`, `--npy`, the heatmaps and the figure \
         work alike for all.\n",
    );
    let table = [
        (
            "lrp",
            "layer-wise relevance propagation under each --preset",
        ),
        (
            "gradient",
            "the gradient of the logit (Captum's Saliency, abs=False)",
        ),
        (
            "gradient-x-input",
            "input × gradient (Captum's InputXGradient)",
        ),
        (
            "smoothgrad",
            "mean gradient over noisy copies (--samples, --noise-sigma, --noise-seed)",
        ),
        (
            "integrated-gradients",
            "path integral of the gradient (--steps, --quadrature, --baseline)",
        ),
        (
            "occlusion",
            "score drop when a window is set to the baseline (--window, --stride, --baseline)",
        ),
        (
            "guided-backprop",
            "guided backpropagation (Zennit's GuidedBackprop)",
        ),
        (
            "excitation-backprop",
            "excitation backprop (Zennit's ExcitationBackprop)",
        ),
    ];
    for (name, what) in table {
        s.push_str(&format!("\n  {name:<21} {what}"));
    }
    s
}

/// One entry of `--method`: LRP under a preset, or a baseline method by name.
#[derive(Clone)]
enum Spec {
    Lrp(Box<Composite>),
    Baseline(&'static str),
}

/// The methods of a run: the names and parameters, model-independent; [`Methods::for_model`]
/// makes the [`Method`]s for one model.
pub struct Methods {
    specs: Vec<Spec>,
    /// Per model × spec: whether the model is explained by it (without `--preset`, a model is
    /// explained only under its own presets, [`lrp::model::Model::presets`]).
    applies: Vec<Vec<bool>>,
    sigma: Sigma,
    /// `--noise-sigma` as given (`15%` by default), for the manifest.
    sigma_text: String,
    samples: usize,
    seed: u64,
    steps: usize,
    quadrature: Quadrature,
    baseline: BaselineArg,
    window: [usize; 2],
    stride: [usize; 2],
}

#[derive(Clone, Copy, PartialEq)]
enum BaselineArg {
    Value(f32),
    Black,
}

impl Methods {
    /// `--method` and its parameters, with `--preset`'s composites for `lrp` (without
    /// `--preset`, each of `models` under its own presets). Errors name the option at fault and
    /// list the valid values.
    /// `default` is what a missing `--method` means.
    pub fn parse(
        rules: &RuleArgs,
        a: &MethodArgs,
        models: &[Model],
        default: &str,
    ) -> Result<Methods> {
        let given = a.method.as_deref().unwrap_or(default);
        let mut specs = Vec::new();
        let mut applies: Vec<Vec<bool>> = vec![Vec::new(); models.len()];
        let mut names: Vec<&str> = Vec::new();
        // `all`: LRP and every baseline, in the order of the help.
        let every = std::iter::once("lrp").chain(METHOD_NAMES.iter().copied());
        let listed = given.split(',').map(str::trim).filter(|s| !s.is_empty());
        let expanded: Vec<&str> = listed
            .flat_map(|n| {
                let all = n.eq_ignore_ascii_case("all");
                let one = (!all).then_some(n);
                every.clone().filter(move |_| all).chain(one)
            })
            .collect();
        for name in expanded {
            if name.eq_ignore_ascii_case("lrp") {
                if names.contains(&"lrp") {
                    bail!("--method `{given}`: lrp is given twice");
                }
                let (comps, theirs) = common::model_composites(rules, models)?;
                specs.extend(comps.into_iter().map(|c| Spec::Lrp(Box::new(c))));
                for (row, t) in applies.iter_mut().zip(theirs) {
                    row.extend(t);
                }
                names.push("lrp");
                continue;
            }
            let m = Method::from_name(name).map_err(|e| anyhow!("--method: {e}"))?;
            let canonical = m.name();
            if names.contains(&canonical) {
                bail!("--method `{given}`: {canonical} is given twice");
            }
            names.push(canonical);
            specs.push(Spec::Baseline(canonical));
            for row in &mut applies {
                row.push(true);
            }
        }
        if specs.is_empty() {
            bail!(
                "--method names no method (lrp, {}, all)",
                METHOD_NAMES.join(", ")
            );
        }
        // Each parameter belongs to methods; given without them it is a mistake.
        let used = |ms: &[&str]| ms.iter().any(|m| names.contains(m));
        let owners: [(&str, bool, &[&str]); 8] = [
            ("--samples", a.samples.is_some(), &["smoothgrad"]),
            ("--noise-sigma", a.noise_sigma.is_some(), &["smoothgrad"]),
            ("--noise-seed", a.noise_seed.is_some(), &["smoothgrad"]),
            ("--steps", a.steps.is_some(), &["integrated-gradients"]),
            (
                "--quadrature",
                a.quadrature.is_some(),
                &["integrated-gradients"],
            ),
            (
                "--baseline",
                a.baseline.is_some(),
                &["integrated-gradients", "occlusion"],
            ),
            ("--window", a.window.is_some(), &["occlusion"]),
            ("--stride", a.stride.is_some(), &["occlusion"]),
        ];
        for (option, given, methods) in owners {
            if given && !used(methods) {
                bail!(
                    "{option} is a parameter of --method {}, which `--method {given}` does not include",
                    methods.join(" and "),
                );
            }
        }
        let count = |option: &str, v: Option<usize>, default: usize| -> Result<usize> {
            match v.unwrap_or(default) {
                n @ 1..=MAX_PASSES => Ok(n),
                n => bail!("--{option} {n}: expected 1 to {MAX_PASSES}"),
            }
        };
        let (samples, steps) = (
            count("samples", a.samples, 50)?,
            count("steps", a.steps, 50)?,
        );
        let sigma = match a.noise_sigma.as_deref().map(str::trim) {
            None => Sigma::Relative(0.15),
            Some(s) => {
                let (text, relative) = match s.strip_suffix('%') {
                    Some(p) => (p.trim(), true),
                    None => (s, false),
                };
                let v: f32 = text.parse().ok().filter(|v: &f32| v.is_finite() && *v >= 0.0)
                    .ok_or_else(|| anyhow!(
                        "--noise-sigma `{s}`: expected a non-negative number (absolute, in network-input units) or a percentage of the value range such as 15%"
                    ))?;
                if relative {
                    Sigma::Relative(v / 100.0)
                } else {
                    Sigma::Absolute(v)
                }
            }
        };
        let quadrature = match a.quadrature.as_deref() {
            None => Quadrature::GaussLegendre,
            Some(q) => Quadrature::from_name(q).ok_or_else(|| {
                anyhow!(
                    "--quadrature `{q}`: expected gausslegendre, riemann-left, riemann-right, \
                     riemann-middle or riemann-trapezoid"
                )
            })?,
        };
        let baseline = match a.baseline.as_deref().map(str::trim) {
            None | Some("zero" | "mean") => BaselineArg::Value(0.0),
            Some("black") => BaselineArg::Black,
            Some(v) => match v.parse::<f32>() {
                Ok(x) if x.is_finite() => BaselineArg::Value(x),
                _ => bail!("--baseline `{v}`: expected zero, mean, black or a finite number"),
            },
        };
        let window = pair("--window", a.window.as_deref(), 16)?;
        let stride = pair("--stride", a.stride.as_deref(), 8)?;
        Ok(Methods {
            specs,
            applies,
            sigma,
            sigma_text: a
                .noise_sigma
                .as_deref()
                .map_or_else(|| "15%".to_string(), |s| s.trim().replace(' ', "")),
            samples,
            seed: a.noise_seed.unwrap_or(0),
            steps,
            quadrature,
            baseline,
            window,
            stride,
        })
    }

    /// The output name of each method, in order: the preset's for LRP, the method's otherwise.
    pub fn labels(&self) -> Vec<String> {
        self.specs
            .iter()
            .map(|s| match s {
                Spec::Lrp(c) => c.name().to_string(),
                Spec::Baseline(n) => n.to_string(),
            })
            .collect()
    }

    /// Whether model `m` (an index into the models given to [`Methods::parse`]) is explained
    /// by method `i`.
    pub fn applies(&self, m: usize, i: usize) -> bool {
        self.applies
            .get(m)
            .and_then(|row| row.get(i))
            .copied()
            .unwrap_or(false)
    }

    /// Whether every method is LRP (the run is what it was before `--method`).
    pub fn all_lrp(&self) -> bool {
        self.specs.iter().all(|s| matches!(s, Spec::Lrp(_)))
    }

    /// What messages call the entries: `preset` when all are LRP, else `method`.
    pub fn word(&self) -> &'static str {
        if self.all_lrp() {
            "preset"
        } else {
            "method"
        }
    }

    /// What the manifest records of method `i`'s parameters besides the common settings
    /// (empty for LRP and for the methods without parameters, so that manifests of earlier
    /// runs stay current).
    pub fn settings(&self, i: usize) -> String {
        let baseline = match self.baseline {
            BaselineArg::Value(v) => v.to_string(),
            BaselineArg::Black => "black".into(),
        };
        match &self.specs[i] {
            Spec::Baseline("smoothgrad") => {
                format!(
                    " samples={} noise-sigma={} noise-seed={}",
                    self.samples, self.sigma_text, self.seed
                )
            }
            Spec::Baseline("integrated-gradients") => format!(
                " steps={} quadrature={} baseline={baseline}",
                self.steps,
                self.quadrature.name()
            ),
            Spec::Baseline("occlusion") => format!(
                " window={},{} stride={},{} baseline={baseline}",
                self.window[0], self.window[1], self.stride[0], self.stride[1]
            ),
            _ => String::new(),
        }
    }

    /// The methods for `model`, with the copies per pass bounded by the memory budget. With
    /// `images` (the inputs are images through the model's preprocessing), zᴮ rules without
    /// bounds get the preprocessing's value range, so that a map does not depend on the other
    /// images of its batch ([`Composite::with_default_box`]).
    pub fn for_model(
        &self,
        model: &Model,
        budget: Option<&MemoryBudget>,
        images: bool,
    ) -> Result<Vec<Method>> {
        let batch = METHOD_BATCH.min(common::max_batch(model, budget)).max(1);
        let baseline = match self.baseline {
            BaselineArg::Value(v) => Baseline::Value(v),
            BaselineArg::Black => {
                let size = model.preprocess.size();
                let black = model.preprocess.apply(&RgbImage::new(size, size))?;
                Baseline::Tensor(black.into_dyn())
            }
        };
        self.specs
            .iter()
            .map(|s| {
                Ok(match s {
                    Spec::Lrp(c) if images && c.uses_box() => {
                        let (low, high) = model.preprocess.value_range()?;
                        Method::Lrp(Box::new((**c).clone().with_default_box(low, high)))
                    }
                    Spec::Lrp(c) => Method::Lrp(c.clone()),
                    Spec::Baseline(name) => match Method::from_name(name)? {
                        Method::SmoothGrad { .. } => Method::SmoothGrad {
                            samples: self.samples,
                            sigma: self.sigma,
                            noise: Noise::Seeded(self.seed),
                            batch,
                        },
                        Method::IntegratedGradients { .. } => Method::IntegratedGradients {
                            steps: self.steps,
                            baseline: baseline.clone(),
                            quadrature: self.quadrature,
                            batch,
                        },
                        Method::Occlusion { .. } => Method::Occlusion {
                            window: self.window,
                            stride: self.stride,
                            baseline: baseline.clone(),
                            batch,
                        },
                        m => m,
                    },
                })
            })
            .collect()
    }

    /// [`Methods::for_model`] for each of `models` (the models given to [`Methods::parse`]),
    /// each method checked on its model before anything runs (a window larger than the input,
    /// …); with `own_only`, a model keeps only the methods that apply to it
    /// ([`Methods::applies`]), else it gets every method (a full grid).
    pub fn checked_per_model(
        &self,
        models: &[Model],
        budget: Option<&MemoryBudget>,
        own_only: bool,
    ) -> Result<Vec<Vec<Method>>> {
        models
            .iter()
            .enumerate()
            .map(|(mi, m)| {
                let all = self.for_model(m, budget, true)?;
                let ms: Vec<Method> = all
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| !own_only || self.applies(mi, *i))
                    .map(|(_, method)| method)
                    .collect();
                for method in &ms {
                    lrp::attribution::Attributor::new(m.graph.clone(), method.clone())
                        .with_context(|| format!("model {}", m.name))?;
                }
                Ok(ms)
            })
            .collect()
    }
}

/// `N` or `A,B` as a pair of counts ≥ 1.
fn pair(option: &str, v: Option<&str>, default: usize) -> Result<[usize; 2]> {
    let Some(text) = v else {
        return Ok([default, default]);
    };
    let parts: Vec<Option<usize>> = text
        .split(',')
        .map(|p| p.trim().parse::<usize>().ok().filter(|&n| n >= 1))
        .collect();
    match parts[..] {
        [Some(a)] => Ok([a, a]),
        [Some(a), Some(b)] => Ok([a, b]),
        _ => bail!("{option} `{text}`: expected one or two whole numbers ≥ 1, e.g. 8 or 8,4"),
    }
}
