//! Any bytes as a `.safetensors` file: open, list, read every tensor.
#![no_main]

use libfuzzer_sys::fuzz_target;
use statespace::io::SafetensorsFile;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let path = common::scratch_file("model.safetensors", data);
    if let Ok(file) = SafetensorsFile::open(&path) {
        for name in file.names() {
            let _ = file.shape(&name);
            let _ = file.dtype(&name);
            let _ = file.f64(&name);
            let _ = file.i64(&name);
        }
        let _ = file.metadata();
    }
});
