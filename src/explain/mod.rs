//! The explainer: forward, seed the target(s), walk the graph backwards.
//!
//! Relevance starts at the **logits** (the input of a final Softmax, which is skipped):
//! `R = z_c` for the target class `c`, 0 elsewhere, or an explicit output relevance. It then
//! flows backwards node by node, every layer by the rule its [`Composite`] assigns, prepared
//! once for the layer ([`rules::prepare`]): linear rules run over the layer's
//! [`LinearMap`]; the others are routes the operator carries out (pass, winner-take-all,
//! proportional, the paper's LRN rule). A tensor read by several layers sums the relevance
//! they send back.
//!
//! Several targets per image (`k` classes) share one forward pass and run as one batched
//! backward pass (`n·k` relevance maps); denominators that depend only on the forward pass are
//! computed once per image.
//!
//! ```
//! use lrp::{composite::Composite, explain::{Explainer, Target}, zoo::{self, Architecture}, Tensor};
//! let net = zoo::build(Architecture::AdienceNet, 8, 1).unwrap();
//! let ex = Explainer::new(net, &Composite::preset("epsilon-plus-flat").unwrap()).unwrap();
//! let x = Tensor::from_elem(ndarray::IxDyn(&[1, 3, 227, 227]), 0.5);
//! let e = ex.explain(&x, &Target::Predicted).unwrap();
//! assert_eq!(e.relevance.shape(), &[1, 1, 3, 227, 227]);
//! ```

use crate::composite::Composite;
use crate::error::{Error, Result};
use crate::graph::{Activations, Graph, KeepSchedule};
use crate::kernels;
use crate::ops::{LinearMap, Route, RouteCtx, Tensor};
use crate::profile::Phase;
use crate::rules::{self, Prepared, Rule, RuleSpec};
use ndarray::{Array2, IxDyn};

mod masks;
mod plan;

use masks::exclude_parallel;
pub(crate) use masks::ChannelMask;
pub use plan::{ExplainPlan, Products, StepPlan};

/// What to explain.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// The class with the largest logit, per image.
    Predicted,
    /// One class for every image.
    Class(usize),
    /// Several classes for every image: one relevance map each.
    Classes(Vec<usize>),
    /// Every class: one relevance map each.
    All,
    /// Classes per image: row `i` lists the classes of image `i`, every row as long as the
    /// others (one relevance map each). Attributions over perturbed copies of an image
    /// (SmoothGrad, integrated gradients) keep the clean image's prediction with it.
    PerImage(Vec<Vec<usize>>),
    /// An explicit output relevance: one row per image (or one row for all), one column per
    /// class.
    Relevance(Array2<f32>),
}

/// What the backward pass starts from at the logits, for each explained class `c`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Seed {
    /// The logit itself, `R = z_c` (LRP: the relevance to distribute is the score).
    #[default]
    Logit,
    /// One, `g = 1` at `c` (the gradient of `z_c`, as Captum and Zennit seed gradients).
    One,
}

/// Relevance entering and leaving one node, per relevance map.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerConservation {
    /// The node's name.
    pub node: String,
    /// Its kind (`Conv`, `MaxPool`, ...).
    pub kind: &'static str,
    /// Σ relevance at the node's output, per map (`n·k` values).
    pub relevance_out: Vec<f32>,
    /// Σ relevance the node sends to its inputs, per map.
    pub relevance_in: Vec<f32>,
}

/// Relevance at a node's output, kept on request.
#[derive(Debug, Clone)]
pub struct LayerRelevance {
    /// The node's name.
    pub node: String,
    /// Relevance at its output, `[n, k, …]`.
    pub relevance: Tensor,
}

/// The result of an explanation.
#[derive(Debug, Clone)]
pub struct Explanation {
    /// Input relevance `[n, k, C, H, W]` (`k` maps per image).
    pub relevance: Tensor,
    /// Pre-softmax logits `[n, classes]`.
    pub logits: Array2<f32>,
    /// The classes explained per image (empty rows for an explicit output relevance).
    pub targets: Vec<Vec<usize>>,
    /// Relevance at every node's output, when asked for.
    pub layers: Option<Vec<LayerRelevance>>,
    /// Relevance sums entering and leaving each node, in backward order.
    pub conservation: Vec<LayerConservation>,
}

