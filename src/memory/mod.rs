//! Memory before allocation: what explaining an image will take, and what the process may use.
//!
//! An explanation keeps every activation of the forward pass for the walk back, so a model
//! whose file is a few kilobytes can need gigabytes per image (a padding of 5000 pixels, a
//! prototxt declaring an 8192×8192 input). [`Estimate`] computes the bytes from the graph's
//! shapes alone, before anything is allocated:
//!
//! - **activations** (per image): every tensor the forward pass keeps, the input's copy, and
//!   the sign-split parts that α-β and z⁺ layers keep until the walk back reaches them;
//! - **backward** (per relevance map): the largest set of buffers alive at once while
//!   relevance walks back: relevance waiting at tensors read by several layers, the relevance
//!   of the current layer, its rule's temporaries (ratios, transposed products, normalisers,
//!   modified inputs) and what it sends to its inputs;
//! - **weights** (once): the graph's parameters, and **prepared**: the weight variants the
//!   rules compute once per explainer (`W⁺`, `W⁻`, α-β's stacked `[W⁺; W⁻]`, fixed normalisers).
//!
//! [`Estimate::of_graph`] assumes the costliest rule on every layer (what a graph alone
//! allows); [`Estimate::of_explainer`] uses the rules an [`Explainer`] prepared.
//!
//! [`Limits::detect`] reads what the process may really use on Linux: the smallest of the
//! available RAM (`MemAvailable` in `/proc/meminfo`), the memory limit of the process's cgroup
//! and its ancestors (cgroup v2 `memory.max`, v1 `memory.limit_in_bytes`: a Slurm job's or a
//! Kubernetes container's limit) and the address-space limit (`ulimit -v`, the soft
//! `RLIMIT_AS` in `/proc/self/limits`). Files that are missing or unreadable count as no
//! limit, so elsewhere than on Linux nothing is known and nothing is refused.
//!
//! ```
//! use lrp::memory::{self, Estimate};
//! let gender = lrp::model::Model::gender().unwrap();
//! let e = Estimate::of_graph(&gender.graph);
//! // The 3×32×32 gender model needs well under 10 MB per image.
//! assert!(e.per_image() < 10 << 20);
//! assert_eq!(e.max_batch(e.for_batch(4, 1)), 4);
//! assert_eq!(memory::parse_size("512M").unwrap(), Some(512 << 20));
//! assert_eq!(memory::format_bytes(3 << 29), "1.5 GiB");
//! ```

use crate::error::{Error, Result};
use crate::explain::Explainer;
use crate::graph::Graph;
use crate::rules::Prepared;
use std::fmt;

/// Bytes of an `f32`.
const F32: u64 = 4;

/// The memory an explanation needs, in bytes, split by what holds it. See the
/// [module docs](self) for what each part counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Estimate {
    /// Per image: the activations kept by the forward pass (with the input's copy and the
    /// sign-split parts of α-β and z⁺ layers).
    pub activations: u64,
    /// Per relevance map (one per image and target class): the peak of the relevance
    /// buffers and rule temporaries of the walk back.
    pub backward: u64,
    /// Once: the graph's parameters.
    pub weights: u64,
    /// Once: the weight variants and fixed normalisers the rules prepare.
    pub prepared: u64,
}

/// Per-sample sizes of one node, in values.
struct NodeSizes {
    /// Input sizes, one per input.
    inputs: Vec<u64>,
    /// Output size.
    output: u64,
}

/// How a node passes relevance, as far as memory goes.
#[derive(Clone, Copy)]
enum Step {
    /// Off the path to the logits: no relevance step.
    None,
    /// A route (pass, winner-take-all, proportional, …); `in_place` for element-wise layers
    /// and reshapes, which hand the relevance on in its own buffer.
    Route { in_place: bool },
    /// A linear rule; `parts` is what its sign-split form (α-β, z⁺) keeps per output value
    /// from the forward pass: 2 for α-β, 1 for z⁺, 0 without a split form.
    Linear { parts: u64 },
}

