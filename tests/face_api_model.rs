//! face-api's age/gender network, shipped as `face-api-age` and `face-api-gender`, against its
//! references:
//!
//! - preprocessing: bit-identical to face-api's numpy port (`preprocess.py` of
//!   ../shared/models/face-api, itself bit-identical to the tensor face-api's JavaScript builds)
//!   on four crops of the shipped portraits (`tests/data/face_api_model/*_input.npy`, written by
//!   tests/face_api_model/generate.py);
//! - outputs: the ages and gender logits face-api's JavaScript computed (tfjs 4.22.0, cpu
//!   backend; ../shared/models/face-api/reference/js_age_gender.json) on the eight crops of the
//!   portraits listed in samples.json there, the whole pipeline (decode, crop, preprocess,
//!   forward) run by us; and onnxruntime 1.32.0 on the stored inputs (outputs.json);
//! - relevance: Zennit 1.0.0's EpsilonPlusFlat in float64 on the same weights (generate.py).

use lrp::composite::Composite;
use lrp::explain::{Explainer, Target};
use lrp::model::Model;
use lrp::preprocess::{crop, decode_rgb, FaceBox, Preprocess};
use ndarray::{Array2, ArrayD, Axis};
use ndarray_npy::read_npy;
use serde_json::Value;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/face_api_model");
const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/models/face-api");

fn json(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A shipped portrait as PIL decodes it: the references were computed on PIL's pixels, and
/// JPEG decoders differ by a grey level here and there, so Grace Hopper is read from PIL's
/// decoding of it (tests/data/face_api/grace_hopper_pil.png, from tests/face_api/generate.py).
fn portrait(image: &str) -> lrp::preprocess::RgbImage {
    match image {
        "astronaut" | "astronaut.png" => decode_rgb(lrp::assets::ASTRONAUT_PNG, image).unwrap(),
        "grace_hopper" | "grace_hopper.jpg" => lrp::preprocess::load_rgb(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/face_api/grace_hopper_pil.png"
        ))
        .unwrap(),
        other => panic!("no shipped image {other}"),
    }
}

/// The crop of face-api's box `[x, y, w, h]` (`null`: the whole image).
fn face(image: &str, b: &Value) -> lrp::preprocess::RgbImage {
    let img = portrait(image);
    match b.as_array() {
        None => img,
        Some(v) => {
            let v: Vec<i64> = v.iter().map(|x| x.as_i64().unwrap()).collect();
            crop(&img, FaceBox::new(v[0], v[1], v[0] + v[2], v[1] + v[3])).unwrap()
        }
    }
}

#[test]
fn preprocessing_is_bit_identical_to_face_apis() {
    let outputs = json(&format!("{DATA}/outputs.json"));
    let crops = outputs["crops"].as_object().unwrap();
    assert_eq!(crops.len(), 4);
    for (name, c) in crops {
        let x = Preprocess::face_api(112)
            .apply(&face(c["image"].as_str().unwrap(), &c["box"]))
            .unwrap();
        let want: ArrayD<f32> = read_npy(format!("{DATA}/{name}_input.npy")).unwrap();
        assert_eq!(x.into_dyn(), want.index_axis(Axis(0), 0), "{name}");
    }
}

/// Max |a − b| / max |b|.
fn rel_err(a: &[f32], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0f64, |m, v| m.max(v.abs()));
    let worst = a
        .iter()
        .zip(b)
        .fold(0f64, |m, (x, y)| m.max((f64::from(*x) - y).abs()));
    worst / scale
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn outputs(model: &Model, faces: &[lrp::preprocess::RgbImage]) -> Array2<f32> {
    let x = lrp::preprocess::to_tensor(faces, &model.preprocess).unwrap();
    model.graph.logits(&x).unwrap()
}

