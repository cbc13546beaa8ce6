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

// y[b, r] = Σ_c w[r, c] · x[b, c] (+ bias[r]) for every row r of w (rows,
// cols) and sequence b: one warp per row, each lane reading 16 bytes of
// the row at a time (the scalar tail covers cols not a multiple of 16
// bytes). x has row stride x_stride, y y_stride.
template <int FMT>
__device__ __forceinline__ void gemv(const void* __restrict__ w, const float* __restrict__ x,
                                     const float* __restrict__ bias, float* __restrict__ y,
                                     int rows, int cols, int batch, int x_stride, int y_stride) {
    const int row = (int)((blockIdx.x * (size_t)blockDim.x + threadIdx.x) >> 5);
    const int lane = threadIdx.x & 31;
    if (row >= rows) return;
    const int per = 16 / Width<FMT>::bytes;
    const bool vector = (cols % per) == 0;
    const int body = vector ? cols : 0;
    const char* base = (const char*)w + (size_t)row * cols * Width<FMT>::bytes;
    for (int b0 = 0; b0 < batch; b0 += BATCH_TILE) {
        const int nb = min(BATCH_TILE, batch - b0);
        float acc[BATCH_TILE];
#pragma unroll
        for (int t = 0; t < BATCH_TILE; t++) acc[t] = 0.0f;
#pragma unroll 2
        for (int c = lane * per; c < body; c += 32 * per) {
            float wv[8];
            widen16<FMT>(__ldg((const uint4*)(base + (size_t)c * Width<FMT>::bytes)), wv);
#pragma unroll
            for (int t = 0; t < BATCH_TILE; t++) {
                if (t < nb) {
                    const float* xr = x + (size_t)(b0 + t) * x_stride + c;
#pragma unroll
                    for (int p = 0; p < per; p++) acc[t] = fmaf(wv[p], xr[p], acc[t]);
                }
            }
        }
        for (int c = body + lane; c < cols; c += 32) {
            const float wc = weight_at<FMT>(w, (size_t)row * cols + c);
#pragma unroll
            for (int t = 0; t < BATCH_TILE; t++)
                if (t < nb) acc[t] = fmaf(wc, x[(size_t)(b0 + t) * x_stride + c], acc[t]);
        }
#pragma unroll
        for (int t = 0; t < BATCH_TILE; t++) {
            const float s = warp_sum(acc[t]);
            if (lane == 0 && t < nb)
                y[(size_t)(b0 + t) * y_stride + row] = s + (bias ? bias[row] : 0.0f);
        }
    }
}

#define GEMV_ENTRY(NAME, FMT)                                                              \
    extern "C" __global__ void NAME(const void* w, const float* x, const float* bias,      \
                                    float* y, int rows, int cols, int batch, int x_stride, \
                                    int y_stride) {                                        \
        gemv<FMT>(w, x, bias, y, rows, cols, batch, x_stride, y_stride);                   \
    }
GEMV_ENTRY(gemv_f32, 0)
GEMV_ENTRY(gemv_bf16, 1)
GEMV_ENTRY(gemv_f16, 2)

// residual[b] = table[tokens[b]] (table (vocab, d) f32): one block per sequence.
extern "C" __global__ void embed(const float* __restrict__ table, const int* __restrict__ tokens,
                                 float* __restrict__ residual, int d) {
    const int b = blockIdx.x;
    const float* row = table + (size_t)tokens[b] * d;
    for (int i = threadIdx.x; i < d; i += blockDim.x) residual[(size_t)b * d + i] = row[i];
}

// residual[b] += add[b] (when add is not null), then out[b] =
// residual[b] / sqrt(mean(residual[b]^2) + eps) * weight: one block of up
// to 1024 threads per sequence.
extern "C" __global__ void add_rms_norm(float* __restrict__ residual, const float* __restrict__ add,
                                        const float* __restrict__ weight, float eps,
                                        float* __restrict__ out, int d) {
    __shared__ float partial[32];
    const int b = blockIdx.x;
    float* r = residual + (size_t)b * d;
    float sum = 0.0f;
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        float v = r[i];
        if (add) {
            v += add[(size_t)b * d + i];
            r[i] = v;
        }
        sum = fmaf(v, v, sum);
    }
    sum = warp_sum(sum);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    if (lane == 0) partial[warp] = sum;
    __syncthreads();
    if (warp == 0) {
        const int warps = (blockDim.x + 31) >> 5;
        float s = lane < warps ? partial[lane] : 0.0f;
        s = warp_sum(s);
        if (lane == 0) partial[0] = s;
    }
    __syncthreads();
    const float scale = 1.0f / sqrtf(partial[0] / (float)d + eps);
    for (int i = threadIdx.x; i < d; i += blockDim.x) out[(size_t)b * d + i] = r[i] * scale * weight[i];
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

// The selective-scan step with Δ's projection, per (sequence, channel):
// Δ = softplus(dt_w[c] · x_dbl[b, :R] + dt_bias[c]); h ← exp(Δ A[c]) h +
// Δ u B; y = (C · h + D[c] u) · silu(z), where x_dbl (batch, R + 2N) holds
// (δ, B, C) and z is the second half of xz. dt_w (d_inner, R) as FMT.
template <int FMT>
__device__ __forceinline__ void scan_step(const float* __restrict__ x_dbl, const void* __restrict__ dt_w,
                                          const float* __restrict__ dt_bias, const float* __restrict__ a,
                                          const float* __restrict__ dd, const float* __restrict__ u,
                                          const float* __restrict__ xz, float* __restrict__ h,
                                          float* __restrict__ y, int d_inner, int n, int r, int batch) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= batch * d_inner) return;
    const int b = i / d_inner, c = i % d_inner;
    const float* row = x_dbl + (size_t)b * (r + 2 * n);
    float dt = 0.0f;
    for (int j = 0; j < r; j++) dt = fmaf(weight_at<FMT>(dt_w, (size_t)c * r + j), row[j], dt);
    if (dt_bias) dt += dt_bias[c];
    dt = softplus(dt);
    const float uc = u[i];
    const float du = dt * uc;
    const float* bm = row + r;
    const float* cm = row + r + n;
    float* hs = h + (size_t)i * n;
    const float* ac = a + (size_t)c * n;
    float acc = 0.0f;
    for (int s = 0; s < n; s++) {
        const float state = fmaf(expf(dt * ac[s]), hs[s], du * bm[s]);
        hs[s] = state;
        acc = fmaf(cm[s], state, acc);
    }
    const float z = xz[(size_t)b * 2 * d_inner + d_inner + c];
    y[i] = (acc + dd[c] * uc) * silu(z);
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
