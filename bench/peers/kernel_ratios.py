"""Sets `ssm bench kernels --device cuda` beside ../shared/peers/bench_peers.py.

Usage: python3 kernel_ratios.py ours.jsonl peers.jsonl
Both files come from one device command (same machine, same run). Prints a
Markdown table: our time, the peer's, the speed-up (peer time / ours), and
the fraction of the device-to-device copy bandwidth (bench_peers' d2d_copy
line) that the selective-scan forward reaches on its minimum traffic.
"""
import json
import sys


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.startswith("{")]


ours, peers = load(sys.argv[1]), load(sys.argv[2])
copy = next((p["GBps"] for p in peers if p["what"] == "d2d_copy"), None)


def find(kind, **shape):
    for p in peers:
        if p["what"].endswith(kind) and all(p.get(k) == v for k, v in shape.items()):
            return p
    return None


print("| kernel | shape | dtype | ours ms | peer ms | peer ÷ ours |")
print("|---|---|---|---|---|---|")
for o in ours:
    what = o["what"].split(".", 1)[1]
    if what == "selective_scan":
        shape = {k: o[k] for k in ("batch", "dim", "L", "dstate", "dtype")}
        p = find("selective_scan", **shape)
        label = f"({o['batch']}, {o['dim']}, {o['L']}), N {o['dstate']}"
        dtype = o["dtype"].replace("torch.", "")
        for part in ("fwd", "bwd"):
            ratio = p[f"{part}_ms"] / o[f"{part}_ms"] if p else float("nan")
            peer = f"{p[f'{part}_ms']:.3f}" if p else "—"
            print(f"| selective scan {part} | {label} | {dtype} | {o[f'{part}_ms']:.3f} | {peer} | {ratio:.2f}× |")
        if copy:
            print(f"| selective scan fwd, share of copy bandwidth | {label} | {dtype} | "
                  f"{o['fwd_GBps_min_traffic']:.0f} GB/s | {p['fwd_GBps_min_traffic']:.0f} GB/s | "
                  f"ours {o['fwd_GBps_min_traffic'] / copy:.1%}, peer {p['fwd_GBps_min_traffic'] / copy:.1%} of {copy:.0f} GB/s |")
    elif what == "ssd":
        p = find("ssd_triton", batch=o["batch"], L=o["L"])
        label = f"b {o['batch']}, L {o['L']}, {o['heads']}×{o['headdim']}, N {o['dstate']}"
        for part in ("fwd", "fwd_bwd"):
            ratio = p[f"{part}_ms"] / o[f"{part}_ms"] if p else float("nan")
            peer = f"{p[f'{part}_ms']:.3f}" if p else "—"
            print(f"| SSD {part.replace('_', '+')} | {label} | bf16 | {o[f'{part}_ms']:.3f} | {peer} | {ratio:.2f}× |")
    elif what == "fftconv":
        p = find("fftconv", batch=o["batch"], H=o["H"], L=o["L"])
        label = f"({o['batch']}, {o['H']}, {o['L']})"
        for part in ("fwd", "fwd_bwd"):
            ratio = p[f"{part}_ms"] / o[f"{part}_ms"] if p else float("nan")
            peer = f"{p[f'{part}_ms']:.3f}" if p else "—"
            print(f"| FFT conv {part.replace('_', '+')} | {label} | f32 | {o[f'{part}_ms']:.3f} | {peer} | {ratio:.2f}× |")