impl Explanation {
    /// Σ of the relevance that seeded map `m` (image-major index).
    pub fn seed_sum(&self, m: usize) -> f32 {
        self.conservation
            .first()
            .and_then(|c| c.relevance_out.get(m).copied())
            .unwrap_or(0.0)
    }

    /// Σ of the input relevance of map `m`.
    pub fn input_sum(&self, m: usize) -> f32 {
        let per: usize = self.relevance.shape()[2..].iter().product();
        self.relevance
            .as_slice()
            .map_or(0.0, |s| kernels::sum(&s[m * per..(m + 1) * per]) as f32)
    }
}

/// A graph with a prepared rule for every node on the path to the logits, ready to explain
/// inputs.
#[derive(Debug, Clone)]
pub struct Explainer {
    graph: Graph,
    /// Per node: its rule as the composite gave it, and prepared for the layer (`None` for
    /// nodes off the path to the logits).
    steps: Vec<Option<(RuleSpec, Prepared)>>,
    /// Per node: the gate input of a product under the gate rule ([`Graph::gate_input`]).
    gates: Vec<Option<usize>>,
    logits: usize,
    composite: String,
    seed: Seed,
    /// Per node: whether an output of exactly 0 is replaced by [`kernels::CANCELLED`] in the
    /// explanation's forward pass ([`divides_by_output_unstabilised`]).
    nudge: Vec<bool>,
    /// What each step computes and reads, and when each activation dies.
    plan: ExplainPlan,
    /// Keep every activation to the end (the path before the plan; tests compare both).
    keep_all: bool,
}

/// Whether node `step`'s rule divides relevance by the node's own output with ε and
/// stabiliser at most [`kernels::UNSTABILISED`]: the ε rule on a layer with weights, or the proportional,
/// layer-norm and uniform routes. See [`kernels::CANCELLED`].
fn divides_by_output_unstabilised(step: &(RuleSpec, Prepared)) -> bool {
    let (spec, prepared) = step;
    match prepared {
        Prepared::Linear(_) => {
            matches!(spec.rule, Rule::Epsilon { epsilon } if epsilon <= kernels::UNSTABILISED)
                && spec.stabilizer <= kernels::UNSTABILISED
        }
        Prepared::Route(route, stabilizer) => {
            matches!(
                route,
                Route::Proportional | Route::LayerNormLinear | Route::Uniform
            ) && *stabilizer <= kernels::UNSTABILISED
        }
    }
}

/// Per node of `graph`, whether it leads to tensor `logits`.
fn leads_to(graph: &Graph, logits: usize) -> Vec<bool> {
    let mut needed = vec![false; graph.tensors().len()];
    needed[logits] = true;
    let mut nodes = vec![false; graph.nodes().len()];
    for i in (0..graph.nodes().len()).rev() {
        if needed[graph.node_output(i)] {
            nodes[i] = true;
            for &t in graph.node_inputs(i) {
                needed[t] = true;
            }
        }
    }
    nodes
}

/// The input of node `node` that a Softmax node computes (the attention weights of a
/// matrix product), if exactly one does.
fn softmax_operand(graph: &Graph, node: usize) -> Option<usize> {
    let from_softmax: Vec<usize> = graph
        .node_inputs(node)
        .iter()
        .enumerate()
        .filter(|(_, &t)| {
            graph.nodes().iter().enumerate().any(|(j, n)| {
                graph.node_output(j) == t && matches!(n.op, crate::ops::Op::Softmax(_))
            })
        })
        .map(|(k, _)| k)
        .collect();
    match from_softmax.as_slice() {
        &[k] => Some(k),
        _ => None,
    }
}

