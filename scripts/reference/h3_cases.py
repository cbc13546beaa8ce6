#!/usr/bin/env python3
"""Reference cases `h3_<name>`: safari's `H3` (src/models/sequence/h3.py) with
`use_fast_fftconv=False` (the module's own torch.fft path) in float32 on the CPU, in the layout of
the golden `h3_basic` case (`input`, `output`, `grad_out`, `grad_input`, `aux_shift_kernel`,
`aux_ssm_kernel`, every state_dict entry and `grad_<name>`), at head_dim > 1, which the golden set
does not cover: `h3_headdim2` (d_model 16, head_dim 2, so H = 8 S4D heads, d_state 8, L 33) and
`h3_headdim4_odd` (d_model 16, head_dim 4, H = 4, d_state 4, L 21: odd, and longer than the
shift kernel's N taps).

The S4D kernel is built as in the golden case: mode 'diag', measure 'diag-lin', disc 'bilinear',
real_type 'exp', channels 1, l_max = L, under `torch.manual_seed(seed)`. Then the SSM parameters
are moved off their init by `0.3 N(0, 1)` from the same generator: `kernel.kernel.log_dt`,
`.B`, `.inv_A_real`, `.A_imag` and `ssm_k_kernel.kernel.B` (the golden weights' deviations from
the diag-lin init / the e_1 shift B are of this size; its C, D, ssm_k_D, shift C and projections
are at their random init, and so are ours). On the CPU there is neither the CUDA
`cauchy_mult` extension nor pykeops, so SSKernelDiag uses `log_vandermonde_naive`; the
script asserts this.

safari's recurrent mode does not run at head_dim > 1 (the script calls it and records the errors
in the manifest's `step`):
  - `H3.step` (token by token from zero states): `mul_sum(y, q)` returns (b, d2, h), and the
    next line, `rearrange(y, 'b d h l -> b (d h) l')`, asks for four axes (h3.py line 200).
  - `forward(..., inference_params)` (the prefill): both states are allocated for a batch of
    b * head_dim**2 (lines 90-92), also the shift SSM's, whose `forward_state(k_og, ...)` returns
    a batch of b, and `copy_` cannot broadcast it (line 171).
So `output_step`, `step_final_state_*` and `output_prefill_step` come from a copy of h3.py
(written to target/ref-src/safari_h3_corrected.py) with those two lines corrected, and nothing
else changed: line 200 becomes
`rearrange(y, 'b d h -> b 1 (d h)')` (the forward's (d h) channel order, line 153) and line 91
allocates the shift state for a batch of b. At head_dim 1 the corrected lines compute what the
originals do. The script asserts that both recurrent outputs equal the unpatched forward's
`output` to float32 rounding. safari's S4D state is ((b d1 d2), H, N/2) complex; it is stored
in that layout as `step_final_state_ssm` ((b d1 d2), H, N/2, 2) (head_dim 1: the golden's
(b, H, N/2, 2)).

`--check-golden DIR` rebuilds the golden `h3_basic` (head_dim 1) from its stored weights,
inputs and grad_out with the same code (the recurrent runs with the corrected copy), and prints
how far each stored tensor is from it.

safari's files are imported from target/ref-src/safari (scripts/reference/fetch_sources.sh):
h3.py, ssm/ss_kernel.py, ss_kernel_diag.py, ss_kernel_shift.py, dplr.py, hippo.py and
src/ops/{vandermonde,krylov,toeplitz}.py. One helper module is replaced by a stand-in written
here: `src.utils.train`, whose own imports pull in PyTorch Lightning, rich and OmegaConf; the
kernels use only its `OptimModule` (copied: `register` makes a buffer when lr = 0 and a
parameter with an `_optim` dict otherwise) and `get_logger` (a plain `logging` logger).
`src.ops.fftconv` (the CUDA fast path) is not exported, so h3.py's `fftconv_func` is None.

    python scripts/reference/h3_cases.py [--out DIR] [--check-golden DIR]
"""

import argparse
import importlib.util
import json
import logging
import sys
import types
from pathlib import Path

import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

ROOT = Path(__file__).resolve().parents[2]
SAFARI_SRC = ROOT / "target" / "ref-src" / "safari"
DEFAULT_OUT = ROOT / "crates" / "statespace" / "tests" / "reference"
COMMIT = "02220c69d247e5473616cd053a443ad99fd2559b"

KERNEL = dict(mode="diag", measure="diag-lin", disc="bilinear", real_type="exp")
PERTURB = 0.3
PERTURBED = ["kernel.kernel.log_dt", "kernel.kernel.B", "kernel.kernel.inv_A_real",
             "kernel.kernel.A_imag", "ssm_k_kernel.kernel.B"]
