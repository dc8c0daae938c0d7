//! Similarity of heatmaps: Pearson and Spearman correlation, cosine similarity and the
//! overlap (intersection over union) of the top-k% most relevant pixels, on maps brought to a
//! common grid by area averaging; and the N×N matrix of N heatmap sources averaged over
//! images.
//!
//! ```
//! use lrp::compare::metrics::{spearman, Metric};
//! // Spearman correlates ranks: any increasing transform gives 1.
//! let a = [0.1_f32, 0.5, 0.2, 0.9];
//! let b = [1.0_f32, 25.0, 4.0, 81.0];
//! assert!((spearman(&a, &b).unwrap() - 1.0).abs() < 1e-6);
//! assert_eq!(Metric::TopIou(0.1).name(), "top10-iou");
//! ```

use super::{check_map, output, plot};
use crate::error::{Error, Result};
use crate::heatmap::Colormap;
use image::RgbImage;
use ndarray::Array2;
use serde::ser::{Serialize, SerializeStruct, Serializer};

/// Area-averages `map` onto an `h`×`w` grid: each output cell is the mean of the input over
/// the cell's footprint, with fractional pixel overlaps weighted by their area (so the mean of
/// the map is kept, also when the sizes do not divide). Upsampling repeats values.
///
/// Errors: [`Error::Compare`] for an empty map or grid, or one beyond the heatmap module's
/// output bounds ([`MAX_SIDE`](crate::heatmap::MAX_SIDE) per side,
/// [`MAX_PIXELS`](crate::heatmap::MAX_PIXELS) for the grid and for each of the two weight
/// matrices, `h × map height` and `w × map width`): checked before anything is allocated.
///
/// ```
/// use lrp::compare::resize_area;
/// let m = ndarray::arr2(&[[1.0_f32, 3.0, 0.0, 0.0], [1.0, 3.0, 4.0, 4.0]]);
/// let r = resize_area(&m, 1, 2).unwrap();
/// assert_eq!(r, ndarray::arr2(&[[2.0, 2.0]]));
/// // 3 → 2 columns: the middle pixel is split half and half.
/// let r = resize_area(&ndarray::arr2(&[[0.0_f32, 3.0, 6.0]]), 1, 2).unwrap();
/// assert_eq!(r, ndarray::arr2(&[[1.0, 5.0]])); // (0 + 0.5·3) / 1.5, (0.5·3 + 6) / 1.5
/// ```
pub fn resize_area(map: &Array2<f32>, h: usize, w: usize) -> Result<Array2<f32>> {
    if map.is_empty() || h == 0 || w == 0 {
        return Err(Error::Compare(format!(
            "cannot resize a {:?} map to {h}×{w}",
            map.shape()
        )));
    }
    let (ih, iw) = map.dim();
    let (side, pixels) = (crate::heatmap::MAX_SIDE, crate::heatmap::MAX_PIXELS);
    let within = |a: usize, b: usize| (a as u128) * (b as u128) <= pixels as u128;
    if h > side || w > side || !within(h, w) || !within(h, ih) || !within(w, iw) {
        return Err(Error::Compare(format!(
            "cannot resize a {ih}×{iw} map to {h}×{w}: at most {side} per side and {pixels} \
             values per grid and weight matrix"
        )));
    }
    if (ih, iw) == (h, w) {
        return Ok(map.clone());
    }
    let wy = area_weights(ih, h);
    let wx = area_weights(iw, w);
    Ok(wy.dot(map).dot(&wx.t()))
}

/// `[out, inp]` weights: row `i` averages the input over `[i·inp/out, (i+1)·inp/out)`.
fn area_weights(inp: usize, out: usize) -> Array2<f32> {
    let mut m = Array2::<f32>::zeros((out, inp));
    let scale = inp as f64 / out as f64;
    for i in 0..out {
        let (a, b) = (i as f64 * scale, (i + 1) as f64 * scale);
        let first = a.floor() as usize;
        let last = (b.ceil() as usize).min(inp);
        for j in first..last {
            let overlap = (b.min(j as f64 + 1.0) - a.max(j as f64)).max(0.0);
            m[[i, j]] = (overlap / scale) as f32;
        }
    }
    m
}

fn check_pair(a: &[f32], b: &[f32]) -> Result<()> {
    if a.len() != b.len() || a.is_empty() {
        return Err(Error::Compare(format!(
            "cannot compare maps of {} and {} values",
            a.len(),
            b.len()
        )));
    }
    if let Some((index, &value)) = a.iter().chain(b).enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(Error::NonFinite {
            what: "compared map".into(),
            value,
            index: index % a.len(),
        });
    }
    Ok(())
}

