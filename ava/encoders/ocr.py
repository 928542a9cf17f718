"""python -m ava.verbalize ocr=rapidocr: on-screen text with RapidOCR (PP-OCRv4 ONNX models in the wheel).

Lines are read top-to-bottom, left-to-right; a line is dropped when (1) its confidence is below ``min_score``,
(2) it is a single glyph with confidence below ``min_glyph_score``, or (3) the ad gives ``languages`` we can
place (ava/encoders/scripts.py) and the line's letters are mostly in a script none of them uses (Latin is
always allowed: brand names and URLs are Latin in ads of every language). Rules 2 and 3 remove what
PP-OCRv4 (trained on Chinese and English) reads in photos: on real English ads it read single CJK glyphs at
0.56-0.74 confidence from a tie's pattern and from glasses. Lines without letters ("50%") always pass rule 3.
"""

from __future__ import annotations

import numpy as np

from ava.encoders.base import Encoder, Item, Weights, package_weights
from ava.encoders.scripts import allowed_scripts, languages, line_script

PACKAGE = "rapidocr-onnxruntime"


def keep_line(text: str, score: float, scripts: frozenset[str] | None, min_score: float,
              min_glyph_score: float) -> bool:
    """Whether an OCR line counts as on-screen text (the module docstring's three rules)."""
    text = text.strip()
    if not text or score < min_score:
        return False
    if len(text) == 1 and score < min_glyph_score:
        return False
    script = line_script(text)
    return scripts is None or script is None or script in scripts


class RapidOCREngine(Encoder):
    """Per keyframe: ``scenes[i].ocr_text`` (lines joined by newlines); the item's ``ocr_text`` joins the scenes."""

    def __init__(self, min_score: float = 0.5, min_glyph_score: float = 0.8, device: str = "cpu",
                 threads: int = 0):
        from rapidocr_onnxruntime import RapidOCR

        # threads > 0 caps ONNX Runtime's intra-op threads (one worker of a pool); 0 = all cores.
        self.engine = RapidOCR(**({"intra_op_num_threads": threads} if threads else {}))
        self.min_score = min_score
        self.min_glyph_score = min_glyph_score
        self.name = self.resolve({}).name

    @classmethod
    def resolve(cls, cfg) -> Weights:
        return package_weights("rapidocr-onnxruntime:PP-OCRv4", PACKAGE)

    def read(self, image, scripts: frozenset[str] | None = None) -> str:
        """The kept lines of one image, in reading order."""
        result, _ = self.engine(np.asarray(image.convert("RGB"))[:, :, ::-1])  # RapidOCR takes BGR like cv2
        lines = [(box, text) for box, text, score in (result or [])
                 if keep_line(text, float(score), scripts, self.min_score, self.min_glyph_score)]
        lines.sort(key=lambda bt: (round(min(p[1] for p in bt[0]) / 10), min(p[0] for p in bt[0])))
        return "\n".join(text.strip() for _, text in lines)

    def encode(self, items: list[Item]) -> None:
        for item in items:
            scripts = allowed_scripts(languages(item.record))
            for scene, sc in zip(item.row["scenes"], item.decoded.scenes, strict=True):
                scene["ocr_text"] = "" if sc.blank else self.read(sc.frame, scripts)
            item.row["ocr_text"] = "\n".join(s["ocr_text"] for s in item.row["scenes"] if s["ocr_text"])
