#!/usr/bin/env python3
"""Reference cases `s5_ssm_<name>` and `s5_layer_<name>`: lindermanlab/S5's `S5SSM` and its
`SequenceLayer` (evaluation mode) in float64 with JAX on the CPU, in the layout of the golden
`s5_*` cases (`input`, `output`, `grad_out`, `grad_input`, the parameters by their flax paths
with `grad_<path>`, `debug.*`, `init.Lambda_*`), at settings the golden set does not cover:
bidirectional scans (C1/C2, and one complex-normal C of 2P columns), bilinear discretisation,
clipped eigenvalues, no conjugate symmetry, BatchNorm from running statistics, postnorm, the
full GLU, the second half GLU, plain GELU and a step rescale.

The S5 sources are imported from target/ref-src/S5 (scripts/reference/fetch_sources.sh).
One shim, as in the golden set: `jax.numpy.DeviceArray = jax.Array` (removed from JAX; the
code uses it only as a type annotation).

    pip install jax flax safetensors numpy
    python scripts/reference/s5_cases.py [--out DIR]
"""

import argparse
import json
import sys
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from jax.scipy.linalg import block_diag
from safetensors.numpy import save_file

jax.config.update("jax_enable_x64", True)
jnp.DeviceArray = jax.Array

ROOT = Path(__file__).resolve().parents[2]
S5_SRC = ROOT / "target" / "ref-src" / "S5"
DEFAULT_OUT = ROOT / "crates" / "statespace" / "tests" / "reference"
COMMIT = "3c18fdb6b06414da35e77b94b9cd855f6a95ef17"

SSM_BASE = dict(H=8, ssm_size_base=8, blocks=2, L=29, batch=2, discretization="zoh",
                C_init="lecun_normal", conj_sym=True, clip_eigs=False, bidirectional=False,
                step_rescale=1.0, dt_min=0.001, dt_max=0.1)
LAYER_BASE = dict(SSM_BASE, activation="half_glu1", prenorm=True, batchnorm=False, dropout=0.0,
                  training=False, bn_momentum=0.9)
CASES = {
    # name: (kind, seed, overrides)
    "ssm_bidir_bilinear_clip": ("ssm", 51, dict(bidirectional=True, discretization="bilinear",
                                                clip_eigs=True)),
    "ssm_complex_bidir_nosym": ("ssm", 52, dict(C_init="complex_normal", bidirectional=True,
                                                conj_sym=False, ssm_size_base=6, blocks=1, L=17,
                                                H=5)),
    "ssm_trunc_nosym": ("ssm", 53, dict(C_init="trunc_standard_normal", conj_sym=False,
                                        ssm_size_base=6, blocks=3, L=1, step_rescale=0.25)),
    "layer_batchnorm_postnorm_fullglu": ("layer", 54, dict(activation="full_glu", prenorm=False,
                                                           batchnorm=True, step_rescale=2.0,
                                                           L=31)),
    "layer_bidir_halfglu2": ("layer", 55, dict(activation="half_glu2", bidirectional=True,
                                               clip_eigs=True, L=23, H=12, ssm_size_base=12,
                                               blocks=3)),
    "layer_gelu_bilinear_postnorm": ("layer", 56, dict(activation="gelu", prenorm=False,
                                                       discretization="bilinear",
                                                       C_init="complex_normal", L=19)),
}


def load_s5():
    sys.path.insert(0, str(S5_SRC))
    from s5 import layers, ssm, ssm_init  # noqa: E402  (namespace package of the three files)
    return layers, ssm, ssm_init


