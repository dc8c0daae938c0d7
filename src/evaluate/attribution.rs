//! Metrics of the attribution alone (and a mask): no forward pass.

use super::{check_attribution, descending, Prepare};
use crate::error::{Error, Result};

/// Sparseness: the Gini index of the attribution (Chalasani et al., 2020, *Concise
/// explanations of neural networks using adversarial training*, ICML; Quantus
/// `Sparseness`). With `a` prepared by `prep` (Quantus's default
/// [`Prepare::ABS_NORMALISE`]), `ε = 1e-7` added to every value and the values sorted
/// ascending as `a₍₁₎ ≤ … ≤ a₍ₙ₎`:
///
/// `G = Σᵢ (2i − n − 1) a₍ᵢ₎ / (n Σᵢ a₍ᵢ₎)`
///
/// 0 for a uniform attribution, `(n − 1)/n` when one feature holds everything; higher is
/// sparser.
///
/// Errors: [`Error::Evaluate`] for no values or a zero sum (possible only without `abs`);
/// [`Error::NonFinite`] for NaN or infinity.
///
/// ```
/// use lrp::evaluate::{sparseness, Prepare};
/// // Uniform: 0 (up to ε).
/// assert!(sparseness(&[1.0; 8], Prepare::ABS_NORMALISE).unwrap().abs() < 1e-6);
/// ```
pub fn sparseness(a: &[f32], prep: Prepare) -> Result<f32> {
    check_attribution(a, "sparseness")?;
    let mut v = prep.apply(a);
    v.iter_mut().for_each(|x| *x += 1e-7);
    v.sort_by(|x, y| x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal));
    let n = v.len() as f64;
    let sum: f64 = v.iter().sum();
    if sum == 0.0 {
        return Err(Error::Evaluate(
            "sparseness: the attribution sums to 0 (take absolute values)".into(),
        ));
    }
    let weighted: f64 = v
        .iter()
        .enumerate()
        .map(|(i, x)| (2.0 * (i + 1) as f64 - n - 1.0) * x)
        .sum();
    Ok((weighted / (n * sum)) as f32)
}

/// Complexity: the Shannon entropy of the attribution's distribution (Bhatt et al., 2020,
/// *Evaluating and aggregating feature-based model explanations*, IJCAI; Quantus
/// `Complexity`). With `a` prepared by `prep` (Quantus's default [`Prepare::ABS_NORMALISE`])
/// and `pᵢ = aᵢ / Σⱼ |aⱼ|`:
///
/// `H = −Σᵢ pᵢ ln(pᵢ + 1e-12)`
///
/// in nats: 0 when one feature holds everything, `ln n` for a uniform attribution; lower is
/// simpler.
///
/// Errors: [`Error::Evaluate`] for no values, an all-zero attribution (no distribution) or
/// negative values after `prep` (use `abs`); [`Error::NonFinite`] for NaN or infinity.
///
/// ```
/// use lrp::evaluate::{complexity, Prepare};
/// let h = complexity(&[1.0; 8], Prepare::ABS_NORMALISE).unwrap();
/// assert!((h - 8f32.ln()).abs() < 1e-5);
/// ```
pub fn complexity(a: &[f32], prep: Prepare) -> Result<f32> {
    check_attribution(a, "complexity")?;
    let v = prep.apply(a);
    if v.iter().any(|&x| x < 0.0) {
        return Err(Error::Evaluate(
            "complexity: the attribution has negative values; take absolute values (abs)".into(),
        ));
    }
    let total: f64 = v.iter().sum();
    if total == 0.0 {
        return Err(Error::Evaluate(
            "complexity: the attribution is all zero, it has no distribution".into(),
        ));
    }
    let h: f64 = v
        .iter()
        .map(|&x| {
            let p = x / total;
            -p * (p + 1e-12).ln()
        })
        .sum();
    Ok(h as f32)
}

/// Fails unless the mask has the attribution's length and at least one `true`.
fn check_mask(what: &str, a: &[f32], mask: &[bool]) -> Result<usize> {
    check_attribution(a, what)?;
    if mask.len() != a.len() {
        return Err(Error::Evaluate(format!(
            "{what}: the mask has {} values for an attribution of {}",
            mask.len(),
            a.len()
        )));
    }
    let k = mask.iter().filter(|&&m| m).count();
    if k == 0 {
        return Err(Error::Evaluate(format!(
            "{what}: the mask selects no feature"
        )));
    }
    Ok(k)
}

/// Relevance Mass Accuracy: the share of the attribution's sum that falls inside the mask
/// (Arras et al., 2022, *CLEVR-XAI: a benchmark dataset for the ground truth evaluation of
/// neural network explanations*, Information Fusion 81; Quantus `RelevanceMassAccuracy`).
/// With `a` prepared by `prep` (Quantus's default [`Prepare::NORMALISE`], signed):
///
/// `RMA = Σ_{i ∈ mask} aᵢ / Σᵢ aᵢ`
///
/// 1 when all relevance is inside; signed attributions can give values outside `[0, 1]`.
///
/// Errors: [`Error::Evaluate`] for a mask of another length, an empty mask or a zero sum;
/// [`Error::NonFinite`] for NaN or infinity.
///
/// ```
/// use lrp::evaluate::{relevance_mass_accuracy, Prepare};
/// let r = relevance_mass_accuracy(&[3.0, 1.0], &[true, false], Prepare::NORMALISE).unwrap();
/// assert_eq!(r, 0.75);
/// ```
pub fn relevance_mass_accuracy(a: &[f32], mask: &[bool], prep: Prepare) -> Result<f32> {
    check_mask("relevance mass accuracy", a, mask)?;
    let v = prep.apply(a);
    let total: f64 = v.iter().sum();
    if total == 0.0 {
        return Err(Error::Evaluate(
            "relevance mass accuracy: the attribution sums to 0".into(),
        ));
    }
    let inside: f64 = v.iter().zip(mask).filter(|(_, &m)| m).map(|(x, _)| x).sum();
    Ok((inside / total) as f32)
}

