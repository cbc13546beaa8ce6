"""The s4 repository's kernel generation timed on CUDA, forward and forward
plus backward, as JSON lines with the fields of `ssm bench kernels`:
- S4D (S4DKernel of models/s4/s4d.py, the kernel of its example model) at the
  shapes of `--only s4d`; N counts complex modes (S4DKernel's N / 2);
- S4's Cauchy product as its S4 kernel computes it without its CUDA
  extension or pykeops (neither is installed here; models/s4/s4.py falls back
  to broadcasting v/(z − w) over (..., 2N, L) and summing: `naive_cauchy`
  below does the same, since importing s4.py needs pytorch_lightning) at the
  shapes of `--only cauchy`: R rows, N poles conjugate-expanded to 2N,
  ⌈L/2⌉ + 1 nodes.

Usage: S4_ROOT=path/to/s4 python3 s4_kernels_torch.py
"""

import json
import os
import sys
import time

import torch

sys.path.insert(0, os.environ.get("S4_ROOT", "s4"))
from models.s4.s4d import S4DKernel  # noqa: E402


def naive_cauchy(v, nodes, poles):
    """Σ over the 2N conjugate-expanded poles of v/(node − pole): v (..., N),
    nodes (L), poles (..., N) → (..., L)."""
    v = torch.cat([v, v.conj()], dim=-1)
    poles = torch.cat([poles, poles.conj()], dim=-1)
    return (v.unsqueeze(-1) / (nodes - poles.unsqueeze(-1))).sum(dim=-2)


def median_ms(f, runs=10):
    """Median wall-clock milliseconds of f, synchronised, after two warm-ups
    (as the statespace CLI times its ops)."""
    for _ in range(2):
        f()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        f()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return times[len(times) // 2]


for h, n, length in [(128, 32, 1024), (256, 32, 4096), (256, 32, 16384)]:
    kernel = S4DKernel(h, N=2 * n).cuda()

    def forward_backward():
        kernel.zero_grad(set_to_none=True)
        kernel(length).sum().backward()

    with torch.no_grad():
        fwd = median_ms(lambda: kernel(length))
    fwd_bwd = median_ms(forward_backward)
    print(json.dumps({"what": "s4.s4d_kernel", "H": h, "N": n, "L": length, "dtype": "fp32",
                      "fwd_ms": round(fwd, 4), "fwd_bwd_ms": round(fwd_bwd, 4)}))

for h, r, n, length in [(128, 4, 32, 1024), (256, 4, 32, 4096), (256, 4, 32, 16384)]:
    v = torch.randn(r, h, n, dtype=torch.cfloat, device="cuda", requires_grad=True)
    poles = torch.complex(torch.full((h, n), -0.005), torch.randn(h, n)).cuda().requires_grad_()
    nodes = 2j * torch.tan(torch.pi * torch.arange(length // 2 + 1, device="cuda") / length)

    def cauchy_forward_backward():
        v.grad, poles.grad = None, None
        torch.view_as_real(naive_cauchy(v, nodes, poles)).sum().backward()

    with torch.no_grad():
        fwd = median_ms(lambda: naive_cauchy(v, nodes, poles))
    fwd_bwd = median_ms(cauchy_forward_backward)
    print(json.dumps({"what": "s4.cauchy", "H": h, "R": r, "N": n, "L": length, "dtype": "fp32",
                      "fwd_ms": round(fwd, 4), "fwd_bwd_ms": round(fwd_bwd, 4)}))
