"""python -m ava.evaluate benchmark=behaviour: greedy answers and answer perplexities from a causal LM.

A sample's prompt is its conversation without the assistant reply, rendered with the tokenizer's chat template
and ``add_generation_prompt=True`` and tokenized without extra special tokens: exactly the prefix
``python -m ava.train`` trains the reply after (``ava.train.data``). Generation is greedy, batched with left
padding (prompts sorted by length so a batch pads little) and stops at the end-of-turn token. Perplexity of a
text as the reply is ``exp`` of the mean negative log-likelihood of its tokens after that prefix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tqdm import tqdm

from ava.evaluate.scoring import pad_batch


def prompt_text(tokenizer: Any, messages: Sequence[dict[str, str]]) -> str:
    """The chat-template prefix the reply follows: every turn before the last assistant turn."""
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    return tokenizer.apply_chat_template(list(messages[:last]), tokenize=False, add_generation_prompt=True)


def _stop_ids(model: Any, tokenizer: Any) -> list[int]:
    ids = model.generation_config.eos_token_id
    ids = [] if ids is None else [ids] if isinstance(ids, int) else list(ids)
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids


def generate(model: Any, tokenizer: Any, prompts: Sequence[str], max_new_tokens: int, batch_size: int,
             desc: str = "generate") -> list[str]:
    """Greedy continuations of ``prompts`` (decoded, special tokens removed), in the order given."""
    import torch

    device = next(model.parameters()).device
    encoded = [tokenizer.encode(p, add_special_tokens=False) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    stop = _stop_ids(model, tokenizer)
    out: list[str] = [""] * len(prompts)
    model.eval()
    batches = range(0, len(order), batch_size)
    with torch.inference_mode():
        for start in tqdm(batches, desc=desc, unit="batch", disable=len(batches) < 2):
            rows = order[start : start + batch_size]
            input_ids, mask = pad_batch([encoded[i] for i in rows], pad, left=True)
            width = input_ids.shape[1]
            gen = model.generate(
                input_ids=input_ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new_tokens,
                do_sample=False, num_beams=1, pad_token_id=pad, eos_token_id=stop or None,
                temperature=None, top_p=None, top_k=None,
            )
            for r, i in enumerate(rows):
                out[i] = tokenizer.decode(gen[r, width:], skip_special_tokens=True).strip()
    return out


def reply_perplexities(model: Any, tokenizer: Any, prompts: Sequence[str], replies: Sequence[str],
                       batch_size: int) -> list[float]:
    """Perplexity of each ``reply`` as the answer to its ``prompt`` (prompt tokens are context, not scored)."""
    import torch
    import torch.nn.functional as F

    device = next(model.parameters()).device
    pairs = []
    for p, r in zip(prompts, replies, strict=True):
        ctx = tokenizer.encode(p, add_special_tokens=False)
        ans = tokenizer.encode(r, add_special_tokens=False)
        if not ans:
            raise ValueError(f"cannot score an empty reply (prompt {p[-80:]!r})")
        pairs.append((ctx, ans))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    out = [math.nan] * len(pairs)
    order = sorted(range(len(pairs)), key=lambda i: -sum(map(len, pairs[i])))
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            input_ids, mask = pad_batch([pairs[i][0] + pairs[i][1] for i in rows], pad, left=False)
            logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits
            for r, i in enumerate(rows):  # only the reply's positions: no [batch, width, vocab] log-softmax
                ctx, ans = pairs[i]
                positions = torch.arange(len(ctx) - 1, len(ctx) + len(ans) - 1)  # logits at t predict t + 1
                nll = F.cross_entropy(logits[r, positions.to(logits.device)].float(),
                                      torch.tensor(ans, device=logits.device))
                out[i] = math.exp(nll.item())
    return out
