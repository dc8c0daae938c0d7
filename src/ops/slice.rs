//! Slice: take every `step`-th element of a range along some per-sample axes (ONNX `Slice`;
//! ONNX `Split` and PyTorch `chunk` become one slice per output).
//!
//! Along each sliced axis `a` of size `d` with `(start, end, step)`, `step ≠ 0` (ONNX
//! semantics, as Python's `x[start:end:step]`): negative `start`/`end` count from the end
//! (`+ d`); for `step > 0` both are clamped to `[0, d]` and the axis keeps
//! `start, start + step, …` while `< end`; for `step < 0` `start` is clamped to `[0, d − 1]`,
//! `end` to `[−1, d − 1]` and the axis keeps `start, start + step, …` while `> end`. Other
//! axes are kept whole:
//!
//! `y[n, …, j, …] = x[n, …, start + j·step, …]`, `0 ≤ j < ⌈(end − start) / step⌉`.
//!
//! Shapes: per-sample input `[d_0, …, d_{r−1}]`, output the same with the sliced axes
//! shortened (a slice that keeps no element is an error).
//!
//! Relevance: each output element's relevance goes back to the input element it was copied
//! from; inputs that were not selected get 0,
//! `R_in[n, …, start + j·step, …] = R_out[n, …, j, …]` (scattered into zeros of the input's
//! shape). [`Category::Reshape`], [`Route::Pass`]; conserves exactly. The slices of one tensor
//! (the outputs of a `Split`) each send their part back and the explainer sums them.
//!
//! ```
//! use lrp::ops::Slice;
//! use lrp::NodeRef;
//! use ndarray::{ArrayD, IxDyn};
//! // Channels 3, 1 (start 3, end 0, step −2) of a [1, 4, 1, 1] tensor.
//! let s = Slice::new(vec![0], vec![3], vec![0], vec![-2]);
//! assert_eq!(s.output_shape(&NodeRef::new("s", "Slice"), &[4, 1, 1]).unwrap(), vec![2, 1, 1]);
//! let x = ArrayD::from_shape_vec(IxDyn(&[1, 4, 1, 1]), vec![10.0, 11.0, 12.0, 13.0]).unwrap();
//! assert_eq!(s.forward(&x).as_slice().unwrap(), &[13.0, 11.0]);
//! // Relevance goes back to channels 3 and 1; channels 0 and 2 get none.
//! assert_eq!(s.relevance(&[4, 1, 1], vec![0.5, 2.0]), vec![0.0, 2.0, 0.0, 0.5]);
//! ```

use super::{Category, Operator, Route, RouteCtx, Tensor};
use crate::error::{Error, NodeRef, Result};
use ndarray::{IxDyn, SliceInfoElem};

/// Slicing of per-sample axes, with ONNX's `starts`, `ends`, `axes` and `steps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    /// The sliced per-sample axes (0 = the first axis after the batch), each at most once.
    pub axes: Vec<usize>,
    /// Start per sliced axis (negative: from the end).
    pub starts: Vec<i64>,
    /// End (exclusive) per sliced axis (negative: from the end).
    pub ends: Vec<i64>,
    /// Step per sliced axis (not 0; negative: backwards).
    pub steps: Vec<i64>,
}

/// The elements one axis keeps: the first index, how many, and the step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    first: usize,
    len: usize,
    step: i64,
}

/// ONNX's resolution of `(start, end, step)` on an axis of size `d` (see the module doc).
fn span(start: i64, end: i64, step: i64, d: usize) -> Span {
    let d = d as i64;
    let from_end = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
    let (s, e) = (from_end(start), from_end(end));
    let (first, len) = if step > 0 {
        let (s, e) = (s.clamp(0, d), e.clamp(0, d));
        (s, if e > s { (e - s - 1) / step + 1 } else { 0 })
    } else {
        let (s, e) = (s.clamp(0, d - 1), e.clamp(-1, d - 1));
        // `unsigned_abs`: a step of i64::MIN from a file has no negation in i64.
        let n = |s: i64, e: i64| ((s - e - 1) as u64 / step.unsigned_abs()) as i64 + 1;
        (s, if s > e { n(s, e) } else { 0 })
    };
    Span {
        first: first.max(0) as usize,
        len: len as usize,
        step,
    }
}

impl Slice {
    /// Slice per-sample `axes` from `starts` to `ends` by `steps` (one entry per axis each).
    pub fn new(axes: Vec<usize>, starts: Vec<i64>, ends: Vec<i64>, steps: Vec<i64>) -> Self {
        Slice {
            axes,
            starts,
            ends,
            steps,
        }
    }

