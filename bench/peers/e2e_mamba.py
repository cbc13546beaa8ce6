"""mamba_ssm's MambaLMHeadModel on the GPU, the peer of `ssm bench train-lm`
and `ssm bench decode` (run on the GPU machine, beside them).

- training: random-weight mamba-130m shape (d_model 768, 24 layers, vocab
  50280, d_state 16, expand 2, RMSNorm, fused add+norm, residual in fp32,
  tied embeddings), float32 parameters, random tokens; a step is forward +
  next-token cross-entropy + backward + AdamW step. Activations in f32, or
  under `torch.autocast` in bf16 or f16 (f16 with `torch.amp.GradScaler`),
  as mamba_ssm users train: TRAIN_PRECISIONS="f32 bf16 f16" (default f32).
  Reported: tokens/s of the median step and peak allocated/reserved memory.
- decoding: greedy `generate()` from a one-token prompt, batch 1 and 64,
  with and without CUDA graphs (`cg`).

Needs MAMBA_SRC as bench_peers.py (the selective-scan extension is built, or
taken from torch's extension cache, with the same flags). One JSON line per
measurement. DECODE=0 skips the decoding rows.
"""
import gc, json, os, sys, time

import torch
import torch.nn.functional as F

REF = os.environ.get("MAMBA_SRC", "mamba-src")
sys.path.insert(0, REF)


def emit(**kw):
    print(json.dumps(kw), flush=True)


def build_extension():
    from torch.utils.cpp_extension import load
    src = os.path.join(REF, "csrc", "selective_scan")
    ext = load(name="selective_scan_cuda", sources=[os.path.join(src, f) for f in sorted(os.listdir(src)) if f.endswith((".cu", ".cpp"))],
               extra_include_paths=[src], extra_cflags=["-O3", "-std=c++17"],
               extra_cuda_cflags=["-O3", "-std=c++17", "-U__CUDA_NO_HALF_OPERATORS__", "-U__CUDA_NO_HALF_CONVERSIONS__",
                                  "-U__CUDA_NO_BFLOAT16_OPERATORS__", "-U__CUDA_NO_BFLOAT16_CONVERSIONS__",
                                  "-U__CUDA_NO_BFLOAT162_OPERATORS__", "-U__CUDA_NO_BFLOAT162_CONVERSIONS__",
                                  "--expt-relaxed-constexpr", "--expt-extended-lambda", "--use_fast_math",
                                  "-gencode", "arch=compute_90,code=sm_90"], verbose=False)
    sys.modules["selective_scan_cuda"] = ext


def model():
    from mamba_ssm.models.config_mamba import MambaConfig
    from mamba_ssm.models.mixer_seq_simple import MambaLMHeadModel
    cfg = MambaConfig(d_model=768, n_layer=24, vocab_size=50280, ssm_cfg={"layer": "Mamba1"},
                      rms_norm=True, residual_in_fp32=True, fused_add_norm=True, pad_vocab_size_multiple=8)
    torch.manual_seed(0)
    return MambaLMHeadModel(cfg, device="cuda", dtype=torch.float32)


def train(batch, length, steps=5, warmup=2, precision="f32"):
    m = model()
    m.train()
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    dtype = {"f32": None, "bf16": torch.bfloat16, "f16": torch.float16}[precision]
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "f16")
    # An earlier run's blocks back to the GPU, so this run's peak is its own.
    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(warmup + steps):
        ids = torch.randint(0, 50280, (batch, length + 1), device="cuda")
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
            logits = m(ids[:, :-1]).logits
            loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    times.sort()
    med = times[len(times) // 2]
    emit(what="mamba_ssm.train_lm", model="mamba-130m", precision=precision, batch=batch, len=length,
         ms_per_step=round(med * 1e3, 1), tokens_per_s=round(batch * length / med),
         peak_alloc_mib=round(torch.cuda.max_memory_allocated() / 2**20),
         peak_reserved_mib=round(torch.cuda.max_memory_reserved() / 2**20), gpu=torch.cuda.get_device_name())
    del m, opt


@torch.inference_mode()
def decode(batch, tokens, cg):
    m = model()
    m.eval()
    ids = (torch.arange(batch, device="cuda") * 7919 % 50000).reshape(batch, 1)
    kw = dict(max_length=1 + tokens, cg=cg, top_k=1, return_dict_in_generate=True)
    m.generate(ids, **kw)  # warm-up (captures the CUDA graph when cg)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = m.generate(ids, **kw)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    new = out.sequences.shape[1] - 1
    emit(what="mamba_ssm.decode", model="mamba-130m", batch=batch, tokens=new, cuda_graphs=cg,
         ms_per_step=round(seconds * 1e3 / new, 2), tokens_per_s=round(batch * new / seconds, 1))
    del m


if __name__ == "__main__":
    build_extension()
    batch, length = (int(x) for x in os.environ.get("TRAIN_SHAPE", "8 1024").split())
    for precision in os.environ.get("TRAIN_PRECISIONS", "f32").split():
        train(batch, length, precision=precision)
    if os.environ.get("DECODE", "1") != "0":
        for b in (1, 64):
            for cg in (True, False):
                decode(b, 128, cg)
