//! Every crash the fuzz targets (fuzz/, docs/RELIABILITY.md) found, as a
//! regression test: the input from `tests/fuzz_regressions/` now gets a
//! clear error (or a result), never a panic.

use std::path::PathBuf;

use statespace::text::Codec;

fn input(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// prompt target: tokenizers 0.23 `expect`s on a malformed "decoder" entry
/// (decoders/mod.rs:90); the codec turns that into an error.
#[test]
fn a_tokenizer_json_that_panics_the_tokenizers_crate_is_an_error() {
    let data = input("prompt-tokenizer-decoder-panic.bin");
    let json = &data[..data.iter().position(|&b| b == 0).unwrap_or(data.len())];
    let err = Codec::from_tokenizer_json(json)
        .err()
        .expect("an error, not a tokenizer");
    assert!(err.to_string().contains("tokenizer"), "{err}");
}
