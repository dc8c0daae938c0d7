//! Concept Relevance Propagation (issue 22) against zennit-crp 0.6: the references in
//! `tests/data/concepts/`, made by `tests/concepts/generate.py` (zennit-crp's
//! `CondAttribution` and `FeatureVisualization` with Zennit 1.0's `EpsilonPlusFlat` on the
//! shipped models, turned into torch by onnx2torch and canonised as lrp canonises them; float64
//! there, stored as float32; see its docstring).
//!
//! Tolerance: max |ours − theirs| ≤ 1e-4 · max |theirs| per map (float32 here against the
//! float64 reference; the Zennit references of `../shared/reference` use the same bound).
//! Closed forms: LRP's rules are linear in the relevance they pass on, so the conditional
//! heatmaps of all channels of a layer add up to the heatmap of everything that flows through
//! the layer, and the channel relevances add up to the layer's total.

use lrp::composite::Composite;
use lrp::concepts::{self, Condition};
use lrp::explain::{Explainer, Target};
use lrp::{Error, Tensor};
use ndarray::{ArrayD, Axis};
use ndarray_npy::read_npy;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/concepts");

fn manifest() -> serde_json::Value {
    let text = std::fs::read_to_string(format!("{DATA}/manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn npy(name: &str) -> ArrayD<f32> {
    read_npy(format!("{DATA}/{name}.npy")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn explainer(model: &str) -> Explainer {
    let m = match model {
        "gender" => lrp::model::Model::gender().unwrap(),
        "age" => lrp::model::Model::age().unwrap(),
        _ => unreachable!(),
    };
    Explainer::new(m.graph, &Composite::preset("epsilon-plus-flat").unwrap()).unwrap()
}

/// Max |a − b| / max |b|.
fn rel_err(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(
        scale > 0.0,
        "an all-zero reference would make any result agree"
    );
    let worst = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    worst / scale.max(f32::MIN_POSITIVE)
}

/// Input heatmaps `[n, K, C, H, W]` summed over colour channels (as zennit-crp's
/// `heatmap_modifier`), image 0: `[K, H, W]`.
fn colour_sum(h: &Tensor) -> ArrayD<f32> {
    h.index_axis(Axis(0), 0).sum_axis(Axis(1))
}

/// The conditions a reference case stored: one per listed channel set, target as stored.
fn case_conditions(case: &serde_json::Value) -> (usize, String, Vec<Condition>) {
    let target = case["target"].as_u64().unwrap() as usize;
    let layer = case["layer"].as_str().unwrap().to_string();
    let conds = case["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let ch: Vec<usize> = c
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
                .collect();
            Condition::new(Some(target)).channels(&layer, &ch)
        })
        .collect();
    (target, layer, conds)
}

#[test]
fn conditional_heatmaps_and_channel_relevance_match_zennit_crp() {
    let m = manifest();
    for case in m["cases"].as_array().unwrap() {
        let model = case["model"].as_str().unwrap();
        let stem = format!(
            "{model}_{}_{}",
            case["image"].as_str().unwrap(),
            case["layer"].as_str().unwrap()
        );
        let ex = explainer(model);
        let x = npy(&format!(
            "{model}_{}_input",
            case["image"].as_str().unwrap()
        ));
        let (target, layer, conds) = case_conditions(case);

        // The channel relevances of the prediction, and its top channels.
        let e = concepts::explain_concepts(&ex, &x, &layer, None, 4).unwrap();
        assert_eq!(e.target, target, "{stem}");
        let want = npy(&format!("{stem}_channels"));
        let err = rel_err(&e.channel_relevance, want.as_slice().unwrap());
        assert!(err <= 1e-4, "{stem}: channel relevance off by {err:e}");
        eprintln!("{stem}: channel relevance off by {err:.1e} of max");
        let top: Vec<usize> = e.concepts.iter().map(|c| c.channel).collect();
        let want_top: Vec<usize> = case["top"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(top, want_top, "{stem}");

        // The five conditional heatmaps, one batched pass, with and without the shortcut.
        let mut variants = vec![(true, "heatmaps")];
        if case["parallel"].as_bool() == Some(true) {
            variants.push((false, "heatmaps_parallel"));
        }
        for (exclude, suffix) in variants {
            let c = concepts::conditional(&ex, &x, &conds, &[], exclude).unwrap();
            let got = colour_sum(&c.heatmaps);
            let want = npy(&format!("{stem}_{suffix}"));
            assert_eq!(got.shape(), want.shape(), "{stem}_{suffix}");
            for k in 0..got.shape()[0] {
                let g = got.index_axis(Axis(0), k).to_owned();
                let w = want.index_axis(Axis(0), k).to_owned();
                let err = rel_err(g.as_slice().unwrap(), w.as_slice().unwrap());
                assert!(err <= 1e-4, "{stem}_{suffix} map {k}: off by {err:e}");
                eprintln!("{stem}_{suffix} map {k}: off by {err:.1e} of max |R|");
            }
        }
        // explain_concepts' own heatmaps are the first four conditions'.
        let want = npy(&format!("{stem}_heatmaps"));
        let got = e.heatmaps.sum_axis(Axis(1));
        for k in 0..4 {
            let g = got.index_axis(Axis(0), k).to_owned();
            let w = want.index_axis(Axis(0), k).to_owned();
            let err = rel_err(g.as_slice().unwrap(), w.as_slice().unwrap());
            assert!(
                err <= 1e-4,
                "{stem} explain_concepts map {k}: off by {err:e}"
            );
        }
    }
}

/// Closed forms on the gender model (a chain: all relevance passes `layer_12_conv`) and the
/// age model (`layer_47_conv` sits beside a residual shortcut): Σ over all channels'
/// conditional heatmaps = the heatmap through the layer; channel relevances sum to the layer's
/// total; with a layer every path passes, that is the ordinary heatmap.
#[test]
fn channel_heatmaps_add_up_to_the_layer_heatmap() {
    for (model, image, layer, bottleneck) in [
        ("gender", "astronaut", "layer_12_conv", true),
        ("age", "astronaut", "layer_47_conv", false),
    ] {
        let ex = explainer(model);
        let x = npy(&format!("{model}_{image}_input"));
        let c = concepts::layer(&ex, layer).unwrap().channels();
        let mut conds: Vec<Condition> = (0..c)
            .map(|ch| Condition::new(None).channels(layer, &[ch]))
            .collect();
        let all: Vec<usize> = (0..c).collect();
        conds.push(Condition::new(None).channels(layer, &all));
        let r = concepts::conditional(&ex, &x, &conds, &[layer], true).unwrap();
        let h = r.heatmaps.index_axis(Axis(0), 0);
        let per = h.len() / (c + 1);
        let flat = h
            .as_standard_layout()
            .to_owned()
            .into_raw_vec_and_offset()
            .0;
        let mut sum = vec![0f64; per];
        for m in 0..c {
            for (s, v) in sum.iter_mut().zip(&flat[m * per..(m + 1) * per]) {
                *s += f64::from(*v);
            }
        }
        let sum: Vec<f32> = sum.into_iter().map(|v| v as f32).collect();
        let through = &flat[c * per..];
        let err = rel_err(&sum, through);
        assert!(err <= 1e-4, "{model}: Σ channel heatmaps off by {err:e}");
        // Channel relevances of the all-channels condition add up to the layer's total.
        let ch = concepts::channel_relevance(&r.layers[0].relevance).unwrap();
        let row: Vec<f64> = ch
            .index_axis(Axis(0), 0)
            .index_axis(Axis(0), c)
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        let total: f64 = r.layers[0]
            .relevance
            .index_axis(Axis(0), 0)
            .index_axis(Axis(0), c)
            .iter()
            .map(|&v| f64::from(v))
            .sum();
        let s: f64 = row.iter().sum();
        assert!(
            (s - total).abs() <= 1e-5 * total.abs().max(1e-6),
            "{model}: {s} vs {total}"
        );
        // A single-channel condition keeps nothing of the other channels at the layer.
        let one = r.layers[0].relevance.index_axis(Axis(0), 0);
        let one = one.index_axis(Axis(0), 0);
        assert!(one
            .axis_iter(Axis(0))
            .skip(1)
            .all(|plane| plane.iter().all(|&v| v == 0.0)));
        let plain = ex.explain(&x, &Target::Predicted).unwrap();
        let p = plain.relevance.as_slice().unwrap();
        let err = rel_err(through, p);
        if bottleneck {
            assert!(
                err <= 1e-4,
                "{model}: all channels vs plain heatmap off by {err:e}"
            );
        } else {
            // The shortcut carries relevance around the layer: excluded, it is missing.
            assert!(
                err > 1e-2,
                "{model}: the shortcut should carry relevance ({err:e})"
            );
            let kept = concepts::conditional(&ex, &x, &conds[c..], &[], false).unwrap();
            let err = rel_err(kept.heatmaps.as_slice().unwrap(), p);
            assert!(
                err <= 1e-4,
                "{model}: masks without exclusion off by {err:e}"
            );
        }
    }
}

#[test]
fn bad_conditions_are_typed_errors() {
    let ex = explainer("gender");
    let x = npy("gender_astronaut_input");
    let msg = |r: lrp::Result<concepts::Conditional>| match r {
        Err(e @ Error::Concept(_)) => e.to_string(),
        other => panic!("expected a concept error, got {:?}", other.map(|_| ())),
    };
    let unknown = msg(concepts::conditional(
        &ex,
        &x,
        &[Condition::new(None).channels("conv9", &[0])],
        &[],
        true,
    ));
    assert!(unknown.contains("no layer `conv9`") && unknown.contains("layer_12_conv"));
    let range = msg(concepts::conditional(
        &ex,
        &x,
        &[Condition::new(None).channels("layer_12_conv", &[64])],
        &[],
        true,
    ));
    assert!(range.contains("64 channels (0..63); channel 64"), "{range}");
    let empty = msg(concepts::conditional(
        &ex,
        &x,
        &[Condition::new(None).channels("layer_12_conv", &[])],
        &[],
        true,
    ));
    assert!(empty.contains("selects no channel"), "{empty}");
    assert!(msg(concepts::conditional(&ex, &x, &[], &[], true)).contains("no conditions"));
    // The final Softmax gets no relevance; a flattened layer is [C] and fine.
    let off = msg(concepts::conditional(
        &ex,
        &x,
        &[Condition::new(None).channels("probabilities", &[0])],
        &[],
        true,
    ));
    assert!(off.contains("does not lead to the logits"), "{off}");
    assert!(concepts::layer(&ex, "layer_4_fc").is_ok());
    // A target class the model does not have is the explainer's own error.
    let r = concepts::conditional(&ex, &x, &[Condition::new(Some(5))], &[], true);
    assert!(matches!(r, Err(Error::Invalid(_))));
}

/// Groups of consecutive ranks whose reference scores lie within `tol` of each other: their
/// order is float rounding (and torch's unstable sort), so only the set of ids is compared.
fn rank_groups(scores: &[f32], tol: f32) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let mut start = 0;
    for r in 1..=scores.len() {
        if r == scores.len() || (scores[r - 1] - scores[r]).abs() > tol {
            groups.push(start..r);
            start = r;
        }
    }
    groups
}

/// Relevance and activation maximisation over the 20 augmented crops, in batches of 6 as the
/// reference ran: per channel of the gender model's `layer_12_conv`, the ranked sample ids,
/// their scores (≤ 1e-4 of the channel's largest |score|) and the most relevant / active
/// position, against zennit-crp's `FeatureVisualization` (max_target "sum", abs_norm).
#[test]
fn maximisation_matches_zennit_crp_feature_visualization() {
    use lrp::concepts::maximise::Maximiser;
    let m = manifest();
    let layer = m["maximise"]["layer"].as_str().unwrap();
    let ex = explainer("gender");
    let x = npy("maximise_inputs");
    let n = x.shape()[0];
    let mut max = Maximiser::new(&ex, layer, n).unwrap();
    for start in (0..n).step_by(6) {
        let end = (start + 6).min(n);
        let ids: Vec<usize> = (start..end).collect();
        let batch = x.slice_axis(Axis(0), (start..end).into()).to_owned();
        max.add(&ex, &ids, &batch).unwrap();
    }
    let lists = max.finish();
    assert_eq!(lists.samples, n);
    for (mode, ours) in [("rel", &lists.relevance), ("act", &lists.activation)] {
        let ids: ArrayD<i64> = read_npy(format!("{DATA}/maximise_{mode}_ids.npy")).unwrap();
        let rf: ArrayD<i64> = read_npy(format!("{DATA}/maximise_{mode}_rf.npy")).unwrap();
        let scores = npy(&format!("maximise_{mode}_scores"));
        let (mut groups, mut tied) = (0, 0);
        for (c, list) in ours.iter().enumerate() {
            let want: Vec<f32> = scores.index_axis(Axis(1), c).iter().copied().collect();
            let got: Vec<f32> = list.iter().map(|r| r.score).collect();
            let scale = want.iter().fold(0f32, |a, v| a.max(v.abs()));
            let err = rel_err(&got, &want);
            assert!(err <= 1e-4, "{mode} channel {c}: scores off by {err:e}");
            for g in rank_groups(&want, 1e-4 * scale) {
                groups += 1;
                tied += usize::from(g.len() > 1);
                let mut a: Vec<(usize, usize)> = g
                    .clone()
                    .map(|r| (list[r].sample, list[r].position))
                    .collect();
                let mut b: Vec<(usize, usize)> = g
                    .map(|r| (ids[[r, c]] as usize, rf[[r, c]] as usize))
                    .collect();
                a.sort_unstable();
                b.sort_unstable();
                assert_eq!(a, b, "{mode} channel {c}: (sample, position) per rank");
            }
        }
        eprintln!("{mode}: {groups} rank groups over 64 channels, {tied} of them near-ties");
    }
}

mod support;

/// `lrp concepts` on the gender model and the two shipped portraits: one figure per image
/// (one row per concept), the CSV and JSON, the index written once and reused by a second
/// run; its top channels and shares are those of the library on the same input.
#[test]
fn cli_concepts_writes_figures_tables_and_reuses_its_index() {
    use support::cli::{lrp, stderr, stdout, tempdir};
    let dir = tempdir("concepts", "cli");
    let imgs = dir.join("imgs");
    std::fs::create_dir_all(&imgs).unwrap();
    let assets = concat!(env!("CARGO_MANIFEST_DIR"), "/assets");
    for f in ["astronaut.png", "grace_hopper.jpg"] {
        std::fs::copy(format!("{assets}/{f}"), imgs.join(f)).unwrap();
    }
    let args = [
        "concepts",
        "--model",
        "gender-v1",
        "--layer",
        "layer_12_conv",
        "--image",
        "imgs",
        "--top",
        "3",
        "--references",
        "2",
        "--out",
        "out",
    ];
    let o = lrp(&args, &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("reusing"));
    let out = dir.join("out");
    let csv = std::fs::read_to_string(out.join("concepts.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "image,target,label,rank,channel,relevance,share");
    assert_eq!(rows.len(), 1 + 2 * 3, "{csv}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("concepts.json")).unwrap()).unwrap();
    assert_eq!(json["layer"], "layer_12_conv");
    for stem in ["astronaut", "grace_hopper"] {
        let fig = image::open(out.join(format!("{stem}_concepts.png"))).unwrap();
        assert!(fig.height() >= 3 * 96 && fig.width() >= 3 * 96);
    }
    // The library on the same preprocessed input gives the same channels and shares.
    let model = lrp::model::Model::gender().unwrap();
    let face = lrp::preprocess::load_face(imgs.join("astronaut.png"), None).unwrap();
    let x = lrp::preprocess::to_tensor(&[face], &model.preprocess).unwrap();
    let e = concepts::explain_concepts(&explainer("gender"), &x, "layer_12_conv", None, 3).unwrap();
    let astro: Vec<&str> = rows
        .iter()
        .filter(|r| r.starts_with("astronaut,"))
        .copied()
        .collect();
    for (row, c) in astro.iter().zip(&e.concepts) {
        let f: Vec<&str> = row.split(',').collect();
        assert_eq!(f[4].parse::<usize>().unwrap(), c.channel, "{row}");
        assert!(
            (f[6].parse::<f32>().unwrap() - c.share).abs() < 1e-6,
            "{row}"
        );
    }
    // The index is reused, and the figures come out the same.
    let index = std::fs::read(out.join("index/index.json")).unwrap();
    let before = std::fs::read(out.join("astronaut_concepts.png")).unwrap();
    let o = lrp(&args, &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("reusing"), "{}", stdout(&o));
    assert_eq!(std::fs::read(out.join("index/index.json")).unwrap(), index);
    assert_eq!(
        std::fs::read(out.join("astronaut_concepts.png")).unwrap(),
        before
    );
    // Bad input: one line, status 1, naming what is wrong.
    for (bad, expect) in [
        (vec!["--layer", "conv9"], "no layer `conv9`"),
        (
            vec!["--layer", "layer_12_conv", "--top", "0"],
            "--top must be",
        ),
        (
            vec!["--layer", "probabilities"],
            "does not lead to the logits",
        ),
    ] {
        let mut a = vec![
            "concepts",
            "--model",
            "gender-v1",
            "--image",
            "imgs",
            "--out",
            "bad",
        ];
        a.extend(bad);
        let o = lrp(&a, &dir);
        assert_eq!(o.status.code(), Some(1));
        let err = stderr(&o);
        assert!(
            err.contains(expect) && err.trim().lines().count() == 1,
            "{err}"
        );
    }
}

/// Receptive-field boxes of single neurons of the gender model's `layer_12_conv` (16×16,
/// after two 3×3 convolutions, a 2× average pooling and a 3×3 convolution): each box is
/// non-empty and inside the neuron's geometric receptive field, rows and columns
/// `2y − 5 ..= 2y + 5` (a pooling window of up to 3 with stride 2 and the three 3×3
/// convolutions), clipped to the 32×32 input.
#[test]
fn receptive_field_boxes_lie_in_the_geometric_receptive_field() {
    use lrp::concepts::maximise::receptive_fields;
    let ex = explainer("gender");
    let x = npy("gender_astronaut_input");
    // The most relevant position of four channels (as maximisation picks them).
    let r =
        concepts::conditional(&ex, &x, &[Condition::new(None)], &["layer_12_conv"], true).unwrap();
    let rel = r.layers[0].relevance.index_axis(Axis(0), 0);
    let rel = rel.index_axis(Axis(0), 0);
    let neurons: Vec<(usize, usize)> = [54, 12, 22, 42]
        .into_iter()
        .map(|c| {
            let m: Vec<f32> = rel.index_axis(Axis(0), c).iter().copied().collect();
            let p = (0..m.len()).fold(0, |b, i| if m[i] > m[b] { i } else { b });
            assert!(m[p] > 0.0, "channel {c} has no positive relevance");
            (c, p)
        })
        .collect();
    let boxes = receptive_fields(&ex, &x, "layer_12_conv", &neurons).unwrap();
    for (&(c, p), b) in neurons.iter().zip(&boxes) {
        let (y, xx) = ((p / 16) as i64, (p % 16) as i64);
        let lo = |v: i64| (2 * v - 5).max(0) as usize;
        let hi = |v: i64| (2 * v + 6).min(32) as usize;
        assert!(
            b.top < b.bottom && b.left < b.right,
            "channel {c}: empty {b:?}"
        );
        assert!(
            b.top >= lo(y) && b.bottom <= hi(y) && b.left >= lo(xx) && b.right <= hi(xx),
            "channel {c} position {p}: {b:?}"
        );
    }
    let (c, p) = neurons[0];
    let one = lrp::concepts::maximise::receptive_field(&ex, &x, "layer_12_conv", c, p).unwrap();
    assert_eq!(one, boxes[0]);
}

/// Conditions on two layers at once (the age model's `layer_20_conv` and `layer_47_conv`),
/// against zennit-crp with `exclude_parallel` (1e-4 of max|R| per map).
#[test]
fn two_layer_conditions_match_zennit_crp() {
    let m = manifest();
    let case = &m["two_layers"];
    let target = case["target"].as_u64().unwrap() as usize;
    let conds: Vec<Condition> = case["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layers| {
            let mut c = Condition::new(Some(target));
            for l in layers.as_array().unwrap() {
                let ch: Vec<usize> = l[1]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap() as usize)
                    .collect();
                c = c.channels(l[0].as_str().unwrap(), &ch);
            }
            c
        })
        .collect();
    let ex = explainer("age");
    let x = npy("age_astronaut_input");
    let got = colour_sum(
        &concepts::conditional(&ex, &x, &conds, &[], true)
            .unwrap()
            .heatmaps,
    );
    let want = npy("age_astronaut_two_layers_heatmaps");
    assert_eq!(got.shape(), want.shape());
    for k in 0..got.shape()[0] {
        let g = got.index_axis(Axis(0), k).to_owned();
        let w = want.index_axis(Axis(0), k).to_owned();
        let err = rel_err(g.as_slice().unwrap(), w.as_slice().unwrap());
        assert!(err <= 1e-4, "two layers map {k}: off by {err:e}");
        eprintln!("two layers map {k}: off by {err:.1e} of max |R|");
    }
}
