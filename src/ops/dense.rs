//! Fully connected layer (Caffe `InnerProduct`, ONNX `Gemm` or `MatMul` with a constant
//! weight, PyTorch `nn.Linear`).
//!
//! Two ways to read the input:
//!
//! - **flatten** ([`Dense::new`]): `y[n, j] = b[j] + Σ_i w[j, i] · x[n, i]`, where `x[n, ·]`
//!   is the sample flattened in row-major (Caffe's C×H×W) order. Shapes: input `[N, …]`
//!   with `K = ∏ …` features, weight `[M, K]`, optional bias `[M]`, output `[N, M]`.
//! - **last axis** ([`Dense::on_last_axis`], `nn.Linear` on a channels-last `[N, H, W, C]`
//!   tensor as in ConvNeXt): `y[n, …, j] = b[j] + Σ_i w[j, i] · x[n, …, i]`, the leading axes
//!   kept. Shapes: input `[N, d_0, …, d_{r−2}, K]`, output `[N, d_0, …, d_{r−2}, M]`.
//!
//! Relevance: a linear layer, so every linear rule applies ([`Category::Linear`], kind
//! `Dense` either way: composites give dense layers their dense rule, ε in the modern presets,
//! as Zennit does for `nn.Linear` whatever its input's rank). On the last axis, the layer's
//! [`LinearMap`] works row by row: every position of the leading axes is one row `x[n, p, ·]`
//! mapped by the same `[M, K]` weight, so for the ε rule
//! `R[n, p, i] = x[n, p, i] Σ_j w[j, i] R[n, p, j] / s(z[n, p, j])`, and no relevance
//! crosses between positions.
//!
//! ```
//! use lrp::ops::Dense;
//! use ndarray::{array, ArrayD, IxDyn};
//! let d = Dense::new(array![[1.0, 2.0, 3.0], [0.0, -1.0, 1.0]], Some(array![0.5, 0.0]));
//! let x = ArrayD::from_shape_vec(IxDyn(&[1, 3, 1, 1]), vec![1.0, 1.0, 2.0]).unwrap();
//! let y = d.forward(&x);
//! assert_eq!(y.shape(), &[1, 2]);
//! assert_eq!(y.as_slice().unwrap(), &[9.5, 1.0]);
//!
//! // The same weight on the last axis of a [1, 2, 3] input: one row per position.
//! let d = d.on_last_axis();
//! let x = ArrayD::from_shape_vec(IxDyn(&[1, 2, 3]), vec![1.0, 1.0, 2.0, 0.0, 1.0, 0.0]).unwrap();
//! let y = d.forward(&x);
//! assert_eq!(y.shape(), &[1, 2, 2]);
//! assert_eq!(y.as_slice().unwrap(), &[9.5, 1.0, 2.5, -1.0]);
//! ```

use super::{Category, LinearMap, Operator, Tensor};
use crate::error::{Error, NodeRef, Result};
use crate::kernels::{self, MatRef, SyncPtr};
use ndarray::{Array1, Array2, IxDyn};
use rayon::prelude::*;

/// Parameters of a fully connected layer.
#[derive(Debug, Clone)]
pub struct Dense {
    pub(crate) weight: Array2<f32>,
    pub(crate) bias: Option<Array1<f32>>,
    last_axis: bool,
}

impl Dense {
    /// A dense layer with weight `[M, K]` (outputs × inputs) and optional bias `[M]` that
    /// flattens its input.
    pub fn new(weight: Array2<f32>, bias: Option<Array1<f32>>) -> Self {
        Dense {
            weight: super::standard(weight),
            bias: bias.map(super::standard),
            last_axis: false,
        }
    }

    /// The same layer applied to the last axis of its input, keeping the leading axes (see
    /// the module documentation).
    pub fn on_last_axis(mut self) -> Self {
        self.last_axis = true;
        self
    }

    /// Whether the layer maps the last axis and keeps the leading ones (else it flattens).
    pub fn is_on_last_axis(&self) -> bool {
        self.last_axis
    }

