//! Randomisation metrics: does the explanation change when the question or the model does?
//! Random Logit (another class) with the similarity measure Quantus uses for it, SSIM, and
//! the Model Parameter Randomisation Test (cascading, layer by layer).

use super::{check_attribution, Prepare};
use crate::attribution::Attributor;
use crate::compare::metrics::spearman;
use crate::error::{Error, Result};
use crate::explain::Target;
use crate::graph::Graph;
use crate::heatmap::{reduce, Reduce};
use crate::ops::Tensor;
use crate::zoo::rng::Rng;
use ndarray::{s, Array2};

/// Structural similarity of two attributions flattened to one dimension, as Quantus's `ssim`
/// computes it with scikit-image's `structural_similarity` (Wang et al., 2004): windows of 7
/// consecutive values (uniform weights, sample covariance), `K₁ = 0.01`, `K₂ = 0.03`, the data
/// range `max − min` over both arrays, and the mean of
///
/// `S = (2μₐμ_b + C₁)(2σ_ab + C₂) / ((μₐ² + μ_b² + C₁)(σₐ² + σ_b² + C₂))`,
/// `C₁ = (K₁ R)²`, `C₂ = (K₂ R)²`
///
/// over the windows that lie wholly inside (positions `3..n−3`). 1 for identical arrays.
///
/// Errors: [`Error::Evaluate`] for arrays of different lengths or shorter than 7.
///
/// ```
/// let a = [0.0, 1.0, 2.0, 3.0, 2.0, 1.0, 0.0, 1.0];
/// assert!((lrp::evaluate::ssim(&a, &a).unwrap() - 1.0).abs() < 1e-6);
/// ```
pub fn ssim(a: &[f64], b: &[f64]) -> Result<f32> {
    const WIN: usize = 7;
    if a.len() != b.len() || a.len() < WIN {
        return Err(Error::Evaluate(format!(
            "ssim: two arrays of one length, at least {WIN}, got {} and {}",
            a.len(),
            b.len()
        )));
    }
    let (lo, hi) = a
        .iter()
        .chain(b)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
            (l.min(v), h.max(v))
        });
    let range = (hi - lo).abs();
    let (c1, c2) = ((0.01 * range).powi(2), (0.03 * range).powi(2));
    let np = WIN as f64;
    let cov_norm = np / (np - 1.0);
    let windows = a.len() - WIN + 1;
    let mut total = 0.0;
    for k in 0..windows {
        let (wa, wb) = (&a[k..k + WIN], &b[k..k + WIN]);
        let mean = |v: &[f64]| v.iter().sum::<f64>() / np;
        let (ux, uy) = (mean(wa), mean(wb));
        let uxx = wa.iter().map(|v| v * v).sum::<f64>() / np;
        let uyy = wb.iter().map(|v| v * v).sum::<f64>() / np;
        let uxy = wa.iter().zip(wb).map(|(x, y)| x * y).sum::<f64>() / np;
        let (vx, vy, vxy) = (
            cov_norm * (uxx - ux * ux),
            cov_norm * (uyy - uy * uy),
            cov_norm * (uxy - ux * uy),
        );
        let num = (2.0 * ux * uy + c1) * (2.0 * vxy + c2);
        let den = (ux * ux + uy * uy + c1) * (vx + vy + c2);
        total += num / den;
    }
    Ok((total / windows as f64) as f32)
}

/// A class other than `target` out of `classes`, uniformly from lrp's seeded generator: the
/// draw of Random Logit.
///
/// Errors: [`Error::Evaluate`] for fewer than 2 classes or a target beyond them.
///
/// ```
/// // With two classes the other one is the only choice.
/// assert_eq!(lrp::evaluate::off_class(0, 2, 42).unwrap(), 1);
/// ```
pub fn off_class(target: usize, classes: usize, seed: u64) -> Result<usize> {
    if classes < 2 || target >= classes {
        return Err(Error::Evaluate(format!(
            "random logit: target {target} of {classes} classes (needs 2 or more)"
        )));
    }
    let k = Rng::new(seed).below(classes - 1);
    Ok(if k >= target { k + 1 } else { k })
}

