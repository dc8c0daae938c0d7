//! The explainer: forward, seed the target(s), walk the graph backwards.
//!
//! Relevance starts at the **logits** (the input of a final Softmax, which is skipped):
//! `R = z_c` for the target class `c`, 0 elsewhere, or an explicit output relevance. It then
//! flows backwards node by node: linear layers by the rule their [`Composite`] assigns, every
//! other layer by its fixed rule (ReLU, dropout, reshapes and unfolded affine layers pass;
//! max pooling is winner-take-all; average pooling and residual sums split in proportion to
//! their inputs; concatenation slices; padding crops; LRN passes or follows the paper's
//! rule). A tensor read by several layers sums the relevance they send back.
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
use crate::graph::Graph;
use crate::kernels;
use crate::ops::lrn::LrnRule;
use crate::ops::{self, Op, Tensor};
use crate::rules::{Linear, LinearRule};
use ndarray::{Array2, IxDyn};

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
    /// An explicit output relevance: one row per image (or one row for all), one column per
    /// class.
    Relevance(Array2<f32>),
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

/// How one node passes relevance.
#[derive(Debug, Clone)]
enum Step {
    Linear(Box<LinearRule>),
    Pass,
    MaxPool,
    AvgPool,
    GlobalAvgPool,
    Lrn(LrnRule),
    Concat,
    Add,
    Pad,
}

/// A graph with a rule for every node on the path to the logits, ready to explain inputs.
#[derive(Debug, Clone)]
pub struct Explainer {
    graph: Graph,
    steps: Vec<Option<Step>>,
    logits: usize,
    stabilizer: f32,
    composite: String,
}

impl Explainer {
    /// Prepare `graph` for explanations with `composite`: resolve a rule for every linear
    /// layer (computing the weight variants once) and a fixed rule for every other node that
    /// leads to the logits. Fails on layers that nobody covers and on operators without an
    /// LRP rule (a product of two tensors).
    pub fn new(graph: Graph, composite: &Composite) -> Result<Explainer> {
        let rules = composite.resolve(&graph)?;
        let logits = graph.logits_id();
        // Nodes that lead to the logits.
        let mut needed = vec![false; graph.tensors().len()];
        needed[logits] = true;
        let mut steps: Vec<Option<Step>> = vec![None; graph.nodes().len()];
        for (i, node) in graph.nodes().iter().enumerate().rev() {
            if !needed[graph.node_output(i)] {
                continue;
            }
            for &t in graph.node_inputs(i) {
                needed[t] = true;
            }
            let nref = node.node_ref();
            let in_shape = &graph.tensors()[graph.node_inputs(i)[0]].shape;
            let step = match &node.op {
                Op::Conv(c) => Step::Linear(Box::new(LinearRule::new(
                    &nref,
                    &Linear::conv(c, in_shape),
                    rules[&node.name].clone(),
                )?)),
                Op::Dense(d) => Step::Linear(Box::new(LinearRule::new(
                    &nref,
                    &Linear::Dense(d),
                    rules[&node.name].clone(),
                )?)),
                Op::Relu
                | Op::Dropout
                | Op::Identity
                | Op::Flatten
                | Op::Reshape(_)
                | Op::Softmax(_)
                | Op::Affine(_) => Step::Pass,
                Op::MaxPool(_) => Step::MaxPool,
                Op::AvgPool(_) => Step::AvgPool,
                Op::GlobalAvgPool => Step::GlobalAvgPool,
                Op::Lrn(_) => Step::Lrn(composite.lrn),
                Op::Concat(_) => Step::Concat,
                Op::Add => Step::Add,
                Op::Pad(_) => Step::Pad,
                Op::Mul => {
                    return Err(Error::param(
                        &nref,
                        "LRP has no rule for the element-wise product of two tensors; \
                         constant factors are folded into the adjacent layer when the model is \
                         imported",
                    ))
                }
            };
            steps[i] = Some(step);
        }
        Ok(Explainer {
            graph,
            steps,
            logits,
            stabilizer: composite.stabilizer,
            composite: composite.name().to_string(),
        })
    }

    /// The graph being explained.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Name of the composite.
    pub fn composite(&self) -> &str {
        &self.composite
    }