    /// Positions of the leading axes of a per-sample input (1 when flattening): the rows
    /// each sample holds.
    pub fn rows(&self, input: &[usize]) -> usize {
        match input.split_last() {
            Some((_, lead)) if self.last_axis => lead.iter().product(),
            _ => 1,
        }
    }

    /// The weight, `[M, K]`.
    pub fn weight(&self) -> &Array2<f32> {
        &self.weight
    }

    /// The bias, `[M]`, if any.
    pub fn bias(&self) -> Option<&Array1<f32>> {
        self.bias.as_ref()
    }

    /// Replace weight and bias with arrays of the same shapes (rewriting passes).
    pub(crate) fn replace_params(&mut self, weight: Array2<f32>, bias: Option<Array1<f32>>) {
        debug_assert_eq!(weight.shape(), self.weight.shape());
        self.weight = super::standard(weight);
        self.bias = bias.map(super::standard);
    }

    pub(crate) fn weight_slice(&self) -> &[f32] {
        self.weight
            .as_slice()
            .expect("dense weight is kept in standard layout")
    }

    /// Number of outputs `M`.
    pub fn out_features(&self) -> usize {
        self.weight.nrows()
    }

    /// Number of inputs `K`.
    pub fn in_features(&self) -> usize {
        self.weight.ncols()
    }

    /// Validate against a per-sample input shape and return `[M]` (flatten) or the input's
    /// shape with its last axis `M` (last axis).
    pub fn output_shape(&self, node: &NodeRef, input: &[usize]) -> Result<Vec<usize>> {
        let k: usize = if self.last_axis {
            input.last().copied().unwrap_or(1)
        } else {
            input.iter().product()
        };
        if let Some(b) = &self.bias {
            if b.len() != self.out_features() {
                return Err(Error::param(
                    node,
                    format!(
                        "bias has {} values for {} outputs",
                        b.len(),
                        self.out_features()
                    ),
                ));
            }
        }
        if k != self.in_features() {
            let what = if self.last_axis {
                "its last axis has"
            } else {
                "has"
            };
            return Err(Error::shape(
                node,
                format!(
                    "input {input:?} {what} {k} features but the weight [{}, {}] expects {}",
                    self.out_features(),
                    self.in_features(),
                    self.in_features()
                ),
            ));
        }
        Ok(match input.split_last() {
            Some((_, lead)) if self.last_axis => {
                let mut out = lead.to_vec();
                out.push(self.out_features());
                out
            }
            _ => vec![self.out_features()],
        })
    }

    /// Forward pass on `[N, …]` (shape validated by [`Dense::output_shape`]).
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let n = x.shape()[0];
        let rows = self.rows(&x.shape()[1..]);
        let (m, k) = (self.out_features(), self.in_features());
        let mut shape = vec![n];
        if self.last_axis {
            shape.extend_from_slice(&x.shape()[1..x.ndim() - 1]);
        }
        shape.push(m);
        let mut y = Tensor::zeros(IxDyn(&shape));
        kernels::dense_forward(
            x.as_slice().expect("standard layout input"),
            n * rows,
            k,
            self.weight_slice(),
            m,
            self.bias.as_ref().and_then(|b| b.as_slice()),
            y.as_slice_mut().expect("fresh tensor"),
        );
        y
    }
}

impl Operator for Dense {
    type Params = Dense;
    const KIND: &'static str = "Dense";
    const CATEGORY: Category = Category::Linear;

    single_input!(Dense);

    fn params(p: &Dense) -> Vec<&[f32]> {
        super::linear::weight_and_bias(&p.weight, p.bias.as_ref())
    }

    fn params_mut(p: &mut Dense) -> Vec<&mut [f32]> {
        super::linear::weight_and_bias_mut(&mut p.weight, p.bias.as_mut())
    }

