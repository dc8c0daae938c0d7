//! The `lrp` command line: LRP heatmaps of convolutional networks.
//!
//! `lrp explain` with no arguments explains the two shipped face models on the two shipped
//! portraits and writes heatmaps and a labelled figure to `./lrp-out/`. Every error is one
//! line on stderr and a non-zero exit status.
//!
//! One file per subcommand (argument handling, progress bars and the layout of the output
//! files); what they compute lives in the library. `common.rs` holds the options and loaders
//! the subcommands share.

mod common;
mod compare;
mod explain;
mod figure;
mod forward;
mod info;
mod merge;
mod stream;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "lrp",
    version,
    about = "Layer-wise Relevance Propagation heatmaps for convolutional networks",
    long_about = "Explain what convolutional networks look at with Layer-wise Relevance \
                  Propagation. Loads ONNX models and the Caffe models of the ICCV 2017 age and \
                  gender paper (deploy.prototxt, .caffemodel, mean.binaryproto). `lrp explain` \
                  without arguments runs the shipped face models on the shipped portraits."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Explain predictions: heatmap PNGs, optionally raw relevance (.npy) and a JSON summary.
    Explain(explain::ExplainArgs),
    /// Pre-softmax logits of a model.
    Forward(forward::ForwardArgs),
    /// A labelled figure: rows = images, columns = models × presets.
    Figure(figure::FigureArgs),
    /// Layers, shapes, parameter counts and the rule each layer gets under a preset.
    Info(info::InfoArgs),
    /// Compare heatmaps of models × presets over many images: similarity matrices, average
    /// maps, pixel-flipping curves and AOPC, spectral clustering.
    Compare(compare::CompareArgs),
    /// Join the manifests of the shards (`--shard K/N`) that wrote into one folder into its
    /// manifest.jsonl.
    Merge(merge::MergeArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Explain(a) => explain::run(a),
        Command::Forward(a) => forward::run(a),
        Command::Figure(a) => figure::run(a),
        Command::Info(a) => info::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Merge(a) => merge::run(a),
    };
    if let Err(e) = result {
        // One line: the error and its causes, each only if it adds something (lrp's own
        // errors already include the I/O error they wrap).
        let mut msg = e.to_string();
        for cause in e.chain().skip(1) {
            let c = cause.to_string();
            if !msg.contains(&c) {
                msg.push_str(": ");
                msg.push_str(&c);
            }
        }
        // Whatever a dependency's message holds, the answer stays one line.
        eprintln!("lrp: error: {}", lrp::error::one_line(&msg));
        std::process::exit(1);
    }
}
