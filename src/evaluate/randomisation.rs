//! Randomisation metrics: does the explanation change when the question or the model does?
//! Random Logit (another class) and the similarity measure Quantus uses for it, SSIM.

use super::{check_attribution, Prepare};
use crate::attribution::Attributor;
use crate::error::{Error, Result};
use crate::explain::Target;
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
