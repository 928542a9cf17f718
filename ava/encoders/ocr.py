"""python -m ava.verbalize ocr=rapidocr: on-screen text with RapidOCR (PP-OCRv4 ONNX models in the wheel)."""

from __future__ import annotations

import numpy as np
from PIL import Image


class RapidOCREngine:
    """Reads text lines top-to-bottom, left-to-right; drops lines below ``min_score`` confidence."""

    def __init__(self, min_score: float = 0.5, threads: int = 0):
        from rapidocr_onnxruntime import RapidOCR

        # threads > 0 caps ONNX Runtime's intra-op threads (one worker of a pool); 0 = all cores.
        self.engine = RapidOCR(**({"intra_op_num_threads": threads} if threads else {}))
        self.min_score = min_score
        self.name = "rapidocr-onnxruntime:PP-OCRv4"

    def __call__(self, image: Image.Image) -> str:
        result, _ = self.engine(np.asarray(image.convert("RGB"))[:, :, ::-1])  # RapidOCR takes BGR like cv2
        lines = [(box, text) for box, text, score in (result or []) if float(score) >= self.min_score]
        lines.sort(key=lambda bt: (round(min(p[1] for p in bt[0]) / 10), min(p[0] for p in bt[0])))
        return "\n".join(text.strip() for _, text in lines if text.strip())
