//! Composites: which rule each layer of a network gets.
//!
//! A [`Composite`] is a layer map. Every layer gets its rule ([`RuleSpec`]) from it, in this
//! order, later steps winning:
//!
//! 1. the composite's defaults, by [`Category`] or by kind ([`Composite::with_rule`]):
//!    every preset maps activations and reshapes to `pass`, max pooling to
//!    `winner-take-all`, averaging and sums to `proportional`, concatenation and padding to
//!    `pass` (slice, crop), normalisations to `pass` except layer normalisation (kind
//!    `LayerNorm`), which gets AttnLRP's `layer-norm` rule (ε = the rule's stabiliser, 1e-6;
//!    [`Composite::with_stabilizer`] changes it; override it with `pass` by kind, name or
//!    category), products of activations to `gate` (the gate of a squeeze-and-excitation
//!    block held constant; `uniform` is the alternative, see [`crate::ops::mul`]), resizes
//!    (`Resize`, a linear map without learned weights) to ε = 1e-6, and convolutions
//!    (transposed convolutions alike, as Zennit's `Convolution` type includes them) and dense
//!    layers to their rules;
//! 2. the rule of the first `n` linear layers with learned weights in data-flow order (flat,
//!    zᴮ): a `Resize` is linear but has no weights, so it is never "the first layer";
//! 3. overrides by layer name, by index among the linear layers, by kind or by category
//!    ([`Composite::with_override`]).
//!
//! A layer that nothing maps is an error naming it; so is a rule that does not fit its layer
//! ([`crate::rules::prepare`]), a gate rule on a product without a gate, and an override that
//! matches no layer.
//!
//! Named presets ([`Composite::preset`], one table: [`PRESET_TABLE`]):
//!
//! | name | first linear layer(s) | convolutions | dense | LRN | LayerNorm |
//! |---|---|---|---|---|---|
//! | `epsilon` | – | ε | ε | pass | AttnLRP |
//! | `alpha2-beta1` | – | α2β1 | α2β1 | pass | AttnLRP |
//! | `epsilon-plus` | – | z⁺ | ε | pass | AttnLRP |
//! | `epsilon-plus-flat` | flat | z⁺ | ε | pass | AttnLRP |
//! | `epsilon-alpha2-beta1` | – | α2β1 | ε | pass | AttnLRP |
//! | `epsilon-alpha2-beta1-flat` | flat | α2β1 | ε | pass | AttnLRP |
//! | `epsilon-gamma-box` | zᴮ | γ = 0.25 | ε | pass | AttnLRP |
//! | `paper` | paper flat on the lowest `n` convolutions | paper α2β1 | paper ε = 0.1 | paper | AttnLRP (ε = 1e-6) |
//! | `attnlrp` | – | ε = 1e-20 | ε = 1e-20 | pass | AttnLRP |
//! | `cp-lrp` | – | ε = 1e-20 | ε = 1e-20 | pass | AttnLRP |
//!
//! The transformer presets follow LXT 2.1 (Achtibat et al., ICML 2024), whose gradient ×
//! input with LRP-0 on linear layers they match (ε = stabiliser = 1e-20 here, see
//! `transformer` in the source): GELU and other activations
//! pass (LXT's identity rule), LayerNorm with its standard deviation constant, residual sums
//! proportional, constant additions that cannot be folded (a position embedding) as biases
//! under the ε-rule ([`Rule::Proportional`] on `Affine`). `attnlrp` gives a softmax inside
//! the network AttnLRP's rule `R_x = x ⊙ (R_s − s ⊙ Σ R_s)` ([`Rule::Softmax`]) and products
//! of two activations the uniform rule (half to each operand by the ε-rule; LXT's division of
//! the gradient of q, k by 4 and of v by 2); `cp-lrp` (Ali et al., ICML 2022) holds the
//! attention weights constant ([`Rule::Gate`]: all relevance to the values).
//!
//! Every preset gives `Resize` ε = 1e-6 (in its convention): Zennit has no rule for
//! interpolation and passes the gradient through it, which is LRP-0; α-β would multiply the
//! relevance of its all-positive contributions by α. `ConvTranspose` gets the convolutions'
//! rule. The modern presets use ε = stabiliser = 1e-6. `paper` is the ICCV 2017 setting (LRP
//! Toolbox formula type 102), every rule in the paper's convention; `n` is 1 for AdienceNet
//! and CaffeNet, 2 for GoogLeNet, 4 for VGG-16 and 1 for any other network unless set with
//! [`Composite::with_flat_layers`].
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
//! // Every other layer is mapped too: max pooling is winner-take-all.
//! assert_eq!(rules["pool1"].rule, lrp::rules::Rule::WinnerTakeAll);
//! ```
//!
//! ## Adding a preset
//! One row of [`PRESET_TABLE`]: its name, a one-line description and a constructor.