#[test]
fn outputs_match_face_apis_javascript() {
    let samples = json(&format!("{SHARED}/reference/samples.json"));
    let js = json(&format!("{SHARED}/reference/js_age_gender.json"));
    let (age, gender) = (
        Model::face_api_age().unwrap(),
        Model::face_api_gender().unwrap(),
    );
    let mut checked = 0;
    for s in samples["age_gender_samples"].as_array().unwrap() {
        let image = s["image"].as_str().unwrap();
        if image == "noise" {
            continue; // numpy's RandomState noise: not reproduced here
        }
        let name = s["name"].as_str().unwrap();
        let f = [face(image, &s["box"])];
        let want = js["samples"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["name"] == s["name"])
            .unwrap();
        // The README there measured ONNX (onnxruntime) against the JavaScript at 3.9e-7
        // (age) and 5.4e-6 (logits, per element) relative; our float32 sums differ in order.
        let a = outputs(&age, &f);
        let e = rel_err(a.as_slice().unwrap(), &numbers(&want["age"]));
        assert!(e < 1e-5, "{name}: age {a} vs JavaScript: {e}");
        let g = outputs(&gender, &f);
        let e = rel_err(g.as_slice().unwrap(), &numbers(&want["gender_logits"]));
        assert!(e < 2e-5, "{name}: gender logits {g} vs JavaScript: {e}");
        checked += 1;
    }
    assert_eq!(checked, 8);
}

#[test]
fn outputs_match_onnxruntime() {
    let outputs_json = json(&format!("{DATA}/outputs.json"));
    let (age, gender) = (
        Model::face_api_age().unwrap(),
        Model::face_api_gender().unwrap(),
    );
    for (name, c) in outputs_json["crops"].as_object().unwrap() {
        let x: ArrayD<f32> = read_npy(format!("{DATA}/{name}_input.npy")).unwrap();
        let a = age.graph.logits(&x).unwrap();
        let e = rel_err(a.as_slice().unwrap(), &[c["age"].as_f64().unwrap()]);
        assert!(e < 1e-5, "{name}: age {a} vs onnxruntime: {e}");
        let g = gender.graph.logits(&x).unwrap();
        let e = rel_err(g.as_slice().unwrap(), &numbers(&c["gender_logits"]));
        assert!(e < 2e-5, "{name}: gender logits {g} vs onnxruntime: {e}");
    }
}

/// Explains every crop of outputs.json that has a Zennit reference under `preset` (its key in
/// outputs.json and the file names: `<crop>_<output>_<key>.npy`) for both outputs, checks the
/// predicted class against Zennit's, and hands `check` the crop, the output, its metadata, our
/// relevance (`[3, 112, 112]`) and Zennit's. Returns how many were checked.
fn each_zennit_reference(
    preset: &str,
    key: &str,
    mut check: impl FnMut(&str, &str, &Value, ArrayD<f32>, ArrayD<f32>),
) -> usize {
    let outputs_json = json(&format!("{DATA}/outputs.json"));
    let comp = Composite::preset(preset).unwrap();
    let mut checked = 0;
    for (name, c) in outputs_json["crops"].as_object().unwrap() {
        for (output, model) in [
            ("age", Model::face_api_age().unwrap()),
            ("gender_logits", Model::face_api_gender().unwrap()),
        ] {
            let Some(meta) = c.get(format!("{output}_{key}")) else {
                continue;
            };
            let x: ArrayD<f32> = read_npy(format!("{DATA}/{name}_input.npy")).unwrap();
            let want: ArrayD<f32> = read_npy(format!("{DATA}/{name}_{output}_{key}.npy")).unwrap();
            let e = Explainer::new(model.graph.clone(), &comp)
                .unwrap()
                .explain(&x, &Target::Predicted)
                .unwrap();
            assert_eq!(
                e.targets[0],
                vec![meta["target"].as_u64().unwrap() as usize]
            );
            let r = e
                .relevance
                .index_axis(Axis(0), 0)
                .index_axis(Axis(0), 0)
                .as_standard_layout()
                .into_owned()
                .into_dyn();
            check(name, output, meta, r, want);
            checked += 1;
        }
    }
    checked
}

