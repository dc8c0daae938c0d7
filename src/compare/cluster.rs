//! Spectral relevance analysis (SpRAy; Lapuschkin et al., 2019, *Unmasking Clever Hans
//! predictors*): cluster many heatmaps to find the distinct strategies a model uses.
//!
//! 1. every map is area-averaged onto a `grid`×`grid` grid and scaled by its `max|·|`;
//! 2. a symmetric k-nearest-neighbour affinity `W` (Euclidean distances; `W_ij = 1` when
//!    `j` is among the `k` nearest of `i` or vice versa);
//! 3. the normalised Laplacian `L = I − D^{-1/2} W D^{-1/2}` and its eigendecomposition
//!    (`faer`, eigenvalues ascending);
//! 4. k-means (k-means++ initialisation, seeded, several restarts) on the rows of the
//!    leading `c` eigenvectors, each row scaled to unit length (Ng, Jordan & Weiss).
//!
//! Large gaps between consecutive eigenvalues (the eigengap) suggest the number of clusters.
//!
//! ```
//! use lrp::compare::{spectral_clustering, SpectralConfig};
//! use ndarray::Array2;
//! // Three maps lit on the left, three on the right.
//! let maps: Vec<Array2<f32>> = (0..6).map(|i| {
//!     let mut m = Array2::zeros((4, 4));
//!     m[[i % 3, if i < 3 { 0 } else { 3 }]] = 1.0;
//!     m[[3, if i < 3 { 0 } else { 3 }]] = 1.0;
//!     m
//! }).collect();
//! let cfg = SpectralConfig { clusters: 2, neighbors: 2, grid: 4, ..SpectralConfig::default() };
//! let s = spectral_clustering(&maps, &cfg).unwrap();
//! assert_eq!(s.labels[0], s.labels[2]);
//! assert_ne!(s.labels[0], s.labels[3]);
//! assert!(s.eigenvalues[0].abs() < 1e-5); // one zero eigenvalue per connected component
//! assert!(s.eigenvalues[1].abs() < 1e-5);
//! ```

use super::{check_map, resize_area};
use crate::error::{Error, Result};
use crate::zoo::rng::Rng;
use ndarray::Array2;

/// Settings of [`spectral_clustering`].
#[derive(Debug, Clone, PartialEq)]
pub struct SpectralConfig {
    /// Number of clusters `c` (≥ 1, ≤ number of maps).
    pub clusters: usize,
    /// Neighbours per map in the affinity graph (clamped to `n − 1`).
    pub neighbors: usize,
    /// Side of the grid the maps are averaged onto.
    pub grid: usize,
    /// Seed of the k-means initialisation.
    pub seed: u64,
    /// k-means restarts; the run with the least inertia wins.
    pub restarts: usize,
}

impl Default for SpectralConfig {
    /// 2 clusters, 5 neighbours, a 16×16 grid, seed 0, 10 restarts.
    fn default() -> Self {
        SpectralConfig {
            clusters: 2,
            neighbors: 5,
            grid: 16,
            seed: 0,
            restarts: 10,
        }
    }
}

/// The result of [`spectral_clustering`].
#[derive(Debug, Clone, PartialEq)]
pub struct Spectral {
    /// Cluster of each map, `0..clusters`.
    pub labels: Vec<usize>,
    /// All eigenvalues of the normalised Laplacian, ascending (in `[0, 2]`).
    pub eigenvalues: Vec<f32>,
    /// `eigenvalues[i + 1] − eigenvalues[i]`.
    pub eigengaps: Vec<f32>,
    /// The spectral embedding `[n, clusters]` the k-means ran on (rows of unit length).
    pub embedding: Array2<f32>,
}

