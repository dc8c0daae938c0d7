//! Helpers shared by the ONNX conformance tests (`onnx_light.rs`, `onnx_node.rs`): reading
//! reference tensors stored as serialized ONNX `TensorProto`s and comparing arrays the way
//! `numpy.testing.assert_allclose` does.

use lrp::import::onnx_model::tensor_to_array;
use lrp::import::proto::onnx::TensorProto;
use lrp::Tensor;
use prost::Message;
use std::path::{Path, PathBuf};

/// `tests/data/<sub>`.
pub fn data_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(sub)
}

/// A `.pb` file holding one serialized `TensorProto` (what `onnx.save_tensor` writes and what
/// the ONNX test data sets use), as an `f32` array.
pub fn read_tensor(path: &Path) -> Tensor {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{file}: {e}"));
    let proto = TensorProto::decode(bytes.as_slice())
        .unwrap_or_else(|e| panic!("{file}: not a TensorProto: {e}"));
    tensor_to_array(&proto, &file).unwrap_or_else(|e| panic!("{e}"))
}

/// Panics unless `got` and `want` have the same shape and
/// `|got - want| <= atol + rtol * |want|` everywhere (the `numpy.testing.assert_allclose`
/// criterion the ONNX backend test runner uses), computed in `f64`. The message gives the
/// number of mismatches, the worst one and the first few.
pub fn assert_allclose(what: &str, got: &Tensor, want: &Tensor, rtol: f64, atol: f64) {
    assert_eq!(
        got.shape(),
        want.shape(),
        "{what}: output shape {:?}, reference shape {:?}",
        got.shape(),
        want.shape()
    );
    let mut bad = Vec::new();
    let mut worst: Option<(usize, f64, f64, f64)> = None;
    for (i, (&g, &w)) in got.iter().zip(want.iter()).enumerate() {
        let (g, w) = (f64::from(g), f64::from(w));
        let err = (g - w).abs();
        // NaN-safe: a NaN on either side fails unless both are NaN.
        let ok = if g.is_nan() || w.is_nan() {
            g.is_nan() && w.is_nan()
        } else {
            err <= atol + rtol * w.abs()
        };
        if !ok {
            bad.push((i, g, w));
            let excess = err / (atol + rtol * w.abs());
            if worst.is_none_or(|(_, _, _, e)| excess > e || e.is_nan()) {
                worst = Some((i, g, w, excess));
            }
        }
    }
    if let Some((i, g, w, _)) = worst {
        let first: Vec<String> = bad
            .iter()
            .take(5)
            .map(|(i, g, w)| format!("[{i}] {g} vs {w}"))
            .collect();
        panic!(
            "{what}: {} of {} values differ beyond rtol {rtol:e}, atol {atol:e}; worst at flat \
             index {i}: got {g}, reference {w} (abs err {:e}); first: {}",
            bad.len(),
            want.len(),
            (g - w).abs(),
            first.join(", ")
        );
    }
}
