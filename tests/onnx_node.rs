//! Node-level ONNX conformance: one small model per case, imported with
//! `lrp::import::onnx::load`, run forward and compared with the expected output.
//!
//! The cases are in `tests/data/onnx_node/<case>/` (`model.onnx`, `input_0.pb`,
//! `output_0.pb`) and listed in `tests/data/onnx_node/manifest.json`; they are produced by
//! `tests/onnx_node/generate.py` (see its docstring and the README there). The expected
//! outputs are the ONNX package's (onnx 1.23.2): the node test cases of
//! `onnx.backend.test.case.node` (numpy code shipped with the package) or, for our own
//! models, its reference implementation `onnx.reference.ReferenceEvaluator`; every one was
//! cross-checked against onnxruntime by the script.
//!
//! Tolerance: rtol 1e-5, atol 1e-6 unless the manifest declares otherwise for the case.
//!
//! Every case in the manifest must appear in `node_cases!` below (and the other way round),
//! so that `cargo test` names each case: `manifest_and_case_list_agree` checks it.

mod common;

use common::{assert_allclose, data_dir, read_tensor};

const DEFAULT_RTOL: f64 = 1e-5;
const DEFAULT_ATOL: f64 = 1e-6;

/// One manifest entry, as far as the test needs it.
struct Case {
    name: String,
    rtol: f64,
    atol: f64,
}

/// The manifest: a JSON array written by generate.py with one case object per line; read
/// line by line so that no JSON crate is needed.
fn manifest() -> Vec<Case> {
    let path = data_dir("onnx_node").join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            let name = string_field(l, "name")
                .unwrap_or_else(|| panic!("manifest line without a name: {l}"));
            Case {
                rtol: number_field(l, "rtol").unwrap_or(DEFAULT_RTOL),
                atol: number_field(l, "atol").unwrap_or(DEFAULT_ATOL),
                name,
            }
        })
        .collect()
}

/// The raw text after `"key": ` in a one-line JSON object.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":");
    let start = line.find(&pat)? + pat.len();
    Some(line[start..].trim_start())
}

fn string_field(line: &str, key: &str) -> Option<String> {
    let rest = field(line, key)?.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

fn number_field(line: &str, key: &str) -> Option<f64> {
    let rest = field(line, key)?;
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].trim().parse().ok()
}

/// Cases outside the importer's scope (see the operator table in `src/import/onnx.rs`): the
/// import must fail with a typed error whose message contains the given text.
const OUT_OF_SCOPE: &[(&str, &str)] = &[
    // Dilated pooling is not one of the supported pooling features.
    ("maxpool_2d_dilations", "dilated pooling is not supported"),
    // A PRelu slope along the width only is valid ONNX, but not one slope per channel.
    (
        "prelu_slope_per_column",
        "the slope of shape [5] does not broadcast per channel",
    ),
    // Concatenating a constant whose first axis is the batch cannot be batch-independent
    // (a constant with 1 there, a class token, is repeated for every sample).
    ("concat_2d_axis_1", "with 1 on the batch axis"),
    // LRP explains each sample on its own: a normalisation over the batch is not per-sample.
    ("layernorm_4d_axis0", "normalises over the batch axis"),
    // Resize: cubic, antialiased downscaling, keep_aspect_ratio_policy, tf_crop_and_resize.
    ("resize_upsample_scales_cubic", "`cubic` is not supported"),
    (
        "resize_downsample_scales_linear_antialias",
        "antialiased downscaling is not supported",
    ),
    (
        "resize_upsample_sizes_nearest_not_larger",
        "`not_larger` is not supported",
    ),
    (
        "resize_tf_crop_and_resize",
        "`tf_crop_and_resize` is not supported",
    ),
    // The batch axis stays first; ReduceMean only pools the spatial axes.
    ("transpose_moves_batch", "moves the batch axis"),
    ("reducemean_channels", "ReduceMean over axes [1]"),
];

