//! Colour maps from normalised relevance `x ∈ [-1, 1]` to RGB, built on `colorgrad`.
//!
//! Every map is evaluated over `x ∈ [-1, 1]` (values outside are clamped, NaN maps to the
//! centre `x = 0`). Maps defined by colour stops are `colorgrad` linear gradients (plain
//! linear interpolation in sRGB) whose domain is `[-1, 1]`; colorgrad's presets, defined on
//! `[0, 1]`, are evaluated at `t = (x + 1) / 2`, as the LRP toolbox does for matplotlib maps.
//!
//! | name | stops (x: colour) | source |
//! |---|---|---|
//! | `black-firered` | −1 white, −½ cyan, −¼ blue, 0 black, ¼ red, ½ yellow, 1 white | the paper / LRP toolbox `gregoire_black_firered`; `LRP_SPEC.md` formula |
//! | `bwr` | −1 blue, 0 white, 1 red | matplotlib `_bwr_data` |
//! | `seismic` | −1 (0, 0, .3), −½ blue, 0 white, ½ red, 1 (.5, 0, 0) | matplotlib `_seismic_data` |
//! | `coldnhot` | −1 cyan, −½ blue, 0 black, ⅓ red, ⅔ yellow, 1 white | Zennit `cmap.py` (`"0ff,00f,80:000,f00,ff0,fff"`, the `hot`/`cold` formulas) |
//! | `jet` | per-channel segments, merged into 12 stops | matplotlib `_jet_data` |
//! | `gray-red` | −1 blue, 0 gray (.8, .8, .8), 1 red | LRP toolbox `gregoire_gray_red` |
//! | `afmhot` | −1 black, −½ (.5, 0, 0), 0 (1, .5, 0), ½ (1, 1, .5), 1 white | matplotlib `_afmhot_data` (gnuplot functions 34, 35, 36) |
//!
//! plus colorgrad's presets by name (`viridis`, `magma`, `inferno`, `plasma`, `cividis`,
//! `turbo`, ...; see [`Colormap::names`]): these are colorgrad's B-spline approximations of
//! the d3-scale-chromatic schemes, close to but not identical with matplotlib's tables. Any
//! name with the suffix `-r` (or `_r`) is the reversed map.
//!
//! Colours are rounded to 8 bits as `round(255 · c)`, rounding half away from zero, after
//! clamping `c` to `[0, 1]`.

use crate::error::{Error, Result};
use colorgrad::{Gradient, LinearGradient};
use std::fmt;
use std::sync::Arc;

type Grad = Arc<dyn Gradient + Send + Sync>;

/// One named map: how to build it and where it comes from.
struct Spec {
    name: &'static str,
    source: &'static str,
    build: fn() -> Grad,
}

/// A colour map over normalised relevance `x ∈ [-1, 1]`.
///
/// ```
/// use lrp::heatmap::Colormap;
/// let c = Colormap::from_name("black-firered").unwrap();
/// assert_eq!(c.rgb(0.25), [255, 0, 0]);   // red
/// assert_eq!(c.rgb(0.5), [255, 255, 0]);  // yellow
/// assert_eq!(c.rgb(1.0), [255, 255, 255]);
/// assert_eq!(c.rgb(0.0), [0, 0, 0]);      // the centre: black
/// assert_eq!(c.rgb(-0.25), [0, 0, 255]);  // blue
/// assert_eq!(c.rgb(-0.5), [0, 255, 255]); // cyan
/// assert_eq!(c.rgb(0.125), [128, 0, 0]);  // 127.5 rounds up
/// let bwr = Colormap::from_name("bwr").unwrap();
/// assert_eq!(bwr.centre(), [255, 255, 255]);
/// assert_eq!(Colormap::from_name("bwr_r").unwrap().rgb(1.0), [0, 0, 255]);
/// assert!(Colormap::from_name("nope").unwrap_err().to_string().contains("black-firered"));
/// ```
#[derive(Clone)]
pub struct Colormap {
    spec: &'static Spec,
    gradient: Grad,
    reversed: bool,
}

