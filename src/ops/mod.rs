//! Operators: one file per layer kind, and the registry that makes them an [`Op`].
//!
//! Each operator file holds the layer's parameters (a small config struct, or none), its shape
//! rule, its forward pass and the primitives relevance propagation needs from it, and
//! implements [`Operator`]:
//!
//! - layers with weights (convolution, dense) expose a [`LinearMap`]: the layer's product
//!   with any modified weights and its transpose, which every linear LRP rule is written over
//!   (see [`crate::rules`]);
//! - every other layer says which [`Route`]s it offers for relevance (pass it on unchanged,
//!   winner-take-all, proportional to the inputs, the paper's LRN rule, AttnLRP's layer-norm
//!   rule) and carries them out.
//!
//! Operators know nothing of rules, composites or files: which route or rule a layer gets is
//! the composite's choice ([`crate::composite`]), how a rule turns into products of a
//! [`LinearMap`] is the rules' ([`crate::rules`]).
//!
//! Every operator works on per-sample shapes for shape inference (the batch dimension is not
//! part of a graph's static shapes) and on batch-first `f32` tensors in standard (row-major,
//! contiguous) layout for `forward`. Image tensors are NCHW.
//!
//! ## Adding an operator
//! Write `src/ops/<kind>.rs` with its parameter struct (or a unit marker struct for a layer
//! without parameters) and `impl Operator`, then add one line to the `registry!` invocation
//! below (`Variant(Params) => Marker` or `Variant => Marker`). Importers add one line to their
//! op tables; composites pick a rule for it through its [`Category`].

/// Inside `impl Operator for T`: the shape rule and forward pass of a single-input operator
/// whose parameter struct `T` has inherent `output_shape(&self, node, input)` and
/// `forward(&self, x)` methods.
macro_rules! single_input {
    ($ty:ty) => {
        fn output_shape(
            p: &$ty,
            node: &$crate::error::NodeRef,
            inputs: &[&[usize]],
        ) -> $crate::error::Result<Vec<usize>> {
            p.output_shape(node, inputs[0])
        }

        fn forward(p: &$ty, inputs: &[&$crate::ops::Tensor]) -> $crate::ops::Tensor {
            p.forward(inputs[0])
        }
    };
}

