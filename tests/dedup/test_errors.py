"""python -m ava.dedup: every bad input gets a clear error naming the problem and the fix."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ava.dedup.load import DedupInputError
from ava.dedup.run import dedup
from tests.dedup.helpers import EMBEDDING_SCHEMA, cfg_for, rows_for, write_verbalized


def _unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _run(src, tmp_path, *overrides):
    return dedup(cfg_for(src, tmp_path / "out", *overrides))


def test_missing_input_folder(tmp_path):
    with pytest.raises(
        DedupInputError, match=r"verbalized does not exist.*output_dir of `python -m ava.verbalize`"
    ):
        _run(tmp_path / "nowhere", tmp_path)


def test_no_shards(tmp_path):
    (tmp_path / "in" / "verbalized").mkdir(parents=True)
    with pytest.raises(DedupInputError, match=r"no \*\.parquet shards.*run `python -m ava.verbalize` first"):
        _run(tmp_path / "in", tmp_path)


def test_missing_columns(tmp_path):
    rows = [{"ad_id": "a", "status": "ok", "embedding": [1.0, 0.0]}]
    src = write_verbalized(tmp_path / "in", rows)
    with pytest.raises(DedupInputError, match=r"lacks column\(s\) \['media_path'\]"):
        _run(src, tmp_path)
    with pytest.raises(DedupInputError, match=r"lacks column\(s\) \['media_path', 'phash'\]"):
        _run(src, tmp_path, "method=phash")


def test_no_ok_rows(tmp_path):
    src = write_verbalized(
        tmp_path / "in", rows_for(_unit(3, 4), status=["error"] * 3), schema=EMBEDDING_SCHEMA
    )
    with pytest.raises(DedupInputError, match=r"no rows with status == 'ok'.*3 rows in all"):
        _run(src, tmp_path)


def test_empty_shard(tmp_path):
    src = write_verbalized(tmp_path / "in", [], schema=EMBEDDING_SCHEMA)
    with pytest.raises(DedupInputError, match="no rows with status == 'ok'"):
        _run(src, tmp_path)


def test_all_embeddings_null_points_to_phash(tmp_path):
    rows = rows_for([None, None], phashes=["0" * 16, "f" * 16])
    src = write_verbalized(tmp_path / "in", rows, schema=EMBEDDING_SCHEMA)
    with pytest.raises(DedupInputError, match=r"all 2 ok rows have a null embedding.*use method=phash"):
        _run(src, tmp_path)
    assert _run(src, tmp_path, "method=phash").clusters == 2  # the suggested fix works


def test_mixed_dimensions(tmp_path):
    rows = rows_for([*_unit(2, 4), *_unit(1, 8)])
    src = write_verbalized(tmp_path / "in", rows, schema=EMBEDDING_SCHEMA)
    with pytest.raises(DedupInputError, match=r"mixed dimension \[4, 8\].*ad_id='ad2'"):
        _run(src, tmp_path)


def test_nan_embedding(tmp_path):
    x = _unit(4, 4)
    x[2, 1] = np.nan
    src = write_verbalized(tmp_path / "in", rows_for(x), schema=EMBEDDING_SCHEMA)
    with pytest.raises(
        DedupInputError, match=r"embedding with NaN or inf at row 2 \(ad_id='ad2'"
    ):
        _run(src, tmp_path)


def test_null_inside_embedding_list(tmp_path):
    rows = rows_for(_unit(2, 3))
    rows[1]["embedding"] = [0.5, None, 0.5]
    src = write_verbalized(tmp_path / "in", rows, schema=EMBEDDING_SCHEMA)
    with pytest.raises(DedupInputError, match="embedding lists contain null values"):
        _run(src, tmp_path)


def test_zero_embedding(tmp_path):
    x = _unit(3, 4)
    x[1] = 0
    src = write_verbalized(tmp_path / "in", rows_for(x), schema=EMBEDDING_SCHEMA)
    with pytest.raises(DedupInputError, match="zero embedding at row 1"):
        _run(src, tmp_path)


def test_wrong_embedding_type(tmp_path):
    rows = [{**r, "embedding": "0.1,0.2"} for r in rows_for(_unit(2, 2))]
    src = write_verbalized(tmp_path / "in", rows)
    with pytest.raises(DedupInputError, match="has type string, expected list<float32>"):
        _run(src, tmp_path)


@pytest.mark.parametrize("bad", ["abc", "zz" * 8, "0" * 15 + "1f"])
def test_malformed_phash(tmp_path, bad):
    src = write_verbalized(tmp_path / "in", rows_for(phashes=["0" * 16, bad]))
    with pytest.raises(DedupInputError, match=r"malformed phash at row 1 \(ad_id='ad1'"):
        _run(src, tmp_path, "method=phash")


def test_all_phash_null(tmp_path):
    rows = rows_for(_unit(2, 4), phashes=[None, None])
    src = write_verbalized(tmp_path / "in", rows, schema=EMBEDDING_SCHEMA)
    with pytest.raises(DedupInputError, match="all 2 ok rows have a null phash.*use method=embedding"):
        _run(src, tmp_path, "method=phash")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["threshold=1.5"], r"cosine similarity in \(0, 1\]"),
        (["method=phash", "threshold=0.9"], r"whole number of Hamming bits in \[0, 63\]"),
        (["device=tpu"], "device='tpu': use auto, cpu or cuda"),
    ],
)
def test_bad_settings(tmp_path, overrides, message):
    src = write_verbalized(
        tmp_path / "in", rows_for(_unit(3, 4), phashes=["0" * 16] * 3), schema=EMBEDDING_SCHEMA
    )
    with pytest.raises(ValueError, match=message):
        _run(src, tmp_path, *overrides)


def test_unknown_method_lists_the_known_ones(tmp_path):
    from hydra.errors import MissingConfigException

    known = r"(?s)method/clip.*Available options in 'method':\s+embedding\s+phash"
    with pytest.raises(MissingConfigException, match=known):
        cfg_for(tmp_path / "in", tmp_path / "out", "method=clip")


def test_non_unit_embeddings_are_normalised_loudly(tmp_path, capsys):
    x = _unit(4, 4) * 3.0
    x[1] = x[0] * 0.5  # same direction, other norm: a duplicate at cosine 1
    src = write_verbalized(tmp_path / "in", rows_for(x), schema=EMBEDDING_SCHEMA)
    assert _run(src, tmp_path).clusters == 3
    assert "not unit-norm" in capsys.readouterr().err


def test_embedding_column_all_null_type(tmp_path):
    rows = [{**r, "embedding": None} for r in rows_for(_unit(2, 2))]
    src = write_verbalized(
        tmp_path / "in",
        rows,
        schema=pa.schema(
            [
                ("ad_id", pa.string()),
                ("media_path", pa.string()),
                ("status", pa.string()),
                ("embedding", pa.null()),
            ]
        ),
    )
    with pytest.raises(DedupInputError, match="neither an embedding nor a pHash"):  # no phash column either
        _run(src, tmp_path)


def test_huge_embeddings_do_not_overflow_the_norm(tmp_path):
    """Values near float32's maximum: the plain float32 norm is inf (all rows would become zero vectors)."""
    x = _unit(4, 8, seed=3)
    big = x / np.abs(x).max(axis=1, keepdims=True) * np.float32(3e38)
    big[1] = big[0]  # an exact duplicate of row 0
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.linalg.norm(big, axis=1)).any()  # the overflow this guards against
    src = write_verbalized(tmp_path / "in", rows_for(big), schema=EMBEDDING_SCHEMA)
    summary = _run(src, tmp_path)
    assert summary.clusters == 3
    out = pq.read_table(tmp_path / "out" / "dedup.parquet").to_pydict()
    assert out["cluster_id"][0] == out["cluster_id"][1]
    assert len(set(out["cluster_id"])) == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "not a readable Parquet file"), (b"ad_id,embedding\na,1\n", "not a readable Parquet file")],
    ids=["zero-byte", "csv-named-parquet"],
)
def test_unreadable_shard_is_named(tmp_path, content, message):
    src = write_verbalized(tmp_path / "in", rows_for(_unit(2, 4)), schema=EMBEDDING_SCHEMA)
    bad = src / "verbalized" / "shard-x.parquet"
    bad.write_bytes(content)
    with pytest.raises(DedupInputError, match=rf"shard-x\.parquet is {message}"):
        _run(src, tmp_path)


