// The fused GPU decode step of a Mamba or Mamba-2 language model: one
// token for each of `batch` sequences. Compiled at run time by NVRTC (no
// headers: 16-bit weights are read as raw bits and widened here). Every
// activation and state is f32 (activations are rounded to 16 bits only as
// the inputs of cuBLAS's tensor-core GEMMs); weight matrices are f32, bf16
// or f16 (FMT 0, 1, 2).
//
// Layouts (row-major): a weight matrix (rows, cols) as torch's Linear
// stores it; activations (batch, width); the convolution state (batch,
// channels, K - 1) oldest first; the SSM state (batch, d_inner, N) for
// Mamba, (batch, heads, headdim, N) for Mamba-2.

typedef unsigned short u16;

__device__ __forceinline__ float bf16_to_f32(u16 h) {
    return __uint_as_float(((unsigned int)h) << 16);
}

__device__ __forceinline__ float f16_to_f32(u16 h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}

// Weight element i of a matrix stored as FMT.
template <int FMT>
__device__ __forceinline__ float weight_at(const void* w, size_t i) {
    if (FMT == 0) return ((const float*)w)[i];
    if (FMT == 1) return bf16_to_f32(((const u16*)w)[i]);
    return f16_to_f32(((const u16*)w)[i]);
}

// Bytes of one weight element.
template <int FMT>
struct Width { static const int bytes = FMT == 0 ? 4 : 2; };