impl Explainer {
    /// Prepare `graph` for explanations with `composite`: resolve a rule for every node that
    /// leads to the logits and prepare it for its layer (computing weight variants once).
    /// Fails on layers the composite does not cover and on rules that do not fit their layer
    /// (a gate rule on a product whose inputs are unrelated).
    pub fn new(graph: Graph, composite: &Composite) -> Result<Explainer> {
        let logits = graph.logits_id();
        let on_path = leads_to(&graph, logits);
        let specs = composite.resolve_nodes(&graph, |i| on_path[i])?;
        let mut steps = Vec::with_capacity(specs.len());
        let mut gates = vec![None; specs.len()];
        for (i, spec) in specs.into_iter().enumerate() {
            let step = match spec {
                None => None,
                Some(spec) => {
                    let node = &graph.nodes()[i];
                    let input = &graph.tensors()[graph.node_inputs(i)[0]].shape;
                    let prepared = rules::prepare(&node.node_ref(), &node.op, input, &spec)?;
                    if let (Prepared::Route(Route::Gate, _), crate::ops::Op::MatMul) =
                        (&prepared, &node.op)
                    {
                        // CP-LRP: the attention weights (the operand a Softmax computes) are
                        // the gate; a product without one is split uniformly.
                        gates[i] = softmax_operand(&graph, i);
                    } else if let Prepared::Route(Route::Gate, _) = prepared {
                        gates[i] = Some(graph.gate_input(i).ok_or_else(|| {
                            Error::param(
                                &node.node_ref(),
                                "the gate rule needs one input computed from the other (a \
                                 squeeze-and-excitation gate); these inputs are unrelated: \
                                 give this layer the `uniform` rule",
                            )
                        })?);
                    }
                    Some((spec, prepared))
                }
            };
            steps.push(step);
        }
        let nudge = steps
            .iter()
            .map(|s| s.as_ref().is_some_and(divides_by_output_unstabilised))
            .collect();
        let plan = ExplainPlan::new(&graph, &steps, logits);
        Ok(Explainer {
            graph,
            steps,
            gates,
            logits,
            composite: composite.name().to_string(),
            seed: Seed::Logit,
            nudge,
            plan,
            keep_all: false,
        })
    }

    /// The same explainer seeding each explained class with `seed` (default
    /// [`Seed::Logit`]; gradients use [`Seed::One`]).
    pub fn with_seed(mut self, seed: Seed) -> Self {
        self.seed = seed;
        self
    }

    /// The plan compiled for the graph and its rules: the products of each step, the
    /// activations it reads and when each dies ([`ExplainPlan`]).
    pub fn plan(&self) -> &ExplainPlan {
        &self.plan
    }

    /// Keep every activation until the backward pass ends instead of freeing each after its
    /// last use: the behaviour before [`ExplainPlan`], kept for the tests that compare both
    /// bit for bit. Not part of the stable interface.
    #[doc(hidden)]
    pub fn keeping_all_activations(mut self, on: bool) -> Self {
        self.keep_all = on;
        self
    }

    /// What the backward pass starts from.
    pub fn seed_kind(&self) -> Seed {
        self.seed
    }

    /// The graph being explained.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Name of the composite.
    pub fn composite(&self) -> &str {
        &self.composite
    }

    /// The rule node `node` (graph order) was prepared with: `None` for nodes off the path
    /// to the logits (and indices beyond the graph). [`crate::memory::Estimate::of_explainer`]
    /// reads the sizes of what was prepared from it.
    pub fn prepared(&self, node: usize) -> Option<&Prepared> {
        self.steps.get(node)?.as_ref().map(|(_, p)| p)
    }

    /// The rule each node got, as [`RuleSpec::describe`] writes it, in graph order (`None`
    /// for nodes off the path to the logits).
    pub fn rule_names(&self) -> Vec<(String, Option<String>)> {
        self.graph
            .nodes()
            .iter()
            .zip(&self.steps)
            .map(|(n, s)| (n.name.clone(), s.as_ref().map(|(spec, _)| spec.describe())))
            .collect()
    }

    /// Explain a batch `x` (`[n, C, H, W]`) for `target`.
    ///
    /// The pass runs on rayon's global pool (`RAYON_NUM_THREADS` sets its size); while it
    /// runs, the pool's other threads wait for work spinning rather than sleeping. Called
    /// from inside the caller's own rayon tasks (one image per task, say), it runs on that
    /// task's thread without spinners, its parallel loops sharing the pool with the other
    /// tasks.
    pub fn explain(&self, x: &Tensor, target: &Target) -> Result<Explanation> {
        self.explain_with(x, target, false)
    }

    /// As [`Explainer::explain`], optionally keeping the relevance at every node's output.
    pub fn explain_with(
        &self,
        x: &Tensor,
        target: &Target,
        keep_layers: bool,
    ) -> Result<Explanation> {
        let keep = if keep_layers { Keep::All } else { Keep::None };
        crate::kernels::on_pool(|| self.explain_on_pool(x, target, keep, &[]))
    }

