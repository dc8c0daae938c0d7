//! Composites: which rule each layer of a network gets.
//!
//! A [`Composite`] assigns a [`LayerRule`] to every linear layer (convolution or dense) in
//! data-flow order: a rule for the first `n` linear layers (flat, zᴮ), one for the other
//! convolutions and one for the other dense layers, then overrides by layer name, by index
//! among the linear layers, or by layer kind. It also says how LRN passes relevance and which
//! stabiliser the proportional rules (average pooling, residual sums) use. Resolving a
//! composite on a graph fails with a list of every layer with weights that no rule covers.
//!
//! Named presets ([`Composite::preset`]):
//!
//! | name | first linear layer(s) | convolutions | dense | LRN |
//! |---|---|---|---|---|
//! | `epsilon` | – | ε | ε | pass |
//! | `alpha2-beta1` | – | α2β1 | α2β1 | pass |
//! | `epsilon-plus` | – | z⁺ | ε | pass |
//! | `epsilon-plus-flat` | flat | z⁺ | ε | pass |
//! | `epsilon-alpha2-beta1` | – | α2β1 | ε | pass |
//! | `epsilon-alpha2-beta1-flat` | flat | α2β1 | ε | pass |
//! | `epsilon-gamma-box` | zᴮ | γ = 0.25 | ε | pass |
//! | `paper` | paper flat on the lowest `n` convolutions | paper α2β1 | paper ε = 0.1 | paper |
//!
//! The modern presets use ε = stabiliser = 1e-6. `paper` is the ICCV 2017 setting (LRP
//! Toolbox formula type 102); `n` is 1 for AdienceNet and CaffeNet, 2 for GoogLeNet, 4 for
//! VGG-16 and 1 for any other network unless set with [`Composite::with_flat_layers`].
//!
//! ```
//! use lrp::composite::Composite;
//! use lrp::zoo::{self, Architecture};
//! let net = zoo::build(Architecture::Vgg16, 2, 0).unwrap();
//! let c = Composite::preset("paper").unwrap();
//! let rules = c.resolve(&net).unwrap();
//! // conv1_1 .. conv2_2 get the paper's flat rule, conv3_1 the paper's α2β1.
//! assert_eq!(rules["conv2_2"].rule, lrp::rules::Rule::Flat);
//! assert!(matches!(rules["conv3_1"].rule, lrp::rules::Rule::AlphaBeta { .. }));
//! ```

use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::ops::lrn::LrnRule;
use crate::ops::Op;
use crate::rules::{Convention, LayerRule, Rule};
use crate::zoo::Architecture;
use std::collections::BTreeMap;

/// Names of the presets, in the order of the table above.
pub const PRESETS: [&str; 8] = [
    "epsilon",
    "alpha2-beta1",
    "epsilon-plus",
    "epsilon-plus-flat",
    "epsilon-alpha2-beta1",
    "epsilon-alpha2-beta1-flat",
    "epsilon-gamma-box",
    "paper",
];

/// Which layers an override applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// The node with this name.
    Name(String),
    /// The `i`-th linear layer (convolution or dense) in data-flow order, from 0.
    Index(usize),
    /// Every layer of this kind: `Conv` or `Dense`.
    Kind(String),
}

/// How the first linear layers are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlatCount {
    /// A fixed number of linear layers.
    Layers(usize),
    /// The paper's lowest convolutions for known architectures, 1 otherwise.
    PaperDefault,
}

/// A rule assignment for a whole network.
#[derive(Debug, Clone)]
pub struct Composite {
    name: String,
    first: Option<LayerRule>,
    first_count: FlatCount,
    first_convs_only: bool,
    conv: Option<LayerRule>,
    dense: Option<LayerRule>,
    overrides: Vec<(Selector, LayerRule)>,
    /// How LRN layers pass relevance.
    pub lrn: LrnRule,
    /// Stabiliser of the proportional rules (average pooling, residual sums).
    pub stabilizer: f32,
}

impl Default for Composite {
    fn default() -> Self {
        Composite::new()
    }
}

impl Composite {
    /// An empty composite: every linear layer must get a rule through the setters or
    /// overrides.
    pub fn new() -> Self {
        Composite {
            name: "custom".into(),
            first: None,
            first_count: FlatCount::Layers(1),
            first_convs_only: false,
            conv: None,
            dense: None,
            overrides: Vec::new(),
            lrn: LrnRule::Pass,
            stabilizer: 1e-6,
        }
    }

