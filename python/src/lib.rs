//! `lrp._lrp`: the native module of the Python package `lrp` (see `python/lrp/__init__.py`
//! for the documented Python API and `python/lrp/__init__.pyi` for its types).
//!
//! Conventions, the same in every function:
//! - Arrays in are numpy arrays of the documented dtype (float32 for tensors and relevance,
//!   uint8 for images) in C order. Anything else is refused with a `TypeError` (wrong dtype,
//!   not a numpy array) or a `ValueError` (not C-contiguous, wrong rank) that says how to
//!   convert; nothing is converted silently. The data is copied once into the engine's own
//!   tensor, so the caller may change the array while a call runs without the GIL.
//! - Arrays out are numpy arrays that take over the engine's buffers (no copy).
//! - Every computation runs with the GIL released (`Python::detach`); one `Explainer` may be
//!   used from several threads at once (it is immutable after construction).
//! - Every `lrp::Error` becomes the Python exception class of its kind (`lrp.ShapeError`,
//!   `lrp.InvalidError`, …), all subclasses of `lrp.Error`, with the library's message.

use lrp::compare::{self, Baseline, FlipConfig, Order, SpectralConfig};
use lrp::composite::{Composite, Selector};
use lrp::explain::{LayerConservation, Target};
use lrp::heatmap::{self, Colormap, Normalize, Reduce, Upsample};
use lrp::preprocess::{self, FaceBox, RgbImage};
use lrp::rules::RuleSpec;
use lrp::Tensor;
use ndarray::{Array2, Array3, ArrayD, Axis, IxDyn};
use numpy::{
    IntoPyArray, PyArrayDescrMethods, PyArrayDyn, PyReadonlyArrayDyn, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyString};
use std::path::PathBuf;
use std::sync::Arc;

mod attribution;
mod metrics;

// ---------------------------------------------------------------------------------------
// Exceptions: one class per kind of lrp::Error.

// Module `lrp`, where users import them from (the package re-exports the native module's
// names): tracebacks then say `lrp.IoError`, and pickle (e.g. multiprocessing sending an
// error back) finds the class again, which it could not under the private `_lrp`.
pyo3::create_exception!(
    lrp,
    Error,
    PyException,
    "Base class of every error the lrp library reports; the message is the library's."
);

/// Declares one exception class per error kind and the mapping from `lrp::Error`.
macro_rules! error_kinds {
    ($($variant:ident => $class:ident: $doc:literal),* $(,)?) => {
        $(pyo3::create_exception!(lrp, $class, Error, $doc);)*

        /// The Python exception for `e`, carrying its message.
        fn to_py(e: lrp::Error) -> PyErr {
            let msg = e.to_string();
            match e {
                $(lrp::Error::$variant { .. } => $class::new_err(msg),)*
                _ => Error::new_err(msg),
            }
        }

        /// Adds `Error` and every kind's class to the module.
        fn add_errors(m: &Bound<'_, PyModule>) -> PyResult<()> {
            let py = m.py();
            m.add("Error", py.get_type::<Error>())?;
            $(m.add(stringify!($class), py.get_type::<$class>())?;)*
            Ok(())
        }
    };
}

error_kinds! {
    Shape => ShapeError: "A node's input shapes do not fit it (an inconsistent model).",
    Parameter => ParameterError: "A node's parameters are invalid, or LRP has no rule for the layer.",
    Graph => GraphError: "The model's wiring is broken.",
    Invalid => InvalidError: "An option is invalid: unknown preset, malformed rule or selector, a target class the model does not have.",
    InputShape => InputShapeError: "An input tensor does not have the model's input shape.",
    NonFinite => NonFiniteError: "A weight, input, relevance or map holds NaN or infinity.",
    Io => IoError: "A file cannot be read.",
    Parse => ParseError: "A prototxt is malformed.",
    Decode => DecodeError: "A binary model, weights or mean file cannot be decoded.",
    Format => FormatError: "A file decodes but its content is inconsistent or unsupported.",
    Attribute => NodeAttributeError: "An ONNX node attribute is missing or invalid.",
    Export => ExportError: "A graph cannot be written in the requested format.",
    Write => WriteError: "A file cannot be written.",
    ImageTooLarge => ImageTooLargeError: "An image declares more pixels than the decoding limits allow.",
    FaceBox => FaceBoxError: "A face box selects no pixel of its image.",
    Preprocess => PreprocessError: "A preprocessing configuration is invalid or does not fit.",
    Heatmap => HeatmapError: "A heatmap function got an input it cannot use.",
    Compare => CompareError: "A comparison got inputs it cannot use.",
    UnknownName => UnknownNameError: "A name (colour map, reduction, …) is none of the known ones.",
    FileTooLarge => FileTooLargeError: "A file is larger than the limit for its kind.",
    NonFiniteOutput => NonFiniteOutputError: "The model's output holds NaN or infinity for an input.",
    Image => ImageError: "An image cannot be decoded or encoded.",
    MemoryLimit => MemoryLimitError: "Explaining would need more memory than the limit allows.",
    Unsupported => UnsupportedError: "An option this CPU cannot run (precision \"bf16\" without AVX512-BF16).",
}

