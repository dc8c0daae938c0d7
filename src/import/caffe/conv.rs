//! Linear layers: `Convolution`, `Deconvolution` and `InnerProduct`.
//!
//! - `Convolution` → [`Op::Conv`]: `num_output`, `kernel_size`/`stride`/`pad` (one value, two
//!   values or the `_h`/`_w` fields), `dilation`, `group`, `bias_term`; weight blob
//!   `[M, C/group, kh, kw]`, bias `[M]`.
//! - `Deconvolution` → [`Op::ConvTranspose`]: the same parameters; weight blob
//!   `[C, M/group, kh, kw]` (input channels first), bias `[M]`; `pad` crops the output
//!   (`OH = stride·(H − 1) + dilation·(kh − 1) + 1 − 2·pad`).
//! - `InnerProduct` → [`Op::Dense`]: flattens C×H×W in Caffe order; `num_output`,
//!   `bias_term`, `transpose` (weight stored `[K, M]`); weight `[M, K]`, bias `[M]`.
//!
//! Not covered: 1-D and 3-D convolutions, `axis` ≠ 1, inner products over other axes.

use super::builder::{canonical_axis, hw_pair, Builder};
use super::source::{Init, Want};
use crate::error::Result;
use crate::import::checked_product;
use crate::import::proto::caffe::LayerParameter;
use crate::ops::{Conv2d, ConvTranspose2d, Dense, Op};
use ndarray::{Array1, Array2, Ix2, Ix4};

/// The parameters a `Convolution` or `Deconvolution` layer shares.
struct Window {
    c: usize,
    m: usize,
    g: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    pad: [usize; 2],
    dilation: [usize; 2],
    bias: bool,
}

/// Read and check the `convolution_param` of `layer` on per-sample input `x`.
fn window(b: &Builder<'_>, layer: &LayerParameter, x: &[usize]) -> Result<Window> {
    let p = layer.convolution_param.clone().unwrap_or_default();
    let [c, _, _] = x else {
        return Err(b.err(
            layer,
            format!("needs a C×H×W input, got per-sample shape {x:?}"),
        ));
    };
    let c = *c;
    if p.axis() != 1 {
        return Err(b.err(layer, format!("axis {} unsupported (only 1)", p.axis())));
    }
    let e = |d: String| b.err(layer, d);
    let kernel = hw_pair(&p.kernel_size, p.kernel_h, p.kernel_w, None, "kernel").map_err(e)?;
    let stride = hw_pair(&p.stride, p.stride_h, p.stride_w, Some(1), "stride").map_err(e)?;
    let pad = hw_pair(&p.pad, p.pad_h, p.pad_w, Some(0), "pad").map_err(e)?;
    let dilation = hw_pair(&p.dilation, None, None, Some(1), "dilation").map_err(e)?;
    let m = p.num_output.unwrap_or(0) as usize;
    let g = p.group() as usize;
    if m == 0 {
        return Err(b.err(layer, "num_output must be given and positive"));
    }
    if g == 0 || c % g != 0 || m % g != 0 {
        return Err(b.err(
            layer,
            format!("group {g} must divide the input channels {c} and num_output {m}"),
        ));
    }
    if kernel.contains(&0) || stride.contains(&0) || dilation.contains(&0) {
        return Err(b.err(
            layer,
            format!(
                "kernel {kernel:?}, stride {stride:?} and dilation {dilation:?} must be positive"
            ),
        ));
    }
    Ok(Window {
        c,
        m,
        g,
        kernel,
        stride,
        pad,
        dilation,
        bias: p.bias_term(),
    })
}

/// Inputs per output of a convolution, `C/group · kh · kw`: kernel sizes are any `u32` of
/// the file, so the product is checked (an error naming the layer, not a wrapped size).
fn fan_in(b: &Builder<'_>, layer: &LayerParameter, w: &Window) -> Result<usize> {
    let [kh, kw] = w.kernel;
    checked_product(&[w.c / w.g, kh, kw]).ok_or_else(|| {
        b.err(
            layer,
            format!(
                "kernel {kh}×{kw} over {} input channels per group overflows the weight size",
                w.c / w.g
            ),
        )
    })
}

