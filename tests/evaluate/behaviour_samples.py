"""Behaviour-task samples in python -m ava.build_dataset's schema, answers worded by its own templates
(conf/dataset_tasks/paper.yaml), for the benchmark=behaviour tests."""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import OmegaConf

PAPER = OmegaConf.load(Path(__file__).resolve().parents[2] / "conf" / "dataset_tasks" / "paper.yaml")
T = PAPER.generators
SYSTEM = str(PAPER.system)
AGES = ["13-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+"]


def _sample(sid: str, task: str, user: str, answer: str, target: dict) -> dict:
    return {"id": sid, "task": task, "target": target, "meta": {"split": "val"},
            "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user},
                         {"role": "assistant", "content": answer}]}


def tap_g(i: int, gender: str) -> dict:
    dist = {"male": 0.7, "female": 0.3, "unknown": 0.0} if gender == "male" else \
        {"male": 0.3, "female": 0.7, "unknown": 0.0}
    return _sample(f"g{i}", "TAP-G", f"Advertiser: Shop {i}\n\n{T.tap.templates.G.question[0]}",
                   T.tap.templates.G.answer.format(gender=gender.capitalize()),
                   {"gender": gender, "distribution": dist})


def tap_a(i: int, age: str) -> dict:
    dist = {a: (0.5 if a == age else 0.5 / 6) for a in AGES}
    return _sample(f"a{i}", "TAP-A", f"Advertiser: Shop {i}\n\n{T.tap.templates.A.question[0]}",
                   T.tap.templates.A.answer.format(age=age), {"age": age, "distribution": dist})


def tap_r(i: int, regions: list[str]) -> dict:
    return _sample(f"r{i}", "TAP-R",
                   f"Advertiser: Shop {i}\n\n{T.tap.templates.R.question[0].format(k=3, places='states')}",
                   T.tap.templates.R.answer.format(k=3, places="states", regions=", ".join(regions)),
                   {"regions": regions, "distribution": {r: 1 / 3 for r in regions}})


def tap_b(i: int, lo: float, hi: float) -> dict:
    text = f"{lo:.0f}-{hi:.0f} USD"
    return _sample(f"b{i}", "TAP-B", f"Advertiser: Shop {i}\n\n{T.tap.templates.B.question[0]}",
                   T.tap.templates.B.answer.format(spend=text),
                   {"spend": {"lower": lo, "upper": hi, "currency": "USD"}, "range": text})


def tap_i(i: int, lo: float, hi: float | None) -> dict:
    text = f"{lo:.0f}+" if hi is None else f"{lo:.0f}-{hi:.0f}"
    return _sample(f"i{i}", "TAP-I", f"Advertiser: Shop {i}\n\n{T.tap.templates.I.question[0]}",
                   T.tap.templates.I.answer.format(impressions=text),
                   {"impressions": {"lower": lo, "upper": hi}, "range": text})


def audience(i: int, choice: int) -> dict:
    options = ["Male audience aged 18-24 in Ohio, Texas, Iowa", "Female audience aged 25-34 in Utah, Maine, Idaho",
               "Male audience aged 65+ in Florida, Georgia, Alabama", "Female audience aged 45-54 in Texas, Ohio, Utah"]
    listing = "\n".join(f"{n}. {p}" for n, p in enumerate(options, start=1))
    user = f"Advertiser: Shop {i}\n\n{T.audience_selection.templates[0].format(options=listing)}"
    return _sample(f"s{i}", "AS", user, T.audience_selection.answer.format(choice=choice, profile=options[choice - 1]),
                   {"choice": choice, "options": options})


def tag(i: int) -> dict:
    ad = f"Title: Fresh bread {i}\nContent: Our bakery opens at seven every morning with warm bread."
    return _sample(f"t{i}", "TAG-G", T.tag.templates.G[0].format(advertiser="Bakery", gender="Female"), ad,
                   {"title": f"Fresh bread {i}", "body": "Our bakery opens at seven every morning with warm bread.",
                    "creative": None, "condition": {"gender": "female"}})


def pair(i: int, task: str) -> dict:
    src = f"Title: Vote on Tuesday {i}\nContent: Polls are open from seven to eight in every county."
    dst = f"Title: Your vote counts {i}\nContent: Every county polls open seven to eight on Tuesday, bring a friend."
    tmpl = (T.ts if task.startswith("TS") else T.tc).templates[task.split("-")[1]][0]
    user = tmpl.format(advertiser="Civic Group", ad=src, audience="a Female audience",
                       source_audience="the audience aged 25-34", target_audience="the audience aged 65+")
    return _sample(f"p{task}{i}", task, user, dst, {"text": dst, "title": f"Your vote counts {i}", "body": "",
                                                    "attribute": task.split("-")[1]})


def val_samples() -> list[dict]:
    return [tap_g(0, "female"), tap_g(1, "male"), tap_a(0, "25-34"), tap_a(1, "65+"),
            tap_r(0, ["Vermont", "Massachusetts", "New York"]), tap_r(1, ["Texas", "Ohio", "Iowa"]),
            tap_b(0, 100, 199), tap_b(1, 1000, 4999), tap_i(0, 5000, 9999), tap_i(1, 1000000, None),
            audience(0, 2), audience(1, 4), tag(0), pair(0, "TS-B"), pair(0, "TC-A")]


def train_samples() -> list[dict]:
    return [tap_g(10, "female"), tap_g(11, "female"), tap_g(12, "male"), tap_a(10, "25-34"), tap_a(11, "18-24"),
            tap_a(12, "25-34"), tap_r(10, ["Texas", "Ohio", "Utah"]), tap_r(11, ["Texas", "Iowa", "Maine"]),
            tap_b(10, 100, 199), tap_b(11, 100, 199), tap_b(12, 200, 299), tap_i(10, 5000, 9999),
            tap_i(11, 1000, 4999), audience(10, 2), audience(11, 3), audience(12, 2), tag(10), pair(10, "TS-B"),
            pair(10, "TC-A")]


def write_dataset(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for split, rows in (("train", train_samples()), ("val", val_samples())):
        (root / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root