/// Clusters `maps` (any sizes; brought to one grid) by spectral clustering; see the module
/// documentation.
///
/// Errors: [`Error::Compare`] for fewer than 2 maps, 0 clusters or more clusters than
/// maps, grid or neighbours 0, a grid beyond [`MAX_GRID`](super::MAX_GRID), more clusters or
/// neighbours than [`MAX_CLUSTERS`](super::MAX_CLUSTERS), or a failed eigendecomposition;
/// [`Error::NonFinite`] for NaN in a map.
pub fn spectral_clustering(maps: &[Array2<f32>], cfg: &SpectralConfig) -> Result<Spectral> {
    let n = maps.len();
    super::check_range("clustering grid", cfg.grid, super::MAX_GRID)?;
    super::check_range("clusters", cfg.clusters, super::MAX_CLUSTERS)?;
    super::check_range("clustering neighbours", cfg.neighbors, super::MAX_CLUSTERS)?;
    if n < 2 || cfg.clusters == 0 || cfg.clusters > n || cfg.grid == 0 || cfg.neighbors == 0 {
        return Err(Error::Compare(format!(
            "spectral clustering of {n} maps into {} clusters with {} neighbours on a {}×{} grid: \
             need at least 2 maps, 1 ≤ clusters ≤ maps, neighbours and grid ≥ 1",
            cfg.clusters, cfg.neighbors, cfg.grid, cfg.grid
        )));
    }
    // 1. Features.
    let feats: Vec<Vec<f64>> = maps
        .iter()
        .enumerate()
        .map(|(i, m)| {
            check_map(m, &format!("map {i}"))?;
            let g = resize_area(m, cfg.grid, cfg.grid)?;
            let s = g.iter().fold(0.0f32, |a, v| a.max(v.abs()));
            let s = if s == 0.0 { 1.0 } else { s };
            Ok(g.iter().map(|&v| (v / s) as f64).collect())
        })
        .collect::<Result<_>>()?;
    // 2. Symmetric kNN affinity.
    let k = cfg.neighbors.min(n - 1);
    let mut dist = vec![0.0f64; n * n];
    for i in 0..n {
        for j in i + 1..n {
            let d: f64 = feats[i]
                .iter()
                .zip(&feats[j])
                .map(|(a, b)| (a - b) * (a - b))
                .sum();
            dist[i * n + j] = d;
            dist[j * n + i] = d;
        }
    }
    let mut w = vec![0.0f64; n * n];
    for i in 0..n {
        let mut others: Vec<usize> = (0..n).filter(|&j| j != i).collect();
        others.sort_by(|&a, &b| dist[i * n + a].total_cmp(&dist[i * n + b]).then(a.cmp(&b)));
        for &j in &others[..k] {
            w[i * n + j] = 1.0;
            w[j * n + i] = 1.0;
        }
    }
    // 3. Normalised Laplacian and its eigendecomposition.
    let deg: Vec<f64> = (0..n).map(|i| w[i * n..(i + 1) * n].iter().sum()).collect();
    let inv_sqrt: Vec<f64> = deg
        .iter()
        .map(|&d| if d > 0.0 { 1.0 / d.sqrt() } else { 0.0 })
        .collect();
    let lap = faer::Mat::<f64>::from_fn(n, n, |i, j| {
        let id = if i == j { 1.0 } else { 0.0 };
        id - inv_sqrt[i] * w[i * n + j] * inv_sqrt[j]
    });
    let evd = lap.self_adjoint_eigen(faer::Side::Lower).map_err(|_| {
        Error::Compare("eigendecomposition of the graph Laplacian did not converge".into())
    })?;
    let s = evd.S().column_vector();
    let u = evd.U();
    let eigenvalues: Vec<f32> = (0..n).map(|i| s[i] as f32).collect();
    let eigengaps: Vec<f32> = eigenvalues.windows(2).map(|p| p[1] - p[0]).collect();
    // 4. Embedding and k-means.
    let c = cfg.clusters;
    let mut emb = Array2::<f64>::from_shape_fn((n, c), |(i, j)| u[(i, j)]);
    for mut row in emb.rows_mut() {
        let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm > 0.0 {
            row /= norm;
        }
    }
    let labels = kmeans(&emb, c, cfg.seed, cfg.restarts.max(1));
    Ok(Spectral {
        labels,
        eigenvalues,
        eigengaps,
        embedding: emb.mapv(|v| v as f32),
    })
}

