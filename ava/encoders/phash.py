"""python -m ava.verbalize phash=dct: the pHash of an item's representative keyframe (ava.media.phash).

Null when every keyframe is blank: all blank frames share the hash 8000000000000000, so hashing them would
make ``ava.dedup method=phash`` merge unrelated ads.
"""

from __future__ import annotations

from ava.encoders.base import Encoder, Item, Weights, package_weights
from ava.media.phash import phash_hex


class DctPhash(Encoder):
    def __init__(self, device: str = "cpu", threads: int = 0):
        self.name = self.resolve({}).name

    @classmethod
    def resolve(cls, cfg) -> Weights:
        return package_weights("phash:dct-8x8", "scipy")

    def encode(self, items: list[Item]) -> None:
        for item in items:
            rep = item.decoded.representative
            item.row["phash"] = phash_hex(rep.frame) if rep else None
