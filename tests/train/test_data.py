"""ava.train.data: dataset errors with line numbers, hand-checked loss masks, truncation, padding masks."""

from __future__ import annotations

import json

import pytest
import torch
from omegaconf import OmegaConf
from transformers import AutoModelForCausalLM

from ava.models.load import load_tokenizer
from ava.sample import DatasetError, read_samples
from ava.train.data import IGNORE_INDEX, encode, encode_all, pad_collator
from tests.train.samples import make_sample

TINY = OmegaConf.create({"name_or_path": "tiny", "tiny": {"seed": 0}})


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer(TINY)


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return path


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        ('{"id": "x", "task": "t", "messages": [', "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"id": "x", "task": "t", "messages": [{"role": "robot", "content": "hi"}]}', "messages[0]"),
        ('{"id": "x", "task": "t", "messages": [{"role": "user", "content": "hi"}]}', "no assistant message"),
        ('{"id": "x", "task": "t", "messages": [{"role": "assistant", "content": "A"}], "w": NaN}', "NaN"),
        ('{"task": "t", "messages": [{"role": "assistant", "content": "A"}]}', "'id'"),
        ('{"id": "x", "task": "t", "messages": [{"role": "assistant", "content": "A"}]}', "messages[0] is the"),
        ("[" * 100_000 + "]" * 100_000, "RecursionError"),
        ('{"id": "x\udcff"}', "not UTF-8"),  # a lone 0xff byte (surrogateescape)
    ],
    ids=["truncated", "array", "role", "no-assistant", "nan", "no-id", "assistant-first", "deep", "latin1"],
)
def test_malformed_line_reports_file_and_line(tmp_path, bad, needle):
    import random

    good = json.dumps(make_sample(0, "audience", random.Random(0)))
    path = tmp_path / "train.jsonl"
    path.write_bytes("\n".join([good, "", bad, good, ""]).encode("utf-8", "surrogateescape"))
    with pytest.raises(DatasetError) as err:
        read_samples(path)
    assert f"{path}:3:" in str(err.value) and needle in str(err.value)


def test_utf8_bom_is_accepted(tmp_path):
    import random

    lines = [json.dumps(make_sample(i, "audience", random.Random(i))) for i in range(2)]
    path = tmp_path / "train.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode())
    assert [s["id"] for s in read_samples(path)] == [json.loads(ln)["id"] for ln in lines]


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(DatasetError, match="has no samples"):
        read_samples(_write(tmp_path / "train.jsonl", ["", "  "]))
    with pytest.raises(DatasetError, match=r"neither .*val\.jsonl nor its shards .*val-NNNNN\.jsonl\.zst exist"):
        read_samples(tmp_path / "val.jsonl")


