"""benchmark=behaviour end to end: precomputed answers (no model), the tiny Llama with and without a LoRA
adapter (base vs adapter in one report), re-scoring a run's own outputs, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from peft import LoraConfig, get_peft_model

from ava.evaluate.behaviour.generate import generate, prompt_text, reply_perplexities
from ava.evaluate.predictions import PredictionsError
from ava.evaluate.run import evaluate
from ava.models.load import load_model_and_tokenizer
from ava.sample import DatasetError, check
from tests.evaluate import behaviour_samples as bs
from tests.evaluate import fixtures


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return bs.write_dataset(tmp_path_factory.mktemp("behaviour"))


def _answers() -> dict[str, str]:
    """Hand-written answers: right, wrong, and unparseable ones, for every task of the validation split."""
    return {"g0": "Women.", "g1": "Female, mostly", "a0": "the audience aged 25 to 34", "a1": "I do not know",
            "r0": "New York, Vermont and Ohio", "r1": "Texas", "b0": "about $150", "b1": "100-199 USD",
            "i0": "5000-9999", "i1": "1M+", "s0": "option 2", "s1": "none",
            "t0": "Title: Fresh bread 0\nContent: Our bakery opens at seven every morning with warm bread.",
            "pTS-B0": "Title: Your vote counts\nContent: Polls open seven to eight."}  # pTC-A0: missing


def test_precomputed_scores_every_task_and_counts_missing_and_unparseable(dataset, tmp_path):
    preds = fixtures.write_jsonl(tmp_path / "p.jsonl", [{"id": k, "output": v} for k, v in _answers().items()])
    out = tmp_path / "out"
    doc = evaluate(fixtures.compose_cfg(["benchmark=behaviour", f"data={dataset}", "model=precomputed",
                                         f"model.predictions={preds}", f"output_dir={out}"]))
    tasks = doc["benchmarks"]["behaviour"]["tasks"]
    assert doc["mode"] == "precomputed" and doc["benchmarks"]["behaviour"]["systems"] == ["precomputed"]
    assert set(tasks) == {"TAP-G", "TAP-A", "TAP-R", "TAP-B", "TAP-I", "AS", "TAG-G", "TS-B", "TC-A"}
    m = {t: d["systems"]["precomputed"] for t, d in tasks.items()}
    assert m["TAP-G"]["metrics"]["accuracy"] == 0.5 and m["TAP-G"]["unparseable"] == 0
    assert m["TAP-A"]["metrics"]["accuracy"] == 0.5 and m["TAP-A"]["unparseable"] == 1
    assert m["TAP-R"]["metrics"]["top_k_overlap"] == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert m["TAP-R"]["metrics"]["first_state_accuracy"] == 0.5  # r1: Texas first
    assert m["TAP-B"]["metrics"] == {"range_accuracy": 0.5, "exact_range_accuracy": 0.0}
    assert m["TAP-I"]["metrics"] == {"range_accuracy": 1.0, "exact_range_accuracy": 1.0}  # 1M+ is 1000000+
    assert m["AS"]["metrics"]["accuracy"] == 0.5 and m["AS"]["unparseable"] == 1
    assert m["TAG-G"]["metrics"]["ROUGE-Lsum"] == pytest.approx(100.0)
    assert m["TAG-G"]["metrics"]["BLEU-4"] == pytest.approx(100.0) and m["TAG-G"]["metrics"]["ppl_target"] is None
    assert m["TC-A"]["missing"] == 1 and m["TC-A"]["metrics"]["ROUGE-Lsum"] == 0.0
    assert m["TS-B"]["metrics"]["delta_ppl"] is None  # no model: no perplexities
    assert tasks["TAP-G"]["baselines"] == {"random": {"accuracy": 0.5}, "majority": {"accuracy": 0.5}}
    assert tasks["TAG-G"]["baselines"] == {}
    report = (out / "report.md").read_text()
    assert "| TAP-A | 2 | accuracy | 0.1429 | 0.5000 | 0.5000 | precomputed 1 |" in report
    assert (out / "plots" / "behaviour_tasks.png").stat().st_size > 0
    assert json.loads((out / "results.json").read_text())["benchmarks"]["behaviour"]["tasks"].keys() == tasks.keys()


def test_precomputed_bad_lines_are_named(dataset, tmp_path):
    bad = fixtures.write_jsonl(tmp_path / "bad.jsonl", ['{"id": "g0", "output": "Women"}', "not json",
                                                        '{"id": "nope", "output": "x"}', '{"id": "g0", "output": "x"}',
                                                        '{"id": "g1", "output": 3}'])
    cfg = fixtures.compose_cfg(["benchmark=behaviour", f"data={dataset}", "model=precomputed",
                                f"model.predictions={bad}", f"output_dir={tmp_path / 'o'}"])
    with pytest.raises(PredictionsError) as err:
        evaluate(cfg)
    msg = str(err.value)
    assert "4 bad line(s)" in msg and "line 2: malformed JSON" in msg and "line 3: unknown sample id 'nope'" in msg
    assert "line 4: duplicate output for id 'g0'" in msg and "line 5: 'output' must be a string" in msg
    with pytest.raises(DatasetError, match=r"neither .*val\.jsonl nor its shards .*val-NNNNN\.jsonl\.zst exist"):
        evaluate(fixtures.compose_cfg(["benchmark=behaviour", f"data={tmp_path}", "model=precomputed",
                                       f"model.predictions={bad}"]))


def test_a_sample_without_target_is_named(tmp_path):
    rows = bs.val_samples()
    del rows[1]["target"]
    assert check(rows[1]) is None and "no 'target' object" in check(rows[1], need_target=True)
    (tmp_path / "val.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    preds = fixtures.write_jsonl(tmp_path / "p.jsonl", [{"id": rows[0]["id"], "output": "x"}])
    with pytest.raises(DatasetError, match=r"val.jsonl:2: no 'target' object"):
        evaluate(fixtures.compose_cfg(["benchmark=behaviour", f"data={tmp_path}", "model=precomputed",
                                       f"model.predictions={preds}", f"output_dir={tmp_path / 'o'}"]))


TINY_ARGS = ["model=tiny", "behaviour.max_new_tokens={TAP: 6, AS: 6, TAG: 8, TS: 8, TC: 8}", "batch_size=4"]


def test_tiny_model_base_vs_adapter_and_rescoring_its_outputs(dataset, tmp_path):
    base_cfg = fixtures.compose_cfg(["benchmark=behaviour", f"data={dataset}", *TINY_ARGS,
                                     f"output_dir={tmp_path / 'base'}"])
    doc = evaluate(base_cfg)
    b = doc["benchmarks"]["behaviour"]
    assert b["systems"] == ["base"] and doc["chat_template"] is True
    ts = b["tasks"]["TS-B"]["systems"]["base"]
    assert ts["delta_ppl_samples"] == 1 and ts["metrics"]["ppl_target"] > 1 and ts["metrics"]["delta_ppl"] is not None
    rows = [json.loads(line) for line in (tmp_path / "base" / "outputs_base.jsonl").read_text().splitlines()]
    assert len(rows) == len(bs.val_samples())

    # the run's own outputs, scored again without the model, give the same scores
    again = evaluate(fixtures.compose_cfg(["benchmark=behaviour", f"data={dataset}", "model=precomputed",
                                           f"model.predictions={tmp_path / 'base' / 'outputs_base.jsonl'}",
                                           f"output_dir={tmp_path / 'again'}"]))
    for task, d in b["tasks"].items():
        want = {k: v for k, v in d["systems"]["base"]["metrics"].items() if k not in ("ppl_target", "delta_ppl")}
        got = {k: v for k, v in again["benchmarks"]["behaviour"]["tasks"][task]["systems"]["precomputed"]
               ["metrics"].items() if k not in ("ppl_target", "delta_ppl")}
        assert got == want, task

    model, _ = load_model_and_tokenizer(base_cfg.model, device="cpu")
    torch.manual_seed(0)
    peft = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    peft.save_pretrained(tmp_path / "adapter")
    doc2 = evaluate(fixtures.compose_cfg(["benchmark=behaviour", f"data={dataset}", *TINY_ARGS,
                                          f"adapter={tmp_path / 'adapter'}", f"output_dir={tmp_path / 'lora'}"]))
    b2 = doc2["benchmarks"]["behaviour"]
    assert b2["systems"] == ["base", "adapter"]
    # the base system of the adapter run is the plain model: same answers as the run without an adapter
    base_rows = (tmp_path / "lora" / "outputs_base.jsonl").read_text()
    assert base_rows == (tmp_path / "base" / "outputs_base.jsonl").read_text()
    assert (tmp_path / "lora" / "outputs_adapter.jsonl").read_text() != base_rows
    assert "| base | adapter |" in (tmp_path / "lora" / "report.md").read_text()


def test_generation_and_perplexity_match_unbatched_references():
    from omegaconf import OmegaConf

    model, tok = load_model_and_tokenizer(OmegaConf.create({"name_or_path": "tiny", "dtype": "float32",
                                                            "tiny": {"seed": 0}}), device="cpu")
    samples = [bs.tap_g(0, "female"), bs.tag(0), bs.pair(0, "TS-B")]
    prompts = [prompt_text(tok, s["messages"]) for s in samples]
    assert prompts[0].endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    assert bs.SYSTEM in prompts[0] and samples[0]["messages"][-1]["content"] not in prompts[0]
    got = generate(model, tok, prompts, 5, batch_size=3)
    ppl = reply_perplexities(model, tok, prompts, [s["messages"][-1]["content"] for s in samples], batch_size=3)
    for p, text, value, s in zip(prompts, got, ppl, samples, strict=True):
        ids = torch.tensor([tok.encode(p, add_special_tokens=False)])
        with torch.no_grad():
            ref = model.generate(ids, max_new_tokens=5, do_sample=False, pad_token_id=tok.pad_token_id)
        assert text == tok.decode(ref[0, ids.shape[1]:], skip_special_tokens=True).strip()
        ans = tok.encode(s["messages"][-1]["content"], add_special_tokens=False)
        full = torch.tensor([ids[0].tolist() + ans])
        with torch.no_grad():
            logp = torch.log_softmax(model(full).logits[0].double(), dim=-1)
        nll = -sum(logp[ids.shape[1] - 1 + j, t].item() for j, t in enumerate(ans)) / len(ans)
        assert value == pytest.approx(torch.tensor(nll).exp().item(), rel=1e-4)


def test_python_m_ava_evaluate_behaviour_precomputed(dataset, tmp_path):
    preds = fixtures.write_jsonl(tmp_path / "p.jsonl", [{"id": "g0", "output": "Female"}])
    proc = subprocess.run([sys.executable, "-m", "ava.evaluate", "benchmark=behaviour", f"data={dataset}",
                           "model=precomputed", f"model.predictions={preds}", f"output_dir={tmp_path / 'out'}"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    g = doc["benchmarks"]["behaviour"]["tasks"]["TAP-G"]["systems"]["precomputed"]
    assert g["metrics"]["accuracy"] == 0.5 and g["missing"] == 1
