"""Would SSD as batched GEMMs (cuBLAS, bf16 tensor cores) plus element-wise
passes keep up with mamba_ssm's Triton SSD? A probe before building it.

Our fused SSD kernels run every chunk product on the CUDA cores at 11-13
TFLOP/s and stand at 0.52x / 0.23x Triton forward + backward
(docs/BENCHMARKS.md). This script writes the chunked algorithm in plain eager
PyTorch: every product a batched `torch.matmul` (cuBLAS; bf16 operands, f32
accumulation) and everything else separate element-wise kernels, with
autograd for the backward. Eager PyTorch launches more and fuses nothing, so
its times bound from above what such a design costs. They are printed beside
Triton's `mamba_chunk_scan_combined`, timed in the same process on the same
inputs, with the largest difference of the outputs.

The chunked algorithm (chunk length Q, c = L / Q chunks, a = dt * A):
  cum      = cumulative sum of a inside each chunk                  (b, h, c, Q)
  CB       = C_t . B_s per group                                   (b, g, c, Q, Q)
  M        = CB * exp(cum_t - cum_s) * dt_s, zero where s > t      (b, h, c, Q, Q)
  y_diag   = M @ x                                                 (b, h, c, Q, p)
  S        = (x * dt * exp(cum_end - cum))^T @ B   (chunk states)  (b, h, c, p, n)
  H        = states entering each chunk: H_0 = 0,
             H_{k+1} = exp(total_k) H_k + S_k, as one product with the
             lower-triangular matrix of exp(segment sums of the totals)
  y_off    = (C @ H^T) * exp(cum)                                  (b, h, c, Q, p)
  y        = y_diag + y_off + D x

Environment: MAMBA_SRC (mamba_ssm/ of state-spaces/mamba, for Triton's),
CHUNKS (default "64 128 256"). Prints one JSON line per measurement.
"""
import json
import os
import sys

import torch

from cuda_timing import bench

sys.path.insert(0, os.environ.get("MAMBA_SRC", "mamba-src"))
dev = "cuda"


def emit(**kw):
    print(json.dumps(kw), flush=True)


