// Runs the emitted column-sum kernel (kernel.inc) over every cube (column
// block, strip) of one launch: x.bin (rows, cols) and, weighted, u.bin
// (rows, channels) in; out.bin (strips, cols) out, which starts as a
// sentinel so that an element no unit writes shows. A cube is TILE × TILE_ROWS
// = 32 × 8 threads. Arguments: rows cols channels strip strips weighted(0|1).
#include "prelude.h"
#include "kernel.inc"
int main(int argc, char** argv) {
  if (argc != 7) { std::fprintf(stderr, "usage: rows cols channels strip strips weighted\n"); return 2; }
  unsigned rows = atoi(argv[1]), cols = atoi(argv[2]), channels = atoi(argv[3]), strip = atoi(argv[4]),
           strips = atoi(argv[5]);
  bool weighted = atoi(argv[6]) != 0;
  auto x = read_floats("x.bin", (size_t)rows * cols);
  auto u = weighted ? read_floats("u.bin", (size_t)rows * channels) : x;
  std::vector<float> out((size_t)strips * cols, 12345.0f);
  // cubecl-cpp's info struct for this signature: the four u32 scalars, then
  // static metadata the kernel does not read.
  struct { unsigned scalars[4]; unsigned meta[16]; } info{{rows, cols, channels, strip}, {}};
  blockDim = {32, 8, 1};
  unsigned col_blocks = (cols + 31) / 32;
  gridDim = {col_blocks, strips, 1};
  for (unsigned s = 0; s < strips; s++)
    for (unsigned cb = 0; cb < col_blocks; cb++) {
      std::barrier<> bar(256);
      g_bar = &bar;
      std::vector<std::thread> units;
      for (unsigned t = 0; t < 256; t++)
        units.emplace_back([&, t] {
          threadIdx = {t % 32, t / 32, 0};
          blockIdx = {cb, s, 0};
          column_sums(x.data(), u.data(), out.data(), (const info_st*)&info);
        });
      for (auto& t : units) t.join();
    }
  write_floats("out.bin", out);
}