/// The weight blob of `shape` and the bias `[m]` (if the layer has one) of `layer`.
fn weight_and_bias(
    b: &mut Builder<'_>,
    layer: &LayerParameter,
    shape: Vec<usize>,
    fan_in: usize,
    m: Option<usize>,
) -> Result<(ndarray::Array4<f32>, Option<Array1<f32>>)> {
    let mut wants = vec![Want {
        shape,
        init: Init::He(fan_in),
    }];
    if let Some(m) = m {
        wants.push(Want {
            shape: vec![m],
            init: Init::Bias,
        });
    }
    let mut blobs = b.source.fetch(layer, &wants)?.into_iter();
    let w = blobs
        .next()
        .and_then(|w| w.into_dimensionality::<Ix4>().ok())
        .ok_or_else(|| b.err(layer, "weight blob is not 4-D"))?;
    let bias = blobs.next().map(|b| Array1::from_iter(b.iter().copied()));
    Ok((w, bias))
}

pub(super) fn convolution(
    b: &mut Builder<'_>,
    layer: &LayerParameter,
    inputs: &[Vec<usize>],
) -> Result<Op> {
    let x = b.one_input(layer, inputs)?;
    let w = window(b, layer, &x)?;
    let [kh, kw] = w.kernel;
    let fan_in = fan_in(b, layer, &w)?;
    let shape = vec![w.m, w.c / w.g, kh, kw];
    let (weight, bias) = weight_and_bias(b, layer, shape, fan_in, w.bias.then_some(w.m))?;
    let mut conv = Conv2d::new(weight, bias).with_groups(w.g);
    conv.stride = w.stride;
    conv.dilation = w.dilation;
    conv.pads = [w.pad[0], w.pad[1], w.pad[0], w.pad[1]];
    Ok(Op::Conv(conv))
}

pub(super) fn deconvolution(
    b: &mut Builder<'_>,
    layer: &LayerParameter,
    inputs: &[Vec<usize>],
) -> Result<Op> {
    let x = b.one_input(layer, inputs)?;
    let w = window(b, layer, &x)?;
    let [kh, kw] = w.kernel;
    // Each output sums over C/group inputs times the kernel taps that reach it.
    let fan_in = fan_in(b, layer, &w)?;
    let shape = vec![w.c, w.m / w.g, kh, kw];
    let (weight, bias) = weight_and_bias(b, layer, shape, fan_in, w.bias.then_some(w.m))?;
    let mut t = ConvTranspose2d::new(weight, bias).with_groups(w.g);
    t.stride = w.stride;
    t.dilation = w.dilation;
    t.pads = [w.pad[0], w.pad[1], w.pad[0], w.pad[1]];
    Ok(Op::ConvTranspose(t))
}

pub(super) fn inner_product(
    b: &mut Builder<'_>,
    layer: &LayerParameter,
    inputs: &[Vec<usize>],
) -> Result<Op> {
    let x = b.one_input(layer, inputs)?;
    let p = layer.inner_product_param.clone().unwrap_or_default();
    if canonical_axis(p.axis(), x.len() + 1) != Some(1) {
        return Err(b.err(
            layer,
            format!("axis {} unsupported (only 1: flatten C×H×W)", p.axis()),
        ));
    }
    let k = checked_product(&x).ok_or_else(|| b.err(layer, "input size overflows"))?;
    let m = p.num_output.unwrap_or(0) as usize;
    if m == 0 {
        return Err(b.err(layer, "num_output must be given and positive"));
    }
    let transpose = p.transpose();
    let mut wants = vec![Want {
        shape: if transpose { vec![k, m] } else { vec![m, k] },
        init: Init::He(k),
    }];
    if p.bias_term() {
        wants.push(Want {
            shape: vec![m],
            init: Init::Bias,
        });
    }
    let mut blobs = b.source.fetch(layer, &wants)?.into_iter();
    let w: Array2<f32> = blobs
        .next()
        .and_then(|w| w.into_dimensionality::<Ix2>().ok())
        .ok_or_else(|| b.err(layer, "weight blob is not 2-D"))?;
    let w = if transpose {
        w.t().as_standard_layout().into_owned()
    } else {
        w
    };
    let bias = blobs.next().map(|b| Array1::from_iter(b.iter().copied()));
    Ok(Op::Dense(Dense::new(w, bias)))
}