use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::ops::Category;
use crate::rules::{Convention, Rule, RuleSpec};
use crate::zoo::Architecture;
use std::collections::BTreeMap;

/// A named preset: one row of [`PRESET_TABLE`].
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    /// The name [`Composite::preset`] finds it by.
    pub name: &'static str,
    /// What it does, in one line.
    pub description: &'static str,
    build: fn() -> Composite,
}

/// The named presets, in the order of the table in the module documentation.
pub const PRESET_TABLE: [Preset; 10] = [
    Preset {
        name: "epsilon",
        description: "ε = 1e-6 on every linear layer",
        build: || modern(eps(), eps(), None),
    },
    Preset {
        name: "alpha2-beta1",
        description: "α2β1 on every linear layer",
        build: || modern(ab(), ab(), None),
    },
    Preset {
        name: "epsilon-plus",
        description: "z⁺ on convolutions, ε on dense layers",
        build: || modern(m(Rule::ZPlus), eps(), None),
    },
    Preset {
        name: "epsilon-plus-flat",
        description: "flat on the first linear layer, z⁺ on convolutions, ε on dense layers",
        build: || modern(m(Rule::ZPlus), eps(), Some((m(Rule::Flat), false))),
    },
    Preset {
        name: "epsilon-alpha2-beta1",
        description: "α2β1 on convolutions, ε on dense layers",
        build: || modern(ab(), eps(), None),
    },
    Preset {
        name: "epsilon-alpha2-beta1-flat",
        description: "flat on the first linear layer, α2β1 on convolutions, ε on dense layers",
        build: || modern(ab(), eps(), Some((m(Rule::Flat), false))),
    },
    Preset {
        name: "epsilon-gamma-box",
        description: "zᴮ on the first convolution, γ = 0.25 on convolutions, ε on dense layers",
        // Without `with_box`, the bounds are the per-channel extremes of the batch.
        build: || {
            let zbox = m(Rule::ZBox {
                low: Vec::new(),
                high: Vec::new(),
            });
            modern(m(Rule::Gamma { gamma: 0.25 }), eps(), Some((zbox, true)))
        },
    },
    Preset {
        name: "paper",
        description: "the ICCV 2017 paper: paper flat on the lowest convolutions, α2β1, ε = 0.1, the LRN rule",
        build: paper,
    },
    Preset {
        name: "attnlrp",
        description: "AttnLRP (transformers): ε on linear layers, the softmax rule, uniform products, constant additions as biases",
        build: || transformer(Rule::Uniform),
    },
    Preset {
        name: "cp-lrp",
        description: "CP-LRP (transformers): as attnlrp, but attention weights held constant (relevance through the values only)",
        build: || transformer(Rule::Gate),
    },
];

/// The transformer presets (LXT 2.1's AttnLRP and CP-LRP, see the module documentation):
/// `products` for the products of activations (`uniform` for AttnLRP, `gate` for CP-LRP).
///
/// ε and every stabiliser are 1e-20, LRP-0 in effect (LXT's linear layers are LRP-0, plain
/// gradient × input): every rule here sends relevance proportional to the output it divides
/// by, so the ratio `R / (z + ε·sign(z))` stays bounded however small `z` is, and ε only moves
/// outputs with `|z|` not far above it. At 1e-6 (the CNN presets') the input relevance of the
/// test models moved by up to 6e-3 of max |R|, at 1e-9 by 1.5e-5 and on full-size DeiT-Tiny
/// by 1.45e-4 (ε/|z| at an output near 0 in one block, spread over the input on the way
/// down); at 1e-20 the test models are within 6.1e-7 of LXT in float64 and full DeiT-Tiny
/// within 1.2e-6 (LXT's own float32 run: 1.4e-6). An output of exactly 0 (a cancelled sum)
/// stands for [`crate::kernels::CANCELLED`] under these rules, so the ratio behind it still
/// passes on, as LXT's gradient does.
fn transformer(products: Rule) -> Composite {
    let e = m(Rule::Epsilon { epsilon: 1e-20 });
    modern(e.clone(), e, None)
        .with_rule(Selector::Category(Category::Product), m(products))
        .with_rule(Selector::Kind("Softmax".into()), m(Rule::Softmax))
        .with_rule(Selector::Kind("Affine".into()), m(Rule::Proportional))
        .with_stabilizer(1e-20)
}

