//! Writes a `.caffemodel` with seeded random weights for a Caffe network definition.
//!
//! ```text
//! cargo run --release --example write_random_caffemodel -- NET.prototxt SEED OUT.caffemodel
//! ```
//!
//! The weights are [`lrp::import::caffe::random_weights`] for `SEED`, written by our caffemodel
//! writer. `tests/opencv/make_reference.py` uses this to give OpenCV the very weights that
//! `tests/caffe_opencv.rs` regenerates from the seed.

use anyhow::{bail, Context, Result};
use lrp::import::caffe::random_weights;
use lrp::import::caffe_model::caffemodel_with_weights;
use lrp::import::prototxt::read_net;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [prototxt, seed, out] = args.as_slice() else {
        bail!("usage: write_random_caffemodel NET.prototxt SEED OUT.caffemodel");
    };
    let seed: u64 = seed.parse().context("SEED must be an unsigned integer")?;
    let net = read_net(prototxt)?.message;
    let weights = random_weights(&net, seed)?;
    let bytes = caffemodel_with_weights(&net, &weights, prototxt)?;
    std::fs::write(out, &bytes).with_context(|| format!("cannot write {out}"))?;
    eprintln!(
        "{out}: {} bytes, {} layers with weights",
        bytes.len(),
        weights.len()
    );
    Ok(())
}
