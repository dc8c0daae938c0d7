//! Normalisation layers: `LRN`, `BatchNorm` and `Scale`.
//!
//! - `LRN` → [`Op::Lrn`]: `ACROSS_CHANNELS`, odd `local_size`, `alpha`, `beta`, `k`.
//! - `BatchNorm` → [`Op::Affine`]: blobs `mean·s`, `var·s`, `s` (a zero `s` means zero
//!   statistics), `eps` (default 1e-5).
//! - `Scale` → [`Op::Affine`]: one bottom, `axis: 1`, `num_axes: 1`, optional bias.
//!
//! Canonisation folds the affine maps into the neighbouring linear layers. Not covered:
//! `WITHIN_CHANNEL` LRN, `use_global_stats: false`, `Scale` with a second bottom or over
//! other axes, `Bias`, `MVN`.

use super::builder::{canonical_axis, Builder};
use super::source::{Init, Want};
use crate::error::{NodeRef, Result};
use crate::import::proto::caffe::{lrn_parameter::NormRegion, LayerParameter};
use crate::ops::{Affine, Lrn, Op};
use ndarray::Array1;

pub(super) fn lrn(
    b: &mut Builder<'_>,
    layer: &LayerParameter,
    inputs: &[Vec<usize>],
) -> Result<Op> {
    b.one_input(layer, inputs)?;
    let p = layer.lrn_param.unwrap_or_default();
    if p.norm_region() != NormRegion::AcrossChannels {
        return Err(b.err(
            layer,
            "WITHIN_CHANNEL normalisation unsupported (only ACROSS_CHANNELS)",
        ));
    }
    let size = p.local_size() as usize;
    if size % 2 == 0 {
        return Err(b.err(
            layer,
            format!("local_size {size} must be odd, as Caffe requires"),
        ));
    }
    Ok(Op::Lrn(Lrn::new(size, p.alpha(), p.beta(), p.k())))
}

pub(super) fn batch_norm(
    b: &mut Builder<'_>,
    layer: &LayerParameter,
    inputs: &[Vec<usize>],
) -> Result<Op> {
    let x = b.one_input(layer, inputs)?;
    let c = *x
        .first()
        .ok_or_else(|| b.err(layer, "needs an input with channels"))?;
    let p = layer.batch_norm_param.unwrap_or_default();
    if p.use_global_stats == Some(false) {
        return Err(b.err(
            layer,
            "use_global_stats: false (batch statistics) unsupported at inference",
        ));
    }
    let wants = [
        Want {
            shape: vec![c],
            init: Init::BnMean,
        },
        Want {
            shape: vec![c],
            init: Init::BnVar,
        },
        Want {
            shape: vec![1],
            init: Init::BnFactor,
        },
    ];
    let blobs = b.source.fetch(layer, &wants)?;
    let s = blobs[2].iter().next().copied().unwrap_or(0.0);
    // Caffe: a zero scale factor means zero statistics.
    let inv = if s == 0.0 { 0.0 } else { 1.0 / s };
    let mean: Vec<f32> = blobs[0].iter().map(|v| v * inv).collect();
    let var: Vec<f32> = blobs[1].iter().map(|v| v * inv).collect();
    let node = NodeRef::new(layer.name(), "Affine");
    let ones = vec![1.0; c];
    let zeros = vec![0.0; c];
    let affine = Affine::from_batch_norm(&node, &ones, &zeros, &mean, &var, p.eps())
        .map_err(|e| b.err(layer, e.to_string()))?;
    Ok(Op::Affine(affine))
}

pub(super) fn scale(
    b: &mut Builder<'_>,
    layer: &LayerParameter,
    inputs: &[Vec<usize>],
) -> Result<Op> {
    let x = b.one_input(layer, inputs)?;
    let p = layer.scale_param.clone().unwrap_or_default();
    if canonical_axis(p.axis(), x.len() + 1) != Some(1) || p.num_axes() != 1 {
        return Err(b.err(
            layer,
            format!(
                "axis {} num_axes {} unsupported (only per-channel: 1, 1)",
                p.axis(),
                p.num_axes()
            ),
        ));
    }
    let c = *x
        .first()
        .ok_or_else(|| b.err(layer, "needs an input with channels"))?;
    let mut wants = vec![Want {
        shape: vec![c],
        init: Init::Gamma,
    }];
    if p.bias_term() {
        wants.push(Want {
            shape: vec![c],
            init: Init::Beta,
        });
    }
    let mut blobs = b.source.fetch(layer, &wants)?.into_iter();
    let gamma = blobs
        .next()
        .map(|b| Array1::from_iter(b.iter().copied()))
        .unwrap_or_else(|| Array1::ones(c));
    let beta = blobs
        .next()
        .map(|b| Array1::from_iter(b.iter().copied()))
        .unwrap_or_else(|| Array1::zeros(c));
    Ok(Op::Affine(Affine::new(gamma, beta)))
}