impl fmt::Debug for Colormap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Colormap")
            .field("name", &self.name())
            .finish()
    }
}

impl PartialEq for Colormap {
    fn eq(&self, other: &Self) -> bool {
        self.spec.name == other.spec.name && self.reversed == other.reversed
    }
}

impl Default for Colormap {
    /// The paper's `black-firered`.
    fn default() -> Self {
        Colormap::black_firered()
    }
}

/// A linear gradient over `x ∈ [-1, 1]` from `(x, [r, g, b])` stops in `[0, 1]`.
fn stops(s: &[(f32, [f32; 3])]) -> Grad {
    let data: Vec<(f32, [f32; 4])> = s
        .iter()
        .map(|&(x, [r, g, b])| (x, [r, g, b, 1.0]))
        .collect();
    Arc::new(LinearGradient::from_rgba_data(data).expect("built-in colour stops are valid"))
}

/// matplotlib-style per-channel segment data `(t, value)` on `t ∈ [0, 1]`, merged into one
/// list of stops on `x = 2t − 1`. Each channel is piecewise linear between its own
/// breakpoints, so evaluating all channels at the union of breakpoints loses nothing.
fn segmented(channels: [&[(f32, f32)]; 3]) -> Grad {
    fn at(seg: &[(f32, f32)], t: f32) -> f32 {
        let i = seg
            .iter()
            .position(|&(p, _)| p >= t)
            .unwrap_or(seg.len() - 1);
        if i == 0 {
            return seg[0].1;
        }
        let ((p0, v0), (p1, v1)) = (seg[i - 1], seg[i]);
        v0 + (t - p0) / (p1 - p0) * (v1 - v0)
    }
    let mut ts: Vec<f32> = channels
        .iter()
        .flat_map(|c| c.iter().map(|s| s.0))
        .collect();
    ts.sort_by(f32::total_cmp);
    ts.dedup();
    let s: Vec<(f32, [f32; 3])> = ts
        .iter()
        .map(|&t| {
            (
                2.0 * t - 1.0,
                [at(channels[0], t), at(channels[1], t), at(channels[2], t)],
            )
        })
        .collect();
    stops(&s)
}

const WHITE: [f32; 3] = [1.0, 1.0, 1.0];
const BLACK: [f32; 3] = [0.0, 0.0, 0.0];

fn black_firered() -> Grad {
    stops(&[
        (-1.0, WHITE),
        (-0.5, [0.0, 1.0, 1.0]),
        (-0.25, [0.0, 0.0, 1.0]),
        (0.0, BLACK),
        (0.25, [1.0, 0.0, 0.0]),
        (0.5, [1.0, 1.0, 0.0]),
        (1.0, WHITE),
    ])
}

fn bwr() -> Grad {
    stops(&[
        (-1.0, [0.0, 0.0, 1.0]),
        (0.0, WHITE),
        (1.0, [1.0, 0.0, 0.0]),
    ])
}

fn seismic() -> Grad {
    stops(&[
        (-1.0, [0.0, 0.0, 0.3]),
        (-0.5, [0.0, 0.0, 1.0]),
        (0.0, WHITE),
        (0.5, [1.0, 0.0, 0.0]),
        (1.0, [0.5, 0.0, 0.0]),
    ])
}

fn coldnhot() -> Grad {
    stops(&[
        (-1.0, [0.0, 1.0, 1.0]),
        (-0.5, [0.0, 0.0, 1.0]),
        (0.0, BLACK),
        (1.0 / 3.0, [1.0, 0.0, 0.0]),
        (2.0 / 3.0, [1.0, 1.0, 0.0]),
        (1.0, WHITE),
    ])
}