/// Random Logit (Sixt, Granz & Landgraf, 2020, *When explanations lie: why many modified BP
/// attributions fail*, ICML; Quantus `RandomLogit`): the [`ssim`] between the explanation of
/// the target `a` and that of another class `a_off` (from [`off_class`], or Quantus's draw),
/// both prepared by `prep` (Quantus's default [`Prepare::NORMALISE`]). An explanation that
/// depends on the class scores low; one that ignores it scores 1.
///
/// Errors: [`Error::Evaluate`] for attributions of different or too small (< 7) sizes;
/// [`Error::NonFinite`] for NaN or infinity.
pub fn random_logit(a: &[f32], a_off: &[f32], prep: Prepare) -> Result<f32> {
    check_attribution(a, "random logit")?;
    check_attribution(a_off, "random logit (other class)")?;
    ssim(&prep.apply(a), &prep.apply(a_off))
}

/// The heatmap (relevance summed over channels) of `attributor` on one input `x`
/// (`[1, C, H, W]`) for `class`.
///
/// Errors: the attributor's, and [`Error::Evaluate`] for a batch of more than one input.
pub fn heatmap_of(attributor: &Attributor, x: &Tensor, class: usize) -> Result<Array2<f32>> {
    if x.ndim() != 4 || x.shape()[0] != 1 {
        return Err(Error::Evaluate(format!(
            "one input [1, C, H, W] at a time, got shape {:?}",
            x.shape()
        )));
    }
    let e = attributor.attribute(x, &Target::Class(class))?;
    let r = e.relevance.slice(s![0, 0, .., .., ..]);
    reduce(r, Reduce::Sum)
}

/// [`random_logit`] of `attributor`'s heatmaps of `x` (`[1, C, H, W]`) for `target` and for
/// `off` (e.g. from [`off_class`]).
///
/// Errors: those of [`heatmap_of`] and [`random_logit`].
pub fn random_logit_of(
    attributor: &Attributor,
    x: &Tensor,
    target: usize,
    off: usize,
    prep: Prepare,
) -> Result<f32> {
    let a = heatmap_of(attributor, x, target)?;
    let b = heatmap_of(attributor, x, off)?;
    let (a, b): (Vec<f32>, Vec<f32>) = (a.iter().copied().collect(), b.iter().copied().collect());
    random_logit(&a, &b, prep)
}

/// Indices (into [`Graph::nodes`]) of the layers with parameters, in forward order: the
/// layers the Model Parameter Randomisation Test resets.
pub fn parameter_layers(graph: &Graph) -> Vec<usize> {
    graph
        .nodes()
        .iter()
        .enumerate()
        .filter(|(_, n)| !n.op.params().is_empty())
        .map(|(i, _)| i)
        .collect()
}

/// A copy of `graph` with the parameters of node `node` (its weight, then its bias, as
/// [`Op::params`](crate::ops::Op::params) lists them) replaced by `params`.
///
/// Errors: [`Error::Evaluate`] for a node beyond the graph or parameters of other count or
/// sizes; the graph's for non-finite values.
pub fn with_parameters(graph: &Graph, node: usize, params: &[Vec<f32>]) -> Result<Graph> {
    let mut nodes = graph.nodes().to_vec();
    let n = nodes.get_mut(node).ok_or_else(|| {
        Error::Evaluate(format!(
            "node {node} beyond the graph's {} nodes",
            graph.nodes().len()
        ))
    })?;
    let name = n.name.clone();
    let mut slots = n.op.params_mut();
    let sizes: Vec<usize> = slots.iter().map(|p| p.len()).collect();
    let given: Vec<usize> = params.iter().map(|p| p.len()).collect();
    if sizes != given {
        return Err(Error::Evaluate(format!(
            "node `{name}` has parameters of sizes {sizes:?}, given {given:?}"
        )));
    }
    for (slot, p) in slots.iter_mut().zip(params) {
        slot.copy_from_slice(p);
    }
    let inputs = graph
        .input_ids()
        .iter()
        .map(|&t| {
            let info = &graph.tensors()[t];
            (info.name.clone(), info.shape.clone())
        })
        .collect();
    let outputs = graph.output_names();
    let mut g = Graph::new(inputs, nodes, &outputs)?;
    g.set_name(graph.name());
    Ok(g)
}

