"""python -m ava.verbalize: the Parquet schema of ``verbalized/*.parquet`` (one row per media item)."""

import pyarrow as pa

SCENE = pa.struct([
    ("index", pa.int32()),
    ("start", pa.float64()),
    ("end", pa.float64()),
    ("tags", pa.list_(pa.string())),
    ("ocr_text", pa.string()),
    ("transcript", pa.string()),
    ("colours", pa.list_(pa.string())),
    ("faces", pa.int32()),
])

SCHEMA = pa.schema([
    ("ad_id", pa.string()),
    ("manifest_line", pa.int32()),
    ("media_index", pa.int32()),
    ("media_path", pa.string()),
    ("media_type", pa.string()),        # image | video | audio; null when the file could not be identified
    ("status", pa.string()),            # ok | error
    ("error_kind", pa.string()),
    ("error", pa.string()),
    ("verbalization", pa.string()),
    ("ocr_text", pa.string()),
    ("transcript", pa.string()),
    ("embedding", pa.list_(pa.float32())),  # L2-normalised; null when no visual embedding was made
    ("phash", pa.string()),
    ("vision_backend", pa.string()),
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("duration_s", pa.float64()),
    ("colours", pa.list_(pa.string())),
    ("faces", pa.int32()),
    ("audio", pa.string()),             # speech | music or other sound | silence | no audio track | null
    ("scenes", pa.list_(SCENE)),
])
