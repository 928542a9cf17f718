import json
from pathlib import Path

import pytest

from ava.manifest import Ad, ManifestError, MediaPathError, iter_manifest, resolve_media


def test_malformed_lines_are_reported_with_line_numbers(tmp_path):
    path = tmp_path / "ads.jsonl"
    lines = [
        json.dumps({"id": "1", "media": ["a.png"]}),
        "{not json",
        "",
        json.dumps([1, 2]),
        json.dumps({"page_name": "no id"}),
        json.dumps({"id": "5", "media": "a.png"}),
        '{"id": "6", "x": NaN}',
        json.dumps({"id": 7, "unknown_field": {"kept": True}}),
    ]
    path.write_bytes(("\n".join(lines) + "\n").encode() + b"\xff\xfe\n")
    out = list(iter_manifest(path))
    assert [type(e).__name__ for e in out] == ["Ad", "ManifestError", "ManifestError", "ManifestError",
                                               "ManifestError", "ManifestError", "Ad", "ManifestError"]
    errors = {e.line: e.error for e in out if isinstance(e, ManifestError)}
    assert set(errors) == {2, 4, 5, 6, 7, 9}  # line 3 is blank: skipped, but still counted
    assert "malformed JSON" in errors[2]
    assert "JSON object" in errors[4]
    assert "'id'" in errors[5]
    assert "'media'" in errors[6]
    assert "non-finite" in errors[7]
    assert "UTF-8" in errors[9]
    last = out[6]
    assert isinstance(last, Ad) and last.id == "7" and last.record["unknown_field"] == {"kept": True}
    assert last.media == []


def test_missing_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="manifest not found"):
        list(iter_manifest(tmp_path / "nope.jsonl"))


@pytest.mark.parametrize("rel", ["../secret.png", "a/../../secret.png", "/etc/passwd", "", "  "])
def test_paths_leaving_the_root_are_refused(tmp_path, rel):
    with pytest.raises(MediaPathError):
        resolve_media(tmp_path, rel)


def test_symlink_out_of_the_root_is_refused(tmp_path):
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"x")
    root = tmp_path / "root"
    root.mkdir()
    (root / "link.png").symlink_to(outside)
    with pytest.raises(MediaPathError, match="leaves the data root"):
        resolve_media(root, "link.png")


def test_paths_inside_the_root_resolve(tmp_path):
    assert resolve_media(tmp_path, "media/./x.png") == Path(tmp_path).resolve() / "media" / "x.png"


def test_deep_nesting_and_lone_surrogates_are_malformed_lines(tmp_path):
    """A line nested 100,000 deep (RecursionError) and lone surrogates json.loads accepts but Parquet cannot
    write, in a value or a key: each is that line's ManifestError; the good lines around them are kept."""
    path = tmp_path / "ads.jsonl"
    lines = [
        json.dumps({"id": "1"}),
        '{"id": "2", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"id": "3", "page_name": "Shop \\ud800"}',
        '{"id": "4", "ad_creative_bodies": ["ok", "bad \\udfff"]}',
        '{"id": "5", "\\ud800": 1}',
        json.dumps({"id": "6", "page_name": "Caf\u00e9 \U0001f600"}),  # a proper surrogate pair is fine
    ]
    path.write_text("\n".join(lines) + "\n")
    out = list(iter_manifest(path))
    assert [e.id for e in out if isinstance(e, Ad)] == ["1", "6"]
    errors = {e.line: e.error for e in out if isinstance(e, ManifestError)}
    assert "nested deeper" in errors[2]
    assert errors[3] == "lone surrogate (not encodable as UTF-8) in field 'page_name'"
    assert errors[4] == "lone surrogate (not encodable as UTF-8) in field 'ad_creative_bodies[1]'"
    assert "lone surrogate" in errors[5]
