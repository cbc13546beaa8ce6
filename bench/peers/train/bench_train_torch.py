#!/usr/bin/env python3
"""PyTorch peer benchmark for `ssm train`: training steps/s on the CPU (or,
with --device cuda, on the GPU, adding tokens/s and peak memory).

Models
  s4d    The official S4 example model: `S4Model` and `setup_optimizer` of
         state-spaces/s4 example.py (read from the checkout at ./s4 and
         executed as they are, not copied), stacking the minimal S4D layer of
         models/s4/s4d.py. The encoder Linear is replaced by
         nn.Embedding(vocab, d_model) for token input.
  s4     The same model stacking the full S4 block of models/s4/s4.py
         (`S4Block`, mode "dplr", init "legs", rank 1: S4 proper, its
         generating function through the Cauchy kernel). On the CPU the
         repository has no CUDA extension, and pykeops is not installed, so
         its Cauchy product is `cauchy_naive`, the fallback it selects then.
         Needs einops, scipy and pytorch_lightning (setup_peers.sh).
  mamba  Hugging Face transformers' MambaModel (its pure-torch path on the
         CPU: no mamba_ssm / causal_conv1d kernels), mean pooling of
         last_hidden_state over unpadded positions, then Linear(d_model,
         classes). --mamba-scan picks transformers' training scan:
         `sequential` (default; MambaConfig(use_mambapy=False), a Python loop
         over time whose backward costs O(L^2) on the CPU: ~1-3 min a step at
         B=32, L=200) or `mambapy` (use_mambapy=True, the parallel scan of the
         mambapy package).

Data: random ListOps-like token batches (vocab 16, pad 0, 10 classes), each
batch of fixed padded length --len; every row holds real tokens (1..15) for
a random length in [0.9·len, len] and padding after it.

A step is zero_grad + forward + cross-entropy + backward + AdamW step.
Reported: the median over --steps timed steps after --warmup untimed ones.
Prints one JSON line per model on stdout; everything else goes to stderr.

  python bench_train_torch.py --model s4d,mamba --batch 32 --len 200
  python bench_train_torch.py --model s4d,mamba --batch 8 --len 1000
  python bench_train_torch.py --model mamba --mamba-scan mambapy
"""

import argparse
import ast
import contextlib
import functools
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
S4_ROOT = os.environ.get("S4_ROOT", os.path.join(HERE, "s4"))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

VOCAB = 16
PAD = 0
CLASSES = 10


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# S4 example model, straight from the state-spaces/s4 checkout
# --------------------------------------------------------------------------

def load_s4_example(lr, d_state, layer="s4d"):
    """Returns (S4Model, setup_optimizer) as defined in s4/example.py, its
    layers S4D (`layer` "s4d") or S4Block in DPLR mode ("s4").

    example.py is a script (it parses argv and downloads CIFAR at import), so
    it cannot be imported; instead its two definitions are taken from its
    syntax tree and executed with the globals they use: S4D (from
    models/s4/s4d.py), nn, optim, dropout_fn (as example.py picks it) and
    `args.lr` (read by S4Model for the S4D layers' lr = min(0.001, args.lr)).
    """
    if S4_ROOT not in sys.path:
        sys.path.insert(0, S4_ROOT)
    if layer == "s4":
        from models.s4.s4 import S4Block  # the official full S4 block

        def make_layer(d_model, **kw):
            return S4Block(d_model, mode="dplr", init="legs", d_state=d_state, **kw)
    else:
        from models.s4.s4d import S4D  # the official minimal S4D layer
        make_layer = functools.partial(S4D, d_state=d_state)

    path = os.path.join(S4_ROOT, "example.py")
    with open(path) as f:
        tree = ast.parse(f.read(), filename=path)
    wanted = {"S4Model", "setup_optimizer"}
    nodes = [n for n in tree.body
             if isinstance(n, (ast.ClassDef, ast.FunctionDef)) and n.name in wanted]
    assert {n.name for n in nodes} == wanted, "example.py changed shape"
    module = ast.Module(body=nodes, type_ignores=[])

    # example.py: Dropout1d for torch >= 1.12
    version = tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2])
    dropout_fn = nn.Dropout1d if version >= (1, 12) else nn.Dropout2d
    # S4Model calls S4D(d_model, dropout=..., transposed=True, lr=...) and so
    # takes the layer's default d_state; bind --d-state explicitly.
    env = {
        "__name__": "s4_example",
        "torch": torch,
        "nn": nn,
        "optim": torch.optim,
        "S4D": make_layer,
        "dropout_fn": dropout_fn,
        "args": argparse.Namespace(lr=lr),
    }
    exec(compile(module, path, "exec"), env)
    return env["S4Model"], env["setup_optimizer"]


