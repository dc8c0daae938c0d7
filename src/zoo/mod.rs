//! The four architectures of the ICCV 2017 age and gender paper, built in code.
//!
//! Each builder returns a [`Graph`] with seeded random weights (He initialisation, so that
//! activations neither vanish nor explode through the ReLU stack) and a chosen number of
//! classes: 2 for gender, 8 for the Adience age groups, 1000 for the ImageNet originals. Layer
//! names and hyper-parameters follow the Caffe `deploy.prototxt` files of the paper; every
//! network ends with its logits layer followed by a `Softmax` node called `prob`.
//!
//! | architecture | input | from |
//! |---|---|---|
//! | [`Architecture::AdienceNet`] | 3×227×227 | Levi & Hassner, CVPR-W 2015 |
//! | [`Architecture::CaffeNet`] | 3×227×227 | BVLC reference CaffeNet (AlexNet variant) |
//! | [`Architecture::GoogLeNet`] | 3×224×224 | BVLC GoogLeNet (Szegedy et al., 2015) |
//! | [`Architecture::Vgg16`] | 3×224×224 | Simonyan & Zisserman, 2015 |
//!
//! ```
//! use lrp::zoo::{self, Architecture};
//! let net = zoo::build(Architecture::AdienceNet, 8, 42).unwrap();
//! assert_eq!(net.input_shape(), &[3, 227, 227]);
//! assert_eq!(net.output_shape(), &[8]);
//! ```

mod adiencenet;
mod caffenet;
mod googlenet;
pub mod rng;
mod vgg;

use crate::error::{Error, Result};
use crate::graph::{Graph, GraphBuilder, Node};
use crate::ops::{Concat, Conv2d, Dense, Lrn, Op, Pool2d, PoolRounding, Softmax};
use ndarray::{Array1, Array2, Array4};
use rng::Rng;

pub use googlenet::googlenet_with_aux;

/// The paper's network architectures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Architecture {
    /// Levi & Hassner's age/gender net: 3 convolutions, 3 dense layers, 227×227 input.
    AdienceNet,
    /// BVLC CaffeNet: AlexNet with pooling before normalisation, grouped conv2/4/5.
    CaffeNet,
    /// BVLC GoogLeNet (Inception v1), 224×224 input.
    GoogLeNet,
    /// VGG-16, 224×224 input.
    Vgg16,
}

impl Architecture {
    /// All four, in the paper's order.
    pub const ALL: [Architecture; 4] = [
        Architecture::AdienceNet,
        Architecture::CaffeNet,
        Architecture::GoogLeNet,
        Architecture::Vgg16,
    ];

    /// Short lower-case name (`adiencenet`, `caffenet`, `googlenet`, `vgg16`).
    pub fn name(self) -> &'static str {
        match self {
            Architecture::AdienceNet => "adiencenet",
            Architecture::CaffeNet => "caffenet",
            Architecture::GoogLeNet => "googlenet",
            Architecture::Vgg16 => "vgg16",
        }
    }

    /// Parse a short name as produced by [`Architecture::name`] (case-insensitive, ignoring
    /// `-` and `_`); the paper's file-name parts `net_definitions` and `caffereference` are
    /// accepted too.
    pub fn from_name(s: &str) -> Option<Architecture> {
        match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "adiencenet" | "netdefinitions" | "levihassner" => Some(Architecture::AdienceNet),
            "caffenet" | "caffereference" => Some(Architecture::CaffeNet),
            "googlenet" | "inceptionv1" => Some(Architecture::GoogLeNet),
            "vgg16" => Some(Architecture::Vgg16),
            _ => None,
        }
    }

    /// Per-sample input shape `[3, H, W]`.
    pub fn input_shape(self) -> [usize; 3] {
        match self {
            Architecture::AdienceNet | Architecture::CaffeNet => [3, 227, 227],
            Architecture::GoogLeNet | Architecture::Vgg16 => [3, 224, 224],
        }
    }

    /// Names of the lowest convolutions that the paper explained with the flat rule.
    pub fn paper_flat_layers(self) -> &'static [&'static str] {
        match self {
            Architecture::AdienceNet | Architecture::CaffeNet => &["conv1"],
            Architecture::GoogLeNet => &["conv1/7x7_s2", "conv2/3x3_reduce"],
            Architecture::Vgg16 => &["conv1_1", "conv1_2", "conv2_1", "conv2_2"],
        }
    }
}

