"""python -m ava.train: render ``DATASET_DIR/{train,val}.jsonl`` samples (or their ``.jsonl.zst`` shards) with the
chat template and mask the loss; :mod:`ava.train.token_cache` caches the result.

The samples come from ``ava.sample.iter_samples`` (what a sample is, and what stops a run, is said there).

Rendering: the whole conversation goes through the tokenizer's own chat template (as text), then is
tokenized once with character offsets. The loss-bearing spans are found model-agnostically: for the
assistant turn ``i`` the span runs from the end of ``template(messages[:i], add_generation_prompt=True)``
to the end of ``template(messages[:i+1])``, so the reply and its end-of-turn token are learnt, the prompt,
role headers and other turns are not (``labels = -100``). Templates whose rendering is not prefix-stable
are refused with a clear error. Sequences longer than ``max_length`` are truncated on the right and
counted; a sample whose assistant tokens are all cut off is dropped and counted.

Batching: length-bucketing, not packing. Samples are grouped by length (:mod:`ava.train.token_cache`) and each
batch is right-padded to its longest member, so attention masks and position ids are the model's ordinary
ones and no sample can attend to another.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ava.sample import DatasetError

IGNORE_INDEX = -100


def assistant_spans(messages: Sequence[dict[str, str]], tokenizer) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of its assistant turns (loss-bearing text)."""
    text = tokenizer.apply_chat_template(list(messages), tokenize=False)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = tokenizer.apply_chat_template(list(messages[:i]), tokenize=False, add_generation_prompt=True)
        through = tokenizer.apply_chat_template(list(messages[: i + 1]), tokenize=False)
        if not (through.startswith(before) and text.startswith(through)):
            raise DatasetError(
                "the model's chat template does not render conversations prefix-stably (a later turn changes "
                "the text of an earlier one), so assistant turns cannot be located; use a model whose "
                "template does, or single-turn samples"
            )
        spans.append((len(before), len(through)))
    return text, spans


@dataclass
class EncodeStats:
    samples: int = 0
    tokens: int = 0
    target_tokens: int = 0
    truncated: int = 0
    dropped_no_target: int = 0
    per_task: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {**{f.name: getattr(self, f.name) for f in fields(self)}, "per_task": dict(self.per_task)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EncodeStats:
        return cls(**{**d, "per_task": Counter(d["per_task"])})

    def add(self, other: EncodeStats) -> None:
        """Count ``other``'s samples in these (a worker's chunk into the split's total)."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def encode(sample: dict[str, Any], tokenizer, max_length: int) -> tuple[list[int], list[int], bool]:
    """(input_ids, labels, truncated) for one sample; labels are ``-100`` outside assistant turns."""
    text, spans = assistant_spans(sample["messages"], tokenizer)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = np.asarray(enc["input_ids"], dtype=np.int64)
    offsets = np.asarray(enc["offset_mapping"], dtype=np.int64).reshape(-1, 2)
    learnt = np.zeros(len(ids), dtype=bool)  # a token is learnt when it starts inside a reply and is not empty
    for s, e in spans:
        learnt |= (offsets[:, 0] >= s) & (offsets[:, 0] < e)
    labels = np.where(learnt & (offsets[:, 1] > offsets[:, 0]), ids, IGNORE_INDEX)
    truncated = len(ids) > max_length
    return ids[:max_length].tolist(), labels[:max_length].tolist(), truncated


class TokenizedSamples(torch.utils.data.Dataset):
    """Encoded samples (``input_ids``, ``labels``) ready for :func:`pad_collator`."""

    def __init__(self, rows: list[dict[str, list[int]]]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.rows[i]


def encode_counted(sample: dict[str, Any], tokenizer, max_length: int, stats: EncodeStats
                   ) -> tuple[list[int], list[int]] | None:
    """:func:`encode` one sample and count it in ``stats``; None when no assistant token is left (dropped)."""
    ids, labels, truncated = encode(sample, tokenizer, max_length)
    stats.truncated += truncated
    n_target = sum(lab != IGNORE_INDEX for lab in labels)
    if n_target == 0:
        stats.dropped_no_target += 1
        return None
    stats.samples += 1
    stats.tokens += len(ids)
    stats.target_tokens += n_target
    stats.per_task[sample["task"]] += 1
    return ids, labels


def encode_all(
    samples: Sequence[dict[str, Any]], tokenizer, max_length: int, desc: str
) -> tuple[dict[str, TokenizedSamples], EncodeStats]:
    """Encode ``samples`` (in memory) grouped by task; returns ``{task: dataset}`` and the counts. Training
    streams through :mod:`ava.train.token_cache` instead; this serves small sets (tests, one-off losses)."""
    stats = EncodeStats()
    by_task: dict[str, list[dict[str, list[int]]]] = {}
    for sample in tqdm(samples, desc=desc, unit="sample", mininterval=2.0):
        got = encode_counted(sample, tokenizer, max_length, stats)
        if got is not None:
            by_task.setdefault(sample["task"], []).append({"input_ids": got[0], "labels": got[1]})
    if not by_task:
        raise DatasetError(no_target_left(desc, max_length))
    return {task: TokenizedSamples(rows) for task, rows in sorted(by_task.items())}, stats


def no_target_left(desc: str, max_length: int) -> str:
    return (f"{desc}: every sample lost all its assistant tokens to truncation at max_length={max_length}; "
            "raise max_length")


def pad_collator(tokenizer, pad_to_multiple_of: int | None = None):
    """Right-pad a batch to its longest sample (rounded up to ``pad_to_multiple_of``), padding labels with
    ``-100`` and masking the padding: transformers' ``DataCollatorForSeq2Seq``.

    Right padding keeps each sample's position ids those of the sample alone; ``tokenizer.padding_side`` is set
    to ``right`` for that (the collator follows it), and the adapter's saved tokenizer keeps it.
    """
    from transformers import DataCollatorForSeq2Seq

    tokenizer.padding_side = "right"
    return DataCollatorForSeq2Seq(tokenizer, padding="longest", label_pad_token_id=IGNORE_INDEX,
                                  pad_to_multiple_of=pad_to_multiple_of, return_tensors="pt")
