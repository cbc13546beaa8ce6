//! Classification series in the `.ts` format of the UCR/UEA archive (as
//! sktime and aeon ship them): `#` comments, `@` header lines
//! (`@problemName`, `@dimensions`, `@classLabel true <labels…>`, …), then
//! after `@data` one series per line: each dimension's values separated by
//! commas, dimensions separated by `:`, the class label last.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The series of one `.ts` file.
#[derive(Debug, Clone, PartialEq)]
pub struct TsFile {
    /// `@problemName`.
    pub name: String,
    /// The class labels in their `@classLabel` order (the class index of a
    /// series is its label's position here).
    pub labels: Vec<String>,
    /// Dimensions (channels) per step.
    pub dimensions: usize,
    /// The series: values (len × dimensions, row-major), len, class index.
    pub series: Vec<TsSeries>,
}

/// One labelled series.
#[derive(Debug, Clone, PartialEq)]
pub struct TsSeries {
    /// Values, step-major: step t, dimension d at `t * dimensions + d`.
    pub values: Vec<f32>,
    /// Number of steps.
    pub len: usize,
    /// Class index into [`TsFile::labels`].
    pub class: usize,
}

fn bad(path: &Path, line: usize, message: impl Into<String>) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        message: format!("line {line}: {}", message.into()),
    }
}

/// Reads a `.ts` file. Fails naming the file and line on a missing
/// `@classLabel` or `@data`, a label not declared, dimensions of unequal
/// lengths within a series, a series with another number of dimensions,
/// and a value that is missing (`?`) or not a finite number.
pub fn read_ts_file(path: impl Into<PathBuf>) -> Result<TsFile> {
    let path = path.into();
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    parse_ts(&text, &path)
}

/// Parses `.ts` text; `path` names it in errors.
pub fn parse_ts(text: &str, path: &Path) -> Result<TsFile> {
    let mut name = String::new();
    let mut labels: Option<Vec<String>> = None;
    let mut in_data = false;
    let mut dimensions: Option<usize> = None;
    let mut series = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !in_data {
            let Some(header) = line.strip_prefix('@') else {
                return Err(bad(path, line_no, "a data line before @data"));
            };
            let mut words = header.split_whitespace();
            let key = words.next().unwrap_or("").to_ascii_lowercase();
            match key.as_str() {
                "problemname" => name = words.collect::<Vec<_>>().join(" "),
                "classlabel" => {
                    if words.next().map(str::to_ascii_lowercase).as_deref() != Some("true") {
                        return Err(bad(path, line_no, "the series carry no class labels"));
                    }
                    labels = Some(words.map(str::to_string).collect());
                }
                "data" => in_data = true,
                _ => {}
            }
            continue;
        }
        let labels = labels
            .as_ref()
            .ok_or_else(|| bad(path, line_no, "@data before @classLabel"))?;
        let fields: Vec<&str> = line.split(':').collect();
        let (label, dims) = fields.split_last().expect("split gives one field at least");
        let class = labels
            .iter()
            .position(|l| l == label.trim())
            .ok_or_else(|| {
                bad(
                    path,
                    line_no,
                    format!(
                        "label `{}` is not among @classLabel {}",
                        label.trim(),
                        labels.join(" ")
                    ),
                )
            })?;
        let expected = *dimensions.get_or_insert(dims.len());
        if dims.len() != expected || expected == 0 {
            return Err(bad(
                path,
                line_no,
                format!("{} dimensions, earlier series have {expected}", dims.len()),
            ));
        }
        let mut columns: Vec<Vec<f32>> = Vec::with_capacity(dims.len());
        for (d, dim) in dims.iter().enumerate() {
            let values = dim
                .split(',')
                .map(|v| {
                    v.trim()
                        .parse::<f32>()
                        .ok()
                        .filter(|x| x.is_finite())
                        .ok_or_else(|| {
                            bad(
                                path,
                                line_no,
                                format!("dimension {d}: `{}` is not a finite number", v.trim()),
                            )
                        })
                })
                .collect::<Result<Vec<f32>>>()?;
            columns.push(values);
        }
        let len = columns[0].len();
        if columns.iter().any(|c| c.len() != len) {
            return Err(bad(
                path,
                line_no,
                "the dimensions of a series have different lengths",
            ));
        }
        let values = (0..len)
            .flat_map(|t| columns.iter().map(move |c| c[t]))
            .collect();
        series.push(TsSeries { values, len, class });
    }
    let labels = labels.ok_or_else(|| bad(path, 0, "no @classLabel header"))?;
    if series.is_empty() {
        return Err(bad(path, 0, "no series after @data"));
    }
    Ok(TsFile {
        name,
        labels,
        dimensions: dimensions.unwrap_or(1),
        series,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TsFile> {
        parse_ts(text, Path::new("x.ts"))
    }

    #[test]
    fn reads_univariate_and_multivariate_series() {
        let f = parse("# comment\n@problemName Toy\n@classLabel true a b\n@data\n1,2,3:b\n4,5:a\n")
            .unwrap();
        assert_eq!(f.name, "Toy");
        assert_eq!(f.dimensions, 1);
        assert_eq!(f.series[0].values, [1.0, 2.0, 3.0]);
        assert_eq!((f.series[0].class, f.series[1].len), (1, 2));
        let m = parse("@classLabel true x\n@data\n1,2:3,4:x\n").unwrap();
        assert_eq!(m.dimensions, 2);
        // Step-major: (1, 3) then (2, 4).
        assert_eq!(m.series[0].values, [1.0, 3.0, 2.0, 4.0]);
    }

    #[test]
    fn bad_lines_are_named() {
        let err = |t: &str| parse(t).unwrap_err().to_string();
        assert!(err("@classLabel true a\n@data\n1,?,3:a\n").contains("line 3"));
        assert!(err("@classLabel true a\n@data\n1,2:c\n").contains("`c`"));
        assert!(err("@classLabel true a\n@data\n1,2:a\n1,2:3,4:a\n").contains("line 4"));
        assert!(err("@classLabel true a\n@data\n1,2:3:a\n").contains("different lengths"));
        assert!(err("@data\n1,2:a\n").contains("@classLabel"));
        assert!(err("@classLabel false\n@data\n1,2\n").contains("no class labels"));
        assert!(err("@classLabel true a\n@data\n").contains("no series"));
    }
}
