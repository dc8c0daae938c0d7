//! The paper's Caffe files: every deploy prototxt parses, V1 files upgrade, mean images
//! decode, and caffemodels round-trip.
//!
//! NOTE: this test reads test data outside the repository, from `../shared/caffe/`
//! (relative to `CARGO_MANIFEST_DIR`): the 38 deploy prototxts of the ICCV 2017 paper and the
//! three fold-0 mean images. They are not copied into the project (see
//! `../shared/caffe/README.md`).

use lrp::import::caffe_model::{
    blob_to_array, caffemodel_with_weights, decode_blob, decode_net, mean_image, net_inputs,
    normalize_net, read_mean_image, LayerBlobs,
};
use lrp::import::proto::caffe::{LayerParameter, NetParameter};
use lrp::import::prototxt::read_net;
use lrp::zoo::rng::Rng;
use lrp::Error;
use std::collections::HashMap;

mod paper;
use paper::{file_name, paper_files, shared};

#[test]
fn all_38_paper_prototxts_parse_and_normalise() {
    let files = paper_files();
    assert_eq!(files.len(), 38);
    for path in &files {
        let name = file_name(path);
        let parsed = read_net(path).unwrap_or_else(|e| panic!("{e}"));
        assert!(parsed.warnings.is_empty(), "{name}: {:?}", parsed.warnings);
        let v1 = name.contains("net_definitions");
        let raw = &parsed.message;
        assert_eq!(
            v1,
            !raw.layers.is_empty(),
            "{name}: V1 format iff net_definitions"
        );
        assert_eq!(v1, raw.layer.is_empty(), "{name}");

        let net = normalize_net(parsed.message, &name).unwrap();
        assert!(!net.layer.is_empty(), "{name}");
        assert!(net.layers.is_empty());
        for layer in &net.layer {
            assert!(
                !layer.r#type().is_empty(),
                "{name}: layer {} has no type",
                layer.name()
            );
        }

        // The classifier: the last InnerProduct (GoogLeNet's auxiliary heads come earlier).
        let last_fc = net
            .layer
            .iter()
            .rev()
            .find(|l| l.r#type() == "InnerProduct")
            .unwrap_or_else(|| panic!("{name}: no InnerProduct"));
        let classes = last_fc.inner_product_param.as_ref().unwrap().num_output();
        let expected = if name.starts_with("age_") { 8 } else { 2 };
        assert_eq!(classes, expected, "{name}: {}", last_fc.name());

        // Inputs: one `data` blob, 227×227 for CaffeNet and AdienceNet, 224×224 otherwise.
        let inputs = net_inputs(&net, &name).unwrap();
        assert_eq!(inputs.len(), 1, "{name}");
        assert_eq!(inputs[0].name, "data");
        let side = if name.contains("caffereference") || v1 {
            227
        } else {
            224
        };
        assert_eq!(&inputs[0].shape[1..], &[3, side, side], "{name}");
        // The gender AdienceNet files declare a batch of 10, all others a batch of 1.
        let batch = if v1 && name.starts_with("gender_") {
            10
        } else {
            1
        };
        assert_eq!(inputs[0].shape[0], batch, "{name}");
    }
}

#[test]
fn v1_files_upgrade_to_current_types() {
    for path in paper_files()
        .iter()
        .filter(|p| file_name(p).contains("net_definitions"))
    {
        let name = file_name(path);
        let net = normalize_net(read_net(path).unwrap().message, &name).unwrap();
        let types: Vec<&str> = net.layer.iter().map(LayerParameter::r#type).collect();
        assert_eq!(
            types,
            [
                "Convolution",
                "ReLU",
                "Pooling",
                "LRN",
                "Convolution",
                "ReLU",
                "Pooling",
                "LRN",
                "Convolution",
                "ReLU",
                "Pooling",
                "InnerProduct",
                "ReLU",
                "Dropout",
                "InnerProduct",
                "ReLU",
                "Dropout",
                "InnerProduct",
                "Softmax",
            ],
            "{name}"
        );
        let conv1 = net.layer[0].convolution_param.as_ref().unwrap();
        assert_eq!(
            (
                conv1.num_output(),
                conv1.kernel_size.as_slice(),
                conv1.stride.as_slice()
            ),
            (96, &[7][..], &[4][..])
        );
        let lrn = net.layer[3].lrn_param.as_ref().unwrap();
        assert_eq!(
            (lrn.local_size(), lrn.alpha(), lrn.beta()),
            (5, 0.0001, 0.75)
        );
    }
}

#[test]
fn googlenet_has_concats_and_auxiliary_heads() {
    let path = shared("paper/age_finetuning_googlenet.prototxt");
    let net = read_net(&path).unwrap().message;
    let count = |t: &str| net.layer.iter().filter(|l| l.r#type() == t).count();
    assert_eq!(count("Concat"), 9);
    assert_eq!(count("InnerProduct"), 5);
    let fc = net.layer.iter().find(|l| l.name() == "loss1/fc").unwrap();
    assert_eq!(fc.inner_product_param.as_ref().unwrap().num_output(), 1024);
    let conv = &net.layer[0];
    assert_eq!(conv.param.len(), 2);
    assert_eq!(
        (conv.param[1].lr_mult(), conv.param[1].decay_mult()),
        (2.0, 0.0)
    );
}

#[test]
fn mean_images_are_3x256x256_bytes() {
    for which in ["aligned", "mixed", "unaligned"] {
        let path = shared(&format!("mean/{which}_fold0.binaryproto"));
        let mean = read_mean_image(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(mean.shape(), &[3, 256, 256], "{which}");
        assert!(mean.iter().all(|&v| (0.0..=255.0).contains(&v)), "{which}");
        let avg = mean.iter().map(|&v| f64::from(v)).sum::<f64>() / mean.len() as f64;
        assert!(avg > 20.0 && avg < 235.0, "{which}: implausible mean {avg}");
    }
}

#[test]
fn truncated_binaryproto_is_a_typed_error() {
    let path = shared("mean/aligned_fold0.binaryproto");
    let bytes = std::fs::read(&path).unwrap();
    for cut in [0, 1, 7, 100, bytes.len() / 2, bytes.len() - 1] {
        let result = decode_blob(&bytes[..cut], "cut.binaryproto")
            .and_then(|b| mean_image(&b, "cut.binaryproto"));
        match result {
            Err(Error::Decode { .. } | Error::Format { .. }) => {}
            other => panic!("cut at {cut}: expected a typed error, got {other:?}"),
        }
    }
}

/// Random blobs for every layer with parameters: weights and biases of the right shapes.
fn random_weights(net: &NetParameter, rng: &mut Rng) -> HashMap<String, LayerBlobs> {
    // Channels flowing through the net, to size the weights (input: 3 channels).
    let mut channels: HashMap<String, usize> = HashMap::from([("data".to_string(), 3)]);
    let mut weights = HashMap::new();
    let mut random = |n: usize| (0..n).map(|_| rng.uniform() - 0.5).collect::<Vec<f32>>();
    for layer in &net.layer {
        let input = layer
            .bottom
            .first()
            .and_then(|b| channels.get(b))
            .copied()
            .unwrap_or(0);
        let out = match layer.r#type() {
            "Convolution" => {
                let p = layer.convolution_param.as_ref().unwrap();
                let k = p.kernel_size[0] as usize;
                let (o, g) = (p.num_output() as usize, p.group() as usize);
                let shape = vec![o, input / g, k, k];
                let n = shape.iter().product();
                weights.insert(
                    layer.name().to_string(),
                    vec![(shape, random(n)), (vec![o], random(o))],
                );
                o
            }
            "InnerProduct" => {
                let o = layer.inner_product_param.as_ref().unwrap().num_output() as usize;
                // Small stand-in fan-in: the round trip does not need real sizes.
                let shape = vec![o, 7];
                weights.insert(
                    layer.name().to_string(),
                    vec![(shape, random(o * 7)), (vec![o], random(o))],
                );
                o
            }
            "Concat" => layer.bottom.iter().filter_map(|b| channels.get(b)).sum(),
            _ => input,
        };
        for top in &layer.top {
            channels.insert(top.clone(), out);
        }
    }
    weights
}

#[test]
fn caffemodel_write_read_round_trip() {
    let mut rng = Rng::new(2017);
    for file in [
        "age_net_definitions.prototxt",
        "gender_finetuning_caffereference.prototxt",
    ] {
        let deploy = read_net(shared(&format!("paper/{file}"))).unwrap().message;
        let upgraded = normalize_net(deploy.clone(), file).unwrap();
        let weights = random_weights(&upgraded, &mut rng);
        assert!(weights.len() >= 6, "{file}");
        let bytes = caffemodel_with_weights(&deploy, &weights, "random.caffemodel").unwrap();

        let back = normalize_net(decode_net(&bytes, "random.caffemodel").unwrap(), file).unwrap();
        assert_eq!(back.layer.len(), upgraded.layer.len());
        for layer in &back.layer {
            let expected = weights
                .get(layer.name())
                .map(Vec::as_slice)
                .unwrap_or_default();
            assert_eq!(
                layer.blobs.len(),
                expected.len(),
                "{file}: {}",
                layer.name()
            );
            for (i, (blob, (shape, data))) in layer.blobs.iter().zip(expected).enumerate() {
                let what = format!("layer `{}` blob {i}", layer.name());
                let a = blob_to_array(blob, "random.caffemodel", &what).unwrap();
                assert_eq!(a.shape(), shape.as_slice(), "{what}");
                assert_eq!(a.as_slice().unwrap(), data.as_slice(), "{what}");
            }
        }
        // Everything but the blobs is the upgraded deploy definition.
        let mut stripped = back.clone();
        stripped.layer.iter_mut().for_each(|l| l.blobs.clear());
        assert_eq!(stripped, upgraded);

        // Truncated caffemodels: a typed error, never a panic.
        for cut in [1, 3, bytes.len() / 3, bytes.len() - 2] {
            let r = decode_net(&bytes[..cut], "cut.caffemodel").and_then(|n| {
                let n = normalize_net(n, "cut.caffemodel")?;
                for l in &n.layer {
                    for b in &l.blobs {
                        blob_to_array(b, "cut.caffemodel", l.name())?;
                    }
                }
                Ok(n)
            });
            assert!(
                matches!(r, Err(Error::Decode { .. } | Error::Format { .. })),
                "{file}: cut at {cut} gave {r:?}"
            );
        }
    }
}