/// `lrp::Result<T>` → `PyResult<T>`.
trait IntoPy<T> {
    fn py_err(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for lrp::Result<T> {
    fn py_err(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

// ---------------------------------------------------------------------------------------
// Arrays in and out.

/// `obj` as a numpy array of `T` in C order, or a TypeError/ValueError naming `what`.
fn checked_array<'py, T: numpy::Element>(
    obj: &Bound<'py, PyAny>,
    what: &str,
    dtype: &str,
) -> PyResult<PyReadonlyArrayDyn<'py, T>> {
    let untyped = obj.cast::<PyUntypedArray>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{what}: expected a numpy array of {dtype}, got {}",
            obj.get_type()
                .name()
                .map_or_else(|_| "an object".into(), |n| n.to_string())
        ))
    })?;
    let py = obj.py();
    if !untyped.dtype().is_equiv_to(&numpy::dtype::<T>(py)) {
        return Err(PyTypeError::new_err(format!(
            "{what}: expected dtype {dtype}, got {}; convert explicitly, e.g. x.astype(np.{dtype})",
            untyped.dtype()
        )));
    }
    if !untyped.is_c_contiguous() {
        return Err(PyValueError::new_err(format!(
            "{what}: the array must be C-contiguous (row-major); pass np.ascontiguousarray(x)"
        )));
    }
    obj.extract::<PyReadonlyArrayDyn<'py, T>>()
        .map_err(|e| PyTypeError::new_err(format!("{what}: {e}")))
}

/// A float32 C-order array copied into an engine tensor, with its rank checked.
fn tensor_in(obj: &Bound<'_, PyAny>, what: &str, ranks: &[usize]) -> PyResult<Tensor> {
    let a = checked_array::<f32>(obj, what, "float32")?;
    if !ranks.contains(&a.ndim()) {
        return Err(PyValueError::new_err(format!(
            "{what}: expected {} dimensions, got shape {:?}",
            ranks
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join(" or "),
            a.shape()
        )));
    }
    let data = a
        .as_slice()
        .map_err(|e| PyValueError::new_err(format!("{what}: {e}")))?;
    ArrayD::from_shape_vec(IxDyn(a.shape()), data.to_vec())
        .map_err(|e| PyValueError::new_err(format!("{what}: {e}")))
}

/// A 2-D heatmap from a `[C, H, W]` relevance (reduced over channels by `how`) or an
/// `[H, W]` map (taken as it is).
fn map_in(obj: &Bound<'_, PyAny>, what: &str, how: Reduce) -> PyResult<Array2<f32>> {
    let t = tensor_in(obj, what, &[2, 3])?;
    match t.ndim() {
        2 => Ok(t.into_dimensionality().expect("rank checked")),
        _ => {
            let r: Array3<f32> = t.into_dimensionality().expect("rank checked");
            heatmap::reduce(r.view(), how).py_err()
        }
    }
}

/// A uint8 `[H, W, 3]` C-order array as an RGB image.
fn image_in(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<RgbImage> {
    let a = checked_array::<u8>(obj, what, "uint8")?;
    let shape = a.shape().to_vec();
    let (h, w) = match shape[..] {
        [h, w, 3] => (h, w),
        _ => {
            return Err(PyValueError::new_err(format!(
                "{what}: expected an RGB image of shape (H, W, 3), got {shape:?}"
            )))
        }
    };
    let too_large = || PyValueError::new_err(format!("{what}: image of {h}×{w} is too large"));
    let (h, w) = (
        u32::try_from(h).map_err(|_| too_large())?,
        u32::try_from(w).map_err(|_| too_large())?,
    );
    let data = a
        .as_slice()
        .map_err(|e| PyValueError::new_err(format!("{what}: {e}")))?;
    RgbImage::from_raw(w, h, data.to_vec()).ok_or_else(too_large)
}

/// An engine tensor as a numpy array, taking over its buffer when it is in standard layout.
fn array_out<'py, D: ndarray::Dimension>(
    py: Python<'py>,
    a: ndarray::Array<f32, D>,
) -> Bound<'py, PyArrayDyn<f32>> {
    let a = a.into_dyn();
    let a = if a.is_standard_layout() {
        a
    } else {
        a.as_standard_layout().into_owned()
    };
    a.into_pyarray(py)
}

/// An RGB image as a uint8 `[H, W, 3]` numpy array (no copy).
fn image_out(py: Python<'_>, img: RgbImage) -> PyResult<Bound<'_, PyArrayDyn<u8>>> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let a = ArrayD::from_shape_vec(IxDyn(&[h, w, 3]), img.into_raw())
        .map_err(|e| PyValueError::new_err(format!("image: {e}")))?;
    Ok(a.into_pyarray(py))
}

/// A path from `str` or `os.PathLike`.
fn path_in(obj: &Bound<'_, PyAny>) -> PyResult<PathBuf> {
    obj.extract::<PathBuf>()
}

fn reduction(name: &str) -> lrp::Result<Reduce> {
    match name {
        "sum" => Ok(Reduce::Sum),
        "l2" | "l2-norm" => Ok(Reduce::L2Norm),
        "max-abs" | "maxabs" => Ok(Reduce::MaxAbs),
        _ => Err(lrp::Error::UnknownName {
            kind: "reduction",
            name: name.to_string(),
            valid: "sum, l2, max-abs".into(),
        }),
    }
}

fn normalization(percentile: Option<f32>) -> Normalize {
    match percentile {
        Some(p) => Normalize::percentile(p),
        None => Normalize::default(),
    }
}

fn upsampling(bilinear: bool) -> Upsample {
    if bilinear {
        Upsample::Bilinear
    } else {
        Upsample::Nearest
    }
}

// ---------------------------------------------------------------------------------------
// Models.