/// Every category to `rule`, named `name`.
fn everywhere(name: &str, rule: Rule) -> Composite {
    let mut c = Composite::empty();
    for category in Category::ALL {
        c = c.with_rule(Selector::Category(category), m(rule.clone()));
    }
    c.name = name.into();
    c
}

impl Composite {
    /// The gradient: [`Rule::Gradient`] on every layer, so that the backward pass computes
    /// `∂ output / ∂ input` (seed the output with 1, see [`crate::attribution`]).
    ///
    /// ```
    /// use lrp::composite::Composite;
    /// use lrp::rules::Rule;
    /// let net = lrp::zoo::build(lrp::zoo::Architecture::AdienceNet, 2, 0).unwrap();
    /// let rules = Composite::gradient().resolve(&net).unwrap();
    /// assert!(rules.values().all(|r| r.rule == Rule::Gradient));
    /// ```
    pub fn gradient() -> Composite {
        everywhere("gradient", Rule::Gradient)
    }

    /// Guided backpropagation (Springenberg et al. 2015) as Zennit's `GuidedBackprop`
    /// composite computes it: the gradient everywhere, and at every ReLU only positive
    /// gradients where the input is positive ([`Rule::Guided`]).
    pub fn guided_backprop() -> Composite {
        let mut c = Composite::gradient().with_rule(Selector::Kind("Relu".into()), m(Rule::Guided));
        c.name = "guided-backprop".into();
        c
    }

    /// Excitation backprop (Zhang et al., ECCV 2016) as Zennit's `ExcitationBackprop`
    /// composite computes it: z⁺ on convolutions (transposed ones too) and dense layers,
    /// proportional ("Norm") on sums and average pooling, the gradient on every other layer.
    pub fn excitation_backprop() -> Composite {
        let mut c = Composite::gradient()
            .with_conv(m(Rule::ZPlus))
            .with_dense(m(Rule::ZPlus))
            .with_rule(Selector::Category(Category::Sum), m(Rule::Proportional))
            .with_rule(
                Selector::Category(Category::Averaging),
                m(Rule::Proportional),
            );
        c.name = "excitation-backprop".into();
        c
    }
}

/// Names of the presets, in the order of [`PRESET_TABLE`].
pub const PRESETS: [&str; PRESET_TABLE.len()] = {
    let mut names = [""; PRESET_TABLE.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = PRESET_TABLE[i].name;
        i += 1;
    }
    names
};

fn m(rule: Rule) -> RuleSpec {
    RuleSpec::new(rule, Convention::Modern)
}

fn eps() -> RuleSpec {
    m(Rule::Epsilon { epsilon: 1e-6 })
}

fn ab() -> RuleSpec {
    m(Rule::AlphaBeta {
        alpha: 2.0,
        beta: 1.0,
    })
}

/// The defaults every preset shares for layers without weights, in `convention`.
fn base(convention: Convention) -> Composite {
    let r = |rule| RuleSpec::new(rule, convention);
    let mut c = Composite::empty();
    for (category, rule) in [
        (Category::Activation, Rule::Pass),
        (Category::Reshape, Rule::Pass),
        (Category::Concat, Rule::Pass),
        (Category::Padding, Rule::Pass),
        (Category::Normalization, Rule::Pass),
        (Category::MaxPooling, Rule::WinnerTakeAll),
        (Category::Averaging, Rule::Proportional),
        (Category::Sum, Rule::Proportional),
        (Category::Product, Rule::Gate),
    ] {
        c = c.with_rule(Selector::Category(category), r(rule));
    }
    let c = c.with_rule(
        Selector::Kind("Resize".into()),
        r(Rule::Epsilon { epsilon: 1e-6 }),
    );
    // Layer normalisation: AttnLRP's rule, in every preset (the paper has no layer norm; its
    // preset uses the same rule, with the modern stabiliser 1e-6).
    c.with_rule(
        Selector::Kind("LayerNorm".into()),
        RuleSpec::new(Rule::LayerNorm, Convention::Modern),
    )
}

