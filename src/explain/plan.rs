//! The explainer's plan, compiled once in [`Explainer::new`](super::Explainer::new) from the
//! graph and the prepared rules: which products each step computes, which activations the
//! backward pass reads, and when each tensor dies (see [`ExplainPlan`]).

use crate::graph::Graph;
use crate::ops::{Op, Route};
use crate::rules::{Prepared, RuleSpec};

/// The products one backward step computes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Products {
    /// Off the path to the logits: no backward step.
    NoStep,
    /// ε: the denominator is the forward output `z`, reused; `transposed` transposed
    /// products.
    ForwardOutput {
        /// Transposed products per step.
        transposed: usize,
    },
    /// α-β and z⁺: `Z⁺` from the sign-split forward and `Z⁻ = z − b − Z⁺`, one stacked
    /// transposed product. On inputs with negative values (found at run time) the step falls
    /// back to `fallback` products for its denominators and `transposed` transposed ones.
    SplitForward {
        /// Denominator products when the input has negative values.
        fallback: usize,
        /// Transposed products when the input has negative values.
        transposed: usize,
    },
    /// Flat and w²: fixed denominators, computed once when the explainer was built;
    /// `transposed` transposed products (none for flat, whose weights are constant).
    Fixed {
        /// Transposed products per step.
        transposed: usize,
    },
    /// γ and zᴮ: `denominators` products for the denominators and `transposed` transposed
    /// ones per step.
    Computed {
        /// Denominator products per step.
        denominators: usize,
        /// Transposed products per step.
        transposed: usize,
    },
    /// Pass and the gradient on a layer with weights: no denominator, `transposed`
    /// transposed products.
    NoDenominator {
        /// Transposed products per step.
        transposed: usize,
    },
    /// A route carried out by an operator without weights.
    Route(Route),
}

/// The plan of one node's backward step.
#[derive(Debug, Clone)]
pub struct StepPlan {
    /// What the step computes.
    pub products: Products,
    /// The tensors (ids, [`Graph::tensors`]) whose forward values the step reads.
    pub reads: Vec<usize>,
}

/// Per node, what its backward step computes and reads; per tensor, when the forward and
/// the backward pass are done with it.
///
/// What a backward step reads follows from what its [`Prepared`] step does:
///
/// | step | reads | products per step |
/// |---|---|---|
/// | ε (and LRP-0) | input `x`, output `z` | `z` itself is the denominator (the forward's output, reused); one transposed product |
/// | α-β, z⁺ | input `x` | `Z⁺` from the sign-split forward (one more product with `W⁺` in the forward pass), `Z⁻ = z − b − Z⁺`; one stacked transposed product. On an input with negative values (known at run time) the step computes its denominators itself |
/// | flat, w² | nothing | fixed denominators, computed once in `Explainer::new`; flat's transpose has constant weights and needs no product |
/// | γ | input `x`, output `z` (`z_j`'s sign picks the group) | its denominators and transposed products |
/// | zᴮ | input `x` | its denominators and transposed products |
/// | pass, gradient (layers with weights) | nothing | the gradient: one transposed product |
/// | route `pass` (activations, concatenation, padding, slicing, reshaping, ...) | nothing | none |
/// | routes `gate`, `uniform` on an element-wise product | nothing (shapes only) | none |
/// | any other route (winner-take-all reads the max-pool input, proportional the summands, ...) | every input | the operator's own |
///
/// Relevance buffers need no plan: the relevance at a tensor is taken when its producer's
/// step runs and dropped with the step, and the sign-split parts of a layer with its step.
///
/// ```
/// use lrp::{composite::Composite, explain::{Explainer, Products}, zoo::{self, Architecture}};
/// let net = zoo::build(Architecture::AdienceNet, 8, 1).unwrap();
/// let ex = Explainer::new(net, &Composite::preset("epsilon-plus-flat").unwrap()).unwrap();
/// let plan = ex.plan();
/// // The first convolution is under the flat rule: it reads no activation.
/// let first = plan.steps().iter().find(|s| matches!(s.products, Products::Fixed { .. })).unwrap();
/// assert!(first.reads.is_empty());
/// println!("{}", plan.table(ex.graph()));
/// ```
#[derive(Debug, Clone)]
pub struct ExplainPlan {
    steps: Vec<StepPlan>,
    /// Per tensor: the forward pass keeps it for the backward pass (or for the logits).
    keep: Vec<bool>,
    /// Per tensor: the forward node after which no later forward node nor the backward pass
    /// needs it; `None` for the tensors kept and for the graph's inputs and outputs.
    forward_last: Vec<Option<usize>>,
    /// Per tensor: the node whose backward step reads it last (the backward pass runs in
    /// reverse node order); `None` for tensors the backward pass does not read.
    backward_last: Vec<Option<usize>>,
    /// Per node: the tensors dead after its backward step.
    free_after: Vec<Vec<usize>>,
}