    /// The span of every per-sample axis of `input` (whole axes where not sliced). Shapes
    /// and parameters must have passed [`Slice::output_shape`].
    fn spans(&self, input: &[usize]) -> Vec<Span> {
        let mut spans: Vec<Span> = input
            .iter()
            .map(|&d| Span {
                first: 0,
                len: d,
                step: 1,
            })
            .collect();
        for (i, &a) in self.axes.iter().enumerate() {
            spans[a] = span(self.starts[i], self.ends[i], self.steps[i], input[a]);
        }
        spans
    }

    /// The ndarray slice of `[N, input…]` that the spans select.
    fn info(spans: &[Span]) -> Vec<SliceInfoElem> {
        let mut info = vec![SliceInfoElem::Slice {
            start: 0,
            end: None,
            step: 1,
        }];
        for s in spans {
            info.push(if s.step > 0 {
                SliceInfoElem::Slice {
                    start: s.first as isize,
                    end: Some((s.first + (s.len - 1) * s.step as usize + 1) as isize),
                    step: s.step as isize,
                }
            } else {
                // ndarray walks a negative step from the end of the range backwards.
                let last = s.first - (s.len - 1) * s.step.unsigned_abs() as usize;
                SliceInfoElem::Slice {
                    start: last as isize,
                    end: Some(s.first as isize + 1),
                    step: s.step as isize,
                }
            });
        }
        info
    }

    /// Validate against a per-sample input shape and return the sliced shape.
    pub fn output_shape(&self, node: &NodeRef, input: &[usize]) -> Result<Vec<usize>> {
        let k = self.axes.len();
        if self.starts.len() != k || self.ends.len() != k || self.steps.len() != k {
            return Err(Error::param(
                node,
                format!(
                    "{} axes but {} starts, {} ends and {} steps",
                    k,
                    self.starts.len(),
                    self.ends.len(),
                    self.steps.len()
                ),
            ));
        }
        let mut seen = vec![false; input.len()];
        for (i, &a) in self.axes.iter().enumerate() {
            if a >= input.len() || std::mem::replace(&mut seen[a], true) {
                return Err(Error::param(
                    node,
                    format!(
                        "axes {:?}: per-sample axis {a} is out of range for input {input:?} or repeated",
                        self.axes
                    ),
                ));
            }
            if self.steps[i] == 0 {
                return Err(Error::param(node, format!("step of axis {a} is 0")));
            }
        }
        for (i, &a) in self.axes.iter().enumerate() {
            let (start, end, step) = (self.starts[i], self.ends[i], self.steps[i]);
            if span(start, end, step, input[a]).len == 0 {
                return Err(Error::shape(
                    node,
                    format!(
                        "the slice keeps no element of per-sample axis {a} (size {}, start {start}, end {end}, step {step})",
                        input[a]
                    ),
                ));
            }
        }
        let spans = self.spans(input);
        Ok(spans.iter().map(|s| s.len).collect())
    }

    /// Forward pass on `[N, …]` (validated by [`Slice::output_shape`]).
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let spans = self.spans(&x.shape()[1..]);
        x.slice(Self::info(&spans).as_slice())
            .as_standard_layout()
            .into_owned()
    }

    /// Relevance at the input of per-sample shape `input` for relevance `r` at the output
    /// (any number of samples): scattered back into zeros.
    pub fn relevance(&self, input: &[usize], r: Vec<f32>) -> Vec<f32> {
        let spans = self.spans(input);
        let per_out: usize = spans.iter().map(|s| s.len).product();
        let samples = r.len().checked_div(per_out).unwrap_or(0);
        let mut out_shape = vec![samples];
        out_shape.extend(spans.iter().map(|s| s.len));
        let mut in_shape = vec![samples];
        in_shape.extend_from_slice(input);
        let r = Tensor::from_shape_vec(IxDyn(&out_shape), r).expect("relevance of the output");
        let mut back = Tensor::zeros(IxDyn(&in_shape));
        back.slice_mut(Self::info(&spans).as_slice()).assign(&r);
        back.into_raw_vec_and_offset().0
    }
}

impl Operator for Slice {
    type Params = Slice;
    const KIND: &'static str = "Slice";
    const CATEGORY: Category = Category::Reshape;
    const ROUTES: &'static [Route] = &[Route::Pass, Route::Gradient];

    single_input!(Slice);

