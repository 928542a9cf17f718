"""python -m ava.verbalize vision=clip: open_clip image embeddings and zero-shot tags from a vocabulary.

Weights come from a local file (``encoders.vision.pretrained=/path/to/open_clip_model.safetensors``), the
Hugging Face cache, or the hub when it can be reached. When none of these can supply them, :meth:`resolve`
raises :class:`WeightsUnavailable` at once, without importing torch or open_clip when the cache holds no
open_clip weights at all, so the run goes on without CLIP and starts fast.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ava.encoders.base import Encoder, Item, Weights, WeightsUnavailable, file_sha256, hub_reachable

HUB_FILENAMES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")  # open_clip's own order


def _cache_has_open_clip(cache_dir: str | None) -> bool:
    """Whether the HF cache holds any open_clip weights file (a cheap glob; no torch)."""
    from huggingface_hub import constants

    root = Path(cache_dir or constants.HF_HUB_CACHE)
    return any(any(root.glob(f"models--*/snapshots/*/{name}")) for name in HUB_FILENAMES)


def resolve_pretrained(model: str, pretrained: str | None, cache_dir: str | None) -> str | None:
    """A local weights path for ``pretrained`` when one exists, else the tag itself if the hub is reachable."""
    if pretrained is None or Path(pretrained).is_file():
        return pretrained
    if not hub_reachable() and not _cache_has_open_clip(cache_dir):
        raise WeightsUnavailable(f"CLIP weights {model}/{pretrained} are not cached and the hub cannot be "
                                 "reached; set encoders.vision.pretrained=/path/to/open_clip weights to use local "
                                 "ones")
    import open_clip
    from huggingface_hub import try_to_load_from_cache

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
    if hub_reachable():
        return pretrained
    raise WeightsUnavailable(f"CLIP weights {model}/{pretrained} are not cached and the hub cannot be "
                             "reached; set encoders.vision.pretrained=/path/to/open_clip weights to use local ones")


class ClipEncoder(Encoder):
    """Embeds keyframes with an open_clip model and names them with zero-shot tags per vocabulary category.

    Per scene ``tags``; per item ``embedding`` (the normalised mean over its non-blank keyframes; null when all
    are blank) and ``vision_backend``. One forward pass over every keyframe of the batch.
    """

    def __init__(self, model: str, pretrained: str | None, tags: dict[str, list[str]], device: str = "cpu",
                 cache_dir: str | None = None, config_path: str | None = None,
                 prompt: str = "a photo of {}.", min_tag_prob: float = 0.25, batch_size: int = 32,
                 threads: int = 0):
        import open_clip
        import torch

        if threads:
            torch.set_num_threads(threads)
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
        self.name = _name(model, pretrained)
        self._categories = {cat: list(words) for cat, words in tags.items() if words}
        self._text = {cat: self._encode_text([prompt.format(w) for w in words])
                      for cat, words in self._categories.items()}

    @classmethod
    def resolve(cls, cfg: dict[str, Any]) -> Weights:
        model, pretrained = cfg["model"], cfg.get("pretrained")
        path = resolve_pretrained(model, pretrained, cfg.get("cache_dir"))
        if path is None:
            weights = "random-init"
        elif Path(path).is_file():
            weights = file_sha256(path)
        else:  # a hub tag, downloaded when loaded
            weights = f"hub:{path} (open_clip_torch=={importlib.metadata.version('open_clip_torch')})"
        if cfg.get("config_path"):
            weights += f" config:{file_sha256(cfg['config_path'])}"
        return Weights(_name(model, pretrained), weights)

    def _encode_text(self, texts: list[str]):
        import torch

        with torch.inference_mode():
            feats = self.model.encode_text(self.tokenizer(texts).to(self.device))
            return torch.nn.functional.normalize(feats.float(), dim=-1)

    def embed(self, images: list[Image.Image]) -> np.ndarray:
        """L2-normalised float32 embeddings, one row per image."""
        import torch

        out = []
        with torch.inference_mode():
            for i in range(0, len(images), self.batch_size):
                batch = torch.stack([self.preprocess(im) for im in images[i: i + self.batch_size]]).to(self.device)
                out.append(torch.nn.functional.normalize(self.model.encode_image(batch).float(), dim=-1).cpu())
        return torch.cat(out).numpy().astype(np.float32) if out else np.zeros((0, 0), np.float32)

    def tags(self, embeddings: np.ndarray) -> list[list[str]]:
        """Per image, the best word of each vocabulary category whose zero-shot probability ≥ min_tag_prob."""
        import torch

        result: list[list[str]] = [[] for _ in range(len(embeddings))]
        with torch.inference_mode():
            emb = torch.from_numpy(embeddings).to(self.device)
            scale = self.model.logit_scale.exp().float()
            for cat, text in self._text.items():
                best = (scale * emb @ text.T).softmax(dim=-1).max(dim=-1)
                for i, (p, j) in enumerate(zip(best.values.tolist(), best.indices.tolist(), strict=True)):
                    if p >= self.min_tag_prob:
                        result[i].append(f"{cat}: {self._categories[cat][j]}")
        return result

    def encode(self, items: list[Item]) -> None:
        for item in items:
            item.row["vision_backend"] = self.name
        frames = [(item, k) for item in items for k, sc in enumerate(item.decoded.scenes) if not sc.blank]
        if not frames:
            return
        emb = self.embed([item.decoded.scenes[k].frame for item, k in frames])
        for (item, k), tags in zip(frames, self.tags(emb), strict=True):
            item.row["scenes"][k]["tags"] = tags
        for item in items:
            rows = [i for i, (it, _) in enumerate(frames) if it is item]
            if rows:
                mean = emb[rows].mean(axis=0)
                item.row["embedding"] = (mean / max(float((mean**2).sum() ** 0.5), 1e-12)).tolist()


def _name(model: str, pretrained: str | None) -> str:
    return f"open_clip:{model}/{Path(pretrained).name if pretrained else 'random-init'}"