def test_shards_with_different_schemas_are_named(tmp_path):
    src = write_verbalized(tmp_path / "in", rows_for(_unit(2, 4)), schema=EMBEDDING_SCHEMA)
    other = pa.Table.from_pylist(
        [{"ad_id": 7, "media_path": "m.jpg", "status": "ok", "embedding": [1.0, 0.0, 0.0, 0.0]}]
    )
    pq.write_table(other, src / "verbalized" / "part-00001.parquet")
    with pytest.raises(DedupInputError, match=r"part-00001\.parquet has other column types than .*ad_id int64 vs"):
        _run(src, tmp_path)


def test_corrupt_data_page_is_named(tmp_path):
    """The footer reads (schema and key columns fine) but the embedding column's pages are garbage."""
    src = write_verbalized(tmp_path / "in", rows_for(_unit(64, 32, seed=1)), schema=EMBEDDING_SCHEMA)
    shard = src / "verbalized" / "part-00000.parquet"
    meta = pq.ParquetFile(shard).metadata
    leaf = next(i for i in range(meta.num_columns) if meta.row_group(0).column(i).path_in_schema.startswith("emb"))
    chunk = meta.row_group(0).column(leaf)
    start, size = chunk.data_page_offset, 64  # the data page's header; the footer after the column stays intact
    data = bytearray(shard.read_bytes())
    data[start : start + size] = b"\xff" * size
    shard.write_bytes(bytes(data))
    with pytest.raises(DedupInputError, match=r"part-00000\.parquet: column 'embedding' cannot be read"):
        _run(src, tmp_path)


@pytest.mark.parametrize("method", ["embedding", "phash"])
def test_neither_embedding_nor_phash_says_so_once(tmp_path, method):
    """Audio and blank images only, verbalized without CLIP: each method's error used to advise the other."""
    rows = rows_for([None, None, None])
    for row, kind in zip(rows, ["audio", "audio", "image"], strict=True):
        row.update(media_type=kind, vision_backend="none", blank=kind == "image" or None)
    schema = pa.schema([*EMBEDDING_SCHEMA, pa.field("vision_backend", pa.string()), pa.field("blank", pa.bool_())])
    src = write_verbalized(tmp_path / "in", rows, schema=schema)
    with pytest.raises(DedupInputError) as err:
        _run(src, tmp_path, f"method={method}")
    message = str(err.value)
    assert "all 3 ok rows have neither an embedding nor a pHash" in message
    assert "neither method=embedding nor method=phash" in message and "use method=" not in message
    assert "media_type: {'audio': 2, 'image': 1}" in message and "vision_backend: {'none': 3}" in message
    assert "blank: {'None': 2, 'True': 1}" in message and "vision=clip" in message
