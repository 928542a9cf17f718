"""python -m ava.dedup: read the verbalizer's shards and check the column dedup works on.

``VERBALIZE_DIR/verbalized/*.parquet`` is read as one table; rows with ``status == "ok"`` are kept. Every
problem the stage cannot work around is a :class:`DedupInputError` naming it and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ava.media.phash import hex_to_bytes
from ava.runtime import loud_warning

KEY_COLUMNS = ("ad_id", "media_path", "status")


class DedupInputError(ValueError):
    """Input that dedup cannot use; the message names the problem and the fix."""


@dataclass(frozen=True)
class Verbalized:
    table: pa.Table  # the ok rows: ad_id, media_path and the method's column
    shards: int
    rows_not_ok: int


def read_verbalized(input_dir: str | Path, column: str) -> Verbalized:
    """All shards' ok rows with ``ad_id``, ``media_path`` and ``column`` (``embedding`` or ``phash``)."""
    folder = Path(input_dir) / "verbalized"
    if not folder.is_dir():
        raise DedupInputError(
            f"{folder} does not exist: input= must be the output_dir of `python -m ava.verbalize`"
        )
    shards = sorted(folder.glob("*.parquet"))
    if not shards:
        raise DedupInputError(f"no *.parquet shards in {folder}: run `python -m ava.verbalize` first")
    wanted = (*KEY_COLUMNS, column)
    tables = []
    for shard in shards:
        names = pq.read_schema(shard).names
        missing = [c for c in wanted if c not in names]
        if missing:
            raise DedupInputError(
                f"{shard} lacks column(s) {missing} (it has {names}); dedup needs {list(wanted)} as "
                "`python -m ava.verbalize` writes them"
            )
        tables.append(pq.read_table(shard, columns=list(wanted)))
    table = pa.concat_tables(tables, promote_options="permissive")
    ok = table.filter(pc.equal(table["status"], "ok"))
    if ok.num_rows == 0:
        raise DedupInputError(
            f"no rows with status == 'ok' in {len(shards)} shard(s) under {folder} ({table.num_rows} rows in "
            "all): nothing to deduplicate; see the verbalizer's errors"
        )
    return Verbalized(ok.drop_columns(["status"]), len(shards), table.num_rows - ok.num_rows)


def _where(table: pa.Table, row: int) -> str:
    return (
        f"row {row} (ad_id={table['ad_id'][row].as_py()!r}, media_path={table['media_path'][row].as_py()!r})"
    )


def embedding_matrix(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(unit-norm float32 matrix of the rows that have an embedding, bool mask of those rows)."""
    col = table["embedding"].combine_chunks()
    if not (pa.types.is_list(col.type) or pa.types.is_large_list(col.type) or pa.types.is_null(col.type)):
        raise DedupInputError(f"column 'embedding' has type {col.type}, expected list<float32>")
    present = ~np.asarray(col.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if not present.any():
        raise DedupInputError(
            f"all {table.num_rows} ok rows have a null embedding (the verbalizer ran without a CLIP "
            "vision backend?): use method=phash, or re-run the verbalizer with embeddings"
        )
    lists = col.filter(pa.array(present))
    dims = pc.list_value_length(lists).to_numpy()
    if np.unique(dims).size > 1:
        rows = np.flatnonzero(present)
        examples = {int(d): _where(table, int(rows[np.argmax(dims == d)])) for d in np.unique(dims)}
        raise DedupInputError(
            f"embeddings of mixed dimension {sorted(examples)} (e.g. {examples}): all rows must come from "
            "one vision model; re-verbalize the odd shards or deduplicate them separately"
        )
    values = lists.flatten()
    if values.null_count:
        raise DedupInputError("embedding lists contain null values: re-verbalize the affected shards")
    x = values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(len(lists), int(dims[0]))
    finite = np.isfinite(x).all(axis=1)
    if not finite.all():
        bad = int(np.flatnonzero(present)[np.argmin(finite)])
        raise DedupInputError(
            f"{int((~finite).sum())} embedding(s) contain NaN or inf, first at {_where(table, bad)}: "
            "re-verbalize that media item"
        )
    norms = np.linalg.norm(x, axis=1)
    if (norms == 0).any():
        bad = int(np.flatnonzero(present)[np.argmin(norms)])
        raise DedupInputError(f"zero embedding at {_where(table, bad)}: cosine is undefined; re-verbalize it")
    if np.abs(norms - 1).max() > 1e-3:
        loud_warning(
            f"{int((np.abs(norms - 1) > 1e-3).sum())} embedding(s) are not unit-norm (norms "
            f"{norms.min():.3f}..{norms.max():.3f}); dedup normalises them before comparing cosines"
        )
    return np.ascontiguousarray(x / norms[:, None], dtype=np.float32), present


def phash_codes(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """((n, 8) uint8 codes of the rows that have a pHash, bool mask of those rows)."""
    hashes = table["phash"].to_pylist()
    present = np.array([h is not None for h in hashes], dtype=bool)
    if not present.any():
        raise DedupInputError(
            f"all {table.num_rows} ok rows have a null phash: the verbalizer hashes images and video "
            "keyframes; use method=embedding for other media"
        )
    codes = np.empty((int(present.sum()), 8), dtype=np.uint8)
    for k, row in enumerate(np.flatnonzero(present)):
        try:
            codes[k] = np.frombuffer(hex_to_bytes(hashes[row]), dtype=np.uint8)
        except (ValueError, TypeError) as exc:
            raise DedupInputError(f"malformed phash at {_where(table, int(row))}: {exc}") from exc
    return codes, present
