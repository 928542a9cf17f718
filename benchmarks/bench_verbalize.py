"""python benchmarks/bench_verbalize.py [--only stages,startup,memory] [--repeat N] [--lines N,M]: the verbalizer.

Three measurements, each appended to its CSV under benchmarks/results/ with the machine named:

- ``stages`` (verbalize.csv): throughput per stage, each timed alone on the bundled sample media (repeated
  ``--repeat`` times): decode (type sniffing, probing, keyframes with the blank-frame check, audio), scene
  detection, CLIP (ViT-B-32 architecture; random init, which costs the same FLOPs), OCR, ASR (Whisper tiny.en).
  Where the pipeline makes a choice, the choice is compared with its baseline in the same run: CLIP batched
  (32) vs one frame at a time, Whisper in int8 (CPU) or float16 (GPU) vs float32.
- ``startup`` (verbalize_startup.csv): wall and CPU seconds of a whole ``python -m ava.verbalize`` process on
  one small image with OCR and ASR off, with ``vision=none`` and with the default CLIP when no weights can be
  had (``HF_HUB_OFFLINE=1``), and whether torch / open_clip were imported.
- ``memory`` (verbalize_memory.csv): peak RSS of a ``python -m ava.verbalize`` process (vision, OCR and ASR
  off, one worker, shard_size=256, every ad a copy of a real-shaped sample record with one missing file, so
  every line makes an error row and no media is decoded) against the number of manifest lines.

``code`` names the commit measured; ``load1`` is the 1-minute load average when a measurement started (the
2-core development VM is shared: at load ~10 wall times and rates mean little, CPU seconds and RSS still do;
blank in rows measured before the column existed). The rows of the code before the rebuild (main@7b5a577) were measured
with the same probes before this file changed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from machine import append_csv, describe  # noqa: E402

# The start-up and memory children run before this process imports anything heavy: Linux keeps a process's
# peak RSS (ru_maxrss, what the summary reports) across fork and exec, so a child of a parent holding torch
# (machine.describe imports it) reported the parent's 611 MB as its own.
SAMPLES = HERE.parent / "ava" / "samples" / "ads.jsonl"


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


def stages(repeat: int, device: str) -> list[dict]:
    from ava.encoders.asr import WhisperASR
    from ava.encoders.ocr import RapidOCREngine
    from ava.media import ffmpeg
    from ava.media.decode import decode
    from ava.media.scenes import detect_scenes

    media = sorted((SAMPLES.parent / "media").iterdir()) * repeat
    videos = [p for p in media if p.suffix == ".mp4"]
    results = []

    def record(stage, provider, n, seconds, unit="items", baseline=None):
        rate = n / seconds
        results.append({"stage": stage, "provider": provider, "n": n, "unit": unit, "seconds": round(seconds, 3),
                        "rate_per_s": round(rate, 3), "baseline": baseline or "", "ratio_vs_baseline": ""})
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
    record("ocr", ocr.name, len(frames), timed(lambda: [ocr.read(f) for f in frames])[1], "frames")

    pcms = [d.pcm for d in decoded if d.pcm is not None]
    audio_s = sum(len(p) for p in pcms) / ffmpeg.SAMPLE_RATE
    rates = {}
    for compute in ("float32", "int8") if device == "cpu" else ("float32", "float16"):
        asr = WhisperASR("tiny.en", device=device, compute_type=compute)
        asr.transcribe(pcms[0], "en")  # warm-up
        rates[compute] = record("asr", f"whisper tiny.en {compute}", round(audio_s, 1),
                                timed(lambda a=asr: [a.transcribe(p, "en") for p in pcms])[1], "audio_s",
                                None if compute == "float32" else "whisper tiny.en float32")
    results[-1]["ratio_vs_baseline"] = round(list(rates.values())[1] / rates["float32"], 2)
    return results


# Runs the verbalizer's entry point in a fresh interpreter and says at exit whether torch / open_clip came in.
PROBE = ("import atexit, runpy, sys\n"
         "atexit.register(lambda: print('AVA-IMPORTED', int('torch' in sys.modules), int('open_clip' in sys.modules),"
         " file=sys.stderr))\n"
         "sys.argv = ['ava.verbalize', *sys.argv[1:]]\n"
         "runpy.run_module('ava.verbalize', run_name='__main__', alter_sys=True)\n")
STARTUP_CASES = {
    "vision=none ocr=none asr=none workers=1": ["vision=none", "ocr=none", "asr=none", "executor.workers=1"],
    "vision=clip(no weights) ocr=none asr=none workers=1": ["ocr=none", "asr=none", "executor.workers=1"],
}


def _child(args: list[str], env: dict | None = None) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run a child process; (result, wall s, CPU s of it and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, env={**os.environ, **(env or {})})
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return proc, wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def startup(repeat: int) -> list[dict]:
    from PIL import Image

    root = Path(tempfile.mkdtemp())
    Image.new("RGB", (64, 64), "red").save(root / "x.png")
    (root / "ads.jsonl").write_text(json.dumps({"id": "1", "media": ["x.png"]}) + "\n")
    out = []
    for case, overrides in STARTUP_CASES.items():
        for k in range(repeat):
            load = round(os.getloadavg()[0], 1)
            proc, wall, cpu = _child([sys.executable, "-c", PROBE, f"input={root / 'ads.jsonl'}",
                                      f"output_dir={root / f'{len(out)}'}", "progress=false", *overrides],
                                     {"HF_HUB_OFFLINE": "1"})
            flags = [ln.split()[1:] for ln in proc.stderr.splitlines() if ln.startswith("AVA-IMPORTED")][-1]
            out.append({"case": case, "run": k, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                        "torch_imported": flags[0], "open_clip_imported": flags[1], "load1": load})
    return out


def memory(sizes: list[int]) -> list[dict]:
    record = json.loads(SAMPLES.read_text().splitlines()[0])  # a real-shaped Ad Library record
    out = []
    for n in sizes:
        load = round(os.getloadavg()[0], 1)
        root = Path(tempfile.mkdtemp())
        with (root / "ads.jsonl").open("w") as fh:
            for i in range(n):
                fh.write(json.dumps({**record, "id": str(i), "media": ["missing.png"]}) + "\n")
        _, wall, _ = _child([sys.executable, "-m", "ava.verbalize", f"input={root / 'ads.jsonl'}",
                             f"output_dir={root / 'out'}", "vision=none", "ocr=none", "asr=none", "executor.workers=1",
                             "progress=false", "shard_size=256"])
        summary = json.loads((root / "out" / "verbalize_summary.json").read_text())
        out.append({"lines": n, "items": summary["items"]["total"], "wall_s": round(wall, 1),
                    "peak_rss_mb": summary["peak_rss_mb"], "load1": load})
    return out


def code_version() -> str:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "ava", "conf"], capture_output=True, text=True,
                           cwd=HERE).stdout.strip()
    return (head.stdout.strip() or "unknown") + ("+changes" if dirty else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="stages,startup,memory")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--lines", default="10000,100000")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--results", default=str(HERE / "results"))
    args = ap.parse_args()
    only = set(args.only.split(","))
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    code = code_version()
    memory_rows = memory([int(n) for n in args.lines.split(",")]) if "memory" in only else []
    startup_rows = startup(args.repeat) if "startup" in only else []
    machine = describe()  # imports torch: only after the children above have run
    head = {"date": stamp, **machine}
    if memory_rows:
        append_csv(Path(args.results) / "verbalize_memory.csv", [{**head, "code": code, **r} for r in memory_rows])
        for r in memory_rows:
            print(f"memory {r['lines']:>8} lines  {r['wall_s']:7.1f} s  peak RSS {r['peak_rss_mb']:8.1f} MB")
    if startup_rows:
        append_csv(Path(args.results) / "verbalize_startup.csv", [{**head, "code": code, **r} for r in startup_rows])
        for r in startup_rows:
            print(f"startup {r['case']:52} wall {r['wall_s']:6.2f} s  cpu {r['cpu_s']:6.2f} s  "
                  f"torch {r['torch_imported']}  open_clip {r['open_clip_imported']}")
    if "stages" in only:
        from ava.runtime import pick_device

        device = pick_device(args.device)
        load = round(os.getloadavg()[0], 1)
        rows = stages(args.repeat, device)
        append_csv(Path(args.results) / "verbalize.csv", [{**head, "device": device, **r, "load1": load} for r in rows])
        for r in rows:
            print(f"{r['stage']:8} {r['provider']:32} {r['n']:>7} {r['unit']:8} {r['rate_per_s']:>9} "
                  f"{r['ratio_vs_baseline']!s:>11}")
    print(f"machine: {machine}  code: {code}")


if __name__ == "__main__":
    main()