/// Defines an operator that keeps its input's shape (or has an inherent shape rule), passes
/// relevance on unchanged and offers its gradient ([`Route::Gradient`]):
///
/// - `pass_through!(Name, "Kind", Category, forward_fn, derivative)`: a unit marker `Name`
///   for a parameterless element-wise operator computing `forward_fn(x)`, whose derivative
///   `f'(x)` is `derivative(x)`;
/// - `pass_through!(params Type, "Kind", Category, derivative)`: for a parameter struct
///   `Type` with inherent `output_shape(&self, node, input)` and `forward(&self, x)` methods;
///   `derivative(&Type, x)` is `f'(x)`.
///
/// Without `derivative` the layer only moves values (reshapes, dropout, identity): its
/// gradient passes on unchanged, like its relevance.
macro_rules! pass_through {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $category:ident, $forward:expr, $deriv:expr) => {
        pass_through!(@unit $(#[$doc])* $name, $kind, $category, $forward,
            |_: &(), ctx: &$crate::ops::RouteCtx<'_>, r: Vec<f32>| {
                $crate::ops::elementwise_gradient(ctx, r, $deriv)
            });
    };
    ($(#[$doc:meta])* $name:ident, $kind:literal, $category:ident, $forward:expr) => {
        pass_through!(@unit $(#[$doc])* $name, $kind, $category, $forward,
            |_: &(), _: &$crate::ops::RouteCtx<'_>, r: Vec<f32>| vec![r]);
    };
    (params $ty:ty, $kind:literal, $category:ident, $deriv:expr) => {
        pass_through!(@params $ty, $kind, $category,
            |p: &$ty, ctx: &$crate::ops::RouteCtx<'_>, r: Vec<f32>| {
                $crate::ops::elementwise_gradient(ctx, r, |x| ($deriv)(p, x))
            });
    };
    (params $ty:ty, $kind:literal, $category:ident) => {
        pass_through!(@params $ty, $kind, $category,
            |_: &$ty, _: &$crate::ops::RouteCtx<'_>, r: Vec<f32>| vec![r]);
    };
    (@unit $(#[$doc:meta])* $name:ident, $kind:literal, $category:ident, $forward:expr, $grad:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;

        impl $crate::ops::Operator for $name {
            type Params = ();
            const KIND: &'static str = $kind;
            const CATEGORY: $crate::ops::Category = $crate::ops::Category::$category;
            const ROUTES: &'static [$crate::ops::Route] =
                &[$crate::ops::Route::Pass, $crate::ops::Route::Gradient];

            fn output_shape(
                _: &(),
                _node: &$crate::error::NodeRef,
                inputs: &[&[usize]],
            ) -> $crate::error::Result<Vec<usize>> {
                Ok(inputs[0].to_vec())
            }

            fn forward(_: &(), inputs: &[&$crate::ops::Tensor]) -> $crate::ops::Tensor {
                ($forward)(inputs[0])
            }

            fn route(
                p: &(),
                route: $crate::ops::Route,
                ctx: &$crate::ops::RouteCtx<'_>,
                r: Vec<f32>,
            ) -> Vec<Vec<f32>> {
                match route {
                    $crate::ops::Route::Gradient => ($grad)(p, ctx, r),
                    _ => vec![r],
                }
            }
        }
    };
    (@params $ty:ty, $kind:literal, $category:ident, $grad:expr) => {
        impl $crate::ops::Operator for $ty {
            type Params = $ty;
            const KIND: &'static str = $kind;
            const CATEGORY: $crate::ops::Category = $crate::ops::Category::$category;
            const ROUTES: &'static [$crate::ops::Route] =
                &[$crate::ops::Route::Pass, $crate::ops::Route::Gradient];

            single_input!($ty);

            fn route(
                p: &$ty,
                route: $crate::ops::Route,
                ctx: &$crate::ops::RouteCtx<'_>,
                r: Vec<f32>,
            ) -> Vec<Vec<f32>> {
                match route {
                    $crate::ops::Route::Gradient => ($grad)(p, ctx, r),
                    _ => vec![r],
                }
            }
        }
    };
}

pub mod activation;
pub mod affine;
pub mod avg_pool;
pub mod clip;
pub mod concat;
pub mod const_concat;
pub mod conv;
pub mod conv_transpose;
pub mod dense;
pub mod elementwise;
pub mod elu;
pub mod gelu;
pub mod hard_sigmoid;
pub mod hard_swish;
pub mod layer_norm;
pub mod leaky_relu;
pub mod linear;
pub mod lrn;
pub mod matmul;
pub mod max_pool;
pub mod mul;
pub mod pad;
pub mod pool;
pub mod prelu;
pub mod resize;
pub mod shape;
pub mod sigmoid;
pub mod silu;
pub mod slice;
pub mod softmax;
pub mod tanh;
pub mod transpose;

pub use affine::Affine;
pub use concat::Concat;
pub use conv::{Conv2d, ConvMap};
pub use conv_transpose::{ConvTranspose2d, ConvTransposeMap};
pub use dense::Dense;
pub use layer_norm::LayerNorm;
pub use linear::LinearMap;
pub use lrn::Lrn;
pub use pad::Pad;
pub use pool::{Pool2d, PoolRounding};
pub use resize::Resize;
pub use shape::Reshape;
pub use slice::Slice;
pub use softmax::Softmax;
pub use transpose::Transpose;

use crate::error::{Error, NodeRef, Result};
use ndarray::ArrayD;

/// `a` in standard (row-major, contiguous) layout: moved as it is when it already is, copied
/// only when not. (`as_standard_layout().into_owned()` copies every time, which doubled the
/// memory of importing a 411 MB dense weight.)
pub(crate) fn standard<D: ndarray::Dimension>(a: ndarray::Array<f32, D>) -> ndarray::Array<f32, D> {
    if a.is_standard_layout() {
        a
    } else {
        a.as_standard_layout().into_owned()
    }
}

/// The tensor type of the crate: a dynamically shaped `f32` array, batch first.
pub type Tensor = ArrayD<f32>;

/// How many inputs an operator takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    /// Exactly this many.
    Exactly(usize),
    /// At least this many.
    AtLeast(usize),
}

/// What a layer does, as far as choosing its relevance rule goes: composites map categories
/// (and, more precisely, kinds, names and indices) to rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// Layers with weights: convolution, dense.
    Linear,
    /// Element-wise functions of one input (ReLU, Sigmoid, Tanh, Clip, GELU, SiLU, …) and
    /// softmax.
    Activation,
    /// Max pooling.
    MaxPooling,
    /// Average and global average pooling.
    Averaging,
    /// Element-wise sums of several inputs (residual connections).
    Sum,
    /// Element-wise products of several inputs.
    Product,
    /// Concatenation.
    Concat,
    /// Layers that only rearrange values: flatten, reshape, dropout, identity.
    Reshape,
    /// Normalisations left in the graph: LRN, unfolded affine (BatchNorm) layers, layer
    /// normalisation.
    Normalization,
    /// Constant padding.
    Padding,
}

impl Category {
    /// Every category, in declaration order.
    pub const ALL: [Category; 10] = [
        Category::Linear,
        Category::Activation,
        Category::MaxPooling,
        Category::Averaging,
        Category::Sum,
        Category::Product,
        Category::Concat,
        Category::Reshape,
        Category::Normalization,
        Category::Padding,
    ];

    /// The category's name, as written in composites and on the command line
    /// (`linear`, `activation`, `max-pooling`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Category::Linear => "linear",
            Category::Activation => "activation",
            Category::MaxPooling => "max-pooling",
            Category::Averaging => "averaging",
            Category::Sum => "sum",
            Category::Product => "product",
            Category::Concat => "concat",
            Category::Reshape => "reshape",
            Category::Normalization => "normalization",
            Category::Padding => "padding",
        }
    }

    /// The category named `name` (any case, `_` or `-`).
    pub fn from_name(name: &str) -> Option<Category> {
        let key = name.to_ascii_lowercase().replace('_', "-");
        Category::ALL.into_iter().find(|c| c.name() == key)
    }
}