/// The tensors (ids) the backward step of node `i` reads, as its prepared step uses them.
fn step_reads(graph: &Graph, i: usize, step: &Prepared) -> Vec<usize> {
    let ins = graph.node_inputs(i);
    let mut reads = Vec::new();
    match step {
        Prepared::Linear(plan) => {
            if plan.reads_input() {
                reads.push(ins[0]);
            }
            if plan.reads_output() {
                reads.push(graph.node_output(i));
            }
        }
        Prepared::Route(Route::Pass, _) => {}
        Prepared::Route(Route::Gate | Route::Uniform, _)
            if matches!(graph.nodes()[i].op, Op::Mul) => {}
        Prepared::Route(..) => reads.extend_from_slice(ins),
    }
    reads.sort_unstable();
    reads.dedup();
    reads
}

/// What a prepared step computes.
fn products(step: &Prepared) -> Products {
    match step {
        Prepared::Route(route, _) => Products::Route(*route),
        Prepared::Linear(plan) => {
            let transposed = plan.transposed_products();
            let denominators = plan.denominator_products();
            if plan.has_split() {
                Products::SplitForward {
                    fallback: denominators,
                    transposed,
                }
            } else if denominators > 0 {
                Products::Computed {
                    denominators,
                    transposed,
                }
            } else if plan.reads_output() {
                Products::ForwardOutput { transposed }
            } else if plan.fixed_denominators() {
                Products::Fixed { transposed }
            } else {
                Products::NoDenominator { transposed }
            }
        }
    }
}

impl ExplainPlan {
    /// Compile the plan of `graph` with one prepared step per node (`None` off the path to
    /// the logits); `logits` is the tensor the relevance starts from.
    pub(crate) fn new(
        graph: &Graph,
        steps: &[Option<(RuleSpec, Prepared)>],
        logits: usize,
    ) -> ExplainPlan {
        let tensors = graph.tensors().len();
        let mut keep = vec![false; tensors];
        let mut backward_last: Vec<Option<usize>> = vec![None; tensors];
        let plans: Vec<StepPlan> = steps
            .iter()
            .enumerate()
            .map(|(i, s)| match s {
                None => StepPlan {
                    products: Products::NoStep,
                    reads: Vec::new(),
                },
                Some((_, step)) => StepPlan {
                    products: products(step),
                    reads: step_reads(graph, i, step),
                },
            })
            .collect();
        // Backward steps run from the last node to the first: the lowest reader is the last.
        for (i, p) in plans.iter().enumerate().rev() {
            for &t in &p.reads {
                keep[t] = true;
                backward_last[t] = Some(i);
            }
        }
        let mut free_after = vec![Vec::new(); plans.len()];
        for (t, last) in backward_last.iter().enumerate() {
            if let Some(i) = last {
                free_after[*i].push(t);
            }
        }
        keep[logits] = true;
        let is_boundary =
            |t: usize| graph.input_ids().contains(&t) || graph.output_ids().contains(&t) || keep[t];
        let forward_last = (0..tensors)
            .map(|t| {
                if is_boundary(t) {
                    return None;
                }
                let info = &graph.tensors()[t];
                info.consumers.iter().copied().max().or(info.producer)
            })
            .collect();
        ExplainPlan {
            steps: plans,
            keep,
            forward_last,
            backward_last,
            free_after,
        }
    }

    /// Per node (graph order), its backward step's plan.
    pub fn steps(&self) -> &[StepPlan] {
        &self.steps
    }

    /// Per tensor: whether the forward pass keeps it past its last forward use (the backward
    /// pass reads it, or it holds the logits).
    pub fn kept(&self) -> &[bool] {
        &self.keep
    }

    /// The forward node after which tensor `t` is dead (no later forward node nor the
    /// backward pass reads it); `None` for the tensors kept, the graph's inputs and outputs.
    pub fn forward_last(&self, t: usize) -> Option<usize> {
        self.forward_last.get(t).copied().flatten()
    }

    /// The node whose backward step reads tensor `t` last; `None` when no step reads it.
    pub fn backward_last(&self, t: usize) -> Option<usize> {
        self.backward_last.get(t).copied().flatten()
    }

    /// The tensors dead after node `i`'s backward step.
    pub fn free_after(&self, i: usize) -> &[usize] {
        self.free_after.get(i).map_or(&[], Vec::as_slice)
    }

