"""Runs the emulated GELU kernels (emu_gelu_forward, emu_gelu_backward) on x
from -13 to 6 and prints their largest relative error against the exact
x·Φ(x) and ∂y·(Φ(x) + x·φ(x)) of the same f32 inputs (math.erfc in f64).
The backward's error is relative to |∂y|·(Φ + |x|·φ), the size of its two
terms: their sum crosses zero near x = −0.75, where any f32 evaluation
cancels. Exits 1 past 1e-5. Run in the build folder."""
import math
import subprocess
import sys

import numpy as np

x = np.arange(-13.0, 6.0, 0.000937, dtype=np.float64).astype(np.float32)
g = np.random.default_rng(2).standard_normal(x.size).astype(np.float32)
x.tofile("x.bin")
g.tofile("g.bin")
xs = x.astype(np.float64)
cdf = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in xs])
pdf = np.exp(-0.5 * xs * xs) / math.sqrt(2 * math.pi)
status = 0
gs = g.astype(np.float64)
cases = [
    ("forward", [], xs * cdf, np.abs(xs) * cdf),
    ("backward", ["backward"], gs * (cdf + xs * pdf), np.abs(gs) * (cdf + np.abs(xs) * pdf)),
]
for what, args, exact, size in cases:
    subprocess.run([f"./emu_gelu_{what}", str(x.size)] + args, check=True)
    out = np.fromfile("out.bin", np.float32).astype(np.float64)
    keep = size != 0
    rel = np.abs(out[keep] - exact[keep]) / size[keep]
    worst = int(np.argmax(rel))
    print(f"gelu {what}: largest relative error {rel[worst]:.2e} (x = {x[keep][worst]:.4f}) over {x.size} inputs in [-13, 6)")
    status |= rel[worst] > 1e-5
sys.exit(status)
