#!/usr/bin/env python3
"""Kernel time per kernel name from an Nsight Compute CSV log
(`ncu --metrics gpu__time_duration.sum --csv --log-file F`), over launches FIRST..LAST.

usage: ncu_summary.py LOG [FIRST [LAST]] [--top N]
Prints the launch count, total GPU time, and the top kernels by time (with grid size,
and registers per thread where the log has `launch__registers_per_thread`).
"""
import csv
import sys
from collections import defaultdict


def rows(path):
    with open(path) as f:
        lines = [l for l in f if l.startswith('"')]
    return list(csv.DictReader(lines))


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    top = 25
    if "--top" in sys.argv:
        top = int(sys.argv[sys.argv.index("--top") + 1])
        args.remove(str(top))
    path = args[0]
    first = int(args[1]) if len(args) > 1 else 0
    last = int(args[2]) if len(args) > 2 else 1 << 60
    per = defaultdict(lambda: [0.0, 0])
    registers = {}
    total, launches = 0.0, 0
    for r in rows(path):
        i = int(r["ID"])
        if i < first or i > last:
            continue
        key = f'{r["Kernel Name"][:60]} {r["Grid Size"]}'
        if r["Metric Name"] == "launch__registers_per_thread":
            registers[key] = r["Metric Value"]
        if r["Metric Name"] != "gpu__time_duration.sum":
            continue
        scale = {"ns": 1e-6, "nsecond": 1e-6, "us": 1e-3, "usecond": 1e-3, "ms": 1.0, "msecond": 1.0}[r["Metric Unit"]]
        ms = float(r["Metric Value"].replace(",", "")) * scale
        per[key][0] += ms
        per[key][1] += 1
        total += ms
        launches += 1
    print(f"launches {first}..{min(last, first + launches - 1)}: {launches}, GPU time {total:.2f} ms")
    for key, (ms, n) in sorted(per.items(), key=lambda kv: -kv[1][0])[:top]:
        regs = f"  {registers[key]} registers" if key in registers else ""
        print(f"{ms:9.2f} ms {n:6d}  {key}{regs}")


if __name__ == "__main__":
    main()
