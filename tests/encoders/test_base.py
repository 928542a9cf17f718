"""The encoder protocol (ava/encoders/base.py): config order, resolution, one bad item, no torch without CLIP."""

import json
import os
import shutil
import subprocess
import sys

import pyarrow.parquet as pq

from ava.encoders.base import Encoder, Weights, resolve_encoders
from ava.verbalize.pipeline import verbalize
from tests.helpers import compose_verbalize


def test_encoders_come_from_config_in_order():
    cfg = compose_verbalize(["faces=none"])
    keys = [r.key for r in resolve_encoders(cfg.encoders) if r.key not in ("vision", "caption")]  # hub-dependent
    assert keys == ["ocr", "audio", "asr", "colours", "phash"]
    assert resolve_encoders(compose_verbalize(["ocr=none", "asr=none", "faces=none", "colours=none", "phash=none",
                                               "vision=none", "audio=none", "caption=none"]).encoders) == []


class FailsOnCourse(Encoder):
    """An encoder that breaks on one file: the rest of the batch must still get their fields."""

    def __init__(self, device="cpu", threads=0):
        self.name = "fails-on-course"

    @classmethod
    def resolve(cls, cfg):
        return Weights("fails-on-course", "none")

    def encode(self, items):
        for item in items:
            if item.row["media_path"].endswith("course.png"):
                raise ValueError("cannot read this one")
            item.row["faces"] = 7


def test_one_item_that_breaks_an_encoder_fails_alone(tmp_path):
    cfg = compose_verbalize([f"output_dir={tmp_path}", "ocr=none", "asr=none", "vision=none", "progress=false",
                             "executor.workers=0", f"+encoders.broken._target_={__name__}.FailsOnCourse"])
    summary = verbalize(cfg)
    assert summary["encoders"]["broken"] == "fails-on-course"
    rows = {r["media_path"]: r for r in pq.read_table(tmp_path / "verbalized").to_pylist()}
    bad = rows["media/course.png"]
    assert bad["status"] == "error" and bad["error_kind"] == "internal"
    assert "fails-on-course" in bad["error"] and "cannot read this one" in bad["error"]
    assert all(r["status"] == "ok" and r["faces"] == 7 for p, r in rows.items() if p != "media/course.png")


PROBE = """
import json, sys
from ava.verbalize.pipeline import verbalize
from tests.helpers import compose_verbalize
summary = verbalize(compose_verbalize(sys.argv[1:]))
print(json.dumps({"torch": "torch" in sys.modules, "open_clip": "open_clip" in sys.modules,
                  "encoders": summary["encoders"], "ok": summary["items"]["ok"]}))
"""


def test_no_torch_without_clip(tmp_path, samples_dir):
    """vision=none, and the default CLIP with no weights to be had, import neither torch nor open_clip."""
    (tmp_path / "ads.jsonl").write_text(json.dumps({"id": "1", "media": ["ad.png"]}) + "\n")
    shutil.copy(samples_dir / "media" / "summer_sale.png", tmp_path / "ad.png")
    base = [f"input={tmp_path / 'ads.jsonl'}", "ocr=none", "asr=none", "progress=false", "executor.workers=0"]
    for extra in (["vision=none"], []):
        out = subprocess.run([sys.executable, "-c", PROBE, *base, f"output_dir={tmp_path / str(len(extra))}",
                              *extra], capture_output=True, text=True, check=True, cwd=samples_dir.parents[1],
                             env={**os.environ, "HF_HUB_OFFLINE": "1"})
        got = json.loads(out.stdout.strip().splitlines()[-1])
        assert got["ok"] == 1 and "vision" not in got["encoders"], got
        assert got["torch"] is False and got["open_clip"] is False, got