    /// As [`Explainer::explain`], keeping the relevance at the outputs of `nodes` (indices
    /// in graph order, as [`Graph::nodes`] lists them) in [`Explanation::layers`], in
    /// backward order; the other nodes' relevance is dropped as usual. This is how
    /// [`crate::tokens`] reads the relevance of a vision transformer's patch tokens without
    /// keeping every layer's.
    pub fn explain_keeping(
        &self,
        x: &Tensor,
        target: &Target,
        nodes: &[usize],
    ) -> Result<Explanation> {
        crate::kernels::on_pool(|| self.explain_on_pool(x, target, Keep::Nodes(nodes), &[]))
    }

    /// As [`Explainer::explain_keeping`], with the relevance at the outputs of some nodes
    /// masked per map before the node's rule sees it: conditional relevance
    /// ([`crate::concepts`]). The caller has checked the masks against the graph.
    pub(crate) fn explain_masked(
        &self,
        x: &Tensor,
        target: &Target,
        nodes: &[usize],
        masks: &[ChannelMask],
    ) -> Result<Explanation> {
        crate::kernels::on_pool(|| self.explain_on_pool(x, target, Keep::Nodes(nodes), masks))
    }

    /// The linear map of node `i`, which was prepared with a linear rule.
    fn linear(&self, i: usize) -> Result<Box<dyn LinearMap + '_>> {
        let g = &self.graph;
        let input = &g.tensors()[g.node_inputs(i)[0]].shape;
        g.nodes()[i].op.linear(input).ok_or_else(|| {
            Error::Graph(format!(
                "node `{}` was prepared with a linear rule but has no weights",
                g.nodes()[i].name
            ))
        })
    }

    /// The forward pass, keeping the activations the backward pass reads and the logits
    /// ([`ExplainPlan::kept`]; every activation in keep-all mode) and dropping every other
    /// tensor after its last forward use. α-β and z⁺ layers on non-negative inputs compute
    /// it in sign-split form, which also yields their denominators (see
    /// [`LinearPlan::split_forward`](crate::rules::LinearPlan::split_forward)); those parts
    /// are returned per node.
    fn forward(&self, x: &Tensor) -> Result<(Activations, Vec<Option<Vec<f32>>>)> {
        let g = &self.graph;
        let mut parts: Vec<Option<Vec<f32>>> = vec![None; g.nodes().len()];
        let keep = if self.keep_all {
            KeepSchedule::All
        } else {
            KeepSchedule::Tensors(self.plan.kept())
        };
        let profiling = crate::profile::active();
        let acts = g.run_with(&[x], keep, |i, xs| {
            crate::profile::timed(i, Phase::Forward, || {
                let y = self.split_forward(i, xs, &mut parts);
                if !self.nudge[i] && !profiling {
                    return y;
                }
                let mut y = y.unwrap_or_else(|| g.nodes()[i].op.forward(xs));
                if self.nudge[i] {
                    y.mapv_inplace(|v| if v == 0.0 { kernels::CANCELLED } else { v });
                }
                Some(y)
            })
        })?;
        Ok((acts, parts))
    }

    /// Node `i`'s output in sign-split form, with its parts stored in `parts`, when its rule
    /// has that form and its input is non-negative; `None` otherwise.
    fn split_forward(
        &self,
        i: usize,
        xs: &[&Tensor],
        parts: &mut [Option<Vec<f32>>],
    ) -> Option<Tensor> {
        let g = &self.graph;
        let Some((_, Prepared::Linear(plan))) = &self.steps[i] else {
            return None;
        };
        if !plan.has_split() {
            return None;
        }
        let x0 = xs[0].as_slice()?;
        if x0.iter().any(|&v| v < 0.0) {
            return None;
        }
        let layer = self.linear(i).ok()?;
        let n = xs[0].shape()[0];
        let mut shape = vec![n];
        shape.extend_from_slice(&g.tensors()[g.node_output(i)].shape);
        let mut z = vec![0f32; n * layer.out_len()];
        parts[i] = Some(plan.split_forward(layer.as_ref(), x0, n, &mut z)?);
        Tensor::from_shape_vec(IxDyn(&shape), z).ok()
    }

    /// The body of [`Explainer::explain_with`], on a worker of the pool.
    fn explain_on_pool(
        &self,
        x: &Tensor,
        target: &Target,
        keep: Keep<'_>,
        masks: &[ChannelMask],
    ) -> Result<Explanation> {
        let g = &self.graph;
        let (mut acts, mut parts) = self.forward(x)?;
        let logits_t = kept(&acts, self.logits)?;
        let n = logits_t.shape()[0];
        let classes: usize = g.tensors()[self.logits].shape.iter().product();
        let logits = Array2::from_shape_vec((n, classes), logits_t.iter().copied().collect())
            .map_err(|e| Error::Graph(format!("logits: {e}")))?;
        if !self.keep_all {
            // The logits and graph outputs were kept for reading the logits; free those no
            // backward step reads.
            for t in std::iter::once(self.logits).chain(g.output_ids().iter().copied()) {
                if self.plan.backward_last(t).is_none() {
                    acts.drop_value(t);
                }
            }
        }
        // NaN or infinite logits have no prediction to explain.
        crate::graph::check_finite_logits(g.name(), &logits)?;

        // Seed.
        let (k, targets, seed) = self.seed(&logits, target)?;
        let mut rel: Vec<Option<Vec<f32>>> = vec![None; g.tensors().len()];
        // Per tensor: the per-map sums of its relevance when one step sent all of it (they
        // were summed for that step's conservation entry and need not be summed again).
        let mut sums: Vec<Option<Vec<f32>>> = vec![None; g.tensors().len()];
        rel[self.logits] = Some(seed);
        let mut conservation = Vec::new();
        let mut layers = (!matches!(keep, Keep::None)).then(Vec::new);
        let maps = n * k;

        for (i, node) in g.nodes().iter().enumerate().rev() {
            // Whatever the step after this node (in graph order) read last is dead now.
            if !self.keep_all && i + 1 < g.nodes().len() {
                for &t in self.plan.free_after(i + 1) {
                    acts.drop_value(t);
                }
                parts[i + 1] = None;
            }
            let Some((_, step)) = &self.steps[i] else {
                continue;
            };
            let out_id = g.node_output(i);
            let out_shape = &g.tensors()[out_id].shape;
            let masks_here = masks.iter().filter(|m| m.node == i);
            if masks.iter().any(|m| m.node == i && m.exclude_parallel) {
                exclude_parallel(g, &mut rel, out_id, masks_here.clone());
                sums.iter_mut().for_each(|s| *s = None);
            }
            let Some(mut r) = rel[out_id].take() else {
                continue;
            };
            let mut cached = sums[out_id].take();
            for m in masks_here {
                m.apply(&mut r, out_shape);
                cached = None;
            }
            let ins = g.node_inputs(i);
            let relevance_out = match cached {
                Some(s) => s,
                None => map_sums(&r, out_shape.iter().product()),
            };
            if let (Some(l), true) = (layers.as_mut(), keep.keeps(i)) {
                l.push(LayerRelevance {
                    node: node.name.clone(),
                    relevance: to_tensor(&r, n, k, out_shape),
                });
            }
            let part = parts[i].take();
            let r_in = crate::profile::timed(i, Phase::Relevance, || {
                self.step(i, step, &acts, part, r, k)
            })?;
            let mut in_sum = vec![0f32; maps];
            let mut in_sums = Vec::with_capacity(ins.len());
            for (&t, ri) in ins.iter().zip(&r_in) {
                let per: usize = g.tensors()[t].shape.iter().product();
                let s = map_sums(ri, per);
                for (a, b) in in_sum.iter_mut().zip(&s) {
                    *a += b;
                }
                in_sums.push(s);
            }
            conservation.push(LayerConservation {
                node: node.name.clone(),
                kind: node.op.kind(),
                relevance_out,
                relevance_in: in_sum,
            });
            for ((&t, ri), s) in ins.iter().zip(r_in).zip(in_sums) {
                match &mut rel[t] {
                    Some(acc) => {
                        acc.iter_mut().zip(&ri).for_each(|(a, b)| *a += b);
                        sums[t] = None;
                    }
                    slot @ None => {
                        *slot = Some(ri);
                        sums[t] = Some(s);
                    }
                }
            }
        }
        let input = g.input_ids()[0];
        let in_shape = &g.tensors()[input].shape;
        let per: usize = in_shape.iter().product();
        let r = rel[input].take().unwrap_or_else(|| vec![0.0; maps * per]);
        Ok(Explanation {
            relevance: to_tensor(&r, n, k, in_shape),
            logits,
            targets,
            layers,
            conservation,
        })
    }

    /// One node's relevance step: relevance `r` at its output (`n·k` maps) to the relevance
    /// of each of its inputs. `parts` are its sign-split forward parts, if it has them.
    fn step(
        &self,
        i: usize,
        step: &Prepared,
        acts: &Activations,
        parts: Option<Vec<f32>>,
        r: Vec<f32>,
        k: usize,
    ) -> Result<Vec<Vec<f32>>> {
        let g = &self.graph;
        let ins = g.node_inputs(i);
        let out_id = g.node_output(i);
        let reads = &self.plan.steps()[i].reads;
        // The images: relevance holds n·k maps of the output.
        let out_len: usize = g.tensors()[out_id].shape.iter().product();
        let n = r.len() / (k * out_len).max(1);
        match step {
            Prepared::Linear(plan) => {
                let layer = self.linear(i)?;
                let x0 = activation(acts, ins[0], reads)?.map_or(&[][..], slice);
                Ok(vec![match parts {
                    Some(p) => plan.relevance_split(layer.as_ref(), x0, &p, &r, n, k),
                    None => {
                        let z = activation(acts, out_id, reads)?.map_or(&[][..], slice);
                        plan.relevance(layer.as_ref(), x0, z, &r, n, k)
                    }
                }])
            }
            Prepared::Route(route, stabilizer) => {
                // An input the route does not read may have been freed: an empty stand-in
                // with the batch size (what `RouteCtx::maps` reads).
                let none = Tensor::zeros(IxDyn(&[n, 0]));
                let inputs: Vec<&Tensor> = ins
                    .iter()
                    .map(|&t| Ok(activation(acts, t, reads)?.unwrap_or(&none)))
                    .collect::<Result<_>>()?;
                let in_shapes: Vec<&[usize]> = ins
                    .iter()
                    .map(|&t| g.tensors()[t].shape.as_slice())
                    .collect();
                let ctx = RouteCtx {
                    inputs: &inputs,
                    in_shapes: &in_shapes,
                    out_shape: &g.tensors()[g.node_output(i)].shape,
                    k,
                    stabilizer: *stabilizer,
                    gate: self.gates[i],
                };
                let node = &g.nodes()[i];
                node.op.route(*route, &ctx, r).ok_or_else(|| {
                    Error::Graph(format!(
                        "node `{}` ({}) has no `{}` route",
                        node.name,
                        node.op.kind(),
                        route.name()
                    ))
                })
            }
        }
    }

    /// Seed relevance at the logits: `(k, targets, n·k × classes values)`.
    fn seed(
        &self,
        logits: &Array2<f32>,
        target: &Target,
    ) -> Result<(usize, Vec<Vec<usize>>, Vec<f32>)> {
        let (n, classes) = logits.dim();
        if let Target::Relevance(r) = target {
            if r.ncols() != classes || (r.nrows() != 1 && r.nrows() != n) {
                return Err(Error::Invalid(format!(
                    "explicit output relevance has shape [{}, {}]; expected [{n}, {classes}] or [1, {classes}]",
                    r.nrows(),
                    r.ncols()
                )));
            }
            if let Some(v) = r.iter().find(|v| !v.is_finite()) {
                return Err(Error::NonFinite {
                    what: "explicit output relevance".into(),
                    value: *v,
                    index: 0,
                });
            }
            let mut seed = Vec::with_capacity(n * classes);
            for i in 0..n {
                seed.extend(r.row(if r.nrows() == 1 { 0 } else { i }).iter());
            }
            return Ok((1, vec![Vec::new(); n], seed));
        }
        let per_image = resolve_targets(logits, target)?;
        let k = per_image.first().map_or(1, Vec::len);
        let mut seed = vec![0f32; n * k * classes];
        for (i, cs) in per_image.iter().enumerate() {
            for (j, &c) in cs.iter().enumerate() {
                seed[(i * k + j) * classes + c] = match self.seed {
                    Seed::Logit => logits[[i, c]],
                    Seed::One => 1.0,
                };
            }
        }
        Ok((k, per_image, seed))
    }
}

