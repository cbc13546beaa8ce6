#!/usr/bin/env python3
"""Reference cases `hyena_<name>`: safari's `HyenaOperator` (its `fftconv_ref` path) in
float64 on the CPU, in the layout of the golden `hyena_*` cases (`input`, `output`,
`grad_out`, `grad_input`, `aux_filter`, every state_dict entry and `grad_<name>`), at
settings the golden set does not cover: order 3 at L < l_max, and outer mixing with the
post-order scales, a normalised filter and a GELU before out_proj.

safari's hyena.py is imported from target/ref-src/safari (scripts/reference/fetch_sources.sh).
It imports four small helpers from the rest of safari, whose own imports pull in
PyTorch Lightning, Hydra and OmegaConf; they are replaced by stand-ins written here
(a module whose `register` makes a buffer when lr = 0 and a parameter otherwise, the
registry lookup of 'hyena-filter', attribute assignment, and the 'id'/'gelu' activation).

    python scripts/reference/hyena_cases.py [--out DIR]
"""

import argparse
import importlib.util
import json
import sys
import types
from pathlib import Path

import torch
import torch.nn as nn
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[2]
SAFARI_SRC = ROOT / "target" / "ref-src" / "safari"
DEFAULT_OUT = ROOT / "crates" / "statespace" / "tests" / "reference"
COMMIT = "02220c69d247e5473616cd053a443ad99fd2559b"

BASE = dict(d_model=16, l_max=64, filter_order=16, emb_dim=3, short_filter_order=3, num_heads=1,
            inner_factor=1, num_blocks=1, dropout=0.0, filter_dropout=0.0, num_inner_mlps=2,
            bias=True, modulate=True, shift=0.0, fast_decay_pct=0.3, slow_decay_pct=1.5, target=0.01)
CASES = {
    # name: (seed, batch, L, config overrides)
    "order3": (31, 2, 48, dict(order=3, outer_mixing=False, post_order_ffn=False, activation="id",
                               normalized=False)),
    "mixing": (32, 2, 37, dict(order=2, outer_mixing=True, post_order_ffn=True, activation="gelu",
                               normalized=True, emb_dim=5, num_inner_mlps=1, shift=0.1)),
}


def install_stand_ins():
    """The four helpers hyena.py imports from the rest of safari."""
    class OptimModule(nn.Module):
        def register(self, name, tensor, lr=None):
            if lr == 0.0:
                self.register_buffer(name, tensor)
            else:
                self.register_parameter(name, nn.Parameter(tensor))

    def auto_assign_attrs(obj, **kwargs):
        for key, value in kwargs.items():
            setattr(obj, key, value)

    def instantiate(registry, name, partial=False):
        assert name == "hyena-filter" and partial
        return sys.modules["safari_hyena"].HyenaFilter

    def activation(name):
        return {"id": nn.Identity(), "gelu": nn.GELU()}[name]

    modules = {
        "src": {}, "src.utils": {}, "src.models": {},
        "src.utils.train": {"OptimModule": OptimModule},
        "src.utils.config": {"instantiate": instantiate, "auto_assign_attrs": auto_assign_attrs},
        "src.utils.registry": {"layer": {}},
        "src.models.nn": {"Activation": activation},
    }
    for name, attrs in modules.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        sys.modules[name] = module
    sys.modules["src.utils"].registry = sys.modules["src.utils.registry"]


def load_hyena():
    path = SAFARI_SRC / "src" / "models" / "sequence" / "hyena.py"
    if not path.exists():
        sys.exit(f"{path} missing: run scripts/reference/fetch_sources.sh first")
    install_stand_ins()
    spec = importlib.util.spec_from_file_location("safari_hyena", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["safari_hyena"] = module
    spec.loader.exec_module(module)
    return module


def make_case(hyena, name, seed, batch, length, overrides):
    torch.manual_seed(seed)
    config = dict(BASE, **overrides)
    layer = hyena.HyenaOperator(**config).double()
    # Move every parameter off its init (the filter bias and ord_proj_w are already random).
    with torch.no_grad():
        for pname, p in layer.named_parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(batch, length, config["d_model"], dtype=torch.float64, requires_grad=True)
    out = layer(x)
    grad_out = torch.randn_like(out)
    (out * grad_out).sum().backward()
    aux_filter = layer.filter_fn.filter(min(length, config["l_max"])).detach()
    tensors = {"input": x.detach(), "output": out.detach(), "grad_out": grad_out,
               "grad_input": x.grad, "aux_filter": aux_filter}
    for key, value in layer.state_dict().items():
        tensors[key] = value.detach().clone()
    for pname, p in layer.named_parameters():
        if p.grad is not None:
            tensors["grad_" + pname] = p.grad.detach().clone()
    entry = {
        "op": f"Hyena operator of order {config['order']}" + (" with outer mixing, post-order scales, "
              "a normalised filter and GELU" if config["outer_mixing"] else ""),
        "reference": f"HazyResearch/safari@{COMMIT} src/models/sequence/hyena.py HyenaOperator "
                     "(fftconv_ref), float64 on CPU, by scripts/reference/hyena_cases.py",
        "config": config, "batch": batch, "L": length, "dtype": "float64",
        "semantics": "as the golden hyena_basic entry; outer_mixing: v <- v * (sum over channels of x_i); "
                     "post_order_ffn: v <- ord_proj_w[o, 0, 0] * v after round o; normalized: "
                     "h <- h / sum_c |h[:, :, c]| per position. Parameters moved off their init by 0.1 N(0, 1).",
        "tolerance": "float64: ~1e-9 relative",
    }
    return {k: v.contiguous() for k, v in tensors.items()}, entry


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    hyena = load_hyena()
    args.out.mkdir(parents=True, exist_ok=True)
    manifest_path = args.out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    for name, (seed, batch, length, overrides) in CASES.items():
        tensors, entry = make_case(hyena, name, seed, batch, length, overrides)
        save_file(tensors, str(args.out / f"hyena_{name}.safetensors"))
        manifest[f"hyena_{name}"] = entry
        print(f"hyena_{name}: {len(tensors)} tensors")
    manifest_path.write_text(json.dumps(dict(sorted(manifest.items())), indent=1) + "\n")


if __name__ == "__main__":
    main()
