//! The Rust half of the side-by-side benchmark against Zennit (`benches/zennit/`).
//!
//! A worker driven line by line over stdin by `benches/zennit/side_by_side.py`, so that both
//! sides run alternately in one process tree with the same thread count:
//!
//! ```text
//! export NAME OUT.onnx        write model NAME (gender, age, or a zoo architecture) canonised
//!                             to ONNX, the file both sides then load
//! load KEY FILE.onnx [WHAT[,WHAT…]]
//!                             load (and canonise) a model; prepare the two CNN presets, or
//!                             only the WHATs named: presets (epsilon-plus-flat,
//!                             epsilon-alpha2-beta1-flat, attnlrp, cp-lrp) or attribution
//!                             methods of lrp::attribution by their command-line names
//!                             (smoothgrad, integrated-gradients, gradient, …) with the
//!                             command line's defaults (Method::from_name: SmoothGrad 50
//!                             samples, σ 15% of each image's range, seed 0; integrated
//!                             gradients 50 Gauss–Legendre steps from 0; 16 copies per pass);
//!                             `smoothgrad:S` uses the absolute σ = S instead (Captum's
//!                             `stdevs`). With exactly one the explainer owns the only copy of
//!                             the weights, as a program that explains would (for measuring
//!                             memory), and forward is not ready
//! run KEY WHAT IN.npy REPS OUT.npy|-
//!                             WHAT: forward, a prepared preset or a prepared method's name
//!                             (`smoothgrad`, without its σ); prints the milliseconds of each
//!                             repetition, writes the input relevance (attribution) of the last
//!                             one for the predicted classes
//! size KEY BATCH              bytes of weights and of all activations at BATCH
//! reset-peak                  reset the peak resident set size (Linux)
//! rss                         peak and current resident set size in kB
//! quit
//! ```
//!
//! Every answer is one line starting with `ok` or `error`.

use anyhow::{bail, Context, Result};
use lrp::attribution::{Attributor, Method, Sigma};
use lrp::composite::Composite;
use lrp::explain::{Explainer, Explanation, Target};
use lrp::zoo::{self, Architecture};
use lrp::{Graph, Tensor};
use ndarray::{Array4, IxDyn};
use ndarray_npy::{read_npy, write_npy};
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::time::Instant;

/// The allocator of the `lrp` command line and the Python module, so that the two sides time
/// the same thing (`LRP_POOL=0` turns its cache off; see [`lrp::memory::Pool`]).
#[global_allocator]
static ALLOC: lrp::memory::Pool = lrp::memory::Pool::new(lrp::memory::Pool::DEFAULT_LIMIT);

/// The presets a worker can prepare; without a PRESET, `load` prepares the first two (the CNN
/// presets of the Zennit comparison); the others are the transformer presets (LXT comparison).
const PRESETS: [&str; 4] = [
    "epsilon-plus-flat",
    "epsilon-alpha2-beta1-flat",
    "attnlrp",
    "cp-lrp",
];

struct Loaded {
    graph: Option<Graph>,
    explainers: Vec<Option<Explainer>>,
    /// Attribution methods by name (`smoothgrad`, `integrated-gradients`, …).
    methods: HashMap<String, Attributor>,
}

/// The attribution method a `load` entry names: `NAME` with the command line's defaults, or
/// `smoothgrad:S` with the absolute noise level `S`.
fn method(entry: &str) -> Result<Method> {
    let (name, sigma) = match entry.split_once(':') {
        Some((n, s)) => (n, Some(s)),
        None => (entry, None),
    };
    let m = Method::from_name(name)?;
    Ok(match (m, sigma) {
        (m, None) => m,
        (
            Method::SmoothGrad {
                samples,
                noise,
                batch,
                ..
            },
            Some(s),
        ) => Method::SmoothGrad {
            samples,
            sigma: Sigma::Absolute(s.parse().with_context(|| format!("noise level {s}"))?),
            noise,
            batch,
        },
        (_, Some(_)) => bail!("{entry}: only smoothgrad takes a parameter (its σ)"),
    })
}

fn main() -> Result<()> {
    ALLOC.limit_from_env()?;
    let mut models: HashMap<String, Loaded> = HashMap::new();
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    for line in stdin.lock().lines() {
        let line = line?;
        let args: Vec<&str> = line.split_whitespace().collect();
        if args.first() == Some(&"quit") {
            break;
        }
        let answer = match command(&args, &mut models) {
            Ok(a) => format!("ok {a}"),
            Err(e) => format!("error {e:#}").replace('\n', " "),
        };
        writeln!(out, "{answer}")?;
        out.flush()?;
    }
    Ok(())
}

