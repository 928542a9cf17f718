"""Letter scoring on the tiny local Llama: both tokenisations, chat template, batching, and the whole
command end to end (benchmark=all, model=tiny, steering, a LoRA adapter)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ava.evaluate.run import evaluate
from ava.evaluate.scoring import letter_distributions, letter_token_ids, render, use_chat_template
from ava.evaluate.suites.base import Request
from ava.models.load import load_model_and_tokenizer
from tests.evaluate import fixtures
from tests.evaluate.fixtures import TINY


@pytest.fixture(scope="module")
def tiny():
    return load_model_and_tokenizer(TINY, device="cpu")


def test_letters_found_in_both_tokenisations(tiny):
    _, tok = tiny
    ids = letter_token_ids(tok, "B")
    assert ids == [
        tok.encode(" B", add_special_tokens=False)[0],
        tok.encode("B", add_special_tokens=False)[0],
    ]
    assert len(set(ids)) == 2


def reference(model, tok, text: str, special: bool, letters) -> np.ndarray:
    """Unbatched, unpadded forward pass; P(letter) = P(' X') + P('X'), renormalised over the letters."""
    ids = torch.tensor([tok.encode(text, add_special_tokens=special)])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0, -1].double(), dim=-1)
    p = np.array(
        [
            sum(logp[tok.encode(v, add_special_tokens=False)[0]].exp().item() for v in (f" {L}", L))
            for L in letters
        ]
    )
    return p / p.sum()


@pytest.mark.parametrize("chat", [False, True])
def test_batched_distributions_match_unbatched_reference(tiny, chat):
    model, tok = tiny
    prompts = [
        "Question: Is it good?\nA. Yes\nB. No\nAnswer:",
        "Question: A much longer question about opinions on work, family and money?\nA. Yes\nB. No\n"
        "C. Maybe\nD. Refused\nAnswer:",
        "Your Answer (E/N/C): (",
    ]
    letters = [("A", "B"), ("A", "B", "C", "D"), ("E", "N", "C")]
    reqs = [Request(str(i), None, None, p, L) for i, (p, L) in enumerate(zip(prompts, letters, strict=True))]
    dists, too_long = letter_distributions(model, tok, reqs, batch_size=3, chat_template=chat)
    assert too_long == 0
    for r in reqs:
        d = dists[r.key]
        assert d.shape == (len(r.letters),) and np.all(d > 0) and d.sum() == pytest.approx(1.0, abs=1e-12)
        text, special = render(tok, r.prompt, chat, None)
        np.testing.assert_allclose(d, reference(model, tok, text, special, r.letters), atol=2e-5)


def test_chat_template_rendering_and_settings(tiny):
    _, tok = tiny
    text, special = render(tok, "Q?\nAnswer:", True, "Be brief.")
    assert text.startswith(tok.bos_token) and text.endswith(
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    assert "Be brief." in text and not special
    assert render(tok, "Q?", False, None) == ("Q?", True)
    assert use_chat_template(tok, "auto") is True and use_chat_template(tok, False) is False


def test_too_long_prompts_are_counted(tiny):
    model, tok = tiny
    reqs = [Request("0", None, None, "word " * 50 + "Answer:", ("A", "B"))]
    dists, too_long = letter_distributions(model, tok, reqs, batch_size=2, chat_template=False, max_tokens=10)
    assert dists == {} and too_long == 1


def test_all_benchmarks_on_tiny_model_end_to_end(data_root, tmp_path, tiny):
    from peft import LoraConfig, get_peft_model

    base = [
        f"data={data_root}",
        "benchmark=all",
        "model=tiny",
        "device=cpu",
        "batch_size=4",
        "suites.opinionqa.attributes=[SEX,POLPARTY]",
        "suites.opinionqa.steering=[qa,bio,portray]",
    ]
    doc = evaluate(fixtures.compose_cfg([*base, f"output_dir={tmp_path / 'plain'}"]))
    assert doc["mode"] == "model" and doc["chat_template"] is True and doc["adapter"] is None
    for name, r in doc["benchmarks"].items():
        assert r["headline"]["value"] is not None, name
        assert "no model distribution" not in r["counts"]["skipped"], name
    assert set(doc["benchmarks"]["opinionqa"]["metrics"]["steerability"]) == {
        "POLPARTY=Democrat",
        "POLPARTY=Republican",
    }
    assert set(doc["benchmarks"]["global_opinionqa"]["per_group"]) == {"Belgium", "Japan", "Nigeria"}
    assert (tmp_path / "plain" / "report.md").is_file()

    # a LoRA adapter with non-zero B changes the answers; the adapter path is recorded
    model, _ = load_model_and_tokenizer(TINY, device="cpu")
    peft_model = get_peft_model(
        model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    peft_model.save_pretrained(tmp_path / "adapter")
    doc2 = evaluate(
        fixtures.compose_cfg([*base, f"adapter={tmp_path / 'adapter'}", f"output_dir={tmp_path / 'lora'}"])
    )
    assert doc2["adapter"] == str(tmp_path / "adapter")
    a = doc["benchmarks"]["opinionqa"]["per_group"]["Overall"]
    assert doc2["benchmarks"]["opinionqa"]["per_group"]["Overall"] != pytest.approx(a, abs=1e-9)