/// k-means with k-means++ seeding; the best of `restarts` runs by inertia. Labels are
/// renumbered in order of first appearance, so that equal clusterings give equal labels.
fn kmeans(x: &Array2<f64>, k: usize, seed: u64, restarts: usize) -> Vec<usize> {
    let (n, d) = x.dim();
    let dist2 = |i: usize, c: &[f64]| -> f64 { (0..d).map(|j| (x[[i, j]] - c[j]).powi(2)).sum() };
    let mut rng = Rng::new(seed);
    let mut best: Option<(f64, Vec<usize>)> = None;
    for _ in 0..restarts {
        // k-means++.
        let mut centres: Vec<Vec<f64>> = vec![x.row(rng.below(n)).to_vec()];
        while centres.len() < k {
            let dmin: Vec<f64> = (0..n)
                .map(|i| centres.iter().map(|c| dist2(i, c)).fold(f64::MAX, f64::min))
                .collect();
            let total: f64 = dmin.iter().sum();
            let pick = if total <= 0.0 {
                rng.below(n)
            } else {
                let mut r = rng.uniform() as f64 * total;
                let mut p = n - 1;
                for (i, &v) in dmin.iter().enumerate() {
                    if r < v {
                        p = i;
                        break;
                    }
                    r -= v;
                }
                p
            };
            centres.push(x.row(pick).to_vec());
        }
        let mut labels = vec![0usize; n];
        for _ in 0..100 {
            let mut changed = false;
            for (i, l) in labels.iter_mut().enumerate() {
                let (mut bj, mut bd) = (0, f64::MAX);
                for (j, c) in centres.iter().enumerate() {
                    let dd = dist2(i, c);
                    if dd < bd {
                        (bj, bd) = (j, dd);
                    }
                }
                if *l != bj {
                    *l = bj;
                    changed = true;
                }
            }
            for (j, c) in centres.iter_mut().enumerate() {
                let members: Vec<usize> = (0..n).filter(|&i| labels[i] == j).collect();
                if members.is_empty() {
                    continue;
                }
                for (dim, v) in c.iter_mut().enumerate() {
                    *v = members.iter().map(|&i| x[[i, dim]]).sum::<f64>() / members.len() as f64;
                }
            }
            if !changed {
                break;
            }
        }
        let inertia: f64 = (0..n).map(|i| dist2(i, &centres[labels[i]])).sum();
        if best.as_ref().is_none_or(|(b, _)| inertia < *b - 1e-12) {
            best = Some((inertia, labels));
        }
    }
    let labels = best.map(|b| b.1).unwrap_or_else(|| vec![0; n]);
    let mut map = vec![usize::MAX; k];
    let mut next = 0;
    labels
        .iter()
        .map(|&l| {
            if map[l] == usize::MAX {
                map[l] = next;
                next += 1;
            }
            map[l]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_two_obvious_groups_with_noise() {
        let mut rng = Rng::new(11);
        let mut maps = Vec::new();
        for i in 0..20 {
            let mut m = Array2::from_shape_fn((16, 16), |_| 0.1 * rng.normal());
            // Group A: a blob at the top left; group B: at the bottom right.
            let (y0, x0) = if i % 2 == 0 { (2, 2) } else { (10, 10) };
            for y in y0..y0 + 4 {
                for x in x0..x0 + 4 {
                    m[[y, x]] += 1.0 + 0.2 * rng.uniform();
                }
            }
            maps.push(m);
        }
        let cfg = SpectralConfig {
            clusters: 2,
            neighbors: 4,
            grid: 8,
            ..SpectralConfig::default()
        };
        let s = spectral_clustering(&maps, &cfg).unwrap();
        for (i, &l) in s.labels.iter().enumerate() {
            assert_eq!(l, i % 2, "{:?}", s.labels);
        }
        // Two disconnected groups: two zero eigenvalues, then a clear gap.
        assert!(s.eigenvalues[1].abs() < 1e-6, "{:?}", s.eigenvalues);
        assert!(s.eigengaps[1] > 0.1, "{:?}", s.eigengaps);
        assert_eq!(s.embedding.dim(), (20, 2));
    }

    #[test]
    fn rejects_bad_settings() {
        let maps = vec![Array2::<f32>::zeros((4, 4)); 3];
        let cfg = SpectralConfig {
            clusters: 4,
            ..SpectralConfig::default()
        };
        assert!(spectral_clustering(&maps, &cfg).is_err());
        assert!(spectral_clustering(&maps[..1], &SpectralConfig::default()).is_err());
        // All-equal maps: still labels, no NaN.
        let s = spectral_clustering(
            &maps,
            &SpectralConfig {
                clusters: 1,
                ..SpectralConfig::default()
            },
        )
        .unwrap();
        assert_eq!(s.labels, vec![0, 0, 0]);
    }
}
