//! SSD by mamba_ssm's chunked algorithm (`ssd_minimal_discrete`): the sequence is
//! cut into chunks of `chunk_size`; within a chunk the output is the
//! quadratic (attention-like) form Y = (C Bᵀ ∘ L) X with the decay matrix
//! L[i, j] = exp(a_{j+1} + … + a_i); chunks exchange their final states
//! through the same decays at chunk granularity. The result does not depend
//! on the chunk size. Composed of differentiable tensor ops.
//!
//! Packed sequences: at a position that starts a new sequence the decay is
//! set to exp(−∞) = 0, which zeroes the carried state exactly (segment sums
//! are formed without differences of cumulative sums, so no ∞ − ∞ arises).

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use super::Ssd;
use crate::error::Result;
use crate::ops::matmul::{MatmulOps, matmul};

/// A decay that zeroes the state: exp(RESET) underflows to 0 in f32 and f64.
const RESET: f64 = -1e30;

fn float_tensor<B: Backend, const D: usize>(
    values: Vec<f64>,
    shape: [usize; D],
    like: &Tensor<B, 1>,
) -> Tensor<B, D> {
    Tensor::from_data(
        TensorData::new(values, shape),
        (&like.device(), like.dtype()),
    )
}

/// Σ_{k=j+1..i} v_k for i ≥ j (0 above the diagonal) along the last axis of
/// v (…, T), as (…, T, T); with the mask of i ≥ j. Formed by a masked cumsum,
/// never as a difference of cumulative sums.
fn segment_sums<B: Backend, const D: usize, const E: usize>(
    v: Tensor<B, D>,
) -> (Tensor<B, E>, Tensor<B, E>) {
    let t = v.dims()[D - 1];
    let like = v.clone().flatten::<1>(0, D - 1).narrow(0, 0, 1);
    let strict: Vec<f64> = (0..t * t)
        .map(|k| if k / t > k % t { 1.0 } else { 0.0 })
        .collect();
    let lower: Vec<f64> = (0..t * t)
        .map(|k| if k / t >= k % t { 1.0 } else { 0.0 })
        .collect();
    let mut shape = [1usize; E];
    shape[E - 2] = t;
    shape[E - 1] = t;
    let strict = float_tensor::<B, E>(strict, shape, &like);
    let lower = float_tensor::<B, E>(lower, shape, &like);
    // rows[..., i, j] = v_i, kept where i > j, summed down the rows.
    let rows: Tensor<B, E> = v.unsqueeze_dim::<E>(D);
    let sums = (rows * strict).cumsum(E - 2);
    (sums * lower.clone(), lower)
}

