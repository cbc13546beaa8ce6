//! Sequential Fashion-MNIST reads the four files scripts/setup-data.sh
//! installs from Debian's `dataset-fashion-mnist`, checks them, splits them,
//! and refuses missing or altered files. Where setup-data.sh could not
//! fetch the package (no apt-get access), the tests on the real files say
//! so and stop; the refusals run either way.

use std::path::PathBuf;

use statespace::tasks::fashion_mnist::{FILES, FashionMnist, FashionMnistConfig, PIXELS};
use statespace::tasks::{Example, Split, Task};

/// The installed folder, or `None` (with a note) when it is absent.
fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SSM_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data"))
        .join("fashion-mnist");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "{} is missing (scripts/setup-data.sh could not fetch Debian's dataset-fashion-mnist): the checks of the real files did not run",
            dir.display()
        );
        None
    }
}

fn values(e: &Example) -> (Vec<f32>, i64) {
    let Example::Values { values, len, label } = e else {
        panic!("Fashion-MNIST images are values")
    };
    assert_eq!(*len, PIXELS);
    (values.clone(), *label)
}

#[test]
fn the_official_files_split_into_55000_5000_and_10000_images() {
    let Some(dir) = data_dir() else { return };
    let task = FashionMnist::new(FashionMnistConfig {
        dir: Some(dir.clone()),
        ..FashionMnistConfig::default()
    })
    .unwrap();
    assert_eq!(task.size(Split::Train), 55_000);
    assert_eq!(task.size(Split::Val), 5_000);
    assert_eq!(task.size(Split::Test), 10_000);
    assert_eq!((task.max_len(), task.classes()), (784, 10));
    // The official test set has 1,000 images of each class; its first is
    // an ankle boot (class 9), as the dataset's README shows.
    let mut counts = [0usize; 10];
    for i in 0..task.size(Split::Test) {
        counts[values(&task.example(Split::Test, i)).1 as usize] += 1;
    }
    assert_eq!(counts, [1000; 10]);
    let (first, label) = values(&task.example(Split::Test, 0));
    assert_eq!(label, 9);
    assert!(first.iter().all(|v| (0.0..=1.0).contains(v)));
    assert!(first.contains(&0.0) && first.iter().any(|&v| v > 0.5));
    // The permuted variant reads the same pixels in another fixed order.
    let permuted = FashionMnist::new(FashionMnistConfig {
        dir: Some(dir),
        permuted: true,
        ..FashionMnistConfig::default()
    })
    .unwrap();
    let (shuffled, same_label) = values(&permuted.example(Split::Test, 0));
    assert_eq!(same_label, 9);
    assert_ne!(shuffled, first);
    let sorted = |mut v: Vec<f32>| {
        v.sort_by(f32::total_cmp);
        v
    };
    assert_eq!(sorted(shuffled), sorted(first));
}

#[test]
fn missing_altered_or_mismatched_files_are_refused() {
    let scratch = std::env::temp_dir().join(format!("ssm-fashion-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let config = |dir: &PathBuf| FashionMnistConfig {
        dir: Some(dir.clone()),
        ..FashionMnistConfig::default()
    };
    let err = FashionMnist::new(config(&scratch))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("setup-data.sh") && err.contains(FILES[0].0),
        "{err}"
    );
    if let Some(dir) = data_dir() {
        for (name, _) in FILES {
            std::fs::copy(dir.join(name), scratch.join(name)).unwrap();
        }
        let labels = scratch.join(FILES[3].0);
        let mut bytes = std::fs::read(&labels).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&labels, bytes).unwrap();
        let err = FashionMnist::new(config(&scratch))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("SHA-256") && err.contains(FILES[3].0), "{err}");
        let err = FashionMnist::new(FashionMnistConfig {
            val_size: 60_000,
            ..config(&dir)
        })
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("task.val_size"), "{err}");
    }
    std::fs::remove_dir_all(&scratch).unwrap();
}
