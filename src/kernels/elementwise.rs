//! Element-wise maps over whole tensors, split over rayon's pool.
//!
//! The activations (GELU, SiLU, sigmoid, …) are one function per element. On the activations
//! of today's CNNs (ConvNeXt-Tiny's first GELU alone maps 1.2 M values per image) a serial
//! `mapv` left the second core idle for a quarter of the forward pass; here the values are
//! cut into contiguous blocks that the pool's threads map independently. The result is the
//! same, bit for bit, as the serial map: every element goes through the same `f`.
//!
//! Only for functions that cost more than a memory access (exp, erf, tanh): piecewise-linear
//! ones (ReLU, Clip, HardSwish) are bound by memory bandwidth, and splitting them measured
//! 5–10% slower on MobileNetV2's forward pass (its ReLU6 layers), so they stay serial.

use super::threads;
use crate::ops::Tensor;
use ndarray::IxDyn;
use rayon::prelude::*;

/// Elements below which a map stays on the calling thread (scheduling a task costs a few
/// microseconds; even the cheapest activation takes that long for this many values).
const MIN_PARALLEL: usize = 1 << 14;

/// `f` applied to every element of `x`, in parallel over contiguous blocks when `x` is large
/// and in standard layout (serially otherwise). Same result as `x.mapv(f)`.
///
/// ```
/// use lrp::kernels::elementwise::map;
/// use ndarray::{ArrayD, IxDyn};
/// let x = ArrayD::from_shape_fn(IxDyn(&[2, 3, 100, 100]), |i| i[3] as f32 - 50.0);
/// let y = map(&x, |v| v.max(0.0));
/// assert_eq!(y, x.mapv(|v| v.max(0.0)));
/// ```
pub fn map(x: &Tensor, f: impl Fn(f32) -> f32 + Sync) -> Tensor {
    let Some(xs) = x.as_slice() else {
        return x.mapv(f);
    };
    if xs.len() < MIN_PARALLEL || threads() < 2 {
        return x.mapv(f);
    }
    // Rayon collects an indexed iterator straight into the new vector's memory (no zeroing
    // pass first); blocks of at least MIN_PARALLEL / 2 values keep the task count small.
    let out: Vec<f32> = xs
        .par_iter()
        .with_min_len(MIN_PARALLEL / 2)
        .map(|&v| f(v))
        .collect();
    Tensor::from_shape_vec(IxDyn(x.shape()), out).expect("same length as the input")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equals_the_serial_map_for_every_size_and_layout() {
        for len in [
            0,
            1,
            100,
            MIN_PARALLEL - 1,
            MIN_PARALLEL,
            3 * MIN_PARALLEL + 7,
        ] {
            let x = Tensor::from_shape_fn(IxDyn(&[1, len]), |i| (i[1] as f32 * 0.37).sin());
            let f = |v: f32| v.exp() - 2.0 * v;
            assert_eq!(map(&x, f), x.mapv(f), "len {len}");
        }
        // A column-major array (no standard-layout slice) takes the serial path.
        let x = Tensor::from_shape_fn(IxDyn(&[300, 200]), |i| (i[0] * 7 + i[1]) as f32);
        let t = x.t().to_owned();
        assert!(t.as_slice().is_none());
        let f = |v: f32| v * 0.5 + 1.0;
        assert_eq!(map(&t, f), x.t().mapv(f));
    }
}