fn run_case(name: &str) {
    if let Some((_, msg)) = OUT_OF_SCOPE.iter().find(|(n, _)| *n == name) {
        let dir = data_dir("onnx_node").join(name);
        let err = lrp::import::onnx::load(dir.join("model.onnx"))
            .expect_err("an out-of-scope case must be rejected");
        let text = err.to_string();
        assert!(text.contains(msg), "{name}: unexpected error `{text}`");
        return;
    }
    let case = manifest()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("case `{name}` is not in manifest.json"));
    let dir = data_dir("onnx_node").join(name);
    let graph = lrp::import::onnx::load(dir.join("model.onnx"))
        .unwrap_or_else(|e| panic!("{name}: import failed: {e}"));
    let x = read_tensor(&dir.join("input_0.pb"));
    let want = read_tensor(&dir.join("output_0.pb"));
    let got = graph
        .forward(&x)
        .unwrap_or_else(|e| panic!("{name}: forward failed: {e}"));
    // Expected values: the ONNX package's reference (see the module documentation).
    assert_allclose(name, &got, &want, case.rtol, case.atol);
}

/// One `#[test]` per case, named after it, plus `CASES`, the list of names.
macro_rules! node_cases {
    ($($name:ident,)*) => {
        $(
            #[test]
            fn $name() {
                run_case(stringify!($name));
            }
        )*

        const CASES: &[&str] = &[$(stringify!($name)),*];
    };
}

