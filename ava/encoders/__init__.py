"""python -m ava.verbalize: the encoders (OCR, audio events, ASR, faces, colours, pHash, captions, CLIP) and their
one protocol (base.py)."""
