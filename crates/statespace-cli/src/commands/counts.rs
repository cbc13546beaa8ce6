//! Value parsers for counts given on the command line (`--batch`, `--len`,
//! `--steps`, `--layers`, `--devices`, ...). A count below what its measurement needs is refused with
//! the flag named (clap adds it), rather than raised to the minimum behind the
//! user's back.

/// A count of at least 1.
pub(crate) fn at_least_one(text: &str) -> Result<usize, String> {
    at_least(text, 1)
}

/// A count of at least 2 (a language model's window: one token predicts
/// the next).
pub(crate) fn at_least_two(text: &str) -> Result<usize, String> {
    at_least(text, 2)
}

fn at_least(text: &str, min: usize) -> Result<usize, String> {
    let n: usize = text
        .parse()
        .map_err(|e| format!("`{text}` is not a count: {e}"))?;
    if n < min {
        return Err(format!("must be at least {min}, got {n}"));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_below_the_minimum_are_refused() {
        assert_eq!(at_least_one("3"), Ok(3));
        assert_eq!(
            at_least_one("0"),
            Err("must be at least 1, got 0".to_string())
        );
        assert_eq!(at_least_two("2"), Ok(2));
        assert_eq!(
            at_least_two("1"),
            Err("must be at least 2, got 1".to_string())
        );
        assert!(at_least_one("-1").unwrap_err().contains("is not a count"));
        assert!(
            at_least_one("x")
                .unwrap_err()
                .contains("`x` is not a count")
        );
    }
}
