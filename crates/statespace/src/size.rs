//! Sizes in checked arithmetic: parameter counts and memory estimates, so
//! that a hostile or mistyped size (`hidden_size` 2⁶⁴ − 1, a vocabulary of
//! 10¹², `batch_size` 10⁸) is an error naming it before anything is
//! allocated.

use crate::error::{Error, Result};

/// Σ of the products of `terms`, or None on overflow.
pub fn sum_of_products(terms: &[&[usize]]) -> Option<usize> {
    terms.iter().try_fold(0usize, |acc, factors| {
        let product = factors.iter().try_fold(1usize, |p, &f| p.checked_mul(f))?;
        acc.checked_add(product)
    })
}

/// The error for sizes whose arithmetic overflows, naming `key`.
pub fn overflow(key: &str) -> Error {
    Error::config(key, "the sizes overflow (far beyond any memory)")
}

/// The memory this machine has free for a new allocation (Linux
/// `MemAvailable`), if it can tell.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Fails, naming `what` and `key`, when `bytes` exceed the memory available
/// (when the machine can tell).
pub fn check_fits(what: &str, key: &str, bytes: u128) -> Result<()> {
    let Some(free) = available_memory() else {
        return Ok(());
    };
    if bytes > u128::from(free) {
        return Err(Error::config(
            key,
            format!(
                "{what} needs about {:.1} GiB, more than the {:.1} GiB of memory available",
                bytes as f64 / (1u64 << 30) as f64,
                free as f64 / (1u64 << 30) as f64
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_overflow_to_none() {
        assert_eq!(sum_of_products(&[&[2, 3], &[4]]), Some(10));
        assert_eq!(sum_of_products(&[]), Some(0));
        assert_eq!(sum_of_products(&[&[usize::MAX, 2]]), None);
        assert_eq!(sum_of_products(&[&[usize::MAX], &[1]]), None);
    }

    #[test]
    fn an_impossible_allocation_is_refused() {
        if available_memory().is_some() {
            let err = check_fits("the model", "d_model", 1u128 << 80).unwrap_err();
            assert!(err.to_string().contains("d_model"), "{err}");
            check_fits("a byte", "x", 1).unwrap();
        }
    }
}
