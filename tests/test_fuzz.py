"""Fuzz: a few hundred seeded hostile manifest lines and media files through verbalize and build_dataset.

Every good row is kept, every broken media item is an error row, every malformed line is counted once with
its number (a line over the line bound too), every 401-digit integer drops its field and every over-long string
is cut, both counted, nothing non-finite reaches the samples, no temp file is left, and both commands exit 0.
"""

import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from ava.manifest import MAX_FIELD_CHARS
from ava.verbalize.pipeline import verbalize
from tests.build_dataset.helpers import leftovers
from tests.fuzz import make_inputs
from tests.helpers import compose_verbalize, read_split

# two worker processes: the files shared by many ads are shared across them (ava/verbalize/shared.py)
LIGHT = ["vision=none", "ocr=none", "asr=none", "faces=none", "progress=false", "executor.workers=2",
         "shard_size=32"]


@pytest.mark.parametrize("seed", [0, 1])
def test_fuzzed_inputs_keep_every_good_row(tmp_path, seed):
    exp = make_inputs(tmp_path, seed, n_lines=300)
    out = tmp_path / "verb"
    summary = verbalize(compose_verbalize([f"input={exp.manifest}", f"output_dir={out}", *LIGHT]))
    rows = {(r["ad_id"], r["media_path"]): r for r in pq.read_table(out / "verbalized").to_pylist()}
    assert summary["ads"] == exp.ads and summary["ads"] + len(summary["manifest_errors"]) == exp.lines
    assert len({e["line"] for e in summary["manifest_errors"]}) == len(summary["manifest_errors"])
    assert {k for k, r in rows.items() if r["status"] == "ok"} == exp.ok_media
    assert {k for k, r in rows.items() if r["status"] == "error"} == exp.bad_media
    assert "internal" not in summary["error_kinds"]
    assert summary["notes"].get("shared_file") and not list((out / "verbalized").glob(".*"))
    by_name = {}
    for (_, path), r in rows.items():
        by_name.setdefault(path.rsplit("/", 1)[-1], []).append(r)
    assert all(r["media_type"] == "video" and r["phash"] for n in ("anim.gif", "anim.webp") for r in by_name[n])
    assert all((r["width"], r["height"]) == (24, 40) for r in by_name["sideways.jpg"])
    assert all(r["error_kind"] == "format_refused" for r in by_name["poster.jpg"])

    ds = tmp_path / "ds"
    proc = subprocess.run([sys.executable, "-m", "ava.build_dataset", f"manifest={exp.manifest}",
                           f"verbalized={out}", f"output_dir={ds}", "dataset_tasks.generators.ts.enabled=false",
                           "dataset_tasks.generators.tc.enabled=false"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    build = json.loads((ds / "build_summary.json").read_text())
    assert build["counts"]["ads_read"] == exp.ads
    assert sorted(e["line"] for e in build["manifest_errors"]) == sorted(e["line"] for e in summary["manifest_errors"])
    too_long = {e["line"] for e in build["manifest_errors"] if "line too long" in e["error"]}
    assert exp.too_long and too_long == exp.too_long
    assert +exp.huge_fields and +exp.long_fields  # the seed made both shapes
    for name, n in exp.huge_fields.items():
        assert build["counts"].get(f"normalised.{name}: non-finite number dropped", 0) == n, name
    for name, n in exp.long_fields.items():
        assert build["counts"].get(f"normalised.{name}: cut to {MAX_FIELD_CHARS} characters", 0) == n, name
    samples = [s for split in ("train", "val") for s in read_split(ds / f"{split}.jsonl")]  # strict: no NaN
    assert exp.good_ids <= {i for s in samples for i in s["meta"]["source"]["ad_ids"]}
    assert not leftovers(ds)