/// EpsilonPlusFlat against Zennit's float64 result. The rules are ill-conditioned on this
/// network in float32: Zennit's own float32 run lands 0.7e-3 to 3.2e-3 of max|R| away from its
/// float64 one (`zennit_float32_vs_float64_rel` in outputs.json), so two float32
/// implementations cannot meet 1e-4 here; we measured 1.9e-4 to 2.0e-3 and require 4e-3, and
/// the relevance sums within 5e-3 of the seeded output. Before the padding was placed inside the stem's
/// rule the error was 1.7e-2 at the bottom and right borders: this test separates the two.
///
/// Where the ill-conditioning comes from (measured layer by layer against Zennit's float64
/// relevance at every module's output): the proportional rule of the residual additions
/// (Zennit's Norm on `Sum`), `R_i = a_i R / (a + b)`, at `/middle.1/Add`, where the two
/// branches nearly cancel under the z⁺ rule's large relevance. On `grace_hopper_face`, channel
/// 30 at (8, 8): −2.8221 + 2.8226 = 4.4e-4 in float64, a condition number (|a| + |b|) / |a + b|
/// of 1.3e4; the Add sends ±26 into its two branches for 0.13 at its output (×195), and the
/// two cancel again on the way down (0.07 at the input). A float32 forward pass gets that sum
/// only to about κ times its rounding of the branches: 4.1e-4 relative for lrp's, 2.3e-3 for
/// torch's, and the input maps inherit it (3.9e-4 and 2.2e-3 of max|R| from float64). The
/// other crops' worst Adds are the same layer (κ 9.8e3 on `astronaut_face`, 2.3e3 on
/// `grace_hopper_full`; lrp's error on z there 3.5e-3 and 6.8e-4, the maps 1.8e-3 to 2.0e-3
/// and 1.9e-4 to 2.9e-4 from float64). Max-pool near-ties (generate.py, point 6) are not
/// what limits this preset: on `grace_hopper_face`, switching any of them moves the maps by at
/// most 5.7e-5 of max|R| and brings ours no closer than 3.5e-4.
#[test]
fn relevance_matches_zennit_epsilon_plus_flat() {
    let checked = each_zennit_reference(
        "epsilon-plus-flat",
        "epsilon_plus_flat",
        |name, output, meta, r, want| {
            // The flat first layer gives the three channels of a pixel the same relevance.
            for ch in 1..3 {
                assert_eq!(r.index_axis(Axis(0), ch), r.index_axis(Axis(0), 0));
            }
            let got = r.index_axis(Axis(0), 0);
            let want64: Vec<f64> = want.iter().map(|v| f64::from(*v)).collect();
            let err = rel_err(got.as_slice().unwrap(), &want64);
            assert!(
                err < 4e-3,
                "{name} {output}: max |ours − Zennit| / max|R| = {err}"
            );
            let sum = f64::from(r.sum());
            let want_sum = meta["relevance_sum"].as_f64().unwrap();
            let seeded = meta["seeded"].as_f64().unwrap();
            assert!(
                (sum - want_sum).abs() < 5e-3 * seeded.abs(),
                "{name} {output}: relevance sum {sum} vs Zennit {want_sum}"
            );
        },
    );
    assert_eq!(checked, 6);
}

/// The family's default composite, `epsilon-gamma-box`, against Zennit's EpsilonGammaBox in
/// float64 (generate.py, point 5: ZBox on the stem convolution with the input's per-channel
/// extremes as bounds, as lrp takes them from a batch of one; Gamma(0.25) on every other
/// convolution; Epsilon on the heads; ε = stabiliser = 1e-6), to the 1e-4 of max|R|,
/// on all three channels (zᴮ gives each its own relevance). We measured 7.7e-7 to 3.0e-6.
///
/// One choice is not float32's to make reliably: a max-pool window whose two largest inputs
/// are closer than float32's forward error (generate.py, point 6). On `grace_hopper_face` the
/// exit block's pooling has one (channel 25: −4.3262444 against −4.3262500 in float64, 5.6e-6
/// apart, while both float32 forward passes are up to 4e-5 off there, lrp's and torch's
/// alike); lrp's float32 forward picks the runner-up, torch's float32 forward float64's
/// winner, and the window's relevance goes to one or the other input: 3.9e-4 (age) and 6.1e-4
/// (gender) of max|R| on the input map, the relevance sums within 6e-6. So the reference is
/// the float64 map with any set of its near-ties switched to the runner-up (the map plus their
/// stored changes; all float64, Zennit's rules): we take the closest, and report which.
/// Measured: every map within 3.0e-6 of the float64 map itself, except `grace_hopper_face`,
/// within 8.5e-7 (age) and 1.3e-6 (gender) of it with the exit block's near-tie switched.
#[test]
fn relevance_matches_zennit_epsilon_gamma_box() {
    let checked = each_zennit_reference(
        "epsilon-gamma-box",
        "epsilon_gamma_box",
        |name, output, meta, r, want| {
            assert_eq!(want.shape(), &[3, 112, 112]);
            let want64: Vec<f64> = want.iter().map(|v| f64::from(*v)).collect();
            let ties = near_tie_changes(meta);
            let (err, switched) = closest_with_ties(r.as_slice().unwrap(), &want64, &ties);
            eprintln!(
                "{name} {output}: epsilon-gamma-box, max |ours − Zennit| / max|R| = {err:.2e} \
                 (near-ties switched: {switched:?} of {}; none switched: {:.2e})",
                ties.len(),
                rel_err(r.as_slice().unwrap(), &want64)
            );
            assert!(
                err <= 1e-4,
                "{name} {output}: max |ours − Zennit| / max|R| = {err}"
            );
            let sum = f64::from(r.sum());
            let want_sum = meta["relevance_sum"].as_f64().unwrap();
            let seeded = meta["seeded"].as_f64().unwrap();
            assert!(
                (sum - want_sum).abs() <= 1e-4 * want_sum.abs().max(seeded.abs()),
                "{name} {output}: relevance sum {sum} vs Zennit {want_sum}"
            );
        },
    );
    assert_eq!(checked, 6);
}