    /// The rule name each node got, in graph order (`None` for nodes off the path to the
    /// logits).
    pub fn rule_names(&self) -> Vec<(String, Option<String>)> {
        self.graph
            .nodes()
            .iter()
            .zip(&self.steps)
            .map(|(n, s)| {
                let name = s.as_ref().map(|s| match s {
                    Step::Linear(l) => {
                        let r = l.rule();
                        let conv = match r.convention {
                            crate::rules::Convention::Modern => "",
                            crate::rules::Convention::Paper => " (paper)",
                        };
                        format!("{}{conv}", r.rule.name())
                    }
                    Step::Pass => "pass".into(),
                    Step::MaxPool => "winner-take-all".into(),
                    Step::AvgPool | Step::GlobalAvgPool | Step::Add => "proportional".into(),
                    Step::Lrn(LrnRule::Pass) => "pass".into(),
                    Step::Lrn(LrnRule::Paper) => "lrn (paper)".into(),
                    Step::Concat => "slice".into(),
                    Step::Pad => "crop".into(),
                });
                (n.name.clone(), name)
            })
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
        crate::kernels::on_pool(|| self.explain_on_pool(x, target, keep_layers))
    }

    /// The body of [`Explainer::explain_with`], on a worker of the pool.
    fn explain_on_pool(
        &self,
        x: &Tensor,
        target: &Target,
        keep_layers: bool,
    ) -> Result<Explanation> {
        let g = &self.graph;
        // α-β and z⁺ layers on non-negative inputs compute their forward pass in sign-split
        // form, which also yields their denominators (see `LinearRule::split_forward`).
        let mut parts: Vec<Option<Vec<f32>>> = vec![None; g.nodes().len()];
        let acts = g.run_with(&[x], true, |i, xs| {
            let Some(Step::Linear(rule)) = &self.steps[i] else {
                return None;
            };
            if !rule.has_split() {
                return None;
            }
            let x0 = xs[0].as_slice()?;
            if x0.iter().any(|&v| v < 0.0) {
                return None;
            }
            let layer = self.linear(i);
            let n = xs[0].shape()[0];
            let mut shape = vec![n];
            shape.extend_from_slice(&g.tensors()[g.node_output(i)].shape);
            let mut z = vec![0f32; n * layer.out_len()];
            parts[i] = Some(rule.split_forward(&layer, x0, n, &mut z)?);
            Tensor::from_shape_vec(IxDyn(&shape), z).ok()
        })?;
        let logits_t = acts.get(self.logits).expect("kept");
        let n = logits_t.shape()[0];
        let classes: usize = g.tensors()[self.logits].shape.iter().product();
        let logits = Array2::from_shape_vec((n, classes), logits_t.iter().copied().collect())
            .map_err(|e| Error::Graph(format!("logits: {e}")))?;

        // Seed.
        let (k, targets, seed) = self.seed(&logits, target)?;
        let mut rel: Vec<Option<Vec<f32>>> = vec![None; g.tensors().len()];
        rel[self.logits] = Some(seed);
        let mut conservation = Vec::new();
        let mut layers = keep_layers.then(Vec::new);
        let maps = n * k;

        for (i, node) in g.nodes().iter().enumerate().rev() {
            let Some(step) = &self.steps[i] else { continue };
            let out_id = g.node_output(i);
            let Some(r) = rel[out_id].take() else {
                continue;
            };
            let ins = g.node_inputs(i);
            let x0 = acts.get(ins[0]).expect("kept");
            let in_shape = &g.tensors()[ins[0]].shape;
            let out_shape = &g.tensors()[out_id].shape;
            let per_out: usize = out_shape.iter().product();
            let sums = map_sums;
            let relevance_out = sums(&r, per_out);
            if let Some(l) = layers.as_mut() {
                l.push(LayerRelevance {
                    node: node.name.clone(),
                    relevance: to_tensor(&r, n, k, out_shape),
                });
            }
            let r_in: Vec<Vec<f32>> = match step {
                Step::Linear(rule) => {
                    let layer = self.linear(i);
                    match parts[i].take() {
                        Some(p) => vec![rule.relevance_split(&layer, slice(x0), &p, &r, n, k)],
                        None => {
                            let z = acts.get(out_id).expect("kept");
                            vec![rule.relevance(&layer, slice(x0), slice(z), &r, n, k)]
                        }
                    }
                }
                Step::Pass => vec![r],
                Step::MaxPool => match &node.op {
                    Op::MaxPool(p) => vec![p.max_relevance(x0, &r, k)],
                    _ => unreachable!(),
                },
                Step::AvgPool => match &node.op {
                    Op::AvgPool(p) => vec![p.avg_relevance(x0, &r, k, self.stabilizer)],
                    _ => unreachable!(),
                },
                Step::GlobalAvgPool => {
                    vec![ops::pool::global_avg_relevance(x0, &r, k, self.stabilizer)]
                }
                Step::Lrn(LrnRule::Pass) => vec![r],
                Step::Lrn(LrnRule::Paper) => match &node.op {
                    Op::Lrn(l) => vec![l.paper_relevance(x0, &r, k)],
                    _ => unreachable!(),
                },
                Step::Concat => match &node.op {
                    Op::Concat(c) => {
                        let shapes: Vec<&[usize]> = ins
                            .iter()
                            .map(|&t| g.tensors()[t].shape.as_slice())
                            .collect();
                        c.split_relevance(&r, maps, out_shape, &shapes)
                    }
                    _ => unreachable!(),
                },
                Step::Add => {
                    let xs: Vec<&[f32]> = ins
                        .iter()
                        .map(|&t| slice(acts.get(t).expect("kept")))
                        .collect();
                    let per: usize = out_shape.iter().product();
                    ops::elementwise::add_relevance(&xs, per, &r, k, self.stabilizer)
                }
                Step::Pad => match &node.op {
                    Op::Pad(p) => vec![p.crop_relevance(&r, maps, in_shape)],
                    _ => unreachable!(),
                },
            };
            let mut in_sum = vec![0f32; maps];
            for (&t, ri) in ins.iter().zip(&r_in) {
                let per: usize = g.tensors()[t].shape.iter().product();
                for (a, b) in in_sum.iter_mut().zip(sums(ri, per)) {
                    *a += b;
                }
            }
            conservation.push(LayerConservation {
                node: node.name.clone(),
                kind: node.op.kind(),
                relevance_out,
                relevance_in: in_sum,
            });
            for (&t, ri) in ins.iter().zip(r_in) {
                match &mut rel[t] {
                    Some(acc) => acc.iter_mut().zip(&ri).for_each(|(a, b)| *a += b),
                    slot @ None => *slot = Some(ri),
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

    /// Node `i` (a convolution or dense layer) as a [`Linear`] layer.
    fn linear(&self, i: usize) -> Linear<'_> {
        let g = &self.graph;
        let in_shape = &g.tensors()[g.node_inputs(i)[0]].shape;
        match &g.nodes()[i].op {
            Op::Conv(c) => Linear::conv(c, in_shape),
            Op::Dense(d) => Linear::Dense(d),
            _ => unreachable!("linear steps are built for Conv and Dense"),
        }
    }

    /// Seed relevance at the logits: `(k, targets, n·k × classes values)`.
    fn seed(
        &self,
        logits: &Array2<f32>,
        target: &Target,
    ) -> Result<(usize, Vec<Vec<usize>>, Vec<f32>)> {
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
            Target::Relevance(r) => {
                if r.ncols() != classes || (r.nrows() != 1 && r.nrows() != n) {
                    return Err(Error::Invalid(format!(
                        "explicit output relevance has shape {:?}; expected [{n}, {classes}] or [1, {classes}]",
                        r.dim()
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
        };
        let k = per_image[0].len();
        let mut seed = vec![0f32; n * k * classes];
        for (i, cs) in per_image.iter().enumerate() {
            for (j, &c) in cs.iter().enumerate() {
                seed[(i * k + j) * classes + c] = logits[[i, c]];
            }
        }
        Ok((k, per_image, seed))
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

fn slice(t: &Tensor) -> &[f32] {
    t.as_slice()
        .expect("activations are kept in standard layout")
}

fn to_tensor(v: &[f32], n: usize, k: usize, per_sample: &[usize]) -> Tensor {
    let mut shape = vec![n, k];
    shape.extend_from_slice(per_sample);
    Tensor::from_shape_vec(IxDyn(&shape), v.to_vec()).expect("relevance has n·k samples")
}