/// The classes `target` picks for each image with `logits` (`[n, classes]`): the predicted
/// class, given classes (checked against the number of classes), every class, or the rows of
/// [`Target::PerImage`]. An explicit output relevance names no classes and is an error here.
pub fn resolve_targets(logits: &Array2<f32>, target: &Target) -> Result<Vec<Vec<usize>>> {
    let (n, classes) = logits.dim();
    let check = |c: usize| {
        if c < classes {
            Ok(c)
        } else {
            Err(Error::Invalid(format!(
                "target class {c} does not exist: the model has {classes} classes (0..{})",
                classes - 1
            )))
        }
    };
    let per_image: Vec<Vec<usize>> = match target {
        Target::Predicted => logits
            .rows()
            .into_iter()
            .map(|row| vec![crate::graph::argmax(&row.to_vec())])
            .collect(),
        Target::Class(c) => vec![vec![check(*c)?]; n],
        Target::Classes(cs) => {
            if cs.is_empty() {
                return Err(Error::Invalid("no target classes given".into()));
            }
            let cs: Vec<usize> = cs.iter().map(|&c| check(c)).collect::<Result<_>>()?;
            vec![cs; n]
        }
        Target::All => vec![(0..classes).collect(); n],
        Target::PerImage(rows) => {
            if rows.len() != n {
                return Err(Error::Invalid(format!(
                    "{} rows of target classes for a batch of {n} images",
                    rows.len()
                )));
            }
            let k = rows.first().map_or(0, Vec::len);
            if k == 0 || rows.iter().any(|r| r.len() != k) {
                return Err(Error::Invalid(
                    "target classes per image must be non-empty lists of one length".into(),
                ));
            }
            rows.iter()
                .map(|r| r.iter().map(|&c| check(c)).collect::<Result<Vec<_>>>())
                .collect::<Result<_>>()?
        }
        Target::Relevance(_) => {
            return Err(Error::Invalid(
                "an explicit output relevance names no classes".into(),
            ))
        }
    };
    Ok(per_image)
}