/// The stored changes of a reference map when one of its max-pool near-ties picks the
/// runner-up (`near_ties` in outputs.json, generate.py point 6), each spread over the whole
/// `[3, 112, 112]` map.
fn near_tie_changes(meta: &Value) -> Vec<Vec<f64>> {
    let ties = meta["near_ties"].as_array().unwrap();
    assert!(
        ties.len() <= 6,
        "{} near-ties: too many sets to try",
        ties.len()
    );
    ties.iter()
        .map(|t| {
            let d: ArrayD<f32> =
                read_npy(format!("{DATA}/{}", t["file"].as_str().unwrap())).unwrap();
            let (r0, c0) = (
                t["offset"][0].as_u64().unwrap() as usize,
                t["offset"][1].as_u64().unwrap() as usize,
            );
            let mut full = vec![0f64; 3 * 112 * 112];
            for ((ch, i, j), v) in d
                .into_dimensionality::<ndarray::Ix3>()
                .unwrap()
                .indexed_iter()
            {
                full[(ch * 112 + r0 + i) * 112 + c0 + j] = f64::from(*v);
            }
            full
        })
        .collect()
}

/// The smallest max |ours − reference| / max|R| over the references `want` plus any subset
/// of `ties` (the near-ties switched), and that subset (indices into `ties`).
fn closest_with_ties(ours: &[f32], want: &[f64], ties: &[Vec<f64>]) -> (f64, Vec<usize>) {
    (0..1usize << ties.len())
        .map(|set| {
            let picked: Vec<usize> = (0..ties.len()).filter(|t| set >> t & 1 == 1).collect();
            let mut reference = want.to_vec();
            for &t in &picked {
                reference
                    .iter_mut()
                    .zip(&ties[t])
                    .for_each(|(a, d)| *a += d);
            }
            (rel_err(ours, &reference), picked)
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap()
}

/// The family's default preset is `epsilon-gamma-box` (the README's pixel-flipping table chose
/// it), and `lrp info` reports it as the rules it shows and as the model's default presets.
#[test]
fn face_api_default_preset_is_epsilon_gamma_box_and_info_reports_it() {
    for name in ["face-api-age", "face-api-gender"] {
        let m = Model::shipped(name).unwrap();
        assert_eq!(m.presets, [lrp::model::FACE_API_PRESET]);
        assert_eq!(lrp::model::FACE_API_PRESET, "epsilon-gamma-box");
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_lrp"))
            .args(["info", name, "--json"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let info: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(info[0]["model"], name);
        assert_eq!(info[0]["preset"], "epsilon-gamma-box");
        assert_eq!(
            info[0]["default_presets"],
            serde_json::json!(["epsilon-gamma-box"])
        );
        // The rules shown are that preset's: zᴮ on the stem convolution, γ on the others.
        let rules: Vec<&str> = info[0]["layers"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|l| l["rule"].as_str())
            .collect();
        assert!(rules.iter().any(|r| r.starts_with("zbox")), "{rules:?}");
        assert!(rules.iter().any(|r| r.starts_with("gamma")), "{rules:?}");
        assert!(!rules.iter().any(|r| r.starts_with("flat")), "{rules:?}");
    }
    // The dlib models keep theirs.
    assert_eq!(
        Model::shipped("gender-v1").unwrap().presets,
        lrp::model::DEFAULT_PRESETS
    );
}
