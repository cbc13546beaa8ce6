//! Checkpoint readers: the official state-spaces/mamba `pytorch_model.bin`
//! (torch zip pickle, read without Python) holds exactly the tensors of the
//! Hugging Face `model.safetensors` of the same weights; pickles that ask
//! for anything but tensor storage are refused.

mod common;

use std::io::Write;

use common::golden_dir;
use statespace::io::{PyTorchFile, SafetensorsFile};

/// The native name of an HF tensor (`embeddings` is `embedding` natively).
fn native_name(hf: &str) -> String {
    hf.replace("backbone.embeddings.", "backbone.embedding.")
}

#[test]
fn native_pickle_checkpoints_equal_hf_safetensors() {
    for (native, hf) in [("native_mamba", "hf_mamba"), ("native_mamba2", "hf_mamba2")] {
        let dir = golden_dir();
        let mut torch = PyTorchFile::open(dir.join(native).join("pytorch_model.bin")).unwrap();
        let st = SafetensorsFile::open(dir.join(hf).join("model.safetensors")).unwrap();
        let names = st.names();
        assert!(!names.is_empty());
        for name in names {
            let expected = st.f64(&name).unwrap();
            let got = torch
                .f64(&native_name(&name))
                .unwrap_or_else(|e| panic!("{native}: {e}"));
            assert_eq!(got.shape, expected.shape, "{native}: {name}");
            assert_eq!(got.data, expected.data, "{native}: {name}");
        }
        // The native file also stores the tied head.
        assert!(
            torch.names().iter().any(|n| n == "lm_head.weight"),
            "{native}: lm_head.weight"
        );
    }
}

/// A zip archive with one `archive/data.pkl` holding `pickle`.
fn archive_with(pickle: &[u8]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "statespace-pickle-{}-{}.bin",
        std::process::id(),
        pickle.len()
    ));
    let file = std::fs::File::create(&path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("archive/data.pkl", options).unwrap();
    zip.write_all(pickle).unwrap();
    zip.finish().unwrap();
    path
}

#[test]
fn pickles_asking_for_code_are_refused() {
    // protocol 2: GLOBAL 'os system', ('echo hi',), REDUCE, STOP
    let evil = b"\x80\x02cos\nsystem\nq\x00X\x07\x00\x00\x00echo hi\x85R.";
    let path = archive_with(evil);
    let err = PyTorchFile::open(&path)
        .err()
        .expect("must refuse")
        .to_string();
    assert!(
        err.contains("os.system") && err.contains("refusing"),
        "{err}"
    );
    std::fs::remove_file(path).unwrap();
}

#[test]
fn truncated_or_foreign_files_are_clear_errors() {
    let path = std::env::temp_dir().join(format!("statespace-notzip-{}.bin", std::process::id()));
    std::fs::write(&path, b"definitely not a zip").unwrap();
    let err = PyTorchFile::open(&path)
        .err()
        .expect("must fail")
        .to_string();
    assert!(err.contains("not a PyTorch zip checkpoint"), "{err}");
    std::fs::remove_file(&path).unwrap();

    let path = archive_with(b"\x80\x02}q\x00(X\x01\x00\x00\x00a");
    let err = PyTorchFile::open(&path)
        .err()
        .expect("must fail")
        .to_string();
    assert!(err.contains("truncated"), "{err}");
    std::fs::remove_file(path).unwrap();
}
