//! Resizing the spatial axes.
//!
//! - [Resize](https://onnx.ai/onnx/operators/onnx__Resize.html) (opsets 10, 11, 13, 18, 19)
//!   → [`Op::Resize`] ([`Resize`]): `mode` `nearest` (with `nearest_mode`
//!   `round_prefer_floor`, `round_prefer_ceil`, `floor`, `ceil`) or `linear` (bilinear on the
//!   two spatial axes); `coordinate_transformation_mode` `half_pixel`, `pytorch_half_pixel`,
//!   `align_corners` or `asymmetric`; constant `scales` or `sizes` (computed ones are folded:
//!   legacy exports build the sizes from `Shape` of the data), with opset 18's `axes`; batch
//!   and channels keep their size. Opset 10 (inputs `X`, `scales`) has no attributes but
//!   `mode` and means asymmetric coordinates.
//! - [Upsample](https://onnx.ai/onnx/operators/onnx__Upsample.html) (opsets 7, 9, and the
//!   deprecated 10) → [`Op::Resize`]: `mode` `nearest` or `linear`, scales as an attribute
//!   (opset 7) or a constant input (9, 10), asymmetric coordinates.
//!
//! Opset 10 Resize and Upsample leave nearest's rounding open; they are read as onnxruntime
//! runs them: `floor` along axes scaled up, `ceil` along axes scaled down.
//!
//! Not covered: `cubic` mode; `tf_crop_and_resize`, `tf_half_pixel_for_nn` and
//! `half_pixel_symmetric` coordinates; `keep_aspect_ratio_policy` other than `stretch`;
//! `antialias = 1` when scaling down (elsewhere it changes nothing and is accepted);
//! `exclude_outside = 1` for nearest (for linear it changes nothing); resizing the batch or
//! channel axis; scales or sizes computed from data.

use super::attrs::{attribute_error, get_floats, get_int, get_ints, get_string};
use super::layout::full_axis;
use super::{Ctx, Importer, Layer};
use crate::error::Result;
use crate::import::proto::onnx::NodeProto;
use crate::ops::resize::{Coordinates, Interpolation, Nearest, ResizeSize};
use crate::ops::{Op, Resize};

/// `mode`: nearest or linear.
fn mode(node: &NodeProto) -> Result<&str> {
    match get_string(node, "mode")?.unwrap_or("nearest") {
        m @ ("nearest" | "linear" | "bilinear") => Ok(m),
        other => Err(attribute_error(
            node,
            "mode",
            format!("`{other}` is not supported (nearest, linear)"),
        )),
    }
}

/// The scales `[h, w]` of a 4-D resize from scales over all axes (batch and channels 1).
fn spatial_scales(imp: &Importer<'_>, node: &NodeProto, scales: &[f32]) -> Result<[f32; 2]> {
    match scales {
        &[n, c, h, w] if n == 1.0 && c == 1.0 => Ok([h, w]),
        _ => Err(imp.unsupported(
            node,
            format!(
                "scales {scales:?}: expected four, with 1 for the batch and channel axes \
                 (only the spatial axes of a 4-D tensor are resized)"
            ),
        )),
    }
}

/// The opset 7–10 forms: asymmetric coordinates, nearest rounding as onnxruntime does it.
fn legacy(imp: &Importer<'_>, node: &NodeProto, scales: Vec<f32>) -> Result<Resize> {
    let [sh, sw] = spatial_scales(imp, node, &scales)?;
    let interpolation = if mode(node)? == "nearest" {
        // onnxruntime's nearest before opset 11: truncate when scaling up, ceil when down.
        let up = |s: f32| s >= 1.0;
        match (up(sh), up(sw)) {
            (true, true) => Interpolation::Nearest(Nearest::Floor),
            (false, false) => Interpolation::Nearest(Nearest::Ceil),
            _ => {
                return Err(imp.unsupported(
                    node,
                    format!("nearest with one axis scaled up and one down ({sh}, {sw})"),
                ))
            }
        }
    } else {
        Interpolation::Linear
    };
    Ok(Resize::new(
        interpolation,
        Coordinates::Asymmetric,
        ResizeSize::Scales([sh, sw]),
    ))
}

pub(super) fn upsample(imp: &mut Importer<'_>, cx: &Ctx<'_>) -> Result<Layer> {
    let (node, x) = (cx.node, cx.x);
    let scales = if imp.opset >= 9 {
        imp.constant(node, 1)?.floats().iter().copied().collect()
    } else {
        get_floats(node, "scales")?
            .ok_or_else(|| attribute_error(node, "scales", "is required"))?
            .to_vec()
    };
    let r = legacy(imp, node, scales)?;
    Ok(Layer::on(Op::Resize(r), x))
}