impl Estimate {
    /// The estimate for explaining with `graph` under the costliest rules: every layer with
    /// weights as α-β (sign-split parts kept, stacked `[W⁺; W⁻]` prepared, and the
    /// temporaries of the general rule path) with a fixed normaliser as flat rules have, every
    /// other layer by a route.
    ///
    /// ```
    /// use lrp::{memory::Estimate, zoo::{self, Architecture}};
    /// let net = zoo::build(Architecture::AdienceNet, 2, 1).unwrap();
    /// let e = Estimate::of_graph(&net);
    /// // The activations of one 227×227 image, and more: parts, input copy.
    /// let kept: usize = net.tensors().iter().map(|t| t.shape.iter().product::<usize>()).sum();
    /// assert!(e.activations >= 4 * kept as u64);
    /// assert!(e.weights == 4 * net.num_params() as u64 && e.prepared >= 2 * e.weights / 3);
    /// ```
    pub fn of_graph(graph: &Graph) -> Estimate {
        let mut prepared = 0u64;
        let steps: Vec<Step> = (0..graph.nodes().len())
            .map(|i| {
                let input = &graph.tensors()[graph.node_inputs(i)[0]].shape;
                match graph.nodes()[i].op.linear(input) {
                    Some(layer) => {
                        let w = layer.weight_values().len() as u64;
                        // Stacked [W⁺; W⁻]; with groups also W⁺ apart (the split forward's
                        // weight); and a fixed normaliser (flat, w²: one output's worth).
                        let copies = if layer.groups() == 1 { 2 } else { 3 };
                        let values = copies * w + layer.out_len() as u64;
                        prepared = prepared.saturating_add(values * F32);
                        Step::Linear { parts: 2 }
                    }
                    None => route(graph, i),
                }
            })
            .collect();
        Self::with_steps(graph, &steps, prepared)
    }

    /// The estimate for `explainer`'s graph under the rules it prepared: sign-split parts
    /// only where its rule has them, the weight variants it computed.
    ///
    /// ```
    /// use lrp::{composite::Composite, explain::Explainer, memory::Estimate, model::Model};
    /// let g = Model::gender().unwrap().graph;
    /// let eps = Explainer::new(g.clone(), &Composite::preset("epsilon").unwrap()).unwrap();
    /// let ab = Explainer::new(g.clone(), &Composite::preset("alpha2-beta1").unwrap()).unwrap();
    /// let (e, a) = (Estimate::of_explainer(&eps), Estimate::of_explainer(&ab));
    /// assert_eq!(e.prepared, 0); // ε needs no weight variant
    /// assert!(a.activations > e.activations && a.prepared > 0); // α-β keeps its parts
    /// assert!(Estimate::of_graph(&g).per_image() >= a.per_image());
    /// ```
    pub fn of_explainer(explainer: &Explainer) -> Estimate {
        let graph = explainer.graph();
        let mut prepared = 0u64;
        let steps: Vec<Step> = (0..graph.nodes().len())
            .map(|i| match explainer.prepared(i) {
                None => Step::None,
                Some(Prepared::Route(..)) => route(graph, i),
                Some(Prepared::Linear(plan)) => {
                    prepared = prepared.saturating_add(plan.prepared_values() as u64 * F32);
                    Step::Linear {
                        parts: plan.split_parts() as u64,
                    }
                }
            })
            .collect();
        Self::with_steps(graph, &steps, prepared)
    }

