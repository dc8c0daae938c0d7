//! Nodes and weights for integrated gradients' path integral over `α ∈ [0, 1]`, as Captum 0.9
//! builds them (`captum.attr._utils.approximation_methods`).

/// How the path integral `∫₀¹ ∇f(b + α(x − b)) dα` is approximated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Quadrature {
    /// Gauss–Legendre with `n` nodes (Captum's default `gausslegendre`): exact for
    /// polynomials of degree `2n − 1`.
    #[default]
    GaussLegendre,
    /// Left Riemann sum: `α_i = i/n`, weights `1/n`.
    RiemannLeft,
    /// Right Riemann sum: `α_i = (i + 1)/n`, weights `1/n`.
    RiemannRight,
    /// Midpoint sum: `α_i = (i + ½)/n`, weights `1/n`.
    RiemannMiddle,
    /// Captum's `riemann_trapezoid`: `α_i = i/(n − 1)`, weights `1/n` with the first and last
    /// halved (so they sum to `1 − 1/n`, as Captum has it).
    RiemannTrapezoid,
}

impl Quadrature {
    /// The name Captum gives the method (`gausslegendre`, `riemann_left`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Quadrature::GaussLegendre => "gausslegendre",
            Quadrature::RiemannLeft => "riemann_left",
            Quadrature::RiemannRight => "riemann_right",
            Quadrature::RiemannMiddle => "riemann_middle",
            Quadrature::RiemannTrapezoid => "riemann_trapezoid",
        }
    }

    /// The method named `name` (Captum's names, with `-` or `_`; also `left`, `right`,
    /// `middle`, `trapezoid`, `gauss-legendre`).
    pub fn from_name(name: &str) -> Option<Quadrature> {
        let key = name.to_ascii_lowercase().replace(['-', '_'], "");
        Some(match key.as_str() {
            "gausslegendre" | "gauss" => Quadrature::GaussLegendre,
            "riemannleft" | "left" => Quadrature::RiemannLeft,
            "riemannright" | "right" => Quadrature::RiemannRight,
            "riemannmiddle" | "middle" => Quadrature::RiemannMiddle,
            "riemanntrapezoid" | "trapezoid" => Quadrature::RiemannTrapezoid,
            _ => return None,
        })
    }

    /// `(α_i, w_i)` for `n` steps (`n ≥ 1`; the Riemann sums need `n ≥ 2` in Captum, here
    /// `n = 1` gives their single node).
    ///
    /// ```
    /// use lrp::attribution::Quadrature;
    /// // Two Gauss–Legendre nodes on [0, 1]: ½ ∓ 1/(2√3), weights ½.
    /// let (a, w) = Quadrature::GaussLegendre.nodes(2);
    /// assert!((a[0] - (0.5 - 0.5 / 3f64.sqrt())).abs() < 1e-15 && (w[1] - 0.5).abs() < 1e-15);
    /// // They integrate x³ exactly: ∫₀¹ x³ dx = 1/4.
    /// let s: f64 = a.iter().zip(&w).map(|(x, w)| w * x.powi(3)).sum();
    /// assert!((s - 0.25).abs() < 1e-15);
    /// ```
    pub fn nodes(self, n: usize) -> (Vec<f64>, Vec<f64>) {
        let n = n.max(1);
        let nf = n as f64;
        let uniform = vec![1.0 / nf; n];
        let lin = |a: f64, b: f64| -> Vec<f64> {
            if n == 1 {
                return vec![a];
            }
            (0..n)
                .map(|i| a + (b - a) * i as f64 / (nf - 1.0))
                .collect()
        };
        match self {
            Quadrature::GaussLegendre => gauss_legendre(n),
            Quadrature::RiemannLeft => (lin(0.0, 1.0 - 1.0 / nf), uniform),
            Quadrature::RiemannRight => (lin(1.0 / nf, 1.0), uniform),
            Quadrature::RiemannMiddle => (lin(0.5 / nf, 1.0 - 0.5 / nf), uniform),
            Quadrature::RiemannTrapezoid => {
                let mut w = uniform;
                w[0] /= 2.0;
                let last = w.len() - 1;
                w[last] /= 2.0;
                (lin(0.0, 1.0), w)
            }
        }
    }
}

