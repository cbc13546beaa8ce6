#!/usr/bin/env python3
"""Reference cases `lssl_<name>`: state-spaces/s4's `LSSL` module (src/models/sequence/modules/
lssl.py, class `Platypus`) in float64 on the CPU: `input` (B, L, H), `output`, `grad_out`,
`grad_input`, the parameters C, D (E), log_dt, output_linear.* with their gradients.

The module runs with `learn=3`: the dense HiPPO transition `hippo.transition(measure, N)` through
`ManualAdaptiveTransition`, whose bilinear update is plain PyTorch. The default `learn=0`
transitions (`LegSTriDInverseAdaptiveTransition`, …) need the repository's compiled CUDA
extensions (`extensions/trid`) and are not run. A and B are fixed by the measure: their gradients
(the module makes them parameters under `learn=3`) are not stored; log_dt is a buffer.

The s4 sources are imported from target/ref-src/s4 (scripts/reference/fetch_sources.sh). The
module imports four helpers from the rest of the repository (`Activation`, `SequenceModule`,
`TransposedModule`, `src.models.nn.utils`), replaced by stand-ins written here; one shim
converts `hippo.transition`'s numpy arrays to tensors (the `learn=3` path hands them to
`nn.Parameter`, which needs tensors).

    python scripts/reference/lssl_cases.py [--out DIR]
"""

import argparse
import json
import sys
import types
from pathlib import Path

import torch
import torch.nn as nn
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[2]
S4_SRC = ROOT / "target" / "ref-src" / "s4"
DEFAULT_OUT = ROOT / "crates" / "statespace" / "tests" / "reference"
COMMIT = "e757cef57d89e448c413de7325ed5601aceaac13"

CASES = {
    # name: (seed, batch, L, H, N, options)
    "legs": (61, 2, 37, 4, 8, dict(measure="legs", channels=1, bias=False, activation="gelu",
                                   ff=True)),
    "legt_channels_bias": (62, 2, 29, 3, 6, dict(measure="legt", channels=2, bias=True,
                                                 activation="gelu", ff=True)),
    "lagt_noff": (63, 1, 20, 3, 5, dict(measure="lagt", channels=1, bias=False,
                                        activation="id", ff=False)),
}


def install_stand_ins():
    """The helpers lssl.py imports from the rest of the repository."""
    def activation(name):
        return {"gelu": nn.GELU(), "id": nn.Identity()}[name]

    def transposed(cls):
        return cls

    nn_mod = types.ModuleType("src.models.nn")
    nn_mod.Activation = activation
    utils = types.ModuleType("src.models.nn.utils")
    nn_mod.utils = utils
    base = types.ModuleType("src.models.sequence.base")
    base.SequenceModule = nn.Module
    base.TransposedModule = transposed
    sys.modules.update({"src.models.nn": nn_mod, "src.models.nn.utils": utils,
                        "src.models.sequence.base": base})


def load_lssl():
    install_stand_ins()
    sys.path.insert(0, str(S4_SRC))
    from src.models.sequence.modules import lssl  # noqa: E402
    # Shim: under learn=3 the module passes hippo.transition's numpy arrays to
    # ManualAdaptiveTransition, which makes parameters of them (it needs tensors).
    numpy_transition = lssl.hippo.transition
    lssl.hippo = types.SimpleNamespace(
        transition=lambda measure, n: tuple(torch.as_tensor(x) for x in numpy_transition(measure, n)))
    return lssl


def make_case(lssl, seed, batch, length, h, n, options):
    torch.manual_seed(seed)
    module = lssl.Platypus(d=h, d_model=n, measure=options["measure"], learn=3,
                           channels=options["channels"], bias=options["bias"],
                           activation=options["activation"], ff=options["ff"],
                           dt={"min": 0.01, "max": 0.1, "learn": False})
    with torch.no_grad():
        if module.bias:
            module.E.normal_(0.0, 0.3)
    module.eval()
    u = torch.randn(batch, length, h, requires_grad=True)
    grad_out = torch.randn(batch, length, h * (1 if options["ff"] else options["channels"]))
    y, _ = module(u)
    (y * grad_out).sum().backward()
    tensors = {"input": u.detach(), "output": y.detach(), "grad_out": grad_out,
               "grad_input": u.grad}
    params = []
    for name, p in module.named_parameters():
        if name.startswith("transition."):
            continue
        tensors[name] = p.detach()
        tensors[f"grad_{name}"] = p.grad
        params.append(name)
    tensors["log_dt"] = module.log_dt
    tensors = {k: v.contiguous().to(torch.float64) for k, v in tensors.items()}
    config = dict(options, d_model=h, d_state=n, learn=3, disc="bilinear", batch=batch, L=length)
    entry = {
        "op": "state-spaces/s4 LSSL (Platypus) with learn=3: the dense HiPPO transition of the "
              "measure, bilinear (GBT alpha 1/2) per feature with dt = exp(log_dt); "
              "y[h, m] = K[h, m] * u_h + D[h, m] u_h (+ E), K = C[h, m] A_bar^l B_bar (Krylov); "
              "activation; output_linear over (h m) channels",
        "reference": f"github.com/state-spaces/s4 @ {COMMIT}",
        "made_by": "scripts/reference/lssl_cases.py",
        "config": config,
        "dtype": "float64",
        "params": sorted(params),
        "buffers": ["log_dt"],
        "tensors": {k: list(v.shape) for k, v in sorted(tensors.items())},
        "versions": {"torch": torch.__version__},
    }
    return tensors, entry


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    torch.set_default_dtype(torch.float64)
    lssl = load_lssl()
    manifest_path = args.out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    for name, (seed, batch, length, h, n, options) in CASES.items():
        tensors, entry = make_case(lssl, seed, batch, length, h, n, options)
        save_file(tensors, str(args.out / f"lssl_{name}.safetensors"))
        manifest[f"lssl_{name}"] = entry
        print(f"lssl_{name}: {len(tensors)} tensors")
    manifest_path.write_text(json.dumps(dict(sorted(manifest.items())), indent=1) + "\n")


if __name__ == "__main__":
    main()
