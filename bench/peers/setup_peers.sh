#!/usr/bin/env bash
# One-time (idempotent) setup of the peer benchmarks in this folder (artefacts are git-ignored).
#  1. venv with torch (PyPI default wheel, runs on CPU), transformers, safetensors, numpy,
#     sentencepiece, tokenizers, cmake, ninja, mambapy (transformers' CPU Mamba scan for
#     train/bench_train_torch.py), einops, scipy and pytorch_lightning (what the s4
#     repository's S4 block imports) and matplotlib (plot_runs.py)
#                                                        -> venv/ (+ venv/.ready marker)
#  2. random-weight HF folders (seed 0, float32)        -> models/hf-mamba-130m, models/hf-mamba2-130m
#  3. llama.cpp source: GitHub snapshot of ggml-org/llama.cpp is too big for the fetch tool
#     (1.47 GB > 500 MB limit), so the source vendored in the PyPI sdist of llama-cpp-python
#     0.3.36 is used (llama.cpp commit 0c1e57098 per its CHANGELOG)  -> src/llama.cpp
#  4. CPU build of llama-bench (Release, GGML_NATIVE=ON, LLAMA_CURL=OFF)
#  5. GGUF conversion f32 + f16 with convert_hf_to_gguf.py  -> models/gguf/*.gguf
#     (no tokenizer needed: the converter falls back to the bundled GPT-NeoX vocab
#      models/ggml-vocab-gpt-neox.gguf when the HF folder has no tokenizer files)
#  6. mamba-rs 0.4.2 bench binary (crates.io)           -> mamba-rs-bench/target/release/mamba-rs-bench
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
PY="$HERE/venv/bin/python"
LCP_VER=0.3.36

if [ ! -f venv/.ready ]; then
  python3 -m venv venv
  venv/bin/pip install torch transformers safetensors numpy sentencepiece tokenizers cmake ninja mambapy \
    einops scipy pytorch_lightning matplotlib
  "$PY" -c "import torch, transformers, mambapy, einops, scipy, pytorch_lightning" && touch venv/.ready
fi

if [ ! -f models/hf-mamba-130m/model.safetensors ] || [ ! -f models/hf-mamba2-130m/model.safetensors ]; then
  "$PY" make_models.py
fi

if [ ! -f src/llama.cpp/convert_hf_to_gguf.py ]; then
  tmp="$(mktemp -d)"
  # The sdist's address from PyPI's simple index (its JSON API may be
  # unreachable), checked against the SHA-256 the index gives.
  link="$(curl -sSL https://pypi.org/simple/llama-cpp-python/ \
    | grep -o "https://[^\"]*llama_cpp_python-$LCP_VER.tar.gz#sha256=[0-9a-f]*" | head -1)"
  curl -sSL -o "$tmp/lcp.tar.gz" "${link%%#*}"
  echo "${link##*sha256=}  $tmp/lcp.tar.gz" | sha256sum -c - >&2
  tar xzf "$tmp/lcp.tar.gz" -C "$tmp"
  mkdir -p src
  cp -r "$tmp/llama_cpp_python-$LCP_VER/vendor/llama.cpp" src/llama.cpp
  grep -m1 -o 'ggml-org/llama.cpp@[0-9a-f]*' "$tmp/llama_cpp_python-$LCP_VER/CHANGELOG.md" \
    | sed 's/.*@//; s/$/ (ggml-org\/llama.cpp, vendored in PyPI llama-cpp-python '"$LCP_VER"' sdist)/' \
    > src/llama.cpp/LLAMA_CPP_COMMIT
  rm -rf "$tmp"
fi

if [ ! -x src/llama.cpp/build/bin/llama-bench ]; then
  export PATH="$HERE/venv/bin:$PATH"
  cmake -S src/llama.cpp -B src/llama.cpp/build -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF
  cmake --build src/llama.cpp/build --target llama-bench -j "$(nproc)"
fi

mkdir -p models/gguf
for m in mamba mamba2; do
  for ty in f32 f16; do
    f="models/gguf/$m-130m-$ty.gguf"
    [ -f "$f" ] || "$PY" src/llama.cpp/convert_hf_to_gguf.py "models/hf-$m-130m" --outtype "$ty" --outfile "$f"
  done
done

if [ ! -x mamba-rs-bench/target/release/mamba-rs-bench ]; then
  (cd mamba-rs-bench && cargo build --release)
fi
echo "setup done"