/// Seeded new parameters for node `node`, drawn as torch's `reset_parameters` draws them for
/// convolutions and linear layers: uniform in `±1/√fan_in` for the weight (Kaiming uniform
/// with `a = √5`) and the bias, `fan_in` the weight's values per output; from lrp's generator
/// (the distribution, not torch's stream).
///
/// Errors: [`Error::Evaluate`] for a node beyond the graph or without parameters.
pub fn seeded_parameters(graph: &Graph, node: usize, seed: u64) -> Result<Vec<Vec<f32>>> {
    let n = graph.nodes().get(node).ok_or_else(|| {
        Error::Evaluate(format!(
            "node {node} beyond the graph's {} nodes",
            graph.nodes().len()
        ))
    })?;
    let params = n.op.params();
    let outputs = graph
        .shape(&graph.tensors()[graph.node_output(node)].name)
        .and_then(|s| s.first().copied())
        .unwrap_or(1)
        .max(1);
    let weight = params
        .first()
        .ok_or_else(|| Error::Evaluate(format!("node `{}` has no parameters", n.name)))?;
    let fan_in = (weight.len() / outputs).max(1);
    let bound = 1.0 / (fan_in as f32).sqrt();
    let mut rng = Rng::new(seed);
    Ok(params
        .iter()
        .map(|p| {
            (0..p.len())
                .map(|_| (2.0 * rng.uniform() - 1.0) * bound)
                .collect()
        })
        .collect())
}

/// One step of the Model Parameter Randomisation Test.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerScore {
    /// The layer whose parameters were reset at this step (with all layers after it).
    pub layer: String,
    /// Similarity of the explanation to the original one.
    pub score: f32,
}

/// Model Parameter Randomisation Test (Adebayo et al., 2018, *Sanity checks for saliency
/// maps*, NeurIPS; Quantus `MPRT`, cascading `top_down`): the layers with parameters are
/// reset one at a time from the output back to the input, each keeping the ones reset
/// before it, and after each step the heatmap of `x` (`[1, C, H, W]`) for `target` by the
/// same method is compared with the original heatmap: Spearman rank correlation of both
/// prepared by `prep` (Quantus's default [`Prepare::ABS_NORMALISE`]). An explanation that
/// depends on the weights falls towards 0.
///
/// `draw(graph, node)` gives the new parameters of `node` (weight, then bias) given the graph
/// randomised so far: [`seeded_parameters`] with a seed, or another implementation's draws.
/// A layer here is a layer of lrp's canonised graph, which holds the constant per-channel
/// maps of the file folded in ([`canonize`](crate::canonize)): resetting it resets those too,
/// where Quantus on the file's torch module keeps them (`tests/evaluate/generate.py` folds
/// them into its draws to compare like with like).
///
/// Errors: those of [`heatmap_of`], [`with_parameters`] and `draw`.
pub fn mprt(
    attributor: &Attributor,
    x: &Tensor,
    target: usize,
    prep: Prepare,
    mut draw: impl FnMut(&Graph, usize) -> Result<Vec<Vec<f32>>>,
) -> Result<Vec<LayerScore>> {
    let prepared = |h: &Array2<f32>| -> Vec<f32> {
        let v: Vec<f32> = h.iter().copied().collect();
        prep.apply(&v).into_iter().map(|x| x as f32).collect()
    };
    let original = prepared(&heatmap_of(attributor, x, target)?);
    let mut graph = attributor.graph().clone();
    let mut scores = Vec::new();
    for node in parameter_layers(&graph).into_iter().rev() {
        let params = draw(&graph, node)?;
        graph = with_parameters(&graph, node, &params)?;
        let att = Attributor::new(graph.clone(), attributor.method().clone())?;
        let h = prepared(&heatmap_of(&att, x, target)?);
        scores.push(LayerScore {
            layer: graph.nodes()[node].name.clone(),
            score: spearman(&original, &h)?,
        });
    }
    Ok(scores)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssim_closed_forms() {
        // Constant arrays 0 and 1: R = 1, μ = 0 and 1, σ = 0: C₁ / (1 + C₁).
        let s = ssim(&[0.0; 9], &[1.0; 9]).unwrap();
        let c1 = 0.01f64 * 0.01;
        assert!((s as f64 - c1 / (1.0 + c1)).abs() < 1e-9, "{s}");
        assert!(ssim(&[0.0; 6], &[0.0; 6]).is_err());
        for t in 0..5 {
            let o = off_class(t, 5, 9).unwrap();
            assert!(o != t && o < 5);
        }
        assert!(off_class(0, 1, 0).is_err());
    }
}
