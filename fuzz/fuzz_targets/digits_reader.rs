//! The digits reader after its checksum: any bytes as the gzip stream, and
//! any text gzipped as the CSV it holds.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use statespace::tasks::digits::parse_gz;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("digits.csv.gz");
    let _ = parse_gz(data, path);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).expect("in memory");
    let _ = parse_gz(&gz.finish().expect("in memory"), path);
});