    fn with_steps(graph: &Graph, steps: &[Step], prepared: u64) -> Estimate {
        let size = |t: usize| -> u64 { graph.tensors()[t].shape.iter().product::<usize>() as u64 };
        let nodes: Vec<NodeSizes> = (0..graph.nodes().len())
            .map(|i| NodeSizes {
                inputs: graph.node_inputs(i).iter().map(|&t| size(t)).collect(),
                output: size(graph.node_output(i)),
            })
            .collect();
        // Forward: every tensor kept, the input once more (the caller's tensor and the
        // graph's standard-layout copy), the parts of split layers (2·out each for α-β, out
        // for z⁺), and the largest transient of a split forward (its W⁺x, out values).
        let kept: u64 = (0..graph.tensors().len()).map(size).sum();
        let input: u64 = graph.input_ids().iter().map(|&t| size(t)).sum();
        let mut parts = 0u64;
        let mut split_transient = 0u64;
        for (s, n) in steps.iter().zip(&nodes) {
            if let Step::Linear { parts: p @ 1.. } = *s {
                parts += p * n.output;
                split_transient = split_transient.max(n.output);
            }
        }
        let activations = kept + input + parts + split_transient;

        // Backward: walk the nodes in reverse, tracking the relevance waiting at tensors.
        let mut waiting = vec![0u64; graph.tensors().len()];
        let mut pending = 0u64; // Σ waiting
        let logits = graph.logits_id();
        waiting[logits] = size(logits);
        pending += waiting[logits];
        let mut peak = pending;
        for i in (0..nodes.len()).rev() {
            let out_t = graph.node_output(i);
            if matches!(steps[i], Step::None) || waiting[out_t] == 0 {
                continue;
            }
            let n = &nodes[i];
            let r = std::mem::take(&mut waiting[out_t]);
            pending -= r;
            let sent: u64 = n.inputs.iter().sum();
            if let Step::Route { in_place: true } = steps[i] {
                // The relevance in hand becomes the input's: one buffer.
                peak = peak.max(pending + r.max(sent));
            }
            let temporaries = match steps[i] {
                Step::Linear { parts } => {
                    let il = n.inputs[0];
                    let ol = n.output;
                    // General path (the result is in `sent`): the ratios, two normaliser
                    // buffers and a zero-bias copy of z (ol each); the transposed product,
                    // one modified input and the zᴮ bounds (il each, the bounds twice).
                    let general = 4 * ol + 4 * il;
                    // Split path: the ratios (parts·ol), the result counted in `sent`.
                    general.max(parts * ol)
                }
                // Routes build their input relevance (counted in `sent`) and at most one
                // buffer of the output's size (winner masks, proportions).
                _ => n.output,
            };
            // The relevance in hand, what the step builds, and what waits elsewhere.
            if !matches!(steps[i], Step::Route { in_place: true }) {
                peak = peak.max(pending + r + temporaries + sent);
            }
            for (&t, &s) in graph.node_inputs(i).iter().zip(&n.inputs) {
                if waiting[t] == 0 {
                    waiting[t] = s;
                    pending += s;
                }
            }
        }
        // At the end the input relevance (waiting, so in `pending`) is copied into the
        // explanation's tensor.
        peak = peak.max(pending + input);
        Estimate {
            activations: activations.saturating_mul(F32),
            backward: peak.saturating_mul(F32),
            weights: (graph.num_params() as u64).saturating_mul(F32),
            prepared,
        }
    }

    /// Bytes per image with one relevance map: activations + backward.
    pub fn per_image(&self) -> u64 {
        self.activations.saturating_add(self.backward)
    }

    /// Bytes held once, whatever the batch: weights + prepared variants.
    pub fn fixed(&self) -> u64 {
        self.weights.saturating_add(self.prepared)
    }

    /// Bytes for a batch of `images` with `maps` relevance maps each (target classes):
    /// `fixed + images · activations + images · maps · backward`.
    pub fn for_batch(&self, images: usize, maps: usize) -> u64 {
        let n = images as u64;
        self.fixed()
            .saturating_add(n.saturating_mul(self.activations))
            .saturating_add(
                n.saturating_mul(maps.max(1) as u64)
                    .saturating_mul(self.backward),
            )
    }

    /// The most images (one map each) whose batch fits in `limit` bytes; 0 when not even one
    /// does.
    ///
    /// ```
    /// let e = lrp::memory::Estimate { activations: 100, backward: 50, weights: 1000, prepared: 0 };
    /// assert_eq!(e.max_batch(1000 + 3 * 150 + 149), 3);
    /// assert_eq!(e.max_batch(999), 0);
    /// ```
    pub fn max_batch(&self, limit: u64) -> usize {
        let per = self.per_image().max(1);
        let left = limit.saturating_sub(self.fixed());
        usize::try_from(left / per).unwrap_or(usize::MAX)
    }