// The 16 bytes at `p` widened to f32: 4 values (f32) or 8 (16-bit).
template <int FMT>
__device__ __forceinline__ void widen16(uint4 raw, float* out) {
    if (FMT == 0) {
        out[0] = __uint_as_float(raw.x);
        out[1] = __uint_as_float(raw.y);
        out[2] = __uint_as_float(raw.z);
        out[3] = __uint_as_float(raw.w);
    } else {
        unsigned int words[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
        for (int i = 0; i < 4; i++) {
            u16 lo = (u16)(words[i] & 0xffffu);
            u16 hi = (u16)(words[i] >> 16);
            out[2 * i] = FMT == 1 ? bf16_to_f32(lo) : f16_to_f32(lo);
            out[2 * i + 1] = FMT == 1 ? bf16_to_f32(hi) : f16_to_f32(hi);
        }
    }
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

#define NEG_INF __int_as_float(0xff800000)

__device__ __forceinline__ float silu(float v) { return v / (1.0f + expf(-v)); }

__device__ __forceinline__ float softplus(float v) {
    return v > 20.0f ? v : log1pf(expf(v));
}

// Sequences of a batch one warp's accumulators cover at once.
#define BATCH_TILE 8
// Warps per block of the products.
#define WARPS 8

// The sum of v over the block (every thread gets it); `red` holds 32
// floats of shared memory, free again on return.
__device__ __forceinline__ float block_sum(float v, float* red) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    v = warp_sum(v);
    if (lane == 0) red[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float s = lane < (int)((blockDim.x + 31) >> 5) ? red[lane] : 0.0f;
        s = warp_sum(s);
        if (lane == 0) red[0] = s;
    }
    __syncthreads();
    const float total = red[0];
    __syncthreads();
    return total;
}

// y[b, r] = Σ_c w[r, c] · x[b, c] (+ bias[r]) for every row r of w (rows,
// cols) and sequence b. Each row belongs to `split` warps of a block of
// WARPS (1, 2, 4 or 8), each summing every split-th run of 16-byte weight
// loads per lane; their partial sums meet in shared memory. Sequences go
// BATCH_TILE at a time (x re-read per tile, the weights mostly from L2).
//
// With NORM, x is not read from memory but made by the block: for each
// sequence, v = res_in[b] + add[b] (add may be null), written to res_out[b]
// by block 0 (when res_out is not null), and x = v / sqrt(mean(v²) + eps) ·
// norm_w, kept in dynamic shared memory for `tile` sequences at a time
// (cols = the residual width). Without NORM, x has row stride x_stride.
template <int FMT, bool NORM>
__device__ __forceinline__ void gemv(const void* __restrict__ w, const float* __restrict__ x,
                                     const float* __restrict__ bias, float* __restrict__ y, int rows,
                                     int cols, int batch, int x_stride, int y_stride, int split,
                                     const float* __restrict__ res_in, const float* __restrict__ add,
                                     float* __restrict__ res_out, const float* __restrict__ norm_w,
                                     float eps, int tile) {
    extern __shared__ float normed[];
    __shared__ float partial[WARPS][BATCH_TILE];
    __shared__ float red[32];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int row = blockIdx.x * (WARPS / split) + warp / split;
    const int part = warp % split;
    const bool active = row < rows;
    const int per = 16 / Width<FMT>::bytes;
    const int body = (cols % per) == 0 ? cols : 0;
    const char* base = (const char*)w + (size_t)(active ? row : 0) * cols * Width<FMT>::bytes;
    const int step = NORM ? tile : BATCH_TILE;
    for (int b0 = 0; b0 < batch; b0 += step) {
        const int nb = min(step, batch - b0);
        const float* xs;
        int xstride;
        if (NORM) {
            for (int t = 0; t < nb; t++) {
                const size_t at = (size_t)(b0 + t) * cols;
                float sum = 0.0f;
                for (int i = threadIdx.x; i < cols; i += blockDim.x) {
                    float v = res_in[at + i];
                    if (add) v += add[at + i];
                    if (res_out && blockIdx.x == 0) res_out[at + i] = v;
                    normed[t * cols + i] = v;
                    sum = fmaf(v, v, sum);
                }
                const float scale = 1.0f / sqrtf(block_sum(sum, red) / (float)cols + eps);
                for (int i = threadIdx.x; i < cols; i += blockDim.x)
                    normed[t * cols + i] = normed[t * cols + i] * scale * norm_w[i];
            }
            __syncthreads();
            xs = normed;
            xstride = cols;
        } else {
            xs = x + (size_t)b0 * x_stride;
            xstride = x_stride;
        }
        const bool x4 = (xstride & 3) == 0;
        float acc[BATCH_TILE];
#pragma unroll
        for (int t = 0; t < BATCH_TILE; t++) acc[t] = 0.0f;
        if (active) {
#pragma unroll 2
            for (int c = (part * 32 + lane) * per; c < body; c += split * 32 * per) {
                float wv[8];
                widen16<FMT>(__ldg((const uint4*)(base + (size_t)c * Width<FMT>::bytes)), wv);
#pragma unroll
                for (int t = 0; t < BATCH_TILE; t++) {
                    if (t < nb) {
                        const float* xr = xs + (size_t)t * xstride + c;
                        if (x4) {
#pragma unroll
                            for (int q = 0; q < per; q += 4) {
                                const float4 v = *(const float4*)(xr + q);
                                acc[t] = fmaf(wv[q], v.x, acc[t]);
                                acc[t] = fmaf(wv[q + 1], v.y, acc[t]);
                                acc[t] = fmaf(wv[q + 2], v.z, acc[t]);
                                acc[t] = fmaf(wv[q + 3], v.w, acc[t]);
                            }
                        } else {
#pragma unroll
                            for (int q = 0; q < per; q++) acc[t] = fmaf(wv[q], xr[q], acc[t]);
                        }
                    }
                }
            }
            for (int c = body + part * 32 + lane; c < cols; c += split * 32) {
                const float wc = weight_at<FMT>(w, (size_t)row * cols + c);
#pragma unroll
                for (int t = 0; t < BATCH_TILE; t++)
                    if (t < nb) acc[t] = fmaf(wc, xs[(size_t)t * xstride + c], acc[t]);
            }
        }
#pragma unroll
        for (int t = 0; t < BATCH_TILE; t++) {
            const float s = warp_sum(acc[t]);
            if (lane == 0) partial[warp][t] = s;
        }
        __syncthreads();
        if (active && part == 0 && lane < nb) {
            float s = 0.0f;
            for (int p = 0; p < split; p++) s += partial[warp + p][lane];
            y[(size_t)(b0 + lane) * y_stride + row] = s + (bias ? bias[row] : 0.0f);
        }
        __syncthreads();
    }
}

// The products' entry points: `x` and `x_stride` are read without NORM,
// the residual arguments and `tile` with it (see gemv).
#define GEMV_ENTRY(NAME, FMT, NORM)                                                             \
    extern "C" __global__ void __launch_bounds__(WARPS * 32)                                    \
        NAME(const void* w, const float* x, const float* bias, float* y, int rows, int cols,    \
             int batch, int x_stride, int y_stride, int split, const float* res_in,             \
             const float* add, float* res_out, const float* norm_w, float eps, int tile) {      \
        gemv<FMT, NORM>(w, x, bias, y, rows, cols, batch, x_stride, y_stride, split, res_in,    \
                        add, res_out, norm_w, eps, tile);                                       \
    }
GEMV_ENTRY(gemv_f32, 0, false)
GEMV_ENTRY(gemv_bf16, 1, false)
GEMV_ENTRY(gemv_f16, 2, false)
GEMV_ENTRY(norm_gemv_f32, 0, true)
GEMV_ENTRY(norm_gemv_bf16, 1, true)
GEMV_ENTRY(norm_gemv_f16, 2, true)

// residual[b] = table[tokens[b]] (table (vocab, d) f32): one block per sequence.
extern "C" __global__ void embed(const float* __restrict__ table, const int* __restrict__ tokens,
                                 float* __restrict__ residual, int d) {
    const int b = blockIdx.x;
    const float* row = table + (size_t)tokens[b] * d;
    for (int i = threadIdx.x; i < d; i += blockDim.x) residual[(size_t)b * d + i] = row[i];
}

// One step of the depthwise causal convolution and SiLU, per (sequence,
// channel): x[b, c] = in[b * in_stride + c] for the `channels` columns the
// convolution sees (Mamba: x of xz; Mamba-2: xBC of the in_proj output);
// taps (K, channels); state (batch, channels, K - 1) shifted by one; out
// (batch, channels) = silu(bias + Σ_k taps[k] · [state, x][k]).
extern "C" __global__ void conv_step(const float* __restrict__ in, int in_stride, float* __restrict__ state,
                                     const float* __restrict__ taps, const float* __restrict__ bias,
                                     float* __restrict__ out, int channels, int k, int batch) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= batch * channels) return;
    const int b = i / channels, c = i % channels;
    const float x = in[(size_t)b * in_stride + c];
    float* s = state + (size_t)i * (k - 1);
    float acc = bias ? bias[c] : 0.0f;
    for (int j = 0; j < k - 1; j++) acc += taps[(size_t)j * channels + c] * s[j];
    acc += taps[(size_t)(k - 1) * channels + c] * x;
    for (int j = 0; j + 1 < k - 1; j++) s[j] = s[j + 1];
    if (k > 1) s[k - 2] = x;
    out[i] = silu(acc);
}

