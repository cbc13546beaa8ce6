# NumPy model of the fused GPU convolution (fft-conv-fused.patch): one cube per
# (batch entry, channel) row does the whole forward pass in shared memory. The
# n-point real transform runs as an M = n/2-point complex one (even samples in
# the real part, odd in the imaginary), radix-2 decimation in time from
# bit-reversed order with a twiddle table of M/2 entries; each unit then takes
# a pair of bins (k, M - k): unpacks the real spectrum there, multiplies by the
# kernel's spectrum (cuFFT's rfft of k, as main computes it), and packs the
# product for the inverse, written in bit-reversed order; the inverse runs the
# same stages with conjugate twiddles. The model follows the kernel's loops
# (units striding over butterflies and pairs, the stage order, the k = 0 and
# k = M/2 pairs) and checks y against the direct convolution for several
# lengths, kernel counts and FFT lengths, including L odd and n = 2 … 8192.
# Run: python3 bench/variants/fft-conv-fused-model.py (prints max errors).
import numpy as np

rng = np.random.default_rng(0)
UNITS = 256


def bitrev(m, bits):
    r = 0
    for _ in range(bits):
        r = (r << 1) | (m & 1)
        m >>= 1
    return r


def twiddles(M):
    j = np.arange(max(M // 2, 1))
    return np.cos(2 * np.pi * j / M), -np.sin(2 * np.pi * j / M)


def stages(re, im, M, twr, twi, inverse):
    # Decimation in time on data already in bit-reversed order.
    half = 1
    while half < M:
        stride = M // (2 * half)
        for unit in range(UNITS):
            for q in range(unit, M // 2, UNITS):
                j = q % half
                i0 = (q // half) * 2 * half + j
                i1 = i0 + half
                wr, wi = twr[j * stride], twi[j * stride]
                if inverse:
                    wi = -wi
                br = wr * re[i1] - wi * im[i1]
                bi = wr * im[i1] + wi * re[i1]
                re[i1], im[i1] = re[i0] - br, im[i0] - bi
                re[i0], im[i0] = re[i0] + br, im[i0] + bi
        half *= 2  # a barrier in the kernel


def spectrum_at(zr, zi, M, k, n):
    # X[k] of the real signal from the packed transform Z (Z[M] = Z[0]).
    a = complex(zr[k % M], zi[k % M])
    c = complex(zr[(M - k) % M], -zi[(M - k) % M])
    w = np.exp(-2j * np.pi * k / n)
    return (a + c) / 2 + w * (a - c) / 2j


def forward(u, kspec, d, n):
    # u (B, L, H), kspec (C, H, M + 1) complex, d (C, H) -> y (B, L, C*H)
    B, L, H = u.shape
    C = kspec.shape[0]
    M = n // 2
    bits = M.bit_length() - 1
    twr, twi = twiddles(M)
    y = np.zeros((B, L, C * H))
    for b in range(B):
        for h in range(H):
            zr, zi = np.zeros(M), np.zeros(M)
            for unit in range(UNITS):
                for m in range(unit, M, UNITS):
                    t0, t1 = 2 * m, 2 * m + 1
                    p = bitrev(m, bits)
                    zr[p] = u[b, t0, h] if t0 < L else 0.0
                    zi[p] = u[b, t1, h] if t1 < L else 0.0
            stages(zr, zi, M, twr, twi, False)
            for c in range(C):
                vr, vi = np.zeros(M), np.zeros(M)
                for unit in range(UNITS):
                    for k in range(unit, M // 2 + 1, UNITS):
                        k2 = M - k
                        yk = spectrum_at(zr, zi, M, k, n) * kspec[c, h, k]
                        yk2 = spectrum_at(zr, zi, M, k2, n) * kspec[c, h, k2]
                        # k = 0 packs bin 0 with bin M; k = M/2 is its own partner.
                        second = k2 != M and k2 != k
                        for idx, (p, q) in ((k, (yk, yk2)), (k2, (yk2, yk)))[:1 + second]:
                            a = (p + np.conj(q)) / 2
                            bf = (p - np.conj(q)) / 2 * np.exp(2j * np.pi * idx / n)
                            z = a + 1j * bf
                            pos = bitrev(idx, bits)
                            vr[pos], vi[pos] = z.real, z.imag
                stages(vr, vi, M, twr, twi, True)
                for t in range(L):
                    v = (vr[t // 2] if t % 2 == 0 else vi[t // 2]) / M
                    y[b, t, c * H + h] = v + d[c, h] * u[b, t, h]
    return y


def direct(u, k, d, n):
    # y[b, t, c*H + h] = sum_s k~[c, h, (t - s) mod n] u[b, s, h] + d u
    B, L, H = u.shape
    C, _, Lk = k.shape
    kt = np.zeros((C, H, n))
    kt[:, :, :Lk] = k
    y = np.zeros((B, L, C * H))
    for c in range(C):
        for h in range(H):
            for t in range(L):
                taps = kt[c, h, (t - np.arange(L)) % n]
                y[:, t, c * H + h] = u[:, :, h] @ taps + d[c, h] * u[:, t, h]
    return y


worst = 0.0
for B, L, H, C, Lk, n in [(2, 5, 3, 1, 5, 16), (1, 7, 2, 2, 4, 16), (2, 1, 1, 1, 1, 2),
                          (1, 2, 2, 1, 2, 4), (1, 33, 3, 2, 33, 128), (1, 100, 2, 1, 60, 256),
                          (1, 600, 1, 1, 600, 2048), (1, 3000, 1, 1, 3000, 8192)]:
    u = rng.standard_normal((B, L, H))
    k = rng.standard_normal((C, H, Lk))
    d = rng.standard_normal((C, H))
    kspec = np.fft.rfft(k, n)
    got = forward(u, kspec, d, n)
    want = direct(u, k, d, n)
    err = np.abs(got - want).max() / max(np.abs(want).max(), 1.0)
    worst = max(worst, err)
    print(f"B {B} L {L} H {H} C {C} Lk {Lk} n {n}: max relative error {err:.2e}")
print(f"worst {worst:.2e}")
assert worst < 1e-12
