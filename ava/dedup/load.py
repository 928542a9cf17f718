"""python -m ava.dedup: read the verbalizer's shards and check the column dedup works on.

Of ``VERBALIZE_DIR/verbalized/*.parquet`` only the rows with ``status == "ok"`` count. Their keys (ad_id,
media_path) are read whole; the embedding or pHash column streams a batch at a time, so the float32 matrix is
the only full copy of the embeddings, in RAM or, above ``method.embeddings_in_memory_max_gb``, in a disk-backed
memmap. Every problem the stage cannot work around is a :class:`DedupInputError` naming it and the fix.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from ava.media.phash import hex_to_bytes
from ava.runtime import loud_warning

KEY_COLUMNS = ("ad_id", "media_path", "status")

log = logging.getLogger(__name__)
# Streamed reads: a list column is decoded a row group at a time whatever the batch size; Arrow's default
# pre-buffering holds a second, raw copy. Measured on a 4096 x 256 float32 shard: Arrow pool peak 9.6 MB with
# the defaults, 4.8 MB with pre_buffer=False and a buffered stream (pyarrow 26).
READ_BUFFER_BYTES = 2**20


class DedupInputError(ValueError):
    """Input that dedup cannot use; the message names the problem and the fix."""


@dataclass(frozen=True)
class Verbalized:
    keys: pa.Table  # the ok rows' ad_id and media_path, in shard order
    shards: list[Path]
    column: str  # read later, a batch at a time (:func:`ok_batches`)
    rows_not_ok: int


def read_verbalized(input_dir: str | Path, column: str) -> Verbalized:
    """The ok rows' keys (``ad_id``, ``media_path``) of all shards, after checking each has ``column``."""
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
    first: pa.Schema | None = None
    for shard in shards:
        try:
            schema = pq.read_schema(shard)
        except (pa.ArrowException, OSError) as exc:
            raise DedupInputError(
                f"{shard} is not a readable Parquet file ({exc}): remove it or re-verbalize its ads"
            ) from exc
        missing = [c for c in wanted if c not in schema.names]
        if missing:
            raise DedupInputError(
                f"{shard} lacks column(s) {missing} (it has {schema.names}); dedup needs {list(wanted)} as "
                "`python -m ava.verbalize` writes them"
            )
        first = first or schema
        clash = [n for n in wanted if not _same_type(schema.field(n).type, first.field(n).type)]
        if clash:
            raise DedupInputError(
                f"{shard} has other column types than {shards[0]}: "
                + ", ".join(f"{n} {schema.field(n).type} vs {first.field(n).type}" for n in clash)
                + "; the shards come from different verbalizer versions or another writer: deduplicate them "
                "separately"
            )
        try:
            tables.append(pq.read_table(shard, columns=list(KEY_COLUMNS)))
        except (pa.ArrowException, OSError) as exc:
            raise DedupInputError(f"{shard}: cannot read its columns {list(KEY_COLUMNS)} ({exc})") from exc
    table = pa.concat_tables(tables, promote_options="permissive")
    ok = table.filter(pc.equal(table["status"], "ok"))
    if ok.num_rows == 0:
        raise DedupInputError(
            f"no rows with status == 'ok' in {len(shards)} shard(s) under {folder} ({table.num_rows} rows in "
            "all): nothing to deduplicate; see the verbalizer's errors"
        )
    return Verbalized(ok.drop_columns(["status"]), shards, column, table.num_rows - ok.num_rows)


def _same_type(a: pa.DataType, b: pa.DataType) -> bool:
    """Equal, or one is null-typed (a shard whose column is all null fits any other)."""
    return a == b or pa.types.is_null(a) or pa.types.is_null(b)


def ok_batches(data: Verbalized, batch_rows: int) -> Iterator[tuple[int, pa.Array]]:
    """(first ok row, the column's values for the next ok rows), streamed from the shards ``batch_rows`` at a time."""
    offset = 0
    total = data.keys.num_rows
    with tqdm(total=total, desc=f"dedup: read {data.column}", unit="row", disable=total <= batch_rows) as bar:
        for shard in data.shards:
            reader = pq.ParquetFile(shard, pre_buffer=False, buffer_size=READ_BUFFER_BYTES)
            batches = reader.iter_batches(batch_size=batch_rows, columns=[data.column, "status"])
            while True:
                try:
                    batch = next(batches, None)
                except (pa.ArrowException, OSError) as exc:  # a corrupt data page behind an intact footer
                    raise DedupInputError(
                        f"{shard}: column {data.column!r} cannot be read ({exc}): remove the shard or re-verbalize "
                        "its ads"
                    ) from exc
                if batch is None:
                    break
                values = batch.column(data.column).filter(pc.equal(batch.column("status"), "ok"))
                if len(values):
                    yield offset, values
                    offset += len(values)
                    bar.update(len(values))


