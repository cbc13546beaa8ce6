"""Draws one convolution, runs the emulated kernel (emu_M, or emu_grad_M
with "grad") on it and prints its norm-relative error max|out - ref| /
max|ref| against NumPy in f64. Forward: ref = irfft_n(rfft_n(u)·K)[:L] + d·u
per channel; grad: ref = Σ_c irfft_n(rfft_n(∂y_c)·conj(K_c))[:L] + Σ_c d_c·∂y_c.
Arguments: B L H C Lk n [grad] (n = 2M a power of two). Run in the build
folder."""
import subprocess
import sys

import numpy as np

B, L, H, C, Lk, n = map(int, sys.argv[1:7])
grad = sys.argv[7:] == ["grad"]
m = n // 2
rng = np.random.default_rng(1)
x = rng.standard_normal((B, L, C * H if grad else H)).astype(np.float32)
k = rng.standard_normal((C, H, Lk)).astype(np.float32)
d = rng.standard_normal((C, H)).astype(np.float32)
spectra = np.fft.rfft(k.astype(np.float64), n).reshape(C * H, m + 1)
np.stack([spectra.real, spectra.imag], -1).astype(np.float32).tofile("k.bin")
x.tofile("in.bin")
d.tofile("d.bin")
emu = f"./emu_grad_{m}" if grad else f"./emu_{m}"
subprocess.run([emu, str(B), str(L), str(H), str(C), str(m)] + (["grad"] if grad else []), check=True)
X = np.fft.rfft(x.astype(np.float64), n, axis=1)
if grad:
    out = np.fromfile("out.bin", np.float32).reshape(B, L, H)
    ref = np.zeros((B, L, H))
    for c in range(C):
        for h in range(H):
            row = c * H + h
            ref[:, :, h] += np.fft.irfft(X[:, :, row] * np.conj(spectra[row])[None], n, axis=1)[:, :L]
            ref[:, :, h] += d[c, h] * x[:, :, row]
else:
    out = np.fromfile("out.bin", np.float32).reshape(B, L, C * H)
    ref = np.zeros((B, L, C * H))
    for c in range(C):
        for h in range(H):
            row = np.fft.irfft(X[:, :, h] * spectra[c * H + h][None], n, axis=1)[:, :L]
            ref[:, :, c * H + h] = row + d[c, h] * x[:, :, h]
err = np.abs(out - ref).max() / np.abs(ref).max()
what = "grad" if grad else "forward"
print(f"{what} B {B} L {L} H {H} C {C} Lk {Lk} n {n}: norm-relative error {err:.2e}")
sys.exit(0 if err < 1e-5 else 1)
