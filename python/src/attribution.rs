//! `lrp.Attribution`: the baseline attribution methods of `lrp::attribution` (gradient,
//! gradient × input, SmoothGrad, integrated gradients, occlusion, guided backprop, excitation
//! backprop), with the parameters and defaults of the command line's `--method`.

use crate::{explain_call, tensor_in, to_py, Explanation, IntoPy, Model};
use lrp::attribution::{Attributor, Baseline, Method, Noise, Quadrature, Sigma, METHOD_NAMES};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyString;
use std::sync::Arc;

/// A model prepared for one baseline attribution method (what `lrp explain --method NAME`
/// computes): ``"gradient"``, ``"gradient-x-input"``, ``"smoothgrad"``,
/// ``"integrated-gradients"``, ``"occlusion"``, ``"guided-backprop"`` or
/// ``"excitation-backprop"``. LRP itself is :class:`Explainer`.
///
/// Parameters (each belongs to the methods named; given to another method it raises
/// ``lrp.InvalidError``), with the command line's defaults:
///
/// * ``samples`` (SmoothGrad, 50), ``noise_sigma`` (SmoothGrad: a float in network-input
///   units, Captum's ``stdevs``, or a string ``"P%"`` of each image's value range, Zennit's
///   ``noise_level``; ``"15%"``), ``noise_seed`` (SmoothGrad, 0: copy s of every image draws
///   from the stream seeded with seed + s), ``noise`` (SmoothGrad: a float32
///   ``(samples, C, H, W)`` array added as it is instead of drawing, to reproduce another
///   implementation's noise);
/// * ``steps`` (integrated gradients, 50), ``quadrature`` (integrated gradients:
///   ``"gausslegendre"``, Captum's default, ``"riemann-left"``, ``"riemann-right"``,
///   ``"riemann-middle"``, ``"riemann-trapezoid"``);
/// * ``baseline`` (integrated gradients and occlusion: a float everywhere, or a float32
///   ``(C, H, W)`` array; 0.0);
/// * ``window`` and ``stride`` (occlusion: an int or ``(h, w)`` in network-input pixels;
///   16 and 8);
/// * ``batch`` (SmoothGrad, integrated gradients, occlusion: copies per pass, 16).
///
/// >>> sg = lrp.Attribution(lrp.shipped("gender-v1"), "smoothgrad", samples=8, noise_sigma="10%")
/// >>> sg.explain(x).relevance.shape
/// (1, 3, 32, 32)
#[pyclass(module = "lrp", frozen)]
pub(crate) struct Attribution {
    inner: Arc<Attributor>,
    model: Arc<lrp::model::Model>,
}

/// A method parameter: which methods take it, and whether it was given.
struct Owner {
    name: &'static str,
    given: bool,
    methods: &'static [&'static str],
}

fn invalid(msg: String) -> PyErr {
    to_py(lrp::Error::Invalid(msg))
}

/// An int or an `(h, w)` pair.
fn pair(obj: Option<&Bound<'_, PyAny>>, what: &str, default: usize) -> PyResult<[usize; 2]> {
    let Some(obj) = obj else {
        return Ok([default; 2]);
    };
    if let Ok(v) = obj.extract::<usize>() {
        return Ok([v; 2]);
    }
    obj.extract::<(usize, usize)>()
        .map(|(a, b)| [a, b])
        .map_err(|_| {
            PyTypeError::new_err(format!(
                "{what}: expected a non-negative int or a pair (h, w) of them"
            ))
        })
}

/// SmoothGrad's noise level: a float (absolute) or "P%" (of the value range).
fn sigma(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Sigma> {
    let Some(obj) = obj else {
        return Ok(Sigma::Relative(0.15));
    };
    let bad = |s: &str| {
        invalid(format!(
            "noise_sigma `{s}`: expected a non-negative number (absolute, in network-input \
             units) or a percentage of the value range such as \"15%\""
        ))
    };
    if let Ok(s) = obj.cast::<PyString>() {
        let s = s.to_cow()?;
        let p = s.trim().strip_suffix('%').ok_or_else(|| bad(&s))?;
        return match p.trim().parse::<f32>() {
            Ok(v) if v.is_finite() && v >= 0.0 => Ok(Sigma::Relative(v / 100.0)),
            _ => Err(bad(&s)),
        };
    }
    match obj.extract::<f32>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(Sigma::Absolute(v)),
        Ok(v) => Err(bad(&v.to_string())),
        Err(_) => Err(PyTypeError::new_err(
            "noise_sigma: expected a float or a string such as \"15%\"",
        )),
    }
}

