"""Generated instruction samples for the ava.train tests (the build_dataset schema), and the composed config."""

from __future__ import annotations

import json
import random
from pathlib import Path

from hydra import compose, initialize_config_module


def make_sample(i: int, task: str, rng: random.Random) -> dict:
    letter = rng.choice("ABCD")
    groups = {"A": "men 18-24", "B": "women 25-34", "C": "men 65+", "D": "women 45-54"}
    return {
        "id": f"{task}-{i}",
        "task": task,
        "messages": [
            {"role": "system", "content": "You predict who engages with an advertisement."},
            {"role": "user", "content": f"The ad shows item {i % 7}. Who saw it most? "
                                        "Options: A. Men 18-24 B. Women 25-34 C. Men 65+ D. Women 45-54"},
            {"role": "assistant", "content": f"{letter}. {groups[letter]}"},
        ],
        "target": letter,
        "meta": {"ad_id": str(i)},
    }


def write_dataset(root: Path, n_train: int = 32, n_val: int = 8, seed: int = 0) -> Path:
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("val", n_val)):
        rows = [make_sample(i, ("audience", "region")[i % 2], rng) for i in range(n)]
        (root / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


REPO = Path(__file__).resolve().parents[2]
FAST = ["trainer.batch_size=4", "trainer.logging_steps=1", "trainer.num_workers=0", "device=cpu",
        "data.num_proc=1"]  # the token cache built in-process: no worker start-up per test dataset


def cfg_for(dataset: Path, out: Path, *overrides: str):
    with initialize_config_module("ava_conf", version_base="1.3"):
        return compose("train", overrides=[f"dataset={dataset}", f"output_dir={out}", *FAST, *overrides])
