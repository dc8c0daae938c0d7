//! Where an explanation spends its time: per node, the milliseconds and the multiply-adds of
//! its forward step and of its relevance step.
//!
//! [`profile`] runs one explanation with a recorder switched on around each node's forward
//! computation and each relevance step. Times are wall-clock (the steps run one after another,
//! each parallel inside); multiply-adds are those of the GEMMs each step ran
//! ([`crate::kernels::multiply_adds`]: convolutions, dense layers and products of
//! activations, including the normalisers and transposed products of the rules), so a layer's
//! GFLOP/s is `2 · multiply-adds / time`. Element-wise work, pooling and normalisation show
//! time but no multiply-adds.
//!
//! A 3×3 convolution of 3 to 4 channels on an 8×8 image does 4·64·27 = 6912 multiply-adds,
//! a dense layer of 256 inputs and 2 outputs 512; the ε rule's transposed products do as many
//! again:
//!
//! ```
//! use lrp::composite::Composite;
//! use lrp::explain::{Explainer, Target};
//! use lrp::ops::{Conv2d, Dense, Op};
//! use lrp::GraphBuilder;
//! use ndarray::{Array2, Array4, ArrayD};
//!
//! let mut b = GraphBuilder::new();
//! b.input("x", &[3, 8, 8]);
//! let w = Array4::from_shape_fn((4, 3, 3, 3), |(m, c, i, j)| ((m + 2 * c + i + j) % 5) as f32 - 2.0);
//! b.add("conv", Op::Conv(Conv2d::new(w, None).with_pad(1)), &["x"]);
//! b.add("relu", Op::Relu, &["conv"]);
//! b.add("flat", Op::Flatten, &["relu"]);
//! let w = Array2::from_shape_fn((2, 256), |(o, i)| ((o + i) % 3) as f32 - 1.0);
//! b.add("fc", Op::Dense(Dense::new(w, None)), &["flat"]);
//! let graph = b.build(&["fc"]).unwrap();
//!
//! let ex = Explainer::new(graph, &Composite::preset("epsilon").unwrap()).unwrap();
//! let x = ArrayD::from_shape_fn(vec![1, 3, 8, 8], |d| (d[1] + d[2] * d[3]) as f32 * 0.1);
//! let p = lrp::profile::profile(&ex, &x, &Target::Predicted).unwrap();
//! let macs = |name: &str| {
//!     let n = p.nodes.iter().find(|n| n.node == name).unwrap();
//!     (n.forward_macs, n.relevance_macs)
//! };
//! assert_eq!(macs("conv"), (6912, 6912));
//! assert_eq!(macs("fc"), (512, 512));
//! assert_eq!(macs("relu"), (0, 0));
//! println!("{}", p.table());
//! ```
//!
//! The recorder is process-wide: profiles run one at a time, and an explanation that another
//! thread runs meanwhile is counted too.

use crate::error::Result;
use crate::explain::{Explainer, Target};
use crate::ops::Tensor;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// One node's share of an explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeProfile {
    /// The node's name.
    pub node: String,
    /// Its operator kind (`Conv`, `Dense`, ...).
    pub kind: &'static str,
    /// Its rule, `None` off the path to the logits.
    pub rule: Option<String>,
    /// Milliseconds of its forward computation (including the sign-split forward of α-β
    /// and z⁺ layers, which also yields their normalisers).
    pub forward_ms: f64,
    /// Multiply-adds of its forward computation.
    pub forward_macs: u64,
    /// Milliseconds of its relevance step (0 for nodes off the path to the logits).
    pub relevance_ms: f64,
    /// Multiply-adds of its relevance step.
    pub relevance_macs: u64,
}

impl NodeProfile {
    /// Forward plus relevance milliseconds.
    pub fn total_ms(&self) -> f64 {
        self.forward_ms + self.relevance_ms
    }
}

/// The per-node times and multiply-adds of one explanation ([`profile`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// The batch size explained.
    pub batch: usize,
    /// Wall-clock milliseconds of the whole explanation, seed and bookkeeping included.
    pub total_ms: f64,
    /// Every node of the graph, in graph order.
    pub nodes: Vec<NodeProfile>,
}

impl Profile {
    /// Milliseconds in the forward computations of all nodes.
    pub fn forward_ms(&self) -> f64 {
        self.nodes.iter().map(|n| n.forward_ms).sum()
    }

    /// Milliseconds in the relevance steps of all nodes.
    pub fn relevance_ms(&self) -> f64 {
        self.nodes.iter().map(|n| n.relevance_ms).sum()
    }

    /// Multiply-adds of the forward computations.
    pub fn forward_macs(&self) -> u64 {
        self.nodes.iter().map(|n| n.forward_macs).sum()
    }

    /// Multiply-adds of the relevance steps.
    pub fn relevance_macs(&self) -> u64 {
        self.nodes.iter().map(|n| n.relevance_macs).sum()
    }

    /// Achieved GFLOP/s over the whole explanation (2 FLOP per multiply-add).
    pub fn gflops(&self) -> f64 {
        gflops(self.forward_macs() + self.relevance_macs(), self.total_ms)
    }