/// A modern preset: `conv` and `dense` rules and optionally a rule for the first linear
/// layer (`true`: the first convolution only).
fn modern(conv: RuleSpec, dense: RuleSpec, first: Option<(RuleSpec, bool)>) -> Composite {
    let mut c = base(Convention::Modern).with_conv(conv).with_dense(dense);
    if let Some((rule, convs_only)) = first {
        c = c.with_first(rule);
        c.first_convs_only = convs_only;
    }
    c
}

/// The ICCV 2017 paper's preset.
fn paper() -> Composite {
    let p = |r: Rule| RuleSpec::new(r, Convention::Paper);
    let mut c = base(Convention::Paper)
        .with_rule(Selector::Kind("Lrn".into()), p(Rule::Lrn))
        .with_conv(p(Rule::AlphaBeta {
            alpha: 2.0,
            beta: 1.0,
        }))
        .with_dense(p(Rule::Epsilon { epsilon: 0.1 }))
        .with_first(p(Rule::Flat));
    c.first_count = FlatCount::PaperDefault;
    c.first_convs_only = true;
    c
}

/// Which layers a mapping applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// The node with this name.
    Name(String),
    /// The `i`-th linear layer with learned weights (convolution, transposed convolution or
    /// dense; not a resize) in data-flow order, from 0.
    Index(usize),
    /// Every layer of this kind (`Conv`, `Dense`, `MaxPool`, ...; any case).
    Kind(String),
    /// Every layer of this category.
    Category(Category),
}

impl std::fmt::Display for Selector {
    /// The written form [`Selector::from_str`](std::str::FromStr) reads back.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Selector::Name(n) => write!(f, "layer `{n}`"),
            Selector::Index(i) => write!(f, "#{i}"),
            Selector::Kind(k) => write!(f, "kind:{k}"),
            Selector::Category(c) => write!(f, "category:{}", c.name()),
        }
    }
}

/// How the first linear layers are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlatCount {
    /// A fixed number of linear layers.
    Layers(usize),
    /// The paper's lowest convolutions for known architectures, 1 otherwise.
    PaperDefault,
}

/// A rule assignment for a whole network (see the module documentation).
#[derive(Debug, Clone)]
pub struct Composite {
    name: String,
    defaults: Vec<(Selector, RuleSpec)>,
    first: Option<RuleSpec>,
    first_count: FlatCount,
    first_convs_only: bool,
    overrides: Vec<(Selector, RuleSpec)>,
}

impl Default for Composite {
    fn default() -> Self {
        Composite::new()
    }
}

impl Composite {
    /// A composite with the modern rules for layers without weights, as every modern preset
    /// has them (activations, reshapes, concatenation, padding and normalisations pass;
    /// layer normalisation takes AttnLRP's rule; max pooling is winner-take-all; averages and
    /// sums are proportional); layers with
    /// weights must get their rules through the setters or overrides.
    pub fn new() -> Self {
        base(Convention::Modern)
    }

    /// A composite that maps nothing: every layer must get a rule through the setters or
    /// overrides.
    pub fn empty() -> Self {
        Composite {
            name: "custom".into(),
            defaults: Vec::new(),
            first: None,
            first_count: FlatCount::Layers(1),
            first_convs_only: false,
            overrides: Vec::new(),
        }
    }

    /// A named preset (see the module documentation), or an error listing the names.
    pub fn preset(name: &str) -> Result<Composite> {
        let key = name.to_ascii_lowercase().replace('_', "-");
        let preset = PRESET_TABLE.iter().find(|p| p.name == key).ok_or_else(|| {
            Error::Invalid(format!(
                "unknown preset `{name}`; known presets: {}",
                PRESETS.join(", ")
            ))
        })?;
        let mut c = (preset.build)();
        c.name = preset.name.to_string();
        Ok(c)
    }

