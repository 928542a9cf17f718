"""python -m ava.verbalize vision=clip: open_clip image embeddings and zero-shot tags from a vocabulary.

Weights come from a local file (``pretrained=/path/to/open_clip_model.safetensors``), the Hugging Face cache,
or the hub when it can be reached. When none of these can supply them, :class:`WeightsUnavailable` is raised
quickly (no minute of download retries) so the caller can announce the fallback.
"""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch
from PIL import Image

HUB_FILENAMES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")  # open_clip's own order


class WeightsUnavailable(RuntimeError):
    """The configured weights are neither local, cached, nor downloadable from here."""


def _hub_resolves() -> bool:
    from huggingface_hub import constants

    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return not constants.HF_HUB_OFFLINE


def resolve_pretrained(model: str, pretrained: str | None, cache_dir: str | None) -> str | None:
    """A local weights path for ``pretrained`` when one exists, else the tag itself if the hub is reachable."""
    import open_clip
    from huggingface_hub import try_to_load_from_cache

    if pretrained is None or Path(pretrained).is_file():
        return pretrained
    cfg = open_clip.get_pretrained_cfg(model, pretrained)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(model)
        raise ValueError(f"open_clip has no pretrained tag {pretrained!r} for {model}; known: {tags} "
                         "(or give a local weights file)")
    repo = str(cfg.get("hf_hub", "")).strip("/")
    for filename in HUB_FILENAMES if repo else ():
        cached = try_to_load_from_cache(repo, filename, cache_dir=cache_dir)
        if isinstance(cached, str):
            return cached
    if _hub_resolves():
        return pretrained
    raise WeightsUnavailable(f"CLIP weights {model}/{pretrained} are not cached and the hub cannot be "
                             "reached; set vision.pretrained=/path/to/open_clip weights to use local ones")


class ClipEncoder:
    """Embeds images with an open_clip model and names them with zero-shot tags per vocabulary category."""

    def __init__(self, model: str, pretrained: str | None, tags: dict[str, list[str]], device: str = "cpu",
                 cache_dir: str | None = None, config_path: str | None = None,
                 prompt: str = "a photo of {}.", min_tag_prob: float = 0.25, batch_size: int = 32):
        import open_clip

        if config_path:  # a model config of our own (the tests' tiny random CLIP)
            open_clip.add_model_config(config_path)
        weights = resolve_pretrained(model, pretrained, cache_dir)
        self.model, _, self.preprocess = open_clip.create_model_and_transforms(
            model, pretrained=weights, device=device, cache_dir=cache_dir)
        self.model.eval()
        self.tokenizer = open_clip.get_tokenizer(model)
        self.device = device
        self.batch_size = batch_size
        self.min_tag_prob = min_tag_prob
        self.name = f"open_clip:{model}/{Path(pretrained).name if pretrained else 'random-init'}"
        self._categories = {cat: list(words) for cat, words in tags.items() if words}
        self._text = {cat: self._encode_text([prompt.format(w) for w in words])
                      for cat, words in self._categories.items()}

    @torch.inference_mode()
    def _encode_text(self, texts: list[str]) -> torch.Tensor:
        feats = self.model.encode_text(self.tokenizer(texts).to(self.device))
        return torch.nn.functional.normalize(feats.float(), dim=-1)

    @torch.inference_mode()
    def embed(self, images: list[Image.Image]) -> np.ndarray:
        """L2-normalised float32 embeddings, one row per image."""
        out = []
        for i in range(0, len(images), self.batch_size):
            batch = torch.stack([self.preprocess(im) for im in images[i: i + self.batch_size]]).to(self.device)
            out.append(torch.nn.functional.normalize(self.model.encode_image(batch).float(), dim=-1).cpu())
        return torch.cat(out).numpy().astype(np.float32) if out else np.zeros((0, 0), np.float32)

    @torch.inference_mode()
    def tags(self, embeddings: np.ndarray) -> list[list[str]]:
        """Per image, the best word of each vocabulary category whose zero-shot probability ≥ min_tag_prob."""
        emb = torch.from_numpy(embeddings).to(self.device)
        scale = self.model.logit_scale.exp().float()
        result: list[list[str]] = [[] for _ in range(len(embeddings))]
        for cat, text in self._text.items():
            probs = (scale * emb @ text.T).softmax(dim=-1)
            best = probs.max(dim=-1)
            for i, (p, j) in enumerate(zip(best.values.tolist(), best.indices.tolist(), strict=True)):
                if p >= self.min_tag_prob:
                    result[i].append(f"{cat}: {self._categories[cat][j]}")
        return result
