//! Any text as `ssm hippo --input` CSV: parse, then project a short prefix
//! with every measure (small N so each run stays fast).
#![no_main]

use libfuzzer_sys::fuzz_target;
use statespace::hippo::Measure;
use statespace::hippo::online::{parse_signal, project, relative_error};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(signal) = parse_signal(text, "input.csv") else {
        return;
    };
    let signal = &signal[..signal.len().min(64)];
    for measure in [Measure::LegS, Measure::LegT, Measure::LagT { beta: 1.0 }, Measure::FouT] {
        if let Ok(p) = project(measure, 8, signal, 0.5) {
            let recon = p.reconstruct(signal.len());
            let _ = relative_error(signal, p.window, &recon);
        }
    }
});
