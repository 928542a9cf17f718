"""python -m ava.evaluate benchmark=behaviour: greedy answers and answer perplexities from a causal LM.

A sample's prompt is its conversation without the assistant reply, rendered with the tokenizer's chat template
and ``add_generation_prompt=True`` and tokenized without extra special tokens: exactly the prefix
``python -m ava.train`` trains the reply after (``ava.train.data``). Generation is greedy, batched with left
padding (prompts sorted by length so a batch pads little); a row stops at the chat template's end-of-turn token
(or the model's end token), and a one-line answer (the classification families) at its first line break;
the caller sizes ``max_new_tokens`` from the training answers. Perplexity of a
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
    """The model's end-of-sequence ids, the tokenizer's, and the chat template's end-of-turn token."""
    ids = model.generation_config.eos_token_id
    ids = [] if ids is None else [ids] if isinstance(ids, int) else list(ids)
    for extra in (tokenizer.eos_token_id, turn_end_id(tokenizer)):
        if extra is not None and extra not in ids:
            ids.append(extra)
    return ids


def turn_end_id(tokenizer: Any) -> int | None:
    """The special token the chat template closes an assistant turn with (``<|eot_id|>``, ``<|im_end|>``...),
    found by rendering a reply: a model trained by ``ava.train`` learns to emit it (it is in the loss)."""
    if not getattr(tokenizer, "chat_template", None):
        return None
    marker = "\u2063reply\u2063"
    text = tokenizer.apply_chat_template([{"role": "user", "content": "q"}, {"role": "assistant", "content": marker}],
                                         tokenize=False)
    after = tokenizer.encode(text[text.rindex(marker) + len(marker):], add_special_tokens=False)
    special = set(tokenizer.all_special_ids) | set(tokenizer.get_added_vocab().values())
    return after[0] if after and after[0] in special else None


class _LineDone:
    """Stop a row once its answer has a line break after some text (the classification answers are one line)."""

    def __init__(self, tokenizer: Any, width: int):
        self.tokenizer, self.width = tokenizer, width

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        texts = self.tokenizer.batch_decode(input_ids[:, self.width:], skip_special_tokens=True)
        return torch.tensor(["\n" in t.lstrip() for t in texts], device=input_ids.device)


def generate(model: Any, tokenizer: Any, prompts: Sequence[str], max_new_tokens: int, batch_size: int,
             desc: str = "generate", one_line: bool = False) -> list[str]:
    """Greedy continuations of ``prompts`` (decoded, special tokens removed), in the order given."""
    return generate_counted(model, tokenizer, prompts, max_new_tokens, batch_size, desc, one_line)[0]


def generate_counted(model: Any, tokenizer: Any, prompts: Sequence[str], max_new_tokens: int, batch_size: int,
                     desc: str = "generate", one_line: bool = False) -> tuple[list[str], list[int]]:
    """:func:`generate`, and the tokens each answer took (through its stop token).

    A row stops at an end token (:func:`_stop_ids`), or with ``one_line`` at its first line break after some
    text; a batch runs until its last row stops or ``max_new_tokens``.
    """
    import torch
    from transformers import StoppingCriteriaList

    device = next(model.parameters()).device
    encoded = [tokenizer.encode(p, add_special_tokens=False) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    stop = _stop_ids(model, tokenizer)
    out: list[str] = [""] * len(prompts)
    tokens = [0] * len(prompts)
    model.eval()
    batches = range(0, len(order), batch_size)
    with torch.inference_mode():
        for start in tqdm(batches, desc=desc, unit="batch", disable=len(batches) < 2):
            rows = order[start : start + batch_size]
            input_ids, mask = pad_batch([encoded[i] for i in rows], pad, left=True)
            width = input_ids.shape[1]
            criteria = StoppingCriteriaList([_LineDone(tokenizer, width)] if one_line else [])
            gen = model.generate(
                input_ids=input_ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new_tokens,
                do_sample=False, num_beams=1, pad_token_id=pad, eos_token_id=stop or None,
                temperature=None, top_p=None, top_k=None, stopping_criteria=criteria,
            )
            for r, i in enumerate(rows):
                new = gen[r, width:].tolist()
                tokens[i] = _answer_tokens(new, stop, pad, tokenizer if one_line else None)
                out[i] = tokenizer.decode(new[: tokens[i]], skip_special_tokens=True).strip()
    return out, tokens


def _answer_tokens(new: list[int], stop: list[int], pad: int, line_tokenizer: Any) -> int:
    """How many of a row's generated tokens are its answer: through the first stop token, or the token that
    completed its first line (``line_tokenizer``); the rest is padding after the row stopped."""
    n = next((k + 1 for k, t in enumerate(new) if t in stop), len(new))
    if line_tokenizer is not None:
        for k in range(1, n + 1):
            if "\n" in line_tokenizer.decode(new[:k], skip_special_tokens=True).lstrip():
                return k
    return n


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