/// Relevance Rank Accuracy: of the `K = |mask|` features with the largest attribution, the
/// share inside the mask (Arras et al., 2022, *CLEVR-XAI*; Quantus `RelevanceRankAccuracy`).
/// With `a` prepared by `prep` (Quantus's default [`Prepare::NORMALISE`]; the order is that
/// of the signed values), ties broken by index.
///
/// Errors: [`Error::Evaluate`] for a mask of another length or an empty mask;
/// [`Error::NonFinite`] for NaN or infinity.
///
/// ```
/// use lrp::evaluate::{relevance_rank_accuracy, Prepare};
/// // Top 2 are features 3 and 0; only 0 is in the mask.
/// let mask = [true, true, false, false];
/// let r = relevance_rank_accuracy(&[5.0, 1.0, 2.0, 9.0], &mask, Prepare::NORMALISE).unwrap();
/// assert_eq!(r, 0.5);
/// ```
pub fn relevance_rank_accuracy(a: &[f32], mask: &[bool], prep: Prepare) -> Result<f32> {
    let k = check_mask("relevance rank accuracy", a, mask)?;
    let order = descending(&prep.apply(a));
    let hits = order[..k].iter().filter(|&&i| mask[i]).count();
    Ok((hits as f64 / k as f64) as f32)
}

/// Pointing Game: whether the attribution's maximum lies inside the mask (Zhang et al., 2018,
/// *Top-down neural attention by excitation backprop*, IJCV 126; Quantus `PointingGame`).
/// A hit is any feature equal to the maximum (of `a` prepared by `prep`; Quantus's default
/// [`Prepare::NORMALISE`]) inside the mask: 1 for a hit, 0 for a miss. `weighted` scores a
/// hit `1 − |mask| / n` instead, so that hitting a large mask counts less (Quantus's
/// `weighted=True`).
///
/// Errors: [`Error::Evaluate`] for a mask of another length or an empty mask;
/// [`Error::NonFinite`] for NaN or infinity.
///
/// ```
/// use lrp::evaluate::{pointing_game, Prepare};
/// let a = [1.0, 4.0, 4.0, 0.0];
/// assert_eq!(pointing_game(&a, &[false, false, true, false], Prepare::NORMALISE, false).unwrap(), 1.0);
/// assert_eq!(pointing_game(&a, &[false, false, true, false], Prepare::NORMALISE, true).unwrap(), 0.75);
/// assert_eq!(pointing_game(&a, &[true, false, false, true], Prepare::NORMALISE, false).unwrap(), 0.0);
/// ```
pub fn pointing_game(a: &[f32], mask: &[bool], prep: Prepare, weighted: bool) -> Result<f32> {
    let k = check_mask("pointing game", a, mask)?;
    let v = prep.apply(a);
    let max = v.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x));
    let hit = v.iter().zip(mask).any(|(&x, &m)| m && x == max);
    Ok(match (hit, weighted) {
        (false, _) => 0.0,
        (true, false) => 1.0,
        (true, true) => (1.0 - k as f64 / a.len() as f64) as f32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_forms() {
        // Gini of [0, 0, 0, 1] (+ε): (2·4 − 5)·1 / (4·1) = 0.75.
        let g = sparseness(&[0.0, 0.0, 0.0, -2.0], Prepare::ABS_NORMALISE).unwrap();
        assert!((g - 0.75).abs() < 1e-6, "{g}");
        // Entropy of [1, 1, 2] / 4: −(2·0.25 ln 0.25 + 0.5 ln 0.5) = 1.5 ln 2.
        let h = complexity(&[1.0, -1.0, 2.0], Prepare::ABS_NORMALISE).unwrap();
        assert!((h - 1.5 * 2f32.ln()).abs() < 1e-6, "{h}");
        assert!(complexity(&[1.0, -1.0], Prepare::NORMALISE).is_err());
        assert!(complexity(&[0.0, 0.0], Prepare::ABS_NORMALISE).is_err());
        // Signed mass: (2 − 1) / (2 − 1 + 1).
        let m = relevance_mass_accuracy(&[2.0, -1.0, 1.0], &[true, true, false], Prepare::NONE);
        assert_eq!(m.unwrap(), 0.5);
        assert!(relevance_mass_accuracy(&[1.0, -1.0], &[true, false], Prepare::NONE).is_err());
        // Errors: empty mask, wrong length, NaN.
        assert!(relevance_rank_accuracy(&[1.0, 2.0], &[false, false], Prepare::NONE).is_err());
        assert!(pointing_game(&[1.0, 2.0], &[true], Prepare::NONE, false).is_err());
        assert!(sparseness(&[f32::NAN], Prepare::NONE).is_err());
        assert!(sparseness(&[], Prepare::NONE).is_err());
    }
}
