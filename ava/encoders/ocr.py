"""python -m ava.verbalize ocr=rapidocr: on-screen text with RapidOCR 3 (PP-OCRv6 small ONNX models in the wheel).

The ``rapidocr`` wheel ships ``PP-OCRv6_det_small.onnx``, ``PP-OCRv6_rec_small.onnx`` and the PP-OCRv4 angle
classifier in ``rapidocr/models/``; RapidOCR finds them there by its default config (it checks their SHA-256
against ``default_models.yaml`` and downloads only a missing or different file). We pass the three paths
explicitly, so a missing file is a FileNotFoundError here, never a download. PP-OCRv6 keeps the spaces between
words that the PP-OCRv4 models of ``rapidocr-onnxruntime`` 1.4.4 dropped: on the bundled samples it reads
"SUMMER SALE", "50% OFF ALL SHOES", "OPEN FROM 7AM" where PP-OCRv4 read "SUMMERSALE", "50% OFF ALLSHOES",
"OPEN FROM7AM" (``benchmarks/bench_verbalize.py``).

Lines are read in rows, top to bottom, each row left to right (:func:`rows`): a box joins a row when their
vertical extents overlap by at least half the shorter one (``ROW_OVERLAP``). A line is dropped when (1) its
confidence is below ``min_score``, (2) it is a single glyph with confidence below ``min_glyph_score``, unless
its script writes a word in one glyph (Han, kana, Hangul) and another line of its row passes rules 1 and 3, or
(3) the ad gives ``languages`` we can place (ava/encoders/scripts.py) and the line's letters are mostly in a
script none of them uses (Latin is always allowed: brand names and URLs are Latin in ads of every language).
Rules 2 and 3 remove what a model trained on Chinese and English reads in photos: on real English ads PP-OCRv4
read single CJK glyphs at 0.56-0.74 confidence from a tie's pattern and from glasses, each alone in its row.
Lines without letters ("50%") always pass rule 3. Rows used to be a line's top edge rounded to 10 px, so boxes
of one line straddling a multiple of 10 landed in different rows, read right to left ("中国 / 是 / 我" for
"我是中国人").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ava.encoders.base import Encoder, Item, Weights, package_weights
from ava.encoders.scripts import allowed_scripts, languages, line_script

PACKAGE = "rapidocr"
MODELS = {"Det": "PP-OCRv6_det_small.onnx", "Rec": "PP-OCRv6_rec_small.onnx",
          "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx"}
# Two boxes are one row when their vertical extents overlap by at least this share of the shorter box: boxes of
# one rendered line overlap almost whole, lines of a paragraph not at all (leading), a raised glyph by half or more.
ROW_OVERLAP = 0.5
ONE_GLYPH_WORD = frozenset({"CJK", "HIRAGANA", "KATAKANA", "HANGUL"})  # scripts where one glyph is a word


def keep_line(text: str, score: float, scripts: frozenset[str] | None, min_score: float,
              min_glyph_score: float, in_row: bool = False) -> bool:
    """Whether an OCR line counts as on-screen text (the module docstring's three rules); ``in_row``: another
    line of its row passes rules 1 and 3."""
    text = text.strip()
    if not text or score < min_score:
        return False
    script = line_script(text)
    if len(text) == 1 and score < min_glyph_score and not (in_row and script in ONE_GLYPH_WORD):
        return False
    return scripts is None or script is None or script in scripts


def rows(boxes: list[np.ndarray]) -> list[list[int]]:
    """Indices of ``boxes`` (4x2 corner arrays) in reading order: rows by vertical overlap, top to bottom (by
    each row's top), each row left to right."""
    ext = [(float(b[:, 1].min()), float(b[:, 1].max()), float(b[:, 0].min())) for b in boxes]
    out: list[list[int]] = []
    spans: list[tuple[float, float]] = []
    for i in sorted(range(len(boxes)), key=lambda i: (ext[i][0] + ext[i][1]) / 2):
        top, bottom, _ = ext[i]
        for row, (rtop, rbottom) in zip(out, spans, strict=True):
            if min(bottom, rbottom) - max(top, rtop) >= ROW_OVERLAP * min(bottom - top, rbottom - rtop):
                row.append(i)
                break
        else:
            out.append([i])
            spans.append((top, bottom))
    order = sorted(range(len(out)), key=lambda r: min(ext[i][0] for i in out[r]))
    return [sorted(out[r], key=lambda i: ext[i][2]) for r in order]


def bundled_models() -> dict[str, Path]:
    import rapidocr

    root = Path(rapidocr.__file__).parent / "models"
    return {stage: root / name for stage, name in MODELS.items()}


class RapidOCREngine(Encoder):
    """Per keyframe: ``scenes[i].ocr_text`` (lines joined by newlines); the item's ``ocr_text`` joins the scenes."""

    def __init__(self, min_score: float = 0.5, min_glyph_score: float = 0.8, device: str = "cpu",
                 threads: int = 0):
        from rapidocr import RapidOCR

        params = {"Global.log_level": "warning", "Global.text_score": min_score}
        for stage, path in bundled_models().items():
            if not path.is_file():
                raise FileNotFoundError(f"RapidOCR model {path} is missing from the rapidocr wheel; reinstall "
                                        "rapidocr (pip install --force-reinstall --no-deps rapidocr)")
            params[f"{stage}.model_path"] = str(path)
        if threads:  # threads > 0 caps ONNX Runtime's intra-op threads (one worker of a pool); 0 = all cores
            params["EngineConfig.onnxruntime.intra_op_num_threads"] = threads
        self.engine = RapidOCR(params=params)
        self.min_score = min_score
        self.min_glyph_score = min_glyph_score
        self.name = self.resolve({}).name

    @classmethod
    def resolve(cls, cfg) -> Weights:
        return package_weights("rapidocr:PP-OCRv6-small", PACKAGE)

    def read(self, image, scripts: frozenset[str] | None = None) -> str:
        """The kept lines of one image, in reading order."""
        result = self.engine(np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1]))  # BGR, as cv2
        if result.txts is None:
            return ""
        txts = [t.strip() for t in result.txts]
        scores = [float(x) for x in result.scores]
        kept = []
        for row in rows(list(result.boxes)):
            ok = [i for i in row if keep_line(txts[i], scores[i], scripts, self.min_score, 0.0)]  # rules 1 and 3
            kept += [i for i in ok if keep_line(txts[i], scores[i], scripts, self.min_score, self.min_glyph_score,
                                                in_row=len(ok) > 1)]
        return "\n".join(txts[i] for i in kept)

    def encode(self, items: list[Item]) -> None:
        for item in items:
            scripts = allowed_scripts(languages(item.record))
            for scene, sc in zip(item.row["scenes"], item.decoded.scenes, strict=True):
                scene["ocr_text"] = "" if sc.blank else self.read(sc.frame, scripts)
            item.row["ocr_text"] = "\n".join(s["ocr_text"] for s in item.row["scenes"] if s["ocr_text"])
