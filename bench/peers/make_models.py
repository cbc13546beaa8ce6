#!/usr/bin/env python3
"""Save random-weight HF checkpoints with the published mamba-130m / mamba2-130m shapes.

Output (float32 safetensors + config.json, no tokenizer):
  models/hf-mamba-130m   (MambaForCausalLM)
  models/hf-mamba2-130m  (Mamba2ForCausalLM)
Weights: transformers' own init under torch.manual_seed(0).
"""
import json
import os
import sys

import torch
from transformers import Mamba2Config, Mamba2ForCausalLM, MambaConfig, MambaForCausalLM

ROOT = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(ROOT, "models")


def mamba1_config():
    # values of state-spaces/mamba-130m-hf
    return MambaConfig(
        vocab_size=50280,
        hidden_size=768,
        num_hidden_layers=24,
        state_size=16,
        expand=2,
        intermediate_size=1536,
        conv_kernel=4,
        time_step_rank=48,
        use_bias=False,
        use_conv_bias=True,
        hidden_act="silu",
        layer_norm_epsilon=1e-5,
        residual_in_fp32=True,
        tie_word_embeddings=True,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
        use_cache=True,
        use_mambapy=False,
    )


def mamba2_config():
    # values of the HF port of state-spaces/mamba2-130m
    return Mamba2Config(
        vocab_size=50288,  # 50277 GPT-NeoX tokens padded to a multiple of 16
        hidden_size=768,
        num_hidden_layers=24,
        state_size=128,
        expand=2,
        head_dim=64,
        num_heads=24,  # expand * hidden_size / head_dim
        n_groups=1,
        conv_kernel=4,
        chunk_size=256,
        use_bias=False,
        use_conv_bias=True,
        hidden_act="silu",
        layer_norm_epsilon=1e-5,
        rms_norm=True,
        norm_before_gate=False,
        residual_in_fp32=True,
        tie_word_embeddings=True,
        time_step_limit=(0.0, float("inf")),
        time_step_rank=48,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
        use_cache=True,
    )


def save(name, cls, cfg):
    torch.manual_seed(0)
    model = cls(cfg).to(torch.float32).eval()
    path = os.path.join(OUT, name)
    model.save_pretrained(path, safe_serialization=True)
    n = sum(p.numel() for p in model.parameters())
    with open(os.path.join(path, "config.json")) as f:
        saved = json.load(f)
    print(json.dumps({"saved": path, "params": n, "tie_word_embeddings": saved.get("tie_word_embeddings"),
                      "vocab_size": saved.get("vocab_size")}))


def main():
    os.makedirs(OUT, exist_ok=True)
    which = sys.argv[1:] or ["mamba", "mamba2"]
    if "mamba" in which:
        save("hf-mamba-130m", MambaForCausalLM, mamba1_config())
    if "mamba2" in which:
        save("hf-mamba2-130m", Mamba2ForCausalLM, mamba2_config())


if __name__ == "__main__":
    main()