impl Architecture {
    /// Recognise one of the paper's architectures in a graph: by its layers (GoogLeNet's
    /// `conv1/7x7_s2`, VGG-16's thirteen `convX_Y` layers, and the first convolution's 11×11/4
    /// kernel for CaffeNet or 7×7/4 for AdienceNet), otherwise by the graph's name when it is
    /// an architecture name. The layers come first because the paper's prototxt files call
    /// both AdienceNet and CaffeNet "CaffeNet".
    pub fn detect(graph: &Graph) -> Option<Architecture> {
        Architecture::detect_layers(graph).or_else(|| Architecture::from_name(graph.name()))
    }

    fn detect_layers(graph: &Graph) -> Option<Architecture> {
        let convs: Vec<(&str, &Conv2d)> = graph
            .nodes()
            .iter()
            .filter_map(|n| match &n.op {
                Op::Conv(c) => Some((n.name.as_str(), c)),
                _ => None,
            })
            .collect();
        let (first_name, first) = *convs.first()?;
        if first_name == "conv1/7x7_s2" {
            return Some(Architecture::GoogLeNet);
        }
        if convs.len() == 13 && first_name == "conv1_1" {
            return Some(Architecture::Vgg16);
        }
        if first_name == "conv1" && first.stride == [4, 4] {
            match (first.kernel(), convs.len()) {
                ([11, 11], 5) => return Some(Architecture::CaffeNet),
                ([7, 7], 3) => return Some(Architecture::AdienceNet),
                _ => {}
            }
        }
        None
    }
}

impl std::fmt::Display for Architecture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Build `arch` with `classes` outputs and weights drawn from `seed`. GoogLeNet is built
/// without its auxiliary heads (see [`googlenet_with_aux`]).
pub fn build(arch: Architecture, classes: usize, seed: u64) -> Result<Graph> {
    let mut g = match arch {
        Architecture::AdienceNet => adiencenet::adiencenet(classes, seed),
        Architecture::CaffeNet => caffenet::caffenet(classes, seed),
        Architecture::GoogLeNet => googlenet::googlenet_with_aux(classes, seed, false),
        Architecture::Vgg16 => vgg::vgg16(classes, seed),
    }?;
    g.set_name(arch.name());
    Ok(g)
}

/// Builds a network layer by layer with He-initialised weights, tracking shapes.
pub(crate) struct NetBuilder {
    b: GraphBuilder,
    rng: Rng,
}

impl NetBuilder {
    pub(crate) fn new(input: &str, shape: [usize; 3], seed: u64) -> Self {
        let mut b = GraphBuilder::new();
        b.input(input, &shape);
        NetBuilder {
            b,
            rng: Rng::new(seed),
        }
    }

    fn shape(&self, t: &str) -> Result<&[usize]> {
        self.b
            .shape(t)
            .ok_or_else(|| Error::Graph(format!("zoo: unknown tensor `{t}`")))
    }

    /// Add a node, infer its shape right away (so the builder knows channel counts).
    pub(crate) fn add(&mut self, name: &str, op: Op, inputs: &[&str]) -> Result<String> {
        self.b.push_checked(Node::new(name, op, inputs))?;
        Ok(name.to_string())
    }

    fn normal(&mut self, n: usize, std: f32) -> Vec<f32> {
        (0..n).map(|_| self.rng.normal() * std).collect()
    }

