"""python -m ava.evaluate model=NAME: answer distributions from a causal LM.

The distribution over a question's options is the softmax over the log-likelihood of each option letter as
the next token after the prompt (OpinionQA / GlobalOpinionQA practice). A letter can follow as ``" A"`` or
``"A"`` depending on the prompt's last character and the tokenizer, so both single-token forms are looked
up (each found by encoding it after a fixed prefix, which also works for SentencePiece tokenizers that add a
leading space) and their probabilities are added (they are disjoint next tokens). With a chat template the
prompt is the user turn and the letter is the first assistant token. Prompts are batched with left padding,
explicit position ids and only the last position's logits kept, on CPU or GPU.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from ava.evaluate.suites.base import DistKey, Request

log = logging.getLogger(__name__)
_PREFIX = "Answer:"


def letter_token_ids(tokenizer: Any, letter: str) -> list[int]:
    """Ids of the single-token forms of ``" X"`` and ``"X"`` that follow ``Answer:`` (deduplicated)."""
    base = tokenizer.encode(_PREFIX, add_special_tokens=False)
    ids: list[int] = []
    for variant in (f" {letter}", letter):
        full = tokenizer.encode(_PREFIX + variant, add_special_tokens=False)
        tail = full[len(base) :]
        if full[: len(base)] == base and len(tail) == 1 and tail[0] not in ids:
            ids.append(tail[0])
    if not ids:
        raise ValueError(
            f"option letter {letter!r} is not a single token in this tokenizer (neither ' {letter}' "
            f"nor '{letter}'); use a tokenizer with single-token letters"
        )
    return ids


def letter_table(tokenizer: Any, letters: Sequence[str]) -> list[list[int]]:
    table = [letter_token_ids(tokenizer, L) for L in letters]
    flat = [i for ids in table for i in ids]
    if len(flat) != len(set(flat)):
        raise ValueError(f"option letters {list(letters)} share a token id in this tokenizer: {table}")
    return table


def render(tokenizer: Any, prompt: str, chat_template: bool, system_prompt: str | None) -> tuple[str, bool]:
    """The text fed to the model and whether the tokenizer should add its special tokens (BOS)."""
    if not chat_template:
        return prompt, True
    messages = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + [
        {"role": "user", "content": prompt}
    ]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True), False


def use_chat_template(tokenizer: Any, setting: str | bool) -> bool:
    """``auto``: use the tokenizer's chat template when it has one; ``true`` requires one; ``false`` never."""
    has = bool(getattr(tokenizer, "chat_template", None))
    if setting == "auto":
        return has
    if setting is True and not has:
        raise ValueError("prompt.chat_template=true but the tokenizer has no chat template; set it to false")
    return bool(setting)


def pad_batch(rows: Sequence[Sequence[int]], pad: int, left: bool) -> tuple[Any, Any]:
    """``(input_ids, attention_mask)`` of token lists padded to the longest with ``pad``, on the left (prompts a
    model continues) or on the right."""
    import torch

    width = max(len(ids) for ids in rows)
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, ids in enumerate(rows):
        span = slice(width - len(ids), width) if left else slice(0, len(ids))
        input_ids[r, span] = torch.tensor(ids, dtype=torch.long)
        mask[r, span] = 1
    return input_ids, mask


def letter_distributions(
    model: Any,
    tokenizer: Any,
    requests: Sequence[Request],
    batch_size: int,
    chat_template: bool,
    system_prompt: str | None = None,
    max_tokens: int | None = None,
) -> tuple[dict[DistKey, np.ndarray], int]:
    """``{request key: distribution over its letters}`` and the number of prompts left out as too long."""
    import torch

    device = next(model.parameters()).device
    tables: dict[tuple[str, ...], list[list[int]]] = {}
    encoded = []
    too_long = 0
    for r in requests:
        if r.letters not in tables:
            tables[r.letters] = letter_table(tokenizer, r.letters)
        text, special = render(tokenizer, r.prompt, chat_template, system_prompt)
        ids = tokenizer.encode(text, add_special_tokens=special)
        if max_tokens is not None and len(ids) > max_tokens:
            too_long += 1
            continue
        encoded.append((r, ids))
    if too_long:
        log.warning("%d prompt(s) longer than %s tokens were left out", too_long, max_tokens)
    encoded.sort(key=lambda item: len(item[1]), reverse=True)  # similar lengths share a batch: less padding
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    out: dict[DistKey, np.ndarray] = {}
    model.eval()
    batches = range(0, len(encoded), batch_size)
    with torch.inference_mode():
        for start in tqdm(batches, desc="scoring", unit="batch", disable=len(batches) < 2):
            chunk = encoded[start : start + batch_size]
            input_ids, mask = pad_batch([ids for _, ids in chunk], pad, left=True)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            logits = model(
                input_ids=input_ids.to(device),
                attention_mask=mask.to(device),
                position_ids=positions.to(device),
                logits_to_keep=1,
            ).logits[:, -1, :]
            logp = torch.log_softmax(logits.float(), dim=-1).cpu()
            for row, (r, _) in enumerate(chunk):
                per_letter = torch.stack(
                    [torch.logsumexp(logp[row, ids], dim=0) for ids in tables[r.letters]]
                )
                out[r.key] = torch.softmax(per_letter.double(), dim=0).numpy()
    return out, too_long
