"""The s4 repository's S4D convolution-kernel generation (S4DKernel of
models/s4/s4d.py, the kernel of its example model) timed on CUDA, forward and
forward plus backward, at the shapes of `ssm bench kernels --only s4d`, as
JSON lines with the same fields. N counts complex modes (S4DKernel's N / 2).

Usage: S4_ROOT=path/to/s4 python3 s4d_kernel_torch.py
"""

import json
import os
import sys
import time

import torch

sys.path.insert(0, os.environ.get("S4_ROOT", "s4"))
from models.s4.s4d import S4DKernel  # noqa: E402


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