def test_labels_cover_exactly_the_assistant_replies(tok):
    msgs = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Who saw it? Options: A. men B. women"},
        {"role": "assistant", "content": "B. women"},
        {"role": "user", "content": "Sure?"},
        {"role": "assistant", "content": "A"},
    ]
    ids, labels, truncated = encode({"messages": msgs}, tok, max_length=512)
    assert not truncated and len(ids) == len(labels)
    # Hand-built expectation: each reply's own tokens plus its <|eot_id|>, right after its header.
    eot = tok.convert_tokens_to_ids("<|eot_id|>")
    header = tok("<|start_header_id|>assistant<|end_header_id|>\n\n", add_special_tokens=False)["input_ids"]
    want = []
    for reply in ("B. women", "A"):
        want.append(tok(reply, add_special_tokens=False)["input_ids"] + [eot])
    kept = [(i, lab) for i, lab in enumerate(labels) if lab != IGNORE_INDEX]
    assert [lab for _, lab in kept] == want[0] + want[1]
    assert all(ids[i] == lab for i, lab in kept)
    # Each learnt run starts right after an assistant header; nothing else is learnt.
    runs, start = [], None
    for i, lab in enumerate(labels + [IGNORE_INDEX]):
        if lab != IGNORE_INDEX and start is None:
            start = i
        elif lab == IGNORE_INDEX and start is not None:
            runs.append((start, i))
            start = None
    assert [ids[s:e] for s, e in runs] == want
    assert all(ids[s - len(header):s] == header for s, _ in runs)
    # Independent reference: transformers' own {% generation %} assistant mask on the same template.
    ref = tok.apply_chat_template(msgs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    assert ref["input_ids"] == ids
    assert [bool(m) for m in ref["assistant_masks"]] == [lab != IGNORE_INDEX for lab in labels]


def test_truncation_counted_and_targetless_samples_dropped(tok):
    import random

    rng = random.Random(0)
    samples = [make_sample(i, "audience", rng) for i in range(4)]
    full, _, _ = encode(samples[0], tok, 10_000)
    sets, stats = encode_all(samples, tok, max_length=len(full) - 2, desc="t")
    assert stats.truncated == 4 and stats.dropped_no_target == 0
    assert all(len(r["input_ids"]) == len(full) - 2 for r in sets["audience"].rows)
    with pytest.raises(DatasetError, match="raise max_length"):
        encode_all(samples, tok, max_length=8, desc="t")
    _, stats = encode_all(samples[:1] + [{**samples[1], "messages": samples[1]["messages"] * 20}], tok,
                          max_length=len(full), desc="t")
    assert stats.samples == 2 and stats.truncated == 1


def test_padding_does_not_change_a_samples_logits(tok):
    """Right padding + attention mask: a short sample's logits are the same alone and in a padded batch."""
    import random

    from ava.models.tiny import build_tiny

    model = AutoModelForCausalLM.from_pretrained(build_tiny()).eval()
    rng = random.Random(1)
    short = make_sample(0, "audience", rng)
    long = {**short, "messages": short["messages"][:2] + [{"role": "assistant", "content": "B " * 40}]}
    rows = []
    for s in (short, long):
        ids, labels, _ = encode(s, tok, 512)
        rows.append({"input_ids": ids, "labels": labels})
    batch = pad_collator(tok, pad_to_multiple_of=8)(rows)
    n = len(rows[0]["input_ids"])
    assert batch["input_ids"].shape[1] % 8 == 0 and batch["attention_mask"][0].sum() == n
    assert (batch["labels"][0, n:] == IGNORE_INDEX).all()
    with torch.no_grad():
        alone = model(input_ids=torch.tensor([rows[0]["input_ids"]])).logits[0]
        padded = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[0, :n]
    torch.testing.assert_close(padded, alone, atol=1e-5, rtol=1e-5)


def _hand_padded(rows, pad_id: int, multiple: int) -> dict[str, torch.Tensor]:
    """The project's former hand-written collator, kept as the reference for transformers' one."""
    width = -(-max(len(r["input_ids"]) for r in rows) // multiple) * multiple
    out = {"input_ids": torch.full((len(rows), width), pad_id), "attention_mask": torch.zeros(len(rows), width),
           "labels": torch.full((len(rows), width), IGNORE_INDEX)}
    for i, r in enumerate(rows):
        n = len(r["input_ids"])
        out["input_ids"][i, :n], out["labels"][i, :n] = torch.tensor(r["input_ids"]), torch.tensor(r["labels"])
        out["attention_mask"][i, :n] = 1
    return {k: v.long() for k, v in out.items()}


@pytest.mark.parametrize("multiple", [None, 8])
def test_collator_equals_the_hand_written_padding(tok, multiple):
    import random

    rng = random.Random(3)
    rows = []
    for i, task in enumerate(["audience", "region", "audience"]):
        ids, labels, _ = encode(make_sample(i, task, rng), tok, 512)
        rows.append({"input_ids": ids, "labels": labels})
    tok.padding_side = "left"  # a tokenizer set up for generation: training still pads on the right
    batch = pad_collator(tok, multiple)(rows)
    want = _hand_padded(rows, tok.pad_token_id, multiple or 1)
    assert batch.keys() == want.keys()
    for key, value in want.items():
        assert torch.equal(batch[key], value), key
