//! Average heatmaps over a set of images.
//!
//! The paper averaged raw relevance maps (summed over the images, then normalised once), so
//! images with much relevance dominate; normalising each map first gives every image the same
//! weight.
//!
//! ```
//! use lrp::compare::{average_raw, average_normalized};
//! use ndarray::arr2;
//! let maps = [arr2(&[[4.0_f32, 0.0]]), arr2(&[[0.0_f32, 1.0]])];
//! assert_eq!(average_raw(&maps).unwrap(), arr2(&[[1.0, 0.25]])); // (4, 1) / 4
//! assert_eq!(average_normalized(&maps).unwrap(), arr2(&[[0.5, 0.5]])); // ((1, 0) + (0, 1)) / 2
//! ```

use super::check_map;
use crate::error::{Error, Result};
use ndarray::Array2;

fn check_all(maps: &[Array2<f32>]) -> Result<()> {
    let Some(first) = maps.first() else {
        return Err(Error::Compare("no maps to average".into()));
    };
    for (i, m) in maps.iter().enumerate() {
        check_map(m, &format!("map {i}"))?;
        if m.dim() != first.dim() {
            return Err(Error::Compare(format!(
                "map {i} has shape {:?}, map 0 {:?}; bring them to one grid first (resize_area)",
                m.shape(),
                first.shape()
            )));
        }
    }
    Ok(())
}

/// Divides by `max|m|` (a zero map stays zero).
fn scaled(m: &Array2<f32>) -> Array2<f32> {
    let s = m.iter().fold(0.0f32, |a, v| a.max(v.abs()));
    if s == 0.0 {
        m.clone()
    } else {
        m / s
    }
}

/// The paper's average: `Σ_i H_i`, then divided by its `max|·|` (values in `[-1, 1]`).
///
/// Errors: [`Error::Compare`] for no maps or maps of different shapes.
pub fn average_raw(maps: &[Array2<f32>]) -> Result<Array2<f32>> {
    check_all(maps)?;
    let mut sum = Array2::<f32>::zeros(maps[0].raw_dim());
    for m in maps {
        sum += m;
    }
    Ok(scaled(&sum))
}

/// Normalise-then-average: `mean_i (H_i / max|H_i|)` (values in `[-1, 1]`).
///
/// Errors: [`Error::Compare`] for no maps or maps of different shapes.
pub fn average_normalized(maps: &[Array2<f32>]) -> Result<Array2<f32>> {
    check_all(maps)?;
    let mut sum = Array2::<f32>::zeros(maps[0].raw_dim());
    for m in maps {
        sum += &scaled(m);
    }
    Ok(sum / maps.len() as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_empty_and_mismatched() {
        assert!(average_raw(&[]).is_err());
        let a = Array2::<f32>::zeros((2, 2));
        let b = Array2::<f32>::zeros((3, 2));
        assert!(average_normalized(&[a.clone(), b]).is_err());
        assert_eq!(average_raw(std::slice::from_ref(&a)).unwrap(), a);
    }
}
