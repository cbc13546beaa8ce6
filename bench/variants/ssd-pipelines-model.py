# Block-level NumPy models of two SSD variants, against the direct formulas:
# the pipelined ssd_chunk_bc_grads slice schedule (ssd-bc-grads-pipeline.patch:
# kinds, offsets, the two staging buffers, the decay and row scales) for dB and
# dC, and the output block's pipeline (ssd-output-pipeline.patch) for y and dx;
# P and N not multiples of the slice, chunks shorter than 64 steps.
# Run: python3 bench/variants/ssd-pipelines-model.py (prints max errors).
import numpy as np
rng = np.random.default_rng(0)
STEPS, SLICE, BLOCK = 64, 32, 64

def gather(src, r_idx_fn, r_lim, k_lim):
    # returns a BLOCK x SLICE block G[r, k] (zero outside limits)
    G = np.zeros((BLOCK, SLICE))
    for r in range(BLOCK):
        for k in range(SLICE):
            if r < r_lim and k < k_lim:
                G[r, k] = r_idx_fn(r, k)
    return G

def mma(A, a_off, B, acc):
    # acc[m, n] += sum_k A[m, a_off + k] * B[n, k]
    acc += A[:, a_off:a_off + SLICE] @ B.T

def bc_model(x, dy, Bm, Cm, cum, R, H, n0, valid, per_group):
    # x, dy: (heads, STEPS, P); Bm, Cm: (STEPS, N); cum: (heads, STEPS); R, H: (heads, P, N)
    P = x.shape[2]; N = Bm.shape[1]; n_lim = N - n0
    p_slices = -(-P // SLICE); steps_at = p_slices; cb_at = steps_at + STEPS // SLICE
    cc_at = cb_at + p_slices; per_head = cc_at + p_slices
    def kind(j): return 3 if j >= cc_at else 2 if j >= cb_at else 1 if j >= steps_at else 0
    def offset(j): return j - (cc_at if j >= cc_at else cb_at if j >= cb_at else steps_at if j >= steps_at else 0)
    def last(j): return offset(j) + 1 == (STEPS // SLICE if kind(j) == 1 else p_slices)
    def g(i):
        h = i // per_head; j = i % per_head; o = offset(j) * SLICE; kd = kind(j)
        if kd == 1:
            lim = max(valid - o, 0)
            a = gather(Cm, lambda r, k: Cm[o + k, n0 + r], n_lim, lim)
            b = gather(Bm, lambda r, k: Bm[o + k, n0 + r], n_lim, lim)
        else:
            lim = P - o
            if kd == 2:
                a = gather(x, lambda r, k: x[h, r, o + k], valid, lim)
                b = gather(R, lambda r, k: R[h, o + k, n0 + r], n_lim, lim)
            else:
                a = gather(dy, lambda r, k: dy[h, r, o + k], valid, lim)
                if kd == 0:
                    b = gather(x, lambda r, k: x[h, r, o + k], valid, lim)
                else:
                    b = gather(H, lambda r, k: H[h, o + k, n0 + r], n_lim, lim)
        return a, b
    acc_b = np.zeros((BLOCK, BLOCK)); acc_c = np.zeros((BLOCK, BLOCK)); acc = np.zeros((BLOCK, BLOCK))
    bufs = [None, None]
    bufs[0] = g(0)
    slices = per_group * per_head
    for i in range(slices):
        at = i % 2
        nxt = g(i + 1) if i + 1 < slices else None
        hh = i // per_head; j = i % per_head; kd = kind(j)
        c = cum[hh]
        sa, sb = bufs[at]
        if kd in (0, 2, 3):
            if offset(j) == 0: acc = np.zeros((BLOCK, BLOCK))
            mma(sa, 0, sb, acc)
        else:
            s0 = (j - steps_at) * SLICE
            mma(D.T, s0, sa, acc_b)   # d_by_rows as A: A[m=t, k=s] = D[s][t]
            mma(D, s0, sb, acc_c)     # d_by_cols: A[m=s, k=t] = D[s][t]
        if last(j):
            if kd == 0:
                D = np.zeros((BLOCK, BLOCK))
                for s in range(BLOCK):
                    for t in range(BLOCK):
                        if t <= s < valid: D[s, t] = acc[s, t] * np.exp(c[s] - c[t])
            elif kd == 2:
                acc_b += acc * np.exp(c[STEPS - 1] - c)[:, None]
            elif kd == 3:
                acc_c += acc * np.exp(c)[:, None]
        if nxt is not None: bufs[1 - at] = nxt
    return acc_b[:valid, :n_lim], acc_c[:valid, :n_lim]

def direct(x, dy, Bm, Cm, cum, R, H, n0, valid, per_group):
    N = Bm.shape[1]; n_lim = min(BLOCK, N - n0)
    dB = np.zeros((valid, n_lim)); dC = np.zeros((valid, n_lim))
    for h in range(per_group):
        c = cum[h]
        D = np.zeros((valid, valid))
        for s in range(valid):
            for t in range(s + 1):
                D[s, t] = dy[h, s] @ x[h, t] * np.exp(c[s] - c[t])
        dB += D.T @ Cm[:valid, n0:n0 + n_lim] + np.exp(c[STEPS - 1] - c[:valid])[:, None] * (x[h, :valid] @ R[h][:, n0:n0 + n_lim])
        dC += D @ Bm[:valid, n0:n0 + n_lim] + np.exp(c[:valid])[:, None] * (dy[h, :valid] @ H[h][:, n0:n0 + n_lim])
    return dB, dC

for (P, N, n0, valid, G) in [(64, 128, 64, 64, 3), (48, 96, 64, 37, 2), (16, 16, 0, 64, 1), (70, 130, 128, 50, 2)]:
    x = rng.standard_normal((G, STEPS, P)); dy = rng.standard_normal((G, STEPS, P))
    x[:, valid:] = 0; dy[:, valid:] = 0  # rows past valid are never read (gather limits)
    Bm = rng.standard_normal((STEPS, N)); Cm = rng.standard_normal((STEPS, N))
    a = -rng.random((G, STEPS)) * 0.1; a[:, valid:] = 0; cum = np.cumsum(a, axis=1)
    R = rng.standard_normal((G, P, N)); H = rng.standard_normal((G, P, N))
    mb, mc = bc_model(x, dy, Bm, Cm, cum, R, H, n0, valid, G)
    db, dc = direct(x, dy, Bm, Cm, cum, R, H, n0, valid, G)
    n_lim = min(BLOCK, N - n0)
    print(P, N, n0, valid, G, np.abs(mb[:, :n_lim] - db).max(), np.abs(mc[:, :n_lim] - dc).max())

# --- The output block's pipeline (ssd-output-pipeline.patch): the carried state's
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