// The Mamba-2 SSM step, one warp per (sequence, head, channel i of the
// head) over the N states: Δ = clamp(softplus(proj[b, dt_at + head] +
// dt_bias[head]), dt_lo, dt_hi); h ← exp(Δ A[head]) h + Δ x B_g; y = C_g ·
// h + D[head] x, times silu(z) when `gate` (a mixer without its gated
// norm). proj (batch, width) holds z at column 0 and Δ at dt_at; xbc
// (batch, conv_dim) holds x (d_inner), then B and C (groups × N each);
// state (batch, heads, headdim, N); y (batch, d_inner).
extern "C" __global__ void ssd_step(const float* __restrict__ proj, int width, int dt_at,
                                    const float* __restrict__ xbc, int conv_dim,
                                    const float* __restrict__ dt_bias, const float* __restrict__ a,
                                    const float* __restrict__ dd, float* __restrict__ state,
                                    float* __restrict__ y, int heads, int headdim, int n, int groups,
                                    float dt_lo, float dt_hi, int gate, int batch) {
    const size_t warp = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    const int d_inner = heads * headdim;
    if (warp >= (size_t)batch * d_inner) return;  // whole warps only
    const int b = (int)(warp / d_inner), ch = (int)(warp % d_inner);
    const int head = ch / headdim, group = head / (heads / groups);
    const float* row = xbc + (size_t)b * conv_dim;
    const float x = row[ch];
    const float dt = fminf(fmaxf(softplus(proj[(size_t)b * width + dt_at + head] + dt_bias[head]), dt_lo),
                           dt_hi);
    const float decay = expf(dt * a[head]);
    const float dtx = dt * x;
    const float* bm = row + d_inner + group * n;
    const float* cm = row + d_inner + (groups + group) * n;
    float* hs = state + warp * n;
    float acc = 0.0f;
    for (int s = lane; s < n; s += 32) {
        const float h = fmaf(hs[s], decay, dtx * bm[s]);
        hs[s] = h;
        acc = fmaf(cm[s], h, acc);
    }
    acc = warp_sum(acc);
    if (lane == 0) {
        float out = fmaf(dd[head], x, acc);
        if (gate) out *= silu(proj[(size_t)b * width + ch]);
        y[warp] = out;
    }
}

