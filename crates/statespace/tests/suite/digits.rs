//! The sequential digits task reads scikit-learn's file installed by
//! scripts/setup-data.sh, checks it, and refuses missing or altered files.

use std::path::PathBuf;

use statespace::tasks::digits::{Digits, DigitsConfig};
use statespace::tasks::{Example, Split, Task};

fn data_file() -> PathBuf {
    let path = std::env::var_os("SSM_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data"))
        .join("digits.csv.gz");
    assert!(
        path.is_file(),
        "{} is missing: run scripts/setup-data.sh",
        path.display()
    );
    path
}

fn pixels(e: &Example) -> (Vec<f32>, i64) {
    let Example::Values { values, len, label } = e else {
        panic!("digits are values")
    };
    assert_eq!(*len, 64);
    (values.clone(), *label)
}

#[test]
fn digits_split_into_disjoint_sets_of_64_pixel_sequences() {
    let path = data_file();
    let task = Digits::new(DigitsConfig {
        path: Some(path.clone()),
        ..DigitsConfig::default()
    })
    .unwrap();
    assert_eq!(
        [Split::Train, Split::Val, Split::Test].map(|s| task.size(s)),
        [1257, 180, 360]
    );
    let mut counts = [0usize; 10];
    for split in [Split::Train, Split::Val, Split::Test] {
        for i in 0..task.size(split) {
            let (values, label) = pixels(&task.example(split, i));
            assert!(values.iter().all(|v| (0.0..=1.0).contains(v)));
            counts[label as usize] += 1;
        }
    }
    // scikit-learn's documented class counts.
    assert_eq!(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);

    // The permuted variant reads the same pixels in one fixed other order.
    let permuted = Digits::new(DigitsConfig {
        path: Some(path),
        permuted: true,
        ..DigitsConfig::default()
    })
    .unwrap();
    let (a, la) = pixels(&task.example(Split::Test, 5));
    let (b, lb) = pixels(&permuted.example(Split::Test, 5));
    assert_eq!(la, lb);
    assert_ne!(a, b);
    let sorted = |mut v: Vec<f32>| {
        v.sort_by(f32::total_cmp);
        v
    };
    assert_eq!(sorted(a), sorted(b));
}

#[test]
fn missing_or_altered_data_files_are_clear_errors() {
    let dir = std::env::temp_dir().join(format!("ssm-digits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("digits.csv.gz");
    let err = Digits::new(DigitsConfig {
        path: Some(missing.clone()),
        ..DigitsConfig::default()
    })
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("scripts/setup-data.sh"), "{err}");

    let bytes = std::fs::read(data_file()).unwrap();
    std::fs::write(&missing, &bytes[..bytes.len() / 2]).unwrap();
    let err = Digits::new(DigitsConfig {
        path: Some(missing),
        ..DigitsConfig::default()
    })
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("SHA-256") && err.contains("truncated"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
