"""Fits the rational erf approximation of ops/support/fast_math.rs (erf_f32).

erf(x) ≈ x·P(x²)/Q(x²) on |x| ≤ CLAMP (erf is 1 to f32 precision beyond), P of
degree NP and Q of degree NQ in t = x², Q(0) = 1. The fit is a linearised
minimax: least squares of x·P(t) − erf(x)·Q(t) on Chebyshev points, reweighted
until the error equi-oscillates (Loeb / Sanathanan–Koerner iterations). Prints
the coefficients and the largest absolute error of the f32 Horner evaluation
against scipy's erf over 2·10⁶ points (the f32 grid of [0, CLAMP] sampled
evenly). Needs numpy and scipy (bench/peers/venv has them).
    python3 scripts/fit_erf.py
"""
import numpy as np
from scipy.special import erf

NP, NQ, CLAMP = 6, 4, 3.92


def fit():
    k = np.arange(6000)
    x = CLAMP * (0.5 - 0.5 * np.cos(np.pi * (k + 0.5) / len(k)))
    t, f = x * x, erf(x)
    s = CLAMP * CLAMP  # t / s in [0, 1] keeps the powers well scaled
    u = t / s
    qv = np.ones_like(x)
    lawson = np.ones_like(x)
    for it in range(60):
        a = np.hstack([x[:, None] * u[:, None] ** np.arange(NP + 1),
                       -f[:, None] * u[:, None] ** np.arange(1, NQ + 1)])
        w = np.sqrt(lawson) / np.abs(qv)
        sol, *_ = np.linalg.lstsq(a * w[:, None], f * w, rcond=None)
        p, q = sol[:NP + 1], np.concatenate([[1.0], sol[NP + 1:]])
        qv = np.polyval(q[::-1], u)
        err = x * np.polyval(p[::-1], u) / qv - f
        if it >= 10:  # Lawson: move weight towards the largest errors
            lawson = lawson * np.abs(err)
            lawson /= lawson.sum()
    # Back to powers of t.
    scale = s ** -np.arange(max(NP, NQ) + 1)
    return p * scale[:NP + 1], q * scale[:NQ + 1]


def horner32(c, t):
    acc = np.float32(c[-1])
    for v in c[-2::-1]:
        acc = np.float32(acc * t + np.float32(v))
    return acc


def main():
    p, q = fit()
    p32, q32 = p.astype(np.float32), q.astype(np.float32)
    x = np.linspace(0, 4.5, 2_000_001).astype(np.float32)
    xc = np.minimum(x, np.float32(CLAMP))
    t = xc * xc
    y = np.minimum(xc * horner32(p32, t) / horner32(q32, t), np.float32(1.0))
    err = np.abs(y.astype(np.float64) - erf(x.astype(np.float64)))
    print("P", [f"{v:.9e}" for v in p32])
    print("Q", [f"{v:.9e}" for v in q32])
    print(f"max |error| {err.max():.3e} at x = {x[err.argmax()]:.6f}")


if __name__ == "__main__":
    main()