/// Pearson correlation `cov(a, b) / (σ_a σ_b)`, computed in f64. A constant input (zero
/// variance) gives 0 rather than NaN.
///
/// ```
/// // Hand-computed: a = [1, 2, 3], b = [1, 3, 2]: deviations (-1, 0, 1) and (-1, 1, 0),
/// // covariance sum 1, variance sums 2 and 2 → 1 / 2.
/// let r = lrp::compare::metrics::pearson(&[1.0, 2.0, 3.0], &[1.0, 3.0, 2.0]).unwrap();
/// assert!((r - 0.5).abs() < 1e-6);
/// ```
pub fn pearson(a: &[f32], b: &[f32]) -> Result<f32> {
    check_pair(a, b)?;
    Ok(pearson64(
        &a.iter().map(|&v| v as f64).collect::<Vec<_>>(),
        &b.iter().map(|&v| v as f64).collect::<Vec<_>>(),
    ) as f32)
}

fn pearson64(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        cov += (x - ma) * (y - mb);
        va += (x - ma) * (x - ma);
        vb += (y - mb) * (y - mb);
    }
    if va <= 0.0 || vb <= 0.0 {
        0.0
    } else {
        (cov / (va * vb).sqrt()).clamp(-1.0, 1.0)
    }
}

/// Ranks from 1, ties getting the mean of the ranks they span.
fn ranks(v: &[f32]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let mean = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = mean;
        }
        i = j + 1;
    }
    r
}

/// Spearman rank correlation: Pearson correlation of the ranks (ties get their mean rank).
///
/// ```
/// // Ranks of [10, 20, 20, 5] are [2, 3.5, 3.5, 1]; of [1, 2, 3, 4] they are [1, 2, 3, 4].
/// let r = lrp::compare::metrics::spearman(&[10.0, 20.0, 20.0, 5.0], &[1.0, 2.0, 3.0, 4.0]).unwrap();
/// // Pearson of the ranks: deviations (-0.5, 1, 1, -1.5) and (-1.5, -0.5, 0.5, 1.5):
/// // covariance 0.75 - 0.5 + 0.5 - 2.25 = -1.5, variances 4.5 and 5.
/// assert!((r - (-1.5 / (4.5_f32 * 5.0).sqrt())).abs() < 1e-6);
/// ```
pub fn spearman(a: &[f32], b: &[f32]) -> Result<f32> {
    check_pair(a, b)?;
    Ok(pearson64(&ranks(a), &ranks(b)) as f32)
}

/// Cosine similarity `a·b / (|a| |b|)`; 0 when either vector is all zero.
///
/// ```
/// let c = lrp::compare::metrics::cosine(&[1.0, 0.0], &[1.0, 1.0]).unwrap();
/// assert!((c - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
/// ```
pub fn cosine(a: &[f32], b: &[f32]) -> Result<f32> {
    check_pair(a, b)?;
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        dot += x as f64 * y as f64;
        na += x as f64 * x as f64;
        nb += y as f64 * y as f64;
    }
    if na == 0.0 || nb == 0.0 {
        return Ok(0.0);
    }
    Ok((dot / (na.sqrt() * nb.sqrt())).clamp(-1.0, 1.0) as f32)
}

/// Indices of the `ceil(frac · n)` (at least 1) largest values, ties broken by index.
fn top_set(v: &[f32], frac: f32) -> Vec<bool> {
    // The small relative margin keeps f32 fractions such as 0.2 (= 0.2000000030) from
    // rounding up to one pixel too many.
    let k = ((v.len() as f64 * frac as f64 * (1.0 - 1e-6)).ceil() as usize).clamp(1, v.len());
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&i, &j| v[j].total_cmp(&v[i]).then(i.cmp(&j)));
    let mut set = vec![false; v.len()];
    for &i in &idx[..k] {
        set[i] = true;
    }
    set
}