    /// `Ok` when one image fits in `limit` bytes together with `extra` bytes held elsewhere
    /// (the command line keeps the model's own copy of the weights beside the explainer's),
    /// else [`Error::MemoryLimit`] naming `what`.
    pub fn check(&self, what: &str, extra: u64, limit: u64) -> Result<()> {
        let needed = self.for_batch(1, 1).saturating_add(extra);
        if needed <= limit {
            return Ok(());
        }
        Err(Error::MemoryLimit {
            what: what.to_string(),
            needed,
            limit,
            detail: self.to_string(),
        })
    }
}

/// The memory kind of node `i` without weights.
fn route(graph: &Graph, i: usize) -> Step {
    use crate::ops::Category;
    let in_place = matches!(
        graph.nodes()[i].op.category(),
        Category::Activation | Category::Reshape
    ) && graph.node_inputs(i).len() == 1;
    Step::Route { in_place }
}

/// `activations A, relevance R per image, weights W (+ P prepared)`.
impl fmt::Display for Estimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "activations {}, relevance {} per image, weights {}",
            format_bytes(self.activations),
            format_bytes(self.backward),
            format_bytes(self.weights)
        )?;
        if self.prepared > 0 {
            write!(
                f,
                " + {} prepared by the rules",
                format_bytes(self.prepared)
            )?;
        }
        Ok(())
    }
}

/// The most images of `graph` (one relevance map each) that fit in `limit` bytes under the
/// costliest rules ([`Estimate::of_graph`]); at least 1, so that a caller always makes
/// progress (whether one image fits is [`Estimate::check`]'s question).
///
/// ```
/// let g = lrp::model::Model::gender().unwrap().graph;
/// assert!(lrp::memory::max_batch(&g, 1 << 30) > 100);
/// assert_eq!(lrp::memory::max_batch(&g, 0), 1);
/// ```
pub fn max_batch(graph: &Graph, limit: u64) -> usize {
    Estimate::of_graph(graph).max_batch(limit).max(1)
}

/// `bytes` in binary units with one decimal above KiB: `512 B`, `1.5 KiB`, `3.2 GiB`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// A memory size as written on a command line: a number (decimals allowed) with an optional
/// binary unit `K`, `M`, `G`, `T` (also `KB`, `KiB`, …; any case), bytes without one.
/// `0`, `none`, `off` and `unlimited` mean no limit (`None`).
///
/// Errors: [`Error::Invalid`] for anything else, or a size beyond 2⁶⁴ bytes.
///
/// ```
/// use lrp::memory::parse_size;
/// assert_eq!(parse_size("4G").unwrap(), Some(4 << 30));
/// assert_eq!(parse_size("1.5gib").unwrap(), Some(3 << 29));
/// assert_eq!(parse_size("1000").unwrap(), Some(1000));
/// assert_eq!(parse_size("none").unwrap(), None);
/// assert_eq!(parse_size("0").unwrap(), None);
/// assert!(parse_size("lots").is_err() && parse_size("-1G").is_err());
/// ```
pub fn parse_size(text: &str) -> Result<Option<u64>> {
    let s = text.trim().to_ascii_lowercase();
    if matches!(s.as_str(), "none" | "off" | "unlimited") {
        return Ok(None);
    }
    let bad = || {
        Error::Invalid(format!(
            "memory size `{text}`: expected a number with an optional unit K, M, G or T \
             (e.g. 4G, 512M), or 0 or none for no limit"
        ))
    };
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num.parse().map_err(|_| bad())?;
    let shift = match unit.trim() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(bad()),
    };
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(bad());
    }
    let bytes = bytes.round() as u64;
    Ok((bytes > 0).then_some(bytes))
}

mod limits;
pub use limits::*;
mod pool;
pub use pool::Pool;
