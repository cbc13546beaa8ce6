//! The library's modules form layers, and no module imports from a layer
//! above its own (docs/ARCHITECTURE.md, "Module layers"). Read from the
//! source: every `crate::<module>` path outside `#[cfg(test)]` code.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Each top-level module and its layer; a module may use modules of lower
/// layers only.
const LAYERS: &[(&str, u32)] = &[
    ("error", 0),
    ("size", 1),
    ("random", 1),
    ("complex", 1),
    ("text", 1),
    ("host_pool", 1),
    ("faults", 1),
    ("discretize", 2),
    ("io", 3),
    ("ops", 4),
    ("hippo", 5),
    ("kernel", 5),
    ("layers", 6),
    ("models", 7),
    ("tasks", 8),
    ("decode", 8),
    ("generate", 9),
    ("train", 9),
    ("golden", 10),
    ("parity", 11),
];

fn layer(module: &str) -> Option<u32> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|&(_, l)| l)
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules `text` names as `crate::<module>`, ignoring
/// comments and everything from the first `#[cfg(test)]` on.
fn imports(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut found = BTreeSet::new();
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or("");
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let grouped = rest.strip_prefix('{');
            let list = grouped.unwrap_or(rest);
            let names: Vec<&str> = if grouped.is_some() {
                list.split([',', '}']).collect()
            } else {
                vec![list]
            };
            for name in names {
                let module: String = name
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !module.is_empty() {
                    found.insert(module);
                }
            }
        }
    }
    found
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    assert!(files.len() > 50, "only {} source files found", files.len());
    let mut violations = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.iter().next().unwrap().to_string_lossy();
        let module = first.trim_end_matches(".rs");
        if module == "lib" {
            continue;
        }
        let own = layer(module)
            .unwrap_or_else(|| panic!("module `{module}` has no layer in LAYERS: add it"));
        for used in imports(&std::fs::read_to_string(file).unwrap()) {
            if used == module || matches!(used.as_str(), "Error" | "Result") {
                continue;
            }
            let theirs = layer(&used).unwrap_or_else(|| {
                panic!(
                    "{}: `crate::{used}` is not a module in LAYERS",
                    relative.display()
                )
            });
            if theirs >= own {
                violations.push(format!(
                    "{} (`{module}`, layer {own}) uses `crate::{used}` (layer {theirs})",
                    relative.display()
                ));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_import_reader_sees_grouped_and_nested_paths() {
    let text = "use crate::ops::{a, b};\nuse crate::{io, models::X};\nlet x = crate::kernel::f(); // crate::layers\n#[cfg(test)]\nuse crate::golden;";
    let found: Vec<String> = imports(text).into_iter().collect();
    assert_eq!(found, ["io", "kernel", "models", "ops"]);
}
