//! `lrp.metrics`: the explanation quality metrics of `lrp::evaluate` (Quantus 0.6's
//! definitions) on numpy arrays. The Python wrappers with their docstrings are in
//! `lrp/metrics.py`; these are the native functions they call.

use crate::{tensor_in, to_py, IntoPy, Model};
use lrp::evaluate::{self as ev, Curve, Fill, FlipOrder, Prepare, Score};
use ndarray::{Array3, Ix3};
use numpy::{PyArray1, PyArray2, PyReadonlyArrayDyn, PyUntypedArray};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

fn invalid(msg: String) -> PyErr {
    to_py(lrp::Error::Invalid(msg))
}

/// An attribution of any shape, flattened in C order.
fn flat(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<f32>> {
    let t = tensor_in(obj, what, &[1, 2, 3, 4])?;
    Ok(t.iter().copied().collect())
}

/// A boolean (or 0/1 integer) mask of any shape, flattened in C order.
fn mask(obj: &Bound<'_, PyAny>) -> PyResult<Vec<bool>> {
    if let Ok(a) = obj.extract::<PyReadonlyArrayDyn<'_, bool>>() {
        return Ok(a.as_array().iter().copied().collect());
    }
    if let Ok(a) = obj.extract::<PyReadonlyArrayDyn<'_, u8>>() {
        return Ok(a.as_array().iter().map(|&v| v != 0).collect());
    }
    Err(PyTypeError::new_err(
        "mask: expected a bool or uint8 numpy array (nonzero = inside), the attribution's shape",
    ))
}

fn prepare(abs: bool, normalise: bool) -> Prepare {
    Prepare { abs, normalise }
}

/// One image `[C, H, W]` (or `[1, C, H, W]`).
fn image(obj: &Bound<'_, PyAny>) -> PyResult<Array3<f32>> {
    let t = tensor_in(obj, "x", &[3, 4])?;
    let t = if t.ndim() == 4 {
        if t.shape()[0] != 1 {
            return Err(invalid(format!(
                "x: one image (C, H, W) or (1, C, H, W), got shape {:?}",
                t.shape()
            )));
        }
        t.index_axis_move(ndarray::Axis(0), 0)
    } else {
        t
    };
    Ok(t.into_dimensionality::<Ix3>().expect("rank checked"))
}

/// `"black"`, `"white"` or a number.
fn fill(obj: &Bound<'_, PyAny>) -> PyResult<Fill> {
    if let Ok(s) = obj.cast::<PyString>() {
        return match s.to_cow()?.as_ref() {
            "black" => Ok(Fill::Black),
            "white" => Ok(Fill::White),
            other => Err(invalid(format!(
                "fill `{other}`: expected \"black\", \"white\" or a number"
            ))),
        };
    }
    match obj.extract::<f32>() {
        Ok(v) if v.is_finite() => Ok(Fill::Value(v)),
        _ => Err(PyTypeError::new_err(
            "fill: expected \"black\", \"white\" or a finite number",
        )),
    }
}

fn score(name: &str) -> PyResult<Score> {
    match name {
        "probability" => Ok(Score::Probability),
        "logit" => Ok(Score::Logit),
        other => Err(invalid(format!(
            "score `{other}`: expected \"probability\" or \"logit\""
        ))),
    }
}

fn curve_out<'py>(py: Python<'py>, c: &Curve) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("unperturbed", c.unperturbed)?;
    d.set_item("fractions", PyArray1::from_slice(py, &c.fractions))?;
    d.set_item("scores", PyArray1::from_slice(py, &c.scores))?;
    d.set_item("auc", c.auc())?;
    d.set_item("area", c.area())?;
    Ok(d)
}

fn curve_in(d: &Bound<'_, PyAny>, what: &str) -> PyResult<Curve> {
    let get = |k: &str| {
        d.get_item(k)
            .map_err(|_| PyTypeError::new_err(format!("{what}: a curve from pixel_flipping")))
    };
    Ok(Curve {
        unperturbed: get("unperturbed")?.extract()?,
        fractions: get("fractions")?.extract()?,
        scores: get("scores")?.extract()?,
    })
}

#[pyfunction]
#[pyo3(signature = (a, abs, normalise))]
pub(crate) fn metrics_sparseness(
    a: &Bound<'_, PyAny>,
    abs: bool,
    normalise: bool,
) -> PyResult<f32> {
    ev::sparseness(&flat(a, "a")?, prepare(abs, normalise)).py_err()
}

#[pyfunction]
#[pyo3(signature = (a, abs, normalise))]
pub(crate) fn metrics_complexity(
    a: &Bound<'_, PyAny>,
    abs: bool,
    normalise: bool,
) -> PyResult<f32> {
    ev::complexity(&flat(a, "a")?, prepare(abs, normalise)).py_err()
}

/// A metric of an attribution and a mask.
fn masked(
    a: &Bound<'_, PyAny>,
    mask: &Bound<'_, PyAny>,
    abs: bool,
    normalise: bool,
    metric: impl FnOnce(&[f32], &[bool], Prepare) -> lrp::Result<f32>,
) -> PyResult<f32> {
    let m = self::mask(mask)?;
    metric(&flat(a, "a")?, &m, prepare(abs, normalise)).py_err()
}

#[pyfunction]
#[pyo3(signature = (a, mask, abs, normalise))]
pub(crate) fn metrics_relevance_mass_accuracy(
    a: &Bound<'_, PyAny>,
    mask: &Bound<'_, PyAny>,
    abs: bool,
    normalise: bool,
) -> PyResult<f32> {
    masked(a, mask, abs, normalise, ev::relevance_mass_accuracy)
}

