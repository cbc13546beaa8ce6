//! Runs an inner loop compiled for the CPU's wider vector units. The crate
//! is built for baseline x86-64 (SSE2), so the loops the compiler
//! vectorises by itself (the elementwise kernels over [`super::fast_math`])
//! get four f32 lanes; on a CPU with AVX2 and FMA, [`wide!`] runs the same
//! loop as an eight-lane copy. The operations and their order are the same
//! (Rust never contracts a·b + c into an FMA by itself), so the results
//! are the same bits either way.

/// `wide!({ … })`: the block compiled for AVX2 and FMA when the CPU has
/// both, through [`run`]. Put it around the innermost loop (inside any
/// rayon closure: the features reach only code inlined into this call).
/// The block becomes an `#[inline(always)]` closure: the closure is called
/// on both of `run`'s paths, so LLVM weighs it as an ordinary call, and a
/// loop body past its inlining threshold (GELU's after Φ gained its tail
/// fit, and the norm's, until 2026-12-07) would otherwise stay an
/// out-of-line baseline (SSE2) function, four lanes instead of eight.
macro_rules! wide {
    ($body:block) => {
        $crate::ops::support::wide::run(
            #[inline(always)]
            || $body,
        )
    };
}
pub(crate) use wide;

/// `f()`, with `f` compiled for AVX2 and FMA when the CPU has both; called
/// through [`wide!`], which inlines `f`.
#[inline(always)]
pub(crate) fn run<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has both features, checked just above.
            return unsafe { avx2(f) };
        }
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}