/// A loaded model: its canonised graph, preprocessing and labels (from `lrp.load` or
/// `lrp.shipped`).
///
/// >>> m = lrp.load("assets/gender-v1.onnx")
/// >>> m.name, m.input_shape, m.classes, m.labels
/// ('gender-v1', [3, 32, 32], 2, ['female', 'male'])
/// >>> m.layers[0]["kind"], m.info()["params"] > 0
/// ('Conv', True)
#[pyclass(module = "lrp", frozen)]
struct Model {
    inner: Arc<lrp::model::Model>,
}

#[pymethods]
impl Model {
    /// Short name (`gender-v1`, the file stem, …).
    #[getter]
    fn name(&self) -> String {
        self.inner.name.clone()
    }

    /// Per-sample input shape `(C, H, W)`.
    #[getter]
    fn input_shape(&self) -> Vec<usize> {
        self.inner.graph.input_shape().to_vec()
    }

    /// Number of classes.
    #[getter]
    fn classes(&self) -> usize {
        self.inner.classes()
    }

    /// Class names, one per class (`class i` where the model has none).
    #[getter]
    fn labels(&self) -> Vec<String> {
        (0..self.inner.classes())
            .map(|i| self.inner.label(i))
            .collect()
    }

    /// What was tolerated while loading (random weights, unknown prototxt fields, …).
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.inner.warnings.clone()
    }

    /// The layers in graph order: dicts with `name`, `kind`, `inputs`, `output_shape`,
    /// `params`.
    #[getter]
    fn layers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let g = &self.inner.graph;
        let list = PyList::empty(py);
        for (i, node) in g.nodes().iter().enumerate() {
            let d = PyDict::new(py);
            d.set_item("name", &node.name)?;
            d.set_item("kind", node.op.kind())?;
            d.set_item("inputs", node.inputs.clone())?;
            d.set_item("output_shape", g.tensors()[g.node_output(i)].shape.clone())?;
            d.set_item("params", node.op.num_params())?;
            list.append(d)?;
        }
        Ok(list)
    }

    /// A summary as a dict: name, architecture, input and output shape, parameters, classes,
    /// labels, warnings and layers (what `lrp info --json` prints).
    ///
    /// >>> lrp.shipped("age-v1").info()["output_shape"]
    /// [81]
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let g = &self.inner.graph;
        let d = PyDict::new(py);
        d.set_item("name", &self.inner.name)?;
        d.set_item(
            "architecture",
            lrp::zoo::Architecture::detect(g).map(|a| a.name()),
        )?;
        d.set_item("input_shape", g.input_shape().to_vec())?;
        d.set_item("output_shape", g.output_shape().to_vec())?;
        d.set_item("params", g.num_params())?;
        d.set_item("classes", self.inner.classes())?;
        d.set_item("labels", self.labels())?;
        d.set_item("warnings", self.warnings())?;
        d.set_item("layers", self.layers(py)?)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "<lrp.Model {} input {:?}, {} classes>",
            self.inner.name,
            self.inner.graph.input_shape(),
            self.inner.classes()
        )
    }
}

/// Loads an ONNX file or a Caffe prototxt (with optional weights, mean image and labels).
#[pyfunction]
#[pyo3(signature = (path, weights=None, mean=None, labels=None))]
fn load(
    py: Python<'_>,
    path: &Bound<'_, PyAny>,
    weights: Option<&Bound<'_, PyAny>>,
    mean: Option<&Bound<'_, PyAny>>,
    labels: Option<&Bound<'_, PyAny>>,
) -> PyResult<Model> {
    let path = path_in(path)?;
    let weights = weights.map(path_in).transpose()?;
    let mean = mean.map(path_in).transpose()?;
    let labels = labels.map(path_in).transpose()?;
    let m = py
        .detach(|| {
            lrp::model::Model::load(
                &path,
                weights.as_deref(),
                mean.as_deref(),
                labels.as_deref(),
            )
        })
        .py_err()?;
    // The file's bytes and the decoding buffers are not reused by explanations: give them
    // back instead of keeping them in the pool.
    ALLOC.release();
    Ok(Model { inner: Arc::new(m) })
}

/// One of the shipped, trained face models (`lrp::model::SHIPPED_MODELS`, the names of the
/// tool's `--model`): `gender-v1` and `age-v1` (dlib's; `gender` and `age` for short),
/// `face-api-gender` and `face-api-age` (face-api's 112×112 age/gender network, one output
/// each, with face-api's preprocessing).
#[pyfunction]
fn shipped(py: Python<'_>, name: &str) -> PyResult<Model> {
    let name = match name {
        "gender" => "gender-v1",
        "age" => "age-v1",
        other => other,
    };
    let m = py.detach(|| lrp::model::Model::shipped(name)).py_err()?;
    Ok(Model { inner: Arc::new(m) })
}

// ---------------------------------------------------------------------------------------
// Explaining.

