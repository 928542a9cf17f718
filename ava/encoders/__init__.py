"""python -m ava.verbalize: the encoders (CLIP vision, OCR, Whisper ASR), each a Hydra group under conf/."""