fn jet() -> Grad {
    segmented([
        &[
            (0.0, 0.0),
            (0.35, 0.0),
            (0.66, 1.0),
            (0.89, 1.0),
            (1.0, 0.5),
        ],
        &[
            (0.0, 0.0),
            (0.125, 0.0),
            (0.375, 1.0),
            (0.64, 1.0),
            (0.91, 0.0),
            (1.0, 0.0),
        ],
        &[
            (0.0, 0.5),
            (0.11, 1.0),
            (0.34, 1.0),
            (0.65, 0.0),
            (1.0, 0.0),
        ],
    ])
}

fn gray_red() -> Grad {
    stops(&[
        (-1.0, [0.0, 0.0, 1.0]),
        (0.0, [0.8, 0.8, 0.8]),
        (1.0, [1.0, 0.0, 0.0]),
    ])
}

fn afmhot() -> Grad {
    segmented([
        &[(0.0, 0.0), (0.5, 1.0), (1.0, 1.0)],
        &[(0.0, 0.0), (0.25, 0.0), (0.75, 1.0), (1.0, 1.0)],
        &[(0.0, 0.0), (0.5, 0.0), (1.0, 1.0)],
    ])
}

macro_rules! preset {
    ($name:literal, $f:ident) => {
        Spec {
            name: $name,
            source: concat!("colorgrad::preset::", stringify!($f)),
            build: || Arc::new(colorgrad::preset::$f()),
        }
    };
}

static SPECS: &[Spec] = &[
    Spec {
        name: "black-firered",
        source: "the paper (LRP toolbox gregoire_black_firered; LRP_SPEC.md formula)",
        build: black_firered,
    },
    Spec {
        name: "bwr",
        source: "matplotlib _bwr_data",
        build: bwr,
    },
    Spec {
        name: "seismic",
        source: "matplotlib _seismic_data",
        build: seismic,
    },
    Spec {
        name: "coldnhot",
        source: "Zennit cmap.py coldnhot",
        build: coldnhot,
    },
    Spec {
        name: "jet",
        source: "matplotlib _jet_data",
        build: jet,
    },
    Spec {
        name: "gray-red",
        source: "LRP toolbox gregoire_gray_red",
        build: gray_red,
    },
    Spec {
        name: "afmhot",
        source: "matplotlib _afmhot_data",
        build: afmhot,
    },
    preset!("viridis", viridis),
    preset!("magma", magma),
    preset!("inferno", inferno),
    preset!("plasma", plasma),
    preset!("cividis", cividis),
    preset!("turbo", turbo),
    preset!("rainbow", rainbow),
    preset!("sinebow", sinebow),
    preset!("cubehelix", cubehelix_default),
    preset!("warm", warm),
    preset!("cool", cool),
    preset!("spectral", spectral),
    preset!("rd-bu", rd_bu),
    preset!("rd-gy", rd_gy),
    preset!("rd-yl-bu", rd_yl_bu),
    preset!("rd-yl-gn", rd_yl_gn),
    preset!("br-bg", br_bg),
    preset!("pi-yg", pi_yg),
    preset!("pr-gn", pr_gn),
    preset!("pu-or", pu_or),
    preset!("blues", blues),
    preset!("greens", greens),
    preset!("greys", greys),
    preset!("oranges", oranges),
    preset!("purples", purples),
    preset!("reds", reds),
    preset!("yl-or-rd", yl_or_rd),
    preset!("yl-gn-bu", yl_gn_bu),
];

impl Colormap {
    /// The paper's black-firered map: with `x = H / max|H|`,
    /// `r = 4·clip(x, 0, ¼) + 2·clip(−x − ½, 0, ½)`,
    /// `g = 4·clip(x − ¼, 0, ¼) + 4·clip(−x − ¼, 0, ¼)`,
    /// `b = 2·clip(x − ½, 0, ½) + 4·clip(−x, 0, ¼)`.
    ///
    /// ```
    /// let c = lrp::heatmap::Colormap::black_firered();
    /// assert_eq!(c.rgb(0.25), [255, 0, 0]);
    /// assert_eq!(c.rgb(0.75), [255, 255, 128]); // b = 2·0.25 = 0.5 -> 127.5 -> 128
    /// assert_eq!(c.rgb(-1.0), [255, 255, 255]);
    /// ```
    pub fn black_firered() -> Colormap {
        Colormap {
            spec: &SPECS[0],
            gradient: (SPECS[0].build)(),
            reversed: false,
        }
    }