    fn linear<'a>(p: &'a Dense, input: &[usize]) -> Option<Box<dyn LinearMap + 'a>> {
        let rows = p.rows(input);
        if rows == 1 {
            return Some(Box::new(p));
        }
        Some(Box::new(DenseRows {
            dense: p,
            rows,
            bias: p.bias_values().map(|b| b.repeat(rows)),
        }))
    }
}

/// A dense layer on the last axis with `rows` positions per sample, as a [`LinearMap`]: the
/// same product on every row.
///
/// For the rules the layer is one with `rows · M` output "channels" of one position each,
/// and its bias is the per-channel bias repeated per row (`bias_values` has `rows · M`
/// values), so that rules indexing the bias by output channel read `b[j]` at every position
/// of the channels-last output. Likewise `rows · K` input "channels": zᴮ bounds are one value
/// or one per input element of a sample.
#[derive(Debug)]
struct DenseRows<'a> {
    dense: &'a Dense,
    rows: usize,
    bias: Option<Vec<f32>>,
}

impl LinearMap for DenseRows<'_> {
    fn in_len(&self) -> usize {
        self.rows * self.dense.in_features()
    }

    fn out_len(&self) -> usize {
        self.rows * self.dense.out_features()
    }

    fn weight_values(&self) -> &[f32] {
        self.dense.weight_slice()
    }

    fn bias_values(&self) -> Option<&[f32]> {
        self.bias.as_deref()
    }

    fn out_channels(&self) -> (usize, usize) {
        (self.out_len(), 1)
    }

    fn in_channels(&self) -> (usize, usize) {
        (self.in_len(), 1)
    }

    fn paper_flat(&self) -> f32 {
        self.dense.paper_flat()
    }

    fn forward(&self, x: &[f32], n: usize, w: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
        let (m, k) = (self.dense.out_features(), self.dense.in_features());
        // The bias given is per output "channel" (rows · M values, repeated per row).
        let bias = bias.map(|b| &b[..m]);
        kernels::dense_forward(x, n * self.rows, k, w, m, bias, out)
    }

    fn transpose(&self, s: &[f32], n: usize, w: &[f32], out: &mut [f32]) {
        let d = self.dense;
        dense_transpose(s, n * self.rows, d.out_features(), d.in_features(), w, out)
    }

    /// `s` holds per sample `[s_a (rows · M); s_b (rows · M)]`; regrouped per row as
    /// `[s_a row; s_b row]`, one GEMM with the stacked `[W_a; W_b]` gives
    /// `W_aᵀ s_a + W_bᵀ s_b` row by row.
    fn transpose_stacked(&self, s: &[f32], n: usize, stacked: &[f32], out: &mut [f32]) {
        let (m, k) = (self.dense.out_features(), self.dense.in_features());
        let ol = self.out_len();
        let mut rows = vec![0f32; 2 * n * ol];
        rows.par_chunks_mut(2 * ol)
            .zip(s.par_chunks(2 * ol))
            .for_each(|(dst, src)| {
                let (a, b) = src.split_at(ol);
                for (p, row) in dst.chunks_mut(2 * m).enumerate() {
                    row[..m].copy_from_slice(&a[p * m..(p + 1) * m]);
                    row[m..].copy_from_slice(&b[p * m..(p + 1) * m]);
                }
            });
        dense_transpose(&rows, n * self.rows, 2 * m, k, stacked, out)
    }

    fn transpose_uniform(&self, s: &[f32], n: usize, value: f32, out: &mut [f32]) {
        let (m, k) = (self.dense.out_features(), self.dense.in_features());
        out.par_chunks_mut(k)
            .zip(s.par_chunks(m))
            .take(n * self.rows)
            .for_each(|(o, sr)| o.fill(value * kernels::sum(sr) as f32));
    }
}

impl LinearMap for Dense {
    fn in_len(&self) -> usize {
        self.in_features()
    }

    fn out_len(&self) -> usize {
        self.out_features()
    }

    fn weight_values(&self) -> &[f32] {
        self.weight_slice()
    }

    fn bias_values(&self) -> Option<&[f32]> {
        self.bias().and_then(|b| b.as_slice())
    }

