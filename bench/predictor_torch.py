#!/usr/bin/env python3
"""Eager PyTorch reference for the predictor benchmark (bench/predictor_load.rs runs it in the
same invocation): the inference forward of LSTMDualHeadEnhanced (SPEC §4, hidden 128, the module
of bench/train_throughput.py with PyTorch's own parameter names and initialisation) in eval mode
under torch.no_grad(), followed by the softmax the service applies, at batch 1 and batch 64.

Threads as the service uses them: --threads N sets torch.set_num_threads(N) (intra-op) and one
inter-op thread. Inputs are N(0, 1) windows (standardised features of the production shape
60 x 21); speed does not depend on the values.

Usage: predictor_torch.py [--threads N] [--batches 1,64] [--seconds S] [--max-iters K] [--serve]
Prints one JSON line: {"torch": ..., "threads": N, "batches": {"1": {"p50_ms": .., "p99_ms": ..,
"mean_ms": .., "iters": ..}, "64": {...}}}. With --serve it stays up and answers each stdin line
"BATCH SECONDS [GAP_MS]" with one such JSON line for that batch size (GAP_MS: idle time between
passes, like a client's round trip) (the load benchmark measures the
reference next to each of its phases, so that a busy machine's changing load hits both alike).
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_throughput import LSTMDualHeadEnhanced  # noqa: E402  (the SPEC §4 module)


def pct(sorted_ms, p):
    i = round((len(sorted_ms) - 1) * p)
    return sorted_ms[min(i, len(sorted_ms) - 1)]


def time_batch(model, batch, seconds, max_iters, gap_ms=0.0):
    x = torch.randn(batch, 60, 21)
    with torch.no_grad():
        for _ in range(10):  # warm-up: allocator, oneDNN primitive cache
            torch.softmax(model(x)[0], dim=-1)
        out = []
        deadline = time.perf_counter() + seconds
        while len(out) < max_iters and time.perf_counter() < deadline:
            t = time.perf_counter()
            logits, mags = model(x)
            p = torch.softmax(logits, dim=-1)[:, 1]
            p.tolist()
            mags.tolist()
            out.append((time.perf_counter() - t) * 1e3)
            if gap_ms > 0:
                time.sleep(gap_ms / 1e3)
    out.sort()
    return {"p50_ms": pct(out, 0.5), "p99_ms": pct(out, 0.99), "mean_ms": sum(out) / len(out),
            "iters": len(out)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batches", default="1,64")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--max-iters", type=int, default=300)
    ap.add_argument("--serve", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    model = LSTMDualHeadEnhanced()
    model.eval()
    def report(batches):
        print(json.dumps({"impl": "pytorch-eager", "torch": torch.__version__,
                          "threads": a.threads, "batches": batches}), flush=True)

    if a.serve:
        for line in sys.stdin:
            b, seconds, gap_ms = (line.split() + ["0"])[:3]
            report({b: time_batch(model, int(b), float(seconds), a.max_iters, float(gap_ms))})
        return
    report({str(b): time_batch(model, b, a.seconds, a.max_iters)
            for b in (int(s) for s in a.batches.split(","))})


if __name__ == "__main__":
    main()
