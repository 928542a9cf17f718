"""python -m ava.dedup: group duplicate creatives (FAISS over CLIP embeddings, or binary FAISS over pHash)."""
