"""Time mamba_ssm's Triton Mamba-3 SISO scan (`mamba3_siso_combined`), forward and
forward+backward, at the shapes of `ssm bench kernels --only mamba3` (run on the GPU box).

MAMBA_SRC: a folder holding mamba_ssm/ of state-spaces/mamba (commit e9594ce or later).
DTYPES: comma-separated torch dtypes to time (default "float32,bfloat16"); each one
autotunes the kernels afresh (minutes on a cold machine).
Only the Triton modules are imported: the package's __init__ (which loads the CUDA
extensions) is bypassed, so no build is needed. Prints one JSON line per measurement,
with the fields of ours (`statespace.mamba3_siso`).

Inputs as the Mamba3 module passes them: Q, K = C, B after their RMSNorm
(batch, L, groups 1, N); V, Z (batch, L, heads, P); ADT, DT, Trap (batch, heads, L);
Angles (batch, L, heads, S = N/4 for rope_fraction 0.5); biases (heads, N); D (heads).
"""
import json, os, sys, types

import torch

from cuda_timing import bench

REF = os.environ.get("MAMBA_SRC", "mamba-src")
package = types.ModuleType("mamba_ssm")
package.__path__ = [os.path.join(REF, "mamba_ssm")]
sys.modules["mamba_ssm"] = package
from mamba_ssm.ops.triton.mamba3.mamba3_siso_combined import mamba3_siso_combined  # noqa: E402

dev = "cuda"




for (b, L, h, p, n) in [(8, 2048, 24, 64, 128), (1, 65536, 24, 64, 128)]:
    for dtype in [getattr(torch, name) for name in os.environ.get("DTYPES", "float32,bfloat16").split(",")]:
        try:
            s = n // 4
            leaf = lambda *shape, dt=dtype, scale=1.0: (torch.randn(*shape, device=dev, dtype=dt) * scale).requires_grad_(True)
            Q, K = leaf(b, L, 1, n), leaf(b, L, 1, n)
            V, Z = leaf(b, L, h, p), leaf(b, L, h, p)
            DT = (torch.rand(b, h, L, device=dev) * 0.09 + 0.01).requires_grad_(True)
            ADT = (-DT.detach() * (torch.rand(b, h, L, device=dev) * 1.5 + 0.5)).requires_grad_(True)
            Trap = leaf(b, h, L, dt=torch.float32)
            Angles = leaf(b, L, h, s, dt=torch.float32)
            Qb, Kb = leaf(h, n, dt=torch.float32), leaf(h, n, dt=torch.float32)
            D = leaf(h, dt=torch.float32)
            f = lambda: mamba3_siso_combined(Q, K, V, ADT, DT, Trap, Qb, Kb, Angles, D=D, Z=Z, chunk_size=64)
            ms = bench(f)
            def fb():
                y = f(); y.backward(torch.ones_like(y))
            msfb = bench(fb)
            print(json.dumps(dict(what="mamba_ssm.mamba3_siso_triton", batch=b, L=L, heads=h, headdim=p, dstate=n,
                                  dtype=str(dtype).replace("torch.", ""), fwd_ms=ms, fwd_bwd_ms=msfb)), flush=True)
        except Exception as e:  # report, do not hide, a peer that fails
            print(json.dumps(dict(what="mamba_ssm.mamba3_siso_triton", batch=b, L=L, dtype=str(dtype),
                                  error=repr(e)[:400])), flush=True)
        torch.cuda.empty_cache()