    /// Looks a map up by name: case-insensitive, `_` and `-` interchangeable, a suffix `-r`
    /// reverses it. Unknown names give [`Error::UnknownName`] listing [`Colormap::names`].
    pub fn from_name(name: &str) -> Result<Colormap> {
        let key = name.trim().to_ascii_lowercase().replace('_', "-");
        let (base, reversed) = match key.strip_suffix("-r") {
            Some(b) if !SPECS.iter().any(|s| s.name == key) => (b.to_string(), true),
            _ => (key, false),
        };
        match SPECS.iter().find(|s| s.name == base) {
            Some(spec) => Ok(Colormap {
                spec,
                gradient: (spec.build)(),
                reversed,
            }),
            None => Err(Error::UnknownName {
                kind: "colour map",
                name: name.to_string(),
                valid: format!(
                    "{} (append -r to reverse)",
                    Colormap::names().collect::<Vec<_>>().join(", ")
                ),
            }),
        }
    }

    /// The names [`Colormap::from_name`] accepts (without the `-r` variants).
    ///
    /// ```
    /// let names: Vec<_> = lrp::heatmap::Colormap::names().collect();
    /// assert_eq!(names[..7], ["black-firered", "bwr", "seismic", "coldnhot", "jet", "gray-red", "afmhot"]);
    /// assert!(names.contains(&"viridis"));
    /// ```
    pub fn names() -> impl Iterator<Item = &'static str> {
        SPECS.iter().map(|s| s.name)
    }

    /// The map's canonical name (with `-r` when reversed).
    pub fn name(&self) -> String {
        if self.reversed {
            format!("{}-r", self.spec.name)
        } else {
            self.spec.name.to_string()
        }
    }

    /// Where the map's definition comes from (matplotlib, Zennit, the LRP toolbox, colorgrad).
    pub fn source(&self) -> &'static str {
        self.spec.source
    }

    /// The same map reversed (`x → −x`).
    pub fn reversed(&self) -> Colormap {
        Colormap {
            reversed: !self.reversed,
            ..self.clone()
        }
    }

    /// The colour of `x` as floats in `[0, 1]`; `x` is clamped to `[-1, 1]`, NaN counts as 0.
    pub fn rgb_f32(&self, x: f32) -> [f32; 3] {
        let x = if x.is_nan() { 0.0 } else { x.clamp(-1.0, 1.0) };
        let x = if self.reversed { -x } else { x };
        let (d0, d1) = self.gradient.domain();
        let t = if (d0, d1) == (-1.0, 1.0) {
            x
        } else {
            d0 + (x + 1.0) * 0.5 * (d1 - d0)
        };
        let c = self.gradient.at(t);
        [
            c.r.clamp(0.0, 1.0),
            c.g.clamp(0.0, 1.0),
            c.b.clamp(0.0, 1.0),
        ]
    }

    /// The colour of `x` in 8 bits: `round(255 · c)`, half away from zero.
    pub fn rgb(&self, x: f32) -> [u8; 3] {
        self.rgb_f32(x).map(to_u8)
    }

    /// The colour of `x = 0`, where an all-zero map ends up.
    pub fn centre(&self) -> [u8; 3] {
        self.rgb(0.0)
    }
}

