"""The DPLR generating function's three CubeCL kernels
(`ops/dplr_spectrum/kernels.rs`), emitted by cube-host, compiled as host C++
with prelude.h and run one unit after another (they have no barrier),
against the op's definition in NumPy at three shapes (ranks 1 and 2, one and
two channels): K̂ = k_{B,C} − k_{P,C}·M⁻¹·k_{B,Q} over the 2N expanded modes,
and every gradient by central differences of Σ K̂·g; the backward chains
the per-node kernel's α, β and ∂Δ terms into the per-mode one, as
`cube.rs` launches them. Prints each relative error and the worst.
    python3 check_dplr.py CUBE_HOST_BINARY"""
import subprocess, sys, numpy as np, os
rng = np.random.default_rng(0)
BIN = sys.argv[1]

def emit(kind, rank, ch):
    src = subprocess.run([BIN, kind, str(rank), str(ch)], capture_output=True, text=True, check=True).stdout
    src = src.replace('#include <cuda_runtime.h>', '')
    import re
    src = re.sub(r'extern "C" __global__ void __launch_bounds__\([0-9]*\)([a-z_]*) \(', r'void \1(', src)
    return src

def build(kind, rank, ch, nbuf):
    name = f'{kind}_{rank}_{ch}'
    open(f'{name}.inc', 'w').write(emit(kind, rank, ch))
    args = ', '.join(f'(double*)bufs[{i}].data()' for i in range(nbuf))
    drv = f'''#include "prelude.h"
#include "{name}.inc"
int main(int argc, char** argv) {{
  unsigned heads = atoi(argv[1]), modes = atoi(argv[2]), count = atoi(argv[3]), units = atoi(argv[4]);
  std::vector<std::vector<double>> bufs({nbuf});
  for (int i = 0; i < {nbuf}; i++) {{
    size_t n = atol(argv[5 + i]);
    bufs[i].assign(n, 12345.0);
    char path[64]; snprintf(path, 64, "in_%d.bin", i);
    FILE* fp = fopen(path, "rb");
    if (fp) {{ if (fread(bufs[i].data(), 8, n, fp) != n) {{ fprintf(stderr, "short %s\\n", path); return 1; }} fclose(fp); }}
  }}
  struct {{ unsigned s[4]; unsigned meta[56]; }} info{{}};
  info.s[0] = heads; info.s[1] = modes; info.s[2] = count;
  blockDim = {{256, 1, 1}};
  gridDim = {{(units + 255) / 256, 1, 1}};
  for (unsigned b = 0; b < gridDim.x; b++)
    for (unsigned t = 0; t < 256; t++) {{
      threadIdx = {{t, 0, 0}}; blockIdx = {{b, 0, 0}};
      dplr({args}, (const info_st*)&info);
    }}
  for (int i = 0; i < {nbuf}; i++) {{
    char path[64]; snprintf(path, 64, "out_%d.bin", i);
    FILE* fp = fopen(path, "wb"); fwrite(bufs[i].data(), 8, bufs[i].size(), fp); fclose(fp);
  }}
}}
'''
    open(f'{name}.cpp', 'w').write(drv)
    subprocess.run(['g++', '-O1', '-std=c++20', '-pthread', f'{name}.cpp', '-o', name], check=True)
    return './' + name

def run(exe, heads, modes, count, units, bufs):
    for f in os.listdir('.'):
        if f.startswith('in_') or f.startswith('out_'): os.remove(f)
    sizes = []
    for i, b in enumerate(bufs):
        if isinstance(b, int):
            sizes.append(b)
        else:
            np.asarray(b, dtype=np.float64).ravel().tofile(f'in_{i}.bin'); sizes.append(np.asarray(b).size)
    subprocess.run([exe, str(heads), str(modes), str(count), str(units)] + [str(s) for s in sizes], check=True)
    return [np.fromfile(f'out_{i}.bin', dtype=np.float64) for i in range(len(bufs))]

