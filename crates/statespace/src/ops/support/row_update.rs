//! The inner step of Mamba-2's recurrence on one row of a head's state:
//! h ← decay · h + scale · b, then c · h. Used by the SSD kernel and the
//! fused decoder.

/// f32 lanes per AVX register.
const LANES: usize = 8;

/// h ← decay · h + scale · b, then returns c · h (all of one length).
pub(crate) fn decay_update_dot(h: &mut [f32], decay: f32, scale: f32, b: &[f32], c: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the feature, checked just above.
            return unsafe { decay_update_dot_avx512(h, decay, scale, b, c) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has both features, checked just above.
            return unsafe { decay_update_dot_avx2(h, decay, scale, b, c) };
        }
    }
    decay_update_dot_portable(h, decay, scale, b, c)
}

/// Sixteen states per instruction.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn decay_update_dot_avx512(h: &mut [f32], decay: f32, scale: f32, b: &[f32], c: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    const WIDE: usize = 16;
    let n = h.len();
    assert!(b.len() >= n && c.len() >= n);
    let body = n - n % WIDE;
    let (decay_v, scale_v) = (_mm512_set1_ps(decay), _mm512_set1_ps(scale));
    let mut acc = _mm512_setzero_ps();
    let mut s = 0;
    while s < body {
        // SAFETY: s + WIDE ≤ body ≤ n ≤ the lengths of h, b and c.
        unsafe {
            let input = _mm512_mul_ps(scale_v, _mm512_loadu_ps(b.as_ptr().add(s)));
            let state = _mm512_fmadd_ps(_mm512_loadu_ps(h.as_ptr().add(s)), decay_v, input);
            _mm512_storeu_ps(h.as_mut_ptr().add(s), state);
            acc = _mm512_fmadd_ps(_mm512_loadu_ps(c.as_ptr().add(s)), state, acc);
        }
        s += WIDE;
    }
    let mut sum = _mm512_reduce_add_ps(acc);
    for j in body..n {
        h[j] = h[j] * decay + scale * b[j];
        sum += c[j] * h[j];
    }
    sum
}

/// The portable loop, LANES partial sums.
fn decay_update_dot_portable(h: &mut [f32], decay: f32, scale: f32, b: &[f32], c: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let mut sum = 0.0;
    let body = h.len() - h.len() % LANES;
    for (s, (h, (b, c))) in h.iter_mut().zip(b.iter().zip(c)).enumerate() {
        *h = *h * decay + scale * b;
        if s < body {
            acc[s % LANES] += c * *h;
        } else {
            sum += c * *h;
        }
    }
    acc.iter().sum::<f32>() + sum
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn decay_update_dot_avx2(h: &mut [f32], decay: f32, scale: f32, b: &[f32], c: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = h.len();
    assert!(b.len() >= n && c.len() >= n);
    let body = n - n % LANES;
    let (decay_v, scale_v) = (_mm256_set1_ps(decay), _mm256_set1_ps(scale));
    let mut acc = _mm256_setzero_ps();
    let mut s = 0;
    while s < body {
        // SAFETY: s + LANES ≤ body ≤ n ≤ the lengths of h, b and c.
        unsafe {
            let input = _mm256_mul_ps(scale_v, _mm256_loadu_ps(b.as_ptr().add(s)));
            let state = _mm256_fmadd_ps(_mm256_loadu_ps(h.as_ptr().add(s)), decay_v, input);
            _mm256_storeu_ps(h.as_mut_ptr().add(s), state);
            acc = _mm256_fmadd_ps(_mm256_loadu_ps(c.as_ptr().add(s)), state, acc);
        }
        s += LANES;
    }
    let mut lanes = [0.0f32; LANES];
    // SAFETY: `lanes` holds LANES values.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
    let mut sum: f32 = lanes.iter().sum();
    for j in body..n {
        h[j] = h[j] * decay + scale * b[j];
        sum += c[j] * h[j];
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_and_portable_updates_agree() {
        for n in [3, 8, 19, 128] {
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.3).cos()).collect();
            let c: Vec<f32> = (0..n).map(|i| (i as f32 * 0.7).sin()).collect();
            let mut h1: Vec<f32> = (0..n).map(|i| i as f32 * 0.1).collect();
            let mut h2 = h1.clone();
            let y2 = decay_update_dot_portable(&mut h2, 0.9, 0.5, &b, &c);
            let y1 = decay_update_dot(&mut h1, 0.9, 0.5, &b, &c);
            assert!((y1 - y2).abs() < 1e-5 * (1.0 + y2.abs()), "{y1} vs {y2}");
            for (a, b) in h1.iter().zip(&h2) {
                assert!((a - b).abs() < 1e-6);
            }
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                let mut h3: Vec<f32> = (0..n).map(|i| i as f32 * 0.1).collect();
                // SAFETY: the features were detected just above.
                let y3 = unsafe { decay_update_dot_avx2(&mut h3, 0.9, 0.5, &b, &c) };
                assert!((y3 - y2).abs() < 1e-5 * (1.0 + y2.abs()), "{y3} vs {y2}");
                assert!(h3.iter().zip(&h2).all(|(a, b)| (a - b).abs() < 1e-6));
            }
        }
    }
}
