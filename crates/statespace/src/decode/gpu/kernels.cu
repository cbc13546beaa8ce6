// The fused GPU decode step of a Mamba language model: one token for each
// of `batch` sequences. Compiled at run time by NVRTC (no headers: 16-bit
// weights are read as raw bits and widened here). Every activation and
// state is f32; weight matrices are f32, bf16 or f16 (FMT 0, 1, 2).
//
// Layouts (row-major): a weight matrix (rows, cols) as torch's Linear
// stores it; activations (batch, width); the convolution state
// (batch, d_inner, K - 1) oldest first; the SSM state (batch, d_inner, N).

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

#define GEMV_ENTRY(NAME, FMT)                                                                 \
    extern "C" __global__ void __launch_bounds__(WARPS * 32)                                  \
        NAME(const void* w, const float* x, const float* bias, float* y, int rows, int cols,  \
             int batch, int x_stride, int y_stride, int split) {                              \
        gemv<FMT, false>(w, x, bias, y, rows, cols, batch, x_stride, y_stride, split, 0, 0,   \
                         0, 0, 0.0f, 0);                                                      \
    }
GEMV_ENTRY(gemv_f32, 0)
GEMV_ENTRY(gemv_bf16, 1)
GEMV_ENTRY(gemv_f16, 2)

#define NORM_GEMV_ENTRY(NAME, FMT)                                                             \
    extern "C" __global__ void __launch_bounds__(WARPS * 32)                                   \
        NAME(const void* w, const float* bias, float* y, int rows, int cols, int batch,        \
             int y_stride, int split, const float* res_in, const float* add, float* res_out,   \
             const float* norm_w, float eps, int tile) {                                       \
        gemv<FMT, true>(w, 0, bias, y, rows, cols, batch, 0, y_stride, split, res_in, add,     \
                        res_out, norm_w, eps, tile);                                           \
    }
NORM_GEMV_ENTRY(norm_gemv_f32, 0)
NORM_GEMV_ENTRY(norm_gemv_bf16, 1)
NORM_GEMV_ENTRY(norm_gemv_f16, 2)

// residual[b] = table[tokens[b]] (table (vocab, d) f32): one block per sequence.
extern "C" __global__ void embed(const float* __restrict__ table, const int* __restrict__ tokens,
                                 float* __restrict__ residual, int d) {
    const int b = blockIdx.x;
    const float* row = table + (size_t)tokens[b] * d;
    for (int i = threadIdx.x; i < d; i += blockDim.x) residual[(size_t)b * d + i] = row[i];
}

// One step of the depthwise causal convolution and SiLU, per (sequence,
// channel): x is the first d_inner columns of xz (batch, 2 d_inner); taps
// (K, d_inner); state (batch, d_inner, K - 1) shifted by one; u = silu(bias
// + Σ_k taps[k] · [state, x][k]).
extern "C" __global__ void conv_step(const float* __restrict__ xz, float* __restrict__ state,
                                     const float* __restrict__ taps, const float* __restrict__ bias,
                                     float* __restrict__ u, int d_inner, int k, int batch) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= batch * d_inner) return;
    const int b = i / d_inner, c = i % d_inner;
    const float x = xz[(size_t)b * 2 * d_inner + c];
    float* s = state + (size_t)i * (k - 1);
    float acc = bias ? bias[c] : 0.0f;
    for (int j = 0; j < k - 1; j++) acc += taps[(size_t)j * d_inner + c] * s[j];
    acc += taps[(size_t)(k - 1) * d_inner + c] * x;
    for (int j = 0; j + 1 < k - 1; j++) s[j] = s[j + 1];
    if (k > 1) s[k - 2] = x;
    u[i] = silu(acc);
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

// For batches whose products run as cuBLAS GEMMs: v = res_in[b] + add[b]
// (add may be null), written to res_out[b] (when not null), and out[b] = v /
// sqrt(mean(v²) + eps) · weight; one block per sequence.
extern "C" __global__ void add_rms_norm(const float* __restrict__ res_in, const float* __restrict__ add,
                                        float* __restrict__ res_out, const float* __restrict__ weight,
                                        float eps, float* __restrict__ out, int d) {
    __shared__ float red[32];
    const size_t at = (size_t)blockIdx.x * d;
    float sum = 0.0f;
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        float v = res_in[at + i];
        if (add) v += add[at + i];
        if (res_out) res_out[at + i] = v;
        out[at + i] = v;
        sum = fmaf(v, v, sum);
    }
    const float scale = 1.0f / sqrtf(block_sum(sum, red) / (float)d + eps);
    for (int i = threadIdx.x; i < d; i += blockDim.x) out[at + i] = out[at + i] * scale * weight[i];
}

// y[b, r] += bias[r] for every sequence b (y row stride y_stride).
extern "C" __global__ void add_bias(float* __restrict__ y, const float* __restrict__ bias, int rows,
                                    int batch, int y_stride) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)rows * batch) return;
    y[(i / rows) * y_stride + i % rows] += bias[i % rows];
}
