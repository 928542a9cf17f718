"""ava.jsonl: the one JSON-lines reader, line by line against hand-stated outcomes, and every reader built on it."""

from __future__ import annotations

import codecs
import json
import math

import pytest

from ava.evaluate.behaviour.outputs import read_outputs
from ava.evaluate.predictions import PredictionsError
from ava.jsonl import LineError, iter_jsonl
from ava.manifest import ManifestError, iter_manifest
from ava.sample import DatasetError, read_samples
from ava.train.callbacks import read_metrics

DEEP = b"[" * 100_000 + b"]" * 100_000
LINES = [
    b'{"id": "1", "media": []}',
    b"",
    b"   ",
    b'{"id": "2", "x": NaN}',
    b'{"id": "3", "x": -Infinity}',
    b'{"id": "4", "x": "\xff\xfe"}',
    DEEP,
    b'[1, 2]',
    b'{"id": "5", "x": 1.5}   ',
    b'{"id": "6"',
    b'{"id": "7", "s": "caf\xc3\xa9"}',
]


def _write(path, lines: list[bytes]):
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_reader_hand_checked_line_by_line(tmp_path):
    path = _write(tmp_path / "a.jsonl", LINES)
    got = dict(iter_jsonl(path))
    assert list(got) == [1, 4, 5, 6, 7, 8, 9, 10, 11]  # blank lines 2 and 3 are skipped, numbering kept
    assert got[1] == {"id": "1", "media": []} and got[8] == [1, 2] and got[9] == {"id": "5", "x": 1.5}
    assert got[11] == {"id": "7", "s": "caf\u00e9"}
    kinds = {n: (r.kind, r.line) for n, r in got.items() if isinstance(r, LineError)}
    assert kinds == {4: ("non_finite", 4), 5: ("non_finite", 5), 6: ("not_utf8", 6), 7: ("too_deep", 7),
                     10: ("malformed", 10)}
    # the manifest says what is wrong with each line (and refuses the list on line 8: not an ad)
    messages = {e.line: e.error for e in iter_manifest(path) if isinstance(e, ManifestError)}
    assert messages[4] == "malformed JSON: non-finite number NaN is not valid JSON"
    assert messages[5] == "malformed JSON: non-finite number -Infinity is not valid JSON"
    assert messages[6].startswith("not UTF-8: ") and "0xff" in messages[6]
    assert messages[7] == "malformed JSON: nested deeper than the parser's stack"
    assert messages[8] == "expected a JSON object, got list"
    assert messages[10].startswith("malformed JSON: Expecting ',' delimiter")
    assert set(messages) == {4, 5, 6, 7, 8, 10}


def test_allow_nan_keeps_the_constants(tmp_path):
    path = _write(tmp_path / "m.jsonl", [b'{"loss": NaN}', b'{"loss": Infinity}'])
    got = [r for _, r in iter_jsonl(path, allow_nan=True)]
    assert math.isnan(got[0]["loss"]) and got[1]["loss"] == math.inf


def test_bom_at_the_start_is_accepted_and_only_there(tmp_path):
    path = _write(tmp_path / "b.jsonl", [codecs.BOM_UTF8 + b'{"id": "1"}', codecs.BOM_UTF8 + b'{"id": "2"}'])
    first, second = list(iter_jsonl(path))
    assert first == (1, {"id": "1"})
    assert isinstance(second[1], LineError) and second[1].kind == "malformed"


def _sample(i: int) -> dict:
    return {"id": f"s{i}", "task": "t", "messages": [{"role": "user", "content": "q"},
                                                     {"role": "assistant", "content": "a"}]}


def test_bom_file_loses_no_line_in_any_reader(tmp_path):
    bom = codecs.BOM_UTF8
    manifest = _write(tmp_path / "ads.jsonl", [bom + b'{"id": "1"}', b'{"id": "2"}'])
    assert [a.id for a in iter_manifest(manifest)] == ["1", "2"]
    data = _write(tmp_path / "train.jsonl", [bom + json.dumps(_sample(0)).encode(), json.dumps(_sample(1)).encode()])
    assert [s["id"] for s in read_samples(data)] == ["s0", "s1"]
    outputs = _write(tmp_path / "o.jsonl", [bom + b'{"id": "s0", "output": "x"}', b'{"id": "s1", "output": "y"}'])
    assert read_outputs(outputs, ["s0", "s1"]) == {"s0": "x", "s1": "y"}
    metrics = _write(tmp_path / "metrics.jsonl", [bom + b'{"step": 1, "loss": NaN}', b'{"step": 2, "loss": 1.0}'])
    assert [r["step"] for r in read_metrics(metrics)] == [1, 2]


def test_callers_keep_their_error_types(tmp_path):
    with pytest.raises(DatasetError, match=r"train.jsonl:2: not valid JSON \(RecursionError"):
        read_samples(_write(tmp_path / "train.jsonl", [json.dumps(_sample(0)).encode(), DEEP]))
    with pytest.raises(DatasetError, match=r"train.jsonl:1: not UTF-8"):
        read_samples(_write(tmp_path / "train.jsonl", [b'{"id": "\xff"}']))
    with pytest.raises(PredictionsError, match=r"line 1: malformed JSON \(RecursionError"):
        read_outputs(_write(tmp_path / "o.jsonl", [DEEP]), ["s0"])


HUGE = "1" + "0" * 400  # 401 digits: valid JSON, beyond any float


def test_huge_integers_are_non_finite_not_overflow(tmp_path):
    lines = [f'{{"n": {HUGE}}}', f'{{"n": -{HUGE}}}', '{"n": 1e400}', f'{{"n": {"9" * 5000}}}',
             f'{{"n": {"9" * 300}}}', '{"n": 12345678901234567890}']
    got = [r["n"] for _, r in iter_jsonl(_write(tmp_path / "h.jsonl", [x.encode() for x in lines]))]
    assert got[:4] == [math.inf, -math.inf, math.inf, math.inf]  # 5000 digits: not Python's int-string limit error
    assert got[4] == int("9" * 300) and got[5] == 12345678901234567890  # within float range: exact integers
    assert [type(g) for g in got] == [float] * 4 + [int] * 2


def test_line_over_the_limit_is_skipped_without_reading_it(tmp_path):
    import tracemalloc

    big = b'{"id": "big", "x": "' + b"y" * (32 * 2**20) + b'"}'
    path = _write(tmp_path / "big.jsonl", [b'{"id": "1"}', big, b'{"id": "3"}', b"z" * 100])
    tracemalloc.start()
    got = list(iter_jsonl(path, max_line_bytes=100))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert got[0] == (1, {"id": "1"}) and got[2] == (3, {"id": "3"}) and got[3][1].kind == "malformed"
    assert got[1][0] == 2 and got[1][1].kind == "too_long" and got[1][1].exc.size == len(big) + 1
    assert peak < 4 * 2**20, peak  # a 32 MiB line, skipped in 1 MiB chunks: never held whole
    messages = {e.line: e.error for e in iter_manifest(path) if isinstance(e, ManifestError)}
    assert messages[2].startswith(f"line too long: {len(big) + 1:,} bytes, over max_line_bytes=1,048,576")
