//! A paper model from its published files, preprocessed as the paper did, explained with the
//! paper's preset.
//!
//! ```text
//! cargo run --release --example caffe_model -- deploy.prototxt weights.caffemodel \
//!     mean.binaryproto face.jpg [out.png]
//! ```
//!
//! The paper's 38 `deploy.prototxt` files and mean images are in its repository
//! (sebastian-lapuschkin/understanding-age-gender-deep-learning-models); the trained
//! `.caffemodel` files are linked from there.

use lrp::composite::Composite;
use lrp::explain::{Explainer, Target};
use lrp::heatmap::{self, Colormap, Normalize, Reduce, Upsample};
use lrp::model::Model;
use lrp::preprocess;
use std::path::Path;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        anyhow::bail!("usage: caffe_model DEPLOY.prototxt WEIGHTS.caffemodel MEAN.binaryproto FACE.jpg [OUT.png]");
    }
    let model = Model::load(
        Path::new(&args[0]),
        Some(Path::new(&args[1])),
        Some(Path::new(&args[2])),
        None,
    )?;
    for w in &model.warnings {
        eprintln!("warning: {w}");
    }
    let face = preprocess::load_face(&args[3], None)?;
    let x = preprocess::to_tensor(std::slice::from_ref(&face), &model.preprocess)?;
    let explainer = Explainer::new(model.graph.clone(), &Composite::preset("paper")?)?;
    let e = explainer.explain(&x, &Target::Predicted)?;
    let class = e.targets[0][0];
    println!(
        "{}: predicted {} (logit {:.3})",
        model.name,
        model.label(class),
        e.logits[[0, class]]
    );
    let map = heatmap::reduce(
        e.relevance.slice(ndarray::s![0, 0, .., .., ..]),
        Reduce::Sum,
    )?;
    let norm = heatmap::normalize(&map, &Normalize::default())?;
    let shown = model.preprocess.display_image(&face);
    let img = heatmap::render_upsampled(
        &norm.map,
        &Colormap::black_firered(),
        shown.height() as usize,
        shown.width() as usize,
        Upsample::Nearest,
    )?;
    let out = args
        .get(4)
        .cloned()
        .unwrap_or_else(|| "caffe_heatmap.png".into());
    heatmap::save_png(&img, &out)?;
    println!("heatmap: {out}");
    Ok(())
}
