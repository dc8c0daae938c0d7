//! Unit tests of the evaluation table: summary, ranks, CSV, configuration checks.

use super::*;
use crate::heatmap::Colormap;

fn row(method: &str, image: &str, values: [f32; 2]) -> ImageScores {
    ImageScores {
        model: "m".into(),
        method: method.into(),
        image: image.into(),
        class: 1,
        values: values.to_vec(),
        mprt: Vec::new(),
        all_zero: false,
    }
}

fn table() -> Evaluation {
    let config = EvaluationConfig {
        metrics: vec![Metric::Sparseness, Metric::Complexity],
        ..EvaluationConfig::default()
    };
    Evaluation {
        columns: config.columns(),
        config,
        scores: vec![
            row("a", "x", [0.2, 1.0]),
            row("a", "y", [0.4, f32::NAN]),
            row("b,c", "x", [0.6, 2.0]),
            row("b,c", "y", [0.6, 2.0]),
        ],
    }
}

#[test]
fn summary_means_and_ranks_by_direction() {
    let s = table().summary();
    let find = |m: &str, c: &str| s.iter().find(|r| r.method == m && r.metric == c).unwrap();
    // Sparseness: higher is better; a's mean 0.3 (std 0.1) ranks below b's 0.6.
    let a = find("a", "sparseness");
    assert!((a.mean - 0.3).abs() < 1e-6 && (a.std - 0.1).abs() < 1e-6);
    assert_eq!((a.n, a.rank), (2, Some(2)));
    assert_eq!(find("b,c", "sparseness").rank, Some(1));
    // Complexity: lower is better; the NaN image is left out of a's mean.
    let a = find("a", "complexity");
    assert_eq!((a.mean, a.n, a.rank), (1.0, 1, Some(1)));
    assert_eq!(find("b,c", "complexity").rank, Some(2));
    let ranks = table().mean_ranks();
    assert_eq!(ranks.iter().map(|r| r.2).collect::<Vec<_>>(), [1.5, 1.5]);
    // Equal means share a rank.
    let mut t = table();
    t.scores[2].values[0] = 0.3;
    t.scores[3].values[0] = 0.3;
    let s = t.summary();
    assert!(s
        .iter()
        .filter(|r| r.metric == "sparseness")
        .all(|r| r.rank == Some(1)));
}

#[test]
fn csv_quotes_names_and_leaves_nan_empty() {
    let t = table();
    let csv = t.scores_csv().unwrap();
    assert!(csv.contains("m,a,y,1,complexity,\n"), "{csv}");
    assert!(csv.contains("m,\"b,c\",x,1,sparseness,0.6\n"), "{csv}");
    let s = t.summary_csv().unwrap();
    assert!(s.starts_with("model,method,metric,higher_is_better,mean,std,n,rank\n"));
    assert!(s.contains("m,a,complexity,false,1,0,1,1\n"), "{s}");
    assert!(t.plot(&Colormap::from_name("rd-yl-gn").unwrap()).is_ok());
}

#[test]
fn bad_configurations_are_errors() {
    let ok = EvaluationConfig::default();
    assert!(ok.validate().is_ok());
    assert!(!ok.metrics.iter().any(Metric::needs_mask));
    for bad in [
        EvaluationConfig {
            metrics: vec![],
            ..ok.clone()
        },
        EvaluationConfig {
            metrics: vec![Metric::Mprt, Metric::Mprt],
            ..ok.clone()
        },
        EvaluationConfig {
            flip_steps: 0,
            ..ok.clone()
        },
        EvaluationConfig {
            runs: 1,
            ..ok.clone()
        },
        EvaluationConfig {
            subset_size: 0,
            ..ok.clone()
        },
        EvaluationConfig {
            images_at_once: Some(0),
            ..ok.clone()
        },
        EvaluationConfig {
            target: Target::All,
            ..ok.clone()
        },
    ] {
        assert!(matches!(bad.validate(), Err(Error::Invalid(_))), "{bad:?}");
    }
}