/// `round(255 · c)` for `c` in `[0, 1]` (clamped).
pub(crate) fn to_u8(c: f32) -> u8 {
    (c.clamp(0.0, 1.0) * 255.0).round() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's formula, written out independently of the stops.
    fn firered(x: f32) -> [f32; 3] {
        let c = |v: f32, lo: f32, hi: f32| v.clamp(lo, hi);
        [
            4.0 * c(x, 0.0, 0.25) + 2.0 * c(-x - 0.5, 0.0, 0.5),
            4.0 * c(x - 0.25, 0.0, 0.25) + 4.0 * c(-x - 0.25, 0.0, 0.25),
            2.0 * c(x - 0.5, 0.0, 0.5) + 4.0 * c(-x, 0.0, 0.25),
        ]
    }

    #[test]
    fn black_firered_follows_the_formula_everywhere() {
        let m = Colormap::black_firered();
        for i in 0..=4000 {
            let x = -1.0 + i as f32 / 2000.0;
            let (got, want) = (m.rgb_f32(x), firered(x));
            for ch in 0..3 {
                assert!(
                    (got[ch] - want[ch]).abs() < 1e-6,
                    "x = {x}: {got:?} != {want:?}"
                );
            }
            let (g8, w8) = (m.rgb(x), want.map(to_u8));
            for ch in 0..3 {
                assert!(g8[ch].abs_diff(w8[ch]) <= 1, "x = {x}: {g8:?} vs {w8:?}");
            }
        }
    }

    #[test]
    fn black_firered_key_points() {
        let m = Colormap::black_firered();
        // Written out by hand from the formula (r, g, b); x = ±1/8 etc. give 127.5 -> 128.
        let pts: [(f32, [u8; 3]); 13] = [
            (-1.0, [255, 255, 255]),
            (-0.75, [128, 255, 255]),
            (-0.5, [0, 255, 255]),
            (-0.375, [0, 128, 255]),
            (-0.25, [0, 0, 255]),
            (-0.125, [0, 0, 128]),
            (0.0, [0, 0, 0]),
            (0.125, [128, 0, 0]),
            (0.25, [255, 0, 0]),
            (0.375, [255, 128, 0]),
            (0.5, [255, 255, 0]),
            (0.75, [255, 255, 128]),
            (1.0, [255, 255, 255]),
        ];
        for (x, want) in pts {
            assert_eq!(m.rgb(x), want, "x = {x}");
            assert_eq!(firered(x).map(to_u8), want, "formula at x = {x}");
        }
        // Out of range clamps, NaN is the centre.
        assert_eq!(m.rgb(7.0), [255, 255, 255]);
        assert_eq!(m.rgb(-7.0), [255, 255, 255]);
        assert_eq!(m.rgb(f32::NAN), [0, 0, 0]);
        assert_eq!(m.centre(), [0, 0, 0]);
    }

    #[test]
    fn stop_maps_key_points() {
        let get = |n: &str| Colormap::from_name(n).unwrap();
        // bwr / seismic: matplotlib at t = 0, .25, .5, .75, 1.
        assert_eq!(get("bwr").rgb(-1.0), [0, 0, 255]);
        assert_eq!(get("bwr").rgb(-0.5), [128, 128, 255]);
        assert_eq!(get("bwr").rgb(0.0), [255, 255, 255]);
        assert_eq!(get("bwr").rgb(1.0), [255, 0, 0]);
        assert_eq!(get("seismic").rgb(-1.0), [0, 0, 77]); // 0.3 · 255 = 76.5
        assert_eq!(get("seismic").rgb(-0.5), [0, 0, 255]);
        assert_eq!(get("seismic").rgb(0.0), [255, 255, 255]);
        assert_eq!(get("seismic").rgb(0.5), [255, 0, 0]);
        assert_eq!(get("seismic").rgb(1.0), [128, 0, 0]);
        // coldnhot: Zennit's hot(y) = clip(3y, 3y-1, 3y-2), cold(y) = clip(0, 2y-1, 2y).
        let ch = get("coldnhot");
        assert_eq!(ch.rgb(0.0), [0, 0, 0]);
        assert_eq!(ch.rgb(1.0 / 3.0), [255, 0, 0]);
        assert_eq!(ch.rgb(0.6), [255, 204, 0]); // hot(.6) = (1.8, .8, -.2)
        assert_eq!(ch.rgb(1.0), [255, 255, 255]);
        assert_eq!(ch.rgb(-0.3), [0, 0, 153]); // cold(.3) = (0, -.4, .6)
        assert_eq!(ch.rgb(-0.5), [0, 0, 255]);
        assert_eq!(ch.rgb(-1.0), [0, 255, 255]);
        // gray-red: the toolbox's 0.8 gray, 0.8 ± x·(0.2 | 0.8).
        assert_eq!(get("gray-red").rgb(0.0), [204, 204, 204]);
        assert_eq!(get("gray-red").rgb(0.25), [217, 153, 153]); // (.85, .6, .6)
        assert_eq!(get("gray-red").rgb(-0.25), [153, 153, 217]);
        assert_eq!(get("gray-red").rgb(1.0), [255, 0, 0]);
        assert_eq!(get("gray-red").rgb(-1.0), [0, 0, 255]);
        // afmhot: gnuplot 34/35/36 = (2t, 2t - .5, 2t - 1), t = (x + 1) / 2.
        assert_eq!(get("afmhot").rgb(-1.0), [0, 0, 0]);
        assert_eq!(get("afmhot").rgb(-0.6), [102, 0, 0]); // t = .2
        assert_eq!(get("afmhot").rgb(0.8), [255, 255, 204]); // t = .9
        assert_eq!(get("afmhot").rgb(1.0), [255, 255, 255]);
        let close = |a: [f32; 3], b: [f32; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5);
        assert!(close(get("afmhot").rgb_f32(0.0), [1.0, 0.5, 0.0]));
        // jet: t = .5 -> red (.5 - .35)/.31, green 1, blue (.65 - .5)/.31; ends (0, 0, .5), (.5, 0, 0).
        assert!(close(
            get("jet").rgb_f32(0.0),
            [0.15 / 0.31, 1.0, 0.15 / 0.31]
        ));
        assert!(close(get("jet").rgb_f32(-1.0), [0.0, 0.0, 0.5]));
        assert!(close(get("jet").rgb_f32(1.0), [0.5, 0.0, 0.0]));
        // t = .125 (x = -.75): red 0, green 0, blue 1 (plateau from .11).
        assert_eq!(get("jet").rgb(-0.75), [0, 0, 255]);
        // t = .375 (x = -.25): red (.375 - .35)/.31, green 1, blue 1 - (.375 - .34)/.31.
        assert!(close(
            get("jet").rgb_f32(-0.25),
            [0.025 / 0.31, 1.0, 1.0 - 0.035 / 0.31]
        ));
    }

    #[test]
    fn presets_and_names() {
        for name in Colormap::names() {
            let m = Colormap::from_name(name).unwrap();
            assert_eq!(m.name(), name);
            for i in 0..=20 {
                let c = m.rgb_f32(-1.0 + i as f32 / 10.0);
                assert!(c.iter().all(|v| (0.0..=1.0).contains(v)), "{name}: {c:?}");
            }
        }
        // viridis ends: colorgrad's first and last stops (#440154, #fee825).
        let v = Colormap::from_name("Viridis").unwrap();
        assert_eq!(v.rgb(-1.0), [0x44, 0x01, 0x54]);
        assert_eq!(v.rgb(1.0), [0xfe, 0xe8, 0x25]);
        let r = Colormap::from_name("VIRIDIS_R").unwrap();
        assert_eq!(r.name(), "viridis-r");
        assert_eq!(r.rgb(-1.0), [0xfe, 0xe8, 0x25]);
        assert_eq!(r.reversed(), v);
        match Colormap::from_name("hot-pink").unwrap_err() {
            Error::UnknownName { name, valid, .. } => {
                assert_eq!(name, "hot-pink");
                assert!(valid.contains("black-firered") && valid.contains("viridis"));
            }
            e => panic!("{e}"),
        }
    }
}