/// A way an operator without weights passes relevance from its output to its inputs.
///
/// Which route a layer takes is chosen by the composite through a rule
/// ([`crate::rules::Rule`]); the operator only carries it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// Relevance passes on unchanged: element-wise layers and reshapes hand it on as it is,
    /// concatenation slices it back to its inputs, padding crops it.
    Pass,
    /// Each output's relevance goes to the input that won the maximum (max pooling).
    WinnerTakeAll,
    /// Relevance is split in proportion to the inputs' contributions to each output,
    /// `R_i = x_i Σ_j R_j / s(z_j)` with `s(z) = z + ε·sign(z)` (averages and sums).
    Proportional,
    /// The first-order rule of the LRP Toolbox for Caffe for LRN (the ICCV 2017 paper).
    LrnTaylor,
    /// Products: all relevance to the gated input, none to the gate computed from it
    /// (squeeze-and-excitation; see [`mul`]).
    Gate,
    /// Products: an equal share `R / m` to each of the `m` inputs (AttnLRP's uniform rule;
    /// see [`mul`]).
    Uniform,
    /// AttnLRP's rule for layer normalisation: the normalisation as a linear map with its
    /// standard deviation held constant, under the ε-rule (see [`layer_norm`]).
    LayerNormLinear,
    /// AttnLRP's rule for a softmax inside the network: the first-order expansion at its
    /// input with the bias term, `R_in = x ⊙ (R_out − s ⊙ Σ R_out)` along the softmax axis
    /// (see [`softmax`]).
    SoftmaxTaylor,
    /// The gradient: the vector-Jacobian product `g_in = (∂y/∂x)ᵀ g_out` of the layer at its
    /// forward input, for gradient-based attributions (saliency, gradient × input, SmoothGrad,
    /// integrated gradients; see [`crate::attribution`]). Every operator offers it.
    Gradient,
    /// Guided backpropagation's ReLU (Springenberg et al. 2015, Zennit's
    /// `ReLUGuidedBackprop`): the gradient where both the input and the incoming gradient
    /// are positive, `g_in = 1[x > 0] · max(g_out, 0)`.
    Guided,
}

