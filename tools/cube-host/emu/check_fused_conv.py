"""Draws one convolution, runs the emulated kernel (emu_M) on it and prints
its norm-relative error max|y - ref| / max|ref| against NumPy in f64:
ref = irfft_n(rfft_n(u) * rfft_n(k))[:L] + d * u per channel.
Arguments: B L H C Lk n (n = 2M a power of two). Run in the build folder."""
import subprocess
import sys

import numpy as np

B, L, H, C, Lk, n = map(int, sys.argv[1:7])
m = n // 2
rng = np.random.default_rng(1)
u = rng.standard_normal((B, L, H)).astype(np.float32)
k = rng.standard_normal((C, H, Lk)).astype(np.float32)
d = rng.standard_normal((C, H)).astype(np.float32)
spectra = np.fft.rfft(k.astype(np.float64), n).reshape(C * H, m + 1)
np.stack([spectra.real, spectra.imag], -1).astype(np.float32).tofile("k.bin")
u.tofile("u.bin")
d.tofile("d.bin")
subprocess.run([f"./emu_{m}", str(B), str(L), str(H), str(C), str(m)], check=True)
y = np.fromfile("y.bin", np.float32).reshape(B, L, C * H)
U = np.fft.rfft(u.astype(np.float64), n, axis=1)
ref = np.zeros((B, L, C * H))
for c in range(C):
    for h in range(H):
        row = np.fft.irfft(U[:, :, h] * spectra[c * H + h][None], n, axis=1)[:, :L]
        ref[:, :, c * H + h] = row + d[c, h] * u[:, :, h]
err = np.abs(y - ref).max() / np.abs(ref).max()
print(f"B {B} L {L} H {H} C {C} Lk {Lk} n {n}: norm-relative error {err:.2e}")
sys.exit(0 if err < 1e-5 else 1)