/// The `axes` of opset 18 (default: all), as full axes of a rank-4 tensor.
fn axes(node: &NodeProto, count: usize) -> Result<Vec<usize>> {
    let Some(axes) = get_ints(node, "axes")? else {
        // Without `axes`, there is one value per axis of the 4-D input (found by the fuzzer:
        // six sizes indexed past the fourth axis).
        if count != 4 {
            return Err(attribute_error(
                node,
                "axes",
                format!("none given, so 4 scales or sizes are needed for a 4-D input, got {count}"),
            ));
        }
        return Ok((0..count).collect());
    };
    let full: Option<Vec<usize>> = axes.iter().map(|&a| full_axis(a, 4)).collect();
    match full {
        Some(f) if f.len() == count => Ok(f),
        _ => Err(attribute_error(
            node,
            "axes",
            format!("{axes:?} for {count} scales or sizes of a 4-D input"),
        )),
    }
}

/// Scales or sizes of the spatial axes from the inputs of Resize-11+.
fn size(imp: &Importer<'_>, node: &NodeProto, c: usize) -> Result<ResizeSize> {
    let sizes = imp
        .optional_constant(node, 3)?
        .map(|s| s.ints())
        .filter(|s| !s.is_empty());
    let scales = imp
        .optional_constant(node, 2)?
        .map(|s| s.floats().iter().copied().collect::<Vec<f32>>())
        .filter(|s| !s.is_empty());
    match (scales, sizes) {
        (Some(scales), None) => {
            let mut full = vec![1.0f32; 4];
            for (a, v) in axes(node, scales.len())?.into_iter().zip(scales) {
                full[a] = v;
            }
            Ok(ResizeSize::Scales(spatial_scales(imp, node, &full)?))
        }
        (None, Some(sizes)) => {
            let mut full = vec![imp.batch, c as i64, -1, -1];
            for (a, v) in axes(node, sizes.len())?.into_iter().zip(sizes) {
                full[a] = v;
            }
            match full[..] {
                [n, ch, h, w] if (n == imp.batch || n == 1) && ch == c as i64 && h > 0 && w > 0 => {
                    Ok(ResizeSize::Sizes([h as usize, w as usize]))
                }
                _ => Err(imp.unsupported(
                    node,
                    format!(
                        "sizes {full:?}: expected the batch size and {c} channels unchanged and \
                         positive spatial sizes"
                    ),
                )),
            }
        }
        (Some(_), Some(_)) => Err(imp.unsupported(node, "both scales and sizes are given")),
        (None, None) => Err(imp.unsupported(node, "neither scales nor sizes is given")),
    }
}

pub(super) fn resize(imp: &mut Importer<'_>, cx: &Ctx<'_>) -> Result<Layer> {
    let (node, x) = (cx.node, cx.x);
    let shape = imp.data_shape(node, x)?;
    if shape.len() != 3 {
        return Err(imp.unsupported(
            node,
            format!("input [N, {shape:?}]: only 4-D [N, C, H, W] inputs are resized"),
        ));
    }
    if imp.opset < 11 {
        let scales = imp.constant(node, 1)?.floats().iter().copied().collect();
        return Ok(Layer::on(Op::Resize(legacy(imp, node, scales)?), x));
    }
    let size = size(imp, node, shape[0])?;
    let linear = mode(node)? != "nearest";
    let coordinates = match get_string(node, "coordinate_transformation_mode")?.unwrap_or("half_pixel") {
        "half_pixel" => Coordinates::HalfPixel,
        "pytorch_half_pixel" => Coordinates::PytorchHalfPixel,
        "align_corners" => Coordinates::AlignCorners,
        "asymmetric" => Coordinates::Asymmetric,
        other => {
            return Err(attribute_error(
                node,
                "coordinate_transformation_mode",
                format!("`{other}` is not supported (half_pixel, pytorch_half_pixel, align_corners, asymmetric)"),
            ))
        }
    };
    let policy = get_string(node, "keep_aspect_ratio_policy")?.unwrap_or("stretch");
    if policy != "stretch" {
        return Err(attribute_error(
            node,
            "keep_aspect_ratio_policy",
            format!("`{policy}` is not supported (stretch)"),
        ));
    }
    let down = match size {
        ResizeSize::Scales(s) => s.iter().any(|&v| v < 1.0),
        ResizeSize::Sizes(o) => o[0] < shape[1] || o[1] < shape[2],
    };
    if get_int(node, "antialias")?.unwrap_or(0) != 0 && down {
        return Err(attribute_error(
            node,
            "antialias",
            "antialiased downscaling is not supported",
        ));
    }
    let interpolation = if linear {
        Interpolation::Linear
    } else {
        if get_int(node, "exclude_outside")?.unwrap_or(0) != 0 {
            return Err(attribute_error(
                node,
                "exclude_outside",
                "is not supported for nearest",
            ));
        }
        Interpolation::Nearest(
            match get_string(node, "nearest_mode")?.unwrap_or("round_prefer_floor") {
                "round_prefer_floor" => Nearest::RoundPreferFloor,
                "round_prefer_ceil" => Nearest::RoundPreferCeil,
                "floor" => Nearest::Floor,
                "ceil" => Nearest::Ceil,
                other => {
                    return Err(attribute_error(
                        node,
                        "nearest_mode",
                        format!("unknown value `{other}`"),
                    ))
                }
            },
        )
    };
    Ok(Layer::on(
        Op::Resize(Resize::new(interpolation, coordinates, size)),
        x,
    ))
}