impl Route {
    /// The route's name (`pass`, `winner-take-all`, `proportional`, `lrn`, `layer-norm`,
    /// `gradient`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Route::Pass => "pass",
            Route::WinnerTakeAll => "winner-take-all",
            Route::Proportional => "proportional",
            Route::LrnTaylor => "lrn",
            Route::Gate => "gate",
            Route::Uniform => "uniform",
            Route::LayerNormLinear => "layer-norm",
            Route::SoftmaxTaylor => "softmax",
            Route::Gradient => "gradient",
            Route::Guided => "guided",
        }
    }
}

/// What a [`Route`] is carried out on: the forward activations and the relevance at the
/// output.
pub struct RouteCtx<'a> {
    /// The layer's inputs from the forward pass, `n` samples each, standard layout.
    pub inputs: &'a [&'a Tensor],
    /// The inputs' per-sample shapes.
    pub in_shapes: &'a [&'a [usize]],
    /// The output's per-sample shape.
    pub out_shape: &'a [usize],
    /// Relevance maps per image (`k`): the relevance holds `n·k` samples, image-major.
    pub k: usize,
    /// Stabiliser `ε` of [`Route::Proportional`] and [`Route::LayerNormLinear`].
    pub stabilizer: f32,
    /// For products under [`Route::Gate`]: the input computed from the others (the gate), as
    /// found from the graph ([`crate::Graph::gate_input`]); `None` elsewhere.
    pub gate: Option<usize>,
}

impl RouteCtx<'_> {
    /// Number of relevance samples, `n·k`.
    pub fn maps(&self) -> usize {
        self.inputs.first().map_or(0, |x| x.shape()[0]) * self.k
    }

    /// The `i`-th input as a slice.
    pub fn input(&self, i: usize) -> &[f32] {
        self.inputs[i]
            .as_slice()
            .expect("activations are kept in standard layout")
    }
}

/// One operator kind: its shape rule, forward pass and relevance primitives.
///
/// `Params` is the data its [`Op`] variant carries (`()` for kinds without parameters); the
/// functions take it explicitly, so one parameter struct can serve two kinds (max and average
/// pooling share [`Pool2d`]).
pub trait Operator {
    /// The parameters the operator's [`Op`] variant holds.
    type Params;
    /// The kind's name, as in error messages, layer listings and composites.
    const KIND: &'static str;
    /// The category composites map to a rule.
    const CATEGORY: Category;
    /// Number of inputs.
    const ARITY: Arity = Arity::Exactly(1);
    /// The routes the operator offers (empty for layers with weights, which offer a
    /// [`LinearMap`] instead).
    const ROUTES: &'static [Route] = &[];

    /// Per-sample output shape for the given per-sample input shapes (their count already
    /// checked against [`Operator::ARITY`]), validating the parameters; errors name `node`.
    fn output_shape(p: &Self::Params, node: &NodeRef, inputs: &[&[usize]]) -> Result<Vec<usize>>;

    /// Forward computation on batch-first tensors in standard layout whose shapes passed
    /// [`Operator::output_shape`].
    fn forward(p: &Self::Params, inputs: &[&Tensor]) -> Tensor;

    /// The parameter buffers (weights, biases, scales), for counting and validation.
    fn params(_p: &Self::Params) -> Vec<&[f32]> {
        Vec::new()
    }

    /// Mutable access to the parameter buffers.
    fn params_mut(_p: &mut Self::Params) -> Vec<&mut [f32]> {
        Vec::new()
    }

