//! Any lines as `--set key=value` overrides of the embedded default config.
#![no_main]

use libfuzzer_sys::fuzz_target;
use statespace::train::TrainConfig;

const DEFAULT: &str = include_str!("../../configs/default.toml");

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let overrides: Vec<String> = text.split('\u{1}').map(str::to_string).collect();
    if let Ok(config) = TrainConfig::from_toml(DEFAULT, &overrides) {
        let _ = config.to_toml();
        if let Ok(task) = config.task.build() {
            if let Ok(model) = config.model.classifier(task.as_ref()) {
                let _ = model.validate();
            }
        }
    }
});