def ssd_gemm(x, dt, A, B, C, D, q, pass_states=True):
    """y (b, L, h, p) in x's dtype. x (b, L, h, p), dt (b, L, h) f32,
    A (h,), B and C (b, L, g, n), D (h,); L a multiple of q. With
    pass_states false the chunk-to-chunk product is left out (each chunk's
    own state stands in for the entering one: wrong values, the same shapes),
    to time the rest alone: that product grows with c^2, where a recurrence
    kernel (ours takes 0.2 ms at 8 x 2048) grows with c."""
    b, L, h, p = x.shape
    g, n = B.shape[2], B.shape[3]
    c = L // q
    dtype = x.dtype
    a = (dt * A).reshape(b, c, q, h).permute(0, 3, 1, 2)  # (b, h, c, q)
    cum = torch.cumsum(a, dim=-1)
    dts = dt.reshape(b, c, q, h).permute(0, 3, 1, 2)  # (b, h, c, q)
    per_head = lambda t: t.repeat_interleave(h // g, dim=1) if g > 1 else t
    # (b, g, c, q, n)
    Bc = B.reshape(b, c, q, g, n).permute(0, 3, 1, 2, 4)
    Cc = C.reshape(b, c, q, g, n).permute(0, 3, 1, 2, 4)
    xc = x.reshape(b, c, q, h, p).permute(0, 3, 1, 2, 4)  # (b, h, c, q, p)
    cb = torch.matmul(Cc, Bc.transpose(-1, -2)).float()  # (b, g, c, q, q)
    seg = cum.unsqueeze(-1) - cum.unsqueeze(-2)  # cum_t - cum_s
    causal = torch.ones(q, q, device=x.device, dtype=torch.bool).tril()
    decay = torch.exp(seg.masked_fill(~causal, float("-inf")))
    m = (per_head(cb) * decay * dts.unsqueeze(-2)).to(dtype)
    y = torch.matmul(m, xc)  # (b, h, c, q, p)
    w = (torch.exp(cum[..., -1:] - cum) * dts).to(dtype)  # (b, h, c, q)
    states = torch.matmul((xc * w.unsqueeze(-1)).transpose(-1, -2), per_head(Bc))  # (b, h, c, p, n)
    if pass_states:
        entering = pass_between_chunks(states.float(), cum[..., -1])
    else:
        entering = states.float()
    y_off = torch.matmul(per_head(Cc), entering.to(dtype).transpose(-1, -2))  # (b, h, c, q, p)
    y = y + (y_off.float() * torch.exp(cum).unsqueeze(-1)).to(dtype)
    y = y.permute(0, 2, 3, 1, 4).reshape(b, L, h, p)
    return y + (x.float() * D.view(1, 1, h, 1)).to(dtype)


def pass_between_chunks(states, totals):
    """The states entering each chunk (b, h, c, p, n) from the chunks' own
    final states (same shape) and their total log-decays (b, h, c):
    entering_k = sum over j < k of exp(totals_{j+1} + ... + totals_{k-1}) S_j,
    one product with a lower-triangular (c, c) matrix per (b, h)."""
    b, h, c, p, n = states.shape
    tc = torch.cumsum(totals, dim=-1)
    pass_seg = (tc.unsqueeze(-1) - tc.unsqueeze(-2)) - totals.unsqueeze(-1)  # sum over j+1..k-1 at (k, j)
    strict = torch.ones(c, c, device=states.device, dtype=torch.bool).tril(-1)
    transfer = torch.exp(pass_seg.masked_fill(~strict, float("-inf")))  # (b, h, c, c)
    return torch.matmul(transfer, states.reshape(b, h, c, p * n)).reshape(b, h, c, p, n)


def main():
    from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined

    chunks = [int(q) for q in os.environ.get("CHUNKS", "64 128 256").split()]
    for (b, L, h, p, n) in [(8, 2048, 24, 64, 128), (1, 65536, 24, 64, 128)]:
        torch.manual_seed(0)
        dtype = torch.bfloat16
        X = torch.randn(b, L, h, p, device=dev, dtype=dtype, requires_grad=True)
        dt = (torch.rand(b, L, h, device=dev) * 0.1).requires_grad_(True)
        A = (-torch.rand(h, device=dev)).requires_grad_(True)
        B = torch.randn(b, L, 1, n, device=dev, dtype=dtype, requires_grad=True)
        C = torch.randn(b, L, 1, n, device=dev, dtype=dtype, requires_grad=True)
        D = torch.randn(h, device=dev, requires_grad=True)
        shape = dict(batch=b, L=L, heads=h, headdim=p, dstate=n, dtype="bf16")
        triton = lambda: mamba_chunk_scan_combined(X, dt, A, B, C, chunk_size=256, D=D)
        with torch.no_grad():
            ref = triton().float()
        scale = ref.abs().max().item()

        def fwd_bwd(f):
            def run():
                y = f()
                y.backward(torch.ones_like(y))
            return run

        emit(what="mamba_ssm.ssd_triton", **shape, fwd_ms=bench(triton), fwd_bwd_ms=bench(fwd_bwd(triton)))
        for q in chunks:
            if L // q > 512:
                continue  # the c^2 pass alone would take longer than the rest
            ours = lambda: ssd_gemm(X, dt, A, B, C, D, q)
            local = lambda: ssd_gemm(X, dt, A, B, C, D, q, pass_states=False)
            with torch.no_grad():
                err = (ours().float() - ref).abs().max().item() / scale
            torch.cuda.reset_peak_memory_stats()
            emit(what="torch_gemm_ssd", chunk=q, **shape, fwd_ms=bench(ours), fwd_bwd_ms=bench(fwd_bwd(ours)),
                 local_fwd_ms=bench(local), local_fwd_bwd_ms=bench(fwd_bwd(local)),
                 max_err_vs_triton_rel=err, peak_GiB=torch.cuda.max_memory_allocated() / 2**30)
        del X, B, C


if __name__ == "__main__":
    main()
