"""python -m ava.verbalize caption=blip|blip2|none: a caption and an objects list per keyframe (transformers).

The papers verbalize every keyframe with BLIP-2: a description and the objects in the frame. Any model that
``AutoModelForImageTextToText`` loads with its ``AutoProcessor`` works (BLIP, BLIP-2, GIT, Florence-2, ...),
by hub id or local folder (``encoders.caption.model=/path``). ``prompts.caption`` and ``prompts.objects`` are
the text given with the image (null: unconditional, or no objects pass; the prompt is cut from the answer when
the model repeats it). Frames are captioned ``batch_size`` at a time with greedy decoding, so a frame reads
the same alone or in a batch. No captioning weights ship in any PyPI package: offline, with nothing in the
Hugging Face cache, :meth:`resolve` raises :class:`WeightsUnavailable`, the run says so once and the rows say
"no captioner loaded".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ava.encoders.base import Encoder, Item, Weights, WeightsUnavailable, file_sha256, hub_reachable

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def _local_weights(folder: Path) -> str:
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return file_sha256(folder / name)
    raise FileNotFoundError(f"{folder} has none of {WEIGHT_FILES}: not a transformers model folder")


def _cached(model: str, cache_dir: str | None) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(model, "config.json", cache_dir=cache_dir), str)


class TransformersCaptioner(Encoder):
    """``scenes[i].caption`` and ``scenes[i].objects`` ("" for a blank keyframe); the item's ``caption_backend``."""

    def __init__(self, model: str, prompts: dict[str, str | None] | None = None, batch_size: int = 8,
                 max_new_tokens: int = 40, cache_dir: str | None = None, device: str = "cpu", threads: int = 0):
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        if threads:
            torch.set_num_threads(threads)
        local = Path(model).is_dir()
        kwargs: dict[str, Any] = {"cache_dir": cache_dir, "local_files_only": local or not hub_reachable()}
        self.processor = AutoProcessor.from_pretrained(model, **kwargs)
        self.model = AutoModelForImageTextToText.from_pretrained(model, **kwargs).to(device).eval()
        self.device = device
        self.prompts = {"caption": None, "objects": None, **(prompts or {})}
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.name = _name(model)

    @classmethod
    def resolve(cls, cfg: dict[str, Any]) -> Weights:
        model = cfg["model"]
        if Path(model).is_dir():
            return Weights(_name(model), _local_weights(Path(model)))
        if _cached(model, cfg.get("cache_dir")) or hub_reachable():
            return Weights(_name(model), f"hub:{model}")
        raise WeightsUnavailable(f"no captioner loaded: {model} is not in the Hugging Face cache and the hub cannot "
                                 "be reached; set encoders.caption.model=/path/to/a/local/model to use one")

    def generate(self, images: list, prompt: str | None) -> list[str]:
        """One answer per image (the prompt, when the model repeats it, cut off), ``batch_size`` at a time."""
        import torch

        out: list[str] = []
        for i in range(0, len(images), self.batch_size):
            batch = images[i: i + self.batch_size]
            text = {"text": [prompt] * len(batch)} if prompt else {}
            inputs = self.processor(images=batch, return_tensors="pt", **text).to(self.device)
            with torch.inference_mode():
                ids = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False,
                                          num_beams=1)
            answers = self.processor.batch_decode(ids, skip_special_tokens=True)
            prefix = (self.processor.batch_decode(inputs["input_ids"][:1], skip_special_tokens=True)[0].strip()
                      if prompt else "")
            out += [a.strip()[len(prefix):].strip() if prefix and a.strip().startswith(prefix) else a.strip()
                    for a in answers]
        return out

    def encode(self, items: list[Item]) -> None:
        frames = [(item, k) for item in items for k, sc in enumerate(item.decoded.scenes) if not sc.blank]
        for item in items:
            item.row["caption_backend"] = self.name
            for scene in item.row["scenes"]:
                scene["caption"] = ""
        images = [item.decoded.scenes[k].frame for item, k in frames]
        for field, prompt in (("caption", self.prompts["caption"]), ("objects", self.prompts["objects"])):
            if field == "objects" and not prompt:
                continue
            for (item, k), text in zip(frames, self.generate(images, prompt) if images else [], strict=True):
                item.row["scenes"][k][field] = text


def _name(model: str) -> str:
    return f"transformers:{Path(model).name if Path(model).is_dir() else model}"
