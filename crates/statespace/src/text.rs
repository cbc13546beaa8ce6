//! Text ↔ token ids for generation: a checkpoint folder's Hugging Face
//! `tokenizer.json`, or raw bytes (token = byte).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use crate::error::{Error, Result};

/// Runs a call into the `tokenizers` crate, turning a panic inside it (it
/// panics on some malformed tokenizer.json files, found by fuzzing) into an
/// error naming `what`.
fn guarded<T>(what: &str, call: impl FnOnce() -> T) -> Result<T> {
    catch_unwind(AssertUnwindSafe(call)).map_err(|payload| {
        let detail = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Error::Format {
            path: "tokenizer.json".into(),
            message: format!("{what}: the tokenizer library failed ({detail})"),
        }
    })
}

/// Encodes prompts and decodes generated ids.
pub enum Codec {
    /// A Hugging Face tokenizer.
    Tokenizer(Box<tokenizers::Tokenizer>),
    /// Token = byte value.
    Bytes,
}

impl Codec {
    /// The folder's `tokenizer.json`, or bytes when `byte_level`; an error
    /// naming the folder if it has no tokenizer and bytes were not asked for.
    pub fn for_folder(dir: &Path, byte_level: bool) -> Result<Self> {
        if byte_level {
            return Ok(Codec::Bytes);
        }
        let path = dir.join("tokenizer.json");
        if !path.is_file() {
            return Err(Error::Format {
                path: dir.to_path_buf(),
                message: "no tokenizer.json: pass --byte-level to use raw bytes as tokens".into(),
            });
        }
        let bytes = std::fs::read(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        Self::from_tokenizer_json(&bytes).map_err(|e| match e {
            Error::Format { message, .. } => Error::Format { path, message },
            other => other,
        })
    }

    /// A tokenizer from the bytes of a `tokenizer.json`.
    pub fn from_tokenizer_json(bytes: &[u8]) -> Result<Self> {
        let bad = |message: String| Error::Format {
            path: "tokenizer.json".into(),
            message,
        };
        let tokenizer = guarded("reading the tokenizer", || {
            tokenizers::Tokenizer::from_bytes(bytes)
        })?
        .map_err(|e| bad(format!("not a tokenizer: {e}")))?;
        Ok(Codec::Tokenizer(Box::new(tokenizer)))
    }

    /// The token ids of `text`.
    pub fn encode(&self, text: &str) -> Result<Vec<i64>> {
        match self {
            Codec::Bytes => Ok(text.bytes().map(i64::from).collect()),
            Codec::Tokenizer(t) => Ok(guarded("tokenizing the prompt", || t.encode(text, false))?
                .map_err(|e| Error::Format {
                    path: "tokenizer.json".into(),
                    message: format!("tokenizing the prompt: {e}"),
                })?
                .get_ids()
                .iter()
                .map(|&i| i64::from(i))
                .collect()),
        }
    }

    /// The text of `ids`; ids the codec cannot represent are skipped (and a
    /// tokenizer that fails decodes to nothing).
    pub fn decode(&self, ids: &[i64]) -> String {
        match self {
            Codec::Bytes => {
                let bytes: Vec<u8> = ids.iter().filter_map(|&i| u8::try_from(i).ok()).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            }
            Codec::Tokenizer(t) => {
                let ids: Vec<u32> = ids.iter().filter_map(|&i| u32::try_from(i).ok()).collect();
                guarded("decoding", || t.decode(&ids, true))
                    .ok()
                    .and_then(|r| r.ok())
                    .unwrap_or_default()
            }
        }
    }
}

/// Checks a prompt's ids against a model's vocabulary: at least one token,
/// every id in 0..`vocab`.
pub fn check_prompt(tokens: &[i64], vocab: usize) -> Result<()> {
    if tokens.is_empty() {
        return Err(Error::config("prompt", "the prompt encodes to no tokens"));
    }
    if let Some(&bad) = tokens
        .iter()
        .find(|&&t| usize::try_from(t).map_or(true, |t| t >= vocab))
    {
        return Err(Error::config(
            "prompt",
            format!("token {bad} is outside the model's vocabulary ({vocab})"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_prompts_are_checked() {
        let codec = Codec::Bytes;
        let ids = codec.encode("héllo").unwrap();
        assert_eq!(codec.decode(&ids), "héllo");
        assert_eq!(codec.decode(&[104, -1, 300, 105]), "hi");
        assert!(check_prompt(&[], 10).is_err());
        assert!(check_prompt(&[3, 10], 10).is_err());
        assert!(check_prompt(&[-1], 10).is_err());
        check_prompt(&[0, 9], 10).unwrap();
        assert!(Codec::from_tokenizer_json(b"{not json").is_err());
    }
}