// Mamba-2's gated RMSNorm in place, one block per (sequence, group of
// d_inner / groups channels): y ← rmsnorm(y · silu(z)) · weight, or
// rmsnorm(y) · weight · silu(z) when before_gate; z is the first d_inner
// columns of proj (row stride width); y (batch, d_inner).
extern "C" __global__ void gated_norm(float* __restrict__ y, const float* __restrict__ proj, int width,
                                      const float* __restrict__ weight, float eps, int d_inner,
                                      int groups, int before_gate) {
    __shared__ float red[32];
    const int b = blockIdx.x / groups, g = blockIdx.x % groups;
    const int w = d_inner / groups;
    float* ys = y + (size_t)b * d_inner + (size_t)g * w;
    const float* zs = proj + (size_t)b * width + (size_t)g * w;
    float sum = 0.0f;
    for (int i = threadIdx.x; i < w; i += blockDim.x) {
        const float v = before_gate ? ys[i] : ys[i] * silu(zs[i]);
        ys[i] = v;
        sum = fmaf(v, v, sum);
    }
    const float scale = 1.0f / sqrtf(block_sum(sum, red) / (float)w + eps);
    for (int i = threadIdx.x; i < w; i += blockDim.x) {
        const float v = ys[i] * scale * weight[(size_t)g * w + i];
        ys[i] = before_gate ? v * silu(zs[i]) : v;
    }
}

// Lanes that share one channel of the scan step.
#define SCAN_LANES 16

// The sum of v over each aligned group of SCAN_LANES lanes.
__device__ __forceinline__ float group_sum(float v) {
#pragma unroll
    for (int o = SCAN_LANES / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// The selective-scan step with Δ's projection, per (sequence, channel),
// SCAN_LANES lanes per channel (each a share of Δ's dot product and of the
// states): Δ = softplus(dt_w[c] · x_dbl[b, :R] + dt_bias[c]); h ← exp(Δ
// A[c]) h + Δ u B; y = (C · h + D[c] u) · silu(z), where x_dbl (batch, R +
// 2N) holds (δ, B, C) and z is the second half of xz. dt_w (d_inner, R) as
// FMT.
template <int FMT>
__device__ __forceinline__ void scan_step(const float* __restrict__ x_dbl, const void* __restrict__ dt_w,
                                          const float* __restrict__ dt_bias, const float* __restrict__ a,
                                          const float* __restrict__ dd, const float* __restrict__ u,
                                          const float* __restrict__ xz, float* __restrict__ h,
                                          float* __restrict__ y, int d_inner, int n, int r, int batch) {
    const size_t thread = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int lane = (int)(thread % SCAN_LANES);
    const size_t i = thread / SCAN_LANES;
    // Whole groups past the end still take part in the shuffles.
    const bool active = i < (size_t)batch * d_inner;
    const int b = active ? (int)(i / d_inner) : 0, c = active ? (int)(i % d_inner) : 0;
    const float* row = x_dbl + (size_t)b * (r + 2 * n);
    float dt = 0.0f;
    if (active)
        for (int j = lane; j < r; j += SCAN_LANES)
            dt = fmaf(weight_at<FMT>(dt_w, (size_t)c * r + j), row[j], dt);
    dt = group_sum(dt);
    if (dt_bias) dt += dt_bias[c];
    dt = softplus(dt);
    const float uc = active ? u[i] : 0.0f;
    const float du = dt * uc;
    float acc = 0.0f;
    if (active) {
        const float* bm = row + r;
        const float* cm = row + r + n;
        float* hs = h + i * n;
        const float* ac = a + (size_t)c * n;
        for (int s = lane; s < n; s += SCAN_LANES) {
            const float state = fmaf(expf(dt * ac[s]), hs[s], du * bm[s]);
            hs[s] = state;
            acc = fmaf(cm[s], state, acc);
        }
    }
    acc = group_sum(acc);
    if (active && lane == 0) {
        const float z = xz[(size_t)b * 2 * d_inner + d_inner + c];
        y[i] = (acc + dd[c] * uc) * silu(z);
    }
}

#define SCAN_ENTRY(NAME, FMT)                                                                   \
    extern "C" __global__ void NAME(const float* x_dbl, const void* dt_w, const float* dt_bias, \
                                    const float* a, const float* dd, const float* u,            \
                                    const float* xz, float* h, float* y, int d_inner, int n,    \
                                    int r, int batch) {                                         \
        scan_step<FMT>(x_dbl, dt_w, dt_bias, a, dd, u, xz, h, y, d_inner, n, r, batch);         \
    }
SCAN_ENTRY(scan_step_f32, 0)
SCAN_ENTRY(scan_step_bf16, 1)
SCAN_ENTRY(scan_step_f16, 2)

// tokens[b] = argmax of logits[b, :vocab] (the first on ties): one block of
// up to 1024 threads per sequence.
extern "C" __global__ void argmax(const float* __restrict__ logits, int* __restrict__ tokens,
                                  int vocab, int stride) {
    __shared__ float best_v[32];
    __shared__ int best_i[32];
    const int b = blockIdx.x;
    const float* row = logits + (size_t)b * stride;
    float v = NEG_INF;
    int at = 0x7fffffff;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        const float x = row[i];
        if (x > v) { v = x; at = i; }
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, v, o);
        const int oi = __shfl_xor_sync(0xffffffffu, at, o);
        if (ov > v || (ov == v && oi < at)) { v = ov; at = oi; }
    }
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    if (lane == 0) { best_v[warp] = v; best_i[warp] = at; }
    __syncthreads();
    if (warp == 0) {
        const int warps = (blockDim.x + 31) >> 5;
        v = lane < warps ? best_v[lane] : NEG_INF;
        at = lane < warps ? best_i[lane] : 0x7fffffff;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            const float ov = __shfl_xor_sync(0xffffffffu, v, o);
            const int oi = __shfl_xor_sync(0xffffffffu, at, o);
            if (ov > v || (ov == v && oi < at)) { v = ov; at = oi; }
        }
        if (lane == 0) tokens[b] = at == 0x7fffffff ? 0 : at;  // all NaN: token 0
    }
}

