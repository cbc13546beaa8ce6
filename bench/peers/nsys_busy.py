#!/usr/bin/env python3
"""How busy the GPU was during the last steps of a run profiled by Nsight
Systems (`nsys profile --trace=cuda --export=sqlite`): whether a training
step is bound by the GPU or by the host's launches.

usage: nsys_busy.py PROFILE.sqlite STEP_MS [STEPS]

The window is the last STEPS (default 3) steps of STEP_MS milliseconds each,
ending at the last kernel's end. Prints one JSON line: the window, the
kernels in it (launches per step), the time at least one kernel ran (busy,
the union of their intervals), the idle time in gaps longer than 20 µs, and
the host's time inside CUDA launch calls in the same window.
"""
import json
import sqlite3
import sys


def main():
    path, step_ms = sys.argv[1], float(sys.argv[2])
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    db = sqlite3.connect(path)
    kernels = db.execute(
        "SELECT start, end FROM CUPTI_ACTIVITY_KIND_KERNEL ORDER BY start"
    ).fetchall()
    if not kernels:
        print(json.dumps({"what": "nsys_busy", "error": "no kernels in the profile"}))
        return
    window_end = max(end for _, end in kernels)
    window_start = window_end - steps * step_ms * 1e6
    busy, gaps, count = 0, 0, 0
    cursor = window_start
    for start, end in kernels:
        if end <= window_start:
            continue
        count += 1
        start = max(start, window_start)
        if start > cursor:
            if start - cursor > 20_000:
                gaps += start - cursor
            cursor = start
        if end > cursor:
            busy += end - cursor
            cursor = end
    launch_ns = 0
    try:
        names = dict(db.execute("SELECT id, value FROM StringIds").fetchall())
        for start, end, name in db.execute(
            "SELECT start, end, nameId FROM CUPTI_ACTIVITY_KIND_RUNTIME WHERE end > ?",
            (window_start,),
        ):
            if "LaunchKernel" in names.get(name, ""):
                launch_ns += end - max(start, window_start)
    except sqlite3.Error as e:
        launch_ns = None
        print(f"launch calls not read: {e}", file=sys.stderr)
    window = window_end - window_start
    print(json.dumps({
        "what": "nsys_busy",
        "steps": steps,
        "step_ms": step_ms,
        "kernels_per_step": round(count / steps),
        "busy_percent": round(100 * busy / window, 1),
        "idle_in_gaps_over_20us_ms_per_step": round(gaps / steps / 1e6, 2),
        "launch_call_ms_per_step": None if launch_ns is None else round(launch_ns / steps / 1e6, 2),
    }))


if __name__ == "__main__":
    main()
