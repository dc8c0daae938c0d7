//! Writing results: JSON through `serde_json`, CSV through the `csv` crate, every error naming
//! the file.
//!
//! ```
//! #[derive(serde::Serialize)]
//! struct Row { model: String, aopc: f32 }
//! let rows = [Row { model: "a,b".into(), aopc: 0.5 }];
//! assert_eq!(lrp::compare::output::csv_string(&rows).unwrap(), "model,aopc\n\"a,b\",0.5\n");
//! ```

use crate::error::{Error, Result};
use serde::{Serialize, Serializer};
use std::path::Path;

fn write_error(path: &Path, source: std::io::Error) -> Error {
    Error::Write {
        file: path.display().to_string(),
        source,
    }
}

/// Writes `value` as pretty-printed JSON (NaN and infinities become `null`) with a final
/// line break.
pub fn write_json<T: Serialize + ?Sized>(path: impl AsRef<Path>, value: &T) -> Result<()> {
    let path = path.as_ref();
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| write_error(path, std::io::Error::other(e)))?;
    text.push('\n');
    write_text(path, &text)
}

/// CSV text of `rows`: a header from the field names of the first row, then one line per row.
pub fn csv_string<R: Serialize>(rows: impl IntoIterator<Item = R>) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for row in rows {
        w.serialize(row)
            .map_err(|e| Error::Compare(format!("CSV row: {e}")))?;
    }
    csv_finish(w)
}

/// CSV text of records given field by field (for tables whose columns are data, such as a
/// similarity matrix).
pub fn csv_records<I, R, F>(records: I) -> Result<String>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator<Item = F>,
    F: AsRef<[u8]>,
{
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in records {
        w.write_record(r)
            .map_err(|e| Error::Compare(format!("CSV record: {e}")))?;
    }
    csv_finish(w)
}

fn csv_finish(w: csv::Writer<Vec<u8>>) -> Result<String> {
    let bytes = w
        .into_inner()
        .map_err(|e| Error::Compare(format!("CSV: {e}")))?;
    String::from_utf8(bytes).map_err(|e| Error::Compare(format!("CSV: {e}")))
}

/// Writes [`csv_string`] of `rows` to `path`.
pub fn write_csv<R: Serialize>(
    path: impl AsRef<Path>,
    rows: impl IntoIterator<Item = R>,
) -> Result<()> {
    write_text(path, &csv_string(rows)?)
}

/// A CSV field: quoted when it holds a comma, quote or line break.
///
/// ```
/// assert_eq!(lrp::compare::csv_field("a,b"), "\"a,b\"");
/// ```
pub fn csv_field(s: &str) -> String {
    csv_records([[s]]).map_or_else(|_| s.to_string(), |t| t.trim_end_matches('\n').to_string())
}

/// Writes `text` to `path`, naming the file in the error.
pub fn write_text(path: impl AsRef<Path>, text: &str) -> Result<()> {
    let path = path.as_ref();
    std::fs::write(path, text).map_err(|source| write_error(path, source))
}

/// Serialises a number with 4 decimals (`0.1235`), as the CSV tables show them.
pub(crate) fn decimals4<S: Serializer>(v: &f32, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{v:.4}"))
}

/// Serialises a number with 5 decimals.
pub(crate) fn decimals5<S: Serializer>(v: &f32, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{v:.5}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_csv_escaping() {
        assert_eq!(
            serde_json::to_string("a\"b\\c\n").unwrap(),
            "\"a\\\"b\\\\c\\n\""
        );
        assert_eq!(serde_json::to_string(&f32::NAN).unwrap(), "null");
        assert_eq!(serde_json::to_string(&0.5f32).unwrap(), "0.5");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("x"), "x");
    }
}
