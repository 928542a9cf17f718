"""python -m ava.verbalize: the encoders (OCR, ASR, faces, colours, pHash, CLIP) and their one protocol (base.py)."""