// The output of `python tests/onnx_node/generate.py` (stdout), in manifest order.
node_cases! {
    conv_basic_with_padding,
    conv_basic_without_padding,
    conv_with_strides_padding,
    conv_with_strides_no_padding,
    conv_with_strides_and_asymmetric_padding,
    conv_with_autopad_same,
    gemm_default_zero_bias,
    gemm_default_no_bias,
    gemm_default_scalar_bias,
    gemm_default_single_elem_vector_bias,
    gemm_default_vector_bias,
    gemm_transpose_b,
    gemm_alpha,
    gemm_beta,
    matmul_2d,
    maxpool_2d_default,
    maxpool_2d_precomputed_pads,
    maxpool_2d_precomputed_strides,
    maxpool_2d_precomputed_same_upper,
    maxpool_2d_same_lower,
    maxpool_2d_pads,
    maxpool_2d_strides,
    maxpool_2d_ceil,
    maxpool_2d_ceil_output_size_reduce_by_one,
    maxpool_2d_dilations,
    averagepool_2d_default,
    averagepool_2d_precomputed_pads,
    averagepool_2d_precomputed_pads_count_include_pad,
    averagepool_2d_precomputed_strides,
    averagepool_2d_precomputed_same_upper,
    averagepool_2d_pads,
    averagepool_2d_pads_count_include_pad,
    averagepool_2d_ceil,
    averagepool_2d_ceil_last_window_starts_on_pad,
    globalaveragepool,
    globalaveragepool_precomputed,
    lrn,
    lrn_default,
    concat_2d_axis_1,
    batchnorm_example,
    batchnorm_epsilon,
    constant_pad,
    constant_pad_axes,
    flatten_axis1,
    flatten_default_axis,
    identity,
    softmax_example,
    softmax_large_number,
    layernorm_4d_axis1,
    layernorm_4d_axis2,
    layernorm_4d_axis_negative_1,
    layernorm_default_axis,
    layernorm_2d_axis1,
    layernorm_4d_axis0,
    convtranspose,
    convtranspose_pads,
    convtranspose_pad,
    convtranspose_output_shape,
    convtranspose_kernel_shape,
    convtranspose_dilations,
    convtranspose_autopad_same,
    convtranspose_group_2,
    convtranspose_group_2_image_3,
    resize_upsample_scales_nearest,
    resize_downsample_scales_nearest,
    resize_upsample_sizes_nearest,
    resize_downsample_sizes_nearest,
    resize_upsample_scales_linear,
    resize_upsample_scales_linear_align_corners,
    resize_downsample_scales_linear,
    resize_downsample_sizes_linear_pytorch_half_pixel,
    resize_upsample_sizes_nearest_floor_align_corners,
    resize_upsample_sizes_nearest_round_prefer_ceil_asymmetric,
    resize_upsample_sizes_nearest_ceil_half_pixel,
    resize_upsample_scales_nearest_axes_3_2,
    resize_upsample_sizes_nearest_axes_2_3,
    resize_upsample_scales_cubic,
    resize_downsample_scales_linear_antialias,
    resize_upsample_sizes_nearest_not_larger,
    resize_tf_crop_and_resize,
    split_equal_parts_2d_opset13,
    split_variable_parts_2d_opset13,
    split_2d_uneven_split_opset18,
    conv_group_dilations_bias,
    conv_depthwise_strides,
    conv_autopad_same_upper,
    conv_opset7_rect_kernel,
    gemm_alpha_beta_trans_b_opset9,
    gemm_opset7_bias_row,
    matmul_2d_batch4,
    relu_4d,
    relu_2d_opset7,
    sigmoid_4d,
    sigmoid_2d_opset7,
    tanh_4d,
    tanh_2d_opset7,
    clip_opset10_attrs,
    clip_opset7_min_attr_only,
    clip_opset13_relu6_inputs,
    clip_opset13_min_input_only,
    clip_opset11_max_input_only,
    hardsigmoid_alpha_beta,
    hardsigmoid_default_opset22,
    hardswish_opset14,
    gelu_opset20_erf,
    gelu_opset20_tanh,
    leakyrelu_default_opset16,
    leakyrelu_alpha_opset7,
    elu_default_opset7,
    elu_alpha_opset22,
    prelu_slope_c11,
    prelu_slope_1c11_opset16,
    prelu_scalar_slope,
    prelu_2d_slope_c,
    prelu_slope_per_column,
    add_same_shape_const,
    add_per_channel_const,
    add_scalar_const,
    mul_same_shape_const,
    mul_per_channel_const,
    mul_scalar_const,
    add_two_branches,
    mul_two_branches,
    sum_two_branches,
    sum_three_with_const,
    concat_axis1_branches,
    concat_axis_neg3_three_inputs,
    batchnorm_opset9,
    pad_opset10_attr,
    pad_opset11_input_zero,
    pad_opset13_value,
    flatten_opset9_axis1,
    reshape_zero_minus_one,
    reshape_4d_to_4d,
    reshape_minus_one_196,
    dropout_opset7_ratio,
    dropout_opset10_mask_output,
    dropout_opset13_ratio_input,
    softmax_2d_opset13,
    softmax_4d_opset9_coerced,
    softmax_4d_opset11_squeezenet,
    softmax_4d_opset13_axis1,
    identity_then_relu,
    constant_tensor_add,
    constant_value_float_mul,
    constant_conv_weights,
    constantofshape_conv_weights,
    constantofshape_mul,
    layernorm_4d_axis_neg1_no_bias,
    layernorm_4d_axis1_no_bias,
    layernorm_4d_axis1_broadcast_scale,
    transpose_channels_last,
    transpose_moves_batch,
    channel_shuffle_5d,
    channel_shuffle_from_shape,
    chunk_from_shape,
    shape_start_end_reshape,
    slice_steps_negative,
    slice_opset9_attrs,
    slice_batch_whole,
    split_opset13_recombined,
    split_opset18_num_outputs_uneven,
    split_opset11_attr_sum,
    gather_progression_axis3,
    gather_scalar_axis1,
    gather_as_strided_head,
    matmul_channels_last_bias,
    reducemean_opset13_axes_attr,
    reducemean_opset18_axes_input,
    reducemean_opset18_noop,
    reducemean_channels,
    resize_opset13_nearest_torch,
    resize_opset13_bilinear_torch,
    resize_opset11_bilinear_align_corners_sizes,
    resize_opset13_pytorch_half_pixel_down,
    resize_opset13_nearest_half_pixel_mixed,
    resize_opset11_linear_asymmetric,
    resize_sizes_from_shape,
    upsample_opset9_nearest,
    resize_opset10_nearest,
    upsample_opset7_linear,
    convtranspose_torch_k3_s2_p1_op1,
    convtranspose_group_dilation_asym_pads,
    convtranspose_depthwise_autopad_same_lower,
    conv_depthwise_same_lower_even_kernel,
    conv_grouped_same_upper_strided,
    conv_depthwise_multiplier_asym_pads,
}

#[test]
fn manifest_and_case_list_agree() {
    let in_manifest: Vec<String> = manifest().into_iter().map(|c| c.name).collect();
    let listed: Vec<String> = CASES.iter().map(|s| s.to_string()).collect();
    let missing: Vec<&String> = in_manifest.iter().filter(|n| !listed.contains(n)).collect();
    let extra: Vec<&String> = listed.iter().filter(|n| !in_manifest.contains(n)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "in manifest.json but not in node_cases!: {missing:?}; in node_cases! but not in \
         manifest.json: {extra:?}"
    );
    assert_eq!(in_manifest, listed, "same cases, different order");
    for name in &in_manifest {
        let dir = data_dir("onnx_node").join(name);
        for file in ["model.onnx", "input_0.pb", "output_0.pb"] {
            assert!(dir.join(file).is_file(), "{name}: missing {file}");
        }
    }
}
