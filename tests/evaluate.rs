//! Explanation quality metrics (issue 21) against Quantus 0.6: the scores in
//! `tests/data/evaluate/manifest.json`, made by `tests/evaluate/generate.py` from the
//! attributions, masks, random subsets and random classes stored beside them (see its
//! docstring), on the shipped gender and age models and the face inputs of
//! `tests/data/attribution`.
//!
//! Tolerance: 1e-5 everywhere (absolute for scores of order 1, relative above), also for the
//! end-to-end Random Logit where lrp computes the gradients itself (≤ 1e-4 of Captum's,
//! `tests/attribution.rs`; SSIM moves far less). Observed worst cases: 3.3e-6 on the gender
//! model's pixel-flipping probabilities, 2.2e-6 on its relevance mass accuracy, below 1e-6
//! elsewhere. Each `close` prints its error (`-- --nocapture`).

use lrp::attribution::{Attributor, Method};
use lrp::compare::{flip_curve, patch_order, Baseline, FlipConfig, Order};
use lrp::evaluate::{self as ev, FlipOrder, Prepare};
use lrp::Graph;
use ndarray::{Array2, Array3, ArrayD};
use ndarray_npy::read_npy;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn manifest() -> serde_json::Value {
    let text = std::fs::read_to_string(format!("{DATA}/evaluate/manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn npy<T: ndarray_npy::ReadableElement>(name: &str) -> ArrayD<T> {
    read_npy(format!("{DATA}/evaluate/{name}.npy")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn flat(a: &ArrayD<f32>) -> Vec<f32> {
    a.iter().copied().collect()
}

struct Case {
    name: &'static str,
    graph: Graph,
    x: ArrayD<f32>,
    r: serde_json::Value,
    target: usize,
}

fn case(name: &'static str) -> Case {
    let graph = match name {
        "gender" => lrp::model::Model::gender().unwrap().graph,
        _ => lrp::model::Model::age().unwrap().graph,
    };
    let x: ArrayD<f32> = read_npy(format!("{DATA}/attribution/{name}_input.npy")).unwrap();
    let r = manifest()["models"][name].clone();
    let target = r["target"].as_u64().unwrap() as usize;
    Case {
        name,
        graph,
        x,
        r,
        target,
    }
}

fn image(c: &Case) -> Array3<f32> {
    let s = c.x.shape();
    c.x.clone()
        .into_shape_with_order((s[1], s[2], s[3]))
        .unwrap()
}

fn close(what: &str, got: f32, want: f64, tol: f64) {
    let err = (got as f64 - want).abs() / want.abs().max(1.0);
    println!("{what}: {err:e}");
    assert!(
        err <= tol,
        "{what}: lrp {got}, Quantus {want} (off by {err:e})"
    );
}

fn attribution_only(c: &Case) {
    let heat = flat(&npy(&format!("{}_heatmap", c.name)));
    let mask: Vec<bool> = npy::<u8>(&format!("{}_mask", c.name))
        .iter()
        .map(|&m| m != 0)
        .collect();
    let want = |k: &str| c.r[k].as_f64().unwrap();
    let n = c.name;
    close(
        &format!("{n} sparseness"),
        ev::sparseness(&heat, Prepare::ABS_NORMALISE).unwrap(),
        want("sparseness"),
        1e-5,
    );
    close(
        &format!("{n} complexity"),
        ev::complexity(&heat, Prepare::ABS_NORMALISE).unwrap(),
        want("complexity"),
        1e-5,
    );
    close(
        &format!("{n} relevance mass accuracy"),
        ev::relevance_mass_accuracy(&heat, &mask, Prepare::NORMALISE).unwrap(),
        want("relevance_mass_accuracy"),
        1e-5,
    );
    close(
        &format!("{n} relevance rank accuracy"),
        ev::relevance_rank_accuracy(&heat, &mask, Prepare::NORMALISE).unwrap(),
        want("relevance_rank_accuracy"),
        1e-5,
    );
    close(
        &format!("{n} pointing game"),
        ev::pointing_game(&heat, &mask, Prepare::NORMALISE, false).unwrap(),
        want("pointing_game"),
        0.0,
    );
}

fn model_based(c: &Case) {
    let x = image(c);
    let n = c.name;
    // Pixel flipping, both orders, on the full [3, H, W] attribution.
    let a = flat(&npy(&format!("{n}_attribution")));
    let pf = &c.r["pixel_flipping"];
    let cfg = ev::PixelFlipping {
        features_in_step: Some(pf["features_in_step"].as_u64().unwrap() as usize),
        ..ev::PixelFlipping::default()
    };
    let morf = ev::pixel_flipping(
        &c.graph,
        x.view(),
        &a,
        c.target,
        FlipOrder::MostRelevantFirst,
        &cfg,
    )
    .unwrap();
    let lerf = ev::pixel_flipping(
        &c.graph,
        x.view(),
        &a,
        c.target,
        FlipOrder::LeastRelevantFirst,
        &cfg,
    )
    .unwrap();
    for (curve, key) in [(&morf, "morf"), (&lerf, "lerf")] {
        let want: Vec<f64> = pf[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(curve.scores.len(), want.len(), "{n} {key}");
        for (k, (&g, &w)) in curve.scores.iter().zip(&want).enumerate() {
            close(&format!("{n} {key} point {k}"), g, w, 1e-5);
        }
    }
    close(
        &format!("{n} unperturbed"),
        morf.unperturbed,
        pf["unperturbed"].as_f64().unwrap(),
        1e-5,
    );
    close(
        &format!("{n} MoRF AUC"),
        morf.auc(),
        pf["morf_auc"].as_f64().unwrap(),
        1e-5,
    );
    close(
        &format!("{n} SRG"),
        ev::srg(&morf, &lerf),
        pf["srg"].as_f64().unwrap(),
        1e-5,
    );

    // Faithfulness correlation on the heatmap, Quantus's subsets.
    let heat = flat(&npy(&format!("{n}_heatmap")));
    let drawn: ArrayD<i32> = npy(&format!("{n}_fc_subsets"));
    let subsets: Vec<Vec<usize>> = drawn
        .outer_iter()
        .map(|row| row.iter().map(|&i| i as usize).collect())
        .collect();
    let fc = ev::faithfulness_correlation(
        &c.graph,
        x.view(),
        &heat,
        c.target,
        &subsets,
        &Default::default(),
    )
    .unwrap();
    close(
        &format!("{n} faithfulness correlation"),
        fc,
        c.r["faithfulness_correlation"].as_f64().unwrap(),
        1e-5,
    );

    // Region perturbation: lrp's flip curve with one 4×4 patch per step and baseline 0 is
    // Quantus's RegionPerturbation; Quantus records the drops f(x) − f(xᵏ), k = 1..16.
    let (h, w) = (x.dim().1, x.dim().2);
    let map = Array2::from_shape_vec((h, w), heat.clone()).unwrap();
    let order = patch_order(&map, 4, &Order::MostRelevantFirst).unwrap();
    let flip = FlipConfig {
        patch: 4,
        steps: 16,
        patches_per_step: Some(1),
        baseline: Baseline::Constant(vec![0.0; x.dim().0]),
        batch: 17,
    };
    let curve = flip_curve(&c.graph, x.view(), &order, c.target, &flip).unwrap();
    let want: Vec<f64> = c.r["region_perturbation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(curve.scores.len(), want.len() + 1);
    for (k, w) in want.iter().enumerate() {
        let drop = curve.scores[0] - curve.scores[k + 1];
        let scale = curve.scores[0].abs().max(1.0) as f64;
        assert!(
            ((drop as f64) - w).abs() / scale <= 1e-5,
            "{n} region step {k}: lrp {drop}, Quantus {w}"
        );
    }
    // lrp's AOPC also counts the unperturbed point: Σ drops / (S + 1).
    let aopc = want.iter().sum::<f64>() / (want.len() + 1) as f64;
    close(&format!("{n} AOPC"), curve.aopc(), aopc, 1e-5);
}

fn random_logit(c: &Case) {
    let n = c.name;
    let off = c.r["random_logit_class"].as_u64().unwrap() as usize;
    let want = c.r["random_logit"].as_f64().unwrap();
    // The metric on Quantus's own heatmaps (Captum's Saliency for both classes).
    let a = flat(&npy(&format!("{n}_saliency")));
    let b = flat(&npy(&format!("{n}_random_logit_heatmap")));
    close(
        &format!("{n} random logit"),
        ev::random_logit(&a, &b, Prepare::NORMALISE).unwrap(),
        want,
        1e-5,
    );
    // End to end: lrp's gradient for both classes.
    let att = Attributor::new(c.graph.clone(), Method::Gradient).unwrap();
    let got = ev::random_logit_of(&att, &c.x, c.target, off, Prepare::NORMALISE).unwrap();
    close(
        &format!("{n} random logit (lrp's gradients)"),
        got,
        want,
        1e-5,
    );
}

#[test]
fn gender_model_metrics_match_quantus() {
    let c = case("gender");
    attribution_only(&c);
    model_based(&c);
    random_logit(&c);
}

#[test]
fn age_model_metrics_match_quantus() {
    let c = case("age");
    attribution_only(&c);
    model_based(&c);
    random_logit(&c);
}

/// MPRT on the gender model: Quantus's randomised weights (torch's reset_parameters under
/// its seed) loaded layer by layer, lrp's own gradients on each cascade step, Spearman of
/// the abs-normalised heatmaps against Quantus's.
#[test]
fn gender_model_parameter_randomisation_matches_quantus() {
    let c = case("gender");
    let r = &c.r["mprt"];
    let names: Vec<String> = r["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let layers = ev::parameter_layers(&c.graph);
    assert_eq!(layers.len(), names.len());
    let att = Attributor::new(c.graph.clone(), Method::Gradient).unwrap();
    let scores = ev::mprt(&att, &c.x, c.target, Prepare::ABS_NORMALISE, |g, node| {
        let k = layers.iter().position(|&l| l == node).unwrap();
        let params: Vec<Vec<f32>> = ["weight", "bias"]
            .iter()
            .map(|p| flat(&npy(&format!("gender_mprt_{k}_{p}"))))
            .collect();
        // The same layer on both sides: parameters of the same sizes.
        let sizes: Vec<usize> = g.nodes()[node]
            .op
            .params()
            .iter()
            .map(|p| p.len())
            .collect();
        assert_eq!(sizes, params.iter().map(|p| p.len()).collect::<Vec<_>>());
        Ok(params)
    })
    .unwrap();
    assert_eq!(scores.len(), names.len());
    // Top down: lrp's step s resets layer names[len - 1 - s].
    for (s, step) in scores.iter().enumerate() {
        let key = &names[names.len() - 1 - s];
        let want = r["scores"][key.as_str()].as_f64().unwrap();
        close(
            &format!("gender MPRT after {key} ({})", step.layer),
            step.score,
            want,
            1e-5,
        );
    }
    // Seeded draws of lrp's own: reproducible, and the fully random model's heatmap is far
    // from the original one.
    let a = ev::mprt(&att, &c.x, c.target, Prepare::ABS_NORMALISE, |g, n| {
        ev::seeded_parameters(g, n, 1)
    })
    .unwrap();
    let b = ev::mprt(&att, &c.x, c.target, Prepare::ABS_NORMALISE, |g, n| {
        ev::seeded_parameters(g, n, 1)
    })
    .unwrap();
    assert_eq!(a, b);
    assert!(a.last().unwrap().score.abs() < 0.5, "{a:?}");
}

mod support;

/// `lrp evaluate` end to end against Quantus: the shipped astronaut face crop written as a
/// PNG, with the reference mask drawn at the crop's size, explained by gradient × input
/// (Captum's InputXGradient within 1.7e-7 of max|A|, `tests/attribution.rs`) on both shipped
/// models; the command's scores.csv must hold Quantus's attribution-only and mask scores of
/// `tests/evaluate/generate.py` (computed on Captum's attribution of the same input).
#[test]
fn cli_table_matches_quantus() {
    use lrp::preprocess;
    let dir = support::cli::tempdir("evaluate", "quantus");
    let (_, crop) = lrp::assets::portrait_faces()
        .unwrap()
        .into_iter()
        .find(|(n, _)| *n == "astronaut")
        .unwrap();
    let (w, h) = crop.dimensions();
    // The reference inputs are this crop through each model's preprocessing.
    for name in ["gender", "age"] {
        let c = case(name);
        let model = match name {
            "gender" => lrp::model::Model::gender().unwrap(),
            _ => lrp::model::Model::age().unwrap(),
        };
        let x = preprocess::to_tensor(std::slice::from_ref(&crop), &model.preprocess).unwrap();
        let err = x
            .iter()
            .zip(c.x.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            err < 1e-6,
            "{name}: the crop is not the reference input ({err})"
        );
        assert_eq!(
            model.preprocess.input_region(w, h),
            [0.0, 0.0, w as f64, h as f64]
        );
    }
    lrp::heatmap::save_png(&crop, dir.join("astronaut.png")).unwrap();
    // The mask rectangle of the references (rows H/4..3H/4, columns 3W/8..5W/8 of the network
    // input, the same share for both models) at the crop's size: a crop pixel is inside when
    // the network pixel it falls in is; the command samples it at the network pixels'
    // centres: checked here to give back each model's reference mask.
    let m32 = npy::<u8>("gender_mask");
    let (mh, mw) = (m32.shape()[0], m32.shape()[1]);
    let inside =
        |x: u32, y: u32| m32[[y as usize * mh / h as usize, x as usize * mw / w as usize]] != 0;
    for name in ["gender", "age"] {
        let want = npy::<u8>(&format!("{name}_mask"));
        let (n, k) = (want.shape()[0], want.shape()[1]);
        for (i, j) in (0..n).flat_map(|i| (0..k).map(move |j| (i, j))) {
            let y = ((i as f64 + 0.5) * h as f64 / n as f64) as u32;
            let x = ((j as f64 + 0.5) * w as f64 / k as f64) as u32;
            assert_eq!(
                inside(x, y),
                want[[i, j]] != 0,
                "{name} mask at {i},{j} ({w}×{h} crop)"
            );
        }
    }
    let mask = image::RgbImage::from_fn(w, h, |x, y| {
        let v = if inside(x, y) { 255 } else { 0 };
        image::Rgb([v, v, v])
    });
    std::fs::create_dir_all(dir.join("masks")).unwrap();
    mask.save(dir.join("masks/astronaut_mask.png")).unwrap();
    let o = support::cli::lrp(
        &[
            "evaluate",
            "--model",
            "gender-v1",
            "--model",
            "age-v1",
            "--method",
            "gradient-x-input",
            "--image",
            "astronaut.png",
            "--mask",
            "masks",
            "--metric",
            "sparseness,complexity,relevance-mass,relevance-rank,pointing-game",
            "--out",
            "out",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", support::cli::stderr(&o));
    let csv = std::fs::read_to_string(dir.join("out/scores.csv")).unwrap();
    let m = manifest();
    let mut checked = 0;
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (model, metric, value) = (f[0], f[4], f[5].parse::<f32>().unwrap());
        let name = if model == "gender-v1" {
            "gender"
        } else {
            "age"
        };
        let key = match metric {
            "relevance-mass" => "relevance_mass_accuracy",
            "relevance-rank" => "relevance_rank_accuracy",
            "pointing-game" => "pointing_game",
            k => k,
        };
        let r = &m["models"][name];
        assert_eq!(f[3], r["target"].as_u64().unwrap().to_string(), "{line}");
        let tol = if key == "pointing_game" { 0.0 } else { 1e-5 };
        close(
            &format!("cli {name} {metric}"),
            value,
            r[key].as_f64().unwrap(),
            tol,
        );
        checked += 1;
    }
    assert_eq!(checked, 10, "{csv}");
    // The summary ranks the one method first everywhere; the plot and the JSON exist.
    let summary = std::fs::read_to_string(dir.join("out/summary.csv")).unwrap();
    assert!(
        summary.lines().skip(1).all(|l| l.ends_with(",1")),
        "{summary}"
    );
    assert!(image::open(dir.join("out/evaluate.png")).is_ok());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/evaluate.json")).unwrap())
            .unwrap();
    assert_eq!(json["scores"].as_array().unwrap().len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Bad options and masks of `lrp evaluate` are one-line errors naming what is wrong, before
/// anything is explained.
#[test]
fn cli_errors_name_the_option() {
    let dir = support::cli::tempdir("evaluate", "errors");
    lrp::heatmap::save_png(&image::RgbImage::new(40, 30), dir.join("face.png")).unwrap();
    std::fs::create_dir_all(dir.join("m")).unwrap();
    lrp::heatmap::save_png(&image::RgbImage::new(20, 30), dir.join("m/face.png")).unwrap();
    lrp::heatmap::save_png(&image::RgbImage::new(40, 30), dir.join("m/other.png")).unwrap();
    let cases: [(&[&str], &str); 7] = [
        (&["--metric", "gini"], "unknown metric `gini`"),
        (&["--metric", "pointing-game"], "give masks with --mask"),
        (
            &["--metric", "sparseness,sparseness"],
            "sparseness is given twice",
        ),
        (&["--fill", "grey"], "--fill `grey`"),
        (&["--runs", "1"], "--runs 1"),
        (
            &["--image", "face.png", "--mask", "m/other.png"],
            "no mask is named like an image",
        ),
        (
            &["--image", "face.png", "--mask", "m"],
            "20×30 pixels, its image face 40×30",
        ),
    ];
    for (args, want) in cases {
        let mut all = vec!["evaluate", "--model", "gender-v1", "--method", "gradient"];
        all.extend_from_slice(args);
        let o = support::cli::lrp(&all, &dir);
        let err = support::cli::stderr(&o);
        assert!(!o.status.success() && err.contains(want), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Scoring images in parallel changes nothing: the same rows, in the same order, as one at a
/// time (the order of the table is model, method, image).
#[test]
fn parallel_images_score_as_one_at_a_time() {
    use lrp::evaluate::{EvalImage, Evaluation, EvaluationConfig, Metric};
    let models = [lrp::model::Model::gender().unwrap()];
    let methods = vec![vec![Method::Gradient, Method::GradientXInput]];
    let images: Vec<EvalImage> = lrp::compare::faces::portrait_variants()
        .unwrap()
        .into_iter()
        .take(5)
        .map(|(name, image)| EvalImage {
            name,
            image,
            mask: None,
        })
        .collect();
    let run = |at_once| {
        let cfg = EvaluationConfig {
            metrics: vec![
                Metric::Sparseness,
                Metric::PixelFlipping,
                Metric::RandomLogit,
            ],
            images_at_once: Some(at_once),
            ..EvaluationConfig::default()
        };
        Evaluation::run(&models, &methods, &images, &cfg, &mut |_, _| {}).unwrap()
    };
    let (one, four) = (run(1), run(4));
    assert_eq!(one.scores.len(), 10);
    assert_eq!(one.scores, four.scores);
    let names: Vec<&str> = one.scores[..5].iter().map(|s| s.image.as_str()).collect();
    let want: Vec<&str> = images.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, want);
}
