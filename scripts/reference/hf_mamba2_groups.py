#!/usr/bin/env python3
"""Reference cases `hf_mamba2_g<G>_io` (+ folders `hf_mamba2_g<G>/`, `native_mamba2_g<G>/`):
transformers `Mamba2ForCausalLM` with random weights and n_groups = G > 1, in the layout
of the golden `hf_mamba2_io` case (logits in float32 and float64, greedy continuation),
and the same weights in the original state-spaces/mamba (mamba_ssm) checkpoint layout.

Each case is cross-checked against an independent float64 forward of the native
checkpoint with mamba_ssm's own pure-torch references (`ssd_minimal_discrete`,
`rms_norm_ref` with group_size = d_ssm / ngroups), imported from the official files
fetched by scripts/reference/fetch_sources.sh into target/ref-src/mamba.

    python scripts/reference/hf_mamba2_groups.py [--out DIR] [--groups 2 4]
"""

import argparse
import importlib.util
import json
import shutil
import sys
import types
from pathlib import Path

import torch
import torch.nn.functional as F
import transformers
from safetensors.torch import load_file, save_file
from transformers import Mamba2Config, Mamba2ForCausalLM

ROOT = Path(__file__).resolve().parents[2]
MAMBA_SRC = ROOT / "target" / "ref-src" / "mamba"
DEFAULT_OUT = ROOT / "crates" / "statespace" / "tests" / "reference"

SIZES = dict(vocab_size=512, hidden_size=64, num_hidden_layers=2, num_heads=8, head_dim=16, state_size=16,
             chunk_size=16, expand=2, conv_kernel=4)
SEQ_LEN = 21  # not a multiple of chunk_size (2 chunks); 37 would cost ~260 KB more
BATCH = 2
PROMPT_LEN = 8
NEW_TOKENS = 12
PERTURB_SCALE = 0.02  # as in the golden hf_mamba2 weights: every parameter += 0.02 N(0, 1) after HF's init
SEEDS = {2: 21, 4: 22}


def import_mamba_refs():
    """mamba_ssm's pure-torch references from the official files, without building or
    importing the mamba_ssm package (its CUDA/Triton kernels are not needed): the one
    import of ssd_minimal.py that pulls Triton kernels is stubbed."""
    for name in ["mamba_ssm", "mamba_ssm.ops", "mamba_ssm.ops.triton"]:
        sys.modules.setdefault(name, types.ModuleType(name))
    stub = types.ModuleType("mamba_ssm.ops.triton.ssd_combined")
    stub.mamba_chunk_scan_combined = None
    sys.modules["mamba_ssm.ops.triton.ssd_combined"] = stub

    def load(rel, name):
        path = MAMBA_SRC / rel
        if not path.exists():
            sys.exit(f"{path} missing: run scripts/reference/fetch_sources.sh first")
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod

    ssd = load("mamba_ssm/modules/ssd_minimal.py", "ref_ssd_minimal")
    ln = load("mamba_ssm/ops/triton/layernorm_gated.py", "ref_layernorm_gated")  # imports triton (no GPU needed)
    return ssd.ssd_minimal_discrete, ln.rms_norm_ref


