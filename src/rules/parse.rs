//! The written form of a rule: `NAME[:ARG[,ARG]][@paper][@nobias]`, as composites, rule
//! files and the command line give it.

use super::{Convention, Rule, RuleSpec};
use crate::error::{Error, Result};

impl std::str::FromStr for RuleSpec {
    type Err = Error;

    /// Parse a rule from its written form: `NAME[:ARG[,ARG]][@paper][@nobias]`.
    ///
    /// Names: `epsilon` (`eps`, argument ε, default 1e-6 modern / 0.1 paper), `lrp0`,
    /// `zplus` (`plus`), `alphabeta` (`ab`, arguments α,β, default 2,1; also written
    /// `alpha2-beta1`, `alpha1-beta0`), `gamma` (argument γ, default 0.25), `flat`, `wsquare`
    /// (`w2`), `zbox` (arguments low,high; none: the batch's extremes), `pass`,
    /// `winner-take-all` (`wta`), `proportional` (`norm`), `lrn`, `layer-norm` (`layernorm`,
    /// `attnlrp`: AttnLRP's rule for layer normalisation), `gate`, `uniform`, `softmax`,
    /// `gradient` (`grad`), `guided` (guided backpropagation's ReLU). `@paper`
    /// selects the paper convention, `@nobias` the zero-bias switch.
    ///
    /// ```
    /// use lrp::rules::{Convention, RuleSpec, Rule};
    /// let r: RuleSpec = "alphabeta:2,1@paper".parse().unwrap();
    /// assert_eq!(r.rule, Rule::AlphaBeta { alpha: 2.0, beta: 1.0 });
    /// assert_eq!(r.convention, Convention::Paper);
    /// let e: RuleSpec = "epsilon:0.25@nobias".parse().unwrap();
    /// assert_eq!((e.rule, e.zero_bias), (Rule::Epsilon { epsilon: 0.25 }, true));
    /// assert!("nonsense".parse::<RuleSpec>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<RuleSpec> {
        let bad = |d: String| Error::Invalid(format!("rule `{s}`: {d}"));
        let mut parts = s.trim().split('@');
        let head = parts.next().unwrap_or_default();
        let mut convention = Convention::Modern;
        let mut zero_bias = false;
        for m in parts {
            match m.to_ascii_lowercase().as_str() {
                "paper" => convention = Convention::Paper,
                "modern" => convention = Convention::Modern,
                "nobias" | "zero-bias" => zero_bias = true,
                other => {
                    return Err(bad(format!(
                        "unknown modifier `@{other}` (paper, modern, nobias)"
                    )))
                }
            }
        }
        let (name, args) = match head.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (head, None),
        };
        let args: Vec<f32> = match args {
            None => Vec::new(),
            Some(a) => a
                .split(',')
                .map(|v| {
                    v.trim()
                        .parse::<f32>()
                        .map_err(|_| bad(format!("`{v}` is not a number")))
                })
                .collect::<Result<_>>()?,
        };
        let arg = |i: usize, default: f32| args.get(i).copied().unwrap_or(default);
        let lname = name.to_ascii_lowercase().replace('_', "-");
        let rule = match lname.as_str() {
            "epsilon" | "eps" => Rule::Epsilon {
                epsilon: arg(
                    0,
                    if convention == Convention::Paper {
                        0.1
                    } else {
                        1e-6
                    },
                ),
            },
            "lrp0" | "zero" => Rule::Epsilon { epsilon: 0.0 },
            "zplus" | "plus" | "z+" => Rule::ZPlus,
            "alphabeta" | "ab" | "alpha-beta" => Rule::AlphaBeta {
                alpha: arg(0, 2.0),
                beta: arg(1, 1.0),
            },
            "gamma" => Rule::Gamma {
                gamma: arg(0, 0.25),
            },
            "flat" => Rule::Flat,
            "wsquare" | "w2" | "w-square" => Rule::WSquare,
            "zbox" | "zb" => Rule::ZBox {
                low: args.first().map(|&v| vec![v]).unwrap_or_default(),
                high: args.get(1).map(|&v| vec![v]).unwrap_or_default(),
            },
            "pass" => Rule::Pass,
            "winner-take-all" | "wta" | "winnertakeall" => Rule::WinnerTakeAll,
            "proportional" | "norm" => Rule::Proportional,
            "lrn" => Rule::Lrn,
            "gate" => Rule::Gate,
            "uniform" => Rule::Uniform,
            "softmax" => Rule::Softmax,
            "gradient" | "grad" => Rule::Gradient,
            "guided" | "guided-backprop" => Rule::Guided,
            "layer-norm" | "layernorm" | "attnlrp" => Rule::LayerNorm,
            other => {
                // alphaA-betaB
                let ab = other
                    .strip_prefix("alpha")
                    .and_then(|r| r.split_once("-beta"))
                    .and_then(|(a, b)| Some((a.parse::<f32>().ok()?, b.parse::<f32>().ok()?)));
                match ab {
                    Some((alpha, beta)) => Rule::AlphaBeta { alpha, beta },
                    None => {
                        return Err(bad(format!(
                            "unknown rule `{name}` (epsilon, lrp0, zplus, alphabeta, alpha2-beta1, gamma, flat, wsquare, zbox, pass, winner-take-all, proportional, lrn, layer-norm, gate, uniform, softmax, gradient, guided)"
                        )))
                    }
                }
            }
        };
        let r = RuleSpec::new(rule, convention).with_zero_bias(zero_bias);
        r.check().map_err(bad)?;
        Ok(r)
    }
}
