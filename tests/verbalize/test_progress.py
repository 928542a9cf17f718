"""The progress bar knows its total: the manifest's shards, counted before the run, skipped ones included."""

import json

from ava.jsonl import count_records
from ava.verbalize.pipeline import verbalize
from tests.helpers import compose_verbalize

OFF = ["vision=none", "ocr=none", "asr=none", "audio=none", "faces=none", "colours=none", "phash=none",
       "caption=none", "executor.workers=0"]


def test_count_records_counts_what_iter_jsonl_yields(tmp_path):
    path = tmp_path / "ads.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"id": 1}\n\n   \n{"id": 2}\nnot json\n\xef\xbb\xbf\n{"id": 3}')
    assert count_records(path) == 4  # blank lines and a lone BOM skipped; a malformed line counts


def test_bar_shows_shards_of_the_manifest_and_reaches_them_on_resume(tmp_path, capsys):
    manifest = tmp_path / "ads.jsonl"
    manifest.write_text("".join(json.dumps({"id": str(i), "media": ["missing.png"]}) + "\n" for i in range(5)))
    args = [f"input={manifest}", f"output_dir={tmp_path / 'out'}", "shard_size=2", "progress=true", *OFF]
    verbalize(compose_verbalize(args))
    err = capsys.readouterr().err
    assert "3/3 [" in err and "items=5" in err, err  # 5 lines in shards of 2

    manifest.write_text(manifest.read_text() + json.dumps({"id": "5", "media": ["missing.png"]}) + "\n"
                        + json.dumps({"id": "6", "media": ["missing.png"]}) + "\n")
    verbalize(compose_verbalize(args))  # shards 0 and 1 are done; 2 changed, 3 is new
    err = capsys.readouterr().err
    assert "4/4 [" in err and "items=3" in err, err
