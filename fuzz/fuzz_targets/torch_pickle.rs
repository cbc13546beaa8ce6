//! Any bytes as a torch zip checkpoint (`pytorch_model.bin`): open (the
//! restricted pickle machine), bound and read every tensor.
#![no_main]

use libfuzzer_sys::fuzz_target;
use statespace::io::PyTorchFile;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let path = common::scratch_file("pytorch_model.bin", data);
    if let Ok(mut file) = PyTorchFile::open(&path) {
        for name in file.names().to_vec() {
            let _ = file.shape(&name);
            if file.numel(&name).is_ok() {
                let _ = file.f64(&name);
            }
        }
    }
});
