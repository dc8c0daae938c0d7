//! The `lrp` command line: LRP heatmaps of convolutional networks.
//!
//! `lrp explain` with no arguments explains the two shipped face models on the two shipped
//! portraits and writes heatmaps and a labelled figure to `./lrp-out/`. Every error, usage
//! errors included, is one line on stderr (`lrp: error: …`) and exit status 1; `--help` and
//! `--version` print as usual with status 0. Everything printed goes through the library's one
//! sanitiser ([`lrp::error::sanitize`]): no control characters from a file reach the terminal
//! and no message runs longer than a bound. Output to a closed pipe (`lrp forward … | head
//! -1`) ends the run quietly.
//!
//! One file per subcommand (argument handling, progress bars and the layout of the output
//! files); what they compute lives in the library. `common.rs` holds the options and loaders
//! the subcommands share.

/// Print one line (or several, each sanitised) on standard output; see [`out::line`].
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::out::line(&format!($($arg)*))
    };
}

/// Print one sanitised line on standard error; see [`out::err_line`].
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::out::err_line(&format!($($arg)*))
    };
}

/// Freed activations and rule temporaries are kept for the next image (see
/// [`lrp::memory::Pool`]; `LRP_POOL=0` turns it off).
#[global_allocator]
static ALLOC: lrp::memory::Pool = lrp::memory::Pool::new(lrp::memory::Pool::DEFAULT_LIMIT);

mod common;
mod compare;
mod concepts;
mod evaluate;
mod explain;
mod faces;
mod figure;
mod forward;
mod info;
mod merge;
mod methods;
mod out;
mod stream;
mod tokens;

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
    /// A labelled figure: rows = images, columns = models × presets (or methods).
    Figure(figure::FigureArgs),
    /// Layers, shapes, parameter counts and the rule each layer gets under a preset.
    Info(info::InfoArgs),
    /// Compare heatmaps of models × presets over many images: similarity matrices, average
    /// maps, pixel-flipping curves and AOPC, spectral clustering.
    Compare(compare::CompareArgs),
    /// Score explanations of models × methods by quality metrics (pixel flipping, SRG,
    /// faithfulness correlation, sparseness, complexity, random logit, MPRT, and with masks
    /// relevance mass, relevance rank and pointing game): a table ranking LRP presets and the
    /// baseline methods, as CSV, JSON and a plot.
    Evaluate(evaluate::EvaluateArgs),
    /// Concept Relevance Propagation: which channels of a layer a prediction uses, their
    /// conditional heatmaps and reference crops from relevance maximisation over a folder.
    Concepts(concepts::ConceptsArgs),
    /// Join the manifests of the shards (`--shard K/N`) that wrote into one folder into its
    /// manifest.jsonl.
    Merge(merge::MergeArgs),
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => out::usage_error(e),
    };
    if let Err(e) = out::thread_pool() {
        out::fail(&e);
    }
    if let Err(e) = ALLOC.limit_from_env() {
        out::fail(&e.into());
    }
    let result = match cli.command {
        Command::Explain(a) => explain::run(a),
        Command::Forward(a) => forward::run(a),
        Command::Figure(a) => figure::run(a),
        Command::Info(a) => info::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Evaluate(a) => evaluate::run(a),
        Command::Concepts(a) => concepts::run(a),
        Command::Merge(a) => merge::run(a),
    };
    if let Err(e) = result {
        out::fail(&e);
    }
}
