//! Every operator's gradient route ([`Route::Gradient`]) against a central finite difference
//! of its own forward pass, in the direction of a random vector `v`:
//! `⟨g_in, v⟩ ≈ (⟨g, f(x + hv)⟩ − ⟨g, f(x − hv)⟩) / 2h`, with `g` random too.
//!
//! The forward passes are float32, so the difference quotient carries rounding of about
//! `1e-7 · Σ|g f| / h`; with `h = 1e-2` and O(1) values that is well under the tolerance of
//! 2e-3 of `Σ |g_in v|`, while a wrong derivative is off by O(1). Inputs stay 0.05 away from
//! the kinks of the piecewise-linear functions (ReLU, clip, hard sigmoid, max pooling ties are
//! avoided by distinct values), where the finite difference would straddle two pieces; the
//! layer norms get ε = 0.05, as three channels on a coarse grid can be nearly equal and a
//! standard deviation near 0 makes the quotient meaningless at this step. The
//! whole-network comparisons with torch autograd are in tests/attribution.rs.

use lrp::ops::gelu::{Gelu, GeluApprox};
use lrp::ops::{Affine, LayerNorm, Lrn, Op, Pool2d, Route, RouteCtx, Softmax, Tensor};
use ndarray::{Array1, IxDyn};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    /// `±(0.075 + 0.1 j)` for `j` in 0..15: at least 0.025 from every multiple of 0.05 (the
    /// kinks of the functions below), more than the step `h·|v| ≤ 0.01`.
    fn grid(&mut self) -> f32 {
        let v = self.next();
        let j = ((v.abs() * 15.0) as u32).min(14) as f32;
        v.signum() * (0.075 + 0.1 * j)
    }
}

/// How test inputs are drawn.
#[derive(Clone, Copy)]
enum Draw {
    /// Uniform in [−1, 1] (directions).
    Free,
    /// On the grid of [`Rng::grid`].
    Grid,
    /// Distinct values 0.03 apart in random order (max pooling: no near ties).
    Distinct,
}

fn tensor(shape: &[usize], rng: &mut Rng, draw: Draw) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = match draw {
        Draw::Free => (0..n).map(|_| rng.next()).collect(),
        Draw::Grid => (0..n).map(|_| rng.grid()).collect(),
        Draw::Distinct => {
            let mut v: Vec<f32> = (0..n).map(|i| i as f32 * 0.03 - 1.0).collect();
            for i in (1..n).rev() {
                let j = ((rng.next() + 1.0) * 0.5 * (i + 1) as f32) as usize % (i + 1);
                v.swap(i, j);
            }
            v
        }
    };
    Tensor::from_shape_vec(IxDyn(shape), v).unwrap()
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}

/// Check `op` on inputs of the given batch-first shapes; `k` gradient maps per sample.
fn check(name: &str, op: &Op, shapes: &[&[usize]], k: usize, rng: &mut Rng) {
    let draw = if matches!(op, Op::MaxPool(_)) {
        Draw::Distinct
    } else {
        Draw::Grid
    };
    let xs: Vec<Tensor> = shapes.iter().map(|s| tensor(s, rng, draw)).collect();
    let refs: Vec<&Tensor> = xs.iter().collect();
    let in_shapes: Vec<&[usize]> = shapes.iter().map(|s| &s[1..]).collect();
    let out_shape = op
        .output_shape(&lrp::error::NodeRef::new(name, op.kind()), &in_shapes)
        .unwrap();
    let n = shapes[0][0];
    let per: usize = out_shape.iter().product();
    let g: Vec<f32> = (0..n * k * per).map(|_| rng.next()).collect();
    let ctx = RouteCtx {
        inputs: &refs,
        in_shapes: &in_shapes,
        out_shape: &out_shape,
        k,
        stabilizer: 0.0,
        gate: None,
    };
    let grads = op
        .route(Route::Gradient, &ctx, g.clone())
        .unwrap_or_else(|| panic!("{name}: no gradient route"));
    assert_eq!(grads.len(), xs.len(), "{name}");
    let h = 1e-2f32;
    for map in 0..k {
        // g of map `map` of every sample, against one direction for all inputs.
        let gm: Vec<f32> = (0..n)
            .flat_map(|i| g[(i * k + map) * per..(i * k + map + 1) * per].to_vec())
            .collect();
        let vs: Vec<Tensor> = shapes.iter().map(|s| tensor(s, rng, Draw::Free)).collect();
        let shifted = |sign: f32| -> f64 {
            let moved: Vec<Tensor> = xs
                .iter()
                .zip(&vs)
                .map(|(x, v)| x + &(v * (sign * h)))
                .collect();
            let mr: Vec<&Tensor> = moved.iter().collect();
            dot(op.forward(&mr).as_slice().unwrap(), &gm)
        };
        let fd = (shifted(1.0) - shifted(-1.0)) / (2.0 * h as f64);
        let mut analytic = 0f64;
        let mut scale = 0f64;
        for (gi, v) in grads.iter().zip(&vs) {
            let per_in = v.len() / n;
            for i in 0..n {
                let gs = &gi[(i * k + map) * per_in..(i * k + map + 1) * per_in];
                let vsl = &v.as_slice().unwrap()[i * per_in..(i + 1) * per_in];
                analytic += dot(gs, vsl);
                scale += gs
                    .iter()
                    .zip(vsl)
                    .map(|(a, b)| (a * b).abs() as f64)
                    .sum::<f64>();
            }
        }
        let err = (analytic - fd).abs() / scale.max(1e-12);
        assert!(
            err <= 2e-3,
            "{name}, map {map}: ⟨g_in, v⟩ = {analytic} vs finite difference {fd} ({err:e})"
        );
    }
}

