# Block-level NumPy model of the SSD output block's pipeline
# (`chunk_output_block` in ops/ssd/kernels/mod.rs) for y and dx, against the direct formulas: the
# carried state's slices, the row scale, then the steps' slices, forward and
# transposed; P and N not multiples of the slice, chunks shorter than 64 steps.
# (A model of a dropped ssd_chunk_bc_grads pipeline is in git history.)
# Run: python3 scripts/ssd_output_pipeline_model.py (prints max errors).
import numpy as np
rng = np.random.default_rng(0)
STEPS, SLICE, BLOCK = 64, 32, 64

# --- The output block's pipeline: the carried state's
# slices, the row scale, then the steps' slices, forward and transposed.
def gather_fn(fn, r_lim, k_lim):
    G = np.zeros((BLOCK, SLICE))
    for r in range(min(r_lim, BLOCK)):
        for k in range(min(k_lim, SLICE)):
            G[r, k] = fn(r, k)
    return G
def model(v, w, S, M, cum, valid, p_lim, transposed):
    # v: (STEPS, P) (rows past valid zero), w: (STEPS, N), S: (P, N); M (STEPS, STEPS) decay products
    N = w.shape[1]
    A_m = M.T if transposed else M      # staged A(m = i, k): M[i][k] or M[k][i]
    state_slices = -(-N // SLICE); slices = state_slices + STEPS // SLICE
    def g(i):
        if i < state_slices:
            n0 = i * SLICE
            return (gather_fn(lambda r, k: w[r, n0 + k], valid, N - n0), gather_fn(lambda r, k: S[r, n0 + k], p_lim, N - n0))
        s0 = (i - state_slices) * SLICE
        return (None, gather_fn(lambda r, k: v[s0 + k, r], p_lim, max(valid - s0, 0)))
    acc = np.zeros((BLOCK, BLOCK)); bufs = [g(0), None]
    for i in range(slices):
        at = i % 2
        nxt = g(i + 1) if i + 1 < slices else None
        a, b = bufs[at]
        if i < state_slices:
            acc += a @ b.T
        else:
            if i == state_slices:
                sc = np.exp(cum[STEPS - 1] - cum) if transposed else np.exp(cum)
                acc *= sc[:, None]
            s0 = (i - state_slices) * SLICE
            acc += A_m[:, s0:s0 + SLICE] @ b.T
        if nxt is not None: bufs[1 - at] = nxt
    return acc[:valid, :p_lim]
for (P, N, valid, tr) in [(64, 128, 64, False), (64, 128, 64, True), (48, 70, 37, False), (16, 16, 20, True)]:
    v = rng.standard_normal((STEPS, P)); w = rng.standard_normal((STEPS, N)); S = rng.standard_normal((P, N))
    v[valid:] = 0; w[valid:] = 0
    a = -rng.random(STEPS) * 0.1; a[valid:] = 0; cum = np.cumsum(a)
    CB = rng.standard_normal((STEPS, STEPS))
    M = np.zeros((STEPS, STEPS))
    for i in range(valid):
        for j in range(i + 1): M[i, j] = CB[i, j] * np.exp(cum[i] - cum[j])
    p_lim = min(P, BLOCK)
    out = model(v, w, S, M, cum, valid, p_lim, tr)
    if tr:
        ref = M[:valid, :valid].T @ v[:valid, :p_lim] + np.exp(cum[STEPS - 1] - cum[:valid])[:, None] * (w[:valid] @ S[:p_lim].T)
    else:
        ref = M[:valid, :valid] @ v[:valid, :p_lim] + np.exp(cum[:valid])[:, None] * (w[:valid] @ S[:p_lim].T)
    print(P, N, valid, tr, np.abs(out - ref).max())
