// Runs the emitted fused-convolution kernel (kernel.inc) over every cube
// (h, b) of one convolution. Forward: reads in.bin = u (B, L, H), writes
// out.bin = y (B, L, C·H); with "grad": reads in.bin = ∂y (B, L, C·H),
// writes out.bin = ∂u (B, L, H). Both read k.bin (C·H, m+1, 2) and d.bin
// (C, H); the output starts as a sentinel so that an element no unit
// writes shows. Arguments: B L H C m [grad].
#include "prelude.h"
#include "kernel.inc"
int main(int argc, char** argv) {
  if (argc != 6 && argc != 7) { std::fprintf(stderr, "usage: B L H C m [grad]\n"); return 2; }
  bool grad = argc == 7;
  int B = atoi(argv[1]), L = atoi(argv[2]), H = atoi(argv[3]), C = atoi(argv[4]), m = atoi(argv[5]);
  size_t narrow = (size_t)B * L * H, wide = narrow * C;
  auto in = read_floats("in.bin", grad ? wide : narrow), ks = read_floats("k.bin", (size_t)C * H * (m + 1) * 2),
       d = read_floats("d.bin", (size_t)C * H);
  std::vector<float> y(grad ? narrow : wide, 12345.0f);
  // The kernel's info struct as cubecl-cpp lays it out for this signature:
  // the f32 scalars, the u32 scalars, then static metadata it does not read.
  struct { float f[4]; unsigned u[4]; unsigned meta[20]; } info{};
  double step = 2 * M_PI / m;
  info.f[0] = (float)-step; info.f[1] = (float)(-step / 2); info.f[2] = 1.0f / m;
  info.u[0] = L; info.u[1] = H; info.u[2] = C;
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++) {
      std::barrier<> bar(256);
      g_bar = &bar;
      std::vector<std::thread> units;
      for (int t = 0; t < 256; t++)
        units.emplace_back([&, t] {
          threadIdx = {(unsigned)t, 0, 0};
          blockIdx = {(unsigned)h, (unsigned)b, 0};
          fused(in.data(), ks.data(), d.data(), y.data(), (const info_st*)&info);
        });
      for (auto& t : units) t.join();
    }
  write_floats("out.bin", y);
}