/// Intersection over union of the `frac` (in `(0, 1]`) most relevant pixels of each map:
/// the `ceil(frac · n)` largest values (most positive relevance), ties broken by position.
///
/// ```
/// // Top 2 of a: {0, 1}; of b: {1, 2} → |∩| = 1, |∪| = 3.
/// let iou = lrp::compare::metrics::top_iou(&[5.0, 4.0, 1.0, 0.0], &[0.0, 9.0, 8.0, 1.0], 0.5).unwrap();
/// assert!((iou - 1.0 / 3.0).abs() < 1e-6);
/// ```
pub fn top_iou(a: &[f32], b: &[f32], frac: f32) -> Result<f32> {
    check_pair(a, b)?;
    if !(frac > 0.0 && frac <= 1.0) {
        return Err(Error::Compare(format!(
            "top-k fraction must be in (0, 1], got {frac}"
        )));
    }
    let (ta, tb) = (top_set(a, frac), top_set(b, frac));
    let inter = ta.iter().zip(&tb).filter(|(x, y)| **x && **y).count();
    let union = ta.iter().zip(&tb).filter(|(x, y)| **x || **y).count();
    Ok(inter as f32 / union as f32)
}

/// A similarity measure between two heatmaps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// [`pearson`].
    Pearson,
    /// [`spearman`].
    Spearman,
    /// [`cosine`].
    Cosine,
    /// [`top_iou`] of this fraction of pixels (e.g. `0.1` for the top 10%).
    TopIou(f32),
}

impl Metric {
    /// The four metrics the `lrp compare` command reports (top-k with k = 10%).
    pub const DEFAULT: [Metric; 4] = [
        Metric::Pearson,
        Metric::Spearman,
        Metric::Cosine,
        Metric::TopIou(0.1),
    ];

    /// A short name for file names and tables: `pearson`, `spearman`, `cosine`,
    /// `top10-iou`.
    pub fn name(&self) -> String {
        match self {
            Metric::Pearson => "pearson".into(),
            Metric::Spearman => "spearman".into(),
            Metric::Cosine => "cosine".into(),
            Metric::TopIou(f) => format!("top{}-iou", (f * 100.0).round()),
        }
    }

    /// The metric between two maps of the same shape.
    ///
    /// ```
    /// use lrp::compare::Metric;
    /// let a = ndarray::arr2(&[[1.0_f32, 0.0], [0.0, 0.0]]);
    /// assert_eq!(Metric::Cosine.compute(&a, &a).unwrap(), 1.0);
    /// ```
    pub fn compute(&self, a: &Array2<f32>, b: &Array2<f32>) -> Result<f32> {
        if a.shape() != b.shape() {
            return Err(Error::Compare(format!(
                "cannot compare maps of shapes {:?} and {:?}",
                a.shape(),
                b.shape()
            )));
        }
        let a = a.as_standard_layout();
        let b = b.as_standard_layout();
        let (a, b) = (
            a.as_slice().expect("standard layout"),
            b.as_slice().expect("standard layout"),
        );
        match self {
            Metric::Pearson => pearson(a, b),
            Metric::Spearman => spearman(a, b),
            Metric::Cosine => cosine(a, b),
            Metric::TopIou(f) => top_iou(a, b, *f),
        }
    }
}

