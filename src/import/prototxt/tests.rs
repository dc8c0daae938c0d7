//! Tests of the text-format parser.

use super::*;
use crate::import::proto::caffe::{
    pooling_parameter::PoolMethod, v1_layer_parameter::LayerType, BlobProto, Phase,
};

fn net(text: &str) -> Parsed<NetParameter> {
    match parse_net(text, "test.prototxt") {
        Ok(p) => p,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

/// (line, column, detail) of a parse error.
fn error(text: &str) -> (usize, usize, String) {
    match parse_net(text, "test.prototxt") {
        Err(Error::Parse {
            file,
            line,
            column,
            detail,
        }) => {
            assert_eq!(file, "test.prototxt");
            (line, column, detail)
        }
        Err(other) => panic!("expected a parse error, got {other}"),
        Ok(_) => panic!("expected a parse error for {text:?}"),
    }
}

#[test]
fn comments_and_whitespace() {
    let p = net("# header\nname: \"n\" # trailing\n\n  # only a comment\ninput: 'data'#x\n");
    assert_eq!(p.message.name(), "n");
    assert_eq!(p.message.input, vec!["data"]);
    assert!(p.warnings.is_empty());
}

#[test]
fn nested_messages_with_and_without_colon() {
    let p = net(
        "layer { name: 'c' type: 'Convolution' convolution_param: { num_output: 4 \
         kernel_size: 3 weight_filler < type: 'xavier' > } }",
    );
    let c = p.message.layer[0].convolution_param.as_ref().unwrap();
    assert_eq!(c.num_output, Some(4));
    assert_eq!(c.kernel_size, vec![3]);
    assert_eq!(c.weight_filler.as_ref().unwrap().r#type(), "xavier");
    // Defaults of the published schema apply to absent fields.
    assert!(c.bias_term());
    assert_eq!(c.group(), 1);
}

#[test]
fn repeated_fields_by_repetition_and_list() {
    let p = net("input: 'a' input: 'b' input_dim: 1; input_dim: 3, input_dim: [5, 7]");
    assert_eq!(p.message.input, vec!["a", "b"]);
    assert_eq!(p.message.input_dim, vec![1, 3, 5, 7]);
    let p = net("input_shape [ { dim: 1 dim: 2 }, { dim: [3] } ]");
    assert_eq!(p.message.input_shape.len(), 2);
    assert_eq!(p.message.input_shape[1].dim, vec![3]);
}

#[test]
fn enums_numbers_bools_and_strings() {
    let p = net("layer { name: \"p\\\"q\" type: 'Pooling' phase: TEST \
         pooling_param { pool: AVE stride: 0x2 pad: 01 global_pooling: true } \
         lrn_param { alpha: 1e-4 beta: -0.5 k: .5 local_size: 5 } \
         relu_param { negative_slope: 2.f } loss_weight: 1 \
         param { name: 'a' 'b' } }");
    let l = &p.message.layer[0];
    assert_eq!(l.name(), "p\"q");
    assert_eq!(l.phase(), Phase::Test);
    let pool = l.pooling_param.as_ref().unwrap();
    assert_eq!(pool.pool(), PoolMethod::Ave);
    assert_eq!((pool.stride(), pool.pad()), (2, 1));
    assert!(pool.global_pooling());
    let lrn = l.lrn_param.as_ref().unwrap();
    assert_eq!((lrn.alpha(), lrn.beta(), lrn.k()), (1e-4, -0.5, 0.5));
    assert_eq!(l.relu_param.as_ref().unwrap().negative_slope(), 2.0);
    assert_eq!(l.loss_weight, vec![1.0]);
    assert_eq!(l.param[0].name(), "ab");
    // Enum by number, escapes.
    let p = net("layers { type: 4 name: '\\x41\\102\\u00e9\\n' }");
    assert_eq!(p.message.layers[0].r#type(), LayerType::Convolution);
    assert_eq!(p.message.layers[0].name(), "AB\u{e9}\n");
}

#[test]
fn v1_layers_parse_with_enum_types() {
    let p = net(
        "input: 'data' input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8\n\
         layers { name: 'conv1' type: CONVOLUTION bottom: 'data' top: 'conv1' \
         blobs_lr: 1 blobs_lr: 2 convolution_param { num_output: 2 kernel_size: 3 } }",
    );
    let l = &p.message.layers[0];
    assert_eq!(l.r#type(), LayerType::Convolution);
    assert_eq!(l.blobs_lr, vec![1.0, 2.0]);
}

#[test]
fn unknown_fields_are_skipped_with_warnings() {
    let p = net(
        "name: 'n'\nfancy_option: 3\nlayer {\n  name: 'conv1'\n  type: 'Convolution'\n  \
         convolution_param { num_output: 2 my_flag: true nested { x: 1 y { z: 'q' } } }\n}\n\
         layer { future_param { a: [1, 2] } name: 'l2' }",
    );
    assert_eq!(p.message.name(), "n");
    assert_eq!(p.message.layer.len(), 2);
    assert_eq!(
        p.message.layer[0]
            .convolution_param
            .as_ref()
            .unwrap()
            .num_output,
        Some(2)
    );
    let w: Vec<(usize, usize, &str)> = p
        .warnings
        .iter()
        .map(|w| (w.line, w.column, w.path.as_str()))
        .collect();
    assert_eq!(
        w,
        vec![
            (2, 1, "fancy_option"),
            (6, 37, "layer[0](\"conv1\").convolution_param.my_flag"),
            (6, 51, "layer[0](\"conv1\").convolution_param.nested"),
            (8, 9, "layer[1](\"l2\").future_param"),
        ]
    );
    assert!(p.warnings[0]
        .to_string()
        .starts_with("test.prototxt:2:1: fancy_option:"));
}

#[test]
fn duplicate_and_non_finite_values_warn() {
    let p = net("name: 'a' name: 'b' layer { lrn_param { alpha: inf beta: -nan } }");
    assert_eq!(p.message.name(), "b");
    assert_eq!(p.warnings.len(), 3);
    let lrn = p.message.layer[0].lrn_param.as_ref().unwrap();
    assert!(lrn.alpha().is_infinite() && lrn.beta().is_nan());
}

#[test]
fn syntax_errors_have_line_and_column() {
    let (line, column, detail) = error("name: 'n'\nlayer {\n  name: 'x'\n  type 'ReLU'\n}");
    assert_eq!((line, column), (4, 8));
    assert!(detail.contains("expected `:` or `{`"), "{detail}");
    let (line, column, _) = error("layer { name: 'x' } }");
    assert_eq!((line, column), (1, 21));
    let (line, column, detail) = error("name: 'unterminated\ninput: 'x'");
    assert_eq!((line, column), (1, 7));
    assert!(detail.contains("unterminated string"), "{detail}");
    let (_, _, detail) = error("name: @");
    assert!(detail.contains("unexpected character"), "{detail}");
    let (_, _, detail) = error("name: 'a\\q'");
    assert!(detail.contains("invalid escape"), "{detail}");
    let (_, _, detail) = error("input_dim: [1, 2");
    assert!(detail.contains("not closed"), "{detail}");
}

#[test]
fn wrong_value_types_are_errors() {
    let cases = [
        (
            "layer { convolution_param { num_output: 'four' } }",
            "expected a uint32",
        ),
        (
            "layer { convolution_param { num_output: -4 } }",
            "out of range for uint32",
        ),
        (
            "layer { convolution_param { num_output: 1.5 } }",
            "expected an integer",
        ),
        (
            "layer { convolution_param { num_output: 4294967296 } }",
            "out of range",
        ),
        (
            "layer { convolution_param { bias_term: maybe } }",
            "expected a bool",
        ),
        (
            "layer { pooling_param { pool: MEDIAN } }",
            "unknown value `MEDIAN`",
        ),
        (
            "layer { pooling_param { pool: 7 } }",
            "7 is not a value of enum",
        ),
        ("layer { type: Convolution }", "expected a string"),
        ("layer { lrn_param { alpha: 'x' } }", "expected a float"),
        (
            "layer { lrn_param { alpha: 1e39 } }",
            "out of range for float",
        ),
        ("layer { lrn_param: 3 }", "expected a message"),
        ("layer { name { x: 1 } }", "got a message"),
        ("name: ['a', 'b']", "not repeated"),
    ];
    for (text, expected) in cases {
        let (line, column, detail) = error(text);
        assert!(
            detail.contains(expected),
            "{text}: {line}:{column}: {detail} (expected {expected:?})"
        );
    }
    let (_, _, detail) = error("layer { name: 'c1' convolution_param { num_output: 'x' } }");
    assert!(
        detail.starts_with("layer[0](\"c1\").convolution_param.num_output:"),
        "{detail}"
    );
}

#[test]
fn depth_is_limited() {
    // Unknown fields are still parsed (and depth-checked) before being skipped.
    let deep = format!("{}{}", "a { ".repeat(100), "} ".repeat(100));
    let (line, column, detail) = error(&deep);
    assert_eq!((line, column), (1, 4 * 64 + 3));
    assert!(detail.contains("deeper than 64"), "{detail}");
    let ok = format!("{}{}", "a { ".repeat(64), "} ".repeat(64));
    assert_eq!(net(&ok).warnings.len(), 1);
    let options = ParseOptions { max_depth: 2 };
    let r = parse_message::<NetParameter>(
        "layer { convolution_param { weight_filler { } } }",
        "t",
        &options,
    );
    assert!(matches!(r, Err(Error::Parse { .. })));
    // Deep input does not overflow the stack either.
    let very_deep = "a {".repeat(100_000);
    assert!(matches!(
        parse_net(&very_deep, "t"),
        Err(Error::Parse { .. })
    ));
}

#[test]
fn truncated_input_is_an_error() {
    let text = "name: 'n' layer { name: 'conv1' type: 'Convolution' convolution_param { \
                num_output: 96 kernel_size: 11 } }";
    for cut in 1..text.len() {
        let prefix = &text[..cut];
        // Every prefix either parses (cut at a field boundary) or fails with a parse error.
        if let Err(e) = parse_net(prefix, "cut.prototxt") {
            assert!(matches!(e, Error::Parse { .. }), "{prefix:?}: {e}");
        }
    }
    let (_, _, detail) = error("layer { name: 'x'");
    assert!(
        detail.contains("`layer` opened at 1:7 is not closed"),
        "{detail}"
    );
    let (_, _, detail) = error("name:");
    assert!(
        detail.contains("expected a value, got end of input"),
        "{detail}"
    );
}

#[test]
fn other_messages_of_the_schema() {
    let p = parse_message::<BlobProto>(
        "shape { dim: 2 dim: 1 } data: 0.5 data: -1",
        "blob.prototxt",
        &ParseOptions::default(),
    )
    .unwrap();
    assert_eq!(p.message.data, vec![0.5, -1.0]);
    assert_eq!(p.message.shape.unwrap().dim, vec![2, 1]);
}

#[test]
fn invalid_utf8_file_is_a_parse_error() {
    let dir = std::env::temp_dir().join(format!("lrp-prototxt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.prototxt");
    std::fs::write(&path, b"name: 'a'\nname: '\xff'").unwrap();
    match read_net(&path) {
        Err(Error::Parse { line, column, .. }) => assert_eq!((line, column), (2, 8)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        read_net(dir.join("missing")),
        Err(Error::Io { .. })
    ));
    std::fs::remove_dir_all(&dir).ok();
}