def build_s4d(a, layer="s4d"):
    S4Model, setup_optimizer = load_s4_example(a.lr, a.d_state, layer)
    model = S4Model(
        d_input=1,  # unused: the encoder is replaced just below
        d_output=CLASSES,
        d_model=a.d_model,
        n_layers=a.n_layers,
        dropout=a.dropout,
        prenorm=True,
    )
    model.encoder = nn.Embedding(VOCAB, a.d_model)
    # setup_optimizer prints its groups on stdout; keep stdout for JSON.
    with contextlib.redirect_stdout(sys.stderr):
        optimizer, _scheduler = setup_optimizer(
            model, lr=a.lr, weight_decay=a.weight_decay, epochs=1
        )

    def forward(ids, mask):
        return model(ids)  # S4Model: plain mean over all L positions

    first = model.s4_layers[0]
    if layer == "s4":
        kernel = first.layer.kernel
        import models.s4.s4 as s4_module
        info = {
            "d_state": a.d_state,
            "complex_modes_per_channel": int(kernel.A_real.shape[-1]),
            "rank": int(kernel.P.shape[0]),
            "cauchy": "cuda extension" if s4_module.has_cuda_extension
            else "keops" if s4_module.has_pykeops else "naive",
        }
    else:
        info = {
            "d_state": a.d_state,
            "complex_modes_per_channel": int(first.kernel.log_A_real.shape[-1]),
        }
    return model, optimizer, forward, info


def build_s4(a):
    return build_s4d(a, layer="s4")


# --------------------------------------------------------------------------
# Mamba classifier on transformers' MambaModel
# --------------------------------------------------------------------------

class MambaClassifier(nn.Module):
    def __init__(self, config):
        super().__init__()
        from transformers import MambaModel
        self.backbone = MambaModel(config)
        self.head = nn.Linear(config.hidden_size, CLASSES)

    def forward(self, ids, mask):
        h = self.backbone(input_ids=ids, use_cache=False).last_hidden_state
        m = mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * m).sum(1) / m.sum(1)
        return self.head(pooled)


def build_mamba(a):
    from transformers import MambaConfig
    config = MambaConfig(
        vocab_size=VOCAB,
        hidden_size=a.d_model,
        num_hidden_layers=a.n_layers,
        state_size=a.mamba_d_state,
        expand=2,
        conv_kernel=4,
        use_cache=False,
        pad_token_id=PAD,
        use_mambapy=(a.mamba_scan == "mambapy"),
    )
    model = MambaClassifier(config)
    # Parameter groups as statespace's AdamW: A_log and dt_proj.bias at the
    # SSM lr with no weight decay; all else lr / weight_decay.
    ssm, rest = [], []
    for name, p in model.named_parameters():
        (ssm if name.endswith(("mixer.A_log", "mixer.dt_proj.bias")) else rest).append(p)
    optimizer = torch.optim.AdamW(
        [
            {"params": rest},
            {"params": ssm, "lr": a.ssm_lr, "weight_decay": 0.0},
        ],
        lr=a.lr,
        weight_decay=a.weight_decay,
    )
    mixer = model.backbone.layers[0].mixer
    if a.mamba_scan == "mambapy":
        import mambapy  # noqa: F401  (transformers silently falls back without it)
    try:
        import mamba_ssm  # noqa: F401
        fast = True
    except ImportError:
        fast = False
    info = {
        "d_state": a.mamba_d_state,
        "d_inner": config.intermediate_size,
        "dt_rank": config.time_step_rank,
        "scan": a.mamba_scan,
        "mamba_ssm_installed": fast,
        "mixer": type(mixer).__name__,
    }
    return model, optimizer, model.forward, info