    /// The preset's name (`custom` for a composite built by hand).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Map the layers `selector` picks to `rule` as a default: the first-layer rule and
    /// overrides take precedence; among defaults, later ones win.
    pub fn with_rule(mut self, selector: Selector, rule: RuleSpec) -> Self {
        self.defaults.push((selector, rule));
        self
    }

    /// Rule for the first linear layer(s).
    pub fn with_first(mut self, rule: RuleSpec) -> Self {
        self.first = Some(rule);
        self
    }

    /// Rule for convolutions (and transposed convolutions) not otherwise covered.
    pub fn with_conv(self, rule: RuleSpec) -> Self {
        self.with_rule(Selector::Kind("Conv".into()), rule.clone())
            .with_rule(Selector::Kind("ConvTranspose".into()), rule)
    }

    /// Rule for dense layers not otherwise covered.
    pub fn with_dense(self, rule: RuleSpec) -> Self {
        self.with_rule(Selector::Kind("Dense".into()), rule)
    }

    /// Number of lowest layers that get the first-layer rule (the paper's flat convolutions).
    pub fn with_flat_layers(mut self, n: usize) -> Self {
        self.first_count = FlatCount::Layers(n);
        self
    }

    /// Override the rule of the layers `selector` picks; later overrides win. An override
    /// that matches no layer of the graph is an error when the composite is resolved.
    pub fn with_override(mut self, selector: Selector, rule: RuleSpec) -> Self {
        self.overrides.push((selector, rule));
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

    /// Set the stabiliser of every rule, the proportional rules of sums and pooling included.
    pub fn with_stabilizer(mut self, stabilizer: f32) -> Self {
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

    /// Bounds for the zᴮ rules that have none, which otherwise take the per-channel extremes
    /// of the explained batch (so that an image's map would depend on the other images of its
    /// batch); rules given bounds keep theirs. The command line sets the model's input range
    /// ([`crate::preprocess::Preprocess::value_range`]) this way when it explains images.
    pub fn with_default_box(mut self, low: Vec<f32>, high: Vec<f32>) -> Self {
        for r in self.rules_mut() {
            if let Rule::ZBox { low: l, high: h } = &mut r.rule {
                if l.is_empty() && h.is_empty() {
                    l.clone_from(&low);
                    h.clone_from(&high);
                }
            }
        }
        self
    }

    /// Whether the composite uses the zᴮ rule anywhere.
    pub fn uses_box(&self) -> bool {
        self.defaults
            .iter()
            .chain(&self.overrides)
            .map(|(_, r)| r)
            .chain(self.first.iter())
            .any(|r| matches!(r.rule, Rule::ZBox { .. }))
    }

    fn rules_mut(&mut self) -> impl Iterator<Item = &mut RuleSpec> {
        self.defaults
            .iter_mut()
            .chain(self.overrides.iter_mut())
            .map(|(_, r)| r)
            .chain(self.first.iter_mut())
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

    /// The rule of every layer of `graph`, by node name. Fails with a list of every layer
    /// no rule covers, and on overrides that match no layer.
    pub fn resolve(&self, graph: &Graph) -> Result<BTreeMap<String, RuleSpec>> {
        let rules = self.resolve_nodes(graph, |_| true)?;
        Ok(graph
            .nodes()
            .iter()
            .zip(rules)
            .filter_map(|(n, r)| Some((n.name.clone(), r?)))
            .collect())
    }

    /// The rule of each node of `graph` for which `wanted(index)` holds, by node index
    /// (`None` for the others). Fails with a list of every wanted layer no rule covers, and
    /// on overrides that match no layer of the graph.
    pub fn resolve_nodes(
        &self,
        graph: &Graph,
        wanted: impl Fn(usize) -> bool,
    ) -> Result<Vec<Option<RuleSpec>>> {
        let n_first = self.flat_layers(graph);
        let mut out = Vec::with_capacity(graph.nodes().len());
        let mut missing = Vec::new();
        let (mut linear_index, mut firsts) = (0, 0);
        let mut matched = vec![false; self.overrides.len()];
        for (i, node) in graph.nodes().iter().enumerate() {
            // Layers with learned weights: a Resize is linear, but neither indexed nor a
            // "first layer".
            let weighted = node.op.is_linear() && node.op.num_params() > 0;
            let linear = weighted.then_some(linear_index);
            let picks = |sel: &Selector| match sel {
                Selector::Name(n) => *n == node.name,
                Selector::Index(i) => linear == Some(*i),
                Selector::Kind(k) => k.eq_ignore_ascii_case(node.op.kind()),
                Selector::Category(c) => *c == node.op.category(),
            };
            let mut rule = self
                .defaults
                .iter()
                .rev()
                .find(|(s, _)| picks(s))
                .map(|(_, r)| r);
            if linear.is_some() {
                let is_conv = matches!(node.op.kind(), "Conv" | "ConvTranspose");
                if firsts < n_first && (is_conv || !self.first_convs_only) {
                    if let Some(f) = &self.first {
                        rule = Some(f);
                    }
                    firsts += 1;
                }
                linear_index += 1;
            }
            for (j, (sel, r)) in self.overrides.iter().enumerate() {
                if picks(sel) {
                    rule = Some(r);
                    matched[j] = true;
                }
            }
            let wanted = wanted(i);
            if wanted && rule.is_none() {
                missing.push(format!("{} ({})", node.name, node.op.kind()));
            }
            out.push(rule.filter(|_| wanted).cloned());
        }
        if !missing.is_empty() {
            return Err(Error::Invalid(format!(
                "composite `{}` gives no rule to {} layer(s): {}",
                self.name,
                missing.len(),
                missing.join(", ")
            )));
        }
        if let Some(i) = matched.iter().position(|m| !m) {
            return Err(Error::Invalid(format!(
                "composite `{}`: the override for {} matches no layer of the graph",
                self.name, self.overrides[i].0
            )));
        }
        Ok(out)
    }
}

impl std::str::FromStr for Selector {
    type Err = Error;

    /// `#N` selects the `N`-th linear layer (from 0); `conv`/`dense` (any case) every layer
    /// of that kind; `kind:K` every layer of kind `K` (`kind:MaxPool`); `category:C` every
    /// layer of a category (`category:activation`, see [`Category::name`]); anything else
    /// the layer with that name.
    ///
    /// ```
    /// use lrp::composite::Selector;
    /// use lrp::ops::Category;
    /// assert_eq!("#0".parse::<Selector>().unwrap(), Selector::Index(0));
    /// assert_eq!("Conv".parse::<Selector>().unwrap(), Selector::Kind("Conv".into()));
    /// assert_eq!("kind:MaxPool".parse::<Selector>().unwrap(), Selector::Kind("MaxPool".into()));
    /// assert_eq!(
    ///     "category:sum".parse::<Selector>().unwrap(),
    ///     Selector::Category(Category::Sum)
    /// );
    /// assert_eq!("fc8".parse::<Selector>().unwrap(), Selector::Name("fc8".into()));
    /// ```
    fn from_str(s: &str) -> Result<Selector> {
        let s = s.trim();
        if let Some(i) = s.strip_prefix('#') {
            return i.parse().map(Selector::Index).map_err(|_| {
                Error::Invalid(format!("layer selector `{s}`: `{i}` is not an index"))
            });
        }
        if let Some(c) = s.strip_prefix("category:") {
            return Category::from_name(c)
                .map(Selector::Category)
                .ok_or_else(|| {
                    let names: Vec<&str> = Category::ALL.iter().map(|c| c.name()).collect();
                    Error::Invalid(format!(
                        "layer selector `{s}`: unknown category `{c}` ({})",
                        names.join(", ")
                    ))
                });
        }
        let kind = s.strip_prefix("kind:");
        match kind.unwrap_or(s).to_ascii_lowercase().as_str() {
            "conv" | "convolution" => Ok(Selector::Kind("Conv".into())),
            "dense" | "innerproduct" | "gemm" | "linear" => Ok(Selector::Kind("Dense".into())),
            "" => Err(Error::Invalid(format!("empty layer selector `{s}`"))),
            _ => Ok(match kind {
                Some(k) => Selector::Kind(k.to_string()),
                None => Selector::Name(s.to_string()),
            }),
        }
    }
}