CASES = {
    # name: (seed, batch, L, d_model, d_state, head_dim, prefill_len)
    "headdim2": (41, 2, 33, 16, 8, 2, 16),
    # a prefix shorter than the shift register (forward_state's L < N branch)
    "headdim4_odd": (42, 2, 21, 16, 4, 4, 3),
}
# The two corrected lines of h3.py: (line, original, corrected).
CORRECTIONS = [
    (91, "state_k = self.ssm_k_kernel.default_state(*batch_shape)",
     "state_k = self.ssm_k_kernel.default_state(u.shape[0])"),
    (200, "y = rearrange(y, 'b d h l -> b (d h) l')", "y = rearrange(y, 'b d h -> b 1 (d h)')"),
]
# Recurrent results against the forward's output: float32 rounding.
RECURRENT_TOLERANCE = 1e-5


def install_stand_ins():
    """`src.utils.train`: the two names the kernel files import from it."""
    class OptimModule(nn.Module):
        def register(self, name, tensor, lr=None, wd=0.0):
            if lr == 0.0:
                self.register_buffer(name, tensor)
            else:
                self.register_parameter(name, nn.Parameter(tensor))
                optim = {}
                if lr is not None:
                    optim["lr"] = lr
                if wd is not None:
                    optim["weight_decay"] = wd
                setattr(getattr(self, name), "_optim", optim)

    def get_logger(name=__name__, level=logging.INFO):
        logger = logging.getLogger(name)
        logger.setLevel(level)
        return logger

    for name, attrs in {"src.utils": {}, "src.utils.train": {"OptimModule": OptimModule,
                                                             "get_logger": get_logger}}.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        sys.modules[name] = module


def load_h3():
    """safari's h3 module, and a copy of it with the two CORRECTIONS."""
    path = SAFARI_SRC / "src" / "models" / "sequence" / "h3.py"
    if not path.exists():
        sys.exit(f"{path} missing: run scripts/reference/fetch_sources.sh first")
    install_stand_ins()
    sys.path.insert(0, str(SAFARI_SRC))
    import src.models.sequence.h3 as h3
    import src.models.sequence.ssm.ss_kernel_diag as diag
    import src.ops.vandermonde as vandermonde
    assert h3.__file__ == str(path), h3.__file__
    assert h3.fftconv_func is None
    assert vandermonde.log_vandermonde_fast is None and diag.log_vandermonde_fast is None
    assert not diag.has_pykeops and diag.log_vandermonde is vandermonde.log_vandermonde_naive
    lines = path.read_text().split("\n")
    for number, original, corrected in CORRECTIONS:
        assert lines[number - 1].strip() == original, (number, lines[number - 1])
        lines[number - 1] = lines[number - 1].replace(original, corrected)
    # A file (torch.jit.script reads mul_sum's source), next to the export, git-ignored too.
    corrected_path = SAFARI_SRC.parent / "safari_h3_corrected.py"
    corrected_path.write_text("\n".join(lines))
    spec = importlib.util.spec_from_file_location("safari_h3_corrected", corrected_path)
    corrected = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(corrected)
    return h3, corrected


class InferenceParams:
    """What H3.forward reads from inference_params."""
    def __init__(self):
        self.key_value_memory_dict = {}
        self.sequence_len_offset = 0


def build(module, seed, d_model, d_state, head_dim, length):
    torch.manual_seed(seed)
    layer = module.H3(d_model, d_state=d_state, l_max=length, head_dim=head_dim,
                      use_fast_fftconv=False, dropout=0.0, layer_idx=0, **KERNEL)
    with torch.no_grad():
        params = dict(layer.named_parameters())
        for name in PERTURBED:
            params[name].add_(PERTURB * torch.randn_like(params[name]))
    return layer


def forward_and_gradients(layer, x, grad_out=None):
    x = x.clone().requires_grad_(True)
    layer.zero_grad(set_to_none=True)
    out = layer(x)
    if grad_out is None:
        grad_out = torch.randn_like(out)
    (out * grad_out).sum().backward()
    length = x.shape[1]
    with torch.no_grad():
        aux_shift = layer.ssm_k_kernel(L=length, rate=1.0)[0].squeeze(0)
        aux_ssm = layer.kernel(L=length, rate=1.0)[0].squeeze(0)
    tensors = {"input": x.detach(), "output": out.detach(), "grad_out": grad_out,
               "grad_input": x.grad, "aux_shift_kernel": aux_shift, "aux_ssm_kernel": aux_ssm}
    for key, value in layer.state_dict().items():
        tensors[key] = value.detach().clone()
    for name, p in layer.named_parameters():
        tensors["grad_" + name] = p.grad.detach().clone()
    return tensors


