//! Any text as a TOML run config: parse and validate, build the task and
//! the classifier config, validate and count the model (no training).
#![no_main]

use libfuzzer_sys::fuzz_target;
use statespace::train::TrainConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = TrainConfig::from_toml(text, &[]) else {
        return;
    };
    let Ok(task) = config.task.build() else {
        return;
    };
    if let Ok(model) = config.model.classifier(task.as_ref()) {
        let _ = model.validate();
    }
});
