//! The paper's comparison on real trained networks: dlib's gender and age models (`gender-v1`,
//! `age-v1`: 32×32 and 64×64 crops, ResNet-style) against face-api's age/gender network
//! (`face-api-gender`, `face-api-age`: 112×112 crops, depthwise-separable convolutions), on the
//! same faces: the two shipped portraits (their own face boxes) and the four faces the shipped
//! detector finds in `assets/group_photo.jpg`.
//!
//! For each pair (gender, age) one [`Study`] explains both models under both models' default
//! presets (dlib's `epsilon-plus-flat`, face-api's `epsilon-gamma-box`), so that a difference
//! between the models can be told from a difference between the rules. Heatmaps are resampled
//! onto each face crop's frame (each model sees the crop its own way: dlib's squashed to a
//! square, face-api's zero-padded to one), area-averaged onto a 16×16 grid and compared
//! (Pearson, Spearman, cosine, overlap of the top 10%); pixel flipping gives each model ×
//! preset its AOPC, most relevant first against random order (in the model's own output unit:
//! logits for gender and dlib's age classes, years for face-api's age, so compare each row
//! with its own random baseline, not across models).
//!
//! ```text
//! cargo run --release --example dlib_vs_face_api                  # numbers only
//! cargo run --release --example dlib_vs_face_api -- FIGURE.png    # and the figure
//! ```

use lrp::compare::{Study, StudyConfig};
use lrp::composite::Composite;
use lrp::faces::FaceDetector;
use lrp::heatmap::{Cell, Colormap, Figure, Row};
use lrp::model::{Model, FACE_API_PRESET};
use lrp::preprocess::{self, RgbImage};

fn main() -> anyhow::Result<()> {
    let figure_path = std::env::args().nth(1);
    let faces = faces()?;
    let names: Vec<&str> = faces.iter().map(|(n, _)| n.as_str()).collect();
    println!("{} faces: {}", faces.len(), names.join(", "));
    let presets = [
        Composite::preset("epsilon-plus-flat")?,
        Composite::preset(FACE_API_PRESET)?,
    ];
    let cfg = StudyConfig::default();
    let mut columns = Vec::new();
    let mut cells: Vec<Vec<Cell>> = vec![Vec::new(); faces.len()];
    for (what, dlib, face_api) in [
        ("gender", Model::gender()?, Model::face_api_gender()?),
        ("age", Model::age()?, Model::face_api_age()?),
    ] {
        let models = [dlib, face_api];
        let study = Study::run(&models, &presets, &faces, &cfg, &mut |_, _| {})?;
        println!("\n== {what}: {} vs {} ==", models[0].name, models[1].name);
        println!(
            "{:<36} {:>10} {:>11} {:>8}",
            "model · preset", "AOPC MoRF", "AOPC random", "ratio"
        );
        for r in study.aopc_rows() {
            println!(
                "{:<36} {:>10.3} {:>11.3} {:>8.2}",
                format!("{} · {}", r.model, r.preset),
                r.aopc_morf,
                r.aopc_random,
                r.aopc_morf / r.aopc_random
            );
        }
        // Items are model-major: [dlib·ε+flat, dlib·γ-box, face-api·ε+flat, face-api·γ-box].
        println!("similarity (mean over faces, {0}×{0} grid):", cfg.grid);
        for sim in &study.similarities {
            let v = &sim.values;
            println!(
                "  {:<10} dlib·ε+flat vs face-api·γ-box {:>6.3}   same rule: ε+flat {:>6.3}, γ-box {:>6.3}   same model, other rule: dlib {:>6.3}, face-api {:>6.3}",
                sim.metric.name(),
                v[[0, 3]],
                v[[0, 2]],
                v[[1, 3]],
                v[[0, 1]],
                v[[2, 3]]
            );
        }
        // The figure: each model under its own default preset.
        for (item, model, rule) in [(0, &models[0], "ε+flat"), (3, &models[1], "γ-box")] {
            columns.push(format!("{} ({rule})", model.name));
            for (i, (_, crop)) in faces.iter().enumerate() {
                let x = preprocess::to_tensor(std::slice::from_ref(crop), &model.preprocess)?;
                let logits = model.graph.logits(&x)?;
                let text = model.describe(logits.row(0).as_slice().unwrap_or(&[]));
                cells[i].push(Cell::new(study.items[item].maps[i].clone()).label(text));
            }
        }
    }
    if let Some(path) = figure_path {
        let mut figure = Figure::new(columns)
            .colormap(Colormap::from_name("black-firered")?)
            .cell_size(80, 80)
            .font_size(11.0);
        for ((name, crop), row_cells) in faces.iter().zip(cells) {
            let mut row = Row::new(crop.clone()).label(name.clone());
            for c in row_cells {
                row = row.cell(c);
            }
            figure.push_row(row);
        }
        figure.save(&path)?;
        println!("\nfigure: {path}");
    }
    Ok(())
}

/// The shipped portraits' face crops, then the faces the shipped detector finds in the group
/// photo (left to right, as `lrp explain` numbers them).
fn faces() -> anyhow::Result<Vec<(String, RgbImage)>> {
    let mut faces: Vec<(String, RgbImage)> = lrp::assets::portrait_faces()?
        .into_iter()
        .map(|(n, c)| (n.to_string(), c))
        .collect();
    let root = env!("CARGO_MANIFEST_DIR");
    let photo = preprocess::load_rgb(format!("{root}/assets/group_photo.jpg"))?;
    let mut found = FaceDetector::shipped()?.detect(&photo)?;
    found.sort_by(|a, b| a.x.total_cmp(&b.x));
    for (i, d) in found.iter().enumerate() {
        if let Some(b) = d.crop_box(photo.width(), photo.height()) {
            faces.push((
                format!("group_photo_face{}", i + 1),
                preprocess::crop(&photo, b)?,
            ));
        }
    }
    Ok(faces)
}
