"""python benchmarks/bench_verbalize.py [--repeat N] [--device auto]: verbalizer throughput per stage.

Stages, each timed alone on the bundled sample media (repeated ``--repeat`` times): decode (type sniffing,
probing, keyframes and audio), scene detection, CLIP (ViT-B-32 architecture; random init when no weights are
cached, which costs the same FLOPs), OCR, ASR (Whisper tiny.en). Where the pipeline makes a choice, the
choice is compared with its baseline in the same run: CLIP batched (32) vs one frame at a time, Whisper in
int8 (CPU) or float16 (GPU) vs float32. Prints a table; appends rows to benchmarks/results/verbalize.csv
naming the machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from machine import append_csv, describe  # noqa: E402

from ava.encoders.asr import WhisperASR  # noqa: E402
from ava.encoders.ocr import RapidOCREngine  # noqa: E402
from ava.media import ffmpeg  # noqa: E402
from ava.media.scenes import detect_scenes  # noqa: E402
from ava.runtime import pick_device  # noqa: E402
from ava.verbalize.decode import decode  # noqa: E402
from ava.verbalize.pipeline import bundled_samples  # noqa: E402


class MediaCfg:  # the defaults of conf/verbalize.yaml's media section
    max_image_pixels = 89478485
    ffmpeg_timeout_s = 120
    scene_threshold = 27.0
    min_scene_len_s = 0.5
    max_scenes = 12
    frame_max_side = 768


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--csv", default=str(HERE / "results" / "verbalize.csv"))
    args = ap.parse_args()
    device = pick_device(args.device)
    media = sorted((bundled_samples().parent / "media").iterdir()) * args.repeat
    videos = [p for p in media if p.suffix == ".mp4"]
    results = []

    def record(stage, provider, n, seconds, unit="items", baseline=None):
        rate = n / seconds
        results.append({"stage": stage, "provider": provider, "n": n, "unit": unit, "seconds": round(seconds, 3),
                        "rate_per_s": round(rate, 3), "baseline": baseline or "",
                        "ratio_vs_baseline": ""})
        return rate

    decoded, s = timed(lambda: [decode(p, MediaCfg) for p in media])
    record("decode", "ffmpeg+pillow", len(media), s)
    _, s = timed(lambda: [detect_scenes(p, 9.0, 27.0, 0.5, 12) for p in videos])
    record("scenes", "pyscenedetect", len(videos), s, "videos")

    frames = [sc.frame for d in decoded for sc in d.scenes]
    import open_clip
    import torch

    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None, device=device)
    model.eval()

    def clip(batch):
        with torch.inference_mode():
            for i in range(0, len(frames), batch):
                x = torch.stack([preprocess(f) for f in frames[i: i + batch]]).to(device)
                model.encode_image(x)
        if device == "cuda":
            torch.cuda.synchronize()

    clip(32)  # warm-up
    base = record("clip", "ViT-B-32 batch=1", len(frames), timed(clip, 1)[1], "frames")
    fast = record("clip", "ViT-B-32 batch=32", len(frames), timed(clip, 32)[1], "frames", "ViT-B-32 batch=1")
    results[-1]["ratio_vs_baseline"] = round(fast / base, 2)

    ocr = RapidOCREngine()
    record("ocr", ocr.name, len(frames), timed(lambda: [ocr(f) for f in frames])[1], "frames")

    pcms = [d.pcm for d in decoded if d.pcm is not None]
    audio_s = sum(len(p) for p in pcms) / ffmpeg.SAMPLE_RATE
    rates = {}
    for compute in ("float32", "int8") if device == "cpu" else ("float32", "float16"):
        asr = WhisperASR("tiny.en", device=device, compute_type=compute)
        asr.transcribe(pcms[0])  # warm-up
        rates[compute] = record("asr", f"whisper tiny.en {compute}", round(audio_s, 1),
                                timed(lambda a=asr: [a.transcribe(p) for p in pcms])[1], "audio_s",
                                None if compute == "float32" else "whisper tiny.en float32")
    results[-1]["ratio_vs_baseline"] = round(list(rates.values())[1] / rates["float32"], 2)

    machine = describe()
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = [{"date": stamp, **machine, "device": device, **r} for r in results]
    append_csv(args.csv, rows)
    print(f"machine: {machine}  device: {device}")
    print(f"{'stage':8} {'provider':32} {'n':>7} {'unit':8} {'rate/s':>9} {'vs baseline':>11}")
    for r in results:
        print(f"{r['stage']:8} {r['provider']:32} {r['n']:>7} {r['unit']:8} {r['rate_per_s']:>9} "
              f"{r['ratio_vs_baseline']!s:>11}")


if __name__ == "__main__":
    main()
