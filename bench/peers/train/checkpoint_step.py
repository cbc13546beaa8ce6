#!/usr/bin/env python3
"""Prints the step of a run folder's last checkpoint (the `step` entry of
checkpoints/last.safetensors' metadata), or `?` without one. With
`ssm train --stop-at` a run can stop between the evaluations its
metrics.csv lists, so the checkpoint is where a resume starts.

    checkpoint_step.py RUN_DIR
"""
import json
import struct
import sys

try:
    with open(sys.argv[1] + "/checkpoints/last.safetensors", "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        print(json.loads(f.read(size)).get("__metadata__", {}).get("step", "?"))
except (OSError, ValueError, struct.error):
    print("?")
