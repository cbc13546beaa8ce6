// What the CUDA C++ of one CubeCL kernel needs to compile as host C++: one
// cube runs as blockDim.x std::threads (driver), __syncthreads is a
// std::barrier over them, shared memory is one static buffer (cubes run one
// after another). Enough for kernels that use only these, f32 maths and
// plain loads and stores (no warp intrinsics, atomics or vector types).
#include <barrier>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>
using std::cos;
using std::exp;
using std::sin;
struct dim3_ { unsigned x, y, z; };
thread_local dim3_ threadIdx, blockIdx;
dim3_ blockDim{256, 1, 1};
std::barrier<>* g_bar;
#define __syncthreads() g_bar->arrive_and_wait()
#define __restrict__
alignas(16) unsigned char dynamic_shared_mem[200000];
// Elementwise kernels index the grid.
struct uint3 { unsigned x, y, z; };
inline uint3 make_uint3(unsigned x, unsigned y, unsigned z) { return {x, y, z}; }
dim3_ gridDim{1, 1, 1};
using std::abs;
using std::erf;

// The drivers' files: n f32 values in, a vector of them out.
inline std::vector<float> read_floats(const char* path, size_t n) {
  std::vector<float> v(n);
  FILE* fp = fopen(path, "rb");
  if (!fp || fread(v.data(), 4, n, fp) != n) { std::fprintf(stderr, "cannot read %s\n", path); exit(1); }
  fclose(fp);
  return v;
}
inline void write_floats(const char* path, const std::vector<float>& v) {
  FILE* fp = fopen(path, "wb");
  if (!fp || fwrite(v.data(), 4, v.size(), fp) != v.size()) { std::fprintf(stderr, "cannot write %s\n", path); exit(1); }
  fclose(fp);
}
