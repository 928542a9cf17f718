"""Helpers shared by the build_dataset tests: the composed config, the behaviour config as
conf/build_dataset.yaml gives it, and a textbook word-level Levenshtein (the output reader is
tests.helpers.read_split), and what a build left behind in its folder."""

from pathlib import Path

from hydra import compose, initialize_config_module

from ava.build_dataset.behaviour import BehaviourConfig
from ava.lock import LOCK_NAME


def cfg_for(tmp_path, manifest, verbalized=None, dedup=None, out="out", extra=()):
    overrides = [f"manifest={manifest}", f"verbalized={verbalized if verbalized else 'null'}",
                 f"dedup={dedup if dedup else 'null'}", f"output_dir={tmp_path / out}",
                 "dataset_tasks.generators.ts.enabled=false", *extra]
    with initialize_config_module("ava_conf", version_base="1.3"):
        return compose("build_dataset", overrides=overrides)


def _behaviour_cfg() -> BehaviourConfig:
    with initialize_config_module("ava_conf", version_base="1.3"):
        return BehaviourConfig.from_cfg(compose("build_dataset", overrides=["manifest=m", "output_dir=o"]).behaviour)


BEHAVIOUR_CFG = _behaviour_cfg()  # the shipped buckets (conf/audience/ad_library.yaml), tolerance, aliases


def reference_levenshtein(x, y):
    """Levenshtein distance over words by the textbook Wagner-Fischer dynamic programme (the reference rapidfuzz's
    thresholded distance is compared with)."""
    prev = list(range(len(y) + 1))
    for i, wx in enumerate(x, start=1):
        cur = [i]
        for j, wy in enumerate(y, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (wx != wy)))
        prev = cur
    return prev[-1]


def leftovers(folder) -> list[str]:
    """The hidden files and folders a build left in ``folder`` (temp files, scratch), besides its lock file, which
    stays by design (ava/lock.py)."""
    return sorted(p.name for p in Path(folder).iterdir() if p.name.startswith(".") and p.name != LOCK_NAME)
