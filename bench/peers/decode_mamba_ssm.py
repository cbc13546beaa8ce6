"""mamba_ssm's greedy decoding of a random-weight mamba-130m and
mamba2-130m, the peer of `ssm bench decode --device cuda` (run on the GPU
machine, in the same command).

The models are MambaLMHeadModel at the published shapes (d_model 768, 24
layers, vocab 50280, RMSNorm, fused add+norm, residual in fp32, tied
embeddings; Mamba: d_state 16, expand 2; Mamba-2: its defaults, d_state
128, headdim 64, one group, gated RMSNorm) in float32 or bfloat16. The
decode step is what `generate()` runs per token: the Triton
`selective_state_update`, the convolution-state update in torch
(causal_conv1d is not installed) and, with `cg`, the whole step replayed
as a CUDA graph.

Per-token time is the difference of two `generate()` calls, 1 + LONG and
1 + SHORT tokens, divided by LONG − SHORT: the one-token prompt's prefill
and the call's fixed costs cancel. The prefill runs mamba_ssm's reference
scan (`selective_scan_ref`), since the CUDA extension is not built here;
only the prefill uses it, and the difference removes it (Mamba-2's
prefill runs its Triton chunked scan, with `use_mem_eff_path` off since
that path needs causal_conv1d). Median of REPEAT differences. One JSON line
per (model, dtype, batch, cg).

Environment: MODELS (default "mamba-130m mamba2-130m"), GRAPHS_ONLY=1 to
skip the runs without CUDA graphs.

Needs MAMBA_SRC: a checkout holding mamba_ssm/ (state-spaces/mamba).
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.environ.get("MAMBA_SRC", "mamba-src"))

LONG, SHORT, REPEAT = 136, 8, 3


def emit(**kw):
    print(json.dumps(kw), flush=True)


LAYERS = {
    "mamba-130m": {"layer": "Mamba1"},
    "mamba2-130m": {"layer": "Mamba2", "use_mem_eff_path": False},
}


def model(name, dtype):
    import mamba_ssm.modules.mamba_simple as simple
    from mamba_ssm.ops.selective_scan_interface import selective_scan_ref
    from mamba_ssm.models.config_mamba import MambaConfig
    from mamba_ssm.models.mixer_seq_simple import MambaLMHeadModel

    simple.selective_scan_fn = selective_scan_ref
    cfg = MambaConfig(d_model=768, n_layer=24, vocab_size=50280, ssm_cfg=dict(LAYERS[name]),
                      rms_norm=True, residual_in_fp32=True, fused_add_norm=True, pad_vocab_size_multiple=8)
    torch.manual_seed(0)
    return MambaLMHeadModel(cfg, device="cuda", dtype=dtype).eval()


@torch.inference_mode()
def per_token(m, batch, cg):
    ids = (torch.arange(batch, device="cuda") * 7919 % 50000).reshape(batch, 1)

    def run(new):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = m.generate(ids, max_length=1 + new, cg=cg, top_k=1, return_dict_in_generate=True)
        torch.cuda.synchronize()
        assert out.sequences.shape[1] == 1 + new
        return time.perf_counter() - t0

    run(LONG)  # warm-up; with cg, captures the graph for the longest length
    run(SHORT)
    diffs = sorted((run(LONG) - run(SHORT)) / (LONG - SHORT) for _ in range(REPEAT))
    return diffs[len(diffs) // 2]


if __name__ == "__main__":
    graphs = (True,) if os.environ.get("GRAPHS_ONLY") == "1" else (True, False)
    for model_name in os.environ.get("MODELS", "mamba-130m mamba2-130m").split():
        for name, dtype in (("f32", torch.float32), ("bf16", torch.bfloat16)):
            m = model(model_name, dtype)
            for batch in (1, 64):
                for cg in graphs:
                    s = per_token(m, batch, cg)
                    emit(what="mamba_ssm.decode", model=model_name, dtype=name, batch=batch, cuda_graphs=cg,
                         ms_per_step=round(s * 1e3, 3), tokens_per_s=round(batch / s, 1),
                         gpu=torch.cuda.get_device_name())
            del m
            torch.cuda.empty_cache()
