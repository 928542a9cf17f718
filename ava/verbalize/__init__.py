"""python -m ava.verbalize: ad images, videos and audio into text an LLM can read (see pipeline.py)."""
