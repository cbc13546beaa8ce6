#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora into fuzz/corpus/<target>/ (ignored by
git): small valid inputs of each format, from the repository and from the
golden folder ($SSM_GOLDEN_DIR, default ../shared/golden), plus hand-built
minimal files. Python standard library only."""

import gzip, io, json, os, struct, zipfile
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
ROOT = FUZZ.parent
GOLDEN = Path(os.environ.get("SSM_GOLDEN_DIR", ROOT.parent / "shared" / "golden"))


def put(target, name, data):
    d = FUZZ / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors):
    header, blob = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + blob


def pickle_state_dict(n):
    s = lambda t: b"X" + struct.pack("<I", len(t)) + t.encode()
    i = lambda v: b"J" + struct.pack("<i", v)
    p = b"\x80\x02}q\x00(" + s("w") + b"ctorch._utils\n_rebuild_tensor_v2\nq\x01((" + s("storage")
    p += b"ctorch\nFloatStorage\nq\x02" + s("0") + s("cpu") + i(n) + b"tq\x03Q" + i(0)
    p += b"(" + i(n) + b"t(" + i(1) + b"t\x89ccollections\nOrderedDict\n)RtRu."
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", p)
        z.writestr("archive/data/0", struct.pack(f"<{n}f", *range(n)))
    return buf.getvalue()


put("safetensors_loader", "f32", safetensors({"a": ("F32", [2, 3], struct.pack("<6f", *range(6))),
                                               "b": ("I64", [], struct.pack("<q", 7))}))
put("safetensors_loader", "bf16", safetensors({"x": ("BF16", [4], b"\x80\x3f" * 4)}))
put("torch_pickle", "tiny", pickle_state_dict(4))
for folder in ["hf_mamba", "hf_mamba2", "native_mamba", "native_mamba2"]:
    cfg = GOLDEN / folder / "config.json"
    if cfg.is_file():
        put("checkpoint_config", folder, cfg.read_bytes())
for toml in sorted((ROOT / "configs").glob("*.toml")):
    put("train_config", toml.stem, toml.read_bytes())
put("set_overrides", "one", "model.d_model=32")
put("set_overrides", "several", "schedule.steps=5\x01task.kind=\"mqar\"\x01optim.grad_clip=1.0")
put("prompt", "bytes", "The state space")
put("prompt", "wordlevel", json.dumps({
    "version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
    "pre_tokenizer": {"type": "Whitespace"}, "post_processor": None, "decoder": None,
    "model": {"type": "WordLevel", "vocab": {"state": 0, "space": 1, "[UNK]": 2}, "unk_token": "[UNK]"},
}) + "\x00state space model")
put("hippo_csv", "plain", "\n".join(str(0.1 * k) for k in range(40)))
put("hippo_csv", "header", "t,value\n" + "\n".join(f"{k},{(k % 7) - 3}" for k in range(30)))
rows = "\n".join(",".join(["3"] * 64 + [str(k % 10)]) for k in range(600))
put("digits_reader", "rows.csv", rows)
put("digits_reader", "rows.csv.gz", gzip.compress(rows.encode()))
print("seeds written to", FUZZ / "corpus")