    /// The layer as a linear map on inputs of per-sample shape `input`, for layers with
    /// weights.
    fn linear<'a>(_p: &'a Self::Params, _input: &[usize]) -> Option<Box<dyn LinearMap + 'a>> {
        None
    }

    /// Carry out `route` (one of [`Operator::ROUTES`]) on relevance `r` at the output (`n·k`
    /// samples): the relevance of each input, `n·k` samples each.
    fn route(_p: &Self::Params, _route: Route, _ctx: &RouteCtx<'_>, _r: Vec<f32>) -> Vec<Vec<f32>> {
        Vec::new()
    }
}

/// Relevance passed on unchanged, for single-input layers whose output has as many values
/// as their input.
pub(crate) fn pass_on(r: Vec<f32>) -> Vec<Vec<f32>> {
    vec![r]
}

/// The gradient through an element-wise function of one input: `g_in = g_out ⊙ f'(x)`, for
/// `n·k` gradient maps against `n` inputs (map `m` belongs to input `m / k`). `derivative`
/// gives `f'(x)` from `x`.
pub(crate) fn elementwise_gradient(
    ctx: &RouteCtx<'_>,
    mut g: Vec<f32>,
    derivative: impl Fn(f32) -> f32 + Sync,
) -> Vec<Vec<f32>> {
    use rayon::prelude::*;
    let x = ctx.input(0);
    let per: usize = ctx.in_shapes[0].iter().product();
    if per == 0 {
        return vec![g];
    }
    let k = ctx.k.max(1);
    g.par_chunks_mut(per).enumerate().for_each(|(m, gm)| {
        let xm = &x[(m / k) * per..(m / k + 1) * per];
        for (gv, &xv) in gm.iter_mut().zip(xm) {
            *gv *= derivative(xv);
        }
    });
    vec![g]
}