    /// The plan as a Markdown table, one row per node on the path to the logits: its
    /// products, the activations its step reads and those freed after it.
    pub fn table(&self, graph: &Graph) -> String {
        let name = |t: &usize| graph.tensors()[*t].name.clone();
        let mut s = String::from(
            "| node | kind | products | reads | freed after |\n|---|---|---|---|---|\n",
        );
        for (i, (p, node)) in self.steps.iter().zip(graph.nodes()).enumerate() {
            if p.products == Products::NoStep {
                continue;
            }
            let reads: Vec<String> = p.reads.iter().map(name).collect();
            let freed: Vec<String> = self.free_after(i).iter().map(name).collect();
            s += &format!(
                "| {} | {} | {:?} | {} | {} |\n",
                node.name,
                node.op.kind(),
                p.products,
                reads.join(", "),
                freed.join(", ")
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::composite::{Composite, Selector};
    use crate::explain::Explainer;
    use crate::ops::Conv2d;
    use crate::rules::{Convention, Rule};
    use crate::GraphBuilder;
    use ndarray::{Array1, Array4};

    fn conv(m: usize, c: usize, seed: f32) -> Op {
        let w = Array4::from_shape_fn((m, c, 3, 3), |(a, b, i, j)| {
            ((a * 7 + b * 5 + i * 3 + j) as f32 * seed).sin()
        });
        Op::Conv(Conv2d::new(w, Some(Array1::from_elem(m, 0.1))).with_pad(1))
    }

    /// conv (flat) → relu → conv (z⁺) → relu → conv (ε). Written from the formulas: flat's
    /// numerator uses ones and its denominator is fixed, so it reads nothing; z⁺ reads its
    /// input (`x⁺`, the sign-split forward) but not its output (no selection by the sign of
    /// `z`, its denominators are computed); ε reads its input and its output (`z` is its
    /// denominator); the ReLUs pass relevance on and read nothing.
    #[test]
    fn the_plan_keeps_exactly_what_the_rules_read() {
        let mut b = GraphBuilder::new();
        b.input("x", &[2, 5, 5]);
        b.add("c1", conv(3, 2, 0.3), &["x"]);
        b.add("r1", Op::Relu, &["c1"]);
        b.add("c2", conv(4, 3, 0.7), &["r1"]);
        b.add("r2", Op::Relu, &["c2"]);
        b.add("c3", conv(2, 4, 1.1), &["r2"]);
        let g = b.build(&["c3"]).unwrap();
        let m = |rule| RuleSpec::new(rule, Convention::Modern);
        let c = Composite::preset("epsilon")
            .unwrap()
            .with_override(Selector::Name("c1".into()), m(Rule::Flat))
            .with_override(Selector::Name("c2".into()), m(Rule::ZPlus))
            .with_override(
                Selector::Name("c3".into()),
                m(Rule::Epsilon { epsilon: 0.25 }),
            );
        let ex = Explainer::new(g, &c).unwrap();
        let (g, plan) = (ex.graph(), ex.plan());
        let id = |name: &str| g.tensor_id(name).unwrap();
        let names = |ts: &[usize]| -> Vec<&str> {
            ts.iter().map(|&t| g.tensors()[t].name.as_str()).collect()
        };
        let reads: Vec<Vec<&str>> = plan.steps().iter().map(|s| names(&s.reads)).collect();
        assert_eq!(
            reads,
            [vec![], vec![], vec!["r1"], vec![], vec!["r2", "c3"]]
        );
        let kept: Vec<&str> = (0..g.tensors().len())
            .filter(|&t| plan.kept()[t])
            .map(|t| g.tensors()[t].name.as_str())
            .collect();
        assert_eq!(kept, ["r1", "r2", "c3"]);
        // c1 dies after r1 ran, c2 after r2; the input is the graph's own.
        assert_eq!(plan.forward_last(id("c1")), Some(1));
        assert_eq!(plan.forward_last(id("c2")), Some(3));
        assert_eq!(plan.forward_last(id("x")), None);
        // Backward from c3 (node 4) to c1 (node 0): r2 and c3 die after c3's step, r1 after
        // c2's.
        assert_eq!(names(plan.free_after(4)), ["r2", "c3"]);
        assert_eq!(names(plan.free_after(2)), ["r1"]);
        assert!([0, 1, 3].iter().all(|&i| plan.free_after(i).is_empty()));
        assert_eq!(
            plan.steps()
                .iter()
                .map(|s| s.products.clone())
                .collect::<Vec<_>>(),
            [
                Products::Fixed { transposed: 0 },
                Products::Route(Route::Pass),
                Products::SplitForward {
                    fallback: 2,
                    transposed: 2
                },
                Products::Route(Route::Pass),
                Products::ForwardOutput { transposed: 1 },
            ]
        );
        let table = plan.table(g);
        assert!(table.contains("| c3 | Conv | ForwardOutput { transposed: 1 } | r2, c3 | r2, c3 |"));
    }
}
