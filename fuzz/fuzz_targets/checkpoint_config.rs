//! Any text as a checkpoint's config.json (Hugging Face or state-spaces
//! layout): parse, validate, count the parameters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use statespace::models::pretrained::parse_config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok((config, _, _)) = parse_config(text, std::path::Path::new("config.json")) {
        if config.validate().is_ok() {
            let _ = config.param_count();
        }
    }
});
