#!/usr/bin/env python3
"""Summarises a flamegraph SVG written by `ssm bench train-lm --host-profile` or `ssm train --host-profile`
(pprof-rs, drawn by inferno): the samples per thread (the frames under the root), then
the frames with the most samples inclusive (a recursive frame counted once
per stack) and the most samples of their own (not in a callee), with their
share of all samples.

    python3 host_frames.py host_bf16.svg [--top N]
"""

import argparse
import bisect
import html
import re
from collections import defaultdict

FRAME = re.compile(
    r'<title>(?P<name>.*?) \([\d,]+ samples?, [\d.]+%\)</title>'
    r'<rect [^>]*?y="(?P<y>[\d.]+)"[^>]*?fg:x="(?P<x>\d+)" fg:w="(?P<w>\d+)"'
)


def frames(svg):
    """(name, depth, x, w) per frame; depth 0 at the root (largest y)."""
    raw = [(html.unescape(m['name']), float(m['y']), int(m['x']), int(m['w']))
           for m in FRAME.finditer(svg)]
    ys = sorted({y for _, y, _, _ in raw}, reverse=True)
    depth = {y: i for i, y in enumerate(ys)}
    return [(name, depth[y], x, w) for name, y, x, w in raw]


def parents(items):
    """Index of each frame's parent (the frame one level up whose samples
    contain its own), or None at the root."""
    by_depth = defaultdict(list)
    for i, (_, d, x, _) in enumerate(items):
        by_depth[d].append((x, i))
    for d in by_depth:
        by_depth[d].sort()
    out = []
    for _, d, x, _ in items:
        level = by_depth.get(d - 1)
        if not level:
            out.append(None)
            continue
        k = bisect.bisect_right(level, (x, float('inf'))) - 1
        out.append(level[k][1] if k >= 0 else None)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('svg')
    ap.add_argument('--top', type=int, default=25)
    args = ap.parse_args()
    items = frames(open(args.svg, encoding='utf-8').read())
    if not items:
        raise SystemExit(f'{args.svg}: no frames found')
    up = parents(items)
    roots = [i for i, p in enumerate(up) if p is None]
    total = sum(items[i][3] for i in roots)
    print(f'{args.svg}: {total} samples, {len(items)} frames')
    # inferno draws one root, "all", over pprof's per-thread frames.
    threads = roots
    if len(roots) == 1 and items[roots[0]][0] == 'all':
        threads = [i for i, p in enumerate(up) if p == roots[0]]
    print('threads:')
    for i in sorted(threads, key=lambda i: -items[i][3]):
        print(f'  {100 * items[i][3] / total:6.2f} %  {items[i][0]}')
    inclusive = defaultdict(int)
    own = defaultdict(int)
    for i, (name, _, _, w) in enumerate(items):
        own[name] += w
        p, nested = up[i], False
        while p is not None:
            if items[p][0] == name:
                nested = True
                break
            p = up[p]
        if not nested:
            inclusive[name] += w
        if up[i] is not None:
            own[items[up[i]][0]] -= w
    print(f'top {args.top} frames, inclusive:')
    for name, w in sorted(inclusive.items(), key=lambda kv: -kv[1])[:args.top]:
        print(f'  {100 * w / total:6.2f} %  {name[:160]}')
    print(f'top {args.top} frames, own samples:')
    for name, w in sorted(own.items(), key=lambda kv: -kv[1])[:args.top]:
        print(f'  {100 * w / total:6.2f} %  {name[:160]}')


if __name__ == '__main__':
    main()