def run_step(layer, x):
    """H3.step token by token from zero states, as the golden case."""
    batch, length, _ = x.shape
    hd = layer.head_dim
    layer.ssm_k_kernel._setup_step()
    layer.kernel._setup_step()
    state_k = layer.ssm_k_kernel.default_state(batch)
    state = layer.kernel.default_state(batch * hd * hd)
    outs = []
    for t in range(length):
        y, state_k, state = layer.step(x[:, t:t + 1], state_k, state)
        outs.append(y)
    return torch.cat(outs, 1), state_k, state


def run_prefill(layer, x, prefill_len):
    """forward on the prefix with inference_params, then one token per call."""
    params = InferenceParams()
    outs = [layer(x[:, :prefill_len], inference_params=params)]
    params.sequence_len_offset += prefill_len
    for t in range(prefill_len, x.shape[1]):
        outs.append(layer(x[:, t:t + 1], inference_params=params))
        params.sequence_len_offset += 1
    return torch.cat(outs, 1)


@torch.no_grad()
def recurrent(layer, x, prefill_len):
    output_step, state_k, state = run_step(layer, x)
    # safari's own layout: ((b d1 d2), H, N/2) complex.
    return {"output_step": output_step, "step_final_state_shift": state_k,
            "step_final_state_ssm": torch.view_as_real(state).contiguous(),
            "output_prefill_step": run_prefill(layer, x, prefill_len)}


@torch.no_grad()
def official_errors(layer, x, prefill_len):
    """The error each recurrent mode of the unchanged h3.py raises (None if it ran)."""
    errors = {}
    for mode, run in [("step", lambda: run_step(layer, x)),
                      ("prefill", lambda: run_prefill(layer, x, prefill_len))]:
        try:
            run()
            errors[mode] = None
        except Exception as e:  # the official code's own error
            errors[mode] = f"{type(e).__name__}: {str(e).strip().splitlines()[0]}"
    return errors


def rel_err(a, b):
    a, b = a.to(torch.float64), b.to(torch.float64)
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


def golden_entry(golden_dir):
    return json.loads((Path(golden_dir) / "manifest.json").read_text())["h3_basic"]


def check_golden(h3, corrected, golden_dir):
    """Rebuilds the golden h3_basic from its stored weights with this script's code."""
    entry = golden_entry(golden_dir)
    stored = load_file(str(Path(golden_dir) / "h3_basic.safetensors"))
    cfg = entry["config"]
    layer = build(h3, 0, cfg["d_model"], cfg["d_state"], cfg["head_dim"], cfg["l_max"])
    layer.load_state_dict({k: stored[k] for k in layer.state_dict()})
    ours = forward_and_gradients(layer, stored["input"], stored["grad_out"])
    recurrent_layer = build(corrected, 0, cfg["d_model"], cfg["d_state"], cfg["head_dim"], cfg["l_max"])
    recurrent_layer.load_state_dict(layer.state_dict())
    ours.update(recurrent(recurrent_layer, stored["input"], entry["prefill_len"]))
    assert set(ours) == set(stored), set(ours) ^ set(stored)
    worst = 0.0
    for key in sorted(stored):
        err = rel_err(ours[key], stored[key])
        worst = max(worst, err)
        print(f"  golden h3_basic {key:36s} max|ours - stored| / max|stored| = {err:.2e}")
    print(f"golden h3_basic rebuilt: worst {worst:.2e}")