/// SSD by the chunked algorithm, composed of differentiable tensor ops:
/// returns y (batch, L, H, P) and the final state (batch, H, P, N). Fails
/// on the inputs [`super::ssd`] refuses.
pub fn ssd_chunked<B: MatmulOps>(s: Ssd<B>) -> Result<(Tensor<B, 4>, Tensor<B, 4>)> {
    s.validate()?;
    let [batch, len, heads, p] = s.x.dims();
    let [_, _, groups, n] = s.b.dims();
    let q = s.chunk_size.min(len.max(1));
    let chunks = len.div_ceil(q).max(1);
    let padded = chunks * q;
    let device = s.x.device();
    let dtype = s.x.dtype();
    let like = s.a.clone().flatten::<1>(0, 2).narrow(0, 0, 1);

    // Resets: a = −∞ where a new sequence starts.
    let mut a = s.a;
    if let Some(starts) = &s.starts {
        let mut mask = vec![0.0; batch * len];
        for (bi, row) in mask.chunks_mut(len).enumerate() {
            for (t, m) in row.iter_mut().enumerate() {
                if starts.resets_at(bi, t) {
                    *m = 1.0;
                }
            }
        }
        let mask = float_tensor::<B, 3>(mask, [batch, len, 1], &like);
        a = a.clone() * (mask.clone().neg().add_scalar(1.0)) + mask * RESET;
    }

    // Pad to whole chunks: x = B = C = 0 and a = 0 leave the state unchanged.
    let pad = padded - len;
    let pad_len = |t: Tensor<B, 4>| -> Tensor<B, 4> {
        if pad == 0 {
            return t;
        }
        let [b0, _, d2, d3] = t.dims();
        Tensor::cat(
            vec![t, Tensor::zeros([b0, pad, d2, d3], (&device, dtype))],
            1,
        )
    };
    let x = pad_len(s.x).reshape([batch, chunks, q, heads, p]);
    let a = pad_len(a.unsqueeze_dim::<4>(3)).reshape([batch, chunks, q, heads]);
    // Heads share their group's B and C: head h uses group h / (H/G).
    let per_head = |t: Tensor<B, 4>| -> Tensor<B, 5> {
        pad_len(t)
            .unsqueeze_dim::<5>(3)
            .repeat_dim(3, heads / groups)
            .reshape([batch, chunks, q, heads, n])
    };
    let b = per_head(s.b);
    let c = per_head(s.c);

    // (batch, chunks, heads, q, ·) layouts for batched matmuls.
    let x_h = x.permute([0, 1, 3, 2, 4]); // (b, c, h, q, p)
    let b_h = b.permute([0, 1, 3, 2, 4]); // (b, c, h, q, n)
    let c_h = c.permute([0, 1, 3, 2, 4]);
    let a_h = a.permute([0, 1, 3, 2]); // (b, c, h, q)

    // 1. Within chunks: Y = (C Bᵀ ∘ L) X with L = exp(segment sums) on i ≥ j.
    let (seg, lower) = segment_sums::<B, 4, 5>(a_h.clone());
    let decay = seg.exp() * lower;
    let y_diag = matmul(
        matmul(c_h.clone(), b_h.clone().swap_dims(3, 4))? * decay,
        x_h.clone(),
    )?;

    // 2. Each chunk's own final state: Σ_j exp(a_{j+1} + … + a_{q−1}) B_j ⊗ x_j.
    let total = a_h.clone().sum_dim(3); // (b, c, h, 1)
    let to_end = decay_to_end::<B>(a_h.clone()); // exp(Σ_{k>j} a_k)
    let chunk_states = matmul((x_h * to_end.unsqueeze_dim::<5>(4)).swap_dims(3, 4), b_h)?; // (b, c, h, p, n)

    // 3. Across chunks: h_c = Σ_{z ≤ c} exp(total_{z+1} + … + total_c) s_z, with the initial state first.
    let h0 = s
        .initial_state
        .unwrap_or_else(|| Tensor::zeros([batch, heads, p, n], (&device, dtype)))
        .unsqueeze_dim::<5>(1); // (b, 1, h, p, n)
    let states = Tensor::cat(vec![h0, chunk_states], 1); // (b, c+1, h, p, n)
    let totals = Tensor::cat(
        vec![
            Tensor::zeros([batch, 1, heads], (&device, dtype)),
            total.squeeze_dim::<3>(3),
        ],
        1,
    )
    .swap_dims(1, 2); // (b, h, c+1)
    let (seg, lower) = segment_sums::<B, 3, 4>(totals);
    let across = seg.exp() * lower; // (b, h, c+1, c+1)
    let flat = states
        .permute([0, 2, 1, 3, 4])
        .reshape([batch, heads, chunks + 1, p * n]);
    let passed = matmul(across, flat)?.reshape([batch, heads, chunks + 1, p, n]); // state after chunk z−1
    let entering = passed.clone().narrow(2, 0, chunks).permute([0, 2, 1, 3, 4]); // (b, c, h, p, n)
    let final_state = passed.narrow(2, chunks, 1).squeeze_dim::<4>(2); // (b, h, p, n)

    // 4. The entering state's contribution: exp(a_0 + … + a_i) C_i · h.
    let from_start = a_h.cumsum(3).exp(); // (b, c, h, q)
    let y_off = matmul(c_h, entering.swap_dims(3, 4))? * from_start.unsqueeze_dim::<5>(4); // (b, c, h, q, p)

    let y = (y_diag + y_off)
        .permute([0, 1, 3, 2, 4])
        .reshape([batch, padded, heads, p]);
    Ok((y.narrow(1, 0, len), final_state))
}

/// exp(Σ_{k>j} a_k) along the last axis, from a reverse cumulative sum
/// shifted by one (never a difference of large cumulative sums).
fn decay_to_end<B: Backend>(a: Tensor<B, 4>) -> Tensor<B, 4> {
    let q = a.dims()[3];
    if q == 1 {
        return a.zeros_like().exp();
    }
    let from_here = a.flip([3]).cumsum(3).flip([3]); // Σ_{k≥j}
    let after = Tensor::cat(
        vec![
            from_here.clone().narrow(3, 1, q - 1),
            from_here.narrow(3, 0, 1).zeros_like(),
        ],
        3,
    );
    after.exp()
}