def _where(keys: pa.Table, row: int) -> str:
    return f"row {row} (ad_id={keys['ad_id'][row].as_py()!r}, media_path={keys['media_path'][row].as_py()!r})"


class _Matrix:
    """Where the unit-norm embeddings go: RAM, or a disk-backed ``.npy`` memmap above ``in_memory_max_gb``."""

    def __init__(self, n: int, spill: Path, in_memory_max_gb: float) -> None:
        self.n, self.spill, self.max_bytes = n, spill, in_memory_max_gb * 2**30
        self.x: np.ndarray | None = None
        self.filled = 0

    def append(self, rows: np.ndarray) -> None:
        if self.x is None:
            shape = (self.n, rows.shape[1])
            if 4 * self.n * rows.shape[1] > self.max_bytes:
                log.info("dedup: %s float32 embeddings > embeddings_in_memory_max_gb: on disk at %s", shape,
                         self.spill)
                self.spill.parent.mkdir(parents=True, exist_ok=True)
                # a stale spill, or a link planted there, is removed (never written through); ours made exclusively
                self.spill.unlink(missing_ok=True)
                os.close(os.open(self.spill, os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_NOFOLLOW, 0o600))
                self.x = np.lib.format.open_memmap(self.spill, mode="w+", dtype=np.float32, shape=shape)
                _reserve(self.spill)
            else:
                self.x = np.empty(shape, dtype=np.float32)
        self.x[self.filled : self.filled + len(rows)] = rows
        self.filled += len(rows)


def _reserve(path: Path) -> None:
    """Allocate the memmap's blocks now: a sparse file that meets a full disk later kills the process (SIGBUS)."""
    size = path.stat().st_size
    try:
        with path.open("r+b") as fh:
            os.posix_fallocate(fh.fileno(), 0, size)
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise OSError(
            exc.errno,
            f"cannot reserve {size / 2**30:.2f} GiB for the embeddings at {path} ({exc.strerror}): free space "
            "there, point method.spill_dir= at a larger disk, or raise method.embeddings_in_memory_max_gb to keep "
            "them in RAM",
        ) from exc


