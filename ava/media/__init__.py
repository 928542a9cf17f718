"""python -m ava.verbalize / ava.dedup: decoding and hashing of ad media (images, video, audio)."""