    /// A named preset (see the module documentation), or an error listing the names.
    pub fn preset(name: &str) -> Result<Composite> {
        let m = |r: Rule| LayerRule::new(r, Convention::Modern);
        let eps = m(Rule::Epsilon { epsilon: 1e-6 });
        let ab = m(Rule::AlphaBeta {
            alpha: 2.0,
            beta: 1.0,
        });
        let key = name.to_ascii_lowercase().replace('_', "-");
        let mut c = Composite::new();
        c.name = key.clone();
        match key.as_str() {
            "epsilon" => {
                c.conv = Some(eps.clone());
                c.dense = Some(eps);
            }
            "alpha2-beta1" => {
                c.conv = Some(ab.clone());
                c.dense = Some(ab);
            }
            "epsilon-plus" | "epsilon-plus-flat" => {
                c.conv = Some(m(Rule::ZPlus));
                c.dense = Some(eps);
                if key.ends_with("flat") {
                    c.first = Some(m(Rule::Flat));
                }
            }
            "epsilon-alpha2-beta1" | "epsilon-alpha2-beta1-flat" => {
                c.conv = Some(ab);
                c.dense = Some(eps);
                if key.ends_with("flat") {
                    c.first = Some(m(Rule::Flat));
                }
            }
            "epsilon-gamma-box" => {
                c.conv = Some(m(Rule::Gamma { gamma: 0.25 }));
                c.dense = Some(eps);
                // Without `with_box`, the bounds are the per-channel extremes of the batch.
                c.first = Some(m(Rule::ZBox {
                    low: Vec::new(),
                    high: Vec::new(),
                }));
                c.first_convs_only = true;
            }
            "paper" => {
                let p = |r: Rule| LayerRule::new(r, Convention::Paper);
                c.first = Some(p(Rule::Flat));
                c.first_count = FlatCount::PaperDefault;
                c.first_convs_only = true;
                c.conv = Some(p(Rule::AlphaBeta {
                    alpha: 2.0,
                    beta: 1.0,
                }));
                c.dense = Some(p(Rule::Epsilon { epsilon: 0.1 }));
                c.lrn = LrnRule::Paper;
            }
            _ => {
                return Err(Error::Invalid(format!(
                    "unknown preset `{name}`; known presets: {}",
                    PRESETS.join(", ")
                )))
            }
        }
        Ok(c)
    }

    /// The preset's name (`custom` for a composite built by hand).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Rule for the first linear layer(s).
    pub fn with_first(mut self, rule: LayerRule) -> Self {
        self.first = Some(rule);
        self
    }

    /// Rule for convolutions not otherwise covered.
    pub fn with_conv(mut self, rule: LayerRule) -> Self {
        self.conv = Some(rule);
        self
    }

    /// Rule for dense layers not otherwise covered.
    pub fn with_dense(mut self, rule: LayerRule) -> Self {
        self.dense = Some(rule);
        self
    }

    /// Number of lowest layers that get the first-layer rule (the paper's flat convolutions).
    pub fn with_flat_layers(mut self, n: usize) -> Self {
        self.first_count = FlatCount::Layers(n);
        self
    }

    /// Override the rule of the layers `selector` picks; later overrides win.
    pub fn with_override(mut self, selector: Selector, rule: LayerRule) -> Self {
        self.overrides.push((selector, rule));
        self
    }

    /// How LRN layers pass relevance.
    pub fn with_lrn(mut self, lrn: LrnRule) -> Self {
        self.lrn = lrn;
        self
    }

    /// Set ε of every ε-rule of the composite (including overrides).
    pub fn with_epsilon(mut self, epsilon: f32) -> Self {
        for r in self.rules_mut() {
            if let Rule::Epsilon { epsilon: e } = &mut r.rule {
                *e = epsilon;
            }
        }
        self
    }

    /// Set the stabiliser of every rule and of the proportional rules.
    pub fn with_stabilizer(mut self, stabilizer: f32) -> Self {
        self.stabilizer = stabilizer;
        for r in self.rules_mut() {
            r.stabilizer = stabilizer;
        }
        self
    }

    /// Bounds of the zᴮ rule (per input channel, or one value for all).
    pub fn with_box(mut self, low: Vec<f32>, high: Vec<f32>) -> Self {
        for r in self.rules_mut() {
            if let Rule::ZBox { low: l, high: h } = &mut r.rule {
                *l = low.clone();
                *h = high.clone();
            }
        }
        self
    }

    /// Whether the composite uses the zᴮ rule anywhere.
    pub fn uses_box(&self) -> bool {
        self.rules().any(|r| matches!(r.rule, Rule::ZBox { .. }))
    }

