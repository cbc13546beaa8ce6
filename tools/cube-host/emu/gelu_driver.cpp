// Runs the emitted GELU kernel (kernel.inc; forward x → y, or with "backward"
// x, ∂y → ∂x) over x.bin (and g.bin), one unit after another (the kernel has
// no barrier), and writes out.bin. The kernel reads the tensors' length from
// its info.static_meta (slot 2 forward, 3 backward, after the buffers'
// lengths): every slot holds N, the length of each tensor and buffer here.
// Arguments: N [backward]; built with -DBACKWARD for the backward kernel.
#include "prelude.h"
#include "kernel.inc"
int main(int argc, char** argv) {
  if (argc != 2 && argc != 3) { std::fprintf(stderr, "usage: N [backward]\n"); return 2; }
  size_t n = atol(argv[1]);
  bool backward = argc == 3;
  auto x = read_floats("x.bin", n);
  std::vector<float> g = backward ? read_floats("g.bin", n) : std::vector<float>();
  std::vector<float> out(n, 12345.0f);
  struct { unsigned meta[16]; } info{};
  for (auto& slot : info.meta) slot = (unsigned)n;
  blockDim = {256, 1, 1};
  gridDim = {(unsigned)((n + 255) / 256), 1, 1};
  for (unsigned b = 0; b < gridDim.x; b++)
    for (unsigned t = 0; t < 256; t++) {
      threadIdx = {t, 0, 0};
      blockIdx = {b, 0, 0};
#ifdef BACKWARD
      gelu(x.data(), g.data(), out.data(), (const info_st*)&info);
#else
      gelu(x.data(), out.data(), (const info_st*)&info);
#endif
    }
  write_floats("out.bin", out);
}
