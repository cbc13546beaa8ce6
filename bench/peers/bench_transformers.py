#!/usr/bin/env python3
"""Peer benchmark: Hugging Face transformers (PyTorch CPU, pure-torch "slow" path).

Batch 1, float32, torch.no_grad, random weights saved by make_models.py.

prefill: one forward over --prompt tokens (use_cache=True, logits_to_keep=1, i.e. what
         generate() does for its first step); --reps timed reps after one warm-up, median.
decode:  model.generate(greedy, use_cache=True, min_new_tokens=max_new_tokens=--decode)
         after a --decode-prompt token prompt. A streamer stamps the time each new token is
         handed out; decode tok/s = (decode-1) / (t[last] - t[first]), so the prefill (which
         yields the first new token) is excluded. Median over --decode-reps runs after a
         short warm-up generate.

Prints one JSON line per model.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch
import transformers
from transformers import AutoModelForCausalLM

ROOT = os.path.dirname(os.path.abspath(__file__))
MODELS = {
    "mamba-130m": os.path.join(ROOT, "models", "hf-mamba-130m"),
    "mamba2-130m": os.path.join(ROOT, "models", "hf-mamba2-130m"),
}


class TimingStreamer:
    """generate() calls put(prompt) once, then put(token) per new token, then end()."""

    def __init__(self):
        self.stamps = []
        self.seen_prompt = False

    def put(self, value):
        if not self.seen_prompt:
            self.seen_prompt = True
            return
        self.stamps.append(time.perf_counter())

    def end(self):
        pass


def bench_prefill(model, ids, reps):
    times = []
    for i in range(reps + 1):
        t0 = time.perf_counter()
        out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
        _ = out.logits[0, -1].argmax().item()
        dt = time.perf_counter() - t0
        if i > 0:  # first is warm-up
            times.append(dt)
    return statistics.median(times), times


def run_generate(model, ids, n_new):
    streamer = TimingStreamer()
    t0 = time.perf_counter()
    out = model.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=n_new,
        min_new_tokens=n_new,
        do_sample=False,
        use_cache=True,
        streamer=streamer,
        pad_token_id=0,
        eos_token_id=None,
    )
    total = time.perf_counter() - t0
    n_gen = out.shape[1] - ids.shape[1]
    assert n_gen == n_new, (n_gen, n_new)
    s = streamer.stamps
    assert len(s) == n_new, (len(s), n_new)
    first_token_latency = s[0] - t0
    decode_time = s[-1] - s[0]
    return (n_new - 1) / decode_time, first_token_latency, total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="both", help="mamba-130m | mamba2-130m | both")
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--decode", type=int, default=128)
    ap.add_argument("--decode-prompt", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--decode-reps", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    names = list(MODELS) if args.model == "both" else [args.model]
    for name in names:
        model = AutoModelForCausalLM.from_pretrained(MODELS[name], dtype=torch.float32).eval()
        g = torch.Generator().manual_seed(1234)
        prompt = torch.randint(0, 50000, (1, args.prompt), generator=g)
        short = torch.randint(0, 50000, (1, args.decode_prompt), generator=g)
        with torch.no_grad():
            pre_med, pre_all = bench_prefill(model, prompt, args.reps)
            run_generate(model, short, min(8, args.decode))  # warm-up
            runs = [run_generate(model, short, args.decode) for _ in range(args.decode_reps)]
        dec = statistics.median(r[0] for r in runs)
        print(json.dumps({
            "peer": "transformers",
            "model": name,
            "batch": 1,
            "dtype": "float32",
            "prompt": args.prompt,
            "prefill_tok_s": round(args.prompt / pre_med, 1),
            "prefill_s_all": [round(t, 4) for t in pre_all],
            "decode_prompt": args.decode_prompt,
            "decode_tokens": args.decode,
            "decode_tok_s": round(dec, 2),
            "decode_tok_s_all": [round(r[0], 2) for r in runs],
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "python": platform.python_version(),
        }), flush=True)
        del model


if __name__ == "__main__":
    sys.exit(main())
