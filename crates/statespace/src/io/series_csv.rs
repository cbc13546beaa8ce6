//! Time series stored as CSV: a header, a timestamp column, then one numeric
//! column per channel (the layout of the ETT files in `datasets/ett`).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A multivariate series: `rows` steps of `columns.len()` channels.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesTable {
    /// Channel names, from the header (the timestamp column excluded).
    pub columns: Vec<String>,
    /// Timestamps as written, one per step.
    pub timestamps: Vec<String>,
    /// Values, row-major (steps × channels).
    pub values: Vec<f64>,
}

impl SeriesTable {
    /// Number of steps.
    pub fn rows(&self) -> usize {
        self.timestamps.len()
    }

    /// Index of channel `name`, or an error listing the channels.
    pub fn column(&self, name: &str) -> Result<usize> {
        self.columns.iter().position(|c| c == name).ok_or_else(|| {
            Error::config(
                "task.target",
                format!(
                    "no column `{name}`; the file has {}",
                    self.columns.join(", ")
                ),
            )
        })
    }
}

fn bad(path: &Path, message: String) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        message,
    }
}

/// Reads `path`. Fails naming the file and the row (1-based, the header is
/// row 1) on a missing file, a header without channels, a row of another
/// width, or a value that is not a finite number.
pub fn read_series_csv(path: impl Into<PathBuf>) -> Result<SeriesTable> {
    let path = path.into();
    let reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(&path)
        .map_err(|e| bad(&path, format!("cannot open: {e}")))?;
    parse(reader, &path)
}

/// Parses CSV `text` as [`read_series_csv`] reads a file; `name` stands for
/// the file in errors (an embedded data set's name).
pub fn parse_series_csv(text: &str, name: &str) -> Result<SeriesTable> {
    let reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    parse(reader, Path::new(name))
}

fn parse<R: std::io::Read>(mut reader: csv::Reader<R>, path: &Path) -> Result<SeriesTable> {
    let header = reader
        .headers()
        .map_err(|e| bad(path, format!("row 1 (header): {e}")))?
        .clone();
    if header.len() < 2 {
        return Err(bad(
            path,
            "row 1 (header): needs a timestamp column and at least one channel".into(),
        ));
    }
    let columns: Vec<String> = header.iter().skip(1).map(str::to_string).collect();
    let mut timestamps = Vec::new();
    let mut values = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let row = i + 2;
        let record = record.map_err(|e| bad(path, format!("row {row}: {e}")))?;
        if record.len() != header.len() {
            return Err(bad(
                path,
                format!(
                    "row {row}: {} fields, the header has {}",
                    record.len(),
                    header.len()
                ),
            ));
        }
        timestamps.push(record[0].to_string());
        for (column, field) in columns.iter().zip(record.iter().skip(1)) {
            let value: f64 = field
                .trim()
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(|| {
                    bad(
                        path,
                        format!("row {row}, column {column}: `{field}` is not a finite number"),
                    )
                })?;
            values.push(value);
        }
    }
    if timestamps.is_empty() {
        return Err(bad(path, "no data rows after the header".into()));
    }
    Ok(SeriesTable {
        columns,
        timestamps,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("series_csv_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn reads_the_ett_files() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/ett");
        for name in ["ETTh1.csv", "ETTh2.csv"] {
            let table = read_series_csv(root.join(name)).unwrap();
            assert_eq!(
                table.columns,
                ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
            );
            assert_eq!(table.rows(), 17420);
            assert_eq!(table.timestamps[0], "2016-07-01 00:00:00");
            assert_eq!(table.values.len(), 17420 * 7);
        }
    }

    #[test]
    fn bad_rows_are_named() {
        let ragged = write("ragged.csv", "date,a,b\nt0,1,2\nt1,3\n");
        let err = read_series_csv(&ragged).unwrap_err().to_string();
        assert!(err.contains("row 3"), "{err}");
        let text = write("text.csv", "date,a\nt0,1\nt1,x\n");
        let err = read_series_csv(&text).unwrap_err().to_string();
        assert!(
            err.contains("row 3, column a") && err.contains("`x`"),
            "{err}"
        );
        let nan = write("nan.csv", "date,a\nt0,NaN\n");
        assert!(
            read_series_csv(&nan)
                .unwrap_err()
                .to_string()
                .contains("row 2")
        );
        let empty = write("empty.csv", "date,a\n");
        assert!(
            read_series_csv(&empty)
                .unwrap_err()
                .to_string()
                .contains("no data rows")
        );
        assert!(read_series_csv(write("nochan.csv", "date\nt0\n")).is_err());
        assert!(
            read_series_csv("/nonexistent/x.csv")
                .unwrap_err()
                .to_string()
                .contains("cannot open")
        );
    }
}
