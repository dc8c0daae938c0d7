//! `Pooling` → [`Op::MaxPool`], [`Op::AvgPool`] or [`Op::GlobalAvgPool`].
//!
//! `kernel_size`/`stride`/`pad` (or their `_h`/`_w` fields), `round_mode` (`CEIL`, Caffe's
//! default, is [`PoolRounding::CeilClip`]; `FLOOR`); AVE pooling counts the padding, as
//! Caffe does; global MAX pooling is a full-size window.
//!
//! Not covered: `STOCHASTIC` pooling; a kernel size given together with `global_pooling`.

use super::builder::{hw_pair, Builder};
use crate::error::Result;
use crate::import::proto::caffe::{
    pooling_parameter::PoolMethod, pooling_parameter::RoundMode, LayerParameter,
};
use crate::ops::{Op, Pool2d, PoolRounding};

pub(super) fn pooling(
    b: &mut Builder<'_>,
    layer: &LayerParameter,
    inputs: &[Vec<usize>],
) -> Result<Op> {
    let x = b.one_input(layer, inputs)?;
    let [_, h, w] = x.as_slice() else {
        return Err(b.err(
            layer,
            format!("needs a C×H×W input, got per-sample shape {x:?}"),
        ));
    };
    let p = layer.pooling_param.unwrap_or_default();
    let method = p.pool();
    let e = |d: String| b.err(layer, d);
    if p.global_pooling() {
        if p.kernel_size.is_some() || p.kernel_h.is_some() || p.kernel_w.is_some() {
            return Err(b.err(layer, "global pooling takes no kernel size"));
        }
        return match method {
            PoolMethod::Ave => Ok(Op::GlobalAvgPool),
            PoolMethod::Max => Ok(Op::MaxPool(Pool2d::new([*h, *w], [1, 1]))),
            PoolMethod::Stochastic => Err(b.err(layer, "STOCHASTIC pooling unsupported")),
        };
    }
    let kernel = hw_pair(
        p.kernel_size.as_slice(),
        p.kernel_h,
        p.kernel_w,
        None,
        "kernel_size",
    )
    .map_err(e)?;
    let stride = hw_pair(
        p.stride.as_slice(),
        p.stride_h,
        p.stride_w,
        Some(1),
        "stride",
    )
    .map_err(e)?;
    let pad = hw_pair(p.pad.as_slice(), p.pad_h, p.pad_w, Some(0), "pad").map_err(e)?;
    let rounding = match p.round_mode() {
        RoundMode::Ceil => PoolRounding::CeilClip,
        RoundMode::Floor => PoolRounding::Floor,
    };
    let pool = Pool2d::new(kernel, stride)
        .with_pads([pad[0], pad[1], pad[0], pad[1]])
        .with_rounding(rounding);
    match method {
        PoolMethod::Max => Ok(Op::MaxPool(pool)),
        PoolMethod::Ave => Ok(Op::AvgPool(pool.with_count_include_pad(true))),
        PoolMethod::Stochastic => Err(b.err(layer, "STOCHASTIC pooling unsupported")),
    }
}
