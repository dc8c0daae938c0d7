//! Transpose: permute the per-sample axes (ONNX `Transpose` with the batch axis kept first;
//! PyTorch `permute`, the channels-last blocks of ConvNeXt, ShuffleNet's channel shuffle).
//!
//! `y[n, i_{p_0}, …, i_{p_{r−1}}] = x[n, i_0, …, i_{r−1}]`, i.e. output axis `a` is input axis
//! `p_a`: per-sample input `[d_0, …, d_{r−1}]`, output `[d_{p_0}, …, d_{p_{r−1}}]` (any rank).
//! The permutation `perm` is over per-sample axes (0 = the first axis after the batch); the
//! batch axis never moves (the importer refuses an ONNX `perm` that moves it).
//!
//! Relevance: the values only move, so relevance moves back with them,
//! `R_in[n, i_0, …, i_{r−1}] = R_out[n, i_{p_0}, …, i_{p_{r−1}}]` (the inverse permutation);
//! [`Category::Reshape`], [`Route::Pass`]; conserves exactly.
//!
//! ```
//! use lrp::ops::Transpose;
//! use lrp::NodeRef;
//! use ndarray::{ArrayD, IxDyn};
//! // [N, C, H, W] = [1, 2, 1, 3] to channels-last [1, 1, 3, 2].
//! let t = Transpose::new(vec![1, 2, 0]);
//! assert_eq!(t.output_shape(&NodeRef::new("p", "Transpose"), &[2, 1, 3]).unwrap(), vec![1, 3, 2]);
//! let x = ArrayD::from_shape_vec(IxDyn(&[1, 2, 1, 3]), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
//! let y = t.forward(&x);
//! assert_eq!(y.as_slice().unwrap(), &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
//! // Relevance goes back through the inverse permutation.
//! assert_eq!(t.relevance(&[1, 3, 2], vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
//! ```

use super::{Category, Operator, Route, RouteCtx, Tensor};
use crate::error::{Error, NodeRef, Result};
use ndarray::IxDyn;

/// Permutation of the per-sample axes: output axis `a` is input axis `perm[a]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transpose {
    /// The permutation of the per-sample axes (0 = the first axis after the batch).
    pub perm: Vec<usize>,
}

/// `x` (`[N, …]`) with its per-sample axes permuted by `perm`, in standard layout.
fn permute_batch(x: &Tensor, perm: &[usize]) -> Tensor {
    let mut full = Vec::with_capacity(perm.len() + 1);
    full.push(0);
    full.extend(perm.iter().map(|&a| a + 1));
    x.view()
        .permuted_axes(IxDyn(&full))
        .as_standard_layout()
        .into_owned()
}

impl Transpose {
    /// The permutation `perm` of the per-sample axes.
    pub fn new(perm: Vec<usize>) -> Self {
        Transpose { perm }
    }

    /// The inverse permutation: `inverse()[perm[a]] = a`.
    pub fn inverse(&self) -> Vec<usize> {
        let mut inv = vec![0; self.perm.len()];
        for (a, &p) in self.perm.iter().enumerate() {
            if let Some(slot) = inv.get_mut(p) {
                *slot = a;
            }
        }
        inv
    }

    /// Validate against a per-sample input shape and return the permuted shape.
    pub fn output_shape(&self, node: &NodeRef, input: &[usize]) -> Result<Vec<usize>> {
        let mut seen = vec![false; input.len()];
        let valid = self.perm.len() == input.len()
            && self
                .perm
                .iter()
                .all(|&p| p < input.len() && !std::mem::replace(&mut seen[p], true));
        if !valid {
            return Err(Error::param(
                node,
                format!(
                    "perm {:?} is not a permutation of the {} per-sample axes of input {input:?}",
                    self.perm,
                    input.len()
                ),
            ));
        }
        Ok(self.perm.iter().map(|&p| input[p]).collect())
    }

    /// Forward pass on `[N, …]` (validated by [`Transpose::output_shape`]).
    pub fn forward(&self, x: &Tensor) -> Tensor {
        permute_batch(x, &self.perm)
    }

    /// Relevance at the input for relevance `r` at the output (any number of samples of the
    /// per-sample output shape `out`): `r` permuted back by the inverse permutation.
    pub fn relevance(&self, out: &[usize], r: Vec<f32>) -> Vec<f32> {
        let per: usize = out.iter().product();
        if per == 0 || self.perm.iter().enumerate().all(|(a, &p)| a == p) {
            return r;
        }
        let mut shape = vec![r.len() / per];
        shape.extend_from_slice(out);
        let t = Tensor::from_shape_vec(IxDyn(&shape), r).expect("relevance of the output's shape");
        permute_batch(&t, &self.inverse())
            .into_raw_vec_and_offset()
            .0
    }
}

