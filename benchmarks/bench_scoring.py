"""python benchmarks/bench_scoring.py [--n 256] [--batch-sizes 1 8 32] [--hidden H] [--layers L] [--out CSV]: speed.

Times ``ava.evaluate.scoring.letter_distributions`` (left-padded batches, last-position logits only) on
OpinionQA-shaped prompts of mixed lengths against the unbatched baseline (batch size 1) in the same run, on a
random Llama built locally by ``ava.models.tiny.build_tiny`` (CPU, or CUDA when present). Prints prompts/s,
the speed-up over the baseline, and the largest difference between batched and baseline distributions (the
batching must not change the answers). Rows are appended to benchmarks/results/scoring.csv.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from machine import append_csv, describe  # this script's folder is on sys.path

RESULTS = Path(__file__).parent / "results" / "scoring.csv"
WORDS = "people opinion government work family money health news region survey policy future".split()


def prompts(n: int, seed: int = 0) -> list:
    from ava.evaluate.suites.base import LETTERS, Request

    rng = random.Random(seed)
    out = []
    for i in range(n):
        k = rng.randint(2, 6)
        q = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 60)))
        opts = "\n".join(f"{LETTERS[j]}. {' '.join(rng.choice(WORDS) for _ in range(3))}" for j in range(k))
        out.append(Request(str(i), None, None, f"Question: {q}?\n{opts}\nAnswer:", tuple(LETTERS[:k])))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ava.evaluate.scoring import letter_distributions
    from ava.models.tiny import build_tiny
    from ava.runtime import pick_device

    device = pick_device("auto")
    with tempfile.TemporaryDirectory() as tmp:
        path = build_tiny(Path(tmp) / "m", hidden_size=args.hidden, num_layers=args.layers,
                          intermediate_size=4 * args.hidden)
        tok = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).to(device)
    reqs = prompts(args.n)
    sizes = sorted(set(args.batch_sizes) | {1})
    letter_distributions(model, tok, reqs[:4], batch_size=4, chat_template=False)  # warm-up
    runs = {}
    for bs in sizes:
        t0 = time.perf_counter()
        dists, _ = letter_distributions(model, tok, reqs, batch_size=bs, chat_template=False)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        runs[bs] = (time.perf_counter() - t0, dists)
    base_s, base = runs[1]
    machine = describe()
    print(f"machine {machine}  device {device}")
    when = datetime.now(UTC).isoformat(timespec="seconds")
    rows = []
    for bs, (s, d) in runs.items():
        diff = max(float(np.max(np.abs(d[k] - base[k]))) for k in base)
        print(f"batch {bs:>3}: {s:7.2f} s  {args.n / s:8.1f} prompts/s  x{base_s / s:5.2f} vs batch 1  "
              f"max |diff| {diff:.2e}")
        rows.append({"utc": when, **machine, "device": device, "hidden": args.hidden, "layers": args.layers,
                     "n_prompts": args.n, "batch_size": bs, "seconds": f"{s:.3f}", "prompts_per_s": f"{args.n / s:.1f}",
                     "speedup_vs_bs1": f"{base_s / s:.2f}", "max_abs_diff_vs_bs1": f"{diff:.2e}"})
    append_csv(args.out, rows)


if __name__ == "__main__":
    main()