/// Gauss–Legendre nodes and weights on `[0, 1]`, ascending: the roots `t_i` of the Legendre
/// polynomial `P_n` on `[−1, 1]` by Newton's method from Tricomi's initial guess, weights
/// `2 / ((1 − t²) P_n'(t)²)`, mapped by `α = (1 + t)/2`, `w/2` (numpy's `leggauss`, scaled
/// as Captum scales it).
fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    let nf = n as f64;
    let mut alphas = vec![0.0; n];
    let mut weights = vec![0.0; n];
    for i in 0..n.div_ceil(2) {
        // Root i counted from t = +1 downwards.
        let mut t = (std::f64::consts::PI * (i as f64 + 0.75) / (nf + 0.5)).cos();
        let mut dp = 1.0;
        for _ in 0..100 {
            let (p, d) = legendre(n, t);
            dp = d;
            let step = p / d;
            t -= step;
            if step.abs() < 1e-16 {
                break;
            }
        }
        let (_, d) = legendre(n, t);
        if d.is_finite() {
            dp = d;
        }
        let w = 2.0 / ((1.0 - t * t) * dp * dp);
        // t and −t are both roots; ascending order on [0, 1].
        alphas[n - 1 - i] = 0.5 * (1.0 + t);
        weights[n - 1 - i] = 0.5 * w;
        alphas[i] = 0.5 * (1.0 - t);
        weights[i] = 0.5 * w;
    }
    (alphas, weights)
}

/// `(P_n(t), P_n'(t))` by the three-term recurrence.
fn legendre(n: usize, t: f64) -> (f64, f64) {
    let (mut p0, mut p1) = (1.0, t);
    if n == 0 {
        return (1.0, 0.0);
    }
    for k in 2..=n {
        let kf = k as f64;
        let p2 = ((2.0 * kf - 1.0) * t * p1 - (kf - 1.0) * p0) / kf;
        p0 = p1;
        p1 = p2;
    }
    let d = n as f64 * (t * p1 - p0) / (t * t - 1.0);
    (p1, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauss_legendre_integrates_polynomials_exactly() {
        for n in [1usize, 2, 3, 5, 20, 50, 51] {
            let (a, w) = Quadrature::GaussLegendre.nodes(n);
            assert!(a.windows(2).all(|p| p[0] < p[1]), "ascending, n = {n}");
            for degree in 0..(2 * n) as i32 {
                let s: f64 = a.iter().zip(&w).map(|(x, w)| w * x.powi(degree)).sum();
                let exact = 1.0 / (degree as f64 + 1.0);
                assert!(
                    (s - exact).abs() < 1e-12,
                    "n = {n}, degree {degree}: {s} vs {exact}"
                );
            }
        }
    }

    #[test]
    fn riemann_nodes_as_captum_builds_them() {
        let (a, w) = Quadrature::RiemannTrapezoid.nodes(5);
        assert_eq!(a, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(w, vec![0.1, 0.2, 0.2, 0.2, 0.1]);
        let (a, _) = Quadrature::RiemannMiddle.nodes(4);
        assert_eq!(a, vec![0.125, 0.375, 0.625, 0.875]);
        let (a, _) = Quadrature::RiemannLeft.nodes(4);
        assert_eq!(a, vec![0.0, 0.25, 0.5, 0.75]);
        let (a, _) = Quadrature::RiemannRight.nodes(4);
        assert_eq!(a, vec![0.25, 0.5, 0.75, 1.0]);
        for q in ["left", "riemann_right", "Gauss-Legendre", "trapezoid"] {
            assert!(Quadrature::from_name(q).is_some(), "{q}");
        }
    }
}