def ssm_factory(s5, cfg):
    """The SSM partial exactly as s5/train.py builds it (blocks of the diagonalised LegS)."""
    _, ssm, ssm_init = s5
    block_size = cfg["ssm_size_base"] // cfg["blocks"]
    Lambda, _, _, V, _ = ssm_init.make_DPLR_HiPPO(block_size)
    if cfg["conj_sym"]:
        block_size //= 2
        P = cfg["ssm_size_base"] // 2
    else:
        P = cfg["ssm_size_base"]
    Lambda = Lambda[:block_size]
    V = V[:, :block_size]
    Vc = V.conj().T
    Lambda = (Lambda * jnp.ones((cfg["blocks"], block_size))).ravel()
    V = block_diag(*([V] * cfg["blocks"]))
    Vinv = block_diag(*([Vc] * cfg["blocks"]))
    factory = ssm.init_S5SSM(H=cfg["H"], P=P, Lambda_re_init=Lambda.real,
                             Lambda_im_init=Lambda.imag, V=V, Vinv=Vinv, C_init=cfg["C_init"],
                             discretization=cfg["discretization"], dt_min=cfg["dt_min"],
                             dt_max=cfg["dt_max"], conj_sym=cfg["conj_sym"],
                             clip_eigs=cfg["clip_eigs"], bidirectional=cfg["bidirectional"])
    return factory, Lambda, P


def flatten(tree, prefix=""):
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def unflatten(flat):
    tree = {}
    for name, value in flat.items():
        node = tree
        *path, leaf = name.split(".")
        for key in path:
            node = node.setdefault(key, {})
        node[leaf] = value
    return tree