    fn rules(&self) -> impl Iterator<Item = &LayerRule> {
        self.first
            .iter()
            .chain(self.conv.iter())
            .chain(self.dense.iter())
            .chain(self.overrides.iter().map(|(_, r)| r))
    }

    fn rules_mut(&mut self) -> impl Iterator<Item = &mut LayerRule> {
        self.first
            .iter_mut()
            .chain(self.conv.iter_mut())
            .chain(self.dense.iter_mut())
            .chain(self.overrides.iter_mut().map(|(_, r)| r))
    }

    /// How many lowest layers get the first-layer rule on `graph`.
    pub fn flat_layers(&self, graph: &Graph) -> usize {
        match self.first_count {
            FlatCount::Layers(n) => n,
            FlatCount::PaperDefault => {
                Architecture::detect(graph).map_or(1, |a| a.paper_flat_layers().len())
            }
        }
    }

    /// The rule of every linear layer of `graph`, by node name. Fails with a list of every
    /// layer with weights that no rule covers, and on overrides that match no layer.
    pub fn resolve(&self, graph: &Graph) -> Result<BTreeMap<String, LayerRule>> {
        let n_first = self.flat_layers(graph);
        let mut out = BTreeMap::new();
        let mut missing = Vec::new();
        let mut linear_index = 0;
        let mut firsts = 0;
        let mut matched = vec![false; self.overrides.len()];
        for node in graph.nodes() {
            if !node.op.is_linear() {
                continue;
            }
            let is_conv = matches!(node.op, Op::Conv(_));
            let mut rule = None;
            if firsts < n_first && (is_conv || !self.first_convs_only) {
                if let Some(f) = &self.first {
                    rule = Some(f.clone());
                }
                firsts += 1;
            }
            if rule.is_none() {
                rule = if is_conv {
                    self.conv.clone()
                } else {
                    self.dense.clone()
                };
            }
            for (i, (sel, r)) in self.overrides.iter().enumerate() {
                let hit = match sel {
                    Selector::Name(n) => *n == node.name,
                    Selector::Index(i) => *i == linear_index,
                    Selector::Kind(k) => k.eq_ignore_ascii_case(node.op.kind()),
                };
                if hit {
                    rule = Some(r.clone());
                    matched[i] = true;
                }
            }
            match rule {
                Some(r) => {
                    out.insert(node.name.clone(), r);
                }
                None => missing.push(format!("{} ({})", node.name, node.op.kind())),
            }
            linear_index += 1;
        }
        if !missing.is_empty() {
            return Err(Error::Invalid(format!(
                "composite `{}` gives no rule to {} layer(s) with weights: {}",
                self.name,
                missing.len(),
                missing.join(", ")
            )));
        }
        if let Some(i) = matched.iter().position(|m| !m) {
            return Err(Error::Invalid(format!(
                "composite `{}`: override {:?} matches no linear layer of the graph",
                self.name, self.overrides[i].0
            )));
        }
        Ok(out)
    }
}

impl std::str::FromStr for Selector {
    type Err = Error;

    /// `#N` selects the `N`-th linear layer (from 0), `conv`/`dense` (any case; also
    /// `kind:Conv`) every layer of that kind, anything else the layer with that name.
    ///
    /// ```
    /// use lrp::composite::Selector;
    /// assert_eq!("#0".parse::<Selector>().unwrap(), Selector::Index(0));
    /// assert_eq!("Conv".parse::<Selector>().unwrap(), Selector::Kind("Conv".into()));
    /// assert_eq!("fc8".parse::<Selector>().unwrap(), Selector::Name("fc8".into()));
    /// ```
    fn from_str(s: &str) -> Result<Selector> {
        let s = s.trim();
        if let Some(i) = s.strip_prefix('#') {
            return i.parse().map(Selector::Index).map_err(|_| {
                Error::Invalid(format!("layer selector `{s}`: `{i}` is not an index"))
            });
        }
        let kind = s.strip_prefix("kind:").unwrap_or(s);
        match kind.to_ascii_lowercase().as_str() {
            "conv" | "convolution" => Ok(Selector::Kind("Conv".into())),
            "dense" | "innerproduct" | "gemm" | "linear" => Ok(Selector::Kind("Dense".into())),
            _ if s.starts_with("kind:") => Err(Error::Invalid(format!(
                "layer selector `{s}`: kinds are Conv and Dense"
            ))),
            _ if s.is_empty() => Err(Error::Invalid("empty layer selector".into())),
            _ => Ok(Selector::Name(s.to_string())),
        }
    }
}