/// Mean over images of `metric` between every pair of `items`, on a `grid`×`grid` grid.
///
/// `items[i][j]` is the heatmap of source `i` (a model, a preset, a model × preset) on image
/// `j`; every source needs the same number of images, the maps may differ in size (they are
/// area-averaged onto the grid with [`resize_area`]). The result is symmetric with
/// `metric(a, a)` on the diagonal.
///
/// Errors: [`Error::Compare`] for no maps, sources with different numbers of maps, or a
/// grid outside `1..=`[`MAX_GRID`](super::MAX_GRID); [`Error::NonFinite`] for NaN in a map.
///
/// ```
/// use lrp::compare::{similarity_matrix, Metric};
/// use ndarray::arr2;
/// let a = vec![arr2(&[[1.0_f32, 0.0], [0.0, 0.0]])];
/// let b = vec![arr2(&[[0.0_f32, 0.0], [0.0, 1.0]])];
/// let m = similarity_matrix(&[a, b], Metric::Cosine, 2).unwrap();
/// assert_eq!(m, arr2(&[[1.0, 0.0], [0.0, 1.0]]));
/// ```
pub fn similarity_matrix(
    items: &[Vec<Array2<f32>>],
    metric: Metric,
    grid: usize,
) -> Result<Array2<f32>> {
    super::check_range("similarity grid", grid, super::MAX_GRID)?;
    let n = items.len();
    let images = items.first().map_or(0, Vec::len);
    if n == 0 || images == 0 {
        return Err(Error::Compare(
            "a similarity matrix needs at least one source with one map".into(),
        ));
    }
    if let Some(i) = items.iter().position(|v| v.len() != images) {
        return Err(Error::Compare(format!(
            "source {i} has {} maps, source 0 has {images}",
            items[i].len()
        )));
    }
    let grids: Vec<Vec<Array2<f32>>> = items
        .iter()
        .map(|maps| {
            maps.iter()
                .map(|m| {
                    check_map(m, "heatmap")?;
                    resize_area(m, grid, grid)
                })
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<_>>()?;
    let mut out = Array2::<f32>::zeros((n, n));
    for i in 0..n {
        for j in i..n {
            let mut s = 0.0f64;
            for (a, b) in grids[i].iter().zip(&grids[j]) {
                s += metric.compute(a, b)? as f64;
            }
            let v = (s / images as f64) as f32;
            out[[i, j]] = v;
            out[[j, i]] = v;
        }
    }
    Ok(out)
}

/// A labelled similarity matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Similarity {
    /// The metric.
    pub metric: Metric,
    /// One label per source, in row order.
    pub labels: Vec<String>,
    /// `values[[i, j]]`: mean similarity of sources `i` and `j`.
    pub values: Array2<f32>,
}

impl Similarity {
    /// [`similarity_matrix`] with labels (one per item).
    pub fn compute(
        labels: Vec<String>,
        items: &[Vec<Array2<f32>>],
        metric: Metric,
        grid: usize,
    ) -> Result<Similarity> {
        if labels.len() != items.len() {
            return Err(Error::Compare(format!(
                "{} labels for {} sources",
                labels.len(),
                items.len()
            )));
        }
        Ok(Similarity {
            metric,
            labels,
            values: similarity_matrix(items, metric, grid)?,
        })
    }

    /// CSV: a header `metric,label…`, then one row per source, values with 4 decimals.
    ///
    /// ```
    /// use lrp::compare::{Metric, Similarity};
    /// let s = Similarity { metric: Metric::Pearson, labels: vec!["a".into(), "b".into()],
    ///     values: ndarray::arr2(&[[1.0, 0.5], [0.5, 1.0]]) };
    /// assert_eq!(s.to_csv(), "pearson,a,b\na,1.0000,0.5000\nb,0.5000,1.0000\n");
    /// ```
    pub fn to_csv(&self) -> String {
        let header = std::iter::once(self.metric.name()).chain(self.labels.iter().cloned());
        let rows = self
            .labels
            .iter()
            .zip(self.values.outer_iter())
            .map(|(l, r)| {
                std::iter::once(l.clone())
                    .chain(r.iter().map(|v| format!("{v:.4}")))
                    .collect::<Vec<_>>()
            });
        let records = std::iter::once(header.collect::<Vec<_>>()).chain(rows);
        // Writing strings to memory cannot fail.
        output::csv_records(records).unwrap_or_default()
    }

    /// The matrix as a labelled PNG image: cells coloured by `cmap` over `[-1, 1]` (`bwr`
    /// is a good choice), each with its value, rows labelled `i: label`, columns `i`.
    pub fn render(&self, cmap: &Colormap) -> Result<RgbImage> {
        plot::matrix_image(
            &format!("{} similarity", self.metric.name()),
            &self.labels,
            &self.values,
            cmap,
        )
    }
}

/// JSON: `{"metric": name, "labels": […], "values": [[…], …]}` (rows of the matrix).
impl Serialize for Similarity {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let rows: Vec<Vec<f32>> = self.values.outer_iter().map(|r| r.to_vec()).collect();
        let mut st = s.serialize_struct("Similarity", 3)?;
        st.serialize_field("metric", &self.metric)?;
        st.serialize_field("labels", &self.labels)?;
        st.serialize_field("values", &rows)?;
        st.end()
    }
}

/// A metric serialises as its [`Metric::name`].
impl Serialize for Metric {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr2;

    /// Naive textbook formulas, written independently of the implementation above.
    fn naive_pearson(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len() as f32;
        let sa: f32 = a.iter().sum();
        let sb: f32 = b.iter().sum();
        let sab: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let saa: f32 = a.iter().map(|x| x * x).sum();
        let sbb: f32 = b.iter().map(|x| x * x).sum();
        (n * sab - sa * sb) / ((n * saa - sa * sa).sqrt() * (n * sbb - sb * sb).sqrt())
    }