    /// Convolution with He-normal weights (std √(2 / fan_in)) and small random biases.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn conv(
        &mut self,
        name: &str,
        input: &str,
        out: usize,
        kernel: usize,
        stride: usize,
        pad: usize,
        groups: usize,
    ) -> Result<String> {
        let c = self.shape(input)?[0];
        let cg = c / groups.max(1);
        let fan_in = (cg * kernel * kernel).max(1);
        let w = self.normal(out * cg * kernel * kernel, (2.0 / fan_in as f32).sqrt());
        let b = self.normal(out, 0.01);
        let w = Array4::from_shape_vec((out, cg, kernel, kernel), w)
            .map_err(|e| Error::Graph(format!("zoo: {name}: {e}")))?;
        let conv = Conv2d::new(w, Some(Array1::from(b)))
            .with_stride(stride)
            .with_pad(pad)
            .with_groups(groups);
        self.add(name, Op::Conv(conv), &[input])
    }

    /// Convolution followed by a ReLU called `relu`; returns the ReLU's output.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn conv_relu(
        &mut self,
        name: &str,
        relu: &str,
        input: &str,
        out: usize,
        kernel: usize,
        stride: usize,
        pad: usize,
        groups: usize,
    ) -> Result<String> {
        let c = self.conv(name, input, out, kernel, stride, pad, groups)?;
        self.add(relu, Op::Relu, &[&c])
    }

    /// Dense layer with He-normal weights over the flattened input.
    pub(crate) fn dense(&mut self, name: &str, input: &str, out: usize) -> Result<String> {
        let k: usize = self.shape(input)?.iter().product();
        let w = self.normal(out * k, (2.0 / k.max(1) as f32).sqrt());
        let b = self.normal(out, 0.01);
        let w = Array2::from_shape_vec((out, k), w)
            .map_err(|e| Error::Graph(format!("zoo: {name}: {e}")))?;
        self.add(
            name,
            Op::Dense(Dense::new(w, Some(Array1::from(b)))),
            &[input],
        )
    }

    /// Caffe pooling (ceil rounding with the clip rule; padding counted in averages).
    pub(crate) fn pool(
        &mut self,
        name: &str,
        input: &str,
        max: bool,
        kernel: usize,
        stride: usize,
        pad: usize,
    ) -> Result<String> {
        let p = Pool2d {
            kernel: [kernel; 2],
            stride: [stride; 2],
            pads: [pad; 4],
            rounding: PoolRounding::CeilClip,
            count_include_pad: true,
        };
        let op = if max { Op::MaxPool(p) } else { Op::AvgPool(p) };
        self.add(name, op, &[input])
    }

    /// Caffe's default LRN (size 5, α 1e-4, β 0.75, k 1).
    pub(crate) fn lrn(&mut self, name: &str, input: &str) -> Result<String> {
        let l = Lrn {
            size: 5,
            alpha: 1e-4,
            beta: 0.75,
            k: 1.0,
        };
        self.add(name, Op::Lrn(l), &[input])
    }

    pub(crate) fn concat(&mut self, name: &str, inputs: &[&str]) -> Result<String> {
        self.add(name, Op::Concat(Concat { axis: 0 }), inputs)
    }

    /// Final softmax `prob` after the logits, then build with the given outputs.
    pub(crate) fn finish(mut self, logits: &str, extra_outputs: &[&str]) -> Result<Graph> {
        self.add("prob", Op::Softmax(Softmax { axis: 0 }), &[logits])?;
        let mut outputs = vec!["prob"];
        outputs.extend_from_slice(extra_outputs);
        self.b.build(&outputs)
    }
}

pub(crate) fn check_classes(classes: usize) -> Result<()> {
    if classes == 0 {
        Err(Error::Graph(
            "zoo: the number of classes must be at least 1".into(),
        ))
    } else {
        Ok(())
    }
}
