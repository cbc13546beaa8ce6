//! Run-time settings of the CUDA runtime read from the environment
//! (`SSM_CUDA_MEMORY`, `SSM_CUDA_METADATA`, `SSM_MIN_WARPS_PER_SM`): the
//! variable's reader and the parser of a setting that names one of a few
//! choices.

use crate::error::{Error, Result};

/// The value of the environment variable `key` parsed by `parse`, or
/// `None` when it is unset; a value that is not UTF-8 is an error naming
/// the variable, as is whatever `parse` refuses.
#[cfg(feature = "cuda")]
pub(crate) fn env_setting<T>(
    key: &str,
    parse: impl FnOnce(&str) -> Result<T>,
) -> Result<Option<T>> {
    match std::env::var(key) {
        Ok(text) => parse(&text).map(Some),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(Error::Config {
            key: key.into(),
            message: "not UTF-8".into(),
        }),
    }
}

/// The one of `choices` whose `name` is `text` (surrounding blanks
/// ignored); any other value is an error naming the variable `key`, the
/// value, what a value names (`what`, e.g. "a memory pool layout") and the
/// choices.
pub(crate) fn named_choice<T: Copy>(
    text: &str,
    choices: &[T],
    name: fn(T) -> &'static str,
    key: &str,
    what: &str,
) -> Result<T> {
    let value = text.trim();
    choices
        .iter()
        .copied()
        .find(|&c| name(c) == value)
        .ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|&c| name(c)).collect();
            let listed = match names.split_last() {
                Some((last, [])) => last.to_string(),
                Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                None => String::new(),
            };
            Error::Config {
                key: key.into(),
                message: format!("`{value}` is not {what} ({listed})"),
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_choice_is_found_and_another_value_names_every_choice() {
        let name = |n: u8| ["one", "two", "three"][usize::from(n)];
        let choices = [0u8, 1, 2];
        assert_eq!(
            named_choice(" two ", &choices, name, "KEY", "a number").unwrap(),
            1
        );
        let e = named_choice("four", &choices, name, "KEY", "a number").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid config `KEY`: `four` is not a number (one, two or three)"
        );
        let e = named_choice("x", &choices[..2], name, "KEY", "a number").unwrap_err();
        assert!(e.to_string().ends_with("(one or two)"), "{e}");
    }
}