#[test]
fn every_operator_gradient_matches_finite_differences() {
    let mut rng = Rng(2024);
    let img: &[usize] = &[2, 3, 6, 7];
    let unary: Vec<(&str, Op)> = vec![
        ("relu", Op::Relu),
        ("sigmoid", Op::Sigmoid),
        ("tanh", Op::Tanh),
        ("silu", Op::Silu),
        ("hard_swish", Op::HardSwish),
        ("gelu_erf", Op::Gelu(Gelu::new(GeluApprox::Erf))),
        ("gelu_tanh", Op::Gelu(Gelu::new(GeluApprox::Tanh))),
        ("elu", Op::Elu(lrp::ops::elu::Elu::new(0.7))),
        (
            "leaky_relu",
            Op::LeakyRelu(lrp::ops::leaky_relu::LeakyRelu::new(0.1)),
        ),
        (
            "prelu",
            Op::PRelu(lrp::ops::prelu::PRelu::new(vec![0.1, -0.3, 0.5])),
        ),
        ("clip", Op::Clip(lrp::ops::clip::Clip::new(-0.6, 0.8))),
        (
            "hard_sigmoid",
            Op::HardSigmoid(lrp::ops::hard_sigmoid::HardSigmoid::new(0.3, 0.4)),
        ),
        ("softmax_c", Op::Softmax(Softmax::new(0))),
        ("softmax_w", Op::Softmax(Softmax::new(2))),
        ("lrn", Op::Lrn(Lrn::new(3, 0.5, 0.75, 1.5))),
        ("lrn_even", Op::Lrn(Lrn::new(4, 0.8, 0.6, 1.0))),
        (
            "affine",
            Op::Affine(Affine::new(
                Array1::from(vec![0.5, -2.0, 1.5]),
                Array1::from(vec![0.1, 0.2, -0.3]),
            )),
        ),
        (
            "layer_norm_last",
            Op::LayerNorm(LayerNorm::new(
                2,
                0.05,
                Array1::from(vec![0.5, -1.0, 2.0, 1.0, 0.3, 0.7, -0.4]),
                Some(Array1::from(vec![0.1; 7])),
            )),
        ),
        (
            "layer_norm_channels",
            Op::LayerNorm(
                LayerNorm::new(0, 0.05, Array1::from(vec![1.5, -0.5, 0.8]), None).with_end(1),
            ),
        ),
        (
            "avg_pool",
            Op::AvgPool(Pool2d::new([3, 3], [2, 2]).with_pads([1, 0, 1, 1])),
        ),
        (
            "avg_pool_incl",
            Op::AvgPool(
                Pool2d::new([2, 3], [1, 2])
                    .with_pads([1, 1, 0, 1])
                    .with_count_include_pad(true),
            ),
        ),
        ("global_avg", Op::GlobalAvgPool),
        (
            "max_pool",
            Op::MaxPool(Pool2d::new([3, 3], [2, 2]).with_pads([1, 1, 1, 1])),
        ),
        ("flatten", Op::Flatten),
    ];
    for (name, op) in &unary {
        for k in [1, 2] {
            check(name, op, &[img], k, &mut rng);
        }
    }
    check("add", &Op::Add, &[img, img, img], 2, &mut rng);
    check("mul", &Op::Mul, &[img, img], 2, &mut rng);
    check(
        "mul_broadcast",
        &Op::Mul,
        &[img, &[2, 3, 1, 1]],
        1,
        &mut rng,
    );
    check(
        "matmul",
        &Op::MatMul,
        &[&[2, 3, 4, 5], &[2, 3, 5, 6]],
        2,
        &mut rng,
    );
}