def perturb(flat, rng, clip_eigs):
    """The golden set's perturbation of the official init, so that no value sits at its init."""
    out = {}
    for name, value in flat.items():
        value = np.asarray(value, dtype=np.float64)
        leaf = name.split(".")[-1]
        if leaf == "Lambda_re":
            value = value * np.exp(0.4 * rng.standard_normal(value.shape))
            if clip_eigs:
                k = max(1, value.size // 4)
                value[:k] = rng.uniform(0.05, 0.3, k)
        elif leaf == "Lambda_im":
            value = value + 0.3 * rng.standard_normal(value.shape)
        elif name.endswith("norm.scale"):
            value = 1.0 + 0.3 * rng.standard_normal(value.shape)
        elif name.endswith("norm.mean"):
            value = 0.3 * rng.standard_normal(value.shape)
        elif name.endswith("norm.var"):
            value = rng.uniform(0.3, 2.0, value.shape)
        elif leaf == "bias":
            value = 0.2 * rng.standard_normal(value.shape)
        out[name] = value
    return out


def make_case(s5, name, kind, seed, overrides):
    layers, _, _ = s5
    cfg = dict(SSM_BASE if kind == "ssm" else LAYER_BASE, **overrides)
    factory, Lambda, P = ssm_factory(s5, cfg)
    rng = np.random.default_rng(seed)
    batch, L, H = cfg["batch"], cfg["L"], cfg["H"]
    u = rng.standard_normal((batch, L, H))
    grad_out = rng.standard_normal((batch, L, H))
    key = jax.random.PRNGKey(seed)
    if kind == "ssm":
        module = factory(step_rescale=cfg["step_rescale"])
        variables = module.init(key, u[0])
        apply_one = module.apply
    else:
        module = nn.vmap(layers.SequenceLayer, in_axes=0, out_axes=0,
                         variable_axes={"params": None, "dropout": None, "batch_stats": None,
                                        "cache": 0, "prime": None},
                         split_rngs={"params": False, "dropout": True}, axis_name="batch")(
            ssm=factory, dropout=0.0, d_model=H, activation=cfg["activation"], training=False,
            prenorm=cfg["prenorm"], batchnorm=cfg["batchnorm"], bn_momentum=cfg["bn_momentum"],
            step_rescale=cfg["step_rescale"])
        variables = module.init({"params": key, "dropout": key}, u)
        apply_one = None
    variables = jax.tree_util.tree_map(lambda x: x, dict(variables))
    flat_params = perturb(flatten(dict(variables["params"])), rng, cfg["clip_eigs"])
    flat_stats = perturb(flatten({"norm": dict(variables["batch_stats"]["norm"])}, "")
                         if "batch_stats" in variables else {}, rng, False)

    def run(params, x):
        tree = {"params": unflatten(params)}
        if flat_stats:
            tree["batch_stats"] = unflatten(flat_stats)
        if kind == "ssm":
            return jax.vmap(lambda seq: apply_one(tree, seq))(x)
        return module.apply(tree, x)

    def loss(params, x):
        return jnp.sum(run(params, x) * grad_out)

    params = {k: jnp.asarray(v) for k, v in flat_params.items()}
    output = run(params, jnp.asarray(u))
    g_params, g_input = jax.grad(loss, argnums=(0, 1))(params, jnp.asarray(u))

    tensors = {"input": u, "grad_out": grad_out, "output": np.asarray(output),
               "grad_input": np.asarray(g_input),
               "init.Lambda_re": np.asarray(Lambda.real), "init.Lambda_im": np.asarray(Lambda.imag)}
    for n, v in flat_params.items():
        tensors[n] = v
        tensors[f"grad_{n}"] = np.asarray(g_params[n])
    for n, v in flat_stats.items():
        tensors[f"batch_stats.{n}"] = v
    if kind == "ssm":
        bound = module.bind({"params": unflatten(params)})
        lam, b_bar = bound.Lambda_bar, bound.B_bar
        tensors["debug.Lambda_bar"] = np.stack([np.real(lam), np.imag(lam)], -1)
        tensors["debug.B_bar"] = np.stack([np.real(b_bar), np.imag(b_bar)], -1)
    else:
        seq = layers.SequenceLayer  # the SSM's output inside the layer: prenorm, then seq
        inner = nn.vmap(_SeqOutput, in_axes=0, out_axes=0,
                        variable_axes={"params": None, "batch_stats": None},
                        split_rngs={"params": False}, axis_name="batch")(layer=partial(
                            seq, ssm=factory, dropout=0.0, d_model=H,
                            activation=cfg["activation"], training=False,
                            prenorm=cfg["prenorm"], batchnorm=cfg["batchnorm"],
                            bn_momentum=cfg["bn_momentum"], step_rescale=cfg["step_rescale"]))
        tree = {"params": {"layer": unflatten(params)}}
        if flat_stats:
            tree["batch_stats"] = {"layer": unflatten(flat_stats)}
        tensors["debug.seq_output"] = np.asarray(inner.apply(tree, jnp.asarray(u)))
    tensors = {k: np.ascontiguousarray(np.asarray(v, dtype=np.float64)) for k, v in tensors.items()}
    config = dict(cfg, P=P, block_size_stored=cfg["ssm_size_base"] // cfg["blocks"]
                  // (2 if cfg["conj_sym"] else 1))
    entry = {
        "op": ("S5 SSM layer alone: lindermanlab/S5 S5SSM, vmapped over the batch" if kind == "ssm"
               else "S5 SequenceLayer (eval mode), flax nn.vmap over the batch as the official "
                    "BatchClassificationModel"),
        "reference": f"github.com/lindermanlab/S5 @ {COMMIT}",
        "made_by": "scripts/reference/s5_cases.py (semantics as the golden s5_ssm_*/s5_layer_*)",
        "config": config,
        "dtype": "float64",
        "params": sorted(flat_params),
        "tensors": {k: list(v.shape) for k, v in sorted(tensors.items())},
        "versions": {"jax": jax.__version__},
    }
    return tensors, entry


class _SeqOutput(nn.Module):
    """A SequenceLayer whose call returns its SSM's output (after the prenorm, before the gate)."""
    layer: object

    @nn.compact
    def __call__(self, x):
        layer = self.layer(name="layer")
        layer(x)  # binds the submodules
        return layer.seq(layer.norm(x) if layer.prenorm else x)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    s5 = load_s5()
    manifest_path = args.out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    for name, (kind, seed, overrides) in CASES.items():
        tensors, entry = make_case(s5, name, kind, seed, overrides)
        save_file(tensors, str(args.out / f"s5_{name}.safetensors"))
        manifest[f"s5_{name}"] = entry
        print(f"s5_{name}: {len(tensors)} tensors")
    manifest_path.write_text(json.dumps(dict(sorted(manifest.items())), indent=1) + "\n")


if __name__ == "__main__":
    main()