    fn out_channels(&self) -> (usize, usize) {
        (self.out_features(), 1)
    }

    fn in_channels(&self) -> (usize, usize) {
        (self.in_features(), 1)
    }

    fn paper_flat(&self) -> f32 {
        1.0 / self.in_features() as f32
    }

    fn forward(&self, x: &[f32], n: usize, w: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
        kernels::dense_forward(x, n, self.in_features(), w, self.out_features(), bias, out)
    }

    fn transpose(&self, s: &[f32], n: usize, w: &[f32], out: &mut [f32]) {
        dense_transpose(s, n, self.out_features(), self.in_features(), w, out)
    }

    fn transpose_stacked(&self, s: &[f32], n: usize, stacked: &[f32], out: &mut [f32]) {
        dense_transpose(
            s,
            n,
            2 * self.out_features(),
            self.in_features(),
            stacked,
            out,
        )
    }

    fn transpose_uniform(&self, s: &[f32], n: usize, value: f32, out: &mut [f32]) {
        let (il, ol) = (self.in_len(), self.out_len());
        out.par_chunks_mut(il)
            .zip(s.par_chunks(ol))
            .take(n)
            .for_each(|(o, sr)| o.fill(value * kernels::sum(sr) as f32));
    }
}

/// `out[n×k] = s[n×m] · W[m×k]`, parallel over blocks of input features.
fn dense_transpose(s: &[f32], n: usize, m: usize, k: usize, w: &[f32], out: &mut [f32]) {
    let blocks = kernels::split_range(k, kernels::tasks_for(n * m * k), 64);
    let op = SyncPtr::new(out);
    blocks.par_iter().for_each(|&(j0, j1)| {
        // SAFETY: each block writes only columns j0..j1 of every row; blocks are disjoint.
        let out = unsafe { op.slice() };
        kernels::sgemm(
            n,
            j1 - j0,
            m,
            MatRef::row_major(s, m),
            MatRef {
                data: &w[j0..],
                rs: k,
                cs: 1,
            },
            &mut out[j0..],
            k,
            false,
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::{assert_close, random};

    fn naive(d: &Dense, x: &Tensor) -> Tensor {
        let n = x.shape()[0];
        let flat: Vec<f32> = x.iter().copied().collect();
        let (m, k) = (d.out_features(), d.in_features());
        let mut y = Tensor::zeros(IxDyn(&[n, m]));
        for b in 0..n {
            for j in 0..m {
                let mut acc = d.bias.as_ref().map_or(0.0, |bb| bb[j] as f64);
                for i in 0..k {
                    acc += d.weight[[j, i]] as f64 * flat[b * k + i] as f64;
                }
                y[[b, j]] = acc as f32;
            }
        }
        y
    }

    #[test]
    fn matches_naive_on_random_shapes() {
        let mut rng = crate::zoo::rng::Rng::new(5);
        for t in 0..20 {
            let n = 1 + rng.below(9);
            let shape = [1 + rng.below(6), 1 + rng.below(5), 1 + rng.below(5)];
            let k: usize = shape.iter().product();
            let m = 1 + rng.below(70);
            let w = random(&[m, k], t).into_dimensionality().unwrap();
            let b = (t % 2 == 0).then(|| random(&[m], t + 100).into_dimensionality().unwrap());
            let d = Dense::new(w, b);
            let x = random(&[n, shape[0], shape[1], shape[2]], t + 200);
            assert_eq!(
                d.output_shape(&NodeRef::new("fc", "Dense"), &shape)
                    .unwrap(),
                vec![m]
            );
            assert_close(&d.forward(&x), &naive(&d, &x), 1e-5);
        }
    }

    #[test]
    fn wrong_input_size_is_an_error_naming_the_node() {
        let d = Dense::new(Array2::zeros((4, 10)), None);
        let err = d
            .output_shape(&NodeRef::new("fc6", "Dense"), &[3, 2, 2])
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("fc6") && msg.contains("12 features"), "{msg}");
    }
}

#[cfg(test)]
mod last_axis_tests {
    use super::*;
    use crate::ops::testutil::{assert_close, random};
    use crate::rules::{Convention, LinearPlan, Rule, RuleSpec};

    /// Naive loops over `[N, …, K]`: every leading position is one row.
    fn naive(d: &Dense, x: &Tensor) -> Tensor {
        let s = x.shape();
        let k = s[s.len() - 1];
        let mut shape = s.to_vec();
        *shape.last_mut().unwrap() = d.out_features();
        let flat: Vec<f32> = x.iter().copied().collect();
        let mut y = Tensor::zeros(IxDyn(&shape));
        for (o, v) in y.iter_mut().enumerate() {
            let (row, j) = (o / d.out_features(), o % d.out_features());
            let mut acc = d.bias.as_ref().map_or(0.0, |b| b[j] as f64);
            for i in 0..k {
                acc += d.weight[[j, i]] as f64 * flat[row * k + i] as f64;
            }
            *v = acc as f32;
        }
        y
    }

    #[test]
    fn matches_naive_on_random_shapes() {
        let mut rng = crate::zoo::rng::Rng::new(8);
        let node = NodeRef::new("fc", "Dense");
        for t in 0..20 {
            let lead: Vec<usize> = (0..1 + t % 3).map(|_| 1 + rng.below(5)).collect();
            let (k, m) = (1 + rng.below(9), 1 + rng.below(9));
            let w = random(&[m, k], t).into_dimensionality().unwrap();
            let b = (t % 2 == 0).then(|| random(&[m], t + 50).into_dimensionality().unwrap());
            let d = Dense::new(w, b).on_last_axis();
            let mut per = lead.clone();
            per.push(k);
            let mut want = lead.clone();
            want.push(m);
            assert_eq!(d.output_shape(&node, &per).unwrap(), want);
            let mut shape = vec![1 + rng.below(3)];
            shape.extend_from_slice(&per);
            let x = random(&shape, t + 100);
            assert_close(&d.forward(&x), &naive(&d, &x), 1e-5);
        }
        let d = Dense::new(Array2::zeros((2, 3)), None).on_last_axis();
        let msg = d.output_shape(&node, &[4, 5]).unwrap_err().to_string();
        assert!(msg.contains("last axis has 5 features"), "{msg}");
    }

    /// The rows map equals a flatten Dense with the block-diagonal weight `I_rows ⊗ W` and
    /// the bias repeated per row, under every linear rule whose weights keep zeros zero (the
    /// sign-split form of α-β and z⁺ included), for two maps per image. (The flat rule's
    /// receptive field is one row, not the whole block-diagonal matrix: see
    /// `flat_rule_stays_in_its_row`.)
    #[test]
    fn every_rule_agrees_with_the_block_diagonal_matrix() {
        let (rows, k, m, n, maps) = (3, 4, 5, 2, 2);
        let w: Array2<f32> = random(&[m, k], 1).into_dimensionality().unwrap();
        let b: Array1<f32> = random(&[m], 2).into_dimensionality().unwrap();
        let rowwise = Dense::new(w.clone(), Some(b.clone())).on_last_axis();
        let mut big = Array2::<f32>::zeros((rows * m, rows * k));
        for p in 0..rows {
            big.slice_mut(ndarray::s![p * m..(p + 1) * m, p * k..(p + 1) * k])
                .assign(&w);
        }
        let flat = Dense::new(big, Some(Array1::from(b.to_vec().repeat(rows))));
        let a = <Dense as Operator>::linear(&rowwise, &[rows, k]).unwrap();
        let bmap = <Dense as Operator>::linear(&flat, &[rows * k]).unwrap();
        // Non-negative inputs for the split form, mixed for the rest.
        for (seed, nonneg) in [(3u64, true), (4, false)] {
            let mut x: Vec<f32> = random(&[n * rows * k], seed).iter().copied().collect();
            if nonneg {
                x.iter_mut().for_each(|v| *v = v.abs());
            }
            let r: Vec<f32> = random(&[n * maps * rows * m], seed + 10)
                .iter()
                .copied()
                .collect();
            let mut za = vec![0f32; n * rows * m];
            let mut zb = vec![0f32; n * rows * m];
            a.forward(&x, n, a.weight_values(), a.bias_values(), &mut za);
            bmap.forward(&x, n, bmap.weight_values(), bmap.bias_values(), &mut zb);
            for (p, q) in za.iter().zip(&zb) {
                assert!((p - q).abs() < 1e-5);
            }
            let rules = [
                Rule::Epsilon { epsilon: 0.01 },
                Rule::ZPlus,
                Rule::AlphaBeta {
                    alpha: 2.0,
                    beta: 1.0,
                },
                Rule::Gamma { gamma: 0.25 },
                Rule::WSquare,
                Rule::ZBox {
                    low: vec![-1.0],
                    high: vec![1.0],
                },
            ];
            for rule in rules {
                for conv in [Convention::Modern, Convention::Paper] {
                    let spec = RuleSpec::new(rule.clone(), conv);
                    let node = NodeRef::new("fc", "Dense");
                    let pa = LinearPlan::new(&node, a.as_ref(), spec.clone()).unwrap();
                    let pb = LinearPlan::new(&node, bmap.as_ref(), spec).unwrap();
                    let ra = pa.relevance(a.as_ref(), &x, &za, &r, n, maps);
                    let rb = pb.relevance(bmap.as_ref(), &x, &zb, &r, n, maps);
                    assert_close(
                        &Array1::from(ra).into_dyn(),
                        &Array1::from(rb).into_dyn(),
                        1e-5,
                    );
                    if nonneg && pa.has_split() {
                        let mut z1 = vec![0f32; n * rows * m];
                        let mut z2 = vec![0f32; n * rows * m];
                        let p1 = pa.split_forward(a.as_ref(), &x, n, &mut z1).unwrap();
                        let p2 = pb.split_forward(bmap.as_ref(), &x, n, &mut z2).unwrap();
                        let s1 = pa.relevance_split(a.as_ref(), &x, &p1, &r, n, maps);
                        let s2 = pb.relevance_split(bmap.as_ref(), &x, &p2, &r, n, maps);
                        assert_close(
                            &Array1::from(s1).into_dyn(),
                            &Array1::from(s2).into_dyn(),
                            1e-5,
                        );
                    }
                }
            }
        }
    }

    /// Flat on the last axis: every output of a row spreads its relevance evenly over the
    /// `K` inputs of its row, `R[n, p, i] = Σ_j R[n, p, j] / K` (modern and paper alike).
    #[test]
    fn flat_rule_stays_in_its_row() {
        let (rows, k, m) = (3, 4, 2);
        let d = Dense::new(random(&[m, k], 1).into_dimensionality().unwrap(), None).on_last_axis();
        let map = <Dense as Operator>::linear(&d, &[rows, k]).unwrap();
        let x: Vec<f32> = random(&[rows * k], 2).iter().copied().collect();
        let r: Vec<f32> = (0..rows * m).map(|v| v as f32 + 1.0).collect();
        let mut z = vec![0f32; rows * m];
        map.forward(&x, 1, map.weight_values(), None, &mut z);
        for conv in [Convention::Modern, Convention::Paper] {
            let spec = RuleSpec::new(Rule::Flat, conv);
            let plan = LinearPlan::new(&NodeRef::new("fc", "Dense"), map.as_ref(), spec).unwrap();
            let got = plan.relevance(map.as_ref(), &x, &z, &r, 1, 1);
            for (i, g) in got.iter().enumerate() {
                let p = i / k;
                let want: f32 = r[p * m..(p + 1) * m].iter().sum::<f32>() / k as f32;
                assert!((g - want).abs() < 1e-5, "{conv:?} {i}: {g} vs {want}");
            }
        }
    }
}
