"""benchmark=behaviour generation stops when the answer is done (issue #27): at the chat template's end-of-turn
token, at a one-line answer's line break, within a budget sized from the training answers; the text up to the
stop is the text the unstopped run produced, and the tokens taken per sample are reported."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from ava.evaluate.behaviour.generate import generate_counted, prompt_text, turn_end_id
from ava.evaluate.behaviour.tasks import answer_budgets, select
from ava.models.load import load_model_and_tokenizer
from tests.evaluate import behaviour_samples as bs


@pytest.fixture(scope="module")
def tiny():
    return load_model_and_tokenizer(OmegaConf.create({"name_or_path": "tiny", "dtype": "float32",
                                                      "tiny": {"seed": 0}}), device="cpu")


def test_turn_end_token_is_the_templates(tiny):
    _, tok = tiny
    assert tok.convert_ids_to_tokens(turn_end_id(tok)) == "<|eot_id|>"  # the tiny model's Llama-3 template


def _unstopped(model, tok, prompt: str, n: int) -> list[int]:
    ids = torch.tensor([tok.encode(prompt, add_special_tokens=False)])
    with torch.no_grad():  # no end token, no stopping: the whole budget, one prompt at a time
        out = model.generate(ids, max_new_tokens=n, do_sample=False, pad_token_id=tok.pad_token_id,
                             eos_token_id=None, min_new_tokens=n)
    return out[0, ids.shape[1]:].tolist()


@pytest.mark.parametrize("one_line", [False, True])
def test_stopped_answers_are_prefixes_of_the_unstopped_ones(tiny, one_line):
    model, tok = tiny
    samples = [bs.tap_g(0, "female"), bs.tap_a(1, "25-34"), bs.tag(0), bs.pair(0, "TS-B")]
    prompts = [prompt_text(tok, s["messages"]) for s in samples]
    n = 24
    texts, counts = generate_counted(model, tok, prompts, n, batch_size=3, one_line=one_line)
    for prompt, text, k in zip(prompts, texts, counts, strict=True):
        full = _unstopped(model, tok, prompt, n)
        assert 1 <= k <= n
        assert text == tok.decode(full[:k], skip_special_tokens=True).strip()  # the same tokens, cut
        stops = {tok.eos_token_id, turn_end_id(tok), *([model.generation_config.eos_token_id]
                                                      if isinstance(model.generation_config.eos_token_id, int)
                                                      else model.generation_config.eos_token_id or [])}
        first_stop = next((j + 1 for j, t in enumerate(full) if t in stops), n)
        if one_line:
            line_end = next((j + 1 for j in range(1, n + 1)
                             if "\n" in tok.decode(full[:j], skip_special_tokens=True).lstrip()), n)
            assert k == min(first_stop, line_end)
            assert "\n" not in text
        else:
            assert k == first_stop


def test_budgets_follow_the_training_answers(tiny):
    _, tok = tiny
    cfg_b = OmegaConf.create({"max_new_tokens": {"TAP": 32, "AS": 32, "TAG": 128, "TS": 128, "TC": 128},
                              "budget_slack": 1.5})
    train = select(bs.train_samples(), None, None)
    got = answer_budgets(cfg_b, train, tok)
    longest = {}
    for task, samples in train.items():
        fam = task.split("-")[0]
        for s in samples:
            longest[fam] = max(longest.get(fam, 0), len(tok.encode(s["messages"][-1]["content"],
                                                                    add_special_tokens=False)))
    for fam, cap in cfg_b.max_new_tokens.items():
        want = min(cap, -(-3 * longest[fam] // 2) + 1) if fam in longest else cap
        assert got[fam] == want
    assert set(got) == set(cfg_b.max_new_tokens) and longest.keys() <= got.keys()