/// The [`Op`] enum and its dispatch to each kind's [`Operator`] implementation.
macro_rules! registry {
    ($( $(#[$doc:meta])* $var:ident $( ( $params:ty ) )? => $kind:ty, )*) => {
        /// One operator of a [`Graph`](crate::Graph) with its parameters.
        #[derive(Debug, Clone)]
        #[non_exhaustive]
        pub enum Op {
            $( $(#[$doc])* $var $( ( $params ) )?, )*
        }

        impl Op {
            /// The operator's kind, as used in error messages and composites.
            pub fn kind(&self) -> &'static str {
                match self { $( registry!(@pat _, $var $( $params )?) => <$kind as Operator>::KIND, )* }
            }

            /// The operator's category (see [`Category`]).
            pub fn category(&self) -> Category {
                match self { $( registry!(@pat _, $var $( $params )?) => <$kind as Operator>::CATEGORY, )* }
            }

            /// Number of inputs the operator accepts.
            pub fn arity(&self) -> Arity {
                match self { $( registry!(@pat _, $var $( $params )?) => <$kind as Operator>::ARITY, )* }
            }

            /// The relevance routes the operator offers.
            pub fn routes(&self) -> &'static [Route] {
                match self { $( registry!(@pat _, $var $( $params )?) => <$kind as Operator>::ROUTES, )* }
            }

            fn shape_of(&self, node: &NodeRef, inputs: &[&[usize]]) -> Result<Vec<usize>> {
                match self {
                    $( registry!(@pat p, $var $( $params )?) =>
                        <$kind as Operator>::output_shape(registry!(@arg p, $( $params )?), node, inputs), )*
                }
            }

            /// Forward computation on batch-first tensors in standard layout whose shapes
            /// passed [`Op::output_shape`].
            pub fn forward(&self, inputs: &[&Tensor]) -> Tensor {
                match self {
                    $( registry!(@pat p, $var $( $params )?) =>
                        <$kind as Operator>::forward(registry!(@arg p, $( $params )?), inputs), )*
                }
            }

            /// The operator's parameter buffers, for counting and validation.
            pub fn params(&self) -> Vec<&[f32]> {
                match self {
                    $( registry!(@pat p, $var $( $params )?) =>
                        <$kind as Operator>::params(registry!(@arg p, $( $params )?)), )*
                }
            }

            /// Mutable access to the operator's parameter buffers.
            pub(crate) fn params_mut(&mut self) -> Vec<&mut [f32]> {
                match self {
                    $( registry!(@pat p, $var $( $params )?) =>
                        registry!(@params_mut p, $kind, $( $params )?), )*
                }
            }

            /// The layer as a linear map on inputs of per-sample shape `input` (layers with
            /// weights only).
            pub fn linear(&self, input: &[usize]) -> Option<Box<dyn LinearMap + '_>> {
                match self {
                    $( registry!(@pat p, $var $( $params )?) =>
                        <$kind as Operator>::linear(registry!(@arg p, $( $params )?), input), )*
                }
            }

            /// Carry out `route` on relevance `r` at the output; `None` when the operator does
            /// not offer it.
            pub fn route(&self, route: Route, ctx: &RouteCtx<'_>, r: Vec<f32>) -> Option<Vec<Vec<f32>>> {
                if !self.routes().contains(&route) {
                    return None;
                }
                Some(match self {
                    $( registry!(@pat p, $var $( $params )?) =>
                        <$kind as Operator>::route(registry!(@arg p, $( $params )?), route, ctx, r), )*
                })
            }
        }
    };
    (@pat $p:pat, $var:ident $params:ty) => { Op::$var($p) };
    (@pat $p:pat, $var:ident) => { Op::$var };
    (@arg $p:ident, $params:ty) => { $p };
    (@arg $p:ident, ) => { &() };
    (@params_mut $p:ident, $kind:ty, $params:ty) => { <$kind as Operator>::params_mut($p) };
    (@params_mut $p:ident, $kind:ty, ) => { Vec::new() };
}

// The registry: one line per operator kind.
registry! {
    /// 2-D convolution (groups, stride, dilation, asymmetric padding, optional bias).
    Conv(Conv2d) => Conv2d,
    /// Fully connected layer (Caffe inner product / ONNX Gemm); the input is flattened.
    Dense(Dense) => Dense,
    /// `max(x, 0)`.
    Relu => activation::Relu,
    /// Max pooling.
    MaxPool(Pool2d) => max_pool::MaxPool,
    /// Average pooling.
    AvgPool(Pool2d) => avg_pool::AvgPool,
    /// Mean over all spatial positions of each channel: `[C,H,W] -> [C,1,1]`.
    GlobalAvgPool => avg_pool::GlobalAvgPool,
    /// Local response normalisation across channels.
    Lrn(Lrn) => Lrn,
    /// Concatenation of several inputs along one axis.
    Concat(Concat) => Concat,
    /// Element-wise sum of two or more inputs of the same shape (residual connections).
    Add => elementwise::Add,
    /// Element-wise product of two or more inputs, with broadcasting (gates).
    Mul => mul::Mul,
    /// Per-channel affine map `y = scale·x + shift` (BatchNorm in inference form, Caffe Scale).
    Affine(Affine) => Affine,
    /// Constant padding (spatial or channel).
    Pad(Pad) => Pad,
    /// Flatten everything but the batch dimension.
    Flatten => shape::Flatten,
    /// Reshape to a fixed per-sample shape.
    Reshape(Reshape) => Reshape,
    /// Dropout: identity at inference.
    Dropout => shape::Dropout,
    /// Softmax along one axis.
    Softmax(Softmax) => Softmax,
    /// Identity.
    Identity => shape::Identity,
    /// Logistic sigmoid `1 / (1 + e^{−x})`.
    Sigmoid => sigmoid::Sigmoid,
    /// Hyperbolic tangent.
    Tanh => tanh::Tanh,
    /// `min(max(x, min), max)`; ReLU6 is `Clip(0, 6)`.
    Clip(clip::Clip) => clip::Clip,
    /// `max(0, min(1, α·x + β))`.
    HardSigmoid(hard_sigmoid::HardSigmoid) => hard_sigmoid::HardSigmoid,
    /// `x · max(0, min(1, x/6 + 1/2))`.
    HardSwish => hard_swish::HardSwish,
    /// `x · σ(x)` (swish).
    Silu => silu::Silu,
    /// `x · Φ(x)`, exact (erf) or in its tanh approximation.
    Gelu(gelu::Gelu) => gelu::Gelu,
    /// `x` for `x ≥ 0`, `α·x` otherwise.
    LeakyRelu(leaky_relu::LeakyRelu) => leaky_relu::LeakyRelu,
    /// `x` for `x ≥ 0`, `a_c·x` otherwise, with learned slopes per channel (or one).
    PRelu(prelu::PRelu) => prelu::PRelu,
    /// `x` for `x ≥ 0`, `α·(e^x − 1)` otherwise.
    Elu(elu::Elu) => elu::Elu,
    /// Permutation of the per-sample axes.
    Transpose(Transpose) => Transpose,
    /// Strided range of some per-sample axes (ONNX Slice, one output of Split).
    Slice(Slice) => Slice,
    /// 2-D transposed convolution (groups, stride, dilation, cropping, output padding).
    ConvTranspose(ConvTranspose2d) => ConvTranspose2d,
    /// Nearest or bilinear resize of the spatial axes (ONNX Resize, Upsample).
    Resize(Resize) => Resize,
    /// Layer normalisation over trailing (or one block of) per-sample axes.
    LayerNorm(LayerNorm) => LayerNorm,
    /// Concatenation of data with constant blocks (a vision transformer's class token).
    ConstConcat(const_concat::ConstConcat) => const_concat::ConstConcat,
    /// Matrix product of two activations (attention scores and context).
    MatMul => matmul::MatMul,
}

impl Op {
    /// Whether the operator carries learned weights (a linear layer that LRP rules act on).
    pub fn is_linear(&self) -> bool {
        self.category() == Category::Linear
    }

    /// Per-sample output shape for the given per-sample input shapes, or an error naming
    /// `node`. Also validates the operator's parameters against its inputs.
    pub fn output_shape(&self, node: &NodeRef, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        match self.arity() {
            Arity::Exactly(n) if inputs.len() != n => {
                return Err(Error::shape(
                    node,
                    format!("takes {n} input(s), got {}", inputs.len()),
                ))
            }
            Arity::AtLeast(n) if inputs.len() < n => {
                return Err(Error::shape(
                    node,
                    format!("takes at least {n} inputs, got {}", inputs.len()),
                ))
            }
            _ => {}
        }
        self.shape_of(node, inputs)
    }

    /// Number of learned parameters (weights and biases, or affine scales and shifts).
    pub fn num_params(&self) -> usize {
        self.params().iter().map(|p| p.len()).sum()
    }
}

/// The shape rule of an element-wise operator with scalar parameters: an error naming `node`
/// and the first parameter of `params` (name, value) that is not finite, else `input`'s shape.
pub(crate) fn finite_params_same_shape(
    node: &NodeRef,
    params: &[(&str, f32)],
    input: &[usize],
) -> Result<Vec<usize>> {
    match params.iter().find(|(_, v)| !v.is_finite()) {
        Some((name, v)) => Err(Error::param(
            node,
            format!("{name} must be finite, got {v}"),
        )),
        None => Ok(input.to_vec()),
    }
}

/// Flush subnormal values to zero; returns how many were flushed.
///
/// Subnormal floats make x86 arithmetic several times slower; trained models (the shipped age
/// model among them) contain thousands. Flushing them changes no output measurably.
pub fn flush_denormals(values: &mut [f32]) -> usize {
    let mut n = 0;
    for v in values {
        if v.is_subnormal() {
            *v = 0.0;
            n += 1;
        }
    }
    n
}

/// Error if any value is NaN or infinite; `what` names the holder in the message.
pub fn check_finite(what: impl FnOnce() -> String, values: &[f32]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(index) => Err(Error::NonFinite {
            what: what(),
            value: values[index],
            index,
        }),
    }
}