    fn route(p: &Slice, _route: Route, ctx: &RouteCtx<'_>, r: Vec<f32>) -> Vec<Vec<f32>> {
        vec![p.relevance(ctx.in_shapes[0], r)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::random;
    use ndarray::Dimension;

    /// Python's `range(start, end, step)` after ONNX's resolution, written out.
    fn indices(start: i64, end: i64, step: i64, d: usize) -> Vec<usize> {
        let d = d as i64;
        let mut s = if start < 0 { start + d } else { start };
        let mut e = if end < 0 { end + d } else { end };
        let mut out = Vec::new();
        if step > 0 {
            s = s.clamp(0, d);
            e = e.clamp(0, d);
            let mut i = s;
            while i < e {
                out.push(i as usize);
                i += step;
            }
        } else {
            s = s.clamp(0, d - 1);
            e = e.clamp(-1, d - 1);
            let mut i = s;
            while i > e {
                out.push(i as usize);
                i += step;
            }
        }
        out
    }

    #[test]
    fn matches_naive_loops() {
        let mut rng = crate::zoo::rng::Rng::new(23);
        let node = NodeRef::new("s", "Slice");
        let mut checked = 0;
        for t in 0..200u64 {
            let shape = [
                1 + rng.below(2),
                1 + rng.below(6),
                1 + rng.below(5),
                1 + rng.below(4),
            ];
            let axis = rng.below(3);
            let pick = |rng: &mut crate::zoo::rng::Rng| rng.below(15) as i64 - 7;
            let (start, end) = (pick(&mut rng), pick(&mut rng));
            let step = [1i64, 2, 3, -1, -2][rng.below(5)];
            let idx = indices(start, end, step, shape[axis + 1]);
            let op = Slice::new(vec![axis], vec![start], vec![end], vec![step]);
            if idx.is_empty() {
                assert!(op.output_shape(&node, &shape[1..]).is_err());
                continue;
            }
            checked += 1;
            let x = random(&shape, t);
            let mut out_shape = shape.to_vec();
            out_shape[axis + 1] = idx.len();
            assert_eq!(
                op.output_shape(&node, &shape[1..]).unwrap(),
                out_shape[1..].to_vec()
            );
            let mut want = Tensor::zeros(IxDyn(&out_shape));
            for (o, v) in want.indexed_iter_mut() {
                let mut i = o.slice().to_vec();
                i[axis + 1] = idx[o[axis + 1]];
                *v = x[IxDyn(&i)];
            }
            let y = op.forward(&x);
            assert_eq!(y, want);
            // Relevance: scattered back, zeros elsewhere.
            let back = op.relevance(&shape[1..], y.iter().copied().collect());
            let mut expect = Tensor::zeros(IxDyn(&shape));
            for (o, v) in want.indexed_iter() {
                let mut i = o.slice().to_vec();
                i[axis + 1] = idx[o[axis + 1]];
                expect[IxDyn(&i)] = *v;
            }
            assert_eq!(back, expect.iter().copied().collect::<Vec<_>>());
        }
        assert!(checked > 50, "{checked} non-empty cases");
    }

    #[test]
    fn several_axes_and_huge_bounds() {
        // ONNX exporters write INT64_MAX / INT64_MIN for "to the end".
        let x = random(&[2, 3, 4, 5], 3);
        let op = Slice::new(
            vec![2, 0],
            vec![1, i64::MAX],
            vec![i64::MAX, i64::MIN],
            vec![2, -1],
        );
        let y = op.forward(&x);
        assert_eq!(y.shape(), &[2, 3, 4, 2]);
        assert_eq!(y[[1, 0, 3, 1]], x[[1, 2, 3, 3]]);
        assert_eq!(y[[0, 2, 0, 0]], x[[0, 0, 0, 1]]);
    }

    #[test]
    fn errors_name_the_node() {
        let node = NodeRef::new("chunk3", "Slice");
        let cases = [
            (Slice::new(vec![0], vec![0], vec![2], vec![0]), "step"),
            (
                Slice::new(vec![3], vec![0], vec![2], vec![1]),
                "out of range",
            ),
            (
                Slice::new(vec![0], vec![2], vec![2], vec![1]),
                "keeps no element",
            ),
            (Slice::new(vec![0], vec![0, 1], vec![2], vec![1]), "starts"),
        ];
        for (op, want) in cases {
            let msg = op.output_shape(&node, &[4, 2, 2]).unwrap_err().to_string();
            assert!(msg.contains("chunk3") && msg.contains(want), "{msg}");
        }
    }
}