// v rounded to nearest (ties to even) in FMT: bf16 (1) or f16 (2), as bits.
__device__ __forceinline__ u16 round_half(float v, int fmt) {
    if (fmt == 2) {
        u16 h;
        asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(v));
        return h;
    }
    const unsigned int bits = __float_as_uint(v);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (u16)((bits >> 16) | 0x40u);  // NaN stays NaN
    return (u16)((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

// out[i] = v as FMT: f32 (0), bf16 (1) or f16 (2).
__device__ __forceinline__ void store_as(void* out, size_t i, float v, int fmt) {
    if (fmt == 0)
        ((float*)out)[i] = v;
    else
        ((u16*)out)[i] = round_half(v, fmt);
}

// For batches whose products run as cuBLAS GEMMs: v = res_in[b] + add[b]
// (add may be null), written to res_out[b] (when not null), and out[b] = v /
// sqrt(mean(v²) + eps) · weight, stored as FMT `fmt` (0 f32, 1 bf16, 2
// f16); one block per sequence, out (batch, d) dense.
extern "C" __global__ void add_rms_norm(const float* __restrict__ res_in, const float* __restrict__ add,
                                        float* __restrict__ res_out, const float* __restrict__ weight,
                                        float eps, void* __restrict__ out, int d, int fmt) {
    __shared__ float red[32];
    const size_t at = (size_t)blockIdx.x * d;
    float sum = 0.0f;
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        float v = res_in[at + i];
        if (add) v += add[at + i];
        if (res_out) res_out[at + i] = v;
        sum = fmaf(v, v, sum);
    }
    const float scale = 1.0f / sqrtf(block_sum(sum, red) / (float)d + eps);
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        const float v = add ? res_in[at + i] + add[at + i] : res_in[at + i];
        store_as(out, at + i, v * scale * weight[i], fmt);
    }
}

// out[b, c] = x[b * x_stride + c] rounded to FMT `fmt` (1 bf16, 2 f16) for
// the cuBLAS GEMMs of 16-bit weights; out (batch, cols) dense.
extern "C" __global__ void to_half(const float* __restrict__ x, u16* __restrict__ out, int cols,
                                   int batch, int x_stride, int fmt) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)cols * batch) return;
    out[i] = round_half(x[(i / cols) * x_stride + i % cols], fmt);
}

// y[b, r] += bias[r] for every sequence b (y row stride y_stride).
extern "C" __global__ void add_bias(float* __restrict__ y, const float* __restrict__ bias, int rows,
                                    int batch, int y_stride) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)rows * batch) return;
    y[(i / rows) * y_stride + i % rows] += bias[i % rows];
}
