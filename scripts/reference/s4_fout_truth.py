#!/usr/bin/env python3
"""The exact gradients of an S4 FFTConv case's state matrix, to 40 digits.

For each `s4_f64_fftconv_*` case given, evaluates L = sum(grad_output * y) with
y = GELU(causal_conv(u, K) + D u) and K the DPLR kernel of the stored parameters
(the generating function at the bilinear nodes, Woodbury, inverse DFT — the math
of state-spaces/s4's SSMKernelDPLR, written independently here) in mpmath at 40
significant digits, and differentiates it with respect to every entry of
`kernel.A_imag` and `kernel.A_real` by mpmath's high-precision differences.

The official float64 code's own rounding is about 2^-53 / |Lambda|^2 relative for
these gradients (its Woodbury correction differences terms that much larger than
the result, at the node s = 0), which for FouT's near-DC mode (|Lambda| = 1.4e-4) is
up to ~5e-9: these values are the truth both implementations are measured against.

    python scripts/reference/s4_fout_truth.py CASE.safetensors [...]         # print
    python scripts/reference/s4_fout_truth.py --write CASE.safetensors [...] # add truth.* keys

`--write` adds `truth.grad.kernel.A_imag` and `truth.grad.kernel.A_real` (float64) to
each file, leaving every other tensor as it was. Needs numpy, mpmath, safetensors.
"""

import argparse

import mpmath as mp
import numpy as np
from safetensors.numpy import load_file, save_file

mp.mp.dps = 40


def case_math(t):
    P = lambda k: t["param." + k].astype(np.float64)
    inv_dt, a_real, a_imag = P("kernel.inv_dt"), P("kernel.A_real"), P("kernel.A_imag")
    b, c, p, d = P("kernel.B"), P("kernel.C"), P("kernel.P"), P("D")
    u, g = t["input"].astype(np.float64), t["grad_output"].astype(np.float64)
    l_kernel = int(t["buffer.kernel.l_kernel"])
    batch, h_count, length = u.shape
    s_count, nh = a_real.shape
    channels = c.shape[0]
    rank = p.shape[0]
    cx = lambda a: mp.mpc(mp.mpf(float(a[0])), mp.mpf(float(a[1])))

    def kernel(h, a_re, a_im):
        """K[c][l] for channel h with copy s = h % S given as lists of mpf."""
        s = h % s_count
        dt = mp.exp(mp.mpf(float(inv_dt[h, 0])))
        lam = [-mp.exp(a_re[n]) - 1j * a_im[n] for n in range(nh)]
        bb = [cx(b[0, s, n]) for n in range(nh)]
        pp = [[cx(p[r, s, n]) for n in range(nh)] for r in range(rank)]
        cc = [[cx(c[ci, h, n]) for n in range(nh)] for ci in range(channels)]
        expand = lambda v: v + [z.conjugate() for z in v]
        w = expand([x * dt for x in lam])
        B2 = expand(bb)
        P2 = [expand(r) for r in pp]
        Q2 = [[z.conjugate() for z in r] for r in P2]
        C2 = [expand(r) for r in cc]
        half = l_kernel // 2 + 1
        spectra = [[None] * half for _ in range(channels)]
        for k in range(half):
            if 2 * k == l_kernel:  # Nyquist node: the limit s -> infinity
                for ci in range(channels):
                    spectra[ci][k] = dt * mp.re(sum(cc[ci][n] * bb[n] for n in range(nh)))
                continue
            z = 2j * mp.tan(mp.pi * k / l_kernel)
            x = [1 / (z - wm) for wm in w]
            ksum = lambda a, bv: dt * sum(a[m] * bv[m] * x[m] for m in range(len(w)))
            M = mp.matrix(rank, rank)
            for i in range(rank):
                for j in range(rank):
                    M[i, j] = (1 if i == j else 0) + ksum(P2[j], Q2[i])
            Minv = M ** -1
            k_bq = [ksum(B2, Q2[i]) for i in range(rank)]
            factor = 1 + 1j * mp.tan(mp.pi * k / l_kernel)  # 2 / (1 + omega)
            for ci in range(channels):
                k_pc = [ksum(P2[j], C2[ci]) for j in range(rank)]
                corr = sum(k_pc[j] * Minv[j, i] * k_bq[i] for j in range(rank) for i in range(rank))
                spectra[ci][k] = (ksum(B2, C2[ci]) - corr) * factor
        out = []
        for ci in range(channels):
            kf = spectra[ci]
            row = []
            for l in range(length):
                acc = mp.re(kf[0])
                for k in range(1, half):
                    term = mp.re(kf[k] * mp.exp(2j * mp.pi * k * l / l_kernel))
                    acc += term if 2 * k == l_kernel else 2 * term
                row.append(acc / l_kernel)
            out.append(row)
        return out

    def loss(h, kern):
        total = mp.mpf(0)
        for ci in range(channels):
            dd = mp.mpf(float(d[ci, h]))
            for bi in range(batch):
                uu = [mp.mpf(float(v)) for v in u[bi, h]]
                for tt in range(length):
                    pre = sum(kern[ci][l] * uu[tt - l] for l in range(tt + 1)) + dd * uu[tt]
                    gelu = pre * (1 + mp.erf(pre / mp.sqrt(2))) / 2
                    total += mp.mpf(float(g[bi, ci * h_count + h, tt])) * gelu
        return total

    def gradients():
        grad_im = np.zeros((s_count, nh))
        grad_re = np.zeros((s_count, nh))
        for s in range(s_count):
            base_re = [mp.mpf(float(v)) for v in a_real[s]]
            base_im = [mp.mpf(float(v)) for v in a_imag[s]]
            for n in range(nh):
                for out, base, is_im in ((grad_im, base_im, True), (grad_re, base_re, False)):

                    def f(theta):
                        v = list(base)
                        v[n] = theta
                        re, im = (base_re, v) if is_im else (v, base_im)
                        return sum(loss(h, kernel(h, re, im)) for h in range(s, h_count, s_count))

                    out[s, n] = float(mp.diff(f, base[n]))
        return grad_im, grad_re

    return gradients


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cases", nargs="+")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    for path in args.cases:
        t = load_file(path)
        grad_im, grad_re = case_math(t)()
        for name, truth in (("A_imag", grad_im), ("A_real", grad_re)):
            ref = t[f"grad.kernel.{name}"].astype(np.float64)
            scale = np.abs(truth).max()
            print(f"{path}: {name}: official f64 vs truth {np.abs(ref - truth).max() / scale:.3e}")
        if args.write:
            t["truth.grad.kernel.A_imag"] = grad_im
            t["truth.grad.kernel.A_real"] = grad_re
            save_file(t, path)


if __name__ == "__main__":
    main()
