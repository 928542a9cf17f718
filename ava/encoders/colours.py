"""python -m ava.verbalize colours=palette: dominant named colours per keyframe (ava.media.image)."""

from __future__ import annotations

from ava.encoders.base import Encoder, Item, Weights, package_weights
from ava.media.image import dominant_colours


class PaletteColours(Encoder):
    """``scenes[i].colours``; the item's ``colours`` are its representative keyframe's."""

    def __init__(self, k: int = 3, device: str = "cpu", threads: int = 0):
        self.k = k
        self.name = self.resolve({}).name

    @classmethod
    def resolve(cls, cfg) -> Weights:
        return package_weights("median-cut palette (Pillow)", "pillow")

    def encode(self, items: list[Item]) -> None:
        for item in items:
            for scene, sc in zip(item.row["scenes"], item.decoded.scenes, strict=True):
                scene["colours"] = dominant_colours(sc.frame, self.k)
            rep = item.decoded.representative or (item.decoded.scenes[0] if item.decoded.scenes else None)
            item.row["colours"] = item.row["scenes"][rep.index]["colours"] if rep else []