fn command(args: &[&str], models: &mut HashMap<String, Loaded>) -> Result<String> {
    match args {
        ["export", name, path] => {
            let graph = match *name {
                "gender" => lrp::model::Model::gender()?.graph,
                "age" => lrp::model::Model::age()?.graph,
                arch => {
                    let a = Architecture::from_name(arch)
                        .with_context(|| format!("unknown model {arch}"))?;
                    zoo::build(a, 8, 1)?
                }
            };
            let graph = lrp::canonize::canonize(&graph)?;
            lrp::export::onnx::save(&graph, path)?;
            Ok(format!("{:?}", graph.input_shape()))
        }
        ["load", key, path, only @ ..] => {
            let graph = lrp::canonize::canonize(&lrp::import::onnx::load(path)?)?;
            // The file's bytes and decoding buffers: not reused, not kept in the pool.
            ALLOC.release();
            let loaded = match only {
                [] => Loaded {
                    explainers: PRESETS
                        .iter()
                        .enumerate()
                        .map(|(i, p)| {
                            (i < 2)
                                .then(|| Explainer::new(graph.clone(), &Composite::preset(p)?))
                                .transpose()
                        })
                        .collect::<lrp::Result<Vec<_>>>()?,
                    graph: Some(graph),
                    methods: HashMap::new(),
                },
                [list] => {
                    let names: Vec<&str> = list.split(',').collect();
                    let mut explainers: Vec<Option<Explainer>> =
                        PRESETS.iter().map(|_| None).collect();
                    let mut methods = HashMap::new();
                    for entry in &names {
                        match PRESETS.iter().position(|p| p == entry) {
                            Some(i) => {
                                explainers[i] =
                                    Some(Explainer::new(graph.clone(), &Composite::preset(entry)?)?)
                            }
                            None => {
                                let m = method(entry).with_context(|| {
                                    format!("{entry}: not a preset, nor a method [with its σ]")
                                })?;
                                let name = m.name().to_string();
                                methods.insert(name, Attributor::new(graph.clone(), m)?);
                            }
                        }
                    }
                    Loaded {
                        explainers,
                        methods,
                        graph: (names.len() > 1).then_some(graph),
                    }
                }
                _ => bail!("load KEY FILE [WHAT[,WHAT…]]"),
            };
            models.insert(key.to_string(), loaded);
            Ok(String::new())
        }
        ["run", key, what, input, reps, dest] => {
            let m = models
                .get(*key)
                .with_context(|| format!("{key} not loaded"))?;
            let x: Array4<f32> = read_npy(input).with_context(|| format!("reading {input}"))?;
            let x: Tensor = x.into_dyn();
            let reps: usize = reps.parse()?;
            let mut times = Vec::with_capacity(reps);
            let mut last = None;
            for _ in 0..reps.max(1) {
                let t = Instant::now();
                if *what == "forward" {
                    let g = m.graph.as_ref().context("loaded for one preset only")?;
                    std::hint::black_box(g.forward(&x)?);
                } else {
                    last = Some(explain(m, what, &x)?);
                }
                times.push(format!("{:.3}", t.elapsed().as_secs_f64() * 1e3));
            }
            if let (Some(e), false) = (last, *dest == "-") {
                // [n, 1, C, H, W] → [n, C, H, W].
                let s = e.relevance.shape().to_vec();
                let r = e
                    .relevance
                    .into_shape_with_order(IxDyn(&[s[0], s[2], s[3], s[4]]))?;
                write_npy(dest, &r).with_context(|| format!("writing {dest}"))?;
            }
            Ok(times.join(" "))
        }
        ["size", key, batch] => {
            let m = models
                .get(*key)
                .with_context(|| format!("{key} not loaded"))?;
            let batch: usize = batch.parse()?;
            let g = match (&m.graph, m.explainers.iter().flatten().next()) {
                (Some(g), _) => g,
                (None, Some(e)) => e.graph(),
                (None, None) => m.methods.values().next().context("nothing loaded")?.graph(),
            };
            let acts: usize = g
                .tensors()
                .iter()
                .map(|t| t.shape.iter().product::<usize>())
                .sum();
            Ok(format!("{} {}", g.num_params() * 4, acts * batch * 4))
        }
        ["reset-peak"] => {
            std::fs::write("/proc/self/clear_refs", "5").context("resetting the peak RSS")?;
            Ok(String::new())
        }
        ["rss"] => {
            let status = std::fs::read_to_string("/proc/self/status")?;
            let field = |name: &str| -> Result<String> {
                let l = status
                    .lines()
                    .find(|l| l.starts_with(name))
                    .with_context(|| format!("{name} missing"))?;
                Ok(l.split_whitespace().nth(1).unwrap_or("0").to_string())
            };
            Ok(format!("{} {}", field("VmHWM:")?, field("VmRSS:")?))
        }
        _ => bail!("unknown command: {}", args.join(" ")),
    }
}

/// One explanation of `x` for its predicted classes by the preset or method `what` of `m`.
fn explain(m: &Loaded, what: &str, x: &Tensor) -> Result<Explanation> {
    if let Some(a) = m.methods.get(what) {
        return Ok(a.attribute(x, &Target::Predicted)?);
    }
    let i = PRESETS
        .iter()
        .position(|p| *p == what)
        .with_context(|| format!("unknown preset or method {what}"))?;
    let ex = m.explainers[i]
        .as_ref()
        .with_context(|| format!("{what} not loaded"))?;
    Ok(ex.explain(x, &Target::Predicted)?)
}
