//! The files of an [`Evaluation`]: its scores and summary as CSV, its table as an image.

use super::Evaluation;
use crate::compare::output::csv_records;
use crate::compare::plot::table_image;
use crate::error::Result;
use crate::heatmap::Colormap;
use crate::preprocess::RgbImage;
use ndarray::Array2;

impl Evaluation {
    /// Every score: `model,method,image,class,metric,value`, one line per image × column
    /// (NaN as an empty value).
    ///
    /// Errors: [`Error::Compare`](crate::error::Error::Compare) if the CSV writer fails.
    pub fn scores_csv(&self) -> Result<String> {
        let head = ["model", "method", "image", "class", "metric", "value"].map(String::from);
        let rows = self.scores.iter().flat_map(|r| {
            self.columns.iter().zip(&r.values).map(|(c, v)| {
                [
                    r.model.clone(),
                    r.method.clone(),
                    r.image.clone(),
                    r.class.to_string(),
                    c.name.to_string(),
                    number(*v),
                ]
            })
        });
        csv_records(std::iter::once(head).chain(rows))
    }

    /// The summary: `model,method,metric,higher_is_better,mean,std,n,rank`.
    ///
    /// Errors: [`Error::Compare`](crate::error::Error::Compare) if the CSV writer fails.
    pub fn summary_csv(&self) -> Result<String> {
        let head = [
            "model",
            "method",
            "metric",
            "higher_is_better",
            "mean",
            "std",
            "n",
            "rank",
        ]
        .map(String::from);
        let rows = self.summary().into_iter().map(|r| {
            [
                r.model,
                r.method,
                r.metric.to_string(),
                r.higher_is_better.to_string(),
                number(r.mean),
                number(r.std),
                r.n.to_string(),
                r.rank.map_or(String::new(), |k| k.to_string()),
            ]
        });
        csv_records(std::iter::once(head).chain(rows))
    }

    /// The table as an image: one row per model × method, one column per metric column and
    /// the mean rank; each cell shows the mean and is coloured by the method's standing
    /// among the methods of its model (`cmap` at 1 for the best, −1 for the worst).
    ///
    /// Errors: those of [`table_image`].
    pub fn plot(&self, cmap: &Colormap) -> Result<RgbImage> {
        let pairs = self.pairs();
        let summary = self.summary();
        let ranks = self.mean_ranks();
        let m = self.columns.len() + 1;
        let mut text = Array2::from_elem((pairs.len(), m), String::new());
        let mut colour = Array2::from_elem((pairs.len(), m), f32::NAN);
        let methods_of = |model: &str| pairs.iter().filter(|(mo, _)| mo == model).count();
        let standing = |rank: f32, k: usize| {
            if k <= 1 {
                1.0
            } else {
                1.0 - 2.0 * (rank - 1.0) / (k as f32 - 1.0)
            }
        };
        for (i, (model, method)) in pairs.iter().enumerate() {
            let k = methods_of(model);
            for (j, col) in self.columns.iter().enumerate() {
                let r = summary
                    .iter()
                    .find(|s| &s.model == model && &s.method == method && s.metric == col.name);
                if let Some(r) = r.filter(|r| !r.mean.is_nan()) {
                    text[[i, j]] = format!("{:.3}", r.mean);
                    colour[[i, j]] = r.rank.map_or(f32::NAN, |k2| standing(k2 as f32, k));
                } else {
                    text[[i, j]] = "–".into();
                }
            }
            let mr = ranks[i].2;
            if mr.is_nan() {
                text[[i, m - 1]] = "–".into();
            } else {
                text[[i, m - 1]] = format!("{mr:.1}");
                // Best and worst mean rank of the model's methods span the colours.
                let (lo, hi) = ranks
                    .iter()
                    .filter(|r| &r.0 == model && !r.2.is_nan())
                    .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), r| {
                        (a.min(r.2), b.max(r.2))
                    });
                colour[[i, m - 1]] = if hi > lo {
                    1.0 - 2.0 * (mr - lo) / (hi - lo)
                } else {
                    1.0
                };
            }
        }
        let rows: Vec<String> = pairs.iter().map(|(a, b)| format!("{a} · {b}")).collect();
        let mut columns: Vec<String> = self
            .columns
            .iter()
            .map(|c| {
                let arrow = if c.higher_is_better { "↑" } else { "↓" };
                format!("{}\n{arrow}", header(c.name))
            })
            .collect();
        columns.push("mean\nrank\n↓".into());
        let title = format!(
            "Explanation quality on {} image(s): mean per model · method (colour: rank among the model's methods)",
            self.scores.iter().map(|s| s.image.as_str()).collect::<std::collections::HashSet<_>>().len()
        );
        table_image(&title, &rows, &columns, &text, &colour, cmap)
    }
}

/// A column name broken into lines of at most ~12 characters at its dashes.
fn header(name: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for part in name.split('-') {
        match lines.last_mut() {
            Some(l) if l.len() + 1 + part.len() <= 12 => {
                l.push('-');
                l.push_str(part);
            }
            _ => lines.push(part.to_string()),
        }
    }
    lines.join("\n")
}

/// A finite number as it is, NaN as an empty field.
fn number(v: f32) -> String {
    if v.is_finite() {
        v.to_string()
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::header;

    #[test]
    fn headers_break_at_dashes() {
        assert_eq!(
            header("faithfulness-correlation"),
            "faithfulness\ncorrelation"
        );
        assert_eq!(header("pixel-flipping-morf"), "pixel\nflipping\nmorf");
        assert_eq!(header("random-logit"), "random-logit");
    }
}