def native_forward(sd, cfg, ids, refs, group_norm=True):
    """float64 forward of a mamba_ssm MambaLMHeadModel (Mamba2 layers, d_intermediate 0,
    fused_add_norm residual stream), written from mamba_ssm/modules/mamba2.py (non-fused
    path) and mixer_seq_simple.py, using the official ssd_minimal_discrete / rms_norm_ref."""
    ssd_minimal_discrete, rms_norm_ref = refs
    s = cfg["ssm_cfg"]
    d_model, N, P, G, K, chunk = cfg["d_model"], s["d_state"], s["headdim"], s["ngroups"], s["d_conv"], s["chunk_size"]
    d_inner = s["expand"] * d_model
    H = d_inner // P
    sd = {k: v.double() for k, v in sd.items()}

    def rms(x, w):  # mamba_ssm RMSNorm, eps 1e-5
        return x * torch.rsqrt(x.square().mean(-1, keepdim=True) + 1e-5) * w

    hidden = sd["backbone.embedding.weight"][ids]
    b, L, _ = hidden.shape
    residual = None
    for i in range(cfg["n_layer"]):
        p = lambda n: sd[f"backbone.layers.{i}.{n}"]  # noqa: E731
        residual = hidden if residual is None else hidden + residual
        x = rms(residual, p("norm.weight"))
        zxbcdt = x @ p("mixer.in_proj.weight").T
        z, xBC, dt = torch.split(zxbcdt, [d_inner, d_inner + 2 * G * N, H], dim=-1)
        xBC = F.conv1d(xBC.transpose(1, 2), p("mixer.conv1d.weight"), p("mixer.conv1d.bias"),
                       padding=K - 1, groups=xBC.shape[-1])[..., :L].transpose(1, 2)
        xBC = F.silu(xBC)
        xs, B, C = torch.split(xBC, [d_inner, G * N, G * N], dim=-1)
        dt = F.softplus(dt + p("mixer.dt_bias"))  # (b, L, H)
        A = -torch.exp(p("mixer.A_log"))
        X = xs.reshape(b, L, H, P)
        Bh = B.reshape(b, L, G, N).repeat_interleave(H // G, dim=2)  # head h uses group h // (H / G)
        Ch = C.reshape(b, L, G, N).repeat_interleave(H // G, dim=2)
        pad = (-L) % chunk
        padL = lambda t: F.pad(t, (0, 0) * (t.dim() - 2) + (0, pad))  # noqa: E731
        y, _ = ssd_minimal_discrete(padL(X * dt[..., None]), padL(A * dt), padL(Bh), padL(Ch), chunk)
        y = y[:, :L] + X * p("mixer.D")[:, None]
        y = y.reshape(b, L, d_inner)
        y = rms_norm_ref(y, p("mixer.norm.weight"), None, z=z, eps=1e-5,
                         group_size=d_inner // G if group_norm else None,
                         norm_before_gate=s["norm_before_gate"], upcast=False)
        hidden = y @ p("mixer.out_proj.weight").T
    residual = hidden + residual
    out = rms(residual, sd["backbone.norm_f.weight"])
    return out @ sd["lm_head.weight"].T


def rel(a, b):
    a, b = a.double(), b.double()
    return float((a - b).abs().max() / b.abs().max())


def make_case(G, seed, out_dir):
    config = Mamba2Config(
        **SIZES, n_groups=G, pad_token_id=0, bos_token_id=0, eos_token_id=0, tie_word_embeddings=True,
        initializer_range=0.1, residual_in_fp32=True, use_bias=False, use_conv_bias=True, layer_norm_epsilon=1e-5,
    )
    torch.manual_seed(seed)
    model = Mamba2ForCausalLM(config)
    g = torch.Generator().manual_seed(1000 + seed)
    with torch.no_grad():
        for _, p in model.named_parameters():  # the tied lm_head is the embedding (listed once)
            p.add_(PERTURB_SCALE * torch.randn(p.shape, generator=g))
    assert model.lm_head.weight is model.backbone.embeddings.weight
    ids = torch.randint(0, config.vocab_size, (BATCH, SEQ_LEN), generator=g)

    case = f"hf_mamba2_g{G}"
    hf_dir, native_dir = out_dir / case, out_dir / f"native_mamba2_g{G}"
    for d in (hf_dir, native_dir):
        shutil.rmtree(d, ignore_errors=True)
    model.save_pretrained(hf_dir)

    # Everything below runs from the saved checkpoint, as a user would load it.
    m = Mamba2ForCausalLM.from_pretrained(hf_dir).eval()
    assert m.backbone.layers[0].mixer.norm.group_size == 2 * SIZES["hidden_size"] // G
    with torch.no_grad():
        logits_f32 = m(ids).logits
        m64 = m.double()
        logits_f64 = m64(ids).logits  # transformers returns logits .float()
        prompt = ids[:1, :PROMPT_LEN]
        greedy = m64.generate(prompt, max_new_tokens=NEW_TOKENS, do_sample=False)
        assert greedy.shape == (1, PROMPT_LEN + NEW_TOKENS), f"generation stopped early: {greedy}"
        # the same continuation by full parallel forwards (no cache), and the top-2 margins
        seq, margins = prompt.clone(), []
        for _ in range(NEW_TOKENS):
            last = m64(seq).logits[0, -1].double()
            top = last.topk(2).values
            margins.append(float(top[0] - top[1]))
            seq = torch.cat([seq, last.argmax().view(1, 1)], dim=1)
        assert torch.equal(seq, greedy), (seq, greedy)

    save_file({"input_ids": ids, "logits_f32": logits_f32.float().contiguous(),
               "logits_f64": logits_f64.float().contiguous(), "greedy_prompt": prompt.clone().contiguous(),
               "greedy_output": greedy.contiguous()}, str(out_dir / f"{case}_io.safetensors"))

    # Native (mamba_ssm MambaLMHeadModel) layout: same tensors, `embedding` for `embeddings`,
    # lm_head.weight stored as the same (tied) tensor object as the embedding.
    hf_sd = load_file(str(hf_dir / "model.safetensors"))
    sd = {}
    for k in sorted(hf_sd):
        sd[k.replace("backbone.embeddings.", "backbone.embedding.")] = hf_sd[k].float().contiguous()
    sd["lm_head.weight"] = sd["backbone.embedding.weight"]
    native_dir.mkdir(parents=True)
    native_cfg = {
        "d_model": SIZES["hidden_size"], "d_intermediate": 0, "n_layer": SIZES["num_hidden_layers"],
        "vocab_size": SIZES["vocab_size"],
        "ssm_cfg": {"layer": "Mamba2", "d_state": SIZES["state_size"], "d_conv": SIZES["conv_kernel"],
                    "expand": SIZES["expand"], "headdim": SIZES["head_dim"], "ngroups": G,
                    "chunk_size": SIZES["chunk_size"], "rmsnorm": True, "norm_before_gate": False},
        "attn_layer_idx": [], "attn_cfg": {}, "rms_norm": True, "residual_in_fp32": True, "fused_add_norm": True,
        "pad_vocab_size_multiple": 8, "tie_embeddings": True,
    }
    (native_dir / "config.json").write_text(json.dumps(native_cfg, indent=1))
    torch.save(sd, native_dir / "pytorch_model.bin")

    # Independent check from the native files with mamba_ssm's references (float64).
    refs = import_mamba_refs()
    nsd = torch.load(native_dir / "pytorch_model.bin", weights_only=True)
    ncfg = json.loads((native_dir / "config.json").read_text())
    ref = native_forward(nsd, ncfg, ids, refs)
    ungrouped = native_forward(nsd, ncfg, ids, refs, group_norm=False)
    seq = prompt.clone()
    for _ in range(NEW_TOKENS):
        seq = torch.cat([seq, native_forward(nsd, ncfg, seq, refs)[0, -1].argmax().view(1, 1)], dim=1)
    checks = {
        "native_ref_f64_vs_logits_f64": rel(logits_f64, ref),
        "native_ref_f64_vs_logits_f32": rel(logits_f32, ref),
        "logits_f32_vs_logits_f64": rel(logits_f32, logits_f64),
        "native_ref_greedy_equal": bool(torch.equal(seq, greedy)),
        "control_whole_row_gated_norm_vs_native_ref": rel(ungrouped, ref),
        "greedy_min_top2_logit_margin": min(margins),
    }
    return case, checks


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--groups", type=int, nargs="*", default=[2, 4])
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    commit = (MAMBA_SRC / "COMMIT").read_text().strip() if (MAMBA_SRC / "COMMIT").exists() else "unknown"
    for G in args.groups:
        case, checks = make_case(G, SEEDS.get(G, 20 + G), out)
        print(case, json.dumps(checks, indent=1))
        assert checks["native_ref_f64_vs_logits_f64"] < 1e-4 and checks["native_ref_greedy_equal"]
        manifest[f"{case}_io"] = {
            "op": f"Hugging Face transformers Mamba2ForCausalLM with random weights and n_groups = {G}; checkpoint in "
                  f"folder {case}/ (config.json + model.safetensors), the same weights in mamba_ssm layout in folder "
                  f"native_mamba2_g{G}/ (config.json + pytorch_model.bin)",
            "semantics": "logits_f32: model in float32 on input_ids; logits_f64: same weights in float64 (transformers "
                         "still computes the gated RMSNorm and the SSD chunk scan in float32 and returns logits as "
                         "float32); greedy_output: prompt + greedy continuation (float64)",
            "n_groups": G,
            "seq_len": SEQ_LEN,
            "gated_norm": f"per group (mamba_ssm RMSNormGated group_size = d_inner / n_groups = "
                          f"{2 * SIZES['hidden_size'] // G}), norm_before_gate = false: "
                          "y = rmsnorm_per_group(y * silu(z)) * norm.weight",
            "weights": f"transformers' init under torch.manual_seed({SEEDS.get(G, 20 + G)}), then every parameter "
                       f"+= {PERTURB_SCALE} * N(0, 1) (seeded generator); stored float32",
            "checks": checks,
            "transformers_version": transformers.__version__,
            "reference": f"transformers {transformers.__version__}, torch {torch.__version__} on CPU (torch path, no "
                         f"hub kernels); cross-checked with state-spaces/mamba @ {commit} ssd_minimal_discrete + "
                         "rms_norm_ref in float64 from the native files",
        }
    manifest_path.write_text(json.dumps(dict(sorted(manifest.items())), indent=1) + "\n")


if __name__ == "__main__":
    main()