/// A model prepared for explanations under a composite of rules:
/// `Explainer(model, preset="epsilon-plus-flat", rules=None, epsilon=None, stabilizer=None,
/// flat=None)`.
///
/// `preset` is one of `lrp.presets()`; `rules` maps layer selectors to rules, as `--rule
/// LAYER=RULE` (a layer name, `#N` for the N-th convolution or dense layer counted from 0,
/// `conv`, `dense`, `kind:K`, `category:C`; rules `epsilon[:E]`, `zplus`, `alphabeta[:A,B]`,
/// `gamma[:G]`, `flat`, `wsquare`, `zbox[:L,H]`, `pass`, …); `epsilon`, `stabilizer` and
/// `flat` (the number of flat layers at the input) override the preset's. Immutable: one
/// explainer serves several threads at once.
///
/// >>> ex = lrp.Explainer(lrp.shipped("gender-v1"), preset="epsilon-plus-flat", rules={"#1": "flat"})
/// >>> ex.rules[:2]
/// [('layer_19_conv', 'flat'), ('layer_17_relu', 'pass')]
#[pyclass(module = "lrp", frozen)]
struct Explainer {
    inner: Arc<lrp::explain::Explainer>,
    model: Arc<lrp::model::Model>,
}

/// The composite a preset, rule overrides and rule parameters describe.
fn composite(
    preset: &str,
    rules: Option<Vec<(String, String)>>,
    epsilon: Option<f32>,
    stabilizer: Option<f32>,
    flat: Option<usize>,
) -> lrp::Result<Composite> {
    let mut c = Composite::preset(preset)?;
    if let Some(n) = flat {
        c = c.with_flat_layers(n);
    }
    if let Some(e) = epsilon {
        c = c.with_epsilon(e);
    }
    if let Some(s) = stabilizer {
        c = c.with_stabilizer(s);
    }
    for (layer, rule) in rules.unwrap_or_default() {
        let selector: Selector = layer.parse()?;
        let rule: RuleSpec = rule.parse()?;
        c = c.with_override(selector, rule);
    }
    Ok(c)
}

/// A Python target: "predicted", "all", an int or a list of ints. Returns the target and
/// whether the relevance keeps its class axis.
fn target_in(obj: &Bound<'_, PyAny>) -> PyResult<(Target, bool)> {
    let class = |i: i64| {
        usize::try_from(i).map_err(|_| {
            to_py(lrp::Error::Invalid(format!(
                "target class {i} does not exist: classes are numbered from 0"
            )))
        })
    };
    if let Ok(s) = obj.cast::<PyString>() {
        return match s.to_cow()?.as_ref() {
            "predicted" => Ok((Target::Predicted, false)),
            "all" => Ok((Target::All, true)),
            other => Err(to_py(lrp::Error::Invalid(format!(
                "target `{other}`: expected \"predicted\", \"all\", a class index or a list of them"
            )))),
        };
    }
    if obj.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err(
            "target: expected \"predicted\", \"all\", an int or a list of ints, got a bool",
        ));
    }
    if let Ok(i) = obj.extract::<i64>() {
        return Ok((Target::Class(class(i)?), false));
    }
    if let Ok(list) = obj.extract::<Vec<i64>>() {
        let classes = list.into_iter().map(class).collect::<PyResult<Vec<_>>>()?;
        if classes.is_empty() {
            return Err(to_py(lrp::Error::Invalid(
                "target: the list of classes is empty".into(),
            )));
        }
        return Ok((Target::Classes(classes), true));
    }
    Err(PyTypeError::new_err(
        "target: expected \"predicted\", \"all\", an int or a list of ints",
    ))
}

/// The result of `Explainer.explain` and `Attribution.explain`: `logits`, `relevance`,
/// `targets`, `conservation`.
///
/// >>> e = ex.explain(x)
/// >>> e.logits.shape, e.relevance.shape, e.conservation[0]["node"]
/// ((1, 2), (1, 3, 32, 32), 'layer_1_fc')
#[pyclass(module = "lrp", frozen)]
struct Explanation {
    /// Pre-softmax logits, float32 `(N, classes)`.
    #[pyo3(get)]
    logits: Py<PyAny>,
    /// Input relevance, float32 `(N, C, H, W)` for one target per image, `(N, K, C, H, W)`
    /// for a list of classes or "all".
    #[pyo3(get)]
    relevance: Py<PyAny>,
    /// The classes explained, per image (a list of K ints each).
    #[pyo3(get)]
    targets: Vec<Vec<usize>>,
    /// The per-layer sums as the engine returned them, turned into Python objects on the
    /// first read of `conservation` (most callers never read them, and building a dict and
    /// two arrays per layer on every call was most of the bindings' cost per call).
    sums: Vec<LayerConservation>,
    /// `conservation`, once built.
    conservation: PyOnceLock<Py<PyAny>>,
}

#[pymethods]
impl Explanation {
    /// Per layer walked (from the logits back to the input): a dict with `node`, `kind`,
    /// `relevance_out` and `relevance_in` (float32 arrays of N·K sums). Built on first
    /// access; later reads return the same list.
    #[getter]
    fn conservation(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.conservation
            .get_or_try_init(py, || {
                let layers = PyList::empty(py);
                for l in &self.sums {
                    let d = PyDict::new(py);
                    d.set_item("node", &l.node)?;
                    d.set_item("kind", l.kind)?;
                    d.set_item(
                        "relevance_out",
                        numpy::PyArray1::from_slice(py, &l.relevance_out),
                    )?;
                    d.set_item(
                        "relevance_in",
                        numpy::PyArray1::from_slice(py, &l.relevance_in),
                    )?;
                    layers.append(d)?;
                }
                Ok(layers.into_any().unbind())
            })
            .map(|c| c.clone_ref(py))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let shape = |a: &Py<PyAny>| -> PyResult<String> {
            Ok(a.bind(py).getattr("shape")?.repr()?.to_string())
        };
        Ok(format!(
            "<lrp.Explanation logits {}, relevance {}, targets {:?}>",
            shape(&self.logits)?,
            shape(&self.relevance)?,
            self.targets
        ))
    }
}