/// Output size of a sliding window along one axis (floor rounding), or `None` when the
/// (dilated) window does not fit into the padded input.
pub(crate) fn window_out(
    input: usize,
    pad_begin: usize,
    pad_end: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
) -> Option<usize> {
    // Every term comes from a file: checked, so that absurd pads or kernels give `None`
    // (an error naming the node) rather than wrapping.
    let padded = input.checked_add(pad_begin)?.checked_add(pad_end)?;
    let span = dilation
        .checked_mul(kernel.checked_sub(1)?)?
        .checked_add(1)?;
    if span > padded || stride == 0 {
        None
    } else {
        Some((padded - span) / stride + 1)
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
pub(crate) mod testutil {
    //! Helpers for the naive-reference tests of the operators.

    use super::Tensor;
    use ndarray::IxDyn;

    /// Assert that the parameterless element-wise operator `op` computes `f` (in f64) to
    /// `tol` relative (and 1e-30 absolute) on random inputs scaled by `scale`, and passes
    /// relevance on unchanged as an activation.
    pub fn assert_activation(op: super::Op, f: fn(f64) -> f64, scale: f32, tol: f64) {
        let x = random(&[2, 3, 4, 5], 11).mapv(|v| v * scale);
        let y = op.forward(&[&x]);
        for (a, b) in x.iter().zip(y.iter()) {
            let want = f(*a as f64);
            let err = (*b as f64 - want).abs();
            assert!(err <= tol * want.abs().max(1e-30), "{a}: {b} vs {want}");
        }
        assert_passes_relevance(&op);
    }

    /// Assert that `op` is an activation that passes relevance on unchanged.
    pub fn assert_passes_relevance(op: &super::Op) {
        use super::{Category, Route, RouteCtx};
        let x = random(&[1, 4], 3);
        let ctx = RouteCtx {
            inputs: &[&x],
            in_shapes: &[&[4]],
            out_shape: &[4],
            k: 2,
            stabilizer: 1e-6,
            gate: None,
        };
        let r = vec![1.0, -2.0, 3.0, 0.5, 0.0, 1.0, 2.0, 3.0];
        assert_eq!(op.route(Route::Pass, &ctx, r.clone()), Some(vec![r]));
        assert_eq!(op.category(), Category::Activation);
    }

    /// [`assert_activation`] with an absolute part in the tolerance: `op` computes `f` to
    /// `rel·|f(x)| + abs` (for functions whose f32 evaluation cancels, e.g. `α·x + β` near 0).
    pub fn assert_activation_near(
        op: super::Op,
        f: fn(f64) -> f64,
        scale: f32,
        rel: f64,
        abs: f64,
    ) {
        let x = random(&[2, 3, 4, 5], 12).mapv(|v| v * scale);
        let y = op.forward(&[&x]);
        for (a, b) in x.iter().zip(y.iter()) {
            let want = f(*a as f64);
            let err = (*b as f64 - want).abs();
            assert!(err <= rel * want.abs() + abs, "{a}: {b} vs {want}");
        }
        assert_passes_relevance(&op);
    }

    /// Deterministic pseudo-random tensor with values in [-1, 1).
    pub fn random(shape: &[usize], seed: u64) -> Tensor {
        let mut rng = crate::zoo::rng::Rng::new(seed);
        Tensor::from_shape_fn(IxDyn(shape), |_| rng.uniform() * 2.0 - 1.0)
    }

    /// Assert that `a` agrees with the reference `b` to `rel` relative to the largest
    /// magnitude of `b` (normwise relative error: float32 sums with cancellation cannot be
    /// held to an elementwise relative bound), plus a 1e-12 absolute slack for all-zero
    /// references.
    pub fn assert_close(a: &Tensor, b: &Tensor, rel: f32) {
        assert_eq!(a.shape(), b.shape(), "shapes differ");
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
            let tol = rel * scale + 1e-12;
            assert!(
                (x - y).abs() <= tol,
                "element {i}: {x} vs reference {y} (|diff| {} > tol {tol})",
                (x - y).abs()
            );
        }
    }
}