impl Operator for Transpose {
    type Params = Transpose;
    const KIND: &'static str = "Transpose";
    const CATEGORY: Category = Category::Reshape;
    const ROUTES: &'static [Route] = &[Route::Pass, Route::Gradient];

    single_input!(Transpose);

    fn route(p: &Transpose, _route: Route, ctx: &RouteCtx<'_>, r: Vec<f32>) -> Vec<Vec<f32>> {
        vec![p.relevance(ctx.out_shape, r)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::random;
    use crate::ops::Op;

    /// Naive loops: for every input multi-index, the output multi-index is its permutation.
    fn naive(x: &Tensor, perm: &[usize]) -> Tensor {
        let s = x.shape();
        let mut shape = vec![s[0]];
        shape.extend(perm.iter().map(|&p| s[p + 1]));
        let mut y = Tensor::zeros(IxDyn(&shape));
        for (idx, &v) in x.indexed_iter() {
            let mut o = vec![idx[0]];
            o.extend(perm.iter().map(|&p| idx[p + 1]));
            y[IxDyn(&o)] = v;
        }
        y
    }

    /// A pseudo-random permutation of `0..r`.
    fn permutation(rng: &mut crate::zoo::rng::Rng, r: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..r).collect();
        for i in (1..r).rev() {
            p.swap(i, rng.below(i + 1));
        }
        p
    }

    #[test]
    fn matches_naive_loops_up_to_rank_six() {
        let mut rng = crate::zoo::rng::Rng::new(17);
        let node = NodeRef::new("t", "Transpose");
        for t in 0..30 {
            let rank = 1 + t % 5; // per-sample rank 1..5: full rank up to 6
            let mut shape = vec![1 + rng.below(3)];
            shape.extend((0..rank).map(|_| 1 + rng.below(4)));
            let perm = permutation(&mut rng, rank);
            let x = random(&shape, t as u64);
            let op = Transpose::new(perm.clone());
            let want = naive(&x, &perm);
            assert_eq!(
                op.output_shape(&node, &shape[1..]).unwrap(),
                want.shape()[1..].to_vec()
            );
            assert_eq!(op.forward(&x), want);
            // Relevance: the inverse permutation gives back the input element for element,
            // for several maps per image too.
            let k = 2;
            let mut r: Vec<f32> = want.iter().copied().collect();
            r.extend(want.iter().map(|v| -v));
            let back = op.relevance(&want.shape()[1..], r);
            let mut expect: Vec<f32> = x.iter().copied().collect();
            expect.extend(x.iter().map(|v| -v));
            assert_eq!(back.len(), k * x.len());
            assert_eq!(back, expect);
        }
    }

    #[test]
    fn shuffle_of_channels_matches_hand_computed() {
        // ShuffleNet: [g=2, c/g=3, 1, 1] -> [3, 2, 1, 1]: channels 0..6 become 0 3 1 4 2 5.
        let x = Tensor::from_shape_vec(IxDyn(&[1, 2, 3, 1, 1]), (0..6).map(|v| v as f32).collect())
            .unwrap();
        let y = Transpose::new(vec![1, 0, 2, 3]).forward(&x);
        assert_eq!(y.as_slice().unwrap(), &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    }

    #[test]
    fn bad_permutations_name_the_node() {
        let node = NodeRef::new("perm7", "Transpose");
        for perm in [vec![0, 1], vec![0, 0, 1], vec![0, 1, 3]] {
            let msg = Transpose::new(perm)
                .output_shape(&node, &[2, 3, 4])
                .unwrap_err()
                .to_string();
            assert!(
                msg.contains("perm7") && msg.contains("not a permutation"),
                "{msg}"
            );
        }
    }

    #[test]
    fn pass_route_conserves() {
        let op = Op::Transpose(Transpose::new(vec![2, 0, 1]));
        let x = random(&[1, 2, 3, 4], 5);
        let ctx = RouteCtx {
            inputs: &[&x],
            in_shapes: &[&[2, 3, 4]],
            out_shape: &[4, 2, 3],
            k: 1,
            stabilizer: 1e-6,
            gate: None,
        };
        let r: Vec<f32> = (0..24).map(|v| v as f32).collect();
        let back = op.route(Route::Pass, &ctx, r.clone()).unwrap();
        assert_eq!(back[0].iter().sum::<f32>(), r.iter().sum::<f32>());
        assert_eq!(op.category(), Category::Reshape);
    }
}
