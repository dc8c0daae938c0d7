//! Per-layer rules through the library: start from a preset, override layers by index, kind
//! and name, and read the conservation report.
//!
//! `cargo run --release --example custom_rules`

use lrp::composite::{Composite, Selector};
use lrp::explain::{Explainer, Target};
use lrp::model::Model;
use lrp::preprocess;
use lrp::rules::{Convention, Rule, RuleSpec};

fn main() -> anyhow::Result<()> {
    let model = Model::gender()?;
    let (_, face) = lrp::assets::portrait_faces()?.remove(0);
    let x = preprocess::to_tensor(&[face], &model.preprocess)?;

    // ε everywhere, then: z⁺ on every convolution, flat on the first linear layer (#0), and
    // the paper's ε = 0.1 on the last dense layer, found by name.
    let last_dense = model
        .graph
        .nodes()
        .iter()
        .rev()
        .find(|n| n.op.kind() == "Dense")
        .map(|n| n.name.clone())
        .expect("the gender model ends with a dense layer");
    let composite = Composite::preset("epsilon")?
        .with_override(
            Selector::Kind("Conv".into()),
            RuleSpec::new(Rule::ZPlus, Convention::Modern),
        )
        .with_override(Selector::Index(0), "flat".parse()?)
        .with_override(Selector::Name(last_dense), "epsilon:0.1@paper".parse()?);
    let explainer = Explainer::new(model.graph.clone(), &composite)?;
    for (layer, rule) in explainer.rule_names() {
        if let Some(rule) = rule {
            println!("{layer:<28} {rule}");
        }
    }
    let e = explainer.explain(&x, &Target::Predicted)?;
    let class = e.targets[0][0];
    println!(
        "\nexplaining `{}` (logit {:.4})",
        model.label(class),
        e.logits[[0, class]]
    );
    println!("{:<28} {:>12} {:>12}", "layer", "R in", "R out");
    for c in &e.conservation {
        println!(
            "{:<28} {:>12.5} {:>12.5}",
            c.node, c.relevance_out[0], c.relevance_in[0]
        );
    }
    println!("input relevance sums to {:.5}", e.input_sum(0));
    Ok(())
}
