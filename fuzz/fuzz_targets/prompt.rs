//! Prompt handling: bytes before the first NUL as a tokenizer.json, the
//! rest as prompt text, through both codecs and the vocabulary check.
#![no_main]

use libfuzzer_sys::fuzz_target;
use statespace::text::{Codec, check_prompt};

fuzz_target!(init: {
    // libfuzzer-sys aborts on any panic from its hook; the codec catches the
    // tokenizers crate's panics and returns errors, so keep the default hook
    // (a panic that escapes still aborts at the FFI boundary).
    let _ = std::panic::take_hook();
}, |data: &[u8]| {
    let (tokenizer, prompt) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&data[..0], data),
    };
    let prompt = String::from_utf8_lossy(prompt);
    let bytes = Codec::Bytes;
    if let Ok(ids) = bytes.encode(&prompt) {
        let _ = check_prompt(&ids, 256);
        assert_eq!(bytes.decode(&ids), prompt, "bytes round-trip");
    }
    if let Ok(codec) = Codec::from_tokenizer_json(tokenizer) {
        if let Ok(ids) = codec.encode(&prompt) {
            let _ = check_prompt(&ids, 512);
            let _ = codec.decode(&ids);
        }
    }
});