fn explanation_out(py: Python<'_>, e: Explanation0, keep_k: bool) -> PyResult<Explanation> {
    let Explanation0 {
        relevance,
        logits,
        targets,
        conservation,
        ..
    } = e;
    let relevance = if keep_k {
        relevance
    } else {
        // One target per image: [n, 1, C, H, W] → [n, C, H, W], a free reshape.
        relevance.remove_axis(Axis(1))
    };
    Ok(Explanation {
        logits: array_out(py, logits).into_any().unbind(),
        relevance: array_out(py, relevance).into_any().unbind(),
        targets,
        sums: conservation,
        conservation: PyOnceLock::new(),
    })
}

type Explanation0 = lrp::explain::Explanation;

/// `explain(x, target)` of a Python `(N, C, H, W)` batch and target, with the GIL released:
/// what `Explainer.explain` and `Attribution.explain` share.
fn explain_call(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    target: Option<&Bound<'_, PyAny>>,
    explain: impl FnOnce(&Tensor, &Target) -> lrp::Result<Explanation0> + Send,
) -> PyResult<Explanation> {
    let x = tensor_in(x, "x", &[4])?;
    let (target, keep_k) = match target {
        Some(t) => target_in(t)?,
        None => (Target::Predicted, false),
    };
    let e = py.detach(|| explain(&x, &target)).py_err()?;
    explanation_out(py, e, keep_k)
}

