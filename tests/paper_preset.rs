//! The paper preset on the paper's own networks: the imported deploy prototxts (read from
//! ../shared/caffe) with seeded random weights. The preset must recognise each architecture
//! (flat on its lowest convolutions), use the paper's LRN rule, and give finite, non-trivial
//! relevance of the input's shape.

use lrp::composite::Composite;
use lrp::explain::{Explainer, Target};
use lrp::import::{caffe, prototxt};
use lrp::rules::{Convention, Rule};
use lrp::zoo::{rng::Rng, Architecture};
use lrp::Tensor;
use ndarray::IxDyn;

const PAPER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/caffe/paper");

fn run(file: &str, arch: Architecture, classes: usize) {
    let path = format!("{PAPER}/{file}");
    let parsed = prototxt::read_net(&path).unwrap();
    let model = caffe::from_net_random(&parsed.message, 7, &path).unwrap();
    let g = model.graph;
    assert_eq!(Architecture::detect(&g), Some(arch), "{file}");
    let c = Composite::preset("paper").unwrap();
    let rules = c.resolve(&g).unwrap();
    let flat: Vec<&str> = g
        .nodes()
        .iter()
        .filter(|n| rules.get(&n.name).is_some_and(|r| r.rule == Rule::Flat))
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(flat, arch.paper_flat_layers(), "{file}");
    assert!(rules.values().all(|r| r.convention == Convention::Paper));
    let ex = Explainer::new(g, &c).unwrap();
    assert!(
        ex.rule_names()
            .iter()
            .any(|(_, r)| r.as_deref() == Some("lrn (paper)"))
            || arch == Architecture::Vgg16,
        "{file}: LRN layers must use the paper's rule"
    );
    let mut shape = vec![1];
    shape.extend(arch.input_shape());
    let mut rng = Rng::new(1);
    // Mean-subtracted BGR pixels are roughly within ±128.
    let x = Tensor::from_shape_fn(IxDyn(&shape), |_| rng.normal() * 60.0);
    let e = ex.explain(&x, &Target::All).unwrap();
    assert_eq!(e.relevance.shape()[..2], [1, classes]);
    assert!(e.relevance.iter().all(|v| v.is_finite()), "{file}");
    assert!(e.relevance.iter().any(|&v| v != 0.0), "{file}");
}

#[test]
fn adiencenet_v1_prototxt() {
    run("age_net_definitions.prototxt", Architecture::AdienceNet, 8);
}

#[test]
fn caffenet_prototxt() {
    run(
        "gender_finetuning_caffereference.prototxt",
        Architecture::CaffeNet,
        2,
    );
}

#[test]
fn googlenet_prototxt() {
    run(
        "gender_fromscratch_googlenet.prototxt",
        Architecture::GoogLeNet,
        2,
    );
}

#[test]
fn vgg16_prototxt() {
    run("age_imdbwiki_vgg16.prototxt", Architecture::Vgg16, 8);
}