def spectrum(dt, lam, b, p, c, nodes):
    """K̂ (H, Cc, S) by the op's definition over the 2N expanded modes."""
    H, N = lam.shape; r = p.shape[0]; Cc = c.shape[0]
    ex = lambda z: np.concatenate([z, np.conj(z)], axis=-1)
    L, B, P, C = ex(lam), ex(b), ex(p), ex(c)
    Q = np.conj(P)
    out = np.zeros((H, Cc, len(nodes)), complex)
    for h in range(H):
        for k, s in enumerate(nodes):
            x = 1 / (s - dt[h] * L[h])
            kf = lambda a, bb: dt[h] * np.sum(a * bb * x)
            M = np.array([[(i == j) + kf(P[j, h], Q[i, h]) for j in range(r)] for i in range(r)])
            Mi = np.linalg.inv(M)
            for cc in range(Cc):
                kpc = np.array([kf(P[j, h], C[cc, h]) for j in range(r)])
                kbq = np.array([kf(B[h], Q[i, h]) for i in range(r)])
                out[h, cc, k] = kf(B[h], C[cc, h]) - kpc @ Mi @ kbq
    return out

worst = 0.0
for (H, N, r, Cc, Lk) in [(3, 2, 1, 1, 8), (2, 3, 2, 2, 33), (2, 4, 1, 2, 64)]:
    nodes = np.array([2j * np.tan(np.pi * k / Lk) for k in range((Lk + 1) // 2)])
    S = len(nodes)
    dt = 10 ** rng.uniform(-3, -1, H)
    lam = -0.5 * np.exp(0.2 * rng.standard_normal((H, N))) + 1j * (np.pi * np.arange(N) + 0.1 * rng.standard_normal((H, N)))
    cplx = lambda *s: rng.standard_normal(s) + 1j * rng.standard_normal(s)
    b, p, c = cplx(H, N), cplx(r, H, N), cplx(Cc, H, N)
    g = rng.standard_normal((2, H, Cc, S))
    ins = [dt, lam.real, lam.imag, b.real, b.imag, p.real, p.imag, c.real, c.imag,
           np.stack([nodes.real, nodes.imag], 1)]
    exe = build('dplr-forward', r, Cc, 11)
    out = run(exe, H, N, S, H * S, ins + [2 * H * Cc * S])[10].reshape(2, H, Cc, S)
    ref = spectrum(dt, lam, b, p, c, nodes)
    err = max(np.abs(out[0] - ref.real).max(), np.abs(out[1] - ref.imag).max()) / np.abs(ref).max()
    print(f'forward H{H} N{N} r{r} C{Cc} L{Lk}: {err:.2e}'); worst = max(worst, err)
    # Backward: node terms, then mode grads.
    exe = build('dplr-node-terms', r, Cc, 16)
    o = run(exe, H, N, S, H * S, ins + [g, H * S * r, H * S * r, H * S * Cc * r, H * S * Cc * r, H * S])
    alpha_re, alpha_im, beta_re, beta_im, terms = o[11:16]
    exe = build('dplr-mode-grads', r, Cc, 23)
    o = run(exe, H, N, S, H * N, ins + [g, alpha_re, alpha_im, beta_re, beta_im] + [H * N] * 4 + [r * H * N] * 2 + [Cc * H * N] * 2)
    got = {'dt': terms.reshape(H, S).sum(1), 'lam': o[15] + 1j * o[16], 'b': o[17] + 1j * o[18],
           'p': o[19] + 1j * o[20], 'c': o[21] + 1j * o[22]}
    loss = lambda dt, lam, b, p, c: np.sum(spectrum(dt, lam, b, p, c, nodes).real * g[0] + spectrum(dt, lam, b, p, c, nodes).imag * g[1])
    params = dict(dt=dt, lam=lam, b=b, p=p, c=c)
    eps = 1e-6
    for name, val in params.items():
        fd = np.zeros(val.shape, complex if np.iscomplexobj(val) else float)
        for idx in np.ndindex(val.shape):
            for part, unit in ([('re', 1.0)] + ([('im', 1j)] if np.iscomplexobj(val) else [])):
                plus = {k: v.copy() for k, v in params.items()}; minus = {k: v.copy() for k, v in params.items()}
                step = eps * max(1.0, abs(val[idx]))
                plus[name][idx] += unit * step; minus[name][idx] -= unit * step
                d = (loss(**plus) - loss(**minus)) / (2 * step)
                fd[idx] += d * (1 if part == 're' else 1j)
        e = np.abs(got[name].reshape(fd.shape) - fd).max() / max(np.abs(fd).max(), 1e-300)
        print(f'  grad {name}: {e:.2e}'); worst = max(worst, e)
print(f'worst {worst:.2e}')