#[pymethods]
impl Explainer {
    #[new]
    #[pyo3(signature = (model, preset="epsilon-plus-flat", rules=None, epsilon=None, stabilizer=None, flat=None))]
    fn new(
        py: Python<'_>,
        model: &Model,
        preset: &str,
        rules: Option<&Bound<'_, PyDict>>,
        epsilon: Option<f32>,
        stabilizer: Option<f32>,
        flat: Option<usize>,
    ) -> PyResult<Self> {
        let rules = rules
            .map(|d| {
                d.iter()
                    .map(|(k, v)| Ok((k.extract::<String>()?, v.extract::<String>()?)))
                    .collect::<PyResult<Vec<_>>>()
            })
            .transpose()?;
        let m = model.inner.clone();
        let inner = py
            .detach(|| {
                let c = composite(preset, rules, epsilon, stabilizer, flat)?;
                lrp::explain::Explainer::new(m.graph.clone(), &c)
            })
            .py_err()?;
        Ok(Explainer {
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

    /// The composite's name (the preset).
    #[getter]
    fn preset(&self) -> String {
        self.inner.composite().to_string()
    }

    /// The rule of every layer on the path to the logits, `{layer name: rule}`.
    #[getter]
    fn rules(&self) -> Vec<(String, String)> {
        self.inner
            .rule_names()
            .into_iter()
            .filter_map(|(n, r)| r.map(|r| (n, r)))
            .collect()
    }

    /// Pre-softmax logits of a float32 C-order `(N, C, H, W)` batch, float32 `(N, classes)`.
    /// Raises `lrp.NonFiniteOutputError` when a logit is NaN or infinite.
    ///
    /// >>> ex.forward(np.zeros((2, 3, 32, 32), np.float32)).shape
    /// (2, 2)
    fn forward<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        let x = tensor_in(x, "x", &[4])?;
        let ex = &self.inner;
        let logits = py.detach(|| ex.graph().finite_logits(&x)).py_err()?;
        Ok(array_out(py, logits))
    }

    /// Explains a float32 C-order `(N, C, H, W)` batch for `target`: `"predicted"` (the
    /// default: each image's largest logit), a class index, a list of class indices, or
    /// `"all"`. Relevance starts at the target's logit (pre-softmax). Returns an
    /// `Explanation`; its `relevance` is `(N, C, H, W)` for "predicted" or one class and
    /// `(N, K, C, H, W)` for a list or "all". The GIL is released while it runs.
    ///
    /// >>> x = lrp.preprocess("assets/astronaut.png", ex.model, face_box=(150, 30, 260, 150))
    /// >>> e = ex.explain(x, target="all")
    /// >>> e.relevance.shape, e.targets
    /// ((1, 2, 3, 32, 32), [[0, 1]])
    #[pyo3(signature = (x, target=None))]
    fn explain(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        target: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Explanation> {
        let ex = &self.inner;
        explain_call(py, x, target, |x, t| ex.explain(x, t))
    }

    /// For `benches/zennit/overhead.py`, not for use: the milliseconds `rounds` calls of the
    /// Rust `Explainer::explain` take in this process, timed in Rust around the call alone,
    /// for the predicted class. Each result is dropped after its clock stops, as the Rust
    /// worker does. The difference to timing `explain` from Python is the bindings' cost
    /// per call (argument checks, the input copy, building the `Explanation`), measured in
    /// one process with the same allocator state.
    #[pyo3(signature = (x, rounds=1))]
    fn _rust_explain_ms(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        rounds: usize,
    ) -> PyResult<Vec<f64>> {
        let x = tensor_in(x, "x", &[4])?;
        let ex = &self.inner;
        py.detach(|| {
            (0..rounds)
                .map(|_| {
                    let t = std::time::Instant::now();
                    let e = ex.explain(&x, &Target::Predicted);
                    let ms = t.elapsed().as_secs_f64() * 1e3;
                    e.map(|_| ms)
                })
                .collect::<lrp::Result<Vec<f64>>>()
        })
        .py_err()
    }

    fn __repr__(&self) -> String {
        format!(
            "<lrp.Explainer {} preset {}>",
            self.model.name,
            self.inner.composite()
        )
    }
}

// ---------------------------------------------------------------------------------------
// Preprocessing.

/// One image (a path or a uint8 `(H, W, 3)` array) cut to its face box.
fn face_in(obj: &Bound<'_, PyAny>, face_box: Option<FaceBox>) -> PyResult<FaceSource> {
    if obj.cast::<PyUntypedArray>().is_ok() {
        Ok(FaceSource::Image(image_in(obj, "image")?, face_box))
    } else if let Ok(p) = path_in(obj) {
        Ok(FaceSource::Path(p, face_box))
    } else {
        Err(PyTypeError::new_err(
            "image: expected a path (str or os.PathLike) or a uint8 numpy array (H, W, 3)",
        ))
    }
}

enum FaceSource {
    Path(PathBuf, Option<FaceBox>),
    Image(RgbImage, Option<FaceBox>),
}

impl FaceSource {
    fn crop(self) -> lrp::Result<RgbImage> {
        match self {
            FaceSource::Path(p, b) => preprocess::load_face(p, b),
            FaceSource::Image(img, Some(b)) => preprocess::crop(&img, b),
            FaceSource::Image(img, None) => Ok(img),
        }
    }
}

/// The network input for one image or a list of images.
#[pyfunction(name = "preprocess")]
#[pyo3(signature = (images, model, face_box=None))]
fn preprocess_images<'py>(
    py: Python<'py>,
    images: &Bound<'py, PyAny>,
    model: &Model,
    face_box: Option<(i64, i64, i64, i64)>,
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    let b = face_box.map(|(l, t, r, bo)| FaceBox::new(l, t, r, bo));
    let sources = if let Ok(list) = images.cast::<PyList>() {
        list.iter()
            .map(|i| face_in(&i, b))
            .collect::<PyResult<Vec<_>>>()?
    } else {
        vec![face_in(images, b)?]
    };
    let m = model.inner.clone();
    let x = py
        .detach(|| {
            let crops = sources
                .into_iter()
                .map(FaceSource::crop)
                .collect::<lrp::Result<Vec<_>>>()?;
            preprocess::to_tensor(&crops, &m.preprocess)
        })
        .py_err()?;
    Ok(array_out(py, x))
}

// ---------------------------------------------------------------------------------------
// Heatmaps.

/// A relevance map rendered as an RGB uint8 `(H, W, 3)` image.
#[pyfunction(name = "heatmap")]
#[pyo3(signature = (relevance, colormap="black-firered", reduction="sum", percentile=None, size=None, bilinear=false))]
fn render_heatmap<'py>(
    py: Python<'py>,
    relevance: &Bound<'py, PyAny>,
    colormap: &str,
    reduction: &str,
    percentile: Option<f32>,
    size: Option<(usize, usize)>,
    bilinear: bool,
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let how = self::reduction(reduction).py_err()?;
    let map = map_in(relevance, "relevance", how)?;
    let img = py
        .detach(|| {
            let cmap = Colormap::from_name(colormap)?;
            let n = heatmap::normalize(&map, &normalization(percentile))?;
            let (h, w) = size.unwrap_or(n.map.dim());
            heatmap::render_upsampled(&n.map, &cmap, h, w, upsampling(bilinear))
        })
        .py_err()?;
    image_out(py, img)
}

/// A relevance map blended onto an image (the map upsampled to the image's size).
#[pyfunction]
#[pyo3(signature = (image, relevance, colormap="black-firered", reduction="sum", percentile=None, gamma=0.6, alpha=0.85, bilinear=false))]
#[allow(clippy::too_many_arguments)]
fn overlay<'py>(
    py: Python<'py>,
    image: &Bound<'py, PyAny>,
    relevance: &Bound<'py, PyAny>,
    colormap: &str,
    reduction: &str,
    percentile: Option<f32>,
    gamma: f32,
    alpha: f32,
    bilinear: bool,
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let img = image_in(image, "image")?;
    let how = self::reduction(reduction).py_err()?;
    let map = map_in(relevance, "relevance", how)?;
    let out = py
        .detach(|| {
            let cmap = Colormap::from_name(colormap)?;
            let n = heatmap::normalize(&map, &normalization(percentile))?;
            let up = heatmap::upsample(
                &n.map,
                img.height() as usize,
                img.width() as usize,
                upsampling(bilinear),
            )?;
            heatmap::overlay(&img, &up, &cmap, gamma, alpha)
        })
        .py_err()?;
    image_out(py, out)
}