# --------------------------------------------------------------------------

def make_batches(n, batch, length, gen):
    out = []
    lo = max(1, int(0.9 * length))
    for _ in range(n):
        lengths = torch.randint(lo, length + 1, (batch,), generator=gen)
        ids = torch.randint(1, VOCAB, (batch, length), generator=gen)
        mask = torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)
        ids = ids.masked_fill(~mask, PAD)
        labels = torch.randint(0, CLASSES, (batch,), generator=gen)
        out.append((ids, mask, labels))
    return out


def bench(name, a):
    torch.manual_seed(a.seed)
    builder = {"s4d": build_s4d, "s4": build_s4, "mamba": build_mamba}[name]
    model, optimizer, forward, info = builder(a)
    model.to(a.device)
    # Optimiser state is created lazily, on the parameters' device.
    model.train()
    n_params = sum(p.numel() for p in model.parameters())
    batches = make_batches(4, a.batch, a.len, torch.Generator().manual_seed(a.seed))
    batches = [tuple(t.to(a.device) for t in b) for b in batches]
    cuda = a.device == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times = []
    loss_value = float("nan")
    for i in range(a.warmup + a.steps):
        ids, mask, labels = batches[i % len(batches)]
        t0 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        logits = forward(ids, mask)
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        optimizer.step()
        loss_value = loss.item()
        if cuda:
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        if i >= a.warmup:
            times.append(dt)
        log(f"[{name}] step {i + 1}/{a.warmup + a.steps} "
            f"{'warm-up' if i < a.warmup else 'timed'} {dt * 1e3:.1f} ms loss {loss_value:.4f}")
    med = statistics.median(times)
    q = statistics.quantiles(times, n=4) if len(times) >= 2 else [med, med, med]
    row = {
        "peer": "pytorch",
        "model": name,
        "batch": a.batch,
        "len": a.len,
        "steps_per_s": round(1.0 / med, 4),
        "ms_per_step": round(med * 1e3, 2),
        "ms_p25": round(q[0] * 1e3, 2),
        "ms_p75": round(q[2] * 1e3, 2),
        "timed_steps": len(times),
        "warmup": a.warmup,
        "params": n_params,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": a.device,
        **info,
    }
    if cuda:
        row["tokens_per_s"] = round(a.batch * a.len / med, 1)
        row["peak_alloc_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        row["peak_reserved_mib"] = round(torch.cuda.max_memory_reserved() / 2**20, 1)
        row["gpu"] = torch.cuda.get_device_name()
    print(json.dumps(row), flush=True)
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="s4d,mamba",
                   help="comma-separated: s4d, s4, mamba (default s4d,mamba)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--len", type=int, default=200)
    p.add_argument("--steps", type=int, default=20, help="timed steps (median)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--d-model", dest="d_model", type=int, default=64)
    p.add_argument("--n-layers", dest="n_layers", type=int, default=4)
    p.add_argument("--d-state", dest="d_state", type=int, default=64,
                   help="S4D / S4 d_state N (both keep N/2 complex modes)")
    p.add_argument("--mamba-d-state", dest="mamba_d_state", type=int, default=16)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--ssm-lr", dest="ssm_lr", type=float, default=0.001,
                   help="Mamba SSM-group lr (S4Model fixes min(0.001, lr) itself)")
    p.add_argument("--weight-decay", dest="weight_decay", type=float, default=0.05)
    p.add_argument("--mamba-scan", dest="mamba_scan", default="sequential",
                   choices=["sequential", "mambapy"],
                   help="sequential: transformers' default slow path (a Python loop "
                        "over time; its backward is O(L^2) on the CPU); mambapy: "
                        "MambaConfig(use_mambapy=True), the parallel scan of the "
                        "mambapy package (pip install --no-deps mambapy)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_default_dtype(torch.float32)
    log(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"batch {a.batch}, len {a.len}")
    for name in [m.strip() for m in a.model.split(",") if m.strip()]:
        bench(name, a)


if __name__ == "__main__":
    main()