    #[test]
    fn pearson_matches_naive_formula() {
        let a = [0.3, -1.2, 2.5, 0.0, 0.7, 1.1];
        let b = [1.0, -0.5, 2.0, 0.2, -0.3, 0.9];
        let r = pearson(&a, &b).unwrap();
        assert!((r - naive_pearson(&a, &b)).abs() < 1e-5, "{r}");
        assert!((pearson(&a, &a).unwrap() - 1.0).abs() < 1e-6);
        let neg: Vec<f32> = a.iter().map(|v| -2.0 * v + 1.0).collect();
        assert!((pearson(&a, &neg).unwrap() + 1.0).abs() < 1e-6);
    }

    #[test]
    fn spearman_without_ties_matches_rank_difference_formula() {
        // ρ = 1 − 6 Σ d² / (n (n² − 1)) when there are no ties.
        let a = [3.0, 1.0, 4.0, 1.5, 5.0, 9.0, 2.0];
        let b = [2.0, 7.0, 1.0, 8.0, 2.5, 8.5, 0.5];
        let (ra, rb) = (ranks(&a), ranks(&b));
        assert_eq!(ra, vec![4.0, 1.0, 5.0, 2.0, 6.0, 7.0, 3.0]);
        let d2: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - y).powi(2)).sum();
        let n = a.len() as f64;
        let expected = 1.0 - 6.0 * d2 / (n * (n * n - 1.0));
        assert!((spearman(&a, &b).unwrap() as f64 - expected).abs() < 1e-6);
    }

    #[test]
    fn cosine_and_iou_by_hand() {
        // a·b = 1·2 + 2·0 + 2·1 = 4, |a| = 3, |b| = √5.
        let c = cosine(&[1.0, 2.0, 2.0], &[2.0, 0.0, 1.0]).unwrap();
        assert!((c - 4.0 / (3.0 * 5.0f32.sqrt())).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 2.0]).unwrap(), 0.0);
        // 10 values, top 20% = 2 each: a → {9, 8}, b → {9, 0}: IoU 1/3.
        let a: Vec<f32> = (0..10).map(|i| i as f32).collect();
        let mut b = a.clone();
        b[0] = 100.0;
        assert!((top_iou(&a, &b, 0.2).unwrap() - 1.0 / 3.0).abs() < 1e-6);
        assert!(top_iou(&a, &b, 0.0).is_err());
    }

    #[test]
    fn mismatched_or_nonfinite_inputs_are_errors() {
        assert!(matches!(
            pearson(&[1.0], &[1.0, 2.0]),
            Err(Error::Compare(_))
        ));
        assert!(matches!(cosine(&[], &[]), Err(Error::Compare(_))));
        assert!(matches!(
            spearman(&[1.0, f32::NAN], &[1.0, 2.0]),
            Err(Error::NonFinite { index: 1, .. })
        ));
        assert_eq!(pearson(&[1.0, 1.0], &[1.0, 2.0]).unwrap(), 0.0);
    }

    #[test]
    fn area_resize_keeps_the_mean_and_averages_blocks() {
        let m = Array2::from_shape_fn((6, 9), |(y, x)| (y * 9 + x) as f32);
        let r = resize_area(&m, 4, 4).unwrap();
        assert!((r.mean().unwrap() - m.mean().unwrap()).abs() < 1e-4);
        let b = resize_area(&arr2(&[[1.0, 2.0], [3.0, 4.0]]), 1, 1).unwrap();
        assert_eq!(b, arr2(&[[2.5]]));
        assert!(resize_area(&m, 0, 3).is_err());
    }

    #[test]
    fn similarity_matrix_is_symmetric_and_averaged() {
        let a = vec![
            arr2(&[[1.0, 2.0], [3.0, 4.0]]),
            arr2(&[[1.0, 0.0], [0.0, 0.0]]),
        ];
        let b = vec![
            arr2(&[[4.0, 3.0], [2.0, 1.0]]),
            arr2(&[[1.0, 0.0], [0.0, 0.0]]),
        ];
        let m = similarity_matrix(&[a.clone(), b], Metric::Pearson, 2).unwrap();
        // Image 0: −1, image 1: +1 → mean 0.
        assert!(m[[0, 1]].abs() < 1e-6 && m[[1, 0]].abs() < 1e-6);
        assert!((m[[0, 0]] - 1.0).abs() < 1e-6);
        assert!(similarity_matrix(&[a, vec![]], Metric::Pearson, 2).is_err());
    }
}