    /// A plain-text table: one row per node that took at least 0.5% of the time or did
    /// multiply-adds, then the totals.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{:<28} {:<10} {:<22} {:>9} {:>9} {:>8} {:>9} {:>9} {:>8} {:>6}\n",
            "node",
            "kind",
            "rule",
            "fwd ms",
            "fwd GMAC",
            "GFLOP/s",
            "rel ms",
            "rel GMAC",
            "GFLOP/s",
            "share"
        );
        let total = self.total_ms.max(f64::MIN_POSITIVE);
        for n in &self.nodes {
            let macs = n.forward_macs + n.relevance_macs;
            if macs == 0 && n.total_ms() < 0.005 * total {
                continue;
            }
            s += &format!(
                "{:<28} {:<10} {:<22} {:>9.2} {:>9.3} {:>8.1} {:>9.2} {:>9.3} {:>8.1} {:>5.1}%\n",
                clip(&n.node, 28),
                n.kind,
                clip(n.rule.as_deref().unwrap_or("-"), 22),
                n.forward_ms,
                n.forward_macs as f64 * 1e-9,
                gflops(n.forward_macs, n.forward_ms),
                n.relevance_ms,
                n.relevance_macs as f64 * 1e-9,
                gflops(n.relevance_macs, n.relevance_ms),
                100.0 * n.total_ms() / total
            );
        }
        s += &format!(
            "total: {:.1} ms (forward {:.1}, relevance {:.1}, other {:.1}); {:.2} GMAC forward, \
             {:.2} GMAC relevance ({:.2}× the forward); {:.1} GFLOP/s\n",
            self.total_ms,
            self.forward_ms(),
            self.relevance_ms(),
            self.total_ms - self.forward_ms() - self.relevance_ms(),
            self.forward_macs() as f64 * 1e-9,
            self.relevance_macs() as f64 * 1e-9,
            self.relevance_macs() as f64 / self.forward_macs().max(1) as f64,
            self.gflops()
        );
        s
    }
}

/// GFLOP/s of `macs` multiply-adds in `ms` milliseconds (0 when nothing was timed).
pub fn gflops(macs: u64, ms: f64) -> f64 {
    if ms > 0.0 {
        2.0 * macs as f64 / (ms * 1e6)
    } else {
        0.0
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let tail: String = s
            .chars()
            .rev()
            .take(n - 1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("…{tail}")
    }
}

/// Which half of a node's work a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Forward,
    Relevance,
}

/// Whether a profile is recording.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// The records of the running profile: `(node, phase, ms, multiply-adds)`.
static RECORDS: Mutex<Vec<(usize, Phase, f64, u64)>> = Mutex::new(Vec::new());
/// Held for the length of a profile, so that profiles run one at a time.
static PROFILING: Mutex<()> = Mutex::new(());

/// Whether a profile is recording (the forward pass then computes every node itself, to time
/// it).
#[inline]
pub(crate) fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// Run `f`, node `node`'s `phase`, recording its time and multiply-adds while a profile runs
/// (one relaxed load otherwise).
#[inline]
pub(crate) fn timed<R>(node: usize, phase: Phase, f: impl FnOnce() -> R) -> R {
    if !ACTIVE.load(Ordering::Relaxed) {
        return f();
    }
    let macs = crate::kernels::multiply_adds();
    let t = Instant::now();
    let r = f();
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let done = crate::kernels::multiply_adds() - macs;
    RECORDS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((node, phase, ms, done));
    r
}

/// Explain `x` for `target` once with `explainer`, timing every node's forward computation
/// and relevance step (see the module documentation). Errors are those of
/// [`Explainer::explain`].
pub fn profile(explainer: &Explainer, x: &Tensor, target: &Target) -> Result<Profile> {
    let _one_at_a_time = PROFILING.lock().unwrap_or_else(|e| e.into_inner());
    RECORDS.lock().unwrap_or_else(|e| e.into_inner()).clear();
    ACTIVE.store(true, Ordering::SeqCst);
    let t = Instant::now();
    let result = explainer.explain(x, target);
    let total_ms = t.elapsed().as_secs_f64() * 1e3;
    ACTIVE.store(false, Ordering::SeqCst);
    let records = std::mem::take(&mut *RECORDS.lock().unwrap_or_else(|e| e.into_inner()));
    result?;
    let g = explainer.graph();
    let rules: std::collections::HashMap<String, String> = explainer
        .rule_names()
        .into_iter()
        .filter_map(|(node, rule)| Some((node, rule?)))
        .collect();
    let mut nodes: Vec<NodeProfile> = g
        .nodes()
        .iter()
        .map(|n| NodeProfile {
            node: n.name.clone(),
            kind: n.op.kind(),
            rule: rules.get(&n.name).cloned(),
            forward_ms: 0.0,
            forward_macs: 0,
            relevance_ms: 0.0,
            relevance_macs: 0,
        })
        .collect();
    for (i, phase, ms, macs) in records {
        let Some(n) = nodes.get_mut(i) else { continue };
        match phase {
            Phase::Forward => {
                n.forward_ms += ms;
                n.forward_macs += macs;
            }
            Phase::Relevance => {
                n.relevance_ms += ms;
                n.relevance_macs += macs;
            }
        }
    }
    Ok(Profile {
        batch: x.shape().first().copied().unwrap_or(0),
        total_ms,
        nodes,
    })
}