def embedding_matrix(
    data: Verbalized, *, spill: Path, in_memory_max_gb: float, batch_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """(unit-norm float32 matrix of the ok rows that have an embedding, bool mask of those rows).

    The ``embedding`` column streams from the shards ``batch_rows`` at a time, each batch checked and normalised,
    into RAM or, when the matrix is above ``in_memory_max_gb``, into the memmap ``spill`` (the caller deletes it).
    """
    keys = data.keys
    present = np.zeros(keys.num_rows, dtype=bool)
    out = _Matrix(keys.num_rows, spill, in_memory_max_gb)
    first_of_dim: dict[int, int] = {}  # dimension -> first row that has it
    off_norm, norm_range = 0, (np.inf, -np.inf)
    for offset, col in ok_batches(data, batch_rows):
        if pa.types.is_null(col.type):
            continue
        if not (pa.types.is_list(col.type) or pa.types.is_large_list(col.type)):
            raise DedupInputError(f"column 'embedding' has type {col.type}, expected list<float32>")
        has = ~np.asarray(col.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        rows = offset + np.flatnonzero(has)
        if not rows.size:
            continue
        lists = col.filter(pa.array(has))
        dims = pc.list_value_length(lists).to_numpy()
        for d in np.unique(dims):
            first_of_dim.setdefault(int(d), int(rows[np.argmax(dims == d)]))
        if len(first_of_dim) > 1:
            examples = {d: _where(keys, row) for d, row in first_of_dim.items()}
            raise DedupInputError(
                f"embeddings of mixed dimension {sorted(examples)} (e.g. {examples}): all rows must come from "
                "one vision model; re-verbalize the odd shards or deduplicate them separately"
            )
        values = lists.flatten()
        if values.null_count:
            raise DedupInputError("embedding lists contain null values: re-verbalize the affected shards")
        x = values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(len(lists), -1)
        finite = np.isfinite(x).all(axis=1)
        if not finite.all():
            raise DedupInputError(
                f"embedding with NaN or inf at {_where(keys, int(rows[np.argmin(finite)]))}: re-verbalize that "
                "media item"
            )
        # Scaled by each row's largest |value| first: the float32 norm of values near 3e38 overflows to inf
        # (x / inf = 0 would turn identical rows into unclusterable zero vectors); unit-scale rows cannot.
        peak = np.abs(x).max(axis=1)
        if (peak == 0).any():
            bad = int(rows[np.argmin(peak)])
            raise DedupInputError(f"zero embedding at {_where(keys, bad)}: cosine is undefined; re-verbalize it")
        x = x / peak[:, None]
        scaled = np.linalg.norm(x, axis=1)
        norms = peak.astype(np.float64) * scaled
        off_norm += int((np.abs(norms - 1) > 1e-3).sum())
        norm_range = (min(norm_range[0], norms.min()), max(norm_range[1], norms.max()))
        out.append(x / scaled[:, None])
        present[rows] = True
    if out.x is None:
        raise _none_present(data) or DedupInputError(
            f"all {keys.num_rows} ok rows have a null embedding (the verbalizer ran without a CLIP "
            "vision backend?): use method=phash, or re-run the verbalizer with embeddings"
        )
    if off_norm:
        loud_warning(
            f"{off_norm} embedding(s) are not unit-norm (norms {norm_range[0]:.3f}..{norm_range[1]:.3f}); "
            "dedup normalises them before comparing cosines"
        )
    return out.x[: out.filled], present


def phash_codes(data: Verbalized, *, batch_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """((n, 8) uint8 codes of the ok rows that have a pHash, bool mask of those rows), streamed in batches."""
    present = np.zeros(data.keys.num_rows, dtype=bool)
    codes = np.empty((data.keys.num_rows, 8), dtype=np.uint8)
    filled = 0
    for offset, col in ok_batches(data, batch_rows):
        for k, code in enumerate(col.to_pylist()):
            if code is None:
                continue
            try:
                codes[filled] = np.frombuffer(hex_to_bytes(code), dtype=np.uint8)
            except (ValueError, TypeError) as exc:
                raise DedupInputError(f"malformed phash at {_where(data.keys, offset + k)}: {exc}") from exc
            present[offset + k] = True
            filled += 1
    if not filled:
        raise _none_present(data) or DedupInputError(
            f"all {data.keys.num_rows} ok rows have a null phash: the verbalizer hashes images and video "
            "keyframes; use method=embedding for other media"
        )
    return codes[:filled], present


WHY_COLUMNS = ("media_type", "vision_backend", "blank")  # what says why a row has no embedding or pHash


def _none_present(data: Verbalized) -> DedupInputError | None:
    """When the other method's column is all null too, one error saying that neither method can work and why
    (the ok rows' media types, vision backends and blank flags); None when the other method has values."""
    counts: dict[str, Counter] = {c: Counter() for c in WHY_COLUMNS}
    for shard in data.shards:
        names = pq.read_schema(shard).names
        wanted = [c for c in (*WHY_COLUMNS, "embedding", "phash") if c in names]
        table = pq.read_table(shard, columns=[*wanted, "status"])
        table = table.filter(pc.equal(table["status"], "ok"))
        if any(c in names and table[c].null_count < table.num_rows for c in ("embedding", "phash")):
            return None
        for c in WHY_COLUMNS:
            counts[c].update(str(v) for v in (table[c].to_pylist() if c in names else [None] * table.num_rows))
    why = "; ".join(f"{c}: {dict(n.most_common())}" for c, n in counts.items())
    return DedupInputError(
        f"all {data.keys.num_rows} ok rows have neither an embedding nor a pHash, so neither method=embedding nor "
        f"method=phash can compare them ({why}). Embeddings need a CLIP vision backend in the verbalizer "
        "(vision=clip, not vision=none); pHashes come from images and video keyframes that are not blank, never "
        "from audio. Re-run python -m ava.verbalize with vision=clip, or skip dedup (build_dataset dedup=null)"
    )
