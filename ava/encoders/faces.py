"""python -m ava.verbalize faces=haar: frontal faces per keyframe (OpenCV's Haar cascade, ava.media.image)."""

from __future__ import annotations

from ava.encoders.base import Encoder, Item, Weights, package_weights
from ava.media.image import count_faces


class HaarFaces(Encoder):
    """``scenes[i].faces``; the item's ``faces`` is the most seen in one keyframe."""

    def __init__(self, device: str = "cpu", threads: int = 0):
        self.name = self.resolve({}).name

    @classmethod
    def resolve(cls, cfg) -> Weights:  # the cascade file ships inside the opencv-python wheel
        return package_weights("opencv-haar:frontalface_default", "opencv-python")

    def encode(self, items: list[Item]) -> None:
        for item in items:
            for scene, sc in zip(item.row["scenes"], item.decoded.scenes, strict=True):
                scene["faces"] = 0 if sc.blank else count_faces(sc.frame)
            item.row["faces"] = max((s["faces"] for s in item.row["scenes"]), default=None)