def make_entry(golden, seed, batch, length, d_model, d_state, head_dim, prefill_len, errors,
               agreement):
    H = d_model // head_dim
    config = dict(golden["config"], d_model=d_model, d_state=d_state, head_dim=head_dim, H=H,
                  l_max=length)
    config["measure"] = f"diag-lin (then perturbed: + {PERTURB} N(0, 1) on {', '.join(PERTURBED)})"
    shapes = dict(golden["shapes"])
    shapes["step_final_state_shift"] = "(batch, d_model, N)"
    shapes["step_final_state_ssm"] = (
        "((batch head_dim head_dim), H, N/2, 2): safari's own state tensor ((b d1 d2), H, N/2), "
        "complex as (re, im)")
    step = (
        f"As the golden h3_basic, but safari's recurrent mode does not run at head_dim {head_dim}. "
        "Unchanged h3.py: H3.step from zero states (ssm_k_kernel._setup_step(), kernel._setup_step(), "
        "ssm_k_kernel.default_state(batch), kernel.default_state(batch * head_dim^2)) raises "
        f"{errors['step']!r}: line 200, mul_sum(y, q) is (b, d2, h) and the rearrange asks for "
        f"'b d h l'. forward(u[:, :{prefill_len}], inference_params) raises {errors['prefill']!r}: "
        "line 91 allocates the shift state for batch * head_dim^2 like the S4D state, and "
        "forward_state(k_og) (batch rows) cannot be copied into it (line 171). output_step, "
        "step_final_state_* and output_prefill_step therefore come from a copy of h3.py with "
        "those two lines corrected and nothing else changed: line 200 -> rearrange(y, "
        "'b d h -> b 1 (d h)') (the forward's (d h) order, line 153), line 91 -> "
        "ssm_k_kernel.default_state(u.shape[0]). The script checks that both equal the unchanged "
        "forward's output (max|a-b| / max|b|: output_step "
        f"{agreement['output_step']:.1e}, output_prefill_step {agreement['output_prefill_step']:.1e}). "
        "Recurrence: the golden one with kv_t[b, d1, d2, h] = k'_t[h*hd + d1] v_t[h*hd + d2], one "
        "complex S4D state per (b, d1, d2, h) with head h's dA, dB: x' = dA x + dB kv_t, "
        "y_t[d1, d2, h] = 2 Re(sum_n C[h, n] x'[n]) + D[h] kv_t; o_t[d2, h] = sum_d1 q_t[h*hd + d1] "
        "y_t[d1, d2, h] at channel d2*H + h; output_t = output_linear(o_t).")
    return {
        "op": golden["op"] + f"; head_dim {head_dim}",
        "reference": golden["reference"] + ", by scripts/reference/h3_cases.py (torch "
                     f"{torch.__version__})",
        "config": config,
        "shapes": shapes,
        "semantics": golden["semantics"] + (
            f" Weights: safari's init under torch.manual_seed({seed}), then the SSM parameters "
            f"named in config.measure moved by {PERTURB} N(0, 1) from the same generator; input "
            "and grad_out are N(0, 1) from it."),
        "step": step,
        "prefill_len": prefill_len,
        "batch": batch,
        "L": length,
        "dtype": "float32",
        "tolerance": golden["tolerance"],
    }


def make_case(h3, corrected, golden, seed, batch, length, d_model, d_state, head_dim, prefill_len):
    layer = build(h3, seed, d_model, d_state, head_dim, length)
    x = torch.randn(batch, length, d_model)
    tensors = forward_and_gradients(layer, x)
    errors = official_errors(layer, x, prefill_len)
    if errors["step"] is None or errors["prefill"] is None:
        sys.exit(f"head_dim {head_dim}: the unchanged recurrent mode ran; drop the corrections")
    recurrent_layer = build(corrected, seed, d_model, d_state, head_dim, length)
    recurrent_layer.load_state_dict(layer.state_dict())
    steps = recurrent(recurrent_layer, x, prefill_len)
    agreement = {k: rel_err(steps[k], tensors["output"]) for k in ("output_step", "output_prefill_step")}
    assert max(agreement.values()) < RECURRENT_TOLERANCE, agreement
    tensors.update(steps)
    entry = make_entry(golden, seed, batch, length, d_model, d_state, head_dim, prefill_len,
                       errors, agreement)
    return {k: v.contiguous() for k, v in tensors.items()}, entry


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check-golden", metavar="DIR", help="also rebuild DIR/h3_basic")
    parser.add_argument("--golden", metavar="DIR", default=str(ROOT.parent / "shared" / "golden"),
                        help="the golden folder whose h3_basic entry and key set the cases follow "
                             "(default ../shared/golden)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    h3, corrected = load_h3()
    if args.check_golden:
        check_golden(h3, corrected, args.check_golden)
    golden = golden_entry(args.golden)
    golden_keys = set(load_file(str(Path(args.golden) / "h3_basic.safetensors")))
    args.out.mkdir(parents=True, exist_ok=True)
    manifest_path = args.out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    for name, case in CASES.items():
        tensors, entry = make_case(h3, corrected, golden, *case)
        assert set(tensors) == golden_keys, set(tensors) ^ golden_keys
        save_file(tensors, str(args.out / f"h3_{name}.safetensors"))
        manifest[f"h3_{name}"] = entry
        print(f"h3_{name}: {len(tensors)} tensors; unchanged recurrent mode fails, corrected copy vs "
              f"forward: output_step {rel_err(tensors['output_step'], tensors['output']):.1e}, "
              f"output_prefill_step {rel_err(tensors['output_prefill_step'], tensors['output']):.1e}")
    manifest_path.write_text(json.dumps(dict(sorted(manifest.items())), indent=1) + "\n")


if __name__ == "__main__":
    main()
