"""python benchmarks/bench_threads.py [--steps 8] [--hidden 576] [--layers 6] [--seq 256] [--out CSV]: a LoRA
step beside a competing CPU load, under ava's thread policy against torch's default, in the same run.

Each (policy, load) cell runs in a fresh Python process, because the OpenMP wait policy is read when torch
loads its OpenMP runtime: ``default`` leaves the environment as a plain ``import torch`` finds it (threads =
every core, OpenMP's spinning wait); ``ava`` calls ``ava.runtime.apply_thread_policy("auto", "passive")``, as
``python -m ava.train`` does before importing torch. ``hog`` starts one busy-looping process per ``--hogs``
beside the step (a second job on the node); ``quiet`` none. The step is forward + backward + AdamW on a
random Llama (``ava.models.tiny.build_tiny``, SmolLM2-135M's width by default) with PEFT LoRA r=16 on every
linear layer, batch 2. The cells are interleaved (quiet/hog for one policy, then the other, twice) and the
median step of each cell is reported; rows go to benchmarks/results/threads.csv with the machine and the
load average before the run (the machine may be shared: read the ``load1`` column).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from machine import append_csv, describe  # this script's folder is on sys.path

RESULTS = Path(__file__).parent / "results" / "threads.csv"
HOG = "while True: pass"


def child(policy: str, steps: int, hidden: int, layers: int, seq: int) -> None:
    """One cell: set the policy, import torch, time ``steps`` LoRA steps after two warm-up steps."""
    if policy == "ava":
        from ava.runtime import apply_thread_policy

        apply_thread_policy("auto", "passive")
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from ava.models.tiny import build_tiny

    torch.manual_seed(0)
    folder = build_tiny(hidden_size=hidden, num_layers=layers, num_heads=hidden // 64,
                        num_kv_heads=max(1, hidden // 192), intermediate_size=hidden * 8 // 3)
    model = AutoModelForCausalLM.from_pretrained(folder)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules=targets, task_type="CAUSAL_LM"))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(0, model.config.vocab_size, (2, seq))
    times = []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    print(json.dumps({"threads": torch.get_num_threads(), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY",
                      "unset"), "times": times}))


def cell(policy: str, hogs: int, args: argparse.Namespace) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS"}}
    procs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(hogs)]
    try:
        out = subprocess.run([sys.executable, __file__, "--child", policy, "--steps", str(args.steps),
                              "--hidden", str(args.hidden), "--layers", str(args.layers), "--seq", str(args.seq)],
                             env=env, capture_output=True, text=True, check=True)
    finally:
        for p in procs:
            p.kill()
            p.wait()
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--child", choices=["default", "ava"])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=576)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--hogs", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.steps, args.hidden, args.layers, args.seq)
        return
    load1 = os.getloadavg()[0]
    times: dict[tuple[str, str], list[float]] = {}
    info: dict[str, dict] = {}
    for _ in range(args.rounds):
        for policy in ("default", "ava"):
            for load, hogs in (("quiet", 0), ("hog", args.hogs)):
                got = cell(policy, hogs, args)
                times.setdefault((policy, load), []).extend(got["times"])
                info[policy] = got
                print(f"{policy:8s} {load:6s} threads={got['threads']} median "
                      f"{statistics.median(got['times']):.3f} s", flush=True)
    rows = []
    for policy in ("default", "ava"):
        quiet, hog = statistics.median(times[(policy, "quiet")]), statistics.median(times[(policy, "hog")])
        rows.append({"utc": datetime.now(UTC).isoformat(timespec="seconds"), **describe("torch"),
                     "load1_before": round(load1, 2), "load1_after": round(os.getloadavg()[0], 2),
                     "policy": policy, "threads": info[policy]["threads"],
                     "omp_wait_policy": info[policy]["omp_wait_policy"], "hidden": args.hidden,
                     "layers": args.layers, "seq": args.seq, "hogs": args.hogs,
                     "steps_per_cell": args.steps * args.rounds, "quiet_s": round(quiet, 3),
                     "hog_s": round(hog, 3), "hog_over_quiet": round(hog / quiet, 2)})
        print(f"{policy}: quiet {quiet:.3f} s, beside {args.hogs} hog(s) {hog:.3f} s: {hog / quiet:.2f}x")
    append_csv(args.out, rows)


if __name__ == "__main__":
    main()
