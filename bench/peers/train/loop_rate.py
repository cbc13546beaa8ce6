"""Steps/s and GPU utilisation of one `ssm train` log.

    python3 loop_rate.py LOG UTIL_CSV LABEL START_EPOCH_S

LOG holds the run's evaluation lines (`step N  val ... (T s, ...)`), UTIL_CSV
nvidia-smi samples `timestamp, utilization.gpu, memory.used` (no header, no
units), START_EPOCH_S the `date +%s` at which the run started. Prints one JSON
line: steps/s between the first and the last evaluation, and the mean GPU
utilisation after the first evaluation (start-up and kernel compilation left
out); the rate includes the evaluations in between.
"""
import datetime
import json
import re
import sys

log, util, label, start = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
evals = [(int(m.group(1)), float(m.group(2))) for m in
         re.finditer(r"step\s+(\d+)\s+val .*?\((\d+) s", open(log).read())]
if len(evals) < 2:
    print(json.dumps({"label": label, "error": "fewer than two evaluations", "evals": len(evals)}))
    sys.exit()
(s0, t0), (s1, t1) = evals[0], evals[-1]
first_eval = start + t0
samples = []
for line in open(util):
    parts = [p.strip() for p in line.split(",")]
    try:
        t = datetime.datetime.strptime(parts[0], "%Y/%m/%d %H:%M:%S.%f").timestamp()
    except (ValueError, IndexError):
        continue
    samples.append((t, float(parts[1]), float(parts[2])))
# nvidia-smi prints local time; the machine runs in UTC like `date +%s`.
after = [u for t, u, _ in samples if t >= first_eval]
print(json.dumps({
    "label": label,
    "steps": s1,
    "steps_per_s": round((s1 - s0) / max(t1 - t0, 1e-9), 2),
    "interval": [s0, s1],
    "gpu_util_mean": round(sum(after) / len(after), 1) if after else None,
    "util_samples": len(after),
    "mem_used_mib_max": max((m for _, _, m in samples), default=0),
}))