/// Which nodes' output relevance an explanation keeps.
#[derive(Clone, Copy)]
enum Keep<'a> {
    None,
    All,
    /// These nodes (graph order).
    Nodes(&'a [usize]),
}

impl Keep<'_> {
    fn keeps(&self, node: usize) -> bool {
        match self {
            Keep::None => false,
            Keep::All => true,
            Keep::Nodes(n) => n.contains(&node),
        }
    }
}

/// Σ of each map of `per` values in `v`: in parallel over fixed chunks, summed in order, so
/// the result does not depend on the thread count.
fn map_sums(v: &[f32], per: usize) -> Vec<f32> {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 16;
    v.chunks(per.max(1))
        .map(|m| {
            if m.len() <= CHUNK {
                kernels::sum(m) as f32
            } else {
                m.par_chunks(CHUNK).map(kernels::sum).sum::<f64>() as f32
            }
        })
        .collect()
}

/// The activation of tensor `t` for a step that reads the tensors `reads`: `None` when the
/// step does not read it and it was freed, an error when the step reads it and it was not
/// kept (a plan that missed a read).
fn activation<'a>(acts: &'a Activations, t: usize, reads: &[usize]) -> Result<Option<&'a Tensor>> {
    match acts.get(t) {
        Some(v) => Ok(Some(v)),
        None if !reads.contains(&t) => Ok(None),
        None => kept(acts, t).map(Some),
    }
}

/// The activation of tensor `t`, kept by the forward pass.
fn kept(acts: &Activations, t: usize) -> Result<&Tensor> {
    acts.get(t)
        .ok_or_else(|| Error::Graph(format!("activation of tensor {t} was not kept")))
}

fn slice(t: &Tensor) -> &[f32] {
    t.as_slice()
        .expect("activations are kept in standard layout")
}

fn to_tensor(v: &[f32], n: usize, k: usize, per_sample: &[usize]) -> Tensor {
    let mut shape = vec![n, k];
    shape.extend_from_slice(per_sample);
    Tensor::from_shape_vec(IxDyn(&shape), v.to_vec()).expect("relevance has n·k samples")
}