#[pyfunction]
#[pyo3(signature = (a, mask, abs, normalise))]
pub(crate) fn metrics_relevance_rank_accuracy(
    a: &Bound<'_, PyAny>,
    mask: &Bound<'_, PyAny>,
    abs: bool,
    normalise: bool,
) -> PyResult<f32> {
    masked(a, mask, abs, normalise, ev::relevance_rank_accuracy)
}

#[pyfunction]
#[pyo3(signature = (a, mask, weighted, abs, normalise))]
pub(crate) fn metrics_pointing_game(
    a: &Bound<'_, PyAny>,
    mask: &Bound<'_, PyAny>,
    weighted: bool,
    abs: bool,
    normalise: bool,
) -> PyResult<f32> {
    masked(a, mask, abs, normalise, |a, m, p| {
        ev::pointing_game(a, m, p, weighted)
    })
}

#[pyfunction]
#[pyo3(signature = (model, x, a, target, order, features_in_step, fill, score, abs, normalise, batch))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn metrics_pixel_flipping<'py>(
    py: Python<'py>,
    model: &Model,
    x: &Bound<'py, PyAny>,
    a: &Bound<'py, PyAny>,
    target: usize,
    order: &str,
    features_in_step: Option<usize>,
    fill: &Bound<'py, PyAny>,
    score: &str,
    abs: bool,
    normalise: bool,
    batch: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let order = match order {
        "morf" => FlipOrder::MostRelevantFirst,
        "lerf" => FlipOrder::LeastRelevantFirst,
        other => {
            return Err(invalid(format!(
                "order `{other}`: expected \"morf\" (most relevant first) or \"lerf\""
            )))
        }
    };
    let cfg = ev::PixelFlipping {
        features_in_step,
        fill: self::fill(fill)?,
        score: self::score(score)?,
        prepare: prepare(abs, normalise),
        batch,
    };
    let (x, a) = (image(x)?, flat(a, "a")?);
    let graph = &model.inner.graph;
    let c = py
        .detach(|| ev::pixel_flipping(graph, x.view(), &a, target, order, &cfg))
        .py_err()?;
    curve_out(py, &c)
}

#[pyfunction]
pub(crate) fn metrics_srg(morf: &Bound<'_, PyAny>, lerf: &Bound<'_, PyAny>) -> PyResult<f32> {
    Ok(ev::srg(&curve_in(morf, "morf")?, &curve_in(lerf, "lerf")?))
}

#[pyfunction]
pub(crate) fn metrics_random_subsets<'py>(
    py: Python<'py>,
    features: usize,
    size: usize,
    runs: usize,
    seed: u64,
) -> PyResult<Bound<'py, PyArray2<i64>>> {
    let s = ev::random_subsets(features, size, runs, seed).py_err()?;
    let rows: Vec<Vec<i64>> = s
        .into_iter()
        .map(|r| r.into_iter().map(|i| i as i64).collect())
        .collect();
    PyArray2::from_vec2(py, &rows).map_err(|e| invalid(e.to_string()))
}

#[pyfunction]
#[pyo3(signature = (model, x, a, target, subsets, fill, score, abs, normalise, batch))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn metrics_faithfulness_correlation(
    py: Python<'_>,
    model: &Model,
    x: &Bound<'_, PyAny>,
    a: &Bound<'_, PyAny>,
    target: usize,
    subsets: &Bound<'_, PyAny>,
    fill: &Bound<'_, PyAny>,
    score: &str,
    abs: bool,
    normalise: bool,
    batch: usize,
) -> PyResult<f32> {
    let subsets: Vec<Vec<usize>> = if subsets.cast::<PyUntypedArray>().is_ok() {
        let s: PyReadonlyArrayDyn<'_, i64> = subsets.extract().map_err(|_| {
            PyTypeError::new_err("subsets: expected an int64 array (runs, size) of feature indices")
        })?;
        let s = s.as_array();
        if s.ndim() != 2 || s.iter().any(|&i| i < 0) {
            return Err(invalid(
                "subsets: a 2-d array (runs, size) of non-negative feature indices".into(),
            ));
        }
        s.outer_iter()
            .map(|r| r.iter().map(|&i| i as usize).collect())
            .collect()
    } else {
        subsets.extract().map_err(|_| {
            PyTypeError::new_err("subsets: expected lists or an array of feature indices")
        })?
    };
    let cfg = ev::FaithfulnessCorrelation {
        fill: self::fill(fill)?,
        score: self::score(score)?,
        prepare: prepare(abs, normalise),
        batch,
    };
    let (x, a) = (image(x)?, flat(a, "a")?);
    let graph = &model.inner.graph;
    py.detach(|| ev::faithfulness_correlation(graph, x.view(), &a, target, &subsets, &cfg))
        .py_err()
}

/// Registers the functions in `m`.
pub(crate) fn add(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(metrics_sparseness, m)?)?;
    m.add_function(wrap_pyfunction!(metrics_complexity, m)?)?;
    m.add_function(wrap_pyfunction!(metrics_relevance_mass_accuracy, m)?)?;
    m.add_function(wrap_pyfunction!(metrics_relevance_rank_accuracy, m)?)?;
    m.add_function(wrap_pyfunction!(metrics_pointing_game, m)?)?;
    m.add_function(wrap_pyfunction!(metrics_pixel_flipping, m)?)?;
    m.add_function(wrap_pyfunction!(metrics_srg, m)?)?;
    m.add_function(wrap_pyfunction!(metrics_random_subsets, m)?)?;
    m.add_function(wrap_pyfunction!(metrics_faithfulness_correlation, m)?)?;
    Ok(())
}
