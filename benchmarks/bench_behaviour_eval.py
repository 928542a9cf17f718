"""python benchmarks/bench_behaviour_eval.py --data DATASET_DIR [--model smollm2_135m] [--adapter DIR]
[--splits val train] [--repeats 2] [--out CSV]: behaviour-evaluation time per sample, and its scores, with
generation that stops against the full-budget baseline, in the same run.

The samples of ``--splits`` (a python -m ava.build_dataset output_dir; the bundled samples' has 10 val and 38
train samples) are answered the way ``python -m ava.evaluate benchmark=behaviour`` answers them, by two
generators on the same model, interleaved ``--repeats`` times:

- ``full_budget``: what evaluate did before issue #27, i.e. plain ``model.generate`` per batch up to the
  family's ``max_new_tokens`` cap (TAP/AS 32, TAG/TS/TC 128 in conf/evaluate.yaml), stopping only at the
  model's end token;
- ``ava``: ``ava.evaluate.behaviour.generate.generate_counted`` with evaluate's budgets (``answer_budgets``):
  a row stops at the chat template's end-of-turn token, a one-line answer at its first line break.

Both sets of answers are parsed and scored by evaluate's own code (``score_system``); the benchmark prints
each task's metrics for both and whether they are identical, and writes a row per generator and task family
(and for all families) to benchmarks/results/behaviour_eval.csv: seconds per sample (the fastest repeat),
generated tokens per sample (for ``full_budget`` the steps its batch ran), the ratio to the baseline, the
load average.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from machine import append_csv, describe  # this script's folder is on sys.path

RESULTS = Path(__file__).parent / "results" / "behaviour_eval.csv"
CONF = Path(__file__).resolve().parents[1] / "conf"


def full_budget(model: Any, tokenizer: Any, prompts: list[str], cap: int,
                batch_size: int) -> tuple[list[str], list[int]]:
    """The pre-#27 generator: left-padded greedy batches run to ``cap`` new tokens or the model's end token."""
    import torch

    from ava.evaluate.scoring import pad_batch

    encoded = [tokenizer.encode(p, add_special_tokens=False) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    eos = model.generation_config.eos_token_id
    stop = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in stop:
        stop.append(tokenizer.eos_token_id)
    texts, tokens = [""] * len(prompts), [0] * len(prompts)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            ids, mask = pad_batch([encoded[i] for i in rows], pad, left=True)
            gen = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=cap, do_sample=False,
                                 num_beams=1, pad_token_id=pad, eos_token_id=stop or None, temperature=None,
                                 top_p=None, top_k=None)
            for r, i in enumerate(rows):
                texts[i] = tokenizer.decode(gen[r, ids.shape[1]:], skip_special_tokens=True).strip()
                tokens[i] = gen.shape[1] - ids.shape[1]  # the batch ran this many steps for every row
    return texts, tokens


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, required=True, help="a python -m ava.build_dataset output_dir")
    ap.add_argument("--model", default="smollm2_135m")
    ap.add_argument("--adapter", default=None)
    ap.add_argument("--splits", nargs="+", default=["val", "train"])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    from ava.runtime import apply_thread_policy

    apply_thread_policy("auto")  # before torch loads: passive OpenMP workers, as python -m ava.evaluate sets them
    from hydra import compose, initialize_config_dir

    from ava import sample
    from ava.evaluate.behaviour.generate import generate_counted, prompt_text
    from ava.evaluate.behaviour.tasks import answer_budgets, read_split, region_lookup, score_system, select
    from ava.models.load import load_with_adapter

    with initialize_config_dir(str(CONF), version_base=None):
        cfg = compose("evaluate", [f"model={args.model}", "benchmark=behaviour", f"data={args.data}", "device=cpu"])
    samples = [s for split in args.splits for s in read_split(args.data / f"{split}.jsonl")]
    work = select(samples, None, None)
    model, tok = load_with_adapter(cfg.model, args.adapter, "cpu", require_chat_template=True)
    model.eval()
    budgets = answer_budgets(cfg.behaviour, select(read_split(args.data / "train.jsonl"), None, None), tok)
    caps = {fam: int(cap) for fam, cap in cfg.behaviour.max_new_tokens.items()}
    _, regions = region_lookup(cfg, samples)
    families: dict[str, list[dict]] = defaultdict(list)
    for task, ss in work.items():
        families[sample.family(task)].extend(ss)
    prompts = {fam: [prompt_text(tok, s["messages"]) for s in ss] for fam, ss in families.items()}
    bs = int(cfg.behaviour.batch_size)

    def run(method: str, fam: str) -> tuple[list[str], list[int]]:
        if method == "full_budget":
            return full_budget(model, tok, prompts[fam], caps[fam], bs)
        return generate_counted(model, tok, prompts[fam], budgets[fam], bs, desc=fam,
                                one_line=fam not in sample.GENERATIVE_FAMILIES)

    methods = ("full_budget", "ava")
    seconds: dict[tuple[str, str], list[float]] = defaultdict(list)
    got: dict[tuple[str, str], tuple[list[str], list[int]]] = {}
    for fam in families:
        run("ava", fam)  # warm-up (first-call allocations), not timed
    load1 = os.getloadavg()[0]
    for _ in range(args.repeats):  # interleaved per family, so a change in the machine's load hits both
        for fam in families:
            for method in methods:
                t0 = time.perf_counter()
                got[method, fam] = run(method, fam)
                seconds[method, fam].append(time.perf_counter() - t0)

    outputs = {m: {s["id"]: t for fam, ss in families.items() for s, t in zip(ss, got[m, fam][0], strict=True)}
               for m in methods}
    scores = {m: {task: score_system(task, ss, outputs[m], {}, regions)[0]["metrics"] for task, ss in work.items()}
              for m in methods}
    identical = scores["ava"] == scores["full_budget"]
    for task in work:
        same = "same" if scores["ava"][task] == scores["full_budget"][task] else "DIFFERENT"
        print(f"{task:6} {len(work[task]):3} samples  {same}  full_budget {scores['full_budget'][task]}  "
              f"ava {scores['ava'][task]}")
    when = datetime.now(UTC).isoformat(timespec="seconds")
    rows = []
    for fam in [*families, "all"]:
        fams = list(families) if fam == "all" else [fam]
        n = sum(len(families[f]) for f in fams)
        best = {m: sum(min(seconds[m, f]) for f in fams) for m in methods}  # fastest repeat of each family
        for method in methods:
            tokens = [k for f in fams for k in got[method, f][1]]
            cap = caps if method == "full_budget" else budgets
            row = {"utc": when, **describe("torch", "transformers"), "load1": round(load1, 2),
                   "model": args.model, "adapter": args.adapter or "", "family": fam, "samples": n,
                   "method": method, "max_new_tokens": " ".join(f"{f}={cap[f]}" for f in fams),
                   "s_per_sample": round(best[method] / n, 4), "tokens_per_sample": round(sum(tokens) / n, 1),
                   "x_vs_full_budget": round(best["full_budget"] / best[method], 2),
                   "scores_identical": identical}
            rows.append(row)
            print(row)
    append_csv(args.out, rows)


if __name__ == "__main__":
    main()