/// A labelled grid: one row per image, one heatmap column per entry of `columns`.
#[pyfunction]
#[pyo3(signature = (images, maps, columns, row_labels=None, cell_labels=None, colormap="black-firered", reduction="sum", percentile=None, overlay=false, cell_size=None, title=None))]
#[allow(clippy::too_many_arguments)]
fn figure<'py>(
    py: Python<'py>,
    images: Vec<Bound<'py, PyAny>>,
    maps: Vec<Vec<Bound<'py, PyAny>>>,
    columns: Vec<String>,
    row_labels: Option<Vec<String>>,
    cell_labels: Option<Vec<Vec<String>>>,
    colormap: &str,
    reduction: &str,
    percentile: Option<f32>,
    overlay: bool,
    cell_size: Option<(u32, u32)>,
    title: Option<String>,
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    if maps.len() != images.len() {
        return Err(to_py(lrp::Error::Heatmap(format!(
            "figure: {} images but {} rows of maps",
            images.len(),
            maps.len()
        ))));
    }
    let how = self::reduction(reduction).py_err()?;
    let mut rows = Vec::with_capacity(images.len());
    for (i, (img, row_maps)) in images.iter().zip(&maps).enumerate() {
        let img = image_in(img, &format!("images[{i}]"))?;
        let mut row = heatmap::Row::new(img);
        if let Some(l) = row_labels.as_ref().and_then(|l| l.get(i)) {
            row = row.label(l.clone());
        }
        for (j, m) in row_maps.iter().enumerate() {
            let mut cell = heatmap::Cell::new(map_in(m, &format!("maps[{i}][{j}]"), how)?);
            if let Some(l) = cell_labels
                .as_ref()
                .and_then(|l| l.get(i))
                .and_then(|l| l.get(j))
            {
                cell = cell.label(l.clone());
            }
            row = row.cell(cell);
        }
        rows.push(row);
    }
    let img = py
        .detach(|| {
            let mut fig = heatmap::Figure::new(columns)
                .colormap(Colormap::from_name(colormap)?)
                .normalize(normalization(percentile));
            if overlay {
                fig = fig.overlay(0.6, 0.85);
            }
            if let Some((w, h)) = cell_size {
                fig = fig.cell_size(w, h);
            }
            if let Some(t) = title {
                fig = fig.title(t);
            }
            for r in rows {
                fig.push_row(r);
            }
            fig.render()
        })
        .py_err()?;
    image_out(py, img)
}

/// The names of the colour maps.
#[pyfunction]
fn colormaps() -> Vec<&'static str> {
    Colormap::names().collect()
}

/// Sets the process-wide precision of the large matrix products: `"f32"` or `"bf16"`.
#[pyfunction]
fn set_precision(name: &str) -> PyResult<()> {
    let p = lrp::kernels::Precision::parse(name).py_err()?;
    p.check(&format!("precision=\"{}\"", p.name())).py_err()?;
    lrp::kernels::set_precision(p).py_err()
}

/// The process-wide precision: `"f32"` or `"bf16"`.
#[pyfunction]
fn precision() -> &'static str {
    lrp::kernels::precision().name()
}

/// The presets: `(name, description)` pairs.
#[pyfunction]
fn presets() -> Vec<(&'static str, &'static str)> {
    lrp::composite::PRESET_TABLE
        .iter()
        .map(|p| (p.name, p.description))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Comparing.

/// Flattened float32 values of two arrays of one shape.
fn pair_in(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<(Tensor, Tensor)> {
    let ranks: Vec<usize> = (1..=6).collect();
    let (a, b) = (tensor_in(a, "a", &ranks)?, tensor_in(b, "b", &ranks)?);
    if a.shape() != b.shape() {
        return Err(to_py(lrp::Error::Compare(format!(
            "a has shape {:?}, b {:?}; bring them to one grid first (resize_area)",
            a.shape(),
            b.shape()
        ))));
    }
    Ok((a, b))
}

/// Similarity of two maps of one shape: pearson, spearman, cosine or top-iou.
#[pyfunction]
#[pyo3(signature = (a, b, metric="pearson", top=0.1))]
fn compare_similarity(
    py: Python<'_>,
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    metric: &str,
    top: f32,
) -> PyResult<f32> {
    let (a, b) = pair_in(a, b)?;
    let (a, b) = (
        a.as_slice().expect("standard layout"),
        b.as_slice().expect("standard layout"),
    );
    py.detach(|| match metric {
        "pearson" => compare::metrics::pearson(a, b),
        "spearman" => compare::metrics::spearman(a, b),
        "cosine" => compare::metrics::cosine(a, b),
        "top-iou" => compare::metrics::top_iou(a, b, top),
        _ => Err(lrp::Error::UnknownName {
            kind: "metric",
            name: metric.to_string(),
            valid: "pearson, spearman, cosine, top-iou".into(),
        }),
    })
    .py_err()
}

/// A 2-D map averaged onto an `h`×`w` grid (area averaging).
#[pyfunction]
fn compare_resize_area<'py>(
    py: Python<'py>,
    map: &Bound<'py, PyAny>,
    h: usize,
    w: usize,
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    let m: Array2<f32> = tensor_in(map, "map", &[2])?
        .into_dimensionality()
        .expect("rank checked");
    let out = py.detach(|| compare::resize_area(&m, h, w)).py_err()?;
    Ok(array_out(py, out))
}

fn maps_in(maps: &[Bound<'_, PyAny>]) -> PyResult<Vec<Array2<f32>>> {
    maps.iter()
        .enumerate()
        .map(|(i, m)| {
            Ok(tensor_in(m, &format!("maps[{i}]"), &[2])?
                .into_dimensionality()
                .expect("rank checked"))
        })
        .collect()
}

/// The average of 2-D maps of one shape: raw (sum, then normalise) or each normalised first.
#[pyfunction]
#[pyo3(signature = (maps, normalized=false))]
fn compare_average<'py>(
    py: Python<'py>,
    maps: Vec<Bound<'py, PyAny>>,
    normalized: bool,
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    let maps = maps_in(&maps)?;
    let out = py
        .detach(|| {
            if normalized {
                compare::average_normalized(&maps)
            } else {
                compare::average_raw(&maps)
            }
        })
        .py_err()?;
    Ok(array_out(py, out))
}

/// Pixel flipping of one input: the target's logit as patches are replaced in the order a
/// relevance map gives.
#[pyfunction]
#[pyo3(signature = (model, x, relevance, target, patch=4, steps=32, order="most-relevant", seed=0, baseline="mean"))]
#[allow(clippy::too_many_arguments)]
fn compare_pixel_flipping<'py>(
    py: Python<'py>,
    model: &Model,
    x: &Bound<'py, PyAny>,
    relevance: &Bound<'py, PyAny>,
    target: usize,
    patch: usize,
    steps: usize,
    order: &str,
    seed: u64,
    baseline: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let x: Array3<f32> = tensor_in(x, "x", &[3])?
        .into_dimensionality()
        .expect("rank checked");
    let map = map_in(relevance, "relevance", Reduce::Sum)?;
    let order = match order {
        "most-relevant" | "morf" => Order::MostRelevantFirst,
        "least-relevant" | "lerf" => Order::LeastRelevantFirst,
        "random" => Order::Random { seed },
        _ => {
            return Err(to_py(lrp::Error::UnknownName {
                kind: "flipping order",
                name: order.to_string(),
                valid: "most-relevant, least-relevant, random".into(),
            }))
        }
    };
    let baseline = match baseline {
        "mean" => Baseline::Mean,
        "blur" => Baseline::Blur { radius: 3 },
        _ => {
            return Err(to_py(lrp::Error::UnknownName {
                kind: "flipping baseline",
                name: baseline.to_string(),
                valid: "mean, blur".into(),
            }))
        }
    };
    let m = model.inner.clone();
    let curve = py
        .detach(|| {
            let cfg = FlipConfig {
                patch,
                steps,
                baseline,
                ..FlipConfig::default()
            };
            let idx = compare::patch_order(&map, patch, &order)?;
            compare::flip_curve(&m.graph, x.view(), &idx, target, &cfg)
        })
        .py_err()?;
    let d = PyDict::new(py);
    d.set_item("aopc", curve.aopc())?;
    d.set_item("fractions", numpy::PyArray1::from_vec(py, curve.fractions))?;
    d.set_item("scores", numpy::PyArray1::from_vec(py, curve.scores))?;
    Ok(d)
}

