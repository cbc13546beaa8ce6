"""Runs the emulated column-sum kernels (emu_cs_weighted, emu_cs_plain) the
way main's `Spectral::skip_gradient` launches them, for ∂d of
convolutions (B, L, C, H): strips of the B·L rows of ∂y·u, then the partials
as one strip (the strip sizes of `Spectral::skip_gradient_sums`), and prints
the error against the f64 sum of the same f32 inputs, relative to the size of
its terms (Σ|∂y·u|: the sum cancels, so no f32 order does better than that)
and to |∂d| at most. Exits 1 past 1e-6 of the terms' size. Run in the build
folder."""
import subprocess
import sys

import numpy as np

STRIP_ROWS, TILE_ROWS, GRID_YZ = 256, 8, 65535


def strips_of(rows):
    strip = max(STRIP_ROWS, -(-(-(-rows // GRID_YZ)) // TILE_ROWS) * TILE_ROWS)
    strips = -(-rows // strip)
    return strip, strips, -(-strips // TILE_ROWS) * TILE_ROWS


def launch(which, x, u, rows, cols, channels, strip, strips):
    x.astype(np.float32).tofile("x.bin")
    if u is not None:
        u.astype(np.float32).tofile("u.bin")
    args = [str(v) for v in (rows, cols, channels, strip, strips, int(u is not None))]
    subprocess.run([f"./emu_cs_{which}"] + args, check=True)
    return np.fromfile("out.bin", np.float32).reshape(strips, cols)


rng = np.random.default_rng(5)
status = 0
# (B, L, C, H): one strip (no second launch), the parity's L 5000 and 4096
# shapes, columns not a multiple of 32, an S4D layer of `ssm bench train`.
for b, length, c, h in [(1, 100, 2, 3), (1, 5000, 1, 2), (1, 4096, 2, 2), (3, 700, 3, 5), (32, 200, 1, 64)]:
    rows, cols = b * length, c * h
    gy = rng.standard_normal((rows, cols)).astype(np.float32)
    u = rng.standard_normal((rows, h)).astype(np.float32)
    strip, strips, strip_of_partials = strips_of(rows)
    partials = launch("weighted", gy, u, rows, cols, h, strip, strips)
    dd = partials if strips == 1 else launch("plain", partials, None, strips, cols, h, strip_of_partials, 1)
    terms = gy.astype(np.float64) * np.tile(u.astype(np.float64), (1, c))
    exact = terms.sum(axis=0)
    size = np.abs(terms).sum(axis=0)
    err = np.abs(dd[0].astype(np.float64) - exact)
    of_terms = (err / size).max()
    of_result = err.max() / np.abs(exact).max()
    print(f"∂d (B {b}, L {length}, C {c}, H {h}), {strips} strips of {strip}: "
          f"{of_terms:.2e} of the terms' size, {of_result:.2e} of max |∂d|")
    status |= of_terms > 1e-6 or np.any(dd == 12345.0)
sys.exit(status)