/// A baseline: a float everywhere or a `(C, H, W)` float32 array.
fn baseline(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Baseline> {
    match obj {
        None => Ok(Baseline::Value(0.0)),
        Some(o) if o.cast::<numpy::PyUntypedArray>().is_ok() => {
            Ok(Baseline::Tensor(tensor_in(o, "baseline", &[3])?))
        }
        Some(o) => match o.extract::<f32>() {
            Ok(v) => Ok(Baseline::Value(v)),
            Err(_) => Err(PyTypeError::new_err(
                "baseline: expected a float or a float32 (C, H, W) array",
            )),
        },
    }
}

#[pymethods]
impl Attribution {
    #[new]
    #[pyo3(signature = (model, method, *, samples=None, noise_sigma=None, noise_seed=None,
        noise=None, steps=None, quadrature=None, baseline=None, window=None, stride=None,
        batch=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        model: &Model,
        method: &str,
        samples: Option<usize>,
        noise_sigma: Option<&Bound<'_, PyAny>>,
        noise_seed: Option<u64>,
        noise: Option<&Bound<'_, PyAny>>,
        steps: Option<usize>,
        quadrature: Option<&str>,
        baseline: Option<&Bound<'_, PyAny>>,
        window: Option<&Bound<'_, PyAny>>,
        stride: Option<&Bound<'_, PyAny>>,
        batch: Option<usize>,
    ) -> PyResult<Self> {
        let chosen = Method::from_name(method).py_err()?;
        let name = chosen.name();
        const SG: &[&str] = &["smoothgrad"];
        const IG: &[&str] = &["integrated-gradients"];
        let owners = [
            Owner {
                name: "samples",
                given: samples.is_some(),
                methods: SG,
            },
            Owner {
                name: "noise_sigma",
                given: noise_sigma.is_some(),
                methods: SG,
            },
            Owner {
                name: "noise_seed",
                given: noise_seed.is_some(),
                methods: SG,
            },
            Owner {
                name: "noise",
                given: noise.is_some(),
                methods: SG,
            },
            Owner {
                name: "steps",
                given: steps.is_some(),
                methods: IG,
            },
            Owner {
                name: "quadrature",
                given: quadrature.is_some(),
                methods: IG,
            },
            Owner {
                name: "baseline",
                given: baseline.is_some(),
                methods: &["integrated-gradients", "occlusion"],
            },
            Owner {
                name: "window",
                given: window.is_some(),
                methods: &["occlusion"],
            },
            Owner {
                name: "stride",
                given: stride.is_some(),
                methods: &["occlusion"],
            },
            Owner {
                name: "batch",
                given: batch.is_some(),
                methods: &["smoothgrad", "integrated-gradients", "occlusion"],
            },
        ];
        if let Some(o) = owners
            .iter()
            .find(|o| o.given && !o.methods.contains(&name))
        {
            return Err(invalid(format!(
                "{} is a parameter of {}, not of {name}",
                o.name,
                o.methods.join(" and ")
            )));
        }
        if noise.is_some() && (noise_sigma.is_some() || noise_seed.is_some()) {
            return Err(invalid(
                "noise is added as it is: noise_sigma and noise_seed do not apply to it".into(),
            ));
        }
        let batch = batch.unwrap_or(16);
        let method = match chosen {
            Method::SmoothGrad { .. } => {
                let noise = noise.map(|n| tensor_in(n, "noise", &[4])).transpose()?;
                let samples = match (&noise, samples) {
                    (Some(n), Some(s)) if s != n.shape()[0] => {
                        return Err(invalid(format!(
                            "samples = {s}, but noise holds {} copies",
                            n.shape()[0]
                        )))
                    }
                    (Some(n), _) => n.shape()[0],
                    (None, s) => s.unwrap_or(50),
                };
                Method::SmoothGrad {
                    samples,
                    sigma: if noise.is_some() {
                        Sigma::Absolute(0.0)
                    } else {
                        sigma(noise_sigma)?
                    },
                    noise: noise.map_or(Noise::Seeded(noise_seed.unwrap_or(0)), Noise::Given),
                    batch,
                }
            }
            Method::IntegratedGradients { .. } => Method::IntegratedGradients {
                steps: steps.unwrap_or(50),
                baseline: self::baseline(baseline)?,
                quadrature: match quadrature {
                    None => Quadrature::GaussLegendre,
                    Some(q) => Quadrature::from_name(q).ok_or_else(|| {
                        invalid(format!(
                            "quadrature `{q}`: expected gausslegendre, riemann-left, \
                             riemann-right, riemann-middle or riemann-trapezoid"
                        ))
                    })?,
                },
                batch,
            },
            Method::Occlusion { .. } => Method::Occlusion {
                window: pair(window, "window", 16)?,
                stride: pair(stride, "stride", 8)?,
                baseline: self::baseline(baseline)?,
                batch,
            },
            Method::Lrp(_) => {
                return Err(invalid(
                    "LRP is lrp.Explainer(model, preset=...); Attribution runs the baselines"
                        .into(),
                ))
            }
            other => other,
        };
        let graph = model.inner.graph.clone();
        let inner = py.detach(|| Attributor::new(graph, method)).py_err()?;
        Ok(Attribution {
            inner: Arc::new(inner),
            model: model.inner.clone(),
        })
    }

    /// The model being explained.
    #[getter]
    fn model(&self) -> Model {
        Model {
            inner: self.model.clone(),
        }
    }

    /// The method's name (``"smoothgrad"``, ...).
    #[getter]
    fn method(&self) -> &'static str {
        self.inner.method().name()
    }

    /// The names `method` accepts.
    #[staticmethod]
    fn methods() -> Vec<&'static str> {
        METHOD_NAMES.to_vec()
    }

    /// Attributes a float32 C-order ``(N, C, H, W)`` batch to its input values for `target`
    /// (as :meth:`Explainer.explain`: ``"predicted"``, an int, a list of ints or ``"all"``;
    /// "predicted" is the clean image's class, kept for its noisy or occluded copies).
    /// Returns an :class:`Explanation` whose ``relevance`` is the attribution; its
    /// ``conservation`` is empty except for guided and excitation backprop. The GIL is
    /// released while it runs.
    ///
    /// >>> ig = lrp.Attribution(lrp.shipped("gender-v1"), "integrated-gradients", steps=8)
    /// >>> e = ig.explain(x, target=[0, 1])
    /// >>> e.relevance.shape, e.targets
    /// ((1, 2, 3, 32, 32), [[0, 1]])
    #[pyo3(signature = (x, target=None))]
    fn explain(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        target: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Explanation> {
        let a = &self.inner;
        explain_call(py, x, target, |x, t| a.attribute(x, t))
    }

    fn __repr__(&self) -> String {
        format!(
            "<lrp.Attribution {} method {}>",
            self.model.name,
            self.inner.method().label()
        )
    }
}