/// Spectral relevance analysis: clusters 2-D maps (any sizes).
#[pyfunction]
#[pyo3(signature = (maps, clusters=2, neighbors=5, grid=16, seed=0))]
fn compare_spectral_clustering<'py>(
    py: Python<'py>,
    maps: Vec<Bound<'py, PyAny>>,
    clusters: usize,
    neighbors: usize,
    grid: usize,
    seed: u64,
) -> PyResult<Bound<'py, PyDict>> {
    let maps = maps_in(&maps)?;
    let cfg = SpectralConfig {
        clusters,
        neighbors,
        grid,
        seed,
        ..SpectralConfig::default()
    };
    let s = py
        .detach(|| compare::spectral_clustering(&maps, &cfg))
        .py_err()?;
    let d = PyDict::new(py);
    d.set_item("labels", s.labels)?;
    d.set_item("eigenvalues", numpy::PyArray1::from_vec(py, s.eigenvalues))?;
    d.set_item("eigengaps", numpy::PyArray1::from_vec(py, s.eigengaps))?;
    d.set_item("embedding", array_out(py, s.embedding))?;
    Ok(d)
}

// ---------------------------------------------------------------------------------------

/// Freed activations and rule temporaries are kept for the next call instead of going back to
/// the system after each one (glibc `munmap`s large blocks in a Python process; see
/// [`lrp::memory::Pool`]). Only this module's own allocations go through it, and arrays handed
/// to numpy are freed through it when numpy lets them go. `LRP_POOL=0` turns it off.
#[global_allocator]
static ALLOC: lrp::memory::Pool = lrp::memory::Pool::new(lrp::memory::Pool::DEFAULT_LIMIT);

/// The native module; `lrp/__init__.py` re-exports it with docstrings.
#[pymodule]
fn _lrp(m: &Bound<'_, PyModule>) -> PyResult<()> {
    add_errors(m)?;
    ALLOC.limit_from_env().map_err(to_py)?;
    m.add_class::<Model>()?;
    m.add_class::<Explainer>()?;
    m.add_class::<attribution::Attribution>()?;
    m.add_class::<Explanation>()?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(shipped, m)?)?;
    m.add_function(wrap_pyfunction!(preprocess_images, m)?)?;
    m.add_function(wrap_pyfunction!(render_heatmap, m)?)?;
    m.add_function(wrap_pyfunction!(overlay, m)?)?;
    m.add_function(wrap_pyfunction!(figure, m)?)?;
    m.add_function(wrap_pyfunction!(colormaps, m)?)?;
    m.add_function(wrap_pyfunction!(presets, m)?)?;
    m.add_function(wrap_pyfunction!(set_precision, m)?)?;
    m.add_function(wrap_pyfunction!(precision, m)?)?;
    m.add_function(wrap_pyfunction!(compare_similarity, m)?)?;
    m.add_function(wrap_pyfunction!(compare_resize_area, m)?)?;
    m.add_function(wrap_pyfunction!(compare_average, m)?)?;
    m.add_function(wrap_pyfunction!(compare_pixel_flipping, m)?)?;
    m.add_function(wrap_pyfunction!(compare_spectral_clustering, m)?)?;
    metrics::add(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
